"""Stage 4: what each head looks at, as numbers (after Clark et al. 2019, "What Does BERT Look At?").

STATISTICS is the one table of head statistics: the heads pages, the sentence page's maps, the alt texts,
data.json and the statistics page all read it. Adding a statistic is one entry there plus its function.
Every statistic of a head is computed from its T x T attention A (row i = the attending token, rows sum
to 1) and is a mean over all T rows, special tokens included, as in Clark et al.; cls_norm and sep_norm from
its value-weighted attention N (mixing.py) instead, leaving out the rows N has nothing in; cross, of a sentence
pair only, over the rows of the tokens that are not special.
"""
from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import mixing

@dataclass
class SentenceAttention:
    """What a statistic may use: one sentence's attention [layers, heads, T, T], its kinds of token, and
    the importance of each head for each mask's prediction [masks, layers, heads] (attribution.py)."""
    attention: np.ndarray  # float64
    cls: np.ndarray  # bool [T]: the [CLS] (or <s>) positions
    sep: np.ndarray
    punct: np.ndarray
    importance: np.ndarray | None = None  # None: not measured (no mask, or a model family without it)
    norms: np.ndarray | None = None  # [layers, heads, T]: value norms (mixing.py); None: a family without them
    segments: np.ndarray | None = None  # int [T]: a pair's segment of each token, 0 (A) or 1 (B); None: one sentence

    @functools.cached_property
    def entropy(self) -> np.ndarray:
        a = self.attention
        with np.errstate(divide="ignore", invalid="ignore"):
            plogp = np.where(a > 0, a * np.log(np.where(a > 0, a, 1.0)), 0.0)
        return -plogp.sum(-1).mean(-1)

    @functools.cached_property
    def by_value(self) -> np.ndarray | None:
        """[2, layers, heads]: cls_norm and sep_norm, a layer at a time (N of every head at once is as large as
        the attention in float64); None without norms."""
        if self.norms is None:
            return None
        shares = np.empty((2,) + self.attention.shape[:2])
        for l, (a, n) in enumerate(zip(self.attention, self.norms)):
            vw = mixing.value_weighted(a[None], n[None])
            shares[:, l] = mixing.cls_norm(vw, self.cls)[0], mixing.sep_norm(vw, self.sep)[0]
        return shares


def _diagonal(s: SentenceAttention, offset: int) -> np.ndarray:
    a = s.attention
    if a.shape[-1] <= abs(offset):
        return np.zeros(a.shape[:2])
    return np.diagonal(a, offset=offset, axis1=-2, axis2=-1).mean(-1)


def _to(kind: str) -> Callable[[SentenceAttention], np.ndarray]:
    return lambda s: s.attention[..., getattr(s, kind)].sum(-1).mean(-1)


def _breadth(s: SentenceAttention) -> np.ndarray:
    n = s.attention.shape[-1]
    return s.entropy / np.log(n) if n > 1 else np.zeros(s.attention.shape[:2])


def _by_value(k: int) -> Callable[[SentenceAttention], np.ndarray]:
    return lambda s: np.full(s.attention.shape[:2], np.nan) if s.by_value is None else s.by_value[k]


def _cross(s: SentenceAttention) -> np.ndarray:
    """Of a pair: for each token i that is not [CLS]/[SEP], Σ A[i, j] over the other segment's tokens j that
    are not, averaged over those i of both segments; NaN for a single sentence (left out of every mean)."""
    ordinary = ~(s.cls | s.sep)
    if s.segments is None or not ordinary.any():
        return np.full(s.attention.shape[:2], np.nan)
    seg = np.asarray(s.segments)
    other = ((seg[:, None] != seg[None, :]) & ordinary[None, :]).astype(np.float64)  # [T, T]: i's other side
    return np.einsum("lhij,ij->lhi", s.attention, other)[..., ordinary].mean(-1)  # no copy of the attention


def _importance(s: SentenceAttention) -> np.ndarray:
    if s.importance is None or not len(s.importance):
        return np.full(s.attention.shape[:2], np.nan)  # not applicable: left out of every mean
    return np.abs(s.importance).mean(axis=0)


@dataclass(frozen=True)
class Statistic:
    key: str  # its name in data.json
    label: str  # a map's caption
    short: str  # a table's column, running text
    formula: str
    about: str  # what it says, for the statistics page
    compute: Callable[[SentenceAttention], np.ndarray]  # -> [layers, heads]
    tag: str = ""  # the tag a head earns when the value reaches threshold
    threshold: float = 0.0
    why: str = ""  # the reason for the threshold
    scale: str = "unit"  # "unit": a 0-1 share, drawn as a map; "relative": drawn against the largest; "": not drawn
    pairs_only: bool = False  # of sentence pairs only: NaN for a single sentence (applicable() leaves it out)


