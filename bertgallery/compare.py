"""Two models of a gallery compared: which head of one is which head of the other, and whether they predict alike.

For heads a of model A and b of model B, the mean Jensen-Shannon divergence (nats) of their attention rows,

    D[a, b] = mean_s mean_i JSD(A_a[s][i], B_b[s][i]),   JSD(P, Q) = H((P + Q) / 2) - (H(P) + H(Q)) / 2,

over the sentences s (the gallery's, and the first corpus.COMPARED of its corpus) and every row i, special tokens
included (0 ln 0 = 0; 0 for identical rows, ln 2 for rows with nothing in common). At token level when both
models give a sentence the same tokens; otherwise at word level: the words of the sentence as written (spaCy's
tokenizer, [MASK] one word), each model's tokens merged into them as syntax.word_attention does (Clark et al.'s
conversion: [CLS], [SEP] dropped). The weights are the 16-bit ones the explorer's data holds (view-data.js), each
row rescaled to sum to 1, so a sentence taken over from the previous site compares exactly as one computed now;
the corpus sentences' are kept alike (corpus.Kept). Analysis only: numbers in, a record out.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .config import MASK

LN2 = math.log(2)
DIGITS = 6  # decimals of every number compare.json stores
CHUNK = 1 << 22  # float64 values of the [heads A, heads B, T, T] mixture at a time: 32 MiB


def rows(weights: np.ndarray) -> np.ndarray:
    """Attention rows (any shape [..., T]; 16-bit integers or floats) as float64 rows summing to 1."""
    x = np.asarray(weights, dtype=np.float64)
    total = x.sum(-1, keepdims=True)
    return np.where(total > 0, x / np.where(total > 0, total, 1), 1 / x.shape[-1])


def _entropy(p: np.ndarray) -> np.ndarray:
    return -(p * np.log(np.where(p > 0, p, 1))).sum(-1)


def jsd(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """JSD in nats of matching rows (the last axis) of p and q, each a distribution."""
    return np.clip(_entropy((p + q) / 2) - (_entropy(p) + _entropy(q)) / 2, 0, LN2)


def divergence(a: np.ndarray, b: np.ndarray, chunk: int = CHUNK) -> np.ndarray:
    """[HA, HB]: mean over rows i of JSD(a[x, i], b[y, i]) for heads a [HA, T, T] and b [HB, T, T] (rows
    summing to 1). The mixtures are made a few heads of A at a time, so memory stays within `chunk` values."""
    ha, hb = _entropy(a), _entropy(b)  # [HA, T], [HB, T]
    out = np.empty((a.shape[0], b.shape[0]))
    step = max(1, chunk // max(1, b.size))
    for s in range(0, a.shape[0], step):
        m = (a[s:s + step, None] + b[None]) / 2  # [k, HB, T, T]
        row = _entropy(m) - (ha[s:s + step, None] + hb[None]) / 2
        out[s:s + step] = np.clip(row, 0, LN2).mean(-1)
    return out


@dataclass
class Side:
    """One model's attention of one sentence, as the comparison needs it."""
    tokens: list[str]
    attention: np.ndarray  # [L, H, T, T] 16-bit weights (view-data.js) or floats; row = attending token
    words: np.ndarray | None = None  # each token's word of the sentence as written (-1: none); None: not aligned


@dataclass
class Agreement:
    """Two masked LMs' top predictions over the gallery's masks."""
    masks: int
    top1: float  # share of masks whose top words are the same (compared case-folded)
    overlap: float  # mean share of the top k shared
    k: int


def agreement(a_masks, b_masks) -> tuple[int, int, float]:
    """(masks, same top word, summed top-k overlap) of one sentence's masks (model.Mask lists): the sentence
    page's side-by-side column and the compare page's totals."""
    same = shared = 0
    for x, y in zip(a_masks, b_masks):
        top_x = [p.token.casefold() for p in x.predictions]
        top_y = [p.token.casefold() for p in y.predictions]
        same += top_x[:1] == top_y[:1]
        k = min(len(top_x), len(top_y))
        shared += len(set(top_x[:k]) & set(top_y[:k])) / k if k else 0
    return min(len(a_masks), len(b_masks)), same, shared


