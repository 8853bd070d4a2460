"""Stage 4: what each head looks at, as numbers (after Clark et al. 2019, "What Does BERT Look At?").

For one head's T x T attention A (row i = the attending token, rows sum to 1), every statistic is a mean
over all T rows, special tokens included, as in Clark et al.:
  cls     attention to the [CLS] position(s)         sep   attention to the [SEP] position(s), summed
  punct   attention to tokens made only of punctuation, summed
  self    A[i, i]       prev  A[i, i-1] (i >= 1)     next  A[i, i+1] (i <= T-2)
  entropy -sum_j A[i, j] ln A[i, j], in nats (0 ln 0 = 0)
"""
from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np

STATS = ("cls", "sep", "punct", "self", "prev", "next", "entropy")
# Tag thresholds. Clark et al. call a head positional when over half its attention goes to the previous or
# next token, and count [CLS]/[SEP] heads above 0.6. "broad" compares entropy with its maximum, ln T, because
# short sentences cannot reach Clark's 3.8 nats: 3.8 is 0.78 of ln 128, their input length.
POSITIONAL = 0.5
SPECIAL = 0.6
PUNCT = 0.6
SELF = 0.5
BROAD = 0.78


@dataclass
class HeadStats:
    layer: int  # 1-based
    head: int
    cls: float
    sep: float
    punct: float
    self: float
    prev: float
    next: float
    entropy: float
    tags: list[str] = field(default_factory=list)
    strongest: list[list] = field(default_factory=list)  # the largest weights as [from, to, weight], by position

    def as_dict(self) -> dict:
        return asdict(self)


def is_punct(token: str) -> bool:
    token = token.removeprefix("##")
    return bool(token) and all(unicodedata.category(c).startswith("P") for c in token)


def statistics(attention: np.ndarray, tokens: list[str], cls_token: str = "[CLS]",
               sep_token: str = "[SEP]") -> np.ndarray:
    """[layers, heads, 7] array of STATS for attention [layers, heads, T, T]."""
    a = attention.astype(np.float64)
    cls = np.array([t == cls_token for t in tokens])
    sep = np.array([t == sep_token for t in tokens])
    punct = np.array([is_punct(t) for t in tokens])
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(a > 0, a * np.log(np.where(a > 0, a, 1.0)), 0.0)
    n = a.shape[-1]
    prev = np.diagonal(a, offset=-1, axis1=-2, axis2=-1).mean(-1) if n > 1 else np.zeros(a.shape[:2])
    nxt = np.diagonal(a, offset=1, axis1=-2, axis2=-1).mean(-1) if n > 1 else np.zeros(a.shape[:2])
    return np.stack([
        a[..., cls].sum(-1).mean(-1),
        a[..., sep].sum(-1).mean(-1),
        a[..., punct].sum(-1).mean(-1),
        np.diagonal(a, axis1=-2, axis2=-1).mean(-1),
        prev,
        nxt,
        -plogp.sum(-1).mean(-1),
    ], axis=-1)


TAG_RULES = (("prev", POSITIONAL, "previous token"), ("next", POSITIONAL, "next token"), ("self", SELF, "self"),
             ("cls", SPECIAL, "[CLS]"), ("sep", SPECIAL, "[SEP]"), ("punct", PUNCT, "punctuation"))


def tags(values: dict, n_tokens: int) -> list[str]:
    out = [tag for stat, threshold, tag in TAG_RULES if values[stat] >= threshold]
    if n_tokens > 1 and values["entropy"] / np.log(n_tokens) >= BROAD:
        out.append("broad")
    return out


def analyse(attention: np.ndarray, tokens: list[str], cls_token: str = "[CLS]",
            sep_token: str = "[SEP]") -> list[HeadStats]:
    stats = statistics(attention, tokens, cls_token, sep_token)
    heads = []
    for l in range(stats.shape[0]):
        for h in range(stats.shape[1]):
            values = {name: round(float(v), 6) for name, v in zip(STATS, stats[l, h])}
            heads.append(HeadStats(l + 1, h + 1, **values, tags=tags(values, len(tokens)),
                                   strongest=strongest(attention[l, h])))
    return heads


def strongest(attn: np.ndarray, k: int = 3) -> list[list]:
    """The k largest attention weights of one head as [from position, to position, weight]."""
    n = attn.shape[1]
    return [[int(i // n), int(i % n), round(float(attn.flat[i]), 4)] for i in np.argsort(attn, axis=None)[::-1][:k]]


def describe(layer: int, head: int, tag_list: list[str], pairs, tokens: list[str]) -> str:
    """Alt text: "Layer 3, head 10 (previous token): ‘cat’ → ‘sat’ 0.62, ..." from strongest()'s pairs.
    Typographic quotes: HTML escapes ' as &#39;, 5 bytes, in 288 alt texts a sentence."""
    tagged = f" ({', '.join(tag_list)})" if tag_list else ""
    named = ", ".join(f"‘{tokens[i]}’ → ‘{tokens[j]}’ {w:.2f}" for i, j, w in pairs)
    return f"Layer {layer}, head {head}{tagged}: {named}"


def gallery_means(per_sentence: list[list[dict]]) -> list[dict]:
    """Every head's statistics averaged over the sentences (tags: in how many sentences each held)."""
    if not per_sentence:
        return []
    out = []
    for i, first in enumerate(per_sentence[0]):
        rows = [heads[i] for heads in per_sentence]
        mean = {name: float(np.mean([r[name] for r in rows])) for name in STATS}
        counts = dict(Counter(t for r in rows for t in r["tags"]))
        out.append({"layer": first["layer"], "head": first["head"], **mean, "tag_counts": counts})
    return out


def per_layer(means: list[dict], names: tuple[str, ...]) -> np.ndarray:
    """[layers, len(names)]: the gallery means of each statistic averaged over the heads of each layer."""
    layers = max(m["layer"] for m in means)
    return np.array([[np.mean([m[k] for m in means if m["layer"] == layer]) for k in names]
                     for layer in range(1, layers + 1)])
