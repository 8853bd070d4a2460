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

from . import cache, names
from .cache import sha256_bytes
from .config import ConfigError, read_regular
from .manifest import TOOL, VERSION, Manifest, before_3
from .names import MANIFEST

PREFIX = ".bertgallery-"
MARKER = ".bertgallery-staging"  # inside a staging folder until it is swapped in
PROJECT = Path(__file__).resolve().parent.parent
MAX_MANIFEST_BYTES = 256_000_000  # 2,000 sentences of a 384-head model list about 80 MB
# values in it (counted as commas before it is parsed): those 80 MB hold 1.6 million, and each costs json.loads
# up to 70 bytes, so that 256 MB of "[]," are refused at once instead of taking 6 GB to parse
MAX_MANIFEST_VALUES = 6_000_000


class Busy(Exception):
    """Another build holds the output's lock (and we were told not to wait)."""


class CannotWrite(Exception):
    """The output's folder is not ours to write: the machine's doing, not the input's (exit status 1)."""


def target(out: Path) -> Path:
    """The folder a build writes, after the refusals that protect the user's files."""
    try:
        return _target(Path(os.path.abspath(out)))
    except OSError as e:  # a name too long for the file system, a folder we may not look into
        shown = f"output path {str(out)[:80]}{'…' if len(str(out)) > 80 else ''}: {e.strerror}"
        raise (CannotWrite if isinstance(e, PermissionError) else ConfigError)(shown) from None


def _target(out: Path) -> Path:
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
    if os.path.ismount(out):  # a Docker volume, a disk: renaming it fails (EBUSY), after all the work
        raise CannotWrite(f"output path {out} is a mount point, which a build cannot swap a new site into; build "
                          f"into a folder inside it (--out {out / 'site'})")
    if not os.access(out.parent, os.W_OK):
        raise CannotWrite(f"output path {out}: cannot write in {out.parent}")
    return out


def read_manifest(out: Path) -> Manifest | None:
    """The previous build's manifest (None when there is nothing to reuse). Refuses a folder that is not
    ours, a manifest of ours that was damaged, and a site holding anything a build would delete that this
    tool did not make (a person's file inside it would go with the next swap)."""
    if not out.is_dir() or not any(out.iterdir()):
        return None
    foreign = ConfigError(f"output folder {out} already holds files this tool did not make; "
                          "choose an empty or new folder with --out")
    path = out / MANIFEST
    if os.path.islink(path) or not path.is_file():
        raise foreign
    try:
        raw = read_regular(path, MAX_MANIFEST_BYTES, f"{path} (the previous build's manifest)")
        if raw.count(b",") > MAX_MANIFEST_VALUES:
            raise foreign
        data = json.loads(raw)
    except (OSError, ValueError, RecursionError):
        raise foreign from None
    if not before_3(data) and (not isinstance(data, dict) or data.get("tool") != TOOL):
        raise foreign
    manifest = Manifest.from_json(data)
    # a manifest of another version (before_3, or a later one) or a damaged one says nothing this version can
    # check: only files named as this tool names its outputs may go
    strangers = _strangers(out, manifest.files() if manifest else None, set(manifest.author) if manifest else set())
    if strangers:
        raise ConfigError(f"{out / strangers[0]} was not made by this tool: move it out of {out}, which every build "
                          "replaces whole" + (f" ({len(strangers) - 1} more such)" if len(strangers) > 1 else ""))
    if manifest is None and data.get("version") == VERSION:  # named after any stranger: this says delete it all
        raise ConfigError(f"{path} is damaged (it is not what this tool writes): delete {out} and build again")
    return manifest


