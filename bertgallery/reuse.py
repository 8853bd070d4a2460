"""What a build can take over from the previous site, and the keys that decide it.

Each cached output is keyed on its inputs and on what shapes it besides (`Shaping`): the package modules that
compute or draw it, with every package module they import, and the libraries whose versions shape it. A
sentence has two: its results (data.json, the view's data, the parse) and its pictures (the PNGs), so a
statistic's edit reruns the model but redraws no picture. Outputs are taken over only if every file's
SHA-256 still matches the manifest and, for results, they read back as this sentence's (or this corpus's).
Everything else is computed again.
"""
from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

from . import cache, corpus, names, png
from .config import Config
from .manifest import Entry, Manifest
from .parser import PACKAGE as PARSER_PACKAGE
from .records import Result



@dataclass(frozen=True)
class Shaping:
    """What shapes one kind of cached output besides its inputs."""
    modules: tuple[str, ...]  # the package modules that compute or draw it (and what they import: cache.modules)
    libraries: tuple[str, ...]  # distributions whose versions shape it

    def fingerprint(self) -> list[str]:
        return [cache.code(*self.modules), *cache.versions(*self.libraries)]


MODEL_LIBRARIES = ("torch", "transformers", "tokenizers", "numpy")  # the model run: predictions, attention
PARSER_LIBRARIES = ("spacy", "thinc", PARSER_PACKAGE)  # the parse the syntax statistics rest on
RESULTS = Shaping(("measure",), MODEL_LIBRARIES + PARSER_LIBRARIES + ("matplotlib",))  # + the view's colours
PICTURES = Shaping(("plots", "model", "attribution"), MODEL_LIBRARIES + ("matplotlib", "pillow", "zlib"))
COUNTS = Shaping(("corpus",), MODEL_LIBRARIES + PARSER_LIBRARIES)
KEPT = Shaping(("corpus",), MODEL_LIBRARIES + ("zlib",))  # the first corpus sentences' 16-bit attention, for comparing models
COMPARISON = Shaping(("compare",), MODEL_LIBRARIES + PARSER_LIBRARIES)  # its word level: the tokenizers, spaCy's
# the heads page's per-layer plot and a pair's: not a sentence's, drawn from the gallery's means, which the key holds
PLOT = Shaping(("plots",), ("matplotlib", "pillow", "numpy", "zlib"))
EXPORT = Shaping(("live", "model"), MODEL_LIBRARIES)  # the live page's model: loaded, then exported


@dataclass
class Reused:
    entry: Entry  # in the previous site's manifest
    result: Result | None  # None: only the pictures are taken over (their key matches, the results' does not)
    counted: corpus.Counted | None = None  # a model's corpus counts, taken over
    kept: corpus.Kept | None = None  # a model's attention over the first corpus sentences, taken over
    compared: object = None  # a pair of models' compare.Compared, taken over

    def files(self) -> dict[str, str]:
        """The files taken over: {name: sha256}."""
        whole = self.result or self.counted or self.compared or self.kept
        return {n: d for n, d in self.entry.files.items() if whole or names.is_picture(n)}


_HIGH, _LOW = r"\\u[dD][89abAB][0-9a-fA-F]{2}", r"\\u[dD][c-fC-F][0-9a-fA-F]{2}"  # surrogates, escaped in JSON
_LONE = re.compile(rf"(?<!\\)(?:\\\\)*(?:{_HIGH}(?!{_LOW})|(?<!{_HIGH}){_LOW})")  # not one of a pair


def _json(path: Path):
    """A JSON file of the previous site, refused (ValueError) if it holds a lone surrogate, which only a hand
    could have put there and which would fail only when a page is written, after the model has run."""
    text = path.read_text(encoding="utf-8")
    if _LONE.search(text):
        raise ValueError(f"{path} holds a lone surrogate")
    try:
        return json.loads(text)
    except RecursionError:  # nested deeper than Python's stack: no build writes that either
        raise ValueError(f"{path} is nested too deeply") from None


def plan(cfg: Config, identity: str, old: Manifest | None, out: Path, hashes: cache.FileHashes):
    """(the sentences' outputs to take over, the corpus counts to take over or None, the sentences that go
    through the model)."""
    taken = sentences(cfg, identity, old, out)
    return taken, corpus_counts(cfg, identity, old, out, hashes), \
        [s for s in cfg.sentences if s.slug not in taken or taken[s.slug].result is None]


def keys(cfg: Config, identity: str, text: str, pair: str = "") -> dict[str, str]:
    """A sentence's (and its pair's) keys: nothing about its page (title, note, neighbours, position)."""
    return {"results": cache.key("results", identity, text, pair, cfg.top_k, cfg.importance, cfg.colormap,
                                 *RESULTS.fingerprint()),
            "pictures": cache.key("pictures", identity, text, pair, cfg.colormap, *PICTURES.fingerprint())}


def corpus_key(cfg: Config, identity: str, hashes: cache.FileHashes) -> dict[str, str]:
    """The corpus counts depend on the model, the corpus files' content and what counts them."""
    return {"counts": cache.key("counts", identity, [hashes(f) for f in cfg.corpus_files], *COUNTS.fingerprint())}


def kept_key(cfg: Config, identity: str) -> dict[str, str]:
    """The attention of the first corpus sentences (corpus.COMPARED) depends on the model, their texts and what
    runs them."""
    return {"attention": cache.key("attention", identity, [line.text for line in cfg.corpus[:corpus.COMPARED]],
                                   *KEPT.fingerprint())}


