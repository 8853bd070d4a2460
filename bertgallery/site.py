"""Stage 5: the HTML gallery from Jinja2 templates in templates/. Every URL is relative.

Each function renders one page to a string and writes nothing (makesite's render/write split): build.py
hands the strings to the output's writer, and the tests look at pages without building a site.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from . import corpus, data_folder, heads, names, offline, syntax
from .colours import IMPORTANCE_CMAP, SCALE_STEPS, Cell, colours, grid, head_colours, scale
from .config import MASK, joined
from .heads import STATISTICS, HeadSummary, Totals
from .model import ModelInfo
from .records import Result, percent
from .sizes import rollout_size
from .views import view_json

TEMPLATES = data_folder("templates", "base.html")
MAPS = tuple(s for s in STATISTICS if s.scale == "unit")  # what each head looks at: maps on each sentence page
DRAWN = tuple(s for s in STATISTICS if s.scale)  # maps of the gallery means on the heads page
TOP_HEADS = 5
DEFAULT_NAME = "Attention gallery"  # the site's name on every page when the author gives it no title
FAVICONS = ("favicon.svg", "favicon.png", "favicon.ico")  # among the author's files: the first is the pages' icon
# the per-layer plot: attention to the special tokens by weights (Clark et al.'s Fig. 2), solid, and by value
# norms (Kobayashi et al. 2020's Fig. 2), dashed in the same colour
LAYER_PLOT_KEYS = ("cls", "sep", "punct", "cls_norm", "sep_norm")
LAYER_PLOT_STYLES = ("C0o-", "C1s-", "C2^-", "C0o--", "C1s--")
LAYER_PLOT_SIZE = (640, 400)  # pixels
LAYER_PLOT_NARROW_SIZE = (360, 400)  # for screens up to 600 px: the same labels, half the width


@dataclass
class Page:
    """A sentence as the site shows it for one model: that model's results and the sentence's place."""
    slug: str
    title: str
    note: str
    result: Result
    svg: str = ""  # the dependency arcs (Parse.svg), inlined in the page
    question: str = ""  # the author's question for the reader (sentences.yaml), under the sentence
    parts: list[str] = field(init=False)  # the text around its masks
    pair_parts: list[str] = field(init=False)  # the pair's, [] for a single sentence

    def __post_init__(self):
        self.parts = self.result.text.split(MASK)
        self.pair_parts = self.result.pair.split(MASK) if self.result.pair else []

    @functools.cached_property
    def alts(self) -> list[str]:
        """Per head: layer, head, tags and strongest attention pairs, for the pictures' alt texts."""
        return [heads.describe(h, self.result.tokens) for h in self.result.heads]


@dataclass
class Shown:
    """One model of the gallery as the site shows it."""
    info: ModelInfo
    folder: str  # its sub-folder of each sentence's folder and of heads/; "" in a gallery of one model
    entries: list[Page]  # every sentence with this model's results
    totals: Totals  # every head's statistics over the gallery's sentences
    pool: syntax.Pool  # every parsed arc over them
    corpus_sentences: int = 0  # of which from the corpus
    corpus_left_out: tuple = (0, 0)  # corpus lines too long for the model; corpus sentences not aligned for syntax

    @property
    def prefix(self) -> str:
        """Where its files of a sentence are, relative to the sentence's page."""
        return f"{self.folder}/" if self.folder else ""


@dataclass
class LivePage:
    """The "Try your own sentence" page's model, as the page describes it."""
    model: str  # the hub id, folder or "offline" that runs in the browser
    layers: int
    heads: int  # per layer
    bytes: int  # of its files, which every reader downloads before the first sentence
    files: int
    heads_pages: str | None  # where its head pages are, relative to the page: only when it is a gallery model
    top_k: int  # ranked predictions a mask, as on the sentence pages
    note: str = ""  # why it is not the model asked for (a hub id that could not be had)


