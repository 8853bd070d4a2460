"""Stage 5: the HTML gallery, from Jinja2 templates in templates/. Every URL is relative."""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from .config import MASK, Sentence

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC_FILES = ("style.css",)
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
    parts: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.parts = self.text.split(MASK)


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


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      keep_trailing_newline=True)
    env.filters["percent"] = percent
    return env


def page_title(sentence: Sentence, number: int) -> str:
    return sentence.title or f"Sentence {number}"


def write_data(folder: Path, page: Page, model: ModelInfo, tokens: list[str], extra: dict | None = None) -> None:
    data = {"text": page.text, "model": model.name, "tokens": tokens,
            "masks": [{"index": m.index, "predictions": [_pred(p) for p in m.predictions]} for m in page.masks],
            "filled": page.filled, "layers": model.layers, "heads": model.heads}
    data.update(extra or {})
    (folder / "data.json").write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def _pred(p) -> dict:
    return p if isinstance(p, dict) else {"token": p.token, "probability": p.probability}


def read_page(folder: Path, sentence: Sentence, number: int) -> Page:
    data = json.loads((folder / "data.json").read_text(encoding="utf-8"))
    masks = [PageMask(m["index"], m["predictions"]) for m in data["masks"]]
    return Page(sentence.slug, page_title(sentence, number), data["text"], sentence.note, masks, data["filled"])


def write_sentence_page(folder: Path, page: Page, model: ModelInfo, config_name: str, prev: Page | None,
                        next: Page | None, thumb: tuple[int, int], overview_size: tuple[int, int]) -> None:
    html = _env().get_template("sentence.html").render(
        root="../", page=page, model=model, config_name=config_name, prev=prev, next=next,
        thumb=thumb, overview_size=overview_size)
    (folder / "index.html").write_text(html, encoding="utf-8")


def write_index(out: Path, pages: list[Page], model: ModelInfo, config_name: str) -> None:
    html = _env().get_template("index.html").render(root="", pages=pages, model=model, config_name=config_name)
    (out / "index.html").write_text(html, encoding="utf-8")
    static = out / STATIC
    static.mkdir(exist_ok=True)
    for name in STATIC_FILES:
        shutil.copyfile(TEMPLATES / name, static / name)


def model_info_dict(model: ModelInfo) -> dict:
    return asdict(model)
