"""The one shape of a sentence's results, between the analysis stages and the site, and its data.json form.

A sentence computed in this build and one read back from the previous build's data.json are the same
type; dicts appear only at the JSON boundary (to_json/from_json).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import names
from .mixing import Mixing
from .config import MASK, joined
from .heads import KEYS, FirstLook, HeadStats, first_look
from .model import Mask, ModelInfo, Prediction, fill_pair
from .syntax import SentenceSyntax


# what data.json keeps of each number (the probabilities: _digits' 6 significant digits; the statistics are
# rounded where they are computed, heads.stored_statistics)
IMPORTANCE_DIGITS, ROLLOUT_DIGITS = 5, 4  # significant digits
GRID_DECIMALS = 6  # of the overview grid's fractions


@dataclass
class Result:
    """One sentence through the model and the analyses."""
    text: str
    tokens: list[str]
    masks: list[Mask]
    filled: str
    heads: list[HeadStats]  # layer-major
    layers: int
    heads_per_layer: int
    special: list[int]  # positions of [CLS]/[SEP]
    head_size: tuple[int, int, int]  # pixels of each head PNG: width, height, per token
    overview_size: tuple[int, int]
    overview_grid: tuple  # where its tiles are (render.overview_grid)
    overview_narrow_size: tuple[int, int]  # the same of the overview for phones
    overview_narrow_grid: tuple
    importance_method: str = ""  # how each mask's head importance was measured ("" when it was not)
    importance_note: str = ""  # why it was not, in one line for the page
    syntax: SentenceSyntax | None = None  # the filled sentence's parse and what each head predicts of it
    syntax_note: str = ""  # why there is none, in one line for the page
    mixing_note: str = ""  # why there are no value norms or contributions, in one line for the page
    # the value norms and contributions as this build computed them (mixing.py). data.json keeps what the pages
    # read of them (each mask's contribution rollout, the statistics) and view-data.js the rest, quantised: read
    # back, a Result has None here
    mixing: Mixing | None = None
    pair: str = ""  # the second segment, "" for a single sentence
    segments: list[int] | None = None  # a pair's: each token's segment, 0 (A) or 1 (B) (model.segments)
    filled_pair: str = ""  # the pair with each [MASK] replaced by its top prediction
    pair_note: str = ""  # what the model saw of the pair, in one line for the page

    def values(self) -> np.ndarray:
        """[layers, heads, statistics] of this sentence, for the gallery's totals."""
        return np.array([h.values for h in self.heads], dtype=float).reshape(self.layers, self.heads_per_layer, -1)

    def first_look(self) -> FirstLook:
        """The head the explorer opens on, by the first mask's importance where it was measured, to the digits
        data.json keeps: the view written with the result and a page made later from data.json agree."""
        mask = self.masks[0] if self.masks else None
        return first_look(self.values(), None if mask is None or mask.importance is None else
                          np.array(_rows(mask.importance, IMPORTANCE_DIGITS)))

    def files(self) -> set[str]:
        """The names of the files in its folder that these results consist of (all but the page)."""
        return {names.DATA, names.VIEW_DATA} | names.pictures(self.layers, self.heads_per_layer, bool(self.masks)) \
            | ({names.PARSE} if self.syntax else set())

    def stored(self) -> "Result":
        """This result with every number at the precision data.json keeps it (to_json): what the build renders
        and caches, so that a sentence computed now gives the pages one taken over from data.json gives. A page
        rounds again, and a number rounded twice can differ from one rounded once (0.0454545: 4.545%, but
        stored as 0.045455, 4.546%)."""
        masks = [replace(m, predictions=[Prediction(p.token, _digits(p.probability)) for p in m.predictions],
                         importance=_array(m.importance, IMPORTANCE_DIGITS), rollout=_array(m.rollout, ROLLOUT_DIGITS),
                         contribution_rollout=_array(m.contribution_rollout, ROLLOUT_DIGITS)) for m in self.masks]
        return replace(self, masks=masks, overview_grid=tuple(round(v, GRID_DECIMALS) for v in self.overview_grid),
                       overview_narrow_grid=tuple(round(v, GRID_DECIMALS) for v in self.overview_narrow_grid))

    def predictions(self) -> str:
        """The sentence, then for each mask its top predictions as filled-in sentences with their
        probabilities (the other masks left as [MASK]), aligned: what --text prints."""
        lines, n = [joined(self.text, self.pair)], len(self.masks)
        for k, mask in enumerate(self.masks):
            indent = "  " if n == 1 else "    "
            if n > 1:
                lines.append(f"  mask {k + 1} of {n}:")
            for p in mask.predictions:
                fills = [MASK] * n
                fills[k] = p.token
                a, b = fill_pair(self.text, self.pair, fills)
                lines.append(f"{indent}{percent(p.probability):>6}  {joined(a.text, b.text if b else '')}")
        return "\n".join(lines)

    def to_json(self, model: ModelInfo) -> dict:
        return {
            "text": self.text, "pair": self.pair, "segments": self.segments,
            "model": {"name": model.name, "about": model.about}, "tokens": self.tokens,
            "masks": [{"index": m.index, "predictions": [{"token": p.token, "probability": _digits(p.probability)}
                                                          for p in m.predictions],
                       "importance": None if m.importance is None else
                       {"method": self.importance_method, "values": _rows(m.importance, IMPORTANCE_DIGITS)},
                       "rollout": None if m.rollout is None else _rows(m.rollout, ROLLOUT_DIGITS),
                       "contribution_rollout": None if m.contribution_rollout is None else
                       _rows(m.contribution_rollout, ROLLOUT_DIGITS)} for m in self.masks],
            "importance_note": self.importance_note, "mixing_note": self.mixing_note,
            "syntax": self.syntax.as_json() if self.syntax else None, "syntax_note": self.syntax_note,
            "filled": self.filled, "filled_pair": self.filled_pair, "pair_note": self.pair_note,
            "layers": self.layers, "heads_per_layer": self.heads_per_layer,
            "heads": [{"layer": h.layer, "head": h.head, **{k: _number(v) for k, v in zip(KEYS, h.values)},
                       "tags": h.tags, "strongest": h.strongest} for h in self.heads],
            "special": self.special, "images": {"head": list(self.head_size), "overview": list(self.overview_size),
                                                "overview_grid": [round(v, GRID_DECIMALS) for v in self.overview_grid],
                                                "overview_narrow": list(self.overview_narrow_size),
                                                "overview_narrow_grid": [round(v, GRID_DECIMALS) for v in self.overview_narrow_grid]},
        }

    @classmethod
    def from_json(cls, data: dict) -> "Result":
        masks = [Mask(m["index"], [Prediction(p["token"], p["probability"]) for p in m["predictions"]],
                      importance=None if m["importance"] is None else np.array(m["importance"]["values"]),
                      rollout=None if m["rollout"] is None else np.array(m["rollout"]),
                      contribution_rollout=None if m["contribution_rollout"] is None else
                      np.array(m["contribution_rollout"])) for m in data["masks"]]
        methods = {m["importance"]["method"] for m in data["masks"] if m["importance"]}
        heads = [HeadStats(h["layer"], h["head"], tuple(np.nan if h[k] is None else h[k] for k in KEYS),
                           h["strongest"]) for h in data["heads"]]
        return cls(data["text"], data["tokens"], masks, data["filled"], heads, data["layers"], data["heads_per_layer"],
                   data["special"], tuple(data["images"]["head"]), tuple(data["images"]["overview"]),
                   tuple(data["images"]["overview_grid"]), tuple(data["images"]["overview_narrow"]),
                   tuple(data["images"]["overview_narrow_grid"]),
                   methods.pop() if methods else "", data["importance_note"],
                   SentenceSyntax.from_json(data["syntax"]) if data["syntax"] else None, data["syntax_note"],
                   data["mixing_note"], None, data["pair"], data["segments"], data["filled_pair"], data["pair_note"])


def percent(p: float) -> str:
    """Probabilities as people read them: 42.1%, 0.37%, <0.01% (never a misleading 0.0%)."""
    if p >= 0.01:
        return f"{p * 100:.1f}%"
    return f"{p * 100:.2f}%" if p >= 0.0001 else "<0.01%"


def _digits(x: float, n: int = 6) -> float:
    """n significant digits: all a page shows, and the same on every CPU."""
    return float(f"{x:.{n}g}")


def _number(x: float):
    return None if np.isnan(x) else x  # JSON has no NaN: "not applicable" is null


def _array(a: np.ndarray | None, n: int) -> np.ndarray | None:
    """`a` as from_json reads _rows(a, n) back."""
    return None if a is None else np.array(_rows(a, n))


def _rows(a: np.ndarray, n: int) -> list:
    return [[_digits(float(x), n) for x in row] for row in a]
