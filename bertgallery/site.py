"""Stage 5: the HTML gallery from Jinja2 templates in templates/. Every URL is relative.

Each function renders one page to a string and writes nothing (makesite's render/write split): build.py
hands the strings to the output's writer, and the tests look at pages without building a site.
"""
from __future__ import annotations

import base64
import functools
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from . import data_folder, heads, names, offline, syntax
from .colours import IMPORTANCE_CMAP, SCALE_STEPS, Cell, colours, grid, head_colours, scale
from .config import MASK
from .heads import STATISTICS, HeadSummary, Totals
from .model import ModelInfo
from .records import Result

TEMPLATES = data_folder("templates", "base.html")
MAPS = tuple(s for s in STATISTICS if s.scale == "unit")  # what each head looks at: maps on each sentence page
DRAWN = tuple(s for s in STATISTICS if s.scale)  # maps of the gallery means on the heads page
TOP_HEADS = 5
LAYER_PLOT_KEYS = ("cls", "sep", "punct")
LAYER_PLOT_SIZE = (640, 360)  # pixels
LAYER_PLOT_NARROW_SIZE = (360, 320)  # for screens up to 600 px: the same labels, half the width
VIEW_PREFIX = "(window.bertGalleryViews = window.bertGalleryViews || []).push("  # view-data.js: then the view, ");"


@dataclass
class Entry:
    """A sentence as the site shows it: its results and its place in the gallery."""
    slug: str
    title: str
    note: str
    result: Result
    svg: str = ""  # the dependency arcs (Parse.svg), inlined in the page
    parts: list[str] = field(init=False)

    def __post_init__(self):
        self.parts = self.result.text.split(MASK)

    @functools.cached_property
    def alts(self) -> list[str]:
        """Per head: layer, head, tags and strongest attention pairs, for the pictures' alt texts."""
        return [heads.describe(h, self.result.tokens) for h in self.result.heads]


@dataclass
class LivePage:
    """The "Try your own sentence" page's model, as the page describes it."""
    model: str  # the hub id, folder or "offline" that runs in the browser
    layers: int
    heads: int  # per layer
    bytes: int  # of its files, which every reader downloads before the first sentence
    files: int
    gallery_model: bool  # it is the gallery's model: the explorer links the gallery's head pages
    top_k: int  # ranked predictions a mask, as on the sentence pages
    note: str = ""  # why it is not the model asked for (a hub id that could not be had)


@dataclass
class Gallery:
    entries: list[Entry]
    model: ModelInfo
    config_name: str
    colormap: str
    totals: Totals  # every head's statistics over the gallery's sentences
    pool: syntax.Pool  # every parsed arc over them
    corpus_sentences: int = 0  # of which from the corpus
    corpus_left_out: tuple = (0, 0)  # corpus lines too long for the model; corpus sentences not aligned for syntax
    live: LivePage | None = None  # the "Try your own sentence" page, when the gallery has one


def percent(p: float) -> str:
    """Probabilities as people read them: 42.1%, 0.37%, <0.01% (never a misleading 0.0%)."""
    if p >= 0.01:
        return f"{p * 100:.1f}%"
    return f"{p * 100:.2f}%" if p >= 0.0001 else "<0.01%"


