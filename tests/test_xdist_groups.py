"""The test command's groups (tests/xdist_groups.py): tests that share an expensive fixture run in one worker."""
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

TESTS = '''import os
import pytest


@pytest.mark.parametrize("n", range(6))
@pytest.mark.xdist_group("shared")
def test_grouped(n):
    with open("workers.txt", "a") as f:
        f.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")


@pytest.mark.parametrize("n", range(6))
def test_alone(n):
    pass
'''


def test_a_group_runs_in_one_worker(tmp_path):
    """Two workers, `--dist loadgroup` as pyproject.toml asks: every test of the group in the same worker
    (without the plugin, pytest 9.2 and xdist 3.8 deal them out one by one to both)."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "conftest.py").write_text("from xdist_groups import pytest_collection_modifyitems  # noqa: F401\n")
    (tmp_path / "test_groups.py").write_text(TESTS)
    # xdist alone of the installed plugins: loading them all costs each of the three processes seconds
    env = dict(os.environ, PYTHONPATH=str(HERE), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "xdist", "-n", "2", "--dist", "loadgroup",
                        "-p", "no:cacheprovider"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    workers = (tmp_path / "workers.txt").read_text().split()
    assert len(workers) == 6 and len(set(workers)) == 1, workers