STATISTICS = (
    Statistic("prev", "Previous token", "previous", "mean over i ≥ 1 of A[i, i−1]",
              "attention to the token just before",
              lambda s: _diagonal(s, -1), "previous token", 0.5,
              "Clark et al.'s positional heads put most of their attention on one neighbour"),
    Statistic("next", "Next token", "next", "mean over i ≤ T−2 of A[i, i+1]", "attention to the token just after",
              lambda s: _diagonal(s, 1), "next token", 0.5, "as for the previous token"),
    Statistic("self", "Itself", "self", "mean of A[i, i]", "attention of each token to itself",
              lambda s: _diagonal(s, 0), "self", 0.5, "most of its attention on itself"),
    Statistic("cls", "[CLS]", "[CLS]", "mean of Σ A[i, j] over the [CLS] positions j",
              "attention to [CLS] (<s> in RoBERTa-style models)", _to("cls"), "[CLS]", 0.6,
              "Clark et al. count heads above 0.6 as attending to the special tokens"),
    Statistic("sep", "[SEP]", "[SEP]", "mean of Σ A[i, j] over the [SEP] positions j",
              "attention to [SEP] (</s> in RoBERTa-style models)", _to("sep"), "[SEP]", 0.6,
              "as for [CLS]"),
    Statistic("cls_norm", "[CLS] by value norms", "[CLS] by value",
              "mean over rows i of Σ N[i, j] over the [CLS] positions j; N[i, j] = A[i, j] ‖f(x_j)‖ ÷ "
              "Σ_k A[i, k] ‖f(x_k)‖",
              "the share of what the head passes on that comes from [CLS]: its attention weighted by the length "
              "of each token's value vector as the head writes it (Kobayashi et al. 2020); a head can look at "
              "[CLS] and take almost nothing from it", _by_value(0), "[CLS] by value", 0.6,
              "the same bar as by weights: such a head passes on mostly [CLS]"),
    Statistic("sep_norm", "[SEP] by value norms", "[SEP] by value",
              "mean over rows i of Σ N[i, j] over the [SEP] positions j",
              "as for [CLS], the share of what the head passes on that comes from [SEP]", _by_value(1),
              "[SEP] by value", 0.6, "as for [CLS]"),
    Statistic("punct", "Punctuation", "punct.", "mean of Σ A[i, j] over the tokens j made only of punctuation",
              "attention to tokens made only of Unicode punctuation (, . — …)", _to("punct"), "punctuation", 0.6,
              "the same bar as for the special tokens"),
    Statistic("cross", "Across the segments", "across",
              "mean over the tokens i that are not [CLS]/[SEP] of Σ A[i, j] over the other segment's tokens j that "
              "are not [CLS]/[SEP]",
              "in a sentence pair ([CLS] A [SEP] B [SEP]), the attention each token of A gives to B and each token of "
              "B to A, the special tokens left out on both sides; only sentence pairs count", _cross,
              "cross-segment", 0.5,
              "at 0.5 a token gives the other segment more than everything on its own side, [CLS] and [SEP] "
              "included: the head reaches across rather than within", pairs_only=True),
    Statistic("breadth", "Breadth (how spread out)", "breadth", "entropy ÷ ln T",
              "how spread out the attention is, from 0 "
              "(one token) to 1 (every token alike); ln T is the largest possible entropy", _breadth, "broad", 0.78,
              "Clark et al.'s broad heads reach about 3.8 nats on 128-token inputs, and 3.8 ÷ ln 128 ≈ 0.78; "
              "a fixed 3.8 nats could never be reached by a 12-token sentence (ln 12 ≈ 2.5)"),
    Statistic("entropy", "Entropy (nats)", "entropy (nats)", "mean of −Σ_j A[i, j] ln A[i, j] (0 · ln 0 = 0)",
              "how spread out the attention is, in nats", lambda s: s.entropy, scale=""),
    Statistic("importance", "Importance for the prediction", "importance", "mean over the sentence's masks of |I|",
              "how much the top prediction at each [MASK] depends on the head: |I|, in nats of log-probability, "
              "where I is the head's importance (gradient or ablation, below; Michel et al. 2019); only "
              "sentences with a mask count", _importance, scale="relative"),
)
KEYS = tuple(s.key for s in STATISTICS)
INDEX = {key: i for i, key in enumerate(KEYS)}
TAGGED = tuple(s for s in STATISTICS if s.tag)
TAGS = tuple(s.tag for s in TAGGED)


def applicable(stats, pairs: bool) -> tuple:
    """The one rule of where a statistic applies: `stats` less those of pairs only, unless there are pairs
    (a sentence page: the sentence is one, Result.segments; a gallery's: Totals.has_pairs)."""
    return tuple(s for s in stats if pairs or not s.pairs_only)


