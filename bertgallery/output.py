"""The output folder: which folders we may write, a lock, a staging folder, and an atomic swap.

A person's files must never be lost to a build. So: a folder counts as the tool's own only when its
manifest has the tool's name and the right structure; staging and old-site folders carry a fixed prefix,
a short hash of the output's name and a marker, and cleanup touches nothing without that marker (or the
tool's own manifest); a lock beside the output keeps two builds from working in one place.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
from pathlib import Path

from .cache import sha256_bytes
from .config import ConfigError
from .names import MANIFEST

TOOL = "bert-attention-gallery"
VERSION = 3
PREFIX = ".bertgallery-"
MARKER = ".bertgallery-staging"  # inside a staging folder until it is swapped in
PROJECT = Path(__file__).resolve().parent.parent


class Busy(Exception):
    """Another build holds the output's lock (and we were told not to wait)."""


def _hex(value, n: int = 64) -> bool:
    return isinstance(value, str) and re.fullmatch(f"[0-9a-f]{{{n}}}", value) is not None


def _files(value) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and "/" not in k and _hex(v) for k, v in value.items())


def valid_manifest(data) -> bool:
    """The structure this version writes, checked key by key: a web app's manifest.json is not ours."""
    if not isinstance(data, dict) or set(data) != {"tool", "version", "model", "sentences", "pages", "hashes",
                                                   "extra"}:
        return False
    model = data["model"]
    return data["tool"] == TOOL and data["version"] == VERSION and isinstance(model, dict) \
        and set(model) == {"name", "layers", "heads", "note", "about", "identity"} \
        and all(isinstance(model[k], str) for k in ("name", "note", "about", "identity")) \
        and all(isinstance(model[k], int) and not isinstance(model[k], bool) for k in ("layers", "heads")) \
        and isinstance(data["sentences"], list) \
        and all(isinstance(s, dict) and set(s) == {"slug", "key", "files"} and isinstance(s["slug"], str)
                and isinstance(s["key"], str) and _files(s["files"]) for s in data["sentences"]) \
        and isinstance(data["pages"], dict) and all(isinstance(k, str) and _hex(v) for k, v in data["pages"].items()) \
        and isinstance(data["hashes"], dict) and isinstance(data["extra"], dict)


def _older_manifest(data) -> bool:
    """What version 2 of this tool wrote (no 'tool' key yet), recognised exactly so an upgrade can rebuild."""
    return isinstance(data, dict) and set(data) == {"version", "sentences", "index", "model"} \
        and data["version"] == 2 and isinstance(data["sentences"], dict) and _hex(data["index"], 20) \
        and all(_hex(v, 20) for v in data["sentences"].values()) \
        and isinstance(data["model"], dict) and set(data["model"]) == {"name", "layers", "heads", "note"}


def target(out: Path) -> Path:
    """The folder a build writes, after the refusals that protect the user's files."""
    out = Path(os.path.abspath(out))
    if os.path.islink(out):
        real = Path(os.path.realpath(out))
        if not real.is_dir():
            raise ConfigError(f"output path {out} is a symbolic link to {real}, which is not an existing folder")
        out = real  # build beside the link's target and swap it there; the link itself is left as it is
    cwd = Path.cwd().resolve()
    real = out.resolve()
    if real == Path(real.anchor):
        raise ConfigError(f"output path {out} is the root of the file system; choose a folder such as site")
    if real == cwd or real in cwd.parents:
        raise ConfigError(f"output path {out} holds the folder you are working in; choose a folder such as site")
    if real == PROJECT or real in PROJECT.parents:
        raise ConfigError(f"output path {out} holds this tool's own files; choose a folder such as site")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output path {out} is a file, not a folder")
    if not out.parent.is_dir():
        raise ConfigError(f"output path {out}: {out.parent} is not an existing folder")
    if not os.access(out.parent, os.W_OK):
        raise ConfigError(f"output path {out}: cannot write in {out.parent}")
    return out


def read_manifest(out: Path, force: bool) -> dict:
    """The previous build's manifest ({} when there is none to trust); refuses a folder that is not ours."""
    if not out.is_dir() or not any(out.iterdir()):
        return {}
    foreign = ConfigError(f"output folder {out} already holds files this tool did not make; "
                          "choose an empty or new folder with --out")
    path = out / MANIFEST
    if os.path.islink(path) or not path.is_file():
        raise foreign
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        raise foreign from None
    if valid_manifest(data):
        return {} if force else data
    if _older_manifest(data):
        return {}
    if isinstance(data, dict) and data.get("tool") == TOOL:
        if force:
            return {}
        raise ConfigError(f"{path} is damaged (it is not what this tool writes); rebuild the site with --force "
                          "or delete the folder")
    raise foreign


