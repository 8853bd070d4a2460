import io
import json

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


@pytest.mark.parametrize("layers, heads, narrow", [(3, 4, False), (3, 4, True), (6, 12, True), (12, 16, True)])
def test_the_grid_the_page_lays_over_the_overview_finds_its_tiles(layers, heads, narrow):
    """overview_grid (the page's links) against the picture: one bright tile (layer 2, head 3) lies in the grid's
    cell for it; the narrow picture is a phone's width, its tiles 24 px apart for up to 13 heads (WCAG 2.2's
    target spacing), its labels drawn at the wide one's 8 pt, 1:1."""
    a = np.zeros((layers, heads, 5, 5), dtype=np.float32)
    a[1, 2] = 1.0
    img = decode(render.render_overview(a, "viridis", narrow=narrow))
    width, height = render.overview_size(layers, heads, narrow)
    assert (img.shape[1], img.shape[0]) == (width, height)
    left, top, w, h, column_gap, row_gap = render.overview_grid(layers, heads, 5, narrow)
    pitch_x = w * width * (1 + column_gap) / (heads + column_gap)  # a cell and the gap after it, in pixels
    pitch_y = h * height * (1 + row_gap) / (layers + row_gap)
    bright = render.colormap("viridis")(render.CMAP_LEVELS - 1, bytes=True)[:3]
    ys, xs = np.nonzero((img == bright).all(-1))
    inside = xs < left * width + w * width  # not the colour bar
    assert inside.sum() > 9
    assert set(((xs[inside] - left * width) // pitch_x).astype(int)) == {2}
    assert set(((ys[inside] - top * height) // pitch_y).astype(int)) == {1}
    if narrow:
        assert width <= render.NARROW_WIDTH and (pitch_x >= 24) == (heads <= 13)



@pytest.mark.parametrize("n", [12, 24])
def test_the_narrow_overview_is_a_palette_picture_of_whole_cells(n):
    """Issue 29: its cells are drawn nearest-neighbour, each exactly a colour-map colour, at least
    render.NARROW_CELL pixels wide (24 tokens: blocks of 2 x 2 averaged), so it is a palette PNG, not an RGB one
    of blended colours (176 KB at 12 tokens)."""
    a = attention(12, 12, n, seed=3)
    png = render.render_overview(a, "viridis", narrow=True)
    assert Image.open(io.BytesIO(png)).mode == "P" and len(png) < 40 * 1024
    img = decode(png)
    left, top, w, h, column_gap, _ = render.overview_grid(12, 12, n, narrow=True)
    width, height = img.shape[1], img.shape[0]
    m = render._tile(n, render._room(12, True))[1]
    assert m == 12 and column_gap == pytest.approx(1 / (12 * 13 - 1))
    # the first tile, read back: its cells' colours are the colour map's colours of the (averaged) attention
    tile = img[round(top * height):, round(left * width):][:round(h * height / 12), :round(w * width / 12)]
    block = n // 12
    means = a[0, 0].reshape(12, block, 12, block).mean(axis=(1, 3))
    colours = render.colormap("viridis")(means, bytes=True)[..., :3].astype(int)
    pitch = w * width / (12 * 13 - 1)  # pixels a cell
    for i, j in ((0, 0), (5, 7), (11, 11)):
        y, x = int((i + 0.5) * pitch), int((j + 0.5) * pitch)
        assert tuple(tile[y, x]) == tuple(colours[i, j]), (i, j)

# ---------------------------------------------------------------- every picture bounded (issue 23)
def test_every_picture_is_within_20_million_pixels():
    """At the bounds (1,024 tokens, 30-character labels, 256 layers, 1,536 heads, 512 masks): a 512-token
    head picture used to be 50 million pixels, 510 masks' rollout 615 million, 256 x 256 heads' overview
    more than 8 GB to draw."""
    from bertgallery import checks, model, plots
    for n in (12, 330, 512, model.MAX_TOKENS):
        for long in (False, True):
            words = tokens(n)[:-1] + ["x" * (200 if long else 8)]
            lay = render.layout(words)
            assert lay.width * lay.height <= render.MAX_PIXELS, (n, long, lay.width, lay.height)
            assert lay.cell >= 4 and render.labelled(words, lay.cell)[0][1] <= 4  # every 4th token labelled at most
            for layers in (1, 12, 256):
                for kinds in (1, 2):  # the attention rollout, and the contribution rollout under it (issue 25)
                    cell, panels, label = plots.rollout_size(layers, words, 512, kinds)
                    width, height = 60 + n * cell + 90, panels * kinds * (layers * cell + 34) + label + 10
                    assert width * height <= render.MAX_PIXELS and 1 <= panels <= plots.ROLLOUT_PANELS, (n, layers)
    assert render.layout(tokens(12)).cell == 20 and plots.rollout_size(12, tokens(12), 3)[:2] == (24, 3)  # as before
    for layers in range(1, 257):
        heads = min(checks.LIMITS["heads"], checks.MAX_HEADS // layers)
        width, height = render.overview_size(layers, heads)
        assert width * height <= render.MAX_PIXELS, (layers, heads)


def test_the_overview_averages_tokens_past_its_tiles_pixels():
    a = attention(2, 3, 200)
    tiles = render._blocks(a[0], render._tile(200)[0])
    assert tiles.shape == (3, 50, 50)  # 4 x 4 tokens a cell: 62 cells a side at most
    np.testing.assert_allclose(tiles[1, 0, 0], a[0, 1, :4, :4].mean(), rtol=1e-6)
    assert render._tile(62) == (1, 62) and render._tile(63) == (2, 32)
    png = render.render_overview(a, "viridis")
    assert Image.open(io.BytesIO(png)).size == render.overview_size(2, 3)


LIMITED = """
import resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
import numpy as np
from bertgallery import plots, render
rng = np.random.default_rng(0)
words = ["[CLS]"] + [f"w{i}" for i in range(%(tokens)d - 2)] + ["[SEP]"]
rows = [rng.random((%(layers)d, len(words))).astype(np.float32) for _ in range(%(masks)d)]
png = plots.render_rollout(rows, words, [f"Mask {i}" for i in range(len(rows))], "viridis", rows[::-1])
peak = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)["VmPeak"]
print(len(png), int(peak.split()[0]) * 1024)
"""


@pytest.mark.slow
def test_many_masks_draw_in_bounded_memory():
    """250 masks' rollout drawn under a 1 GB address-space limit, in a process of its own: it ends with its
    picture, well inside the limit (it took 1.8 GB at 60 tokens, and 3.8 GB of a 250-mask build with the
    offline model; a MemoryError caught would be no bound). The picture holds the first 12 masks."""
    import subprocess
    import sys
    from conftest import ROOT
    limit = 2**30
    r = subprocess.run([sys.executable, "-c", LIMITED % dict(tokens=60, layers=12, masks=250), str(limit)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and r.stderr == "", r.stderr[-2000:]
    size, peak = map(int, r.stdout.split())
    assert peak < 0.75 * limit, peak


def test_the_rollout_picture_has_each_masks_contribution_rollout_under_its_attention_rollout(sample_site):
    """Issue 25: two panels a mask, each kind on its own colour scale; the sample site's picture is that size."""
    from bertgallery import plots
    rng = np.random.default_rng(0)
    words = ["[CLS]"] + [f"w{i}" for i in range(8)] + ["[SEP]"]
    raw = [rng.random((3, 10)) for _ in range(2)]
    flows = [r / 10 for r in raw]  # another scale: drawn against its own largest, it looks the same
    both = Image.open(io.BytesIO(plots.render_rollout(raw, words, ["A", "B"], "viridis", flows))).convert("RGB")
    alone = Image.open(io.BytesIO(plots.render_rollout(raw, words, ["A", "B"], "viridis"))).convert("RGB")
    cell, panels, label = plots.rollout_size(3, words, 2, 2)
    assert both.size == (60 + 10 * cell + 90, 2 * 2 * (3 * cell + 34) + label + 10) and panels == 2
    assert alone.size[1] < both.size[1]
    first, second = (np.asarray(both)[10 + 24 + k * (3 * cell + 34):][:3 * cell, 60:60 + 10 * cell] for k in (0, 1))
    np.testing.assert_array_equal(first, second)  # the heat maps alike: each kind against its own largest value
    data = json.loads((sample_site / "cat" / "data.json").read_text())
    words, masks = data["tokens"], len(data["masks"])
    cell, panels, label = plots.rollout_size(data["layers"], words, masks, 2)
    assert Image.open(sample_site / "cat" / "Rollout.png").size == \
        (60 + len(words) * cell + 90, panels * 2 * (data["layers"] * cell + 34) + label + 10)


@pytest.mark.slow
def test_titles_kept_across_sentences_land_where_a_full_draw_puts_them():
    """A head's title band is kept per process by where it is drawn: the same layout reuses it, another
    (a longer label moves the map and the title) draws its own."""
    a = attention(2, 2, 12, seed=5)
    same = tokens(12)[:-2] + ["other", "[SEP]"]  # as long as before: the same layout
    wider = tokens(12)[:-2] + ["a-much-longer-word", "[SEP]"]
    assert render.layout(same) == render.layout(tokens(12)) != render.layout(wider)
    for words in (tokens(12), same, wider):
        fast = render.HeadRenderer(words, "viridis")
        for layer, head in ((1, 1), (2, 2)):
            slow = render.render_head_slow(a[layer - 1, head - 1], words, layer, head, "viridis")[..., :3]
            png = decode(fast.png(a[layer - 1, head - 1], layer, head))
            coloured = ~((slow[..., 0] == slow[..., 1]) & (slow[..., 1] == slow[..., 2]))
            assert np.array_equal(png[coloured], slow[coloured])
            grey = np.round(np.arange(3) * 255 / 2)[np.abs(slow[..., :1] - np.arange(3) * 255 / 2).argmin(-1)]
            assert np.array_equal(png[~coloured][:, 0], grey[~coloured])


@pytest.mark.parametrize("n", [12, 48])
def test_overview_drawn_over_its_kept_labels_equals_a_full_draw(n):
    """The overview's labels and colour bar are drawn once per process; each sentence's mosaic over them
    must give the picture a full draw of a new figure gives (at 48 tokens the mosaic is resampled)."""
    for seed in (1, 2):
        a = attention(3, 4, n, seed=seed)
        mosaic, m = render._mosaic(a)
        fig, im, _, _ = render._overview_figure(3, 4, m, "viridis")
        im.set_data(mosaic)
        fig.canvas.draw()
        full = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
        fast = decode(render.render_overview(a, "viridis"))
        coloured = ~((full[..., 0] == full[..., 1]) & (full[..., 1] == full[..., 2]))
        assert np.array_equal(fast[coloured], full[coloured])
        assert np.abs(fast[~coloured] - full[~coloured]).max() <= 64  # greys snapped to 3 levels
