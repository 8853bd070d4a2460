"""Stage 3: attention maps to PNG with matplotlib.

Every head of a sentence shares its tokens, so the labels and colour bar are the same picture 144 times.
HeadRenderer draws that once and keeps it as palette indices; per head, matplotlib draws only the title,
and the heat map's pixel-aligned cells are filled in directly; the result is saved as a palette PNG (a few
KB). `render_head_slow` draws the same figure from scratch: the tests check both give the same picture,
and bench/ measures the difference.
"""
from __future__ import annotations

import gc
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
from .sizes import DPI, LABEL_ROOM, MAX_PIXELS, fitted, label, label_pixels, labelled  # noqa: E402, F401
from .png import Deflated, Palette, assemble, deflated, encode_png, rows  # noqa: E402

# FreeType's autohinter snaps letters' stems to whole pixels: crisper small labels, with fewer grey edge
# pixels to compress (4 % smaller head PNGs). matplotlib bundles its FreeType, so every machine draws alike.
matplotlib.rcParams["text.hinting"] = "force_autohint"
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


def layout(tokens: list[str]) -> Layout:
    """Sizes that keep every label legible: cells shrink with more tokens, text never below 7 pt; past about
    330 tokens the cells shrink further, so the picture stays within MAX_PIXELS, and only every k-th token is
    labelled.

    Top to bottom: the title, the colour bar across the heat map's width (its labels above it), the heat map,
    the column labels. A horizontal bar costs a tenth of a vertical one in PNG bytes: one row of 64 colours
    repeated, where a vertical bar changes colour every other row of the picture."""
    n = len(tokens)
    cell = fitted(min(20, max(13, 400 // n)), lambda c: _layout(tokens, c)[:2])  # pixels per token
    width, height, lay = _layout(tokens, cell)
    return lay


def _layout(tokens: list[str], cell: int) -> tuple[int, int, Layout]:
    n = len(tokens)
    font = min(10.0, max(7.0, cell * 0.45))
    label = label_pixels(tokens, font) + 40
    side = n * cell
    band = round((font + 3) * 1.6 * DPI / 72) + 10  # the title's line
    bar_top = band + round(font * 1.4 * DPI / 72) + 6  # the colour bar's labels sit between title and bar
    bar = 10
    title = round(len(head_title(12, 12)) * (font + 3) * 0.6 * DPI / 72)  # the longest title's width
    left, bottom, top, right = label, label, bar_top + bar + 10, max(24, (title - side) // 2 + 8)
    width, height = left + side + right, bottom + side + top
    return width, height, Layout(width, height,
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
    _label(ax, tokens, lay)
    # no tick marks or frame: they would overlap the image, which is repainted per head (see HeadRenderer)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel("attended to", fontsize=lay.font + 1)
    ax.set_ylabel("attending token", fontsize=lay.font + 1)
    colour_scale(fig, lay.cbar, cmap_name, lay.font, horizontal=True)
    title = fig.text(lay.ax[0] + lay.ax[2] / 2, lay.title_y, "", ha="center", va="top", fontsize=lay.font + 3)
    return fig, ax, im, title


def _label(ax, tokens: list[str], lay: Layout) -> None:
    """The tokens along both axes of a head figure (again on a kept figure of the same layout: its ticks are
    reused, which is most of what making a figure costs)."""
    at, labels = labelled(tokens, lay.cell)
    ax.set_xticks(at, labels, rotation=90, fontsize=lay.font)
    ax.set_yticks(at, labels, fontsize=lay.font)


# head figures a process keeps, one per layout: the next sentence of a layout relabels one instead of making it
FIGURES = 4
_figures: dict[tuple, tuple] = {}


def _kept_figure(tokens: list[str], cmap_name: str):
    """_figure's figure, labelled with these tokens, from the ones this process keeps."""
    lay = layout(tokens)
    key = (lay, len(tokens), cmap_name)
    kept = _figures.get(key)
    if kept is None:
        if len(_figures) >= FIGURES:
            _figures.clear()
        kept = _figures[key] = _figure(tokens, cmap_name)
    else:
        _label(kept[1], tokens, lay)
        kept[3].set_text("")  # the last head's title: not part of the figure without data
    return kept


def boundary(segments: list[int] | None) -> int | None:
    """Where a pair's second segment begins (its first token), None for a single sentence."""
    return segments.index(1) if segments and 1 in segments else None


BOUNDARY_RGB = (255, 255, 255)  # the line between a pair's segments: white, as between the overview's tiles


def boundary_lines(lay: Layout, at: int | None) -> tuple[int, int] | None:
    """The pixel row and column of the heat map (from the picture's top-left) on which the line between the
    segments is drawn, over the first row and column of segment B's cells; None without a second segment."""
    if not at:
        return None
    return lay.top + at * lay.cell, lay.left + at * lay.cell


def render_head_slow(attn: np.ndarray, tokens: list[str], layer: int, head: int, cmap: str,
                     at: int | None = None) -> np.ndarray:
    """The obvious way: a new figure, a full draw. Returns its RGBA pixels (the reference picture); `at`: where
    a pair's second segment begins, for the line between them."""
    fig, _, im, title = _figure(tokens, cmap)
    im.set_data(attn)
    title.set_text(head_title(layer, head))
    draw_quietly(fig)
    pixels = np.asarray(fig.canvas.buffer_rgba()).copy()
    line = boundary_lines(layout(tokens), at)
    if line:
        lay, side = layout(tokens), len(tokens) * layout(tokens).cell
        pixels[line[0], lay.left:lay.left + side, :3] = BOUNDARY_RGB
        pixels[lay.top:lay.top + side, line[1], :3] = BOUNDARY_RGB
    return pixels


def map_level(row_bytes: int) -> int:
    """zlib level of the part of a head picture compressed per head, its heat map's rows (the rest, compressed
    once, takes level 9). Level 7 takes half the time of 8 and makes that part 3-4 % larger while a row is at
    most 512 bytes (up to about 30 tokens); past that, 9-29 % larger (at 36-64 tokens): level 7 tries 256
    earlier places of a match, and on a wider row the copy in the row above lies beyond them (level 8: 1,024).
    9 saves 1-2 % more than 8 for twice the time again. Measured in docs/speed.md, "Third round"."""
    return 7 if row_bytes <= 512 else 8


# title bands a process keeps (a few hundred bytes each): every title of a few hundred layouts
TITLES = 20_000
_titles: dict[tuple, Deflated] = {}
# titles' pixels a process keeps (a few KB each), by font and where in a pixel they fall: drawn once for every
# layout of that font (the sentences' longest labels move the map, and the title with it, by whole pixels)
INKS = 2_000
_inks: dict[tuple, tuple[int, np.ndarray]] = {}


class HeadRenderer:
    """One sentence's head figure, drawn by matplotlib once without data and kept as palette indices.

    A head's picture is four bands of rows: the title, the colour bar, the heat map's rows (with the row
    labels), the column labels. The colour bar's and the column labels' rows are the same for every head, so
    they are compressed once (png.Deflated) and joined into each head's PNG. The heat map is filled in directly:
    the layout puts every cell on whole pixels, so imshow's nearest-neighbour picture is each cell's colour-map
    colour repeated over a cell x cell block. matplotlib draws each title once per process: its compressed band is
    kept under everything that places its pixels, so the next sentence of the same layout reuses it, and its
    figure too (_kept_figure), relabelled.
    tests/test_render.py checks the result against a full draw of a new figure."""

    def __init__(self, tokens: list[str], cmap: str, at: int | None = None):
        self.fig, self.ax, self.im, self.title = _kept_figure(tokens, cmap)
        lay = self.lay = layout(tokens)
        self.im.set_visible(False)
        draw_quietly(self.fig)
        self.background = self.fig.canvas.copy_from_bbox(self.fig.bbox)
        static = np.asarray(self.fig.canvas.buffer_rgba())[..., :3]
        # every colour a head can add is the colour map's (the title is grey text)
        cmap_colours = self.im.cmap(np.arange(CMAP_LEVELS), bytes=True)[:, :3]
        self.palette = Palette(np.concatenate([static.reshape(-1, 3), cmap_colours]))
        index = self.palette.indices(static)
        self.side = len(tokens) * lay.cell
        top, bottom = lay.top, lay.top + self.side
        self.bar, self.columns = deflated(rows(index[lay.title_band:top]), 9), deflated(rows(index[bottom:]), 9)
        self.map_rows = rows(index[top:bottom])
        self.level = map_level(self.map_rows.shape[1])
        self.line = boundary_lines(lay, at)  # a pair's: the line between its segments, over every head's cells
        self.white = self.palette.indices(np.array([[BOUNDARY_RGB]], dtype=np.uint8))[0, 0]
        # a title's pixels follow from its font, where it is drawn and the canvas's size; its grey indices are the
        # same in every palette. Moved by whole pixels (another layout of the font), its pixels move alike
        x, y = self.title.get_transform().transform(self.title.get_position())
        self.title_key = (lay.font, float(x), float(y), lay.width, lay.height, lay.title_band)
        self.title_x = int(np.floor(x))
        # (only where nothing but the title is in its band: else the band is this layout's alone)
        self.band_blank = bool((index[:lay.title_band] == self.white).all())
        self.ink_key = (lay.font, round(float(x) - self.title_x, 6), round(lay.height - float(y), 6), lay.title_band)

    def _title(self, layer: int, head: int) -> Deflated:
        key = (*self.title_key, layer, head)
        band = _titles.get(key)
        if band is None:
            at, ink = self._ink(layer, head)
            index = np.full((self.lay.title_band, self.lay.width), self.white, dtype=np.uint8)
            index[:, self.title_x + at:self.title_x + at + ink.shape[1]] = ink
            band = deflated(rows(index), 8)  # 1 byte more than 9, half the time
            if len(_titles) >= TITLES:
                _titles.clear()
            _titles[key] = band
        return band

    def _ink(self, layer: int, head: int) -> tuple[int, np.ndarray]:
        """A title's columns that are not white, as palette indices, and where they begin from self.title_x."""
        key = (*self.ink_key, layer, head)
        kept = _inks.get(key) if self.band_blank else None
        if kept is not None and 0 <= self.title_x + kept[0] <= self.lay.width - kept[1].shape[1]:
            return kept
        self.fig.canvas.restore_region(self.background)
        self.title.set_text(head_title(layer, head))
        self.fig.draw_artist(self.title)
        index = self.palette.indices(np.asarray(self.fig.canvas.buffer_rgba())[:self.lay.title_band, :, :3])
        inked = np.nonzero((index != self.white).any(axis=0))[0]
        first, last = (inked[0], inked[-1] + 1) if len(inked) else (0, 0)
        kept = (int(first) - self.title_x, index[:, first:last].copy())
        if self.band_blank:
            if len(_inks) >= INKS:
                _inks.clear()
            _inks[key] = kept
        return kept

    def cells(self, attention: np.ndarray) -> np.ndarray:
        """Palette indices of the cells of any number of heads' maps (..., n, n), in one pass over them all."""
        flat = attention.reshape(-1, attention.shape[-1])  # 2-D: to_rgba would take 3-D data for colours
        return self.palette.indices(self.im.to_rgba(flat, bytes=True)[..., :3]).reshape(attention.shape)

    def pngs(self, attention: np.ndarray, jobs: list[tuple[int, int]]) -> list[tuple[str, bytes]]:
        """(file name, PNG) of each (layer, head) in `jobs` of a sentence's attention (layers, heads, n, n)."""
        picked = np.stack([attention[layer - 1, head - 1] for layer, head in jobs]) if jobs else attention[:0, 0]
        return [(head_png(layer, head), self._png(cells, layer, head))
                for cells, (layer, head) in zip(self.cells(picked), jobs)]

    def png(self, attn: np.ndarray, layer: int, head: int) -> bytes:
        return self._png(self.cells(attn), layer, head)

    def _png(self, cells: np.ndarray, layer: int, head: int) -> bytes:
        lay = self.lay
        # painted over in place: every head paints every cell
        self.map_rows[:, 1 + lay.left:1 + lay.left + self.side] = cells.repeat(lay.cell, 0).repeat(lay.cell, 1)
        if self.line:
            self.map_rows[self.line[0] - lay.top, 1 + lay.left:1 + lay.left + self.side] = self.white
            self.map_rows[:, 1 + self.line[1]] = self.white
        parts = [self._title(layer, head), self.bar, deflated(self.map_rows, self.level), self.columns]
        return assemble(lay.width, lay.height, self.palette, parts)


def _draw_heads(args) -> list[tuple[str, bytes]]:
    """Draw the PNGs of the heads listed in `jobs`: (file name, PNG bytes) of each."""
    attention, tokens, cmap, jobs, at = args
    drawn = HeadRenderer(tokens, cmap, at).pngs(attention, jobs)
    if _forked:
        # a sentence's drawing leaves webs of reference cycles that only a full collection frees, and Python's own
        # ran too seldom: a worker grew by 1 MB a sentence. With what the worker was forked with frozen
        # (_worker_start), this walks only the sentence's objects: 2 ms, not 75. (In the build's own process,
        # build._compute collects after each sentence.)
        gc.collect()
    return drawn


_forked = False  # this process is one of a build's workers (_worker_start)


def _worker_start(parent: int) -> None:
    """Ctrl-C, SIGTERM and SIGHUP reach the whole process group: only the build reports them, once. A worker
    also ends when the build does, even on kill -9 (Linux prctl PR_SET_PDEATHSIG; elsewhere a no-op)."""
    import ctypes
    import signal
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    global _forked
    _forked = True
    # what the build held when it forked this process stays: no collection needs to walk it, and one that did
    # would write to every object's header, copying the pages shared with the build into this process
    gc.freeze()
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


def process() -> ProcessPoolExecutor:
    """A pool of one process like the workers (signals left to the build, gone when it is), forked now."""
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"), initializer=_worker_start,
                               initargs=(os.getpid(),))
    pool.submit(abs, 0).result()
    return pool


class Workers:
    """The processes that draw head PNGs, forked before torch starts its threads:
    `with render.Workers() as w: pending = w.heads(...); ...; pngs = pending.get()`. Each process has a queue
    of its own and always draws the same share of the heads, so the titles it keeps are the ones it needs."""

    def __init__(self, processes: int | None = None, enabled: bool = True):
        self.processes = (processes if processes is not None else PROCESSES) if enabled else 0
        self.pools = []

    def __enter__(self) -> "Workers":
        if self.processes > 1:
            self.pools = [process() for _ in range(self.processes)]  # forked now, while no thread runs
        return self

    def __exit__(self, kind, *_):
        for pool in self.pools:  # on an interrupt, nothing new starts; a worker finishes its part and ends
            pool.shutdown(wait=kind is None, cancel_futures=True)

    def heads(self, attention: np.ndarray, tokens: list[str], cmap: str, at: int | None = None) -> Pending:
        """Start drawing every head of a sentence (`at`: where a pair's second segment begins, for the line
        between them); the caller can do other work until get()."""
        layers, heads = attention.shape[:2]
        jobs = [(l, h) for l in range(1, layers + 1) for h in range(1, heads + 1)]
        if not self.pools:
            return Pending([_draw_heads((attention, tokens, cmap, jobs, at))])
        n = len(self.pools)
        return Pending([pool.submit(_draw_heads, (attention, tokens, cmap, jobs[i::n], at))
                        for i, pool in enumerate(self.pools) if jobs[i::n]])


OVERVIEW_TILE = 0.62  # inches per head


def _tile(n: int, room: int = round(OVERVIEW_TILE * DPI)) -> tuple[int, int]:
    """(tokens a cell, cells a side) of one head's tile in the overview: a tile has room for `room` cells
    (OVERVIEW_TILE inches of pixels), so past that many tokens each cell is the mean of a block of them, and the
    mosaic matplotlib resamples stays small whatever the tokens (1,536 heads of 124 tokens made a 26-million-cell
    mosaic)."""
    block = -(-n // room) if n > room else 1
    return block, -(-n // block)


def _room(heads: int, narrow: bool) -> int:
    """Cells a side of an overview tile has room for: one a pixel in the wide one, where matplotlib resamples
    the mosaic past that; NARROW_CELL pixels a cell in the narrow one."""
    tile = round(overview_frame(heads, narrow).tile * DPI)
    return max(1, tile // NARROW_CELL) if narrow else tile


def _gap(n: int) -> int:
    """Cells of white between two tiles of n x n cells in the overview."""
    return max(1, n // 8)


# the overview for phones: as wide as a 375-px screen leaves the page (16 px margins), 1:1, so its 8-pt labels are
# 11 px tall (the wide one, scaled down to a phone, drew them 4 px tall); no colour bar, the same tiles smaller
NARROW_WIDTH = 343
# the narrow overview's cells are drawn nearest-neighbour, each the colour map's colour (a palette PNG, as the wide
# one's are up to 62 tokens), and at least this many pixels wide: where a tile has less room, blocks of tokens are
# averaged first. Resampled by matplotlib (a Hanning filter, thousands of blended colours) it was an RGB PNG 4-5
# times larger, and no sharper. Measured in docs/speed.md, "Third round".
NARROW_CELL = 2


@dataclass(frozen=True)
class OverviewFrame:
    """Where the overview's parts are, in inches: the mosaic's left and top margins, a tile's side, the margin
    right of the mosaic (the colour bar's room, if it has one) and below it."""
    left: float
    top: float
    tile: float
    right: float
    bottom: float
    bar: bool


def overview_frame(heads: int, narrow: bool = False) -> OverviewFrame:
    if not narrow:
        return OverviewFrame(0.7, 0.35, OVERVIEW_TILE, 0.7, 0.25, True)
    left, right = 0.32, 0.06
    return OverviewFrame(left, 0.22, min(OVERVIEW_TILE, (NARROW_WIDTH / DPI - left - right) / heads), right, 0.06,
                         False)


def overview_size(layers: int, heads: int, narrow: bool = False) -> tuple[int, int]:
    """Pixel size of the overview picture (with at most 1,536 heads, under 12 million pixels)."""
    f = overview_frame(heads, narrow)
    return round((f.left + heads * f.tile + f.right) * DPI), round((f.top + layers * f.tile + f.bottom) * DPI)


def overview_grid(layers: int, heads: int, n: int, narrow: bool = False) -> tuple[float, ...]:
    """Where the tiles are in the overview picture, for the page's grid of links laid over them: the
    mosaic's left, top, width and height, and the gaps between columns and rows, as fractions (of the
    picture for the first four, of the mosaic for the gaps)."""
    f = overview_frame(heads, narrow)
    width, height = (v / DPI for v in overview_size(layers, heads, narrow))
    m = _tile(n, _room(heads, narrow))[1]
    gap = _gap(m)
    return (f.left / width, 1 - (f.bottom + layers * f.tile) / height, heads * f.tile / width, layers * f.tile / height,
            gap / (heads * (m + gap) - gap), gap / (layers * (m + gap) - gap))


def _blocks(a: np.ndarray, block: int) -> np.ndarray:
    """The means of `block` x `block` blocks of the last two axes (the last blocks may be smaller)."""
    if block == 1:
        return a
    n = a.shape[-1]
    m = -(-n // block)
    padded = np.full((*a.shape[:-2], m * block, m * block), np.nan, dtype=np.float32)
    padded[..., :n, :n] = a
    return np.nanmean(padded.reshape(*a.shape[:-2], m, block, m, block), axis=(-3, -1))


def _overview_figure(layers: int, heads: int, m: int, cmap: str, narrow: bool = False):
    """The overview's figure for tiles of m x m cells, every label and the colour bar drawn, the mosaic not:
    (figure, the mosaic's image, the canvas without it)."""
    gap = _gap(m)  # overview_grid() tells the page where the tiles are
    step = m + gap
    size = overview_size(layers, heads, narrow)
    width, height = size[0] / DPI, size[1] / DPI
    fig = Figure(figsize=(width, height), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    f = overview_frame(heads, narrow)
    tile = f.tile
    bottom = f.bottom  # the top margin takes the rounding of the picture's height
    ax = fig.add_axes((f.left / width, bottom / height, heads * tile / width, layers * tile / height))
    im = ax.imshow(np.zeros((layers * step - gap, heads * step - gap), dtype=np.float32), cmap=colormap(cmap),
                   vmin=0.0, vmax=1.0, interpolation="nearest" if narrow else "antialiased", aspect="auto")
    centres = [i * step + (m - 1) / 2 for i in range(max(layers, heads))]
    # a narrow overview of many heads labels every other column: "H10" is wider than its tile
    every = 2 if narrow and tile * DPI < 24 else 1
    ax.set_xticks(centres[:heads:every], [f"H{h}" for h in range(1, heads + 1, every)], fontsize=8)
    ax.set_yticks(centres[:layers], [f"L{l}" for l in range(1, layers + 1)], fontsize=8)
    ax.xaxis.tick_top()
    ax.tick_params(length=0, pad=2 if narrow else 3.5)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if f.bar:
        colour_scale(fig, ((f.left + heads * tile + 0.15) / width, bottom / height, 0.12 / width,
                           layers * tile / height), cmap, 8)
    im.set_visible(False)
    fig.canvas.draw()
    im.set_visible(True)
    static = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    # the mosaic adds the colour map's colours where it is not resampled (encode_png finds out if it was)
    palette = Palette(np.concatenate([static.reshape(-1, 3), im.cmap(np.arange(CMAP_LEVELS), bytes=True)[:, :3]]))
    return fig, im, fig.canvas.copy_from_bbox(fig.bbox), palette


def _mosaic(attention: np.ndarray, narrow: bool = False) -> tuple[np.ndarray, int]:
    """The overview's tiles side by side, white (NaN) between them, and the cells a tile's side."""
    layers, heads, n, _ = attention.shape
    block, m = _tile(n, _room(heads, narrow))
    gap = _gap(m)
    step = m + gap
    mosaic = np.full((layers * step - gap, heads * step - gap), np.nan, dtype=np.float32)
    for l in range(layers):
        tiles = _blocks(attention[l], block)
        for h in range(heads):
            mosaic[l * step:l * step + m, h * step:h * step + m] = tiles[h]
    return mosaic, m


# the overview figures a process keeps: one per model shape and sentence length past OVERVIEW_TILE's pixels
_overviews: dict[tuple, tuple] = {}


def render_overview(attention: np.ndarray, cmap: str, narrow: bool = False) -> bytes:
    """Every head as a small tile in a layers x heads grid, rows and columns labelled (`narrow`: for phones,
    overview_frame). The labels and the colour bar are the same for every sentence of a model: drawn once, and
    per sentence only the mosaic (nothing else lies inside its axes, so drawing it last changes no pixel)."""
    layers, heads = attention.shape[:2]
    mosaic, m = _mosaic(attention, narrow)
    key = (layers, heads, m, cmap, narrow)
    if key not in _overviews:
        if len(_overviews) >= 8:
            _overviews.clear()
        _overviews[key] = _overview_figure(layers, heads, m, cmap, narrow)
    fig, im, background, palette = _overviews[key]
    fig.canvas.restore_region(background)
    im.set_data(mosaic)
    fig.draw_artist(im)
    # level 7: as small as today's level 8 with the Z_FILTERED strategy, in less than half the time
    return encode_png(np.asarray(fig.canvas.buffer_rgba()), palette, level=7)


def head_size(tokens: list[str]) -> tuple[int, int, int]:
    """Pixels of a head PNG of these tokens: width, height, and pixels per token."""
    lay = layout(tokens)
    return lay.width, lay.height, lay.cell
