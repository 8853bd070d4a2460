"""Stage 4b: which heads point at syntax (after Clark et al. 2019, "What Does BERT Look At?", section 4).

The filled sentence (each [MASK] replaced by its top prediction, built by model.fill) is
parsed by spaCy (parser.py); its words are aligned to the model's tokens by characters; attention is made
word-level (to a split word: sum over its tokens; from it: mean; columns of tokens in no word, [CLS] and [SEP]
among them, dropped; rows renormalised). A head predicts a dependent's syntactic head as the word the dependent
attends to most, itself excluded as in Clark's code (dep->head); the reverse direction is right when the head
word's most-attended word is the dependent (head->dep). Accuracy pools arcs over sentences; the baseline always
predicts the relation's most common offset (head index - dependent index). A sentence pair's two segments are
parsed each on its own (no arc crosses them) and aligned each to its own tokens; its words are A's, then B's.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .config import MASK
from .model import Filled, encode, fill, fill_pair
from .parser import KEY_RELATIONS, Parse, parse

DIRECTIONS = ("dep→head", "head→dep")
MIN_COUNT = 10  # fewer instances: the relation is listed but flagged, its best head is luck
TAG_COUNT, TAG_MARGIN = 20, 0.10  # a tag needs >= 20 instances and >= 10 points over the baseline


def align(parsed: Parse, filled: Filled, text: str, offsets, special, mask_token: str) -> np.ndarray | str:
    """Each token's word (-1: none), or why the sentence cannot be aligned.

    `offsets` are the tokenizer's character offsets in text.replace(MASK, mask_token); `special` is true for
    [CLS]/[SEP]/<s>/</s>. A token belongs to the word it shares the most characters with (a tie: the earlier
    word), so "don" of "don't" goes to spaCy's "do". A word left with no token of its own (spaCy's "can"+"not"
    against one token "cannot") makes the sentence unalignable: its attention would have to be invented.
    """
    if not parsed.words:
        return "the parser found no words"
    # the tokenised string is the text "filled" with mask tokens: its characters -> the masked text's
    to_text = fill(text, [mask_token] * text.count(MASK)).source
    cover = np.zeros((len(parsed.words), len(text) + 1), dtype=bool)  # which masked-text characters each word has
    for w, (a, b) in enumerate(parsed.spans):
        cover[w, filled.source[a:b]] = True
    overlap = np.zeros((len(parsed.words), len(offsets)), dtype=np.int64)
    for t, (s, e) in enumerate(offsets):
        if e > s and not special[t]:
            overlap[:, t] = cover[:, to_text[s:e]].sum(1)
    token_word = np.where(overlap.max(0) > 0, overlap.argmax(0), -1)
    for w, word in enumerate(parsed.words):
        if w not in token_word:
            if not overlap[w].any():
                return f"no token covers the parser's word {word!r}"
            other = parsed.words[token_word[overlap[w].argmax()]]
            return f"the parser's word {word!r} has no token of its own: it shares one with {other!r}"
    return token_word


def token_words(tokenizer, text: str, pair: str, segments: list[tuple[Parse, Filled]],
                length: int | None = None) -> np.ndarray | str:
    """Each of the tokenizer's tokens of `text` (and of `pair`, its second segment) -> its word (-1: none), the
    words those of each segment's (Parse, Filled), in turn: A's, then B's, each segment aligned to its own
    tokens; or why they cannot be ("segment B: ..." of a pair). `length`: the tokens the attention has."""
    enc = encode(tokenizer, text, pair, return_offsets_mapping=True, return_special_tokens_mask=True)
    ids = enc["input_ids"]
    if length is not None and len(ids) != length:
        raise ValueError(f"{len(ids)} tokens but attention over {length}")
    special = [bool(m) and i != tokenizer.mask_token_id for m, i in zip(enc["special_tokens_mask"], ids)]
    sequence = enc.sequence_ids(0) if pair else [0] * len(ids)
    token_word, words = np.full(len(ids), -1, dtype=np.int64), 0
    for k, (segment, (parsed, filled)) in enumerate(zip((text, pair) if pair else (text,), segments)):
        others = [sp or q != k for sp, q in zip(special, sequence)]  # the other segment's tokens count as special
        found = align(parsed, filled, segment, enc["offset_mapping"], others, tokenizer.mask_token or MASK)
        if isinstance(found, str):
            return f"segment {'AB'[k]}: {found}" if pair else found
        token_word[found >= 0] = found[found >= 0] + words
        words += len(parsed.words)
    return token_word


def word_attention(attention: np.ndarray, token_word: np.ndarray, n_words: int) -> np.ndarray:
    """[L, H, T, T] token attention -> [L, H, W, W]: to a word, the sum over its tokens; from a word, the mean;
    tokens in no word ([CLS], [SEP]) dropped and each row renormalised (a row with nothing left: uniform)."""
    member = np.zeros((n_words, len(token_word)), dtype=np.float32)  # float32: no float64 copy of [L, H, T, T]
    on = np.flatnonzero(token_word >= 0)
    member[token_word[on], on] = 1
    to = (attention.reshape(-1, attention.shape[-1]) @ member.T).reshape(*attention.shape[:-1], n_words)  # one GEMM
    words = ((member / member.sum(1, keepdims=True)) @ to).astype(np.float64)
    total = words.sum(-1, keepdims=True)
    return np.where(total > 0, words / np.where(total > 0, total, 1), 1 / n_words)


def most_attended(words: np.ndarray) -> np.ndarray:
    """int [L, H, W]: the word each word attends to most, itself excluded (no word is its own head)."""
    n = words.shape[-1]
    return np.where(np.eye(n, dtype=bool) & (n > 1), -np.inf, words).argmax(-1).astype(np.int16)


@dataclass
class SentenceSyntax(Parse):
    filled: str
    token_word: list[int]  # each model token's word; -1 for [CLS]/[SEP] and tokens in no word
    attends: np.ndarray  # int [L, H, W]: most_attended(); a head's prediction in both directions

    def right(self) -> np.ndarray:
        """bool [2, L, H, W]: [0] word w's head predicted (dep->head), [1] its head word points at w
        (head->dep); always False for a root."""
        w = np.arange(len(self.words))
        heads = np.array(self.heads, dtype=np.int64)
        arc = heads != w
        return np.stack([(self.attends == heads) & arc, (self.attends[..., heads] == w) & arc])

    def as_json(self) -> dict:
        right = self.right()
        flat = right.reshape(2, -1, right.shape[-1])  # head number = (layer - 1) * heads + (head - 1)
        return dict(vars(self), attends=self.attends.tolist(),
                    right=[[np.flatnonzero(flat[d, :, w]).tolist() for w in range(flat.shape[-1])] for d in (0, 1)])

    @classmethod
    def from_json(cls, d: dict) -> SentenceSyntax:
        attends = np.array(d["attends"], dtype=np.int16).reshape(len(d["attends"]), -1, len(d["words"]))
        return cls(**{k: v for k, v in d.items() if k != "right"} | {"attends": attends})


def sentence_syntax(text: str, fills: list[str], tokenizer, attention: np.ndarray,
            parsed: Parse | None = None, pair: str = "") -> SentenceSyntax | str:
    """One sentence (text with "[MASK]"s, their best predictions; and its pair, the second segment) -> its
    syntax, or why it cannot be aligned. Pass `parsed` (from parse() over many filled texts) to batch the
    parsing of single sentences."""
    if pair:
        return _pair_syntax(text, pair, fills, tokenizer, attention)
    filled = fill(text, fills)
    parsed = parsed or parse([filled.text])[0]
    token_word = token_words(tokenizer, text, "", [(parsed, filled)], attention.shape[-1])
    if isinstance(token_word, str):
        return token_word
    attends = most_attended(word_attention(attention, token_word, len(parsed.words)))
    return SentenceSyntax(**vars(parsed), filled=filled.text, token_word=token_word.tolist(), attends=attends)


def _pair_syntax(text: str, pair: str, fills: list[str], tokenizer, attention: np.ndarray) -> SentenceSyntax | str:
    """sentence_syntax of a pair: each segment parsed and aligned on its own, then A's words and B's as one list
    (B's indices, heads and character spans shifted past A's, the filled text A and B joined by a space)."""
    filled = fill_pair(text, pair, fills)
    parses = parse([f.text for f in filled])
    token_word = token_words(tokenizer, text, pair, list(zip(parses, filled)), attention.shape[-1])
    if isinstance(token_word, str):
        return token_word
    a, b = parses
    shift = len(filled[0].text) + 1
    joined = Parse(a.words + b.words, a.spans + [[s + shift, e + shift] for s, e in b.spans],
                   a.heads + [h + len(a.words) for h in b.heads], a.relations + b.relations, a.pos + b.pos)
    attends = most_attended(word_attention(attention, token_word, len(joined.words)))
    return SentenceSyntax(**vars(joined), filled=f"{filled[0].text} {filled[1].text}", token_word=token_word.tolist(),
                          attends=attends)


@dataclass
class Pool:
    """Running sums over sentences: enough for every accuracy and baseline, without keeping attention."""
    layers: int
    heads: int
    sentences: int = 0
    relations: list[str] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)  # dependents with each relation
    correct: np.ndarray = None  # int [R, 2, L, H]: right predictions per direction and head
    offsets: list[Counter] = field(default_factory=list)  # per relation: head index - dependent index -> count

    def __post_init__(self):
        if self.correct is None:
            self.correct = np.zeros((0, 2, self.layers, self.heads), dtype=np.int64)

    def _add(self, relation: str, count: int, correct: np.ndarray, offsets: dict) -> None:
        if relation not in self.relations:
            self.relations.append(relation)
            self.counts.append(0)
            self.offsets.append(Counter())
            self.correct = np.concatenate([self.correct, np.zeros((1,) + self.correct.shape[1:], np.int64)])
        r = self.relations.index(relation)
        self.counts[r] += count
        self.correct[r] += correct
        self.offsets[r].update(offsets)

    def add(self, s: SentenceSyntax) -> Pool:
        right = s.right()
        for w, (h, relation) in enumerate(zip(s.heads, s.relations)):
            if h != w:  # the root's head is itself: not an arc
                self._add(relation, 1, right[..., w], {h - w: 1})
        self.sentences += 1
        return self

    def merge(self, other: Pool) -> Pool:
        if (other.layers, other.heads) != (self.layers, self.heads):
            raise ValueError("pools of models with different shapes cannot be merged")
        for relation, n, c, off in zip(other.relations, other.counts, other.correct, other.offsets):
            self._add(relation, n, c, off)
        self.sentences += other.sentences
        return self

    def to_json(self) -> dict:
        return dict(layers=self.layers, heads=self.heads, sentences=self.sentences, relations=self.relations,
                    counts=self.counts, correct=self.correct.tolist(),
                    offsets=[sorted(map(list, o.items())) for o in self.offsets])  # [[offset, count], ...]

    @classmethod
    def from_json(cls, d: dict) -> Pool:
        correct = np.array(d["correct"], dtype=np.int64).reshape(-1, 2, d["layers"], d["heads"])
        return cls(d["layers"], d["heads"], d["sentences"], list(d["relations"]), list(d["counts"]), correct,
                   [Counter({int(o): int(n) for o, n in pairs}) for pairs in d["offsets"]])

    def accuracy(self) -> np.ndarray:
        """float [R, 2, L, H]."""
        return self.correct / np.maximum(np.array(self.counts, dtype=np.float64), 1)[:, None, None, None]

    def baseline(self, r: int) -> tuple[int, float]:
        """The relation's most common offset (ties: the nearer, then the leftward head) and its accuracy."""
        offset, n = min(self.offsets[r].items(), key=lambda kv: (-kv[1], abs(kv[0]), kv[0]))
        return offset, n / self.counts[r]