@dataclass
class Gallery:
    models: list[Shown]  # in the config's order
    config_name: str
    colormap: str
    compared: list = field(default_factory=list)  # (i, j, compare.Compared) of each pair of models, i < j
    live: LivePage | None = None  # the "Try your own sentence" page, when the gallery has one
    title: str = ""  # the author's name for the gallery ("" for DEFAULT_NAME)
    intro: list = field(default_factory=list)  # the author's introduction: paragraphs of config.Piece
    author_files: list[str] = field(default_factory=list)  # the author's own files in the site (files:)
    corpus_lines: int = 0  # the corpus's sentences (its first corpus.COMPARED enter each pair's D)

    @property
    def several(self) -> bool:
        return len(self.models) > 1

    @property
    def favicon(self) -> str:
        """The author's icon for every page, if their files have one at the top (browsers look for
        /favicon.ico only at a domain's root, never under a sub-path or from disk)."""
        return next((n for n in FAVICONS if n in self.author_files), "")


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
    env.filters["filled"] = lambda result: joined(result.filled, result.filled_pair)
    env.filters["all_of"] = all_of
    env.globals.update(names=names, STATISTICS=STATISTICS, MAPS=MAPS, rules=syntax)
    return env


def all_of(count: int, noun: str) -> str:
    """ "Both masks" for two, "All 3 masks" for more: a page never says "All 2"."""
    return f"Both {noun}" if count == 2 else f"All {count} {noun}"


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
    return [(stat.label, grid(values[..., heads.INDEX[stat.key]]))
            for stat in heads.applicable(MAPS, result.segments is not None)]


def mean_maps(totals: Totals) -> list[tuple[str, list[list[Cell]]]]:
    """The gallery means as maps; a statistic not on the 0-1 scale is drawn against its largest head."""
    maps = []
    for stat in heads.applicable(DRAWN, totals.has_pairs):
        values = totals.means[..., heads.INDEX[stat.key]]
        if stat.scale == "relative":
            if np.all(np.isnan(values)):
                continue
            values = values / (np.nanmax(values) or 1.0)
        maps.append((stat.label + (" (the highest head = 1)" if stat.scale == "relative" else ""), grid(values)))
    return maps


@dataclass
class Explained:
    """One mask's explanation as the page shows it."""
    top: list  # the most important heads: (HeadStats, signed importance), largest |I| first
    cells: list[list[Cell]]  # importance ÷ the largest |I|, signed
    largest: float
    strip: list  # (token, rollout share after the last layer, Cell relative to the largest share)
    values: str = ""  # every head's importance, for the cells' names
    kept: float = 0.0  # the rollout's share at the mask's own position after the last layer
    contribution_strip: list = field(default_factory=list)  # as `strip`, of the contribution rollout (mixing.py)
    contribution_kept: float = 0.0


def _strip(result: Result, rows: np.ndarray, at: int) -> tuple[list, float]:
    """A mask's rollout row after the last layer as the page's strip, and its share at the mask's own position."""
    last = np.asarray(rows)[-1]
    return [(t, float(v), Cell(float(v) / (last.max() or 1.0))) for t, v in zip(result.tokens, last)], float(last[at])


def explained(result: Result) -> list[Explained | None]:
    out = []
    for mask in result.masks:
        if mask.rollout is None:
            out.append(None)
            continue
        strip, kept = _strip(result, mask.rollout, mask.index)
        flows = {} if mask.contribution_rollout is None else dict(zip(
            ("contribution_strip", "contribution_kept"), _strip(result, mask.contribution_rollout, mask.index)))
        if mask.importance is None:
            out.append(Explained([], [], 0.0, strip, kept=kept, **flows))
            continue
        imp = np.asarray(mask.importance)
        largest = float(np.abs(imp).max()) or 1.0
        order = np.argsort(-np.abs(imp), axis=None)[:TOP_HEADS]
        top = [(result.heads[int(i)], float(imp.flat[i])) for i in order]
        out.append(Explained(top, grid(imp / largest, signed=True), largest, strip,
                             " ".join(signed_number(v) for v in imp.ravel()), kept, **flows))
    return out


def rollout_shown(result: Result) -> int:
    """How many masks (the first ones) the rollout picture shows: all, unless there are many (plots.py)."""
    kinds = 2 if result.masks and all(m.contribution_rollout is not None for m in result.masks) else 1
    return rollout_size(result.layers, result.tokens, len(result.masks), kinds)[1] if result.masks else 0


@dataclass
class Arc:
    """One word's arc of the parse, and the heads that got it right in this sentence."""
    word: str
    relation: str
    head: str  # the syntactic head's word
    right: list  # per direction, [(layer, head), ...]: the head that follows the relation best in the gallery first


