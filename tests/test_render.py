import io

import numpy as np
import pytest
from PIL import Image

from bertgallery import render


def tokens(n):
    return ["[CLS]"] + [f"w{i}" for i in range(n - 2)] + ["[SEP]"]


def attention(layers, heads, n, seed=0):
    a = np.random.default_rng(seed).random((layers, heads, n, n)).astype(np.float32) ** 3
    return a / a.sum(-1, keepdims=True)


def decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


@pytest.mark.parametrize("n", [12, 24, 48])
def test_fast_path_draws_the_same_picture_as_a_fresh_figure(n):
    a = attention(1, 3, n, seed=n)
    a[0, 0, :4, :4] = [[0, 0.25, 0.5, 0.25], [0.5, 0.5, 0, 0], [1, 0, 0, 0], [0.125, 0.375, 0.5, 0]]  # bin edges
    fast = render.HeadRenderer(tokens(n), "viridis")
    for h in range(3):  # several heads through one renderer: nothing of one head leaks into the next
        slow = render.render_head_slow(a[0, h], tokens(n), 1, h + 1, "viridis")[..., :3].astype(int)
        png = decode(fast.png(a[0, h], 1, h + 1))
        coloured = ~((slow[..., 0] == slow[..., 1]) & (slow[..., 1] == slow[..., 2]))
        diff = np.abs(png - slow)
        assert diff[coloured].max() == 0  # every coloured pixel exact: heat map and colour bar
        # greys (antialiased text) are the nearest of the palette's 3 grey levels, computed here on their own
        levels = np.arange(3) * 255 / 2  # 0, 127.5, 255, stored as 0, 128, 255
        nearest = np.round(levels)[np.abs(slow[..., :1] - levels).argmin(-1)]
        assert np.array_equal(png[~coloured], np.repeat(nearest[~coloured][:, None], 3, axis=1))


def test_head_png_is_small_paletted_and_labelled_by_size():
    n = 12
    png = render.HeadRenderer(tokens(n), "viridis").png(attention(1, 1, n)[0, 0], 1, 1)
    img = Image.open(io.BytesIO(png))
    assert img.mode == "P"
    assert len(png) <= 8 * 1024
    lay = render.layout(tokens(n))
    assert img.size == (lay.width, lay.height)


def test_64_tokens_stay_legible():
    lay = render.layout(tokens(64))
    assert lay.font >= 7  # points
    assert lay.cell >= 13  # a 7 pt label (about 10 px) fits its row


def test_values_map_to_the_fixed_scale():
    """A head that puts all attention on one column paints that column in the colour map's top colour."""
    n = 6
    a = np.zeros((n, n), dtype=np.float32)
    a[:, 2] = 1.0
    px = decode(render.HeadRenderer(tokens(n), "magma").png(a, 1, 1))
    lay = render.layout(tokens(n))
    x0, y0 = lay.ax[0] * lay.width, (1 - lay.ax[1] - lay.ax[3]) * lay.height
    cell = lay.ax[2] * lay.width / n
    top = tuple(render.colormap("magma")(render.CMAP_LEVELS - 1, bytes=True)[:3])
    bottom = tuple(render.colormap("magma")(0, bytes=True)[:3])
    centre = lambda i, j: tuple(px[int(y0 + (i + 0.5) * cell), int(x0 + (j + 0.5) * cell), :3])  # noqa: E731
    assert centre(0, 2) == top and centre(5, 2) == top
    assert centre(0, 0) == bottom and centre(3, 5) == bottom


def test_workers_draw_one_png_per_head_the_same_as_one_process():
    a = attention(2, 3, 8)
    with render.Workers(processes=0) as serial, render.Workers(processes=2) as parallel:
        one = dict(serial.heads(a, tokens(8), "viridis").get())
        two = dict(parallel.heads(a, tokens(8), "viridis").get())
    assert sorted(one) == sorted(f"Attention_Layer{l}_Head{h}.png" for l in (1, 2) for h in (1, 2, 3))
    assert one.keys() == two.keys()
    for name in one:
        assert np.array_equal(decode(one[name]), decode(two[name]))


def test_overview_has_a_tile_per_head():
    a = np.zeros((3, 4, 5, 5), dtype=np.float32)
    a[1, 2] = 1.0  # one bright tile: layer 2, head 3
    img = decode(render.render_overview(a, "viridis"))
    assert (img.shape[1], img.shape[0]) == render.overview_size(3, 4)
    top = render.colormap("viridis")(render.CMAP_LEVELS - 1, bytes=True)[:3]
    ys, xs = np.nonzero((img == top).all(-1))
    # the tiles fill a box 0.7 in from the left and 0.25 in from the bottom (the colour bar is right of it)
    tile = render.OVERVIEW_TILE * render.DPI
    x0, y1 = 0.7 * render.DPI, img.shape[0] - 0.25 * render.DPI
    inside = xs < x0 + 4 * tile
    rows = set(((ys[inside] - (y1 - 3 * tile)) // tile).astype(int))
    cols = set(((xs[inside] - x0) // tile).astype(int))
    assert inside.sum() > 100 and rows == {1} and cols == {2}
