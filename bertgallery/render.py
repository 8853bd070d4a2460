"""Stage 3: attention maps to PNG with matplotlib.

Every head of a sentence shares its tokens, so the labels and colour bar are the same picture 144 times.
HeadRenderer draws that once and keeps it as palette indices; per head, matplotlib draws only the title,
and the heat map's pixel-aligned cells are filled in directly; the result is saved as a palette PNG (a few
KB). `render_head_slow` draws the same figure from scratch: the tests check both give the same picture,
and bench/ measures the difference.
"""
from __future__ import annotations

import multiprocessing
import os
import warnings
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib import colormaps  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .names import head_png, head_title  # noqa: E402
from .png import Palette, encode_indices, encode_png  # noqa: E402

# FreeType's autohinter snaps letters' stems to whole pixels: crisper small labels, with fewer grey edge
# pixels to compress (4 % smaller head PNGs). matplotlib bundles its FreeType, so every machine draws alike.
matplotlib.rcParams["text.hinting"] = "force_autohint"
DPI = 100
# a 0-1 scale in 64 steps: about one step of lightness the eye can tell apart in viridis, so the bar looks
# smooth; the PNGs stay paletted, and are 6 % smaller than with 128 steps (the palette alone is 3 bytes a colour)
CMAP_LEVELS = 64


@dataclass(frozen=True)
class Layout:
    width: int  # pixels; every edge falls on a whole pixel, so cells are crisp and colours exact
    height: int
    ax: tuple  # [left, bottom, width, height] in figure fractions
    cbar: tuple
    font: float  # points
    title_y: float
    title_band: int  # pixel rows from the top that hold the title and nothing else
    left: int  # the heat map's pixel box, from the top-left corner
    top: int
    cell: int  # pixels per token


def label_pixels(tokens: list[str], font: float) -> int:
    """Room for the longest token label drawn at `font` points (about 0.62 em a character)."""
    return round(max(len(t) for t in tokens) * font * 0.62 * DPI / 72)


