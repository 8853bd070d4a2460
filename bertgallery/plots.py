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
from .render import CMAP_LEVELS, DPI, colormap, labelled
from .sizes import ROLLOUT_PANELS, rollout_size  # noqa: F401 - ROLLOUT_PANELS: the tests' too


def sentence(run, masks, cmap: str, workers: render.Workers) -> Callable[[], dict[str, bytes]]:
    """Start drawing the pictures of one model run (a model.Run) and its masks (model.Mask, with their
    rollout): the head PNGs in the workers at once; the overview and the rollout in this process when the
    returned function is called, which then waits for the workers and returns {file name: PNG}."""
    at = render.boundary(run.segments)
    pending = workers.heads(run.attention, run.tokens, cmap, at)

    def finish() -> dict[str, bytes]:
        files = {names.OVERVIEW: render.render_overview(run.attention, cmap),
                 names.OVERVIEW_NARROW: render.render_overview(run.attention, cmap, narrow=True)}
        if masks:
            flows = [m.contribution_rollout for m in masks]
            files[names.ROLLOUT] = render_rollout([m.rollout for m in masks], run.tokens, rollout_labels(masks), cmap,
                                                  None if any(f is None for f in flows) else flows, at)
        return files | dict(pending.get())
    return finish


def rollout_labels(masks) -> list[str]:
    """The title of each mask's panel in the rollout picture."""
    n = len(masks)
    return [f"{f'Mask {i} of {n}' if n > 1 else 'The mask'} (token {m.index}): ‘{m.predictions[0].token}’"
            for i, m in enumerate(masks, start=1)]


def render_rollout(rows: list[np.ndarray], tokens: list[str], labels: list[str], cmap: str,
                   contributions: list[np.ndarray] | None = None, second: int | None = None) -> bytes:
    """Attention rollout: for each mask (the first rollout_size() allows), a panel of layers (down) x input
    tokens (across), the mask's row of the rollout after each layer; with `contributions` (each mask's row of
    the contribution rollout, mixing.py), a second panel of those under it. Each kind has one colour scale, from
    0 to its largest value, beside each of its panels. `second`: where a pair's second segment begins, drawn as a
    white line down each panel."""
    layers, n = rows[0].shape
    kinds = [("attention rollout", rows)] + ([("contribution rollout", contributions)] if contributions else [])
    cell, panels, label = rollout_size(layers, tokens, len(rows), len(kinds))
    font = 8
    panel = layers * cell
    width, height = 60 + n * cell + 90, panels * len(kinds) * (panel + 34) + label + 10
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    tops = [max(float(r.max()) for r in kind[:panels]) or 1.0 for _, kind in kinds]
    y = height - 10
    at, names = labelled(tokens, cell)
    layer_at, layer_names = labelled([f"L{l}" for l in range(1, layers + 1)], cell)
    for k in range(panels):
        for (kind, values), top in zip(kinds, tops):
            y -= panel + 24
            ax = fig.add_axes((60 / width, y / height, n * cell / width, panel / height))
            ax.imshow(values[k], cmap=colormap(cmap), vmin=0.0, vmax=top, interpolation="nearest", aspect="auto")
            if second:
                ax.axvline(second - 0.5, color="white", linewidth=1)
            ax.set_yticks(layer_at, layer_names, fontsize=font)
            last = k == panels - 1 and kind == kinds[-1][0]
            ax.set_xticks(at, names if last else [""] * len(at), rotation=90, fontsize=font)
            ax.tick_params(length=0)
            ax.set_title(f"{labels[k]}, {kind}" if len(kinds) > 1 else labels[k], fontsize=font + 2, loc="left")
            for spine in ax.spines.values():
                spine.set_visible(False)
            cax = fig.add_axes(((60 + n * cell + 20) / width, y / height, 12 / width, panel / height))
            ramp = np.linspace(0, top, CMAP_LEVELS)
            cax.imshow(ramp[::-1, None], cmap=colormap(cmap), vmin=0.0, vmax=top, aspect="auto",
                       extent=(0, 1, 0, top))
            cax.set_xticks([])
            cax.yaxis.tick_right()
            cax.tick_params(labelsize=font, length=2)
            y -= 10
    render.draw_quietly(fig)
    return encode_png(np.asarray(fig.canvas.buffer_rgba()))


def render_layer_plot(means: np.ndarray, labels: list[str], size: tuple[int, int],
                      styles: tuple[str, ...] = ("o-", "s-", "^-", "d-", "v-")) -> bytes:
    """Average of each of some statistics per layer: means is [layers, len(labels)], each drawn in its style (a
    matplotlib format string); a statistic not measured in any layer is left out. The legend goes under the
    plot, where it hides no line: three columns from 480 px wide, else two."""
    fig = Figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    w, h = size
    drawn = [k for k in range(len(labels)) if not np.all(np.isnan(means[:, k]))]
    columns = 3 if w >= 480 else 2
    below = 54 + 17 * -(-len(drawn) // columns)  # the axis label, then the legend's rows, in pixels
    ax = fig.add_axes((64 / w, below / h, (w - 64 - 16) / w, (h - below - 16) / h))
    layers = np.arange(1, len(means) + 1)
    for column in drawn:
        ax.plot(layers, means[:, column], styles[column], label=labels[column])
    ax.set_xticks(layers[::-(-len(layers) // 24)])  # every layer up to 24; every k-th of 256
    ax.set_ylim(0, 1)
    ax.set_xlabel("layer")
    ax.set_ylabel("average share")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -44 / (h - below - 16)), fontsize="small", ncol=columns,
              frameon=False, borderaxespad=0, handlelength=2.5, columnspacing=1)
    fig.canvas.draw()
    return encode_png(np.asarray(fig.canvas.buffer_rgba()))


def render_compare_plot(means: list[np.ndarray], labels: list[str], models: list[str], size: tuple[int, int]) -> bytes:
    """The per-layer plot of two models in one: each statistic in its colour, the first model solid, the
    second dashed; means[k] is [layers of model k, len(labels)]."""
    fig = Figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    w, h = size
    ax = fig.add_axes((64 / w, 54 / h, (w - 64 - 16) / w, (h - 54 - 16) / h))
    deepest = max(len(m) for m in means)
    for k, (m, name, line) in enumerate(zip(means, models, ("-", "--"))):
        layers = np.arange(1, len(m) + 1)
        for column, (label, marker) in enumerate(zip(labels, "os^dv")):
            ax.plot(layers, m[:, column], marker + line, color=f"C{column}", label=f"{label}, {name}",
                    markerfacecolor="white" if k else None)
    ax.set_xticks(np.arange(1, deepest + 1)[::-(-deepest // 24)])
    ax.set_ylim(0, 1)
    ax.set_xlabel("layer")
    ax.set_ylabel("average attention")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=7, ncol=2)
    fig.canvas.draw()
    return encode_png(np.asarray(fig.canvas.buffer_rgba()))
