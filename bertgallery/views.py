"""The explorer's data: each (model, sentence)'s view (docs/explorer.md, the contract attention.js reads), written
as view-data.js beside the sentence's page. A cached result, made with the sentence's other results
(measure.py), so it depends on neither the model's place in the gallery nor its folder."""
from __future__ import annotations

import base64
import json

import numpy as np

from . import names
from .colours import head_colours, scale
from .records import Result

VIEW_PREFIX = "(window.bertGalleryViews = window.bertGalleryViews || []).push("  # view-data.js: then the view, ");"


def quantized(attention: np.ndarray) -> np.ndarray:
    """The weights as the view data stores them: 16-bit integers, weight x 10000."""
    return np.clip(np.rint(attention * 10000), 0, 10000).astype("<u2")


def read_view(text: str) -> np.ndarray:
    """The 16-bit weights [L, H, T, T] of a view-data.js file (what view_data wrote)."""
    view = json.loads(text.removeprefix(VIEW_PREFIX).rstrip().removesuffix(");"))
    weights = np.frombuffer(base64.b64decode(view["attention"]), dtype="<u2")
    return weights.reshape(view["layers"], view["heads"], len(view["tokens"]), len(view["tokens"]))


def view_data(result: Result, attention: np.ndarray, cmap_name: str, model_name: str) -> str:
    """The explorer's data file: a script, not a fetch, so the view works from file://. It pushes its view onto
    window.bertGalleryViews; a page with several models includes one per model, in the gallery's order."""
    return f"{VIEW_PREFIX}{view_json(result, attention, cmap_name, model_name)});\n"


def view_json(result: Result, attention: np.ndarray, cmap_name: str, model_name: str) -> str:
    """What attention.js needs (the contract in docs/explorer.md): weights as 16-bit integers (w x 10000, layer-major,
    little-endian) in base64, the tokens, the colour map and the names; the value norms (each head's divided by
    its largest, x 10000) and contributions (x 10000) alike, where the model's family has them; null for what
    does not apply (a single sentence's segments). JSON is valid JavaScript; '<' is escaped so that it can sit
    inside a <script> element too."""
    def packed(values: np.ndarray) -> str:
        return base64.b64encode(quantized(values).tobytes()).decode("ascii")
    mixed, norms = result.mixing, None
    if mixed is not None:
        largest = mixed.norms.max(axis=-1, keepdims=True)
        norms = packed(np.divide(mixed.norms, largest, out=np.zeros_like(mixed.norms), where=largest > 0))
    steps = scale(cmap_name)
    data = {"model": model_name, "tokens": result.tokens, "layers": result.layers, "heads": result.heads_per_layer,
            "special": result.special, "segments": result.segments, "colors": [c for c, _ in steps],
            "light": [light for _, light in steps], "scale": 10000, "names": names.for_js(),
            "tags": [h.tags for h in result.heads], "headColours": head_colours(result.heads_per_layer),
            "default": default_head(result), "attention": packed(attention), "norms": norms,
            "contributions": None if mixed is None else packed(mixed.contributions)}
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def default_head(result: Result) -> list[int]:
    """The head the explorer opens on, 1-based (heads.first_look, whose rule the sentence page states)."""
    first = result.first_look()
    return [first.layer, first.head]
