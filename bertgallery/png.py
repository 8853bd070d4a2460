"""Paletted PNG encoding for the pictures of render.py: a few KB a picture, where RGB would be several times that.

A head picture has few colours (text greys, the colour map's steps), so it is stored as palette indices;
text greys snap to GREYS levels, every other colour is kept exactly. The PNG is written here, not by Pillow, so
that its image data can be joined from pieces compressed apart (Deflated): what every head of a sentence
shares is compressed once.
"""
from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image


def _keys(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]


class Palette:
    """At most 256 colours: GREYS evenly spaced greys for antialiased text, then the picture's own colours.

    Grey pixels snap to the nearest of 3 greys (black, mid grey, white): only the soft edges of the
    (autohinted) letters change, by at most 64 of 255 levels; side by side at 1:1 and 2x the labels look the
    same, and text is about 90 % of every PNG's bytes: head PNGs are 7 % smaller than with 4 greys.
    Every other colour is kept exactly."""

    GREYS = 3

    def __init__(self, colours: np.ndarray):
        colours = colours.reshape(-1, 3)
        colours = colours[~((colours[:, 0] == colours[:, 1]) & (colours[:, 1] == colours[:, 2]))]
        self.keys = np.unique(_keys(colours))
        grey = np.round(np.arange(self.GREYS) * 255 / (self.GREYS - 1)).astype(np.uint8)
        unpacked = np.stack([(self.keys >> 16) & 255, (self.keys >> 8) & 255, self.keys & 255], axis=1)
        self.rgb = np.concatenate([np.repeat(grey[:, None], 3, axis=1), unpacked.astype(np.uint8)])

    @classmethod
    def of(cls, rgb: np.ndarray) -> "Palette | None":
        """The palette of an image, or None when it has too many colours for one."""
        palette = cls(rgb)
        return palette if len(palette.rgb) <= 256 else None

    def indices(self, rgb: np.ndarray) -> np.ndarray | None:
        """Palette index of every pixel, or None if the image holds a colour the palette lacks."""
        r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
        grey = (r == g) & (g == b)
        out = np.empty(r.shape, dtype=np.uint8)
        out[grey] = (r[grey].astype(np.uint16) * (self.GREYS - 1) + 127) // 255
        keys = _keys(rgb[~grey])
        pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        if len(keys) and not np.array_equal(self.keys[pos], keys):
            return None
        out[~grey] = pos + self.GREYS
        return out


def encode_png(rgba: np.ndarray, palette: Palette | None = None, level: int = 8) -> bytes:
    """PNG of an RGBA buffer: a palette image when the colours allow (those of `palette`, if given, else its
    own), compressed at zlib `level`; else plain RGB."""
    rgb = rgba[..., :3]
    index = palette.indices(rgb) if palette else None
    if index is None:
        palette = Palette.of(rgb)
        index = palette.indices(rgb) if palette else None
    if index is None:
        return _save_rgb(rgb)
    return encode_indices(index, palette, level)


def encode_indices(index: np.ndarray, palette: Palette, level: int = 8) -> bytes:
    """A palette PNG of an image of palette indices, compressed in one piece."""
    return assemble(index.shape[1], index.shape[0], palette, [deflated(rows(index), level)])


def rows(index: np.ndarray) -> np.ndarray:
    """PNG's scan lines of palette indices: each row behind its filter byte (0, none: on these pictures of
    flat colours and text, every other filter made the files larger)."""
    out = np.zeros((index.shape[0], index.shape[1] + 1), dtype=np.uint8)
    out[:, 1:] = index
    return out


@dataclass(frozen=True)
class Deflated:
    """Scan lines compressed on their own: raw deflate that ends on a byte boundary and is not the stream's end,
    so pieces made apart, and each once (what every head of a sentence shares), join into one PNG."""
    data: bytes
    adler: int  # the Adler-32 of the scan lines
    size: int  # bytes of scan lines


def deflated(lines: np.ndarray, level: int) -> Deflated:
    raw = lines.tobytes()
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return Deflated(c.compress(raw) + c.flush(zlib.Z_SYNC_FLUSH), zlib.adler32(raw), len(raw))


def _adler_join(a: int, b: int, size_b: int) -> int:
    """Adler-32 of two byte strings one after the other, from theirs (zlib's adler32_combine)."""
    base = 65521
    s1 = ((a & 0xFFFF) + (b & 0xFFFF) - 1) % base
    s2 = ((size_b % base) * (a & 0xFFFF) + (a >> 16) + (b >> 16) - size_b % base) % base
    return s1 | s2 << 16


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


KEY = b"bert-gallery key"  # the tEXt keyword of what drew a picture (keyed, key_of)


def keyed(png: bytes, key: str) -> bytes:
    """The PNG with a tEXt chunk, before IEND, naming the key of everything that drew it (reuse.picture)."""
    return png[:-12] + _chunk(b"tEXt", KEY + b"\0" + key.encode("ascii")) + png[-12:]


def key_of(png: bytes) -> str | None:
    """The key keyed() wrote into the PNG, or None (not a PNG, or a damaged one, or none written)."""
    at = 8
    if png[:at] != b"\x89PNG\r\n\x1a\n":
        return None
    while at + 12 <= len(png):
        size, kind = struct.unpack(">I4s", png[at:at + 8])
        data = png[at + 8:at + 8 + size]
        if len(data) < size:
            return None
        if kind == b"tEXt" and data.startswith(KEY + b"\0"):
            return data[len(KEY) + 1:].decode("ascii", "replace")
        at += 12 + size
    return None


def assemble(width: int, height: int, palette: Palette, parts: list[Deflated]) -> bytes:
    """An 8-bit palette PNG whose image data is `parts`, in order (together every scan line of the picture)."""
    adler = 1
    for part in parts:
        adler = _adler_join(adler, part.adler, part.size)
    # 0x78 0xDA: a zlib stream with a 32 KB window; 3 0: the empty last block that ends the deflate stream
    data = b"\x78\xda" + b"".join(part.data for part in parts) + b"\x03\x00" + struct.pack(">I", adler)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0))
            + _chunk(b"PLTE", palette.rgb.tobytes()) + _chunk(b"IDAT", data) + _chunk(b"IEND", b""))


def _save_rgb(rgb: np.ndarray) -> bytes:
    out = io.BytesIO()
    # level 8 with the Z_FILTERED strategy (Pillow's compress_type=1), which suits the filters Pillow picks for RGB
    Image.fromarray(np.ascontiguousarray(rgb), mode="RGB").save(out, format="PNG", compress_level=8, compress_type=1)
    return out.getvalue()
