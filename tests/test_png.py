import io

import numpy as np
from PIL import Image

from bertgallery import png


def decode(data: bytes) -> tuple[str, np.ndarray]:
    img = Image.open(io.BytesIO(data))
    return img.mode, np.asarray(img.convert("RGB")).astype(int)


def test_few_colours_make_a_palette_png_with_colours_exact_and_greys_snapped():
    rng = np.random.default_rng(0)
    colours = np.array([[68, 1, 84], [33, 145, 140], [253, 231, 37]])
    rgb = colours[rng.integers(0, 3, (40, 50))]
    grey = rng.integers(0, 256, (40, 50))
    text = rng.random((40, 50)) < 0.5  # half the pixels: antialiased text greys
    rgb[text] = grey[text, None]
    mode, out = decode(png.encode_png(np.dstack([rgb, np.full((40, 50), 255)]).astype(np.uint8)))
    assert mode == "P"
    assert np.array_equal(out[~text], rgb[~text])  # every colour exact
    # every grey the nearest of black, mid grey (127.5, stored as 128) and white
    nearest = np.array([0, 128, 255])[np.abs(grey[..., None] - np.array([0, 127.5, 255])).argmin(-1)]
    assert np.array_equal(out[text], np.repeat(nearest[text][:, None], 3, axis=1))


def test_more_than_256_colours_fall_back_to_exact_rgb():
    rgb = np.random.default_rng(1).integers(0, 256, (30, 30, 3))
    rgb[..., 2] = (rgb[..., 0] + 1) % 256  # no greys: every pixel must come back as it was
    mode, out = decode(png.encode_png(np.dstack([rgb, np.full((30, 30), 255)]).astype(np.uint8)))
    assert mode == "RGB"
    assert np.array_equal(out, rgb)


def test_pieces_compressed_apart_join_into_one_valid_png():
    import struct
    import zlib
    rng = np.random.default_rng(2)
    index = rng.integers(0, 4, (37, 53)).astype(np.uint8)
    index[10:20] = 3  # runs, as in a picture
    palette = png.Palette(np.array([[1, 2, 3], [40, 50, 60]], dtype=np.uint8))
    whole = png.encode_indices(index, palette, 8)
    parts = [png.deflated(png.rows(index[a:b]), level) for (a, b), level in zip(((0, 1), (1, 20), (20, 37)), (9, 1, 6))]
    joined = png.assemble(53, 37, palette, parts)
    for data in (whole, joined):
        img = Image.open(io.BytesIO(data))
        assert img.mode == "P" and np.array_equal(np.asarray(img), index)
        assert np.array_equal(np.asarray(img.getpalette(), dtype=np.uint8).reshape(-1, 3)[:len(palette.rgb)],
                              palette.rgb)
        at = data.index(b"IDAT")
        size = struct.unpack(">I", data[at - 4:at])[0]
        # zlib checks the Adler-32 of the whole, which assemble() computed from the pieces' own
        assert zlib.decompress(data[at + 4:at + 4 + size]) == png.rows(index).tobytes()