# The head a sentence's explorer opens on (first_look): a head worth a first look looks mostly at other words,
# with less than this share of its attention on [CLS], [SEP] and the token itself together (the tags' bar)
ON_WORDS = 0.6


@dataclass(frozen=True)
class FirstLook:
    """The head the explorer opens on (1-based) and the rule that chose it: "supports" (of the heads that look
    mostly at other words, the one with the largest positive importance for the first mask's top guess),
    "focused" (no importance, or none of those heads supports the guess: of them, the lowest breadth) or
    "any" (no head looks mostly at other words: the lowest breadth of all)."""
    layer: int
    head: int
    rule: str


def first_look(values: np.ndarray, importance: np.ndarray | None) -> FirstLook:
    """values [layers, heads, statistics] of one sentence; importance [layers, heads] of its first mask (None:
    not measured). Never a head that parks its attention on [CLS]/[SEP] or works against the guess while
    another head will do."""
    on_words = values[..., INDEX["cls"]] + values[..., INDEX["sep"]] + values[..., INDEX["self"]] < ON_WORDS
    breadth = values[..., INDEX["breadth"]]
    if importance is not None and np.any(on_words & (importance > 0)):
        i, rule = int(np.argmax(np.where(on_words & (importance > 0), importance, -np.inf))), "supports"
    elif np.any(on_words):
        i, rule = int(np.argmin(np.where(on_words, breadth, np.inf))), "focused"
    else:
        i, rule = int(np.argmin(breadth)), "any"
    return FirstLook(i // values.shape[1] + 1, i % values.shape[1] + 1, rule)


def is_punct(token: str) -> bool:
    token = token.removeprefix("##")
    return bool(token) and all(unicodedata.category(c).startswith("P") for c in token)


def sentence(attention: np.ndarray, tokens: list[str], cls_token: str = "[CLS]", sep_token: str = "[SEP]",
             importance: np.ndarray | None = None, norms: np.ndarray | None = None,
             segments: list[int] | None = None) -> SentenceAttention:
    return SentenceAttention(attention.astype(np.float64), np.array([t == cls_token for t in tokens], dtype=bool),
                    np.array([t == sep_token for t in tokens], dtype=bool),
                    np.array([is_punct(t) for t in tokens], dtype=bool), importance, norms,
                    None if segments is None else np.array(segments, dtype=np.int64))


def statistics(s: SentenceAttention) -> np.ndarray:
    """[layers, heads, len(STATISTICS)]."""
    return np.stack([stat.compute(s) for stat in STATISTICS], axis=-1)


def stored_statistics(s: SentenceAttention) -> np.ndarray:
    """statistics() to the 6 decimals data.json keeps, for every sentence that is counted: one counted in the
    corpus pass then adds exactly what a gallery sentence read back from its data.json adds."""
    return np.round(statistics(s), 6)


def tags_of(values) -> list[str]:
    return [stat.tag for stat in TAGGED if values[INDEX[stat.key]] >= stat.threshold]


@dataclass
class HeadStats:
    """One head's statistics in one sentence (values in STATISTICS order) and the tags they earn."""
    layer: int  # 1-based
    head: int
    values: tuple
    strongest: list = field(default_factory=list)  # its largest weights as [from, to, weight], by position

    def __getitem__(self, key: str) -> float:
        return self.values[INDEX[key]]

    @property
    def tags(self) -> list[str]:
        return tags_of(self.values)


def head_stats(attention: np.ndarray, tokens: list[str], cls_token: str = "[CLS]", sep_token: str = "[SEP]",
               importance: np.ndarray | None = None, norms: np.ndarray | None = None,
               segments: list[int] | None = None) -> list[HeadStats]:
    """Every head's statistics, layer-major."""
    values = stored_statistics(sentence(attention, tokens, cls_token, sep_token, importance, norms, segments))
    layers, heads = values.shape[:2]
    return [HeadStats(l + 1, h + 1, tuple(float(v) for v in values[l, h]), strongest(attention[l, h]))
            for l in range(layers) for h in range(heads)]


def strongest(attn: np.ndarray, k: int = 3) -> list[list]:
    """The k largest attention weights of one head as [from position, to position, weight]."""
    n = attn.shape[1]
    return [[int(i // n), int(i % n), round(float(attn.flat[i]), 4)] for i in np.argsort(attn, axis=None)[::-1][:k]]


def describe(stats: HeadStats, tokens: list[str]) -> str:
    """Alt text: "Layer 3, head 10 (previous token): ‘cat’ → ‘sat’ 0.62, ..." from the strongest pairs.
    Typographic quotes: HTML escapes ' as &#39;, 5 bytes, in 288 alt texts a sentence."""
    from .names import head_name
    tags = stats.tags
    tagged = f" ({', '.join(tags)})" if tags else ""
    named = ", ".join(f"‘{tokens[i]}’ → ‘{tokens[j]}’ {w:.2f}" for i, j, w in stats.strongest)
    return f"{head_name(stats.layer, stats.head)}{tagged}: {named}"


@dataclass
class Totals:
    """Running sums of every head's statistics over many sentences: memory does not grow with them.
    A gallery mean is the mean of the per-sentence values (a NaN, "not applicable", is left out); its
    spread the standard error of that mean."""
    sentences: int
    tokens: int
    sums: np.ndarray  # [layers, heads, statistics]
    squares: np.ndarray
    counts: np.ndarray  # how many sentences each sum holds
    tag_counts: np.ndarray  # [layers, heads, tags]: in how many sentences each tag held

    @classmethod
    def empty(cls, layers: int, heads: int) -> "Totals":
        shape = (layers, heads, len(STATISTICS))
        return cls(0, 0, np.zeros(shape), np.zeros(shape), np.zeros(shape, dtype=np.int64),
                   np.zeros((layers, heads, len(TAGS)), dtype=np.int64))

    def add(self, values: np.ndarray, n_tokens: int, sentences: int = 1) -> None:
        """One sentence's [layers, heads, statistics]; or, with `sentences`, the sum over that many."""
        known = ~np.isnan(values)
        self.sentences += sentences
        self.tokens += n_tokens
        self.sums += np.where(known, values, 0.0)
        self.squares += np.where(known, values, 0.0) ** 2
        self.counts += known
        with np.errstate(invalid="ignore"):
            self.tag_counts += np.stack([values[..., INDEX[s.key]] >= s.threshold for s in TAGGED], axis=-1)

    @property
    def has_pairs(self) -> bool:
        """Whether some sentence counted was a pair: a statistic of pairs only counts the pairs alone."""
        return any(self.counts[..., INDEX[s.key]].any() for s in STATISTICS if s.pairs_only)

    def merge(self, other: "Totals") -> "Totals":
        return Totals(self.sentences + other.sentences, self.tokens + other.tokens, self.sums + other.sums,
                      self.squares + other.squares, self.counts + other.counts, self.tag_counts + other.tag_counts)

    @property
    def means(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.counts > 0, self.sums / np.maximum(self.counts, 1), np.nan)

    @property
    def stderr(self) -> np.ndarray:
        n = self.counts
        with np.errstate(invalid="ignore", divide="ignore"):
            variance = np.maximum(self.squares / n - self.means ** 2, 0.0) * n / (n - 1)
            return np.where(n >= 2, np.sqrt(variance / n), np.nan)

    def to_json(self) -> dict:
        return {"sentences": self.sentences, "tokens": self.tokens, "statistics": list(KEYS), "tags": list(TAGS),
                "sums": self.sums.tolist(), "squares": self.squares.tolist(), "counts": self.counts.tolist(),
                "tag_counts": self.tag_counts.tolist()}

    @classmethod
    def from_json(cls, data: dict) -> "Totals":
        if data["statistics"] != list(KEYS) or data["tags"] != list(TAGS):
            raise ValueError("statistics changed")
        return cls(int(data["sentences"]), int(data["tokens"]), np.array(data["sums"], dtype=float),
                   np.array(data["squares"], dtype=float), np.array(data["counts"], dtype=np.int64),
                   np.array(data["tag_counts"], dtype=np.int64))


@dataclass
class HeadSummary:
    """One head over the whole gallery: the mean and standard error of each statistic, and its tags' counts."""
    layer: int
    head: int
    mean: tuple
    stderr: tuple
    tag_counts: dict  # tag -> in how many sentences it held (only tags that held at least once)
    # tag -> the share of the sentences its statistic applies to in which it held: of the pairs, for one of
    # pairs only (cross-segment), else of every sentence
    tag_shares: dict

    def __getitem__(self, key: str) -> float:
        return self.mean[INDEX[key]]


def summaries(totals: Totals) -> list[HeadSummary]:
    means, errors = totals.means, totals.stderr
    layers, heads = means.shape[:2]
    applies = totals.counts[..., [INDEX[s.key] for s in TAGGED]]  # [layers, heads, tags]
    out = []
    for l in range(layers):
        for h in range(heads):
            held = {tag: int(n) for tag, n in zip(TAGS, totals.tag_counts[l, h]) if n}
            out.append(HeadSummary(l + 1, h + 1, tuple(float(v) for v in means[l, h]),
                                   tuple(float(v) for v in errors[l, h]), held,
                                   {tag: n / int(applies[l, h, TAGS.index(tag)]) for tag, n in held.items()}))
    return out


def per_layer(totals: Totals, keys: tuple[str, ...]) -> np.ndarray:
    """[layers, len(keys)]: the gallery means of each statistic averaged over the heads of each layer."""
    return totals.means[..., [INDEX[k] for k in keys]].mean(axis=1)
