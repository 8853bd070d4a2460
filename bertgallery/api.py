"""Notebooks and scripts: one sentence's predictions, attention, statistics and pictures, without a site.

    from bertgallery import analyse
    r = analyse("The cat sat on the [MASK].", model="bert-base-uncased", top_k=5)
    r.masks[0].predictions    # [Prediction(token, probability), ...]
    r.attention               # numpy [layers, heads, tokens, tokens]
    r                         # in Jupyter: the predictions and the explorer, inline
    r.head(2, 10)             # in Jupyter: one head's picture
    r.save_pngs("pictures")   # the site's Attention_Layer{L}_Head{H}.png files

The same stages as the site (measure.py), so the numbers are the site's. A loaded model is kept for the next
call with the same settings, or pass one in (model=bertgallery.api.load("...")).
"""
from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import model as models
from .config import DEFAULT_COLORMAP, DEFAULT_MODEL, DEFAULT_TOP_K, IMPORTANCE, check_colormap, check_text, check_top_k
from .records import Result


@functools.cache
def load(spec: str = DEFAULT_MODEL, fallback: bool = True, allow_pickle: bool = False,
         device: str = "auto") -> models.Model:
    """A model by hub id, folder or "offline", loaded once per process for these settings."""
    return models.load(spec, fallback, allow_pickle, device)


@dataclass
class HeadPicture:
    """One head's picture, as the site draws it; Jupyter shows it."""
    png: bytes
    name: str

    def _repr_png_(self) -> bytes:
        return self.png

    def save(self, path) -> Path:
        path = Path(path)
        path.write_bytes(self.png)
        return path


@dataclass
class Analysis:
    """One sentence through the model and every analysis of the site."""
    result: Result
    attention: np.ndarray  # float32 [layers, heads, T, T]; row = the attending token
    info: models.ModelInfo  # the model it came from
    colormap: str = DEFAULT_COLORMAP

    text = property(lambda self: self.result.text)
    tokens = property(lambda self: self.result.tokens)
    masks = property(lambda self: self.result.masks)  # each: index, predictions, importance, rollout
    filled = property(lambda self: self.result.filled)
    heads = property(lambda self: self.result.heads)  # heads.HeadStats per head, layer-major
    syntax = property(lambda self: self.result.syntax)

    def head(self, layer: int, head: int) -> HeadPicture:
        """Layer `layer`, head `head` (1-based) as the site's PNG."""
        from . import names, render
        if not (1 <= layer <= self.result.layers and 1 <= head <= self.result.heads_per_layer):
            raise ValueError(f"this model has {self.result.layers} layers of {self.result.heads_per_layer} heads, "
                             f"so there is no layer {layer}, head {head}")
        png = render.HeadRenderer(self.tokens, self.colormap).png(self.attention[layer - 1, head - 1], layer, head)
        return HeadPicture(png, names.head_png(layer, head))

    def save_pngs(self, folder) -> list[Path]:
        """Every head's picture into `folder`, named as on the site (Attention_Layer{L}_Head{H}.png)."""
        from . import render
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with render.Workers(enabled=False) as workers:  # drawn here: forking beside torch's threads is unsafe
            pngs = workers.heads(self.attention, self.tokens, self.colormap).get()
        for name, png in pngs:
            (folder / name).write_bytes(png)
        return [folder / name for name, _ in pngs]

    def __repr__(self) -> str:
        return self.result.predictions()

    def _repr_html_(self) -> str:
        """The ranked predictions and the explorer, self-contained (its CSS and JavaScript inline, no network),
        under ids of its own, so several results on one page do not interfere."""
        from . import site
        return site.notebook_html(self.result, self.attention, self.info, self.colormap, "bg-" + secrets.token_hex(6))


def analyse(text: str, model: str | models.Model = DEFAULT_MODEL, top_k: int = DEFAULT_TOP_K,
            colormap: str = DEFAULT_COLORMAP, importance: str = IMPORTANCE[0], fallback: bool = True,
            device: str = "auto") -> Analysis:
    """Predict every [MASK] of `text` and measure every head, as the site does for one sentence."""
    from . import measure
    text = check_text(text, "the sentence")
    check_top_k(top_k, "top_k")
    check_colormap(colormap, "colormap")
    if importance not in IMPORTANCE:
        raise ValueError(f"importance must be one of {', '.join(IMPORTANCE)}, not {importance!r}")
    loaded = load(model, fallback, False, device) if isinstance(model, str) else model
    result, attention = measure.result(loaded, text, top_k, importance, culprit="the sentence ")
    return Analysis(result, attention, loaded.info, colormap)