def _stem(out: Path) -> str:
    """Short and fixed-length, so a 250-character output name still gives names under 255 bytes."""
    return PREFIX + hashlib.sha256(os.fsencode(out.name)).hexdigest()[:12]


@contextlib.contextmanager
def lock(out: Path, wait: bool):
    """Only one build writes into `out` at a time (fcntl.flock; a no-op where that does not exist)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    fd = os.open(out.parent / f"{_stem(out)}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise Busy(f"another build is writing {out}; try again when it is done (or leave out --no-wait)") \
                    from None
            print(f"another build is writing {out}; waiting", file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _ours(folder: Path, out: Path) -> bool:
    if os.path.islink(folder) or not folder.is_dir():
        return False
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        if isinstance(marker, dict) and marker.get("output") == out.name:
            return True
    except (OSError, ValueError):
        pass
    try:
        return valid_manifest(json.loads((folder / MANIFEST).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return False


def cleanup(out: Path) -> None:
    """What an interrupted build of `out` left beside it (call with the lock held): an unfinished staging
    folder goes; an old site whose replacement never arrived is put back. Anything else stays."""
    for leftover in sorted(out.parent.glob(f"{_stem(out)}-*")):
        kind = re.fullmatch(re.escape(_stem(out)) + r"-(build|old)-\d+", leftover.name)
        if not kind or not _ours(leftover, out):
            continue
        if kind[1] == "old" and not out.exists():
            os.rename(leftover, out)
        else:
            shutil.rmtree(leftover, ignore_errors=True)


class Staging:
    """A new site written beside the output, then swapped in whole. Records every file's SHA-256."""

    def __init__(self, out: Path):
        self.out = out
        self.path = out.parent / f"{_stem(out)}-build-{os.getpid()}"
        self.hashes: dict[str, str] = {}  # relative path -> sha256

    def __enter__(self) -> "Staging":
        self.path.mkdir()
        (self.path / MARKER).write_text(json.dumps({"output": self.out.name, "pid": os.getpid()}), encoding="utf-8")
        return self

    def __exit__(self, kind, *_):
        if kind is not None or self.path.exists():  # failed, or never swapped in
            shutil.rmtree(self.path, ignore_errors=True)

    def write(self, relpath: str, data: bytes | str) -> str:
        if isinstance(data, str):
            data = data.encode("utf-8")
        path = self.path / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.hashes[relpath] = sha256_bytes(data)
        return self.hashes[relpath]

    def link(self, relpath: str, source: Path, digest: str) -> None:
        """A file of the previous site, already verified against `digest`: hard-linked, or copied."""
        path = self.path / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, path, follow_symlinks=False)
        except OSError:
            shutil.copyfile(source, path, follow_symlinks=False)
        self.hashes[relpath] = digest

    def swap(self) -> None:
        """Put the finished site where the old one is. On Linux the two trade places in one step, so at every
        moment `out` is a complete site; elsewhere two renames, and cleanup() repairs a crash between them."""
        (self.path / MARKER).unlink()  # from here on the folder is recognised by its manifest
        out = self.out
        if out.exists() and _exchange(self.path, out):
            shutil.rmtree(self.path, ignore_errors=True)  # now holds the previous site
            return
        old = out.parent / f"{_stem(out)}-old-{os.getpid()}"
        if out.exists():
            os.rename(out, old)
        os.rename(self.path, out)
        shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one step (Linux renameat2 RENAME_EXCHANGE); False where that is not available."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        at_fdcwd, rename_exchange = -100, 2
        return libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0
    except (OSError, AttributeError):
        return False


def listing(folder: Path) -> set[str]:
    """Every entry under `folder` that is not a folder (links and planted files included), relative."""
    found = set()
    for root, dirs, files in os.walk(folder):
        rel = os.path.relpath(root, folder)
        found |= {os.path.normpath(os.path.join(rel, f)) for f in files}
        found |= {os.path.normpath(os.path.join(rel, d)) for d in dirs if os.path.islink(os.path.join(root, d))}
    return found


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under `folder`, hard links counted each time (as a published copy stores them)."""
    total = 0
    for root, _, files in os.walk(folder):
        total += sum(os.lstat(os.path.join(root, f)).st_size for f in files)
    return total
