"""The pictures' sizes and labels, without matplotlib: a page is laid out from them (site.rollout_shown), and a
rebuild that draws nothing imports no figure."""
from __future__ import annotations

DPI = 100
MAX_PIXELS = 20_000_000  # every picture's: drawing and encoding one takes memory in proportion
LABEL_CHARS = 30  # a token's label is cut to this (a vocabulary may hold any string; BERT's longest is 18)
LABEL_ROOM = 13  # pixels a 7-pt label needs across: with smaller cells only every k-th token is labelled


def label(token: str) -> str:
    """A token as a picture labels it: cut short past LABEL_CHARS characters."""
    return token if len(token) <= LABEL_CHARS else token[:LABEL_CHARS - 1] + "…"


def label_pixels(tokens: list[str], font: float) -> int:
    """Room for the longest token label drawn at `font` points (about 0.62 em a character)."""
    return round(max(len(label(t)) for t in tokens) * font * 0.62 * DPI / 72)


def labelled(names: list[str], cell: int) -> tuple[list[int], list[str]]:
    """Tick positions and labels along an axis of `cell` pixels a step: every one where there is room, every
    k-th where the picture had to shrink to stay within MAX_PIXELS."""
    every = -(-LABEL_ROOM // cell) if cell < LABEL_ROOM else 1
    at = list(range(0, len(names), every))
    return at, [label(names[i]) for i in at]


def fitted(cell: int, size) -> int:
    """The largest cell size up to `cell` whose picture, size(cell) = (width, height), is within MAX_PIXELS."""
    while cell > 1 and size(cell)[0] * size(cell)[1] > MAX_PIXELS:
        cell -= 1
    return cell


ROLLOUT_PANELS = 12  # masks in one rollout picture at most: more would be a scroll, not a picture


def rollout_size(layers: int, tokens: list[str], masks: int, kinds: int = 1) -> tuple[int, int, int]:
    """(pixels a cell, masks drawn, pixels a panel's row of labels) of the rollout picture, where each mask has
    `kinds` panels (the attention rollout, and the contribution rollout where there is one): cells shrink below
    14 px only to keep one mask's panels within MAX_PIXELS, and the picture holds the first masks that fit, at
    most ROLLOUT_PANELS (the page shows every mask's last layer)."""
    font = 8
    label = label_pixels(tokens, font) + 16
    n = len(tokens)

    def size(cell: int, panels: int = 1) -> tuple[int, int]:
        return 60 + n * cell + 90, panels * kinds * (layers * cell + 34) + label + 10
    cell = fitted(min(24, max(14, 480 // n)), size)
    width = size(cell)[0]
    panels = max(1, min(masks, ROLLOUT_PANELS, (MAX_PIXELS // width - label - 10) // (kinds * (layers * cell + 34))))
    return cell, panels, label