def _strangers(out: Path, listed: set[str] | None, author: set[str] = frozenset()) -> list[str]:
    """Everything under `out` that a swap would delete and this tool did not make, sorted: a file (or a link)
    not named as the tool names its files (names.site_file) nor one of the `author`'s files that the previous
    build copied in, or not in `listed` when the manifest lists them; a folder not named as the tool names its
    folders nor holding an author's file, or holding none of the files (an empty one too)."""
    files, folders, strangers = [], [], set()
    theirs = {str(parent) for f in author for parent in Path(f).parents}
    for root, dirs, names_here in os.walk(out):
        rel = Path(os.path.relpath(root, out))
        links = {d for d in dirs if os.path.islink(os.path.join(root, d))}  # os.walk does not enter them
        files += [(rel / name).as_posix().removeprefix("./") for name in names_here + sorted(links)]
        for d in sorted(set(dirs) - links):
            folder = (rel / d).as_posix().removeprefix("./")
            if names.site_folder(folder) or folder in theirs:
                folders.append(folder)
            else:  # named once, with everything in it, and not entered: the walk stays two levels deep
                strangers.add(folder)
                dirs.remove(d)
    strangers |= {f for f in files if not (names.site_file(f) or f in author) or listed is not None and f not in listed}
    holders = {str(parent) for f in files if f not in strangers for parent in Path(f).parents}
    strangers |= {d for d in folders if d not in holders}
    return sorted(s for s in strangers if not any(str(parent) in strangers for parent in Path(s).parents))


def snapshot(out: Path) -> tuple:
    """What the output folder is now: a build swaps its new site in only if this has not changed meanwhile."""
    try:
        st = os.stat(out, follow_symlinks=False)
    except FileNotFoundError:
        return ()
    return st.st_dev, st.st_ino, frozenset(listing(out))


class Changed(Exception):
    """The output folder changed while we built: nothing was replaced."""


def _stem(out: Path) -> str:
    """Short and fixed-length, so a 250-character output name still gives names under 255 bytes."""
    return PREFIX + hashlib.sha256(os.fsencode(out.name)).hexdigest()[:12]


