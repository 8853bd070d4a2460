"""Every file name and head name of the site, in one place: Python uses these functions, the templates get
them as Jinja globals, and attention.js gets the patterns as data (it fills in {layer} and {head})."""
from __future__ import annotations

import re

HEAD_PNG = "Attention_Layer{layer}_Head{head}.png"  # layer and head 1-based
HEAD_PAGE = "layer{layer}-head{head}.html"
OVERVIEW = "overview.png"
OVERVIEW_NARROW = "overview-narrow.png"  # the same laid out for a phone (render.NARROW_WIDTH)
ROLLOUT = "Rollout.png"  # where each mask's information comes from, layer by layer
PARSE = "Parse.svg"  # the filled sentence's dependency arcs, drawn by displaCy
DATA = "data.json"
VIEW_DATA = "view-data.js"  # the interactive view's attention, loaded with <script src> (works from file://)
PAGE = "index.html"
MANIFEST = "manifest.json"
HEADS = "heads"  # the folder of the gallery-wide head pages
STATIC = "static"  # no leading '_': GitHub Pages (Jekyll) would hide it
STATIC_FILES = ("style.css", "explorer.css", "sort.js", "attention.js")  # copied from templates/ into STATIC
STATISTICS_PAGE = "statistics.html"  # in HEADS: what every number means
LAYER_PLOT = "per-layer.png"
LAYER_PLOT_NARROW = "per-layer-narrow.png"  # the same plot laid out for a phone
CORPUS = "corpus.json"  # in HEADS: the corpus's counts, kept for the next build
CORPUS_ATTENTION = "corpus-attention.json"  # in HEADS/<model>: the first corpus sentences' attention, to compare
COMPARE = "compare"  # the folder of the pages that compare two models, one folder a pair
COMPARE_DATA = "compare.json"  # in a pair's folder: its numbers, kept for the next build
COMPARE_PLOT = "per-layer.png"  # in a pair's folder: both models' per-layer curves in one plot
LIVE = "live"  # the folder of the "Try your own sentence" page (its PAGE) and the model exported for it
LIVE_MODEL = "model.js"  # in LIVE: the export's manifest (live.py writes it, live.js reads it first)
LIVE_WEIGHTS = "weights-{part}.js"  # in LIVE: the export's weights, part 1, 2, ...
LIVE_FILES = ("live.js", "live-page.js")  # copied from templates/ into STATIC when the gallery has a live page
RESERVED = (HEADS, STATIC, COMPARE, LIVE)  # sentence folders may not take these names
SLUG = r"[a-z0-9]+(?:-[a-z0-9]+)*"  # a sentence folder's name, as config.slugify makes it; a model's too


def folder(sentence: str, model: str = "") -> str:
    """A sentence's folder for one model: the sentence's own with one model in the gallery (model ""), or
    its sub-folder named for the model with several."""
    return f"{sentence}/{model}" if model else sentence


def heads_folder(model: str = "") -> str:
    """A model's heads pages: HEADS with one model in the gallery, HEADS/<model> with several."""
    return f"{HEADS}/{model}" if model else HEADS


def compare_folder(a: str, b: str) -> str:
    """The compare page of models a and b (a before b in the gallery's order); slugs never hold '--'."""
    return f"{COMPARE}/{a}--{b}"


def pictures(layers: int, heads: int, masks: bool) -> set[str]:
    """The pictures of a sentence's folder (drawn from its attention, cached under a key of their own): every
    head's, the overview, and the rollout if it has a mask."""
    return {head_png(l, h) for l in range(1, layers + 1) for h in range(1, heads + 1)} | {OVERVIEW, OVERVIEW_NARROW} \
        | ({ROLLOUT} if masks else set())


def is_picture(name: str) -> bool:
    """Whether a file of a sentence's folder is one of its pictures, not one of its results."""
    return name.endswith(".png")


def head_png(layer: int, head: int) -> str:
    return HEAD_PNG.format(layer=layer, head=head)


def live_weights(part: int) -> str:
    return LIVE_WEIGHTS.format(part=part)


def head_page(layer: int, head: int) -> str:
    return HEAD_PAGE.format(layer=layer, head=head)


def head_title(layer: int, head: int) -> str:
    """As in a picture's title: 'Layer 3 · Head 10'."""
    return f"Layer {layer} · Head {head}"


def head_name(layer: int, head: int) -> str:
    """As in running text and alt text: 'Layer 3, head 10'."""
    return f"Layer {layer}, head {head}"


def for_js() -> dict:
    return {"headPng": HEAD_PNG, "headPage": HEAD_PAGE, "headName": head_name("{layer}", "{head}")}


def _pattern(name: str) -> str:
    """A file-name pattern with {layer} and {head} (or {part}) as a regular expression."""
    return re.sub(r"\\\{(?:layer|head|part)\\\}", "[1-9][0-9]*", re.escape(name))


_SENTENCE_FILES = f"(?:{'|'.join(map(re.escape, (DATA, VIEW_DATA, OVERVIEW, OVERVIEW_NARROW, ROLLOUT, PARSE)))}|{_pattern(HEAD_PNG)})"
_HEADS_KEPT = (PAGE, LAYER_PLOT, LAYER_PLOT_NARROW, CORPUS, CORPUS_ATTENTION)
_HEADS_FILES = f"(?:{'|'.join(map(re.escape, _HEADS_KEPT))}|{_pattern(HEAD_PAGE)})"
_SITE_FILE = re.compile("|".join([
    f"{re.escape(PAGE)}|{re.escape(MANIFEST)}",
    f"{STATIC}/(?:{'|'.join(map(re.escape, STATIC_FILES + LIVE_FILES))})",
    f"{LIVE}/(?:{re.escape(PAGE)}|{re.escape(LIVE_MODEL)}|{_pattern(LIVE_WEIGHTS)})",
    f"{HEADS}/(?:{re.escape(STATISTICS_PAGE)}|{_HEADS_FILES}|{SLUG}/{_HEADS_FILES})",  # one model, or several
    f"{SLUG}/(?:{re.escape(PAGE)}|{_SENTENCE_FILES}|{SLUG}/{_SENTENCE_FILES})",
    f"{COMPARE}/{SLUG}--{SLUG}/(?:{'|'.join(map(re.escape, (PAGE, COMPARE_DATA, COMPARE_PLOT)))})",
]))
# sentence folders (HEADS, STATIC and COMPARE among them), a model's folder inside one, a pair's in COMPARE
_SITE_FOLDER = re.compile(f"{SLUG}(?:/{SLUG})?|{COMPARE}/{SLUG}--{SLUG}")


def site_file(relpath: str) -> bool:
    """Whether a path inside a site (with '/') is named as this tool names the files of a site: the only
    files a build may replace when it cannot read the site's manifest as its own (an earlier version's)."""
    return _SITE_FILE.fullmatch(relpath) is not None


def site_folder(relpath: str) -> bool:
    """Whether a folder inside a site is named as this tool names its folders: a sentence's, HEADS, STATIC,
    LIVE."""
    return _SITE_FOLDER.fullmatch(relpath) is not None
