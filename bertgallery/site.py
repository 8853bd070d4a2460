"""Stage 5: the HTML gallery, from Jinja2 templates in templates/. Every URL is relative."""
from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from .config import MASK, Sentence
from .heads import describe
from .render import LAYER_PLOT_SIZE

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC_FILES = ("style.css", "sort.js", "attention.js")
# the statistics drawn as small layers x heads maps on each sentence page
STAT_MAPS = (("prev", "Previous token"), ("next", "Next token"), ("self", "Itself"), ("cls", "[CLS]"),
             ("sep", "[SEP]"), ("punct", "Punctuation"), ("broad", "Breadth (entropy ÷ ln T)"))
STATIC = "static"  # no leading '_': GitHub Pages (Jekyll) would hide it


@dataclass
class ModelInfo:
    name: str
    layers: int
    heads: int
    note: str = ""  # why this is not the model the user asked for; shown as a banner


@dataclass
class PageMask:
    index: int
    predictions: list  # of model.Prediction or plain {"token", "probability"} mappings


@dataclass
class Page:
    """What the templates need of one sentence; rebuilt from data.json when the sentence is unchanged."""
    slug: str
    title: str
    text: str
    note: str
    masks: list[PageMask]
    filled: str
    tokens: list[str]
    heads: list[dict]  # heads.HeadStats as dicts, in layer-major order
    interactive: str = ""  # inline JSON for attention.js, only for pages written in this build
    parts: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.parts = self.text.split(MASK)

    @functools.cached_property
    def alts(self) -> list[str]:
        """Per head: layer, head, tags and strongest attention pairs, for the pictures' alt texts."""
        return [describe(h["layer"], h["head"], h["tags"], h["strongest"], self.tokens) for h in self.heads]


def template_version() -> str:
    """Changes whenever a template or static file does, so incremental builds redo the pages."""
    h = hashlib.sha256()
    for path in sorted(TEMPLATES.iterdir()):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:16]


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
    return env


def page_title(sentence: Sentence, number: int) -> str:
    return sentence.title or f"Sentence {number}"


def write_data(folder: Path, page: Page, model: ModelInfo) -> None:
    data = {"text": page.text, "model": model.name, "tokens": page.tokens,
            "masks": [{"index": m.index, "predictions": [_pred(p) for p in m.predictions]} for m in page.masks],
            "filled": page.filled, "layers": model.layers, "heads_per_layer": model.heads, "heads": page.heads}
    # compact: 22 % smaller than indented (36 vs 46 KB a 144-head sentence); a 1,000-sentence site adds up
    (folder / "data.json").write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")


def _pred(p) -> dict:
    return p if isinstance(p, dict) else {"token": p.token, "probability": p.probability}


def read_page(folder: Path, sentence: Sentence, number: int) -> Page:
    data = json.loads((folder / "data.json").read_text(encoding="utf-8"))
    masks = [PageMask(m["index"], m["predictions"]) for m in data["masks"]]
    return Page(sentence.slug, page_title(sentence, number), data["text"], sentence.note, masks, data["filled"],
                data["tokens"], data["heads"])


SCALE_STEPS = 32  # statistics cells take one of 32 colour-map colours: the eye sees no steps at a cell's size


@dataclass
class Cell:
    value: float

    @property
    def step(self) -> int:
        """The cell's colour class: c0 (0) to c31 (1)."""
        return round(min(1.0, max(0.0, self.value)) * (SCALE_STEPS - 1))

    @property
    def text(self) -> str:
        """One digit is all a 1.3 rem cell holds: '.4', '1'."""
        return "1" if self.value >= 0.95 else f"{self.value:.1f}".removeprefix("0")


def colours(values, cmap_name: str) -> list[tuple[str, bool]]:
    """Hex colour of each 0-1 value, and whether text on it should be light: one colour-map lookup for all."""
    from matplotlib import colormaps
    rgba = colormaps[cmap_name](np.clip(np.asarray(values, dtype=float), 0.0, 1.0))
    return [(f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}", 0.299 * r + 0.587 * g + 0.114 * b < 0.5)
            for r, g, b, _ in rgba]


