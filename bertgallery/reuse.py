"""What a build can take over from the previous site, and the keys that decide it.

A sentence's results (its folder but the page) and the corpus counts are keyed only on what shapes them; they
are taken over only if every file's SHA-256 still matches the manifest and they read back as this
sentence's (or this corpus's). Everything else is computed again.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from . import cache, corpus, heads, names, syntax
from .config import Config
from .manifest import Entry, Manifest
from .records import Result

CORPUS = f"{names.HEADS}/{names.CORPUS}"


@dataclass
class Reused:
    entry: Entry  # in the previous site's manifest
    result: Result


_HIGH, _LOW = r"\\u[dD][89abAB][0-9a-fA-F]{2}", r"\\u[dD][c-fC-F][0-9a-fA-F]{2}"  # surrogates, escaped in JSON
_LONE = re.compile(rf"(?<!\\)(?:\\\\)*(?:{_HIGH}(?!{_LOW})|(?<!{_HIGH}){_LOW})")  # not one of a pair


def _json(path: Path):
    """A JSON file of the previous site, refused (ValueError) if it holds a lone surrogate, which only a hand
    could have put there and which would fail only when a page is written, after the model has run."""
    text = path.read_text(encoding="utf-8")
    if _LONE.search(text):
        raise ValueError(f"{path} holds a lone surrogate")
    return json.loads(text)


def plan(cfg: Config, identity: str, old: Manifest | None, out: Path, hashes: cache.FileHashes):
    """(the sentences' results to take over, the corpus counts to take over or None, the sentences to compute)."""
    taken = results(cfg, identity, old, out)
    return taken, corpus_counts(cfg, identity, old, out, hashes), [s for s in cfg.sentences if s.slug not in taken]


def key(cfg: Config, identity: str, text: str) -> str:
    from .render import RENDER_VERSION
    return cache.result_key(identity, text, cfg.top_k, cfg.colormap,
                            (RENDER_VERSION, cfg.importance, heads.signature(), syntax.VERSION))


def corpus_key(cfg: Config, identity: str, hashes: cache.FileHashes) -> str:
    """The corpus counts depend on the model, the corpus files' content and what is counted."""
    return cache.key("corpus", identity, [hashes(f) for f in cfg.corpus_files], heads.signature(), syntax.VERSION,
                     corpus.VERSION)


def corpus_counts(cfg: Config, identity: str, old: Manifest | None, out: Path, hashes) -> corpus.Counted | None:
    """The previous build's corpus counts, if they are this corpus's with this model, whole and unmodified."""
    if not cfg.corpus or not identity or old is None or old.corpus is None \
            or old.corpus.key != corpus_key(cfg, identity, hashes) or not cache.verified(out / names.HEADS,
                                                                                         old.corpus.files):
        return None
    try:
        return corpus.Counted.from_json(_json(out / CORPUS))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def results(cfg: Config, identity: str, old: Manifest | None, out: Path) -> dict[str, Reused]:
    """slug -> the previous build's results this sentence can take over: the key matches, the folder holds
    exactly the files such results have, unmodified, and its data.json reads back as this sentence's.
    Found by key, wherever in the old site they are."""
    if not identity or old is None:
        return {}
    keys = {s.slug: key(cfg, identity, s.text) for s in cfg.sentences}
    wanted = {k: s.text for s, k in zip(cfg.sentences, keys.values())}
    found: dict[str, Reused] = {}
    for entry in old.sentences:
        if entry.key not in wanted or entry.key in found or not cache.verified(out / entry.slug, entry.files):
            continue
        try:
            result = Result.from_json(_json(out / entry.slug / names.DATA))
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
            continue  # unreadable after all: computed again
        if result.text == wanted[entry.key] and set(entry.files) == result.files():
            found[entry.key] = Reused(entry, result)
    return {slug: found[k] for slug, k in keys.items() if k in found}
