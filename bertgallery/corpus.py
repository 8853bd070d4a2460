"""Stage 4 over many sentences: every head's statistics and syntax over a corpus, for the heads pages.

Corpus sentences get no pages or pictures of their own. They are run through the encoder in padded batches
of similar length (an attention mask keeps the padding out of every real token's attention), and each
sentence's statistics are taken on its own tokens only and added to running sums (heads.Totals,
syntax.Pool): memory does not grow with the corpus.
"""
from __future__ import annotations

import base64
import sys
import time
import zlib
from dataclasses import dataclass, field

import numpy as np

from . import heads, mixing, syntax
from .config import MAX_CHARS, ConfigError, Line

COMPARED = 200  # the first corpus sentences a comparison of models takes (compare.py): their attention is kept
BATCH_TOKENS = 4096  # tokens a forward pass, padding included: the attention stays a few hundred MB


@dataclass
class Counted:
    """What the corpus pass adds to the heads pages."""
    totals: heads.Totals
    pool: syntax.Pool
    skipped: list[str] = field(default_factory=list)  # "file line N" of the lines the model cannot take
    unaligned: int = 0  # sentences the parser and the tokenizer split too differently to count for syntax
    seconds: dict = field(default_factory=dict)  # tokenising, forward pass, statistics, parsing

    def to_json(self) -> dict:
        return {"totals": self.totals.to_json(), "pool": self.pool.to_json(),
                "skipped": self.skipped, "unaligned": self.unaligned}

    @classmethod
    def from_json(cls, data: dict) -> "Counted":
        return cls(heads.Totals.from_json(data["totals"]), syntax.Pool.from_json(data["pool"]), data["skipped"],
                   data["unaligned"])


def batches(lengths: list[int], budget: int, heads: int = 1) -> list[list[int]]:
    """Indices sorted by length, cut into batches whose padded size stays within `budget` tokens, and whose
    attention, batch x heads x tokens², within model.MAX_WEIGHTS (eight 512-token sentences of a 1,536-head
    model would be 13 GB of it)."""
    from .model import MAX_WEIGHTS
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batches, batch = [], []
    for i in order:
        size = len(batch) + 1
        if batch and (size * lengths[i] > budget or size * heads * lengths[i] ** 2 > MAX_WEIGHTS):
            batches.append(batch)
            batch = []
        batch.append(i)
    return batches + ([batch] if batch else [])


def count(loaded, lines: list[Line], progress: bool = True, budget: int = BATCH_TOKENS) -> Counted:
    """Run every line through the encoder in padded batches of similar length; add up each sentence's
    statistics and syntax. Only one batch's tokens, parses and attention are held at a time."""
    return count_and_keep(loaded, lines, 0, progress, budget)[0]


def count_and_keep(loaded, lines: list[Line], first: int, progress: bool = True,
                   budget: int = BATCH_TOKENS) -> tuple[Counted, Kept]:
    """count(), and the 16-bit attention of the first `first` lines (at most COMPARED; those the model accepts)
    from the same pass, as attention() gives it."""
    import torch
    from tqdm import tqdm

    from . import parser
    from .views import quantized
    tok, seconds = loaded.tokenizer, dict.fromkeys(("tokenising", "forward pass", "statistics", "parsing"), 0.0)
    started = time.perf_counter()
    lengths = []  # tokens of each line; -1 for a line too long to tokenise at all
    for chunk in range(0, len(lines), 256):  # a chunk at a time: the lengths are all that is kept
        part = lines[chunk:chunk + 256]
        ids = tok([line.text if len(line.text) <= MAX_CHARS else "" for line in part], return_attention_mask=False,
                  return_token_type_ids=False)["input_ids"]
        lengths += [len(i) if len(line.text) <= MAX_CHARS else -1 for line, i in zip(part, ids)]
    keep = [k for k, n in enumerate(lengths) if 0 < n <= loaded.max_tokens]
    if not keep:
        raise ConfigError(f"the corpus has no line the model accepts: every one is longer than its "
                          f"{loaded.max_tokens} tokens ({lines[0].file} line {lines[0].number}, …)")
    skipped = [f"{lines[k].file} line {lines[k].number}" for k, n in enumerate(lengths)
               if not 0 < n <= loaded.max_tokens]
    seconds["tokenising"] = time.perf_counter() - started
    layers, per_layer = loaded.info.layers, loaded.info.heads
    totals, pool, unaligned = heads.Totals.empty(layers, per_layer), syntax.Pool(layers, per_layer), 0
    special, kept = set(tok.all_special_ids), {}
    device = next(loaded.net.parameters()).device
    by_value = not mixing.reason_unsupported(loaded.net)  # else cls_norm and sep_norm are not applicable
    bar = tqdm(total=len(keep), desc="corpus", unit="sentence", disable=None if progress else True, file=sys.stderr,
               leave=False)
    # the first COMPARED lines batched apart, as attention() batches them, so that their attention is the same
    # to the last bit whichever pass kept it
    split = next((b for b, k in enumerate(keep) if k >= COMPARED), len(keep))
    heads_count = layers * per_layer
    for batch in batches([lengths[k] for k in keep[:split]], budget, heads_count) + \
            [[split + b for b in batch] for batch in batches([lengths[k] for k in keep[split:]], budget, heads_count)]:
        texts = [lines[keep[b]].text for b in batch]
        started = time.perf_counter()
        encoded = tok(texts, padding=True, return_tensors="pt")
        seconds["tokenising"] += time.perf_counter() - started
        started = time.perf_counter()
        parses = parser.parse(texts)
        seconds["parsing"] += time.perf_counter() - started
        started = time.perf_counter()
        with torch.no_grad():
            out = loaded.net.base_model(**{k: v.to(device) for k, v in encoded.items()}, **mixing.FLAGS)
        attention = torch.stack(out.attentions, dim=1).float().cpu().numpy()  # [batch, layers, heads, T, T]
        norms = mixing.value_norms(loaded.net, out.hidden_states, encoded["attention_mask"]) if by_value else \
            [None] * len(texts)
        del out  # the hidden states: the attention, copied, is all that is needed from here
        seconds["forward pass"] += time.perf_counter() - started
        started = time.perf_counter()
        for row, (b, text, parsed, norm) in enumerate(zip(batch, texts, parses, norms)):
            tokens, own = _own(tok, special, encoded, attention, row)
            if keep[b] < first:
                kept[keep[b]] = (tokens, quantized(own))
            totals.add(heads.stored_statistics(heads.sentence(own, tokens, tok.cls_token, tok.sep_token, norms=norm)),
                       len(tokens))
            found = syntax.sentence_syntax(text, [], tok, own, parsed)
            if isinstance(found, str):
                unaligned += 1
            else:
                pool.add(found)
        seconds["statistics"] += time.perf_counter() - started
        bar.update(len(batch))
    bar.close()
    return Counted(totals, pool, skipped, unaligned, seconds), _kept(kept, lines)