@contextlib.contextmanager
def lock(out: Path, wait: bool):
    """Only one build writes into `out` at a time. A POSIX record lock (lockf): unlike flock, the drawing
    processes forked while it is held do not inherit it, so a build that fails early frees it at once.

    The lock file goes when the build ends, so none pile up beside the output. That is safe because a build
    counts its lock only if the file it locked is still the one at the lock's path: one that waited on a
    file removed meanwhile opens the new one and waits again."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    path = out.parent / f"{_stem(out)}.lock"
    said = False
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)  # never a planted link
        try:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                if not wait:
                    raise Busy(f"another build is writing {out}; try again when it is done (or leave out "
                               "--no-wait)") from None
                if not said:
                    print(f"another build is writing {out}; waiting", file=sys.stderr, flush=True)
                    said = True
                fcntl.lockf(fd, fcntl.LOCK_EX)
            held = os.fstat(fd)
            try:
                now = os.stat(path)
            except FileNotFoundError:
                now = None
        except BaseException:
            os.close(fd)
            raise
        if now is not None and (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
            break
        os.close(fd)  # the build before us removed it: lock the file that is there now
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still holding it: a build waiting on it will see it went
        os.close(fd)  # closing releases the lock


def _leftover_json(path: Path, limit: int):
    """A JSON file of a folder left beside the output: a regular file (never a link, a named pipe or a device,
    which could block or never end) of at most `limit` bytes, else ValueError."""
    if not cache.regular_file(path):
        raise ValueError(f"{path} is not a regular file")
    data = read_regular(path, limit, str(path))
    if len(data) > limit:
        raise ValueError(f"{path} is larger than {limit} bytes")
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError(f"{path} is nested too deeply") from None


def _ours(folder: Path, out: Path) -> bool:
    if os.path.islink(folder) or not folder.is_dir():
        return False
    try:
        marker = _leftover_json(folder / MARKER, 4096)
        if isinstance(marker, dict) and marker.get("output") == out.name:
            return True
    except (OSError, ValueError, ConfigError):
        pass
    try:
        return Manifest.from_json(_leftover_json(folder / MANIFEST, MAX_MANIFEST_BYTES)) is not None
    except (OSError, ValueError, ConfigError):
        return False


def cleanup(out: Path) -> None:
    """What an interrupted build of `out` left beside it (call with the lock held): an unfinished staging
    folder or an old site on its way out goes; an old site whose replacement never arrived is put back.
    Anything else stays."""
    for leftover in sorted(out.parent.glob(f"{_stem(out)}-*")):
        kind = re.fullmatch(re.escape(_stem(out)) + r"-(build|old)-\d+", leftover.name)
        if kind and kind[1] == "build" and _bare(leftover, out):
            # a staging folder whose marker could not even be written (a full disk): nothing in it to lose
            with contextlib.suppress(FileNotFoundError):
                (leftover / MARKER).unlink()
            leftover.rmdir()
            continue
        if not kind or not _ours(leftover, out):
            continue
        if kind[1] == "old" and not out.exists():
            os.rename(leftover, out)
        else:
            _discard(leftover, out)


def _bare(folder: Path, out: Path) -> bool:
    """A real folder that holds nothing, or only a marker file that names no other output (a full disk leaves
    it empty)."""
    try:
        if os.path.islink(folder) or not folder.is_dir():
            return False
        inside = os.listdir(folder)
        if not inside:
            return True
        if inside != [MARKER] or not cache.regular_file(folder / MARKER):
            return False
        marker = _leftover_json(folder / MARKER, 4096) if os.lstat(folder / MARKER).st_size else {}
    except (OSError, ValueError, ConfigError):
        return True  # a marker that cannot be read is no other build's
    return not isinstance(marker, dict) or marker.get("output") in (None, out.name)


def _mark(folder: Path, out: Path) -> None:
    """The marker that makes `folder` recognisably a staging or discarded folder of `out` (see _ours)."""
    (folder / MARKER).write_text(json.dumps({"output": out.name, "pid": os.getpid()}), encoding="utf-8")


def _discard(folder: Path, out: Path) -> None:
    """Delete a folder of ours with its marker written first and removed last, so that a build killed
    halfway leaves something the next cleanup still recognises."""
    _mark(folder, out)
    for child in folder.iterdir():
        if child.name != MARKER:
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    (folder / MARKER).unlink()
    folder.rmdir()


class Staging:
    """A new site written beside the output, then swapped in whole. Records every file's SHA-256."""

    def __init__(self, out: Path):
        self.out = out
        self.path = out.parent / f"{_stem(out)}-build-{os.getpid()}"
        self.hashes: dict[str, str] = {}  # relative path -> sha256

    def __enter__(self) -> "Staging":
        self.path.mkdir()
        try:
            _mark(self.path, self.out)
        except BaseException:  # a full disk: nothing was written but the folder and perhaps an empty marker
            with contextlib.suppress(OSError):
                (self.path / MARKER).unlink(missing_ok=True)
                self.path.rmdir()
            raise
        return self

    def __exit__(self, kind, *_):
        if self.path.exists():  # failed, or never swapped in
            _discard(self.path, self.out)

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

    def swap(self, before: tuple) -> None:
        """Put the finished site where the old one is, if the output folder is still as it was when the
        build began (`before`, a snapshot()). On Linux the two trade places in one step, so at every moment
        `out` is a complete site; elsewhere two renames, and cleanup() repairs a crash between them."""
        out = self.out
        if snapshot(out) != before:
            raise Changed(f"{out} changed while this build ran (a file or folder appeared or went); nothing was "
                          "replaced: build again")
        (self.path / MARKER).unlink()  # from here on the folder is recognised by its manifest
        if not before:
            if not _rename(self.path, out, noreplace=True):
                raise Changed(f"{out} appeared while this build ran; it was left as it is: build again")
            return
        if _rename(self.path, out, exchange=True):
            _discard(self.path, out)  # now holds the previous site
            return
        old = out.parent / f"{_stem(out)}-old-{os.getpid()}"
        os.rename(out, old)
        os.rename(self.path, out)
        _discard(old, out)


def _rename(a: Path, b: Path, exchange: bool = False, noreplace: bool = False) -> bool:
    """Linux renameat2: swap two folders in one step (exchange), or rename only if `b` does not exist
    (noreplace). Where renameat2 is missing: no exchange (False), and a plain rename after a check."""
    flags = 2 if exchange else 1 if noreplace else 0
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        at_fdcwd = -100
        if libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), flags) == 0:
            return True
        if ctypes.get_errno() not in (38, 22):  # ENOSYS, EINVAL: this system or file system lacks it
            return False
    except (OSError, AttributeError):
        pass
    if exchange or b.exists():
        return False
    os.rename(a, b)
    return True


def untouched(out: Path, manifest: Manifest) -> bool:
    """Whether `out` holds exactly the manifest's files, each a regular file with its recorded SHA-256 (the
    sentence folders' files are checked when they are reused), the author's own files too."""
    from .cache import unmodified
    return listing(out) == manifest.files() and all(unmodified(out / p, h) for p, h in
                                                    (manifest.pages | manifest.author).items())


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