def scale(cmap_name: str) -> list[tuple[str, bool]]:
    """(background, light text) of each colour class c0..c31, for the page's style sheet (classes, not a
    style on each of a page's thousand cells: that made the maps 100 KB of a 180 KB page) and the
    interactive view's colour stops."""
    return colours(np.linspace(0, 1, SCALE_STEPS), cmap_name)


def stat_maps(page: Page, model: ModelInfo) -> list[tuple[str, list[list[Cell]]]]:
    """(label, layers x heads cells) for each statistic in STAT_MAPS, on the 0-1 colour scale."""
    ln_t = math.log(len(page.tokens)) if len(page.tokens) > 1 else 1.0
    maps = []
    for key, label in STAT_MAPS:
        cells = [Cell(stats["entropy"] / ln_t if key == "broad" else stats[key]) for stats in page.heads]
        maps.append((label, [cells[l * model.heads:(l + 1) * model.heads] for l in range(model.layers)]))
    return maps


def inline_json(data: dict) -> Markup:
    """JSON safe inside <script>: no '<', '>' or '&' can end the element or start a comment."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def interactive_data(attention, tokens: list[str], special: list[int], cmap_name: str) -> Markup:
    """What attention.js needs: weights as bytes (w x 255, layer-major) in base64, and the colour map."""
    weights = np.clip(np.rint(attention * 255), 0, 255).astype(np.uint8)
    stops = [hex_colour for hex_colour, _ in scale(cmap_name)]  # the statistics maps' 32 colours
    return inline_json({"tokens": tokens, "layers": int(attention.shape[0]), "heads": int(attention.shape[1]),
                        "special": special, "colors": stops,
                        "attention": base64.b64encode(weights.tobytes()).decode("ascii")})


def legend(cmap_name: str) -> str:
    return ", ".join(hex_colour for hex_colour, _ in colours(np.linspace(0, 1, 8), cmap_name))


def write_sentence_page(folder: Path, page: Page, model: ModelInfo, config_name: str, prev: Page | None,
                        next: Page | None, thumb: tuple[int, int], overview_size: tuple[int, int],
                        cmap_name: str) -> None:
    html = _env().get_template("sentence.html").render(
        root="../", page=page, model=model, config_name=config_name, prev=prev, next=next,
        thumb=thumb, overview_size=overview_size, maps=stat_maps(page, model), scale=scale(cmap_name),
        legend=legend(cmap_name))
    (folder / "index.html").write_text(html, encoding="utf-8")


def head_page_name(layer: int, head: int) -> str:
    return f"layer{layer}-head{head}.html"


def write_heads_pages(out: Path, pages: list[Page], means: list[dict], model: ModelInfo, config_name: str,
                      layer_plot: bytes) -> None:
    """heads/index.html (every head averaged over the gallery), the per-layer plot, one page per head."""
    folder = out / "heads"
    folder.mkdir()
    (folder / "per-layer.png").write_bytes(layer_plot)
    env = _env()
    html = env.get_template("heads.html").render(
        root="../", model=model, config_name=config_name, means=means, pages=pages, page_name=head_page_name,
        plot_size=LAYER_PLOT_SIZE)
    (folder / "index.html").write_text(html, encoding="utf-8")
    template = env.get_template("head.html")
    for i, mean in enumerate(means):
        layer, head = mean["layer"], mean["head"]
        html = template.render(
            root="../", model=model, config_name=config_name, layer=layer, head=head, mean=mean,
            rows=[(p, p.heads[i], p.alts[i]) for p in pages], page_name=head_page_name,
            prev=means[i - 1] if i else None, next=means[i + 1] if i + 1 < len(means) else None)
        (folder / head_page_name(layer, head)).write_text(html, encoding="utf-8")


def write_index(out: Path, pages: list[Page], model: ModelInfo, config_name: str) -> None:
    html = _env().get_template("index.html").render(root="", pages=pages, model=model, config_name=config_name)
    (out / "index.html").write_text(html, encoding="utf-8")
    static = out / STATIC
    static.mkdir(exist_ok=True)
    for name in STATIC_FILES:
        shutil.copyfile(TEMPLATES / name, static / name)

