"""What running sentences through the model in groups saves: python bench/batching.py

model.run over a BERT-base-shaped model (`BertConfig()`, random weights: the speed does not depend on them), with
the gradient importance (the build's default), in this process: the CPU time (time.process_time, so other work
on a shared machine counts less than in wall time) of a sentence run alone against the same sentences in
groups of 2, 4, 8 and 16 (padded to the longest), taken in turn in each round; the median over rounds of each
group size's CPU seconds a sentence and of its ratio to the same round's one-at-a-time. Then sentences of
mixed lengths (6 to 30 tokens) and masks (1 or 2) in groups of model.BATCH, as they come and as
model.groups sorts them.
Set OMP_NUM_THREADS to compare torch's thread counts. With --memory 8x64 (sentences x tokens): only the peak
memory (ru_maxrss) one such group adds to the process after the model is loaded; run it in a fresh process for
each shape.
"""
from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bertgallery import model  # noqa: E402
from bench import WORDS, make_model  # noqa: E402

SIZES = (1, 2, 4, 8, 16)


def sentence(i: int, words: int = 10, masks: int = 1) -> str:
    """`words` words (each one WordPiece), the middle ones [MASK]: words + 2 tokens."""
    out = [WORDS[(i * 7 + j) % len(WORDS)] for j in range(words)]
    for k in range(masks):
        out[words // 2 - k] = "[MASK]"
    return " ".join(out)


def cpu(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def in_groups(loaded, encoded: list, size: int, importance: str, order: list[list[int]] | None = None) -> None:
    order = order or [list(range(k, min(len(encoded), k + size))) for k in range(0, len(encoded), size)]
    for group in order:
        runs = model.run(loaded, [encoded[i] for i in group], 5, importance)
        assert len(runs) == len(group)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sentences", type=int, default=16, help="sentences a round (a multiple of 16)")
    ap.add_argument("--importance", default="gradient", choices=("gradient", ""))
    ap.add_argument("--memory", default="", help="SENTENCESxTOKENS: the peak memory of one such group only")
    args = ap.parse_args()
    import torch
    with tempfile.TemporaryDirectory() as tmp:
        loaded = model.load(str(make_model(Path(tmp) / "model")), fallback=False)
    if args.memory:
        count, tokens = map(int, args.memory.split("x"))
        group = [model.encoded(loaded, sentence(i, tokens - 2)) for i in range(count)]
        model.run(loaded, [model.encoded(loaded, sentence(0, 4))], 5, args.importance)  # torch's first-run buffers
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        model.run(loaded, group, 5, args.importance)
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print(f"a group of {count} sentences of {tokens} tokens: peak memory +{grown / 1024:.0f} MB")
        return
    print(f"BERT-base shape, 12-token one-mask sentences, importance {args.importance or 'none'}, "
          f"{torch.get_num_threads()} torch threads (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')}), "
          f"{args.rounds} rounds of {args.sentences}")
    encoded = [model.encoded(loaded, sentence(i)) for i in range(args.sentences)]
    in_groups(loaded, encoded[:4], 2, args.importance)  # warm-up
    seconds = {n: [] for n in SIZES}
    for r in range(args.rounds):
        for n in (SIZES if r % 2 else SIZES[::-1]):  # which goes first alternates
            seconds[n].append(cpu(lambda: in_groups(loaded, encoded, n, args.importance)) / args.sentences)
    for n in SIZES:
        ratio = statistics.median(a / b for a, b in zip(seconds[1], seconds[n]))
        print(f"  groups of {n:2}: {statistics.median(seconds[n]) * 1000:6.0f} CPU ms a sentence, "
              f"{ratio:4.2f}x less than one at a time")
    rng = random.Random(0)
    mixed = [model.encoded(loaded, sentence(i, rng.randrange(4, 29), rng.choice((1, 1, 2))))
             for i in range(args.sentences)]
    lengths = [len(e.ids) for e in mixed]
    times = {"one at a time": [], "as they come": [], "by masks, then length (model.groups)": []}
    orders = {"one at a time": [[i] for i in range(len(mixed))],
              "as they come": [list(range(k, min(len(mixed), k + model.BATCH)))
                               for k in range(0, len(mixed), model.BATCH)],
              "by masks, then length (model.groups)": model.groups(lengths, [len(e.positions) for e in mixed],
                                                                    loaded.info.layers * loaded.info.heads)}
    for r in range(args.rounds):
        for name in (times if r % 2 else list(times)[::-1]):
            times[name].append(cpu(lambda: in_groups(loaded, mixed, 0, args.importance, orders[name])) / len(mixed))
    print(f"mixed lengths ({min(lengths)}-{max(lengths)} tokens, 1 or 2 masks), groups of at most {model.BATCH}:")
    for name, took in times.items():
        ratio = statistics.median(a / b for a, b in zip(times["one at a time"], took))
        print(f"  {name}: {statistics.median(took) * 1000:.0f} CPU ms a sentence, {ratio:.2f}x less than one at a time")


if __name__ == "__main__":
    main()