def layout(tokens: list[str]) -> Layout:
    """Sizes that keep every label legible: cells shrink with more tokens, text never below 7 pt.

    Top to bottom: the title, the colour bar across the heat map's width (its labels above it), the heat map,
    the column labels. A horizontal bar costs a tenth of a vertical one in PNG bytes: one row of 64 colours
    repeated, where a vertical bar changes colour every other row of the picture."""
    n = len(tokens)
    cell = min(20, max(13, 400 // n))  # pixels per token
    font = min(10.0, max(7.0, cell * 0.45))
    label = label_pixels(tokens, font) + 40
    side = n * cell
    band = round((font + 3) * 1.6 * DPI / 72) + 10  # the title's line
    bar_top = band + round(font * 1.4 * DPI / 72) + 6  # the colour bar's labels sit between title and bar
    bar = 10
    title = round(len(head_title(12, 12)) * (font + 3) * 0.6 * DPI / 72)  # the longest title's width
    left, bottom, top, right = label, label, bar_top + bar + 10, max(24, (title - side) // 2 + 8)
    width, height = left + side + right, bottom + side + top
    return Layout(width, height,
                  ax=(left / width, bottom / height, side / width, side / height),
                  cbar=(left / width, 1 - (bar_top + bar) / height, side / width, bar / height),
                  font=font, title_y=1 - 10 / height, title_band=band, left=left, top=top, cell=cell)


def draw_quietly(fig) -> None:
    """Draw a figure with token labels: tokens in scripts the default font lacks (CJK, emoji) are drawn as
    boxes, and saying so per glyph is noise (here, not by a filter for the process, which a notebook or a
    test runner may reset)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.canvas.draw()


def colormap(name: str):
    return colormaps[name].resampled(CMAP_LEVELS).with_extremes(bad="white")


def colour_scale(fig, rect, cmap_name: str, font: float, horizontal: bool = False) -> None:
    """A 0-1 colour bar drawn as an image, so its pixels are exactly the colour map's colours
    (matplotlib's colorbar rounds them differently, which doubles the colours in the picture)."""
    cax = fig.add_axes(rect)
    ramp = np.linspace(0, 1, CMAP_LEVELS)
    cax.imshow(ramp[None, :] if horizontal else ramp[::-1, None], cmap=colormap(cmap_name), vmin=0.0, vmax=1.0,
               interpolation="nearest", aspect="auto", extent=(0, 1, 0, 1))
    length = rect[2] * fig.bbox.width if horizontal else rect[3] * fig.bbox.height  # pixels
    ticks = np.linspace(0, 1, 6 if length >= 200 else 3 if length >= 80 else 2)  # labels never overlap
    labels = [f"{v:.1f}" for v in ticks]
    if horizontal:
        cax.set_yticks([])
        cax.xaxis.tick_top()
        cax.set_xticks(ticks, labels, fontsize=font)
    else:
        cax.set_xticks([])
        cax.yaxis.tick_right()
        cax.set_yticks(ticks, labels, fontsize=font)
    # tick marks only on the overview's bar: on the head pictures (whose map has none either) their soft ends
    # tinted the bar's edge, 12 more colours in every PNG's palette
    cax.tick_params(length=0 if horizontal else 3, pad=2 if horizontal else 3.5)
    for spine in cax.spines.values():
        spine.set_visible(False)


def _figure(tokens: list[str], cmap_name: str):
    """The head figure with everything but the data: (figure, axes, image, title)."""
    lay = layout(tokens)
    fig = Figure(figsize=(lay.width / DPI, lay.height / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    ax = fig.add_axes(lay.ax)
    n = len(tokens)
    im = ax.imshow(np.zeros((n, n)), cmap=colormap(cmap_name), vmin=0.0, vmax=1.0,
                   interpolation="nearest", aspect="auto")
    ax.set_xticks(range(n), tokens, rotation=90, fontsize=lay.font)
    ax.set_yticks(range(n), tokens, fontsize=lay.font)
    # no tick marks or frame: they would overlap the image, which is repainted per head (see HeadRenderer)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel("attended to", fontsize=lay.font + 1)
    ax.set_ylabel("attending token", fontsize=lay.font + 1)
    colour_scale(fig, lay.cbar, cmap_name, lay.font, horizontal=True)
    title = fig.text(lay.ax[0] + lay.ax[2] / 2, lay.title_y, "", ha="center", va="top", fontsize=lay.font + 3)
    return fig, ax, im, title


def render_head_slow(attn: np.ndarray, tokens: list[str], layer: int, head: int, cmap: str) -> np.ndarray:
    """The obvious way: a new figure, a full draw. Returns its RGBA pixels (the reference picture)."""
    fig, _, im, title = _figure(tokens, cmap)
    im.set_data(attn)
    title.set_text(head_title(layer, head))
    draw_quietly(fig)
    return np.asarray(fig.canvas.buffer_rgba()).copy()


class HeadRenderer:
    """One sentence's head figure, drawn by matplotlib once without data and kept as palette indices.

    Per head, matplotlib draws only the title; the heat map is filled in directly: the layout puts every
    cell on whole pixels, so imshow's nearest-neighbour picture is each cell's colour-map colour repeated
    over a cell x cell block. tests/test_render.py checks the result against a full draw of a new figure."""

    def __init__(self, tokens: list[str], cmap: str):
        self.fig, self.ax, self.im, self.title = _figure(tokens, cmap)
        self.lay = layout(tokens)
        self.im.set_visible(False)
        draw_quietly(self.fig)
        self.background = self.fig.canvas.copy_from_bbox(self.fig.bbox)
        static = np.asarray(self.fig.canvas.buffer_rgba())[..., :3]
        # every colour a head can add is the colour map's (the title is grey text)
        cmap_colours = self.im.cmap(np.arange(CMAP_LEVELS), bytes=True)[:, :3]
        self.palette = Palette(np.concatenate([static.reshape(-1, 3), cmap_colours]))
        self.static = self.palette.indices(static)

    def indices(self, attn: np.ndarray, layer: int, head: int) -> np.ndarray:
        lay, n = self.lay, attn.shape[0]
        out = self.static.copy()
        cells = self.palette.indices(self.im.to_rgba(attn, bytes=True)[..., :3])
        side = n * lay.cell
        out[lay.top:lay.top + side, lay.left:lay.left + side] = cells.repeat(lay.cell, 0).repeat(lay.cell, 1)
        self.fig.canvas.restore_region(self.background)
        self.title.set_text(head_title(layer, head))
        self.fig.draw_artist(self.title)
        band = np.asarray(self.fig.canvas.buffer_rgba())[:lay.title_band, :, :3]
        out[:lay.title_band] = self.palette.indices(band)
        return out

    def png(self, attn: np.ndarray, layer: int, head: int) -> bytes:
        return encode_indices(self.indices(attn, layer, head), self.palette)


def _draw_heads(args) -> list[tuple[str, bytes]]:
    """Draw the PNGs of the heads listed in `jobs`: (file name, PNG bytes) of each."""
    attention, tokens, cmap, jobs = args
    renderer = HeadRenderer(tokens, cmap)
    return [(head_png(layer, head), renderer.png(attention[layer - 1, head - 1], layer, head)) for layer, head in jobs]


def _worker_start(parent: int) -> None:
    """Ctrl-C reaches the whole process group: only the build reports it, once. A worker also ends when the
    build does, even on kill -9 (Linux prctl PR_SET_PDEATHSIG; elsewhere a no-op)."""
    import ctypes
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the build died before prctl took effect
        os._exit(1)


class Pending:
    """Head PNGs being drawn; get() waits for them (and raises BrokenProcessPool if a worker died)."""

    def __init__(self, parts: list):
        self.parts = parts  # futures, or lists drawn already

    def get(self) -> list[tuple[str, bytes]]:
        return [png for part in self.parts for png in (part.result() if isinstance(part, Future) else part)]


PROCESSES = min(os.cpu_count() or 1, 4)  # that draw a build's head PNGs; 1 draws them in the build's process


class Workers:
    """The processes that draw head PNGs, forked before torch starts its threads:
    `with render.Workers() as w: pending = w.heads(...); ...; pngs = pending.get()`."""

    def __init__(self, processes: int | None = None, enabled: bool = True):
        self.processes = (processes if processes is not None else PROCESSES) if enabled else 0
        self.pool = None

    def __enter__(self) -> "Workers":
        if self.processes > 1:
            self.pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("fork"),
                                            initializer=_worker_start, initargs=(os.getpid(),))
            list(self.pool.map(abs, range(self.processes)))  # fork them all now, while no thread runs
        return self

    def __exit__(self, kind, *_):
        if self.pool is not None:  # on an interrupt, nothing new starts; a worker finishes its part and ends
            self.pool.shutdown(wait=kind is None, cancel_futures=True)

    def heads(self, attention: np.ndarray, tokens: list[str], cmap: str) -> Pending:
        """Start drawing every head of a sentence; the caller can do other work until get()."""
        layers, heads = attention.shape[:2]
        jobs = [(l, h) for l in range(1, layers + 1) for h in range(1, heads + 1)]
        if self.pool is None:
            return Pending([_draw_heads((attention, tokens, cmap, jobs))])
        n = self.processes
        return Pending([self.pool.submit(_draw_heads, (attention, tokens, cmap, jobs[i::n])) for i in range(n)
                        if jobs[i::n]])


OVERVIEW_TILE = 0.62  # inches per head


def _gap(n: int) -> int:
    """Cells of white between two tiles of n x n tokens in the overview."""
    return max(1, n // 8)


def overview_size(layers: int, heads: int) -> tuple[int, int]:
    """Pixel size of the overview picture."""
    return round((heads * OVERVIEW_TILE + 1.4) * DPI), round((layers * OVERVIEW_TILE + 0.6) * DPI)


def overview_grid(layers: int, heads: int, n: int) -> tuple[float, ...]:
    """Where the tiles are in the overview picture, for the page's grid of links laid over them: the
    mosaic's left, top, width and height, and the gaps between columns and rows, as fractions (of the
    picture for the first four, of the mosaic for the gaps)."""
    width, height = (v / DPI for v in overview_size(layers, heads))
    gap = _gap(n)
    return (0.7 / width, 1 - (0.25 + layers * OVERVIEW_TILE) / height, heads * OVERVIEW_TILE / width,
            layers * OVERVIEW_TILE / height, gap / (heads * (n + gap) - gap), gap / (layers * (n + gap) - gap))


def render_overview(attention: np.ndarray, cmap: str) -> bytes:
    """Every head as a small tile in a layers x heads grid, rows and columns labelled."""
    layers, heads, n, _ = attention.shape
    gap = _gap(n)  # overview_grid() tells the page where the tiles are
    step = n + gap
    mosaic = np.full((layers * step - gap, heads * step - gap), np.nan, dtype=np.float32)
    for l in range(layers):
        for h in range(heads):
            mosaic[l * step:l * step + n, h * step:h * step + n] = attention[l, h]
    size = overview_size(layers, heads)
    width, height = size[0] / DPI, size[1] / DPI
    fig = Figure(figsize=(width, height), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    tile = OVERVIEW_TILE
    ax = fig.add_axes((0.7 / width, 0.25 / height, heads * tile / width, layers * tile / height))
    ax.imshow(mosaic, cmap=colormap(cmap), vmin=0.0, vmax=1.0, interpolation="antialiased", aspect="auto")
    centres = [i * step + (n - 1) / 2 for i in range(max(layers, heads))]
    ax.set_xticks(centres[:heads], [f"H{h}" for h in range(1, heads + 1)], fontsize=8)
    ax.set_yticks(centres[:layers], [f"L{l}" for l in range(1, layers + 1)], fontsize=8)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    colour_scale(fig, ((0.7 + heads * tile + 0.15) / width, 0.25 / height, 0.12 / width, layers * tile / height),
                 cmap, 8)
    fig.canvas.draw()
    return encode_png(np.asarray(fig.canvas.buffer_rgba()))


def head_size(tokens: list[str]) -> tuple[int, int, int]:
    """Pixels of a head PNG of these tokens: width, height, and pixels per token."""
    lay = layout(tokens)
    return lay.width, lay.height, lay.cell