@dataclass
class Compared:
    """Models A and B compared over a gallery's sentences (compare.json)."""
    names: list[str]  # A's, B's
    shapes: list[list[int]]  # [layers, heads] of A, of B
    sentences: int  # sentences D rests on, the gallery's and the corpus's
    token_level: int  # of which compared token by token
    word_level: int  # of which word by word
    left_out: int  # sentences whose words one model's tokens could not be aligned to
    corpus: int  # of `sentences`, the corpus's
    corpus_first: int  # the first corpus sentences D was to take (min(corpus.COMPARED, the corpus's)); the others one model
    # could not take (too long) or align
    divergence: np.ndarray  # [LA, HA, LB, HB], nats
    same_top: list[float] | None  # per layer (namesakes, same shapes): share of rows whose most-attended is the same
    agreement: Agreement | None  # None unless both are masked LMs
    k: int = 0

    @property
    def flat(self) -> np.ndarray:
        (la, ha), (lb, hb) = self.shapes
        return self.divergence.reshape(la * ha, lb * hb)

    def closest(self, side: int = 0) -> list[tuple[int, int, float]]:
        """Per head of A (side 0) or of B (1), layer-major: (layer, head) of its closest head in the other
        model (1-based) and D."""
        d = self.flat if side == 0 else self.flat.T
        per = self.shapes[1 - side][1]
        best = d.argmin(1)
        return [(int(j) // per + 1, int(j) % per + 1, float(d[i, j])) for i, j in enumerate(best)]

    def namesakes(self) -> list[float] | None:
        """Per layer, the mean D of each head to its namesake (same layer and head number); None for other
        shapes."""
        if self.shapes[0] != self.shapes[1]:
            return None
        d = self.divergence
        return [float(np.mean([d[l, h, l, h] for h in range(d.shape[1])])) for l in range(d.shape[0])]

    def best_layers(self) -> list[tuple[int, float]]:
        """Per layer of A: the layer of B (1-based) whose heads match its heads best, and that mean, where a
        head's match in a layer is its closest head there: mean over A's heads of the min over B's heads."""
        d = self.divergence.min(axis=3).mean(axis=1)  # [LA, LB]
        return [(int(d[l].argmin()) + 1, float(d[l].min())) for l in range(d.shape[0])]

    def swapped(self) -> "Compared":
        """B against A: the same numbers, the other way round (a reordered gallery computes nothing)."""
        return Compared(self.names[::-1], self.shapes[::-1], self.sentences, self.token_level, self.word_level,
                        self.left_out, self.corpus, self.corpus_first, self.divergence.transpose(2, 3, 0, 1),
                        self.same_top, self.agreement, self.k)

    def to_json(self) -> dict:
        return {"models": self.names, "shapes": self.shapes, "sentences": self.sentences,
                "token_level": self.token_level, "word_level": self.word_level, "left_out": self.left_out,
                "corpus": self.corpus, "corpus_first": self.corpus_first, "divergence": self.divergence.tolist(),
                "same_top": self.same_top,
                "agreement": None if self.agreement is None else vars(self.agreement),
                "closest": {"a": self.closest(0), "b": self.closest(1)}, "namesakes": self.namesakes(),
                "best_layers": self.best_layers()}

    @classmethod
    def from_json(cls, d: dict) -> "Compared":
        agreed = Agreement(**d["agreement"]) if d["agreement"] else None
        return cls(d["models"], d["shapes"], d["sentences"], d["token_level"], d["word_level"], d["left_out"],
                   d["corpus"], d["corpus_first"],
                   np.array(d["divergence"], dtype=np.float64).reshape(*d["shapes"][0], *d["shapes"][1]),
                   d["same_top"], agreed, agreed.k if agreed else 0)


@dataclass
class Pair:
    """The running sums of one pair of models over the sentences, one sentence at a time."""
    names: list[str]
    shapes: list[list[int]]
    total: np.ndarray = field(init=False)
    same: np.ndarray = field(init=False)
    rows: int = 0  # rows per layer counted in `same`
    sentences: int = 0
    token_level: int = 0
    word_level: int = 0
    left_out: int = 0
    masks: list = field(default_factory=lambda: [0, 0, 0.0])  # masks, same top word, summed overlap
    k: int = 0
    corpus_first: int = 0  # the first corpus sentences offered (Compared.corpus_first)
    corpus: int = 0

    def __post_init__(self):
        (la, ha), (lb, hb) = self.shapes
        self.total = np.zeros((la * ha, lb * hb))
        self.same = np.zeros(la) if self.shapes[0] == self.shapes[1] else None

    def add(self, a: Side, b: Side, corpus: bool = False) -> None:
        """One sentence (of the corpus: `corpus`): token by token when both models gave it the same tokens, else
        word by word."""
        if a.tokens == b.tokens:
            x, y = rows(a.attention), rows(b.attention)
            self.token_level += 1
        elif a.words is None or b.words is None:
            self.left_out += 1
            return
        else:
            from .syntax import word_attention
            n = int(max(a.words.max(), b.words.max())) + 1
            x = word_attention(rows(a.attention), a.words, n)
            y = word_attention(rows(b.attention), b.words, n)
            self.word_level += 1
        la, ha, t = x.shape[0], x.shape[1], x.shape[-1]
        self.total += divergence(x.reshape(la * ha, t, t), y.reshape(-1, t, t))
        if self.same is not None:
            self.same += (x.argmax(-1) == y.argmax(-1)).reshape(la, -1).sum(1)
            self.rows += ha * t
        self.sentences += 1
        self.corpus += corpus

    def predictions(self, a_masks, b_masks, k: int) -> None:
        n, same, shared = agreement(a_masks, b_masks)
        self.masks = [self.masks[0] + n, self.masks[1] + same, self.masks[2] + shared]
        self.k = k

    def result(self, masked_lms: bool) -> Compared:
        (la, ha), (lb, hb) = self.shapes
        n = max(1, self.sentences)
        agreed = Agreement(self.masks[0], round(self.masks[1] / self.masks[0], DIGITS),
                           round(self.masks[2] / self.masks[0], DIGITS), self.k) \
            if masked_lms and self.masks[0] else None
        # rounded as compare.json stores them, so that a comparison taken over is the one computed
        return Compared(self.names, self.shapes, self.sentences, self.token_level, self.word_level, self.left_out,
                        self.corpus, self.corpus_first, np.round(self.total / n, DIGITS).reshape(la, ha, lb, hb),
                        None if self.same is None or not self.rows else
                        np.round(self.same / self.rows, DIGITS).tolist(), agreed, self.k)


def words_of(text: str, tokenizer, pair: str = "") -> np.ndarray | None:
    """Each of the tokenizer's tokens of `text` (and of `pair`, its second segment; each [MASK] written as its
    mask token) aligned to the words of the sentence as written (spaCy's tokenizer, [MASK] one word; a pair's
    words are A's, then B's) by syntax.token_words, as the syntax is; None if they cannot be."""
    from .model import fill
    from .parser import Parse, load_parser
    from .syntax import token_words
    segments = []
    for segment in (text, pair) if pair else (text,):
        found = [t for t in load_parser().tokenizer(segment) if not t.is_space]
        segments.append((Parse([t.text for t in found], [[t.idx, t.idx + len(t.text)] for t in found], [], [], []),
                         fill(segment, [MASK] * segment.count(MASK))))
    aligned = token_words(tokenizer, text, pair, segments)
    return None if isinstance(aligned, str) else aligned
