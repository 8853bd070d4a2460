"""Regenerate the expected sample site in tests/golden/ when an output change is intended, and review the diff
like code (tests/golden_tree.py says what it holds and how a build is compared with it):

    python tests/update_golden.py
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    sys.path.insert(0, str(HERE))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from conftest import SAMPLE_SHAPE, build_sample, save_bert
    from golden_tree import GOLDEN, golden_files
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        site = build_sample(tmp / "sample", save_bert(tmp / "model", **SAMPLE_SHAPE))
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for relpath, data in golden_files(site).items():
            (GOLDEN / relpath).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / relpath).write_bytes(data)
    print(f"wrote {GOLDEN}; review it with git diff")


if __name__ == "__main__":
    main()