def kept(cfg: Config, identity: str, old: Manifest | None, out: Path) -> Reused | None:
    """The previous build's attention of the first corpus sentences with this model (Reused.kept), whole,
    unmodified and of these sentences, wherever the previous site kept it."""
    if not cfg.corpus or not identity or old is None:
        return None
    wanted = kept_key(cfg, identity)
    for entry in old.corpus:
        if entry.keys == wanted and cache.verified(out / entry.folder, entry.files):
            try:
                found = corpus.Kept.from_json(_json(out / entry.folder / names.CORPUS_ATTENTION))
            except (OSError, ValueError, KeyError, TypeError, zlib.error):
                return None
            texts = [line.text for line in cfg.corpus[:corpus.COMPARED]]
            if all(0 <= k < len(texts) and texts[k] == t for k, t in zip(found.lines, found.texts)):
                return Reused(entry, None, kept=found)
    return None


def live_key(identity: str) -> dict[str, str]:
    """The live page's model files depend on the model and what loads and exports it."""
    return {"export": cache.key("export", identity, *EXPORT.fingerprint())}


def plot_key(*inputs) -> str:
    """A per-layer plot's key: everything it is drawn from (its means, labels, size, styles) and what draws it."""
    return cache.key("plot", *inputs, *PLOT.fingerprint())


def picture(old: Manifest | None, out: Path, relpath: str, wanted: str) -> bytes | None:
    """The previous site's picture at `relpath` (one rewritten on every build, such as the per-layer plot), if
    the manifest lists it, it is unmodified and it says (png.key_of) it was drawn under the key `wanted`: so that
    a rebuild need not import matplotlib's figures to draw the same picture again."""
    if old is None or relpath not in old.pages or not cache.regular_file(out / relpath):
        return None
    try:
        data = (out / relpath).read_bytes()
    except OSError:
        return None
    return data if cache.sha256_bytes(data) == old.pages[relpath] and png.key_of(data) == wanted else None


def corpus_counts(cfg: Config, identity: str, old: Manifest | None, out: Path, hashes) -> Reused | None:
    """The previous build's corpus counts (Reused.counted), if they are this corpus's with this model, whole and
    unmodified, wherever the previous site kept them."""
    if not cfg.corpus or not identity or old is None:
        return None
    wanted = corpus_key(cfg, identity, hashes)
    for entry in old.corpus:
        if entry.keys == wanted and cache.verified(out / entry.folder, entry.files):
            try:
                return Reused(entry, None, corpus.Counted.from_json(_json(out / entry.folder / names.CORPUS)))
            except (OSError, ValueError, KeyError, TypeError):
                return None
    return None


def compare_key(a: list[str], b: list[str]) -> dict[str, str]:
    """A pair of models' comparison depends on both models' results of every sentence (`a`, `b`: each sentence's
    results key, reuse.keys, then with a corpus their attention of its first sentences' key, kept_key), whatever
    their order (means over sentences), and on what compares them."""
    return {"compare": cache.key("compare", sorted(map(list, zip(a, b))), *COMPARISON.fingerprint())}


def comparison(wanted: dict, old: Manifest | None, out: Path):
    """The previous build's comparison under this key (compare.Compared), whole and unmodified, or None."""
    from .compare import Compared
    for entry in old.compare if old else ():
        if entry.keys == wanted and cache.verified(out / entry.folder, entry.files):
            try:
                return Reused(entry, None, compared=Compared.from_json(_json(out / entry.folder / names.COMPARE_DATA)))
            except (OSError, ValueError, KeyError, TypeError, IndexError):
                return None
    return None


def sentences(cfg: Config, identity: str, old: Manifest | None, out: Path) -> dict[str, Reused]:
    """slug -> what the previous build made that this sentence can take over, found by key wherever in the old
    site it is: its results and pictures, when both keys match, the folder holds exactly the files such
    results have, unmodified, and its data.json reads back as this sentence's; else its pictures alone, when
    their key matches, they are unmodified and the folder's unmodified data.json is this sentence's."""
    if not identity or old is None:
        return {}
    by_keys, by_pictures = {}, {}
    for entry in old.sentences:
        by_keys.setdefault(json.dumps(entry.keys, sort_keys=True), []).append(entry)
        by_pictures.setdefault(entry.keys.get("pictures"), []).append(entry)
    found = {}
    for s in cfg.sentences:
        wanted = keys(cfg, identity, s.text, s.pair)
        whole = (_whole(out, e, s.text, s.pair) for e in by_keys.get(json.dumps(wanted, sort_keys=True), []))
        pictures = (_pictures(out, e, s.text, s.pair) for e in by_pictures.get(wanted["pictures"], []))
        taken = next((r for r in whole if r), None) or next((r for r in pictures if r), None)
        if taken:
            found[s.slug] = taken
    return found


def _whole(out: Path, entry: Entry, text: str, pair: str) -> Reused | None:
    """The entry's results and pictures, if its folder is whole and its data.json is this text's (and pair's)."""
    if not cache.verified(out / entry.folder, entry.files):
        return None
    try:
        result = Result.from_json(_json(out / entry.folder / names.DATA))
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None  # unreadable after all: computed again
    return Reused(entry, result) if (result.text, result.pair) == (text, pair) and \
        set(entry.files) == result.files() else None


def _pictures(out: Path, entry: Entry, text: str, pair: str) -> Reused | None:
    """The entry's pictures alone, if they and its data.json are unmodified and that data.json is this text's
    (a manifest pointing at another sentence's folder gets nothing)."""
    taken = Reused(entry, None)
    if names.DATA not in entry.files or not cache.verified(out / entry.folder,
                                                           taken.files() | {names.DATA: entry.files[names.DATA]}):
        return None
    try:
        data = _json(out / entry.folder / names.DATA)
        said = (data["text"], data["pair"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return taken if said == (text, pair) else None