def arcs(result: Result, pool: syntax.Pool) -> list[Arc]:
    """Each arc and, per direction, the heads right in this sentence, ordered by their accuracy on the arc's
    relation over the gallery (`pool`, which holds this sentence), most accurate first (a tie: layer, then head
    order): the first is the head a reader can trust for the relation, not only for this arc."""
    s = result.syntax
    if not s:
        return []
    right = s.right().reshape(2, -1, len(s.words))  # [direction, layer-major head, word]
    accuracy = pool.accuracy().reshape(len(pool.relations), 2, -1)
    n = result.heads_per_layer
    out = []
    for w, (word, h, rel) in enumerate(zip(s.words, s.heads, s.relations)):
        if h == w:
            continue
        known = accuracy[pool.relations.index(rel)] if rel in pool.relations else np.zeros(accuracy.shape[1:])
        out.append(Arc(word, rel, s.words[h], [[(i // n + 1, i % n + 1) for i in
                                                sorted(np.flatnonzero(right[d, :, w]), key=lambda i: -known[d, i])]
                                               for d in (0, 1)]))
    return out


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


def _common(gallery: Gallery, root: str, shown: Shown | None = None) -> dict:
    """What every page's frame (base.html) needs: `model` is the model a page is about, None for a page of
    every model in a gallery of several."""
    model = shown.info if shown else None if gallery.several else gallery.models[0].info
    return dict(root=root, model=model, all_models=gallery.models, several=gallery.several,
                config_name=gallery.config_name, live=gallery.live, site_name=gallery.title or DEFAULT_NAME,
                favicon=gallery.favicon)


def explorer_models(gallery: Gallery) -> str:
    """The sentence page's models for the explorer (its section's data-models), in the order of their
    view-data.js scripts: where each model's pictures and head pages are, relative to the page. With one model
    its pictures are beside the page and no address names it, so it needs no slug."""
    import json
    return json.dumps([{"slug": m.folder, "name": m.info.name, "prefix": m.prefix,
                        "heads": f"../{names.heads_folder(m.folder)}/"} for m in gallery.models], ensure_ascii=False)


@dataclass
class Column:
    """One model's part of a sentence page: the whole page with one model, a column of the predictions and a
    "going deeper" section with several."""
    shown: Shown
    page: Page
    maps: list
    explained: list
    arcs: list
    rollout_shown: int
    svg: str  # its parse, its ids made its own
    first: heads.FirstLook  # the head the explorer opens on for it (the view's "default")
    hash: str  # what names the model in the explorer's address: "" for the first, "m=<slug>&" after it
    ids: str  # what makes its sections' ids its own: "" with one model, "-<slug>" with several


def column(gallery: Gallery, k: int, i: int) -> Column:
    m = gallery.models[k]
    entry = m.entries[i]
    own = f"-{m.folder}" if gallery.several else ""
    return Column(m, entry, stat_maps(entry.result), explained(entry.result), arcs(entry.result, m.pool),
                  rollout_shown(entry.result), entry.svg.replace('id="parse', f'id="parse{own}') if own else entry.svg,
                  entry.result.first_look(), f"m={m.folder}&" if k else "", own)


def agreements(gallery: Gallery, i: int) -> list[list[str]]:
    """Per mask of sentence i, one line per pair of masked LMs: whether their top words agree and how many of
    their top k they share."""
    from .compare import agreement
    lms = [m for m in gallery.models if m.info.masked_lm]
    masks = len(lms[0].entries[i].result.masks) if lms else 0
    out = [[] for _ in range(masks)]
    for x, y in ((x, y) for n, x in enumerate(lms) for y in lms[n + 1:]):
        for k, (a, b) in enumerate(zip(x.entries[i].result.masks, y.entries[i].result.masks)):
            _, same, shared = agreement([a], [b])
            top = min(len(a.predictions), len(b.predictions))
            word = a.predictions[0].token
            out[k].append(f"{x.info.name} and {y.info.name}: " + (f"the same top word, ‘{word}’" if same else
                          f"different top words (‘{word}’, ‘{b.predictions[0].token}’)") +
                          f"; {round(shared * top)} of their top {top} shared")
    return out


def sentence_page(gallery: Gallery, i: int) -> str:
    """A sentence: the predictions, the explorer with the overview, then each model's "going deeper"."""
    entries = gallery.models[0].entries
    columns = [column(gallery, k, i) for k in range(len(gallery.models))]
    notes = [m.entries[i].result.pair_note for m in gallery.models if m.entries[i].result.pair_note]
    lms = [c for c in columns if c.shown.info.masked_lm]
    return _env().get_template("sentence.html").render(
        **_common(gallery, "../"), page=entries[i], models=explorer_models(gallery), columns=columns,
        pair_notes=notes, prev=entries[i - 1] if i else None, next=entries[i + 1] if i + 1 < len(entries) else None,
        scale=scale(gallery.colormap), signed_scale=colours(np.linspace(0, 1, SCALE_STEPS), IMPORTANCE_CMAP),
        masks=len(lms[0].page.result.masks) if lms else 0, agreements=agreements(gallery, i),
        top_k=max((len(m.predictions) for c in lms for m in c.page.result.masks), default=0),
        on_words=heads.ON_WORDS)


def index_page(gallery: Gallery) -> str:
    return _env().get_template("index.html").render(**_common(gallery, ""), pages=gallery.models[0].entries,
                                                    compared=gallery.compared, title=gallery.title,
                                                    intro=gallery.intro)


# the heads table shows a mean's standard error from this size: the means are shown to two digits, and below it
# the mean ± one standard error spans less than one unit of the last digit shown
SHOWN_STDERR = 0.005


def table_colours(means: list[HeadSummary]) -> list[list[Cell | None]]:
    """Each table cell's colour class: a share as it is, another unit against its largest head, none for
    a statistic not drawn (entropy) or not measured."""
    largest = {s.key: max((m[s.key] for m in means if m[s.key] == m[s.key]), default=1.0) or 1.0 for s in STATISTICS}
    return [[None if not s.scale or m[s.key] != m[s.key] else
             Cell(m[s.key] / (largest[s.key] if s.scale == "relative" else 1.0)) for s in STATISTICS] for m in means]


def _heads_common(gallery: Gallery, shown: Shown) -> dict:
    """A model's heads pages: in heads/, or heads/<model>/ in a gallery of several (`up` leads to heads/,
    `sub` and `hash` to that model's pictures and view on a sentence page)."""
    root = "../../" if shown.folder else "../"
    return dict(**_common(gallery, root, shown), up="../" if shown.folder else "", sub=shown.prefix,
                hash=f"m={shown.folder}&" if shown.folder else "")


def heads_index(gallery: Gallery, shown: Shown, means: list[HeadSummary], syn: Syntax) -> str:
    held = {t for m in means for t in m.tag_counts}  # the filter offers only tags some head has
    tag_names = [t for t in heads.TAGS if t in held] + sorted({t for h in syn.heads for t in h.tags})
    shown_stats = heads.applicable(STATISTICS, shown.totals.has_pairs)
    return _env().get_template("heads.html").render(
        syntax=syn, pool=shown.pool, totals=shown.totals, colour=table_colours(means),
        columns=[(heads.INDEX[s.key], s) for s in shown_stats],
        pair_tags=[s.tag for s in shown_stats if s.pairs_only and s.tag],
        tag_names=tag_names, shown_stderr=SHOWN_STDERR,
        corpus_sentences=shown.corpus_sentences, left_out=shown.corpus_left_out,
        **_heads_common(gallery, shown), means=means, pages=shown.entries, plot_size=LAYER_PLOT_SIZE,
        plot_stats=[STATISTICS[heads.INDEX[k]] for k in LAYER_PLOT_KEYS],
        maps=mean_maps(shown.totals), scale=scale(gallery.colormap))


def head_page(gallery: Gallery, shown: Shown, means: list[HeadSummary], syn: Syntax, i: int) -> str:
    mean = means[i]
    cell = min(e.result.head_size[2] for e in shown.entries)  # never upscaled; 13 px at least (render.layout)
    above = [best for best in syn.heads[i].best if best[1] > best[2]]  # accuracy over the relation's baseline
    return _env().get_template("head.html").render(syntax=syn.heads[i], above=above, cell=cell,
        stats=heads.applicable(STATISTICS, shown.totals.has_pairs),
        **_heads_common(gallery, shown), layer=mean.layer, head=mean.head, mean=mean,
        rows=[(e, e.result.heads[i], e.alts[i]) for e in shown.entries],
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
    from . import mixing
    from .attribution import FAMILIES, NAMES
    families = ", ".join(NAMES)
    mixed = ", ".join(name for kind, name in zip(FAMILIES, NAMES) if kind in mixing.FAMILIES)
    return _env().get_template("statistics.html").render(**_common(gallery, "../"), importance_families=families,
                                                         mixing_families=mixed, drift=offline.DRIFT,
                                                         offline=offline.DESCRIPTION if any(
                                                             m.info.about == offline.DESCRIPTION
                                                             for m in gallery.models) else "")


def compare_page(gallery: Gallery, i: int, j: int, compared) -> str:
    """Models i and j side by side: the heat map of D, each head's closest counterpart, per layer the namesakes
    or the best-matching layer, the prediction agreement, the statistics of both."""
    a, b = gallery.models[i], gallery.models[j]
    flat = compared.flat
    top = float(np.nanmax(flat)) or 1.0
    return _env().get_template("compare.html").render(
        **_common(gallery, "../../"), a=a, b=b, c=compared, scale=scale(gallery.colormap),
        cells=[[Cell(1 - v / top) for v in row] for row in flat], top=top,
        closest=(compared.closest(0), compared.closest(1)), namesakes=compared.namesakes(),
        best_layers=compared.best_layers(), tables=[syntax.table(m.pool) for m in (a, b)],
        plot_size=LAYER_PLOT_SIZE, plot_stats=[STATISTICS[heads.INDEX[k]] for k in LAYER_PLOT_KEYS],
        corpus_total=gallery.corpus_lines, corpus_limit=corpus.COMPARED)


# the live page's pair example where the gallery has no pair of its own (sentences.yaml's first pair)
EXAMPLE_PAIR = ("John gave Mary a book.", "[MASK] thanked him for it.")


def live_examples(gallery: Gallery) -> list[tuple[str, str]]:
    """The sentences the live page offers as (text, pair): the gallery's first sentence, and its first pair (or
    EXAMPLE_PAIR), so a reader sees that a second sentence can be given."""
    results = [e.result for e in gallery.models[0].entries]
    first = results[0]
    pair = next(((r.text, r.pair) for r in results if r.pair), EXAMPLE_PAIR)
    return [(first.text, first.pair)] + ([pair] if pair != (first.text, first.pair) else [])


def live_page(gallery: Gallery) -> str:
    """The "Try your own sentence" page: its settings for live-page.js in one attribute (as data-models)."""
    import json
    live = gallery.live
    examples = live_examples(gallery)
    steps = scale(gallery.colormap)
    settings = {"model": live.model, "topK": live.top_k, "base": "", "colors": [c for c, _ in steps],
                "light": [light for _, light in steps], "headColours": head_colours(live.heads),
                "names": names.for_js(), "heads": live.heads_pages,
                "example": examples[0]}
    return _env().get_template("live.html").render(**_common(gallery, "../"), page=live, examples=examples,
                                                   settings=json.dumps(settings, ensure_ascii=False))


def pages(gallery: Gallery) -> Iterator[tuple[str, str | bytes]]:
    """Every page and static file of the site as (relative path, content)."""
    yield names.PAGE, index_page(gallery)
    for i, entry in enumerate(gallery.models[0].entries):
        yield f"{entry.slug}/{names.PAGE}", sentence_page(gallery, i)
    for shown in gallery.models:
        means = heads.summaries(shown.totals)
        syn = syntax_view(shown.pool)
        folder = names.heads_folder(shown.folder)
        yield f"{folder}/{names.PAGE}", heads_index(gallery, shown, means, syn)
        if not shown.folder:  # with several models, written once, below
            yield f"{names.HEADS}/{names.STATISTICS_PAGE}", statistics_page(gallery)
        for i, mean in enumerate(means):
            yield f"{folder}/{names.head_page(mean.layer, mean.head)}", head_page(gallery, shown, means, syn, i)
    if gallery.several:
        yield f"{names.HEADS}/{names.STATISTICS_PAGE}", statistics_page(gallery)
    for i, j, compared in gallery.compared:
        folder = names.compare_folder(gallery.models[i].folder, gallery.models[j].folder)
        yield f"{folder}/{names.PAGE}", compare_page(gallery, i, j, compared)
    for name in names.STATIC_FILES + (names.LIVE_FILES if gallery.live else ()):
        yield f"{names.STATIC}/{name}", (TEMPLATES / name).read_bytes()
    if gallery.live:
        yield f"{names.LIVE}/{names.PAGE}", live_page(gallery)
