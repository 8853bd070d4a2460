"""Every picture of a sentence, from one model run: the head PNGs and the overview (render.py), each mask's
attention rollout (layers down, input tokens across); and the per-layer averages of the heads page. matplotlib,
encoded as render.py's pictures are. A sentence's pictures are cached under a key of their own, which covers
this module and what it imports, so nothing here may depend on the head statistics."""
from __future__ import annotations

from typing import Callable

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from . import names, render
from .png import encode_png
from .render import CMAP_LEVELS, DPI, colormap, label_pixels


def sentence(run, cmap: str, workers: render.Workers) -> Callable[[], dict[str, bytes]]:
    """Start drawing the pictures of one model run (a model.Run whose masks have their rollout): the head PNGs
    in the workers at once; the overview and the rollout in this process when the returned function is
    called, which then waits for the workers and returns {file name: PNG}."""
    pending = workers.heads(run.attention, run.tokens, cmap)

    def finish() -> dict[str, bytes]:
        files = {names.OVERVIEW: render.render_overview(run.attention, cmap)}
        if run.masks:
            files[names.ROLLOUT] = render_rollout([m.rollout for m in run.masks], run.tokens,
                                                  rollout_labels(run.masks), cmap)
        return files | dict(pending.get())
    return finish


def rollout_labels(masks) -> list[str]:
    """The title of each mask's panel in the rollout picture."""
    n = len(masks)
    return [f"{f'Mask {i} of {n}' if n > 1 else 'The mask'} (token {m.index}): ‘{m.predictions[0].token}’"
            for i, m in enumerate(masks, start=1)]


def render_rollout(rows: list[np.ndarray], tokens: list[str], labels: list[str], cmap: str) -> bytes:
    """Attention rollout: for each mask, a panel of layers (down) x input tokens (across), the mask's row
    of the rollout after each layer. One colour scale for every panel, from 0 to the largest value."""
    layers, n = rows[0].shape
    cell = min(24, max(14, 480 // n))
    font = 8
    label = label_pixels(tokens, font) + 16
    panel = layers * cell
    width, height = 60 + n * cell + 90, sum(panel + 34 for _ in rows) + label + 10
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    top = max(float(r.max()) for r in rows) or 1.0
    y = height - 10
    for k, (row, text) in enumerate(zip(rows, labels)):
        y -= panel + 24
        ax = fig.add_axes((60 / width, y / height, n * cell / width, panel / height))
        ax.imshow(row, cmap=colormap(cmap), vmin=0.0, vmax=top, interpolation="nearest", aspect="auto")
        ax.set_yticks(range(layers), [f"L{l}" for l in range(1, layers + 1)], fontsize=font)
        ax.set_xticks(range(n), tokens if k == len(rows) - 1 else [""] * n, rotation=90, fontsize=font)
        ax.tick_params(length=0)
        ax.set_title(text, fontsize=font + 2, loc="left")
        for spine in ax.spines.values():
            spine.set_visible(False)
        y -= 10
    cax = fig.add_axes(((60 + n * cell + 20) / width, y / height, 12 / width, (height - 10 - y - 24) / height))
    ramp = np.linspace(0, top, CMAP_LEVELS)
    cax.imshow(ramp[::-1, None], cmap=colormap(cmap), vmin=0.0, vmax=top, aspect="auto", extent=(0, 1, 0, top))
    cax.set_xticks([])
    cax.yaxis.tick_right()
    cax.tick_params(labelsize=font, length=2)
    render.draw_quietly(fig)
    return encode_png(np.asarray(fig.canvas.buffer_rgba()))


def render_layer_plot(means: np.ndarray, labels: list[str], size: tuple[int, int]) -> bytes:
    """Average of each of some statistics per layer: means is [layers, len(labels)]."""
    fig = Figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    w, h = size
    ax = fig.add_axes((64 / w, 54 / h, (w - 64 - 16) / w, (h - 54 - 16) / h))  # room for the labels, in pixels
    layers = np.arange(1, len(means) + 1)
    for column, (label, style) in enumerate(zip(labels, ("o-", "s-", "^-", "d-", "v-"))):
        ax.plot(layers, means[:, column], style, label=label)
    ax.set_xticks(layers)
    ax.set_ylim(0, 1)
    ax.set_xlabel("layer")
    ax.set_ylabel("average attention")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.canvas.draw()
    return encode_png(np.asarray(fig.canvas.buffer_rgba()))
