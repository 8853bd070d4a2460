"""What head importance and attention rollout add to a sentence's build time: python bench/attribution.py

On a BERT-base-shaped model (12 layers x 12 heads, random weights: the speed does not depend on them) and
12-token sentences with one [MASK], prints per sentence, averaged over --sentences after a warm-up:
1. today's pipeline, cold, in this process: model.analyse, the 144 head PNGs drawn by build._pool()'s
   workers, and the overview picture (the expensive parts of build._sentence);
2. what importance (gradient, then ablation) plus rollout add when run after it, and the ratio;
3. the pipeline with importance run in the main process while the workers draw, as build._sentence
   could do it: the wall time that would really be added.
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
from bertgallery import build, render  # noqa: E402

WORDS = ("the quick brown fox jumps over a lazy dog while my friend reads old books near "
         "green hills and rivers under bright summer skies every single day").split()


def sentence(i: int) -> str:
    """Ten words, one of them [MASK]: 12 tokens with [CLS] and [SEP] (every word here is one WordPiece)."""
    words = [WORDS[(i * 7 + j) % len(WORDS)] for j in range(10)]
    words[5] = "[MASK]"
    return " ".join(words)


def make_model(folder: Path) -> Path:
    """BertConfig() defaults, saved with bert-base-uncased's tokenizer as tests/conftest.save_bert does."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    from bertgallery import offline
    torch.manual_seed(0)
    BertForMaskedLM(BertConfig()).save_pretrained(folder)
    AutoTokenizer.from_pretrained(offline.encoder_dir()).save_pretrained(folder)
    return folder


def pipeline(loaded, text: str, folder: Path, pool, during=None):
    """build._sentence's expensive parts; `during(result)` runs while the workers draw the heads."""
    from bertgallery.model import analyse
    result = analyse(loaded, text, top_k=5)
    done = render.render_heads_async(result.attention, result.tokens, "viridis", str(folder), pool)
    render.render_overview(result.attention, "viridis")
    if during:
        during(result)
    assert len(done()) == 144
    return result


def attribute(loaded, text: str, result, method: str):
    """Importance for the top-1 word at each mask, and the rollout rows of the masks."""
    from bertgallery import attribution
    from bertgallery.config import MASK
    tok = loaded.tokenizer
    inputs = tok(text.replace(MASK, tok.mask_token), return_tensors="pt")
    positions = [m.index for m in result.masks]
    scores = attribution.head_importance(loaded.net, inputs, positions, method=method)
    rows = attribution.rollout(result.attention)[:, positions]
    return scores, rows


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=10)
    args = ap.parse_args()
    pool = build._pool()  # forked before torch starts its threads, as the build does
    from bertgallery import model
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        loaded = model.load(str(make_model(tmp / "model")), fallback=False)
        n_tokens = len(loaded.tokenizer(sentence(0))["input_ids"])
        print(f"BERT-base shape ({loaded.info.layers} x {loaded.info.heads} heads), {n_tokens}-token sentences, "
              f"1 mask, {args.sentences} sentences after a warm-up, {pool._processes if pool else 0} render workers, "
              f"load average {load()}")
        times = {k: [] for k in ("pipeline", "gradient", "ablation", "gradient overlapped", "ablation overlapped")}
        for i in range(args.sentences + 1):  # sentence 0 warms up fonts, workers and torch
            text = sentence(i)
            folder = tmp / f"s{i}"
            folder.mkdir()
            box = {}
            t_pipe = timed(lambda: box.update(result=pipeline(loaded, text, folder, pool)))
            t_grad = timed(lambda: attribute(loaded, text, box["result"], "gradient"))
            t_abl = timed(lambda: attribute(loaded, text, box["result"], "ablation"))
            over = {}
            for method in ("gradient", "ablation"):
                (folder / method).mkdir()
                over[method] = timed(lambda: pipeline(loaded, text, folder / method, pool,
                                                      lambda r: attribute(loaded, text, r, method)))
            if i:
                for key, value in zip(times, (t_pipe, t_grad, t_abl, over["gradient"], over["ablation"])):
                    times[key].append(value)
        if pool is not None:
            pool.close()
            pool.join()
    # medians, and the median of each sentence's own ratio: the pieces of a sentence run back to back, so
    # a burst of load from other processes on a shared machine moves a ratio less than a mean
    base = times["pipeline"]
    print(f"today's pipeline (analyse + 144 head PNGs + overview): median {statistics.median(base) * 1000:.0f} ms "
          f"a sentence (fastest {min(base) * 1000:.0f}); load average {load()}")
    for method in ("gradient", "ablation"):
        add, over = times[method], times[f"{method} overlapped"]
        print(f"importance ({method}) + rollout: +{statistics.median(add) * 1000:.0f} ms after it "
              f"(fastest {min(add) * 1000:.0f}) = +{statistics.median([a / b for a, b in zip(add, base)]):.0%}; "
              f"run while the workers draw: +{statistics.median([o - b for o, b in zip(over, base)]) * 1000:.0f} ms "
              f"= +{statistics.median([o / b - 1 for o, b in zip(over, base)]):.0%}")


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"

if __name__ == "__main__":
    main()
