"""Notebooks and scripts: one sentence's predictions, attention, statistics and pictures, without a site.

    from bertgallery import analyse
    r = analyse("The cat sat on the [MASK].", model="bert-base-uncased", top_k=5)
    r = analyse("John gave Mary a book.", pair="[MASK] thanked him.")  # a sentence pair: [CLS] A [SEP] B [SEP]
    r.masks[0].predictions    # [Prediction(token, probability), ...]
    r.attention               # numpy [layers, heads, tokens, tokens]
    r.value_weighted          # the same, each weight times the length of what it takes, rows summing to 1
    r.contributions           # numpy [layers, tokens, tokens]: how much each token makes up of each (ALTI)
    r.masks[0].contribution_rollout   # numpy [layers, tokens]: where the mask's information comes from
    r                         # in Jupyter: the predictions and the explorer, inline
    r.head(2, 10)             # in Jupyter: one head's picture
    r.save_pngs("pictures")   # the site's Attention_Layer{L}_Head{H}.png files

The same stages as the site (measure.py), so the numbers are the site's. A loaded model is kept for the next
call with the same settings, or pass one in (model=bertgallery.api.load("...")).
"""
from __future__ import annotations

import functools
import operator
import os
import reprlib
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import model as models
from .config import (DEFAULT_COLORMAP, DEFAULT_MODEL, DEFAULT_TOP_K, IMPORTANCE, ConfigError, check_colormap,
                     check_pair, check_top_k, check_unicode)
from .records import Result

DEVICES = ("auto", "cpu", "cuda")


class BadArgument(ConfigError, ValueError):
    """An argument the command line would refuse: a ValueError whose text is the line it would print."""


class BadArgumentType(ConfigError, TypeError):
    """An argument of the wrong type, in one line."""


def _check(name: str, value, kind, what: str) -> None:
    if not isinstance(value, kind) or kind is not bool and isinstance(value, bool):
        shown = " ".join(reprlib.repr(value).split())
        raise BadArgumentType(f"{name} must be {what}, not {type(value).__name__} {shown}")


def _whole(name: str, value) -> int:
    """A whole number: an int or what stands for one (numpy's integers, as an argmax gives), never a bool,
    a float or text."""
    try:
        if isinstance(value, (bool, np.bool_)):
            raise TypeError
        return operator.index(value)
    except TypeError:
        _check(name, value, int, "a whole number")
        raise