@functools.cache
def _env() -> Environment:
    """One environment per process, so each template compiles once, not once per page."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      keep_trailing_newline=True)
    env.filters["percent"] = percent
    env.filters["signed"] = signed_number
    env.filters["values"] = lambda rows: " ".join(f"{c.value:.2f}" for row in rows for c in row)  # for cell names
    env.filters["number"] = lambda v, digits=2: "–" if v != v else f"{v:.{digits}f}"
    env.filters["sort_key"] = sort_key
    env.globals.update(names=names, STATISTICS=STATISTICS, MAPS=MAPS, rules=syntax)
    return env


def sort_key(value: float) -> str:
    """A table cell's data-value for sort.js: 4 significant digits order every row more finely than the page
    shows them (a mean's last digits are its inputs' rounding); "not measured" sorts first."""
    return "-1" if value != value else f"{value:.4g}"


def signed_number(value: float, digits: int = 3) -> str:
    """+0.430, −0.258: a sign always, a true minus sign, the same digits in every row."""
    return f"{value:+.{digits}f}".replace("-", "−")


def stat_maps(result: Result) -> list[tuple[str, list[list[Cell]]]]:
    """(label, layers x heads cells) for each statistic drawn as a map."""
    values = result.values()
    return [(stat.label, grid(values[..., heads.INDEX[stat.key]])) for stat in MAPS]


def mean_maps(totals: Totals) -> list[tuple[str, list[list[Cell]]]]:
    """The gallery means as maps; a statistic not on the 0-1 scale is drawn against its largest head."""
    maps = []
    for stat in DRAWN:
        values = totals.means[..., heads.INDEX[stat.key]]
        if stat.scale == "relative":
            if np.all(np.isnan(values)):
                continue
            values = values / (np.nanmax(values) or 1.0)
        maps.append((stat.label + (" (÷ the largest)" if stat.scale == "relative" else ""), grid(values)))
    return maps


@dataclass
class Explained:
    """One mask's explanation as the page shows it."""
    top: list  # the most important heads: (HeadStats, signed importance), largest |I| first
    cells: list[list[Cell]]  # importance ÷ the largest |I|, signed
    largest: float
    strip: list  # (token, rollout share after the last layer, Cell relative to the largest share)
    values: str = ""  # every head's importance, for the cells' names


def explained(result: Result) -> list[Explained | None]:
    out = []
    for mask in result.masks:
        if mask.rollout is None:
            out.append(None)
            continue
        last = np.asarray(mask.rollout)[-1]
        strip = [(t, float(v), Cell(float(v) / (last.max() or 1.0))) for t, v in zip(result.tokens, last)]
        if mask.importance is None:
            out.append(Explained([], [], 0.0, strip))
            continue
        imp = np.asarray(mask.importance)
        largest = float(np.abs(imp).max()) or 1.0
        order = np.argsort(-np.abs(imp), axis=None)[:TOP_HEADS]
        top = [(result.heads[int(i)], float(imp.flat[i])) for i in order]
        out.append(Explained(top, grid(imp / largest, signed=True), largest, strip,
                             " ".join(signed_number(v) for v in imp.ravel())))
    return out


def rollout_shown(result: Result) -> int:
    """How many masks (the first ones) the rollout picture shows: all, unless there are many (plots.py)."""
    from .plots import rollout_size
    return rollout_size(result.layers, result.tokens, len(result.masks))[1] if result.masks else 0


def view_data(result: Result, attention: np.ndarray, cmap_name: str, model_name: str) -> str:
    """The explorer's data file: a script, not a fetch, so the view works from file://. It pushes its view onto
    window.bertGalleryViews; a page with several models includes one per model, in the gallery's order."""
    return f"{VIEW_PREFIX}{view_json(result, attention, cmap_name, model_name)});\n"


