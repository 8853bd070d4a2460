"""The expected sample site in tests/golden/ (pelican's way): regenerate it when an output change is intended,
and review the diff like code:

    python tests/update_golden.py

It holds every file of the sample site but the PNGs and the static files (copies of templates/, checked
against them by the test), which the manifest's SHA-256s stand for; the manifest's 'hashes' (the model files'
sizes and times on this machine) is left out.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"


def golden_files(site: Path) -> dict:
    """What tests/golden/ holds of a built site: {relative path: bytes}."""
    from bertgallery import names
    from conftest import site_files
    return {relpath: data for relpath, data in site_files(site, pngs=False).items()
            if not relpath.startswith(f"{names.STATIC}/")}


def main() -> None:
    sys.path.insert(0, str(HERE))
    import os
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from conftest import TINY_SHAPE, build_sample, save_bert
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        site = build_sample(tmp / "sample", save_bert(tmp / "model", **TINY_SHAPE))
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for relpath, data in golden_files(site).items():
            (GOLDEN / relpath).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / relpath).write_bytes(data)
    print(f"wrote {GOLDEN}; review it with git diff")


if __name__ == "__main__":
    main()