def _checked(function):
    """Every mistake in a call's arguments, whatever stage finds it (a model folder that does not exist, a
    sentence too long for the model), as a ValueError or TypeError in one line, as the command line says it."""
    @functools.wraps(function)
    def checked(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except ConfigError as e:
            if isinstance(e, (ValueError, TypeError)):
                raise
            raise BadArgument(str(e)) from None
    return checked


def _model_spec(spec, fallback, allow_pickle, device, hub_timeout) -> str:
    if isinstance(spec, os.PathLike):  # a pathlib.Path is a folder, even one named like org/name
        spec = os.fspath(spec)
        if isinstance(spec, str) and not os.path.isabs(spec):
            spec = os.path.join(".", spec)
    _check("model", spec, str, "a hub id, a model folder or 'offline' (text), or a model from bertgallery.api.load")
    check_unicode(spec, "model")
    if not spec.strip():
        raise BadArgument("model is empty")
    _check("fallback", fallback, bool, "True or False")
    _check("allow_pickle", allow_pickle, bool, "True or False")
    _check("device", device, str, f"one of {', '.join(DEVICES)}")
    if device not in DEVICES:
        raise BadArgument(f"device must be one of {', '.join(DEVICES)}, not {device!r}")
    _check("hub_timeout", hub_timeout, (int, float), "a number of seconds")
    if not 0 < hub_timeout <= 3600:  # the command line's bounds (cli.seconds); nan fails them too
        raise BadArgument(f"hub_timeout must be a number of seconds above 0 and at most 3600, not {hub_timeout!r}")
    return spec.strip()


@_checked
def load(spec: str = DEFAULT_MODEL, fallback: bool = True, allow_pickle: bool = False,
         device: str = "auto", hub_timeout: float = models.HUB_TIMEOUT) -> models.Model:
    """A model by hub id, folder or "offline", loaded once per process for these settings; `hub_timeout`:
    seconds to wait for the hub to answer before it counts as unreachable, as --hub-timeout."""
    spec = _model_spec(spec, fallback, allow_pickle, device, hub_timeout)
    return _load(spec, fallback, allow_pickle, device, float(hub_timeout))


@functools.cache
def _load(spec: str, fallback: bool, allow_pickle: bool, device: str, hub_timeout: float) -> models.Model:
    return models.load(spec, fallback, allow_pickle, device, hub_timeout)


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
    pair = property(lambda self: self.result.pair)  # the second segment, "" for none
    segments = property(lambda self: self.result.segments)  # a pair's: 0 (A) or 1 (B) per token; None for none
    tokens = property(lambda self: self.result.tokens)
    masks = property(lambda self: self.result.masks)  # each: index, predictions, importance, rollout,
    # contribution_rollout
    filled = property(lambda self: self.result.filled)
    heads = property(lambda self: self.result.heads)  # heads.HeadStats per head, layer-major
    syntax = property(lambda self: self.result.syntax)

    @property
    def value_weighted(self) -> np.ndarray | None:
        """float64 [layers, heads, T, T]: N[i, j] = α[i, j] ‖f(x_j)‖ / Σ_k α[i, k] ‖f(x_k)‖, the attention weighted
        by the length of each token's value vector as the head writes it (mixing.py); rows sum to 1 (a row whose
        products are all zero stays 0). None for a model family without value norms: `mixing_note` says why."""
        from . import mixing
        mixed = self.result.mixing
        return None if mixed is None else mixing.value_weighted(self.attention, mixed.norms)

    @property
    def contributions(self) -> np.ndarray | None:
        """float64 [layers, T, T]: C_l[i, j], how much token j makes up of what token i becomes in layer l, every
        head and the residual path together (ALTI, mixing.py); rows sum to 1. None as for value_weighted."""
        return None if self.result.mixing is None else self.result.mixing.contributions

    mixing_note = property(lambda self: self.result.mixing_note)

    def head(self, layer: int, head: int) -> HeadPicture:
        """Layer `layer`, head `head` (1-based) as the site's PNG."""
        from . import names, render
        layer, head = _whole("layer", layer), _whole("head", head)
        if not (1 <= layer <= self.result.layers and 1 <= head <= self.result.heads_per_layer):
            raise ValueError(f"this model has {self.result.layers} layers of {self.result.heads_per_layer} heads, "
                             f"so there is no layer {layer}, head {head}")
        renderer = render.HeadRenderer(self.tokens, self.colormap, render.boundary(self.segments))
        png = renderer.png(self.attention[layer - 1, head - 1], layer, head)
        return HeadPicture(png, names.head_png(layer, head))

    def save_pngs(self, folder) -> list[Path]:
        """Every head's picture into `folder`, named as on the site (Attention_Layer{L}_Head{H}.png)."""
        from . import render
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with render.Workers(enabled=False) as workers:  # drawn here: forking beside torch's threads is unsafe
            pngs = workers.heads(self.attention, self.tokens, self.colormap, render.boundary(self.segments)).get()
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


@_checked
def analyse(text: str, model: str | models.Model = DEFAULT_MODEL, top_k: int = DEFAULT_TOP_K,
            colormap: str = DEFAULT_COLORMAP, importance: str = IMPORTANCE[0], fallback: bool = True,
            device: str = "auto", hub_timeout: float = models.HUB_TIMEOUT, pair: str | None = None) -> Analysis:
    """Predict every [MASK] of `text` (and of `pair`, its second segment, for a sentence pair) and measure every
    head, as the site does for one sentence. A mistake in an argument is a ValueError or TypeError whose text is
    the line the command line would print."""
    from . import measure
    _check("the sentence", text, str, "text")
    if pair is not None:
        _check("pair", pair, str, "text (the second segment) or None")
    text, pair = check_pair(text, pair, "the sentence")
    top_k = _whole("top_k", top_k)
    check_top_k(top_k, "top_k")
    _check("colormap", colormap, str, "the name of a matplotlib colour map")
    check_colormap(colormap, "colormap")
    _check("importance", importance, str, f"one of {', '.join(IMPORTANCE)}")
    if importance not in IMPORTANCE:
        raise BadArgument(f"importance must be one of {', '.join(IMPORTANCE)}, not {importance!r}")
    if isinstance(model, models.Model):
        loaded = model
    else:
        loaded = _load(_model_spec(model, fallback, False, device, hub_timeout), fallback, False, device,
                       float(hub_timeout))
    result, attention = measure.result(loaded, text, top_k, importance, culprit="the sentence ", pair=pair)
    return Analysis(result, attention, loaded.info, colormap)