def view_json(result: Result, attention: np.ndarray, cmap_name: str, model_name: str) -> str:
    """What attention.js needs (the contract in docs/explorer.md): weights as 16-bit integers (w x 10000, layer-major,
    little-endian) in base64, the tokens, the colour map and the names; null for what does not apply yet
    (segments, value norms, contributions). JSON is valid JavaScript; '<' is escaped so that it can sit inside
    a <script> element too."""
    import json
    weights = np.clip(np.rint(attention * 10000), 0, 10000).astype("<u2")
    steps = scale(cmap_name)
    data = {"model": model_name, "tokens": result.tokens, "layers": result.layers, "heads": result.heads_per_layer,
            "special": result.special, "segments": None, "colors": [c for c, _ in steps],
            "light": [light for _, light in steps], "scale": 10000, "names": names.for_js(),
            "tags": [h.tags for h in result.heads], "headColours": head_colours(result.heads_per_layer),
            "default": default_head(result), "attention": base64.b64encode(weights.tobytes()).decode("ascii"),
            "norms": None, "contributions": None}
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def default_head(result: Result) -> list[int]:
    """The head the explorer opens on (1-based): the one the first mask's prediction depends on most, or else
    the most focused head that does not park its attention on [CLS] or [SEP] — never a broad hairball."""
    mask = result.masks[0] if result.masks else None
    if mask is not None and mask.importance is not None:
        i = int(np.argmax(np.abs(np.asarray(mask.importance))))
    else:
        values = result.values()
        parked = np.maximum(values[..., heads.INDEX["cls"]], values[..., heads.INDEX["sep"]])
        i = int(np.argmin(np.where(parked < heads.STATISTICS[heads.INDEX["cls"]].threshold,
                                   values[..., heads.INDEX["breadth"]], np.inf)))
    return [i // result.heads_per_layer + 1, i % result.heads_per_layer + 1]


@dataclass
class Arc:
    """One word's arc of the parse, and the heads that got it right in this sentence."""
    word: str
    relation: str
    head: str  # the syntactic head's word
    right: list  # per direction, [(layer, head), ...]


def arcs(result: Result) -> list[Arc]:
    s = result.syntax
    if not s:
        return []
    right = s.right().reshape(2, -1, len(s.words))  # [direction, layer-major head, word]
    n = result.heads_per_layer
    return [Arc(word, rel, s.words[h], [[(i // n + 1, i % n + 1) for i in np.flatnonzero(right[d, :, w])]
                                       for d in (0, 1)])
            for w, (word, h, rel) in enumerate(zip(s.words, s.heads, s.relations)) if h != w]


@dataclass
class Syntax:
    """The gallery's syntax statistics as the heads pages show them."""
    rows: list  # syntax.RelationRow, Clark's table
    maps: list  # (label, layers x heads cells) of each relation with enough instances
    heads: list  # syntax.HeadSyntax per head, layer-major


def syntax_view(pool: syntax.Pool) -> Syntax:
    rows = syntax.table(pool)
    shown = [r for r in rows if not r.too_few]
    maps = [(f"{r.relation} ({r.direction}, {r.count})", grid(m)) for r, m in zip(shown, syntax.matrix(pool, shown))]
    return Syntax(rows, maps, syntax.head_summaries(pool))


def _common(gallery: Gallery, root: str) -> dict:
    return dict(root=root, model=gallery.model, config_name=gallery.config_name, live=gallery.live)


def explorer_models(gallery: Gallery) -> str:
    """The sentence page's models for the explorer (its section's data-models), in the order of their
    view-data.js scripts: where each model's pictures and head pages are, relative to the page. With one model
    its pictures are beside the page and no address names it, so it needs no slug."""
    import json
    return json.dumps([{"slug": "", "name": gallery.model.name, "prefix": "", "heads": f"../{names.HEADS}/"}],
                      ensure_ascii=False)


def sentence_page(gallery: Gallery, i: int) -> str:
    entries = gallery.entries
    entry = entries[i]
    return _env().get_template("sentence.html").render(
        **_common(gallery, "../"), page=entry, result=entry.result, models=explorer_models(gallery),
        prev=entries[i - 1] if i else None, next=entries[i + 1] if i + 1 < len(entries) else None,
        maps=stat_maps(entry.result), scale=scale(gallery.colormap), explained=explained(entry.result),
        arcs=arcs(entry.result), rollout_shown=rollout_shown(entry.result),
        signed_scale=colours(np.linspace(0, 1, SCALE_STEPS), IMPORTANCE_CMAP))


def index_page(gallery: Gallery) -> str:
    return _env().get_template("index.html").render(**_common(gallery, ""), pages=gallery.entries)


def table_colours(means: list[HeadSummary]) -> list[list[Cell | None]]:
    """Each table cell's colour class: a share as it is, another unit against its largest head, none for
    a statistic not drawn (entropy) or not measured."""
    largest = {s.key: max((m[s.key] for m in means if m[s.key] == m[s.key]), default=1.0) or 1.0 for s in STATISTICS}
    return [[None if not s.scale or m[s.key] != m[s.key] else
             Cell(m[s.key] / (largest[s.key] if s.scale == "relative" else 1.0)) for s in STATISTICS] for m in means]


def heads_index(gallery: Gallery, means: list[HeadSummary], syn: Syntax) -> str:
    held = {t for m in means for t in m.tag_counts}  # the filter offers only tags some head has
    tag_names = [t for t in heads.TAGS if t in held] + sorted({t for h in syn.heads for t in h.tags})
    return _env().get_template("heads.html").render(
        syntax=syn, pool=gallery.pool, totals=gallery.totals, colour=table_colours(means),
        tag_names=tag_names,
        corpus_sentences=gallery.corpus_sentences, left_out=gallery.corpus_left_out,
        **_common(gallery, "../"), means=means, pages=gallery.entries, plot_size=LAYER_PLOT_SIZE,
        plot_stats=[STATISTICS[heads.INDEX[k]] for k in LAYER_PLOT_KEYS],
        maps=mean_maps(gallery.totals), scale=scale(gallery.colormap))


def head_page(gallery: Gallery, means: list[HeadSummary], syn: Syntax, i: int) -> str:
    mean = means[i]
    cell = min(e.result.head_size[2] for e in gallery.entries)  # never upscaled; 13 px at least (render.layout)
    above = [best for best in syn.heads[i].best if best[1] > best[2]]  # accuracy over the relation's baseline
    return _env().get_template("head.html").render(syntax=syn.heads[i], above=above, cell=cell,
        **_common(gallery, "../"), layer=mean.layer, head=mean.head, mean=mean,
        rows=[(e, e.result.heads[i], e.alts[i]) for e in gallery.entries],
        prev=means[i - 1] if i else None, next=means[i + 1] if i + 1 < len(means) else None)


def notebook_html(result: Result, attention: np.ndarray, info: ModelInfo, cmap_name: str, uid: str) -> str:
    """One sentence for a notebook: its predictions and the explorer, the CSS and JavaScript inline ('</' made
    harmless for a <script>), every id under `uid`."""
    def inline(name: str) -> Markup:
        return Markup((TEMPLATES / name).read_text(encoding="utf-8").replace("</", "<\\/"))
    return _env().get_template("notebook.html").render(
        uid=uid, result=result, model=info, css=inline("explorer.css"), js=inline("attention.js"),
        data=Markup(view_json(result, attention, cmap_name, info.name)))


def statistics_page(gallery: Gallery) -> str:
    from .attribution import NAMES
    families = ", ".join(NAMES)
    return _env().get_template("statistics.html").render(**_common(gallery, "../"), importance_families=families,
                                                         drift=offline.DRIFT)


def live_page(gallery: Gallery) -> str:
    """The "Try your own sentence" page: its settings for live-page.js in one attribute (as data-models)."""
    import json
    live = gallery.live
    steps = scale(gallery.colormap)
    settings = {"model": live.model, "topK": live.top_k, "base": "", "colors": [c for c, _ in steps],
                "light": [light for _, light in steps], "headColours": head_colours(live.heads),
                "names": names.for_js(), "heads": f"../{names.HEADS}/" if live.gallery_model else None,
                "example": gallery.entries[0].result.text}
    return _env().get_template("live.html").render(**_common(gallery, "../"), page=live,
                                                   settings=json.dumps(settings, ensure_ascii=False))


def pages(gallery: Gallery) -> Iterator[tuple[str, str | bytes]]:
    """Every page and static file of the site as (relative path, content)."""
    yield names.PAGE, index_page(gallery)
    for i, entry in enumerate(gallery.entries):
        yield f"{entry.slug}/{names.PAGE}", sentence_page(gallery, i)
    means = heads.summaries(gallery.totals)
    syn = syntax_view(gallery.pool)
    yield f"{names.HEADS}/{names.PAGE}", heads_index(gallery, means, syn)
    yield f"{names.HEADS}/{names.STATISTICS_PAGE}", statistics_page(gallery)
    for i, mean in enumerate(means):
        yield f"{names.HEADS}/{names.head_page(mean.layer, mean.head)}", head_page(gallery, means, syn, i)
    for name in names.STATIC_FILES + (names.LIVE_FILES if gallery.live else ()):
        yield f"{names.STATIC}/{name}", (TEMPLATES / name).read_bytes()
    if gallery.live:
        yield f"{names.LIVE}/{names.PAGE}", live_page(gallery)
