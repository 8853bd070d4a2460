"""What a build may reuse from the previous one, decided by content, never by names or times alone.

Two levels: a sentence's expensive results (model run, pictures, data.json, the view's data) are keyed only
on what shapes them (`result_key`); the HTML pages are cheap and rewritten on every build from those results.
Files are trusted only if their SHA-256 matches what the manifest recorded, and a model's files are
fingerprinted by content; a file's hash is remembered with its size, times and inode, so a rebuild does
not read a 400 MB model again unless it changed.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

RESULTS_VERSION = "7"  # bump when data.json or the view's data change shape


def key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:24]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class FileHashes:
    """Content hashes of files, remembered by (size, mtime, ctime, inode): `cp -p` or `rsync -a` keep size and
    mtime but not the inode or ctime, and nobody can set a file's ctime."""

    def __init__(self, known: dict | None = None):
        self.known = known if isinstance(known, dict) else {}
        self.used: dict[str, list] = {}

    def __call__(self, path: Path) -> str:
        path = Path(path).absolute()
        st = os.stat(path)
        stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        old = self.known.get(str(path))
        if isinstance(old, list) and len(old) == 5 and old[:4] == stamp:
            digest = old[4]
        else:
            digest = sha256_file(path)
        self.used[str(path)] = stamp + [digest]
        return digest


def result_key(model_identity: str, text: str, top_k: int, colormap: str, versions: tuple) -> str:
    """The key of a sentence's expensive results: nothing about its page (title, note, neighbours, position)."""
    return key("result", model_identity, text, top_k, colormap, RESULTS_VERSION, *versions)


def regular_file(path: Path) -> bool:
    """A plain file, not a link to one: a planted link must never be carried into a new site."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def unmodified(path: Path, digest: str) -> bool:
    """A regular file (never a planted link) whose SHA-256 is still `digest`."""
    return regular_file(path) and sha256_file(path) == digest


def verified(folder: Path, files: dict) -> bool:
    """Whether `folder` still holds exactly these files ({name: sha256}) as regular files, unmodified."""
    if not isinstance(files, dict) or not files or os.path.islink(folder) or not folder.is_dir():
        return False
    try:
        present = {p.name for p in folder.iterdir()}
    except OSError:
        return False
    if not set(files) <= present:
        return False
    return all(unmodified(folder / name, digest) for name, digest in files.items())
