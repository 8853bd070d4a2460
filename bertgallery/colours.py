"""Colours for the pages: a colour map's steps for the statistics cells, text black or white by contrast, and
a colour for each head of the explorer. One place, so the pages, the maps and attention.js agree."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCALE_STEPS = 32  # statistics cells take one of 32 colour-map colours: the eye sees no steps at a cell's size
IMPORTANCE_CMAP = "RdBu"  # diverging: blue where a head supports the prediction, red where it opposes it


def _luminance(rgb) -> float:
    """WCAG 2 relative luminance of an sRGB colour given as 0-1 floats."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def light_text(rgb) -> bool:
    """Whether white text reads better than black on this background: the higher WCAG contrast wins, for any
    colour map. With white and black to choose from, the winner always reaches at least 4.58:1 (AA)."""
    lum = _luminance(rgb)
    return bool(1.05 / (lum + 0.05) > (lum + 0.05) / 0.05)


def colours(values, cmap_name: str) -> list[tuple[str, bool]]:
    """Hex colour of each 0-1 value, and whether text on it should be light: one colour-map lookup for all."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex
    rgba = colormaps[cmap_name](np.clip(np.asarray(values, dtype=float), 0.0, 1.0))
    return [(to_hex((r, g, b)), light_text((r, g, b))) for r, g, b, _ in rgba]


def scale(cmap_name: str) -> list[tuple[str, bool]]:
    """(background, light text) of each colour class c0..c31, for the page's style sheet and the
    interactive view's colour stops."""
    return colours(np.linspace(0, 1, SCALE_STEPS), cmap_name)


@dataclass
class Cell:
    value: float  # 0-1, or -1 to 1 for a signed map
    signed: bool = False

    @property
    def step(self) -> int:
        """The cell's colour class: c0 (0, or -1 when signed) to c31 (1)."""
        v = (self.value + 1) / 2 if self.signed else self.value
        return round(min(1.0, max(0.0, v)) * (SCALE_STEPS - 1)) if v == v else 0

    @property
    def text(self) -> str:
        """One digit is all a 1.3 rem cell holds: '.4', '1', '−.3'."""
        v = self.value
        if v != v:
            return "–"
        digit = "1" if abs(v) >= 0.95 else f"{abs(v):.1f}".removeprefix("0")
        return ("−" if v < 0 and digit != ".0" else "") + digit


def grid(values: np.ndarray, signed: bool = False) -> list[list[Cell]]:
    """A layers x heads array as rows of cells."""
    return [[Cell(float(v), signed) for v in row] for row in values]


def head_colours(n: int) -> list[str]:
    """A colour for each head of a layer, for the explorer's lines and squares: hues evenly around the circle,
    each dark enough for 4.5:1 against white (its number on the white square, white on the filled one)."""
    import colorsys

    from matplotlib.colors import to_hex
    out = []
    for h in range(n):
        lightness = 0.45
        while _luminance(colorsys.hls_to_rgb(h / n, lightness, 0.75)) > 0.18:
            lightness -= 0.01
        out.append(to_hex(colorsys.hls_to_rgb(h / n, lightness, 0.75)))
    return out
