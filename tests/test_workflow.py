"""The Pages workflow (.github/workflows/pages.yml), checked by the tools GitHub users check theirs with:
validated against GitHub's workflow schema (check-jsonschema's copy), audited by zizmor (offline), and its build
step run here as the runner would run it, against the hub stand-in (tests/hub_standin.py) serving the tiny
random BERT as bert-base-uncased (mechanics only)."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from hub_standin import Hub, Repo, client_env

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
PAGES = ROOT / ".github" / "workflows" / "pages.yml"
BIN = Path(sys.executable).parent  # check-jsonschema and zizmor come with requirements-dev.txt


def tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: pip install -r requirements-dev.txt")
    return str(path)


@pytest.mark.slow
def test_every_workflow_is_valid_against_githubs_schema():
    assert WORKFLOWS
    r = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_zizmor_finds_nothing_of_medium_or_high_severity():
    r = subprocess.run([tool("zizmor"), "--offline", "--min-severity", "medium", "--format", "json",
                        str(ROOT / ".github" / "workflows")], capture_output=True, text=True, timeout=120)
    findings = json.loads(r.stdout or "[]")
    assert findings == [], [(f["ident"], f["determinations"]["severity"], f["desc"]) for f in findings]
    assert r.returncode == 0, r.stderr


def test_least_privilege_and_pinned_actions():
    """What zizmor checks, said for this workflow: no permission for the whole workflow, the write permissions
    only on the job that deploys, every action pinned to a commit, no credentials left in the checkout."""
    workflow = yaml.safe_load(PAGES.read_text())
    assert workflow["permissions"] == {}
    jobs = workflow["jobs"]
    assert jobs["build"]["permissions"] == {"contents": "read"}
    assert jobs["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    steps = [s for job in jobs.values() for s in job["steps"]]
    assert all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", s["uses"]) for s in steps if "uses" in s)
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["persist-credentials"] is False


@pytest.mark.slow
def test_the_build_step_builds_the_gallery_with_bert_base_uncased_from_the_hub(tiny_bert, tmp_path):
    steps = yaml.safe_load(PAGES.read_text())["jobs"]["build"]["steps"]
    install = next(s for s in steps if s.get("name", "").startswith("Install"))
    build = next(s for s in steps if s.get("name", "").startswith("Build the site"))
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache@"))
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    # the install step installs what the README's set-up does: the pinned torch first, then requirements.txt
    torch = next(line for line in (ROOT / "requirements.txt").read_text().splitlines() if line.startswith("torch=="))
    assert install["run"].index(f"pip install {torch} ") < install["run"].index("pip install -r requirements.txt")
    # the checkout: the files the build reads, in a folder of its own
    work = tmp_path / "checkout"
    work.mkdir()
    for name in ("generate.py", "sentences.yaml", "corpus.txt"):
        shutil.copy(ROOT / name, work / name)
    (work / "bertgallery").symlink_to(ROOT / "bertgallery")
    home = tmp_path / "home"  # the runner's: ~/.cache/huggingface is where the cache step looks
    with Hub({"bert-base-uncased": Repo.from_folder(tiny_bert)}) as hub:
        env = client_env(hub.url, HOME=str(home), PATH=f"{BIN}:/usr/bin:/bin")
        r = subprocess.run(["bash", "-e", "-c", build["run"]], cwd=work, env=env, capture_output=True, text=True,
                           timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stderr.startswith("downloading bert-base-uncased"), r.stderr
    # the cache step saves the downloaded model for the next run; the upload step publishes the built site
    cached = Path(cache["with"]["path"].replace("~", str(home), 1))
    assert (cached / "hub" / "models--bert-base-uncased" / "snapshots").is_dir()
    site = work / upload["with"]["path"]
    assert json.loads((site / "cat" / "data.json").read_text())["model"]["name"] == "bert-base-uncased"
    assert (site / "index.html").is_file() and (site / "heads" / "index.html").is_file()