@dataclass
class RelationRow:
    relation: str
    count: int
    layer: int  # the best head, 1-based
    head: int
    accuracy: float
    direction: str  # DIRECTIONS: the better one for this relation
    baseline_offset: int
    baseline: float
    difference: float  # accuracy - baseline
    too_few: bool  # fewer than MIN_COUNT instances


def table(pool: Pool) -> list[RelationRow]:
    """Clark's table: Clark's relations first, in his order, then the others, most frequent first."""
    order = sorted(range(len(pool.relations)), key=lambda r: (
        KEY_RELATIONS.index(pool.relations[r]) if pool.relations[r] in KEY_RELATIONS else len(KEY_RELATIONS),
        -pool.counts[r], pool.relations[r]))
    acc, rows = pool.accuracy(), []
    for r in order:
        flat = acc[r].reshape(2, -1)
        d = int(flat.max(1).argmax())  # the better direction; a tie keeps dep->head
        best = int(flat[d].argmax())  # a tie keeps the earliest head
        offset, base = pool.baseline(r)
        rows.append(RelationRow(pool.relations[r], pool.counts[r], best // pool.heads + 1, best % pool.heads + 1,
                                float(flat[d, best]), DIRECTIONS[d], offset, base, float(flat[d, best]) - base,
                                pool.counts[r] < MIN_COUNT))
    return rows


