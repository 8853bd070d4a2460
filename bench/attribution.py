"""What head importance and attention rollout add to a sentence's build: python bench/attribution.py

On a BERT-base-shaped model (12 layers x 12 heads, random weights: the speed does not depend on them) and
12-token sentences with one [MASK], in this process, per sentence after a warm-up:
1. the build's work for a sentence without them: the forward pass, 144 head PNGs drawn by render.Workers,
   the overview;
2. the same with attribution.explain (importance by gradient, then by ablation) and the rollout picture,
   in the order build.py runs them; what each adds, as the median of each sentence's own ratio.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bertgallery import attribution, model, plots, render  # noqa: E402
from bench import WORDS, make_model  # noqa: E402


def sentence(i: int) -> str:
    """Ten words, one of them [MASK]: 12 tokens with [CLS] and [SEP] (every word here is one WordPiece)."""
    words = [WORDS[(i * 7 + j) % len(WORDS)] for j in range(10)]
    words[5] = "[MASK]"
    return " ".join(words)


def one_sentence(loaded, workers, text: str, method: str | None) -> float:
    start = time.perf_counter()
    run = model.predict(loaded, text, top_k=5)
    if method:
        attribution.explain(loaded.net, run, method)
    pending = workers.heads(run.attention, run.tokens, "viridis")
    render.render_overview(run.attention, "viridis")
    if method:
        plots.render_rollout([m.rollout for m in run.masks], run.tokens, ["The mask"], "viridis")
    assert len(pending.get()) == 144
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, render.Workers() as workers:
        loaded = model.load(str(make_model(Path(tmp) / "model")), fallback=False)
        times = {None: [], "gradient": [], "ablation": []}
        for i in range(args.sentences + 1):  # sentence 0 warms up fonts, workers and torch
            for method in times:
                took = one_sentence(loaded, workers, sentence(i), method)
                if i:
                    times[method].append(took)
    base = times[None]
    print(f"BERT-base shape, 12-token sentences, {args.sentences} sentences, {workers.processes} render workers")
    print(f"without importance and rollout: median {statistics.median(base) * 1000:.0f} ms a sentence")
    for method in ("gradient", "ablation"):
        ratios = [t / b - 1 for t, b in zip(times[method], base)]
        print(f"with importance ({method}) and rollout: median {statistics.median(times[method]) * 1000:.0f} ms, "
              f"+{statistics.median(ratios):.0%} (target for gradient: at most +30 %)")


if __name__ == "__main__":
    main()
