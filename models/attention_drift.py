"""How far the shipped artefact's attention is from the original all-MiniLM-L6-v2 encoder's.

    python models/attention_drift.py                      # the shipped models/offline-minilm-mlm.safetensors
    python models/attention_drift.py --artefact PATH      # another artefact written by train_offline.py

Fine-tuning for masked words changed the whole encoder, so the gallery's attention pictures are not
MiniLM's own. This script measures by how much, and prints a markdown table for the README.

Sentences: the 30 of models/everyday.tsv, then the 8 of sentences.yaml, each with [MASK] written as the
tokenizer's mask token, one sentence per forward pass, as the gallery feeds them. Three sentences are in
both files (milk, cold feet, the capital of France) and are counted once: 35 distinct sentences.

Models: `offline.base_model()` (the pip-installed encoder; its fresh MLM head does not touch attention) and
`offline.load()` (the encoder with the artefact applied), both with attn_implementation="eager" and
output_attentions=True, in float32.

Per layer, over every row of attention (every head, every token of every sentence; all rows weigh the same):
- argmax unchanged: the share of rows whose most-attended token is the same in both models;
- mean JS divergence: the mean Jensen-Shannon divergence between the two rows, in nats,
  JS(P, Q) = 1/2 KL(P || M) + 1/2 KL(Q || M), M = (P + Q) / 2, with 0 ln 0 = 0; 0 for identical rows,
  ln 2 = 0.693 for rows with no token in common.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
LN2 = math.log(2)


# ---------------------------------------------------------------- the computation: numpy in, numbers out
def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence in nats between matching rows (the last axis) of p and q.

    Rows are rescaled to sum to 1 in float64 first (float32 softmax rows are off by ~1e-7), so the result
    lies in [0, ln 2]."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"shapes differ: {p.shape} and {q.shape}")
    if (p < 0).any() or (q < 0).any():
        raise ValueError("attention rows must not be negative")
    if (p.sum(axis=-1) <= 0).any() or (q.sum(axis=-1) <= 0).any():
        raise ValueError("an attention row sums to 0")
    p = p / p.sum(axis=-1, keepdims=True)
    q = q / q.sum(axis=-1, keepdims=True)
    m = (p + q) / 2

    def kl_to_m(x):  # sum x ln(x / m) over x > 0 (where x > 0, m > 0 too); 0 ln 0 = 0
        pos = x > 0
        return np.where(pos, x * np.log(np.where(pos, x, 1) / np.where(pos, m, 1)), 0).sum(axis=-1)

    return np.clip((kl_to_m(p) + kl_to_m(q)) / 2, 0, LN2)


@dataclass
class Drift:
    argmax_unchanged: list[float]  # per layer, share of rows
    mean_js: list[float]  # per layer, nats
    overall_argmax_unchanged: float
    overall_mean_js: float
    rows_per_layer: int  # heads x tokens, summed over sentences
    tokens: int  # over all sentences


def drift(base: Sequence[np.ndarray], tuned: Sequence[np.ndarray]) -> Drift:
    """Compare two models' attention on the same sentences: one [layers, heads, T, T] array per sentence
    (rows = attending token; T may differ between sentences), in the same order for both models."""
    if len(base) != len(tuned) or not len(base):
        raise ValueError("need the same, non-zero number of sentences for both models")
    layers = np.asarray(base[0]).shape[0]
    same = np.zeros(layers)
    js = np.zeros(layers)
    rows = tokens = 0
    for a, b in zip(base, tuned):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.ndim != 4 or a.shape[0] != layers or a.shape[2] != a.shape[3]:
            raise ValueError(f"attention shapes {a.shape} and {b.shape}: expected equal [layers, heads, T, T]")
        same += (a.argmax(-1) == b.argmax(-1)).reshape(layers, -1).sum(axis=1)
        js += js_divergence(a, b).reshape(layers, -1).sum(axis=1)
        rows += a.shape[1] * a.shape[2]
        tokens += a.shape[2]
    return Drift(argmax_unchanged=(same / rows).tolist(), mean_js=(js / rows).tolist(),
                 overall_argmax_unchanged=float(same.sum() / (rows * layers)),
                 overall_mean_js=float(js.sum() / (rows * layers)), rows_per_layer=rows,
                 tokens=tokens)


def table(d: Drift) -> str:
    """The README's markdown table."""
    lines = ["| layer | argmax unchanged | mean JS divergence (nats) |", "|---|---|---|"]
    for i, (s, j) in enumerate(zip(d.argmax_unchanged, d.mean_js), start=1):
        lines.append(f"| {i} | {s * 100:.1f} % | {j:.3f} |")
    lines.append(f"| all | {d.overall_argmax_unchanged * 100:.1f} % | {d.overall_mean_js:.3f} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- the models and sentences
def sentences() -> list[str]:
    """models/everyday.tsv's 30, then sentences.yaml's 8, each once, with [MASK] as in the files."""
    sys.path.insert(0, str(ROOT))
    from bertgallery import config, offline

    texts = [text for text, _ in offline.everyday_sentences()]
    texts += [s.text for s in config.load(ROOT / "sentences.yaml").sentences]
    return list(dict.fromkeys(texts))


def attentions(net, tokenizer, texts: list[str]) -> list[np.ndarray]:
    import torch

    from bertgallery.config import MASK
    out = []
    with torch.no_grad():
        for text in texts:
            enc = tokenizer(text.replace(MASK, tokenizer.mask_token), return_tensors="pt")
            att = net(**enc, output_attentions=True).attentions
            out.append(torch.stack([a[0] for a in att]).float().numpy())
    return out


def measure(artefact: Path | None = None) -> tuple[Drift, list[str]]:
    sys.path.insert(0, str(ROOT))
    from bertgallery import model, offline

    model.quiet()
    tokenizer, tuned = offline.load(artefact or offline.ARTEFACT)  # eager attention, eval mode
    base = offline.base_model(attn_implementation="eager").eval()
    texts = sentences()
    return drift(attentions(base, tokenizer, texts), attentions(tuned, tokenizer, texts)), texts


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--artefact", type=Path, default=None,
                    help="the artefact to compare with the bare encoder (default: the shipped one)")
    args = ap.parse_args(argv)
    d, texts = measure(args.artefact)
    print(table(d))
    print()
    print(f"{len(texts)} sentences, {d.tokens} tokens: {d.rows_per_layer} attention rows in each of "
          f"{len(d.mean_js)} layers ({d.rows_per_layer // d.tokens} heads x {d.tokens} tokens)")
    print(f"overall: argmax unchanged in {d.overall_argmax_unchanged * 100:.1f} % of rows, "
          f"mean JS divergence {d.overall_mean_js:.3f} nats (ln 2 = {LN2:.3f} would be no overlap at all)")


if __name__ == "__main__":
    main()