def matrix(pool: Pool, rows: list[RelationRow]) -> np.ndarray:
    """float [len(rows), L, H]: each relation's accuracy per head in the direction its row names, so each
    row's maximum is that row's best head."""
    acc = pool.accuracy()
    return np.stack([acc[pool.relations.index(row.relation), DIRECTIONS.index(row.direction)] for row in rows]) \
        if rows else np.zeros((0, pool.layers, pool.heads))


def tag(relation: str, direction: int) -> str:
    return f"{relation}→head" if direction == 0 else f"head→{relation}"


@dataclass
class HeadSyntax:
    layer: int  # 1-based
    head: int
    tags: list[str]  # e.g. "det→head": >= TAG_MARGIN over the baseline on >= TAG_COUNT instances
    best: list[list]  # up to k [tag, accuracy, baseline], furthest above its baseline first (>= MIN_COUNT)


def head_summaries(pool: Pool, k: int = 3) -> list[HeadSyntax]:
    """Each head's syntax tags and best relations, in the order layer 1 head 1, layer 1 head 2, ..."""
    acc = pool.accuracy()
    base = [pool.baseline(r)[1] for r in range(len(pool.relations))]
    out = []
    for l in range(pool.layers):
        for h in range(pool.heads):
            scored = [(acc[r, d, l, h] - base[r], r, d) for r in range(len(pool.relations)) for d in (0, 1)
                      if pool.counts[r] >= MIN_COUNT]
            scored.sort(key=lambda x: -x[0])
            tags = [tag(pool.relations[r], d) for gain, r, d in scored
                    if gain >= TAG_MARGIN - 1e-9 and pool.counts[r] >= TAG_COUNT]
            best = [[tag(pool.relations[r], d), round(float(acc[r, d, l, h]), 4), round(base[r], 4)]
                    for _, r, d in scored[:k]]
            out.append(HeadSyntax(l + 1, h + 1, tags, best))
    return out


