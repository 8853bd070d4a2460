"""What a corpus adds to a build: python bench/corpus.py [--sentences 1000]

On a BERT-base-shaped model (12 layers x 12 heads, random weights: the speed does not depend on them) and
the shipped corpus.txt (everyday sentences of about 12 tokens), in this process:
1. the corpus pass (corpus.count: padded batches, statistics as running sums, parsing): seconds, sentences
   per second, the split between tokenising, the forward pass, statistics and parsing, and the process's peak
   memory (targets: 1,000 sentences in at most 60 s, at most 2 GB);
2. the same sentences one at a time through the gallery's per-sentence path (model.predict, head statistics,
   syntax; no pictures) on the first --one-at-a-time of them, and the ratio of the two rates.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bertgallery import config, corpus, heads, model, parser, syntax  # noqa: E402
from bench import make_model  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=1000)
    ap.add_argument("--one-at-a-time", type=int, default=100)
    args = ap.parse_args()
    lines = config.read_corpus(ROOT / "corpus.txt", "corpus.txt")
    lines = (lines * (args.sentences // len(lines) + 1))[:args.sentences]
    with tempfile.TemporaryDirectory() as tmp:
        loaded = model.load(str(make_model(Path(tmp) / "model")), fallback=False, device="cpu")
        started = time.perf_counter()
        parser.load_parser()  # once per build, with spaCy's import
        load = time.perf_counter() - started
        started = time.perf_counter()
        counted = corpus.count(loaded, lines, progress=False)
        batched = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        tokens = counted.totals.tokens
        print(f"corpus pass, BERT-base shape: {len(lines)} sentences ({tokens / len(lines):.1f} tokens each) in "
              f"{batched:.1f} s, {len(lines) / batched:.0f} sentences/s; peak memory of the process {peak:.0f} MB")
        print("  " + ", ".join(f"{k} {v:.1f} s" for k, v in counted.seconds.items()))
        tok = loaded.tokenizer
        few = lines[:args.one_at_a_time]
        started = time.perf_counter()
        for line in few:
            run = model.predict(loaded, line.text, top_k=1)
            heads.stored_statistics(heads.sentence(run.attention, run.tokens, tok.cls_token, tok.sep_token))
            syntax.sentence_syntax(line.text, [], tok, run.attention)
        single = (time.perf_counter() - started) / len(few)
        print(f"one at a time (the gallery's path without pictures): {1 / single:.0f} sentences/s; "
              f"the corpus pass is {single * len(lines) / batched:.1f}x faster")
        print(f"loading the parser (spaCy imported): {load:.1f} s, once per build")


if __name__ == "__main__":
    main()