def _own(tok, special: set, encoded, attention: np.ndarray, row: int) -> tuple[list[str], np.ndarray]:
    """A batch row's tokens and attention [layers, heads, T, T], its own tokens only: the padding never counts."""
    from .model import _word
    at = [t for t, m in enumerate(encoded["attention_mask"][row].tolist()) if m]
    ids = encoded["input_ids"][row, at].tolist()
    return [tok.convert_ids_to_tokens(i) if i in special else _word(tok, i) for i in ids], \
        attention[row][:, :, at][..., at]


def _kept(found: dict, lines: list[Line]) -> Kept:
    order = sorted(found)
    return Kept(order, [lines[k].text for k in order], [found[k][0] for k in order], [found[k][1] for k in order])


@dataclass
class Kept:
    """One model's attention over the first corpus sentences, at the 16 bits the explorer's data stores
    (views.quantized): what a comparison of models needs of the corpus (COMPARED), kept beside the counts
    so that adding a model runs only that model."""
    lines: list[int]  # each kept sentence's place in the corpus (0-based); a line the model cannot take is left out
    texts: list[str]
    tokens: list[list[str]]
    attention: list[np.ndarray]  # per sentence, uint16 [layers, heads, T, T]; stored zlib-compressed, in base64

    def to_json(self) -> dict:
        return {"lines": self.lines, "texts": self.texts, "tokens": self.tokens,
                "shapes": [list(a.shape) for a in self.attention],
                "attention": [base64.b64encode(zlib.compress(a.astype("<u2").tobytes())).decode("ascii")
                              for a in self.attention]}

    @classmethod
    def from_json(cls, d: dict) -> "Kept":
        attention = [np.frombuffer(zlib.decompress(base64.b64decode(a)), dtype="<u2").reshape(shape)
                     for a, shape in zip(d["attention"], d["shapes"], strict=True)]
        if not len(d["lines"]) == len(d["texts"]) == len(d["tokens"]) == len(attention) or \
                any(a.ndim != 4 or a.shape[-1] != len(t) for a, t in zip(attention, d["tokens"])):
            raise ValueError("the corpus attention's parts do not match")
        return cls(d["lines"], d["texts"], d["tokens"], attention)


def attention(loaded, lines: list[Line], budget: int = BATCH_TOKENS) -> Kept:
    """The 16-bit attention of each of `lines` the model accepts, its own tokens only, in the lines' order: the
    encoder over them in padded batches as count() runs it."""
    import torch

    from .views import quantized
    tok = loaded.tokenizer
    ids = tok([line.text if len(line.text) <= MAX_CHARS else "" for line in lines], return_attention_mask=False,
              return_token_type_ids=False)["input_ids"]
    keep = [k for k, i in enumerate(ids) if len(lines[k].text) <= MAX_CHARS and 0 < len(i) <= loaded.max_tokens]
    special, device, found = set(tok.all_special_ids), next(loaded.net.parameters()).device, {}
    for batch in batches([len(ids[k]) for k in keep], budget, loaded.info.layers * loaded.info.heads):
        encoded = tok([lines[keep[b]].text for b in batch], padding=True, return_tensors="pt")
        with torch.no_grad():
            out = loaded.net.base_model(**{k: v.to(device) for k, v in encoded.items()}, output_attentions=True)
        weights = torch.stack(out.attentions, dim=1).float().cpu().numpy()
        for row, b in enumerate(batch):
            tokens, own = _own(tok, special, encoded, weights, row)
            found[keep[b]] = (tokens, quantized(own))
    return _kept(found, lines)


def skipped_note(skipped: list[str], max_tokens: int) -> str:
    """One line for the terminal: which lines were too long for the model."""
    shown = ", ".join(skipped[:8]) + (f" and {len(skipped) - 8} more" if len(skipped) > 8 else "")
    return f"note: skipped {len(skipped)} corpus line{'s' if len(skipped) != 1 else ''} longer than the model's " \
           f"{max_tokens} tokens: {shown}"
