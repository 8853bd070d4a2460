"""What a build may reuse from the previous one, decided by content, never by names or times alone.

A cached output is keyed on everything that shapes it (reuse.py says what, for each kind): its inputs, the
source of the package modules that compute or draw it (`code`: whole files, found by following their
imports, so no hand-kept version number can be forgotten) and the versions of the libraries that shape it
(`versions`, read from the installed distributions' metadata: nothing is imported). The HTML pages are cheap
and rewritten on every build. Files are trusted only if their SHA-256 matches what the manifest recorded,
and a model's files are fingerprinted by content; a file's hash is remembered with its size, times and
inode, so a rebuild does not read a 400 MB model again unless it changed.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import re
import stat
import zlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


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


# a relative import, at a module's top or inside a function: "from .x import ..." or "from . import a, b as c"
IMPORT = re.compile(r"^[ \t]*from \.(\w*) import (\([^)]*\)|[^\n]*)", re.M)


@functools.cache
def _imports(module: str) -> frozenset[str]:
    """The package modules `module` imports, read from its source (a regular expression: ast takes 50 times as
    long, and a no-op rebuild pays for this)."""
    found = set()
    for name, names in IMPORT.findall((PACKAGE / f"{module}.py").read_text(encoding="utf-8")):
        imported = [name] if name else [part.split()[0] for part in names.split("#")[0].strip("()").split(",")
                                        if part.strip()]
        found |= {n if (PACKAGE / f"{n}.py").is_file() else "__init__" for n in imported}
    return frozenset(found)


def modules(*roots: str) -> list[str]:
    """These package modules and every package module they import, directly or not. The package's __init__
    counts (its version, data_folder) but its lazy import of the notebook API is not followed."""
    seen, todo = set(), list(roots)
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += _imports(module) if module != "__init__" else []
    return sorted(seen)


@functools.cache
def code(*roots: str) -> str:
    """SHA-256 of the whole source of modules(*roots): any edit to them, a comment's too, changes it."""
    h = hashlib.sha256()
    for module in modules(*roots):
        h.update(f"{module}\0".encode() + (PACKAGE / f"{module}.py").read_bytes() + b"\0")
    return h.hexdigest()


@functools.cache
def versions(*distributions: str) -> tuple[str, ...]:
    """'name version' of each installed distribution, from its metadata (nothing is imported). "zlib" is the
    zlib this Python links, which Pillow uses unless its wheel brings its own (then Pillow's version says it)."""
    out = []
    for name in distributions:
        if name == "zlib":
            out.append(f"zlib {zlib.ZLIB_RUNTIME_VERSION}")
            continue
        try:
            out.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            out.append(f"{name} missing")
    return tuple(out)


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
