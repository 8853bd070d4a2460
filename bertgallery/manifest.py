"""The manifest.json of a built site: what it was built from and every file's SHA-256. Its structure is checked
key by key, so that a folder counts as the tool's own only when the tool wrote it (a web app's
manifest.json is not ours)."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from .names import MANIFEST

TOOL = "bert-attention-gallery"
VERSION = 6  # how to read this file; what its keys cover is in reuse.py


def _hex(value, n: int = 64) -> bool:
    return isinstance(value, str) and re.fullmatch(f"[0-9a-f]{{{n}}}", value) is not None


def _name(value) -> bool:
    """A file or sentence-folder name as this tool makes them: never a path, a dot-name or empty."""
    return isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value) is not None \
        and ".." not in value


def _files(value) -> bool:
    return isinstance(value, dict) and all(_name(k) and _hex(v) for k, v in value.items())


@dataclass
class Entry:
    """One cached output's folder in a built site — a sentence's for one model, a model's corpus counts, a
    pair of models' comparison: the keys of what it caches (reuse.keys) and every cached file's SHA-256."""
    folder: str  # relative to the site: "cat", "cat/offline", "heads", "heads/offline", "compare/a--b"
    keys: dict  # kind of output ("results", "pictures"; "counts"; "compare") -> key
    files: dict  # name -> sha256


KEYS = {"tool", "version", "models", "sentences", "pages", "corpus", "compare", "hashes", "live", "author"}


@dataclass
class Manifest:
    """What a site was built from and every file's SHA-256: the next build trusts nothing else."""
    models: list[str]  # each model's content fingerprint, in the gallery's order
    sentences: list[Entry]  # per model, per sentence
    pages: dict  # relative path -> sha256 of every file rewritten on each build
    corpus: list[Entry] = field(default_factory=list)  # each model's corpus counts, when the gallery has a corpus
    compare: list[Entry] = field(default_factory=list)  # each pair of models' numbers
    hashes: dict = field(default_factory=dict)  # cache.FileHashes' memory of the model's and corpus's files
    live: list[Entry] = field(default_factory=list)  # the model exported for the live page (folder "live"), if on
    # the author's own files (files:), relative path -> sha256: theirs, copied in on every build, and the only
    # files of the site not named as the tool names its own
    author: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"tool": TOOL, "version": VERSION, "models": self.models,
                "sentences": [asdict(e) for e in self.sentences], "pages": self.pages,
                "corpus": [asdict(e) for e in self.corpus], "compare": [asdict(e) for e in self.compare],
                "hashes": self.hashes, "live": [asdict(e) for e in self.live], "author": self.author}

    @classmethod
    def from_json(cls, data) -> "Manifest | None":
        """The manifest, if `data` has exactly the structure this version writes (checked key by key: a web
        app's manifest.json is not ours), else None."""
        if not isinstance(data, dict) or set(data) != KEYS \
                or data["tool"] != TOOL or data["version"] != VERSION or not isinstance(data["models"], list) \
                or not all(isinstance(m, str) for m in data["models"]) \
                or not all(isinstance(data[k], list) for k in ("sentences", "corpus", "compare", "live")) \
                or not isinstance(data["hashes"], dict) \
                or not all(isinstance(data[k], dict) and all(isinstance(p, str) and all(map(_name, p.split("/")))
                                                             and _hex(v) for p, v in data[k].items())
                           for k in ("pages", "author")) or set(data["pages"]) & set(data["author"]):
            return None
        entries = data["sentences"] + data["corpus"] + data["compare"] + data["live"]
        if not all(isinstance(e, dict) and set(e) == {"folder", "keys", "files"} and isinstance(e["folder"], str)
                   and 1 <= len(e["folder"].split("/")) <= 2 and all(map(_name, e["folder"].split("/")))
                   and isinstance(e["keys"], dict) and all(isinstance(k, str) and isinstance(v, str)
                                                           for k, v in e["keys"].items())
                   and _files(e["files"]) for e in entries):
            return None
        return cls(data["models"], [Entry(**e) for e in data["sentences"]], data["pages"],
                   [Entry(**e) for e in data["corpus"]], [Entry(**e) for e in data["compare"]], data["hashes"],
                   [Entry(**e) for e in data["live"]], data["author"])

    def files(self) -> set[str]:
        """Every file the site should hold, relative to it."""
        entries = self.sentences + self.corpus + self.compare + self.live
        return set(self.pages) | set(self.author) | {MANIFEST} | {f"{e.folder}/{n}" for e in entries for n in e.files}


def before_3(data) -> bool:
    """What version 2 of this tool wrote (before the 'tool' key), recognised by its exact structure so that
    upgrading does not refuse a user's own gallery."""
    return isinstance(data, dict) and set(data) == {"version", "sentences", "index", "model"} \
        and data["version"] == 2 and isinstance(data["sentences"], dict) and _hex(data["index"], 20) \
        and all(_hex(v, 20) for v in data["sentences"].values()) \
        and isinstance(data["model"], dict) and set(data["model"]) == {"name", "layers", "heads", "note"}
