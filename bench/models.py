"""Several models in one gallery (issue 24): a two-model build against two one-model builds of the same sentences,
compare page included, in CPU seconds (this machine is shared: wall-clock times move with the neighbours), and
the peak memory of loading two models one at a time against one.

    python bench/models.py [--sentences 4] [--hidden 768] [--corpus 200]

Two random BERT-base-shaped models (12 layers x 12 heads; hidden 768 by default: BERT-base's 110 million
weights each, so that memory means something) with bert-base-uncased's tokenizer. Each build is a fresh
`python generate.py` process into an empty folder; its CPU seconds and peak resident memory are those of the
process and every process it waited for (its drawing workers), from wait4(2). With --corpus N, every build has
the first N lines of corpus.txt as its corpus (the compare page's D takes its first corpus.COMPARED); the
divergence of one pair is then timed over the gallery's sentences and the corpus's apart, from the attention the
site stores, and so is one model's pass over the corpus sentences D takes (which only a gallery of several
models makes).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = ["The cat sat on the [MASK] and looked around.", "I went to the [MASK] to buy some milk.",
             "She drank a cup of [MASK] with her breakfast.", "The capital of France is [MASK].",
             "He put on his [MASK] because his feet were cold.", "The keys to the cabinet [MASK] on the table."]


def make_model(folder: Path, seed: int, hidden: int) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    sys.path.insert(0, str(ROOT))
    from bertgallery import offline
    torch.manual_seed(seed)
    BertForMaskedLM(BertConfig(hidden_size=hidden, intermediate_size=4 * hidden)).save_pretrained(folder)
    AutoTokenizer.from_pretrained(offline.encoder_dir()).save_pretrained(folder)
    return folder


def timed_build(cfg: Path, out: Path) -> tuple[float, float, float]:
    """(CPU seconds, peak resident MB, wall seconds) of one build in a process of its own."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, str(ROOT / "generate.py"), str(cfg), "--out", str(out), "--quiet",
                              "--no-fallback"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=dict(os.environ, HF_HUB_OFFLINE="1"))
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if status:
        raise SystemExit(f"the build of {cfg} failed: {child.stderr.read().decode()}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--corpus", type=int, default=200, help="lines of corpus.txt as the corpus (0: none)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        models = [make_model(tmp / name, seed, args.hidden) for seed, name in enumerate(("model-a", "model-b"))]
        lines = [f"  - {json.dumps(t)}" for t in SENTENCES[:args.sentences]]
        corpus = ""
        if args.corpus:
            texts = [t for t in (ROOT / "corpus.txt").read_text().splitlines() if t.strip() and not t.startswith("#")]
            (tmp / "corpus.txt").write_text("\n".join(texts[:args.corpus]) + "\n")
            corpus = "corpus: corpus.txt\n"
        runs = {}
        for name, chosen in (("a", models[:1]), ("b", models[1:]), ("a+b", models)):
            cfg = tmp / f"{name}.yaml"
            cfg.write_text(f"models: {json.dumps([str(m) for m in chosen])}\n{corpus}sentences:\n" + "\n".join(lines)
                           + "\n")
            runs[name] = timed_build(cfg, tmp / f"site-{name}")
        (cpu_a, mem_a, _), (cpu_b, mem_b, _), (cpu_ab, mem_ab, _) = runs["a"], runs["b"], runs["a+b"]
        print(f"{args.sentences} sentences and {args.corpus} corpus sentences, two random 12 x 12-head models of "
              f"hidden size {args.hidden}:")
        for name, (cpu, mem, wall) in runs.items():
            print(f"  {name:>4}: {cpu:6.1f} CPU s, peak {mem:6.0f} MB resident, {wall:6.1f} s wall")
        print(f"two-model build / (one-model a + one-model b), CPU seconds: {cpu_ab / (cpu_a + cpu_b):.2f} "
              "(target: at most 1, the compare page included)")
        print(f"peak memory, two models loaded one at a time / one model: {mem_ab / max(mem_a, mem_b):.2f}")
        # the compare page alone: the pair's divergence from the stored attention, in this process
        sys.path.insert(0, str(ROOT))
        from bertgallery import compare, corpus as corpus_pass, model, names, views
        from bertgallery.config import Line
        site = tmp / "site-a+b"
        pair = compare.Pair(["a", "b"], [[12, 12], [12, 12]])
        started = time.process_time()
        for sentence in sorted(p for p in site.iterdir() if (p / "model-a" / names.DATA).is_file()):
            sides = [compare.Side(json.loads((sentence / m / names.DATA).read_text())["tokens"],
                                  views.read_view((sentence / m / names.VIEW_DATA).read_text())) for m in
                     ("model-a", "model-b")]
            pair.add(*sides)
        spent = time.process_time() - started
        print(f"the compare page's divergence, one pair: {spent:.2f} CPU s for the gallery's {pair.sentences} sentences "
              f"({spent / pair.sentences * 1000:.0f} ms a sentence of {len(sides[0].tokens)}-ish tokens)")
        if args.corpus:
            kept = [corpus_pass.Kept.from_json(json.loads((site / "heads" / m / names.CORPUS_ATTENTION).read_text()))
                    for m in ("model-a", "model-b")]
            pair = compare.Pair(["a", "b"], [[12, 12], [12, 12]])
            started = time.process_time()
            for tokens_a, x, tokens_b, y in zip(kept[0].tokens, kept[0].attention, kept[1].tokens, kept[1].attention):
                pair.add(compare.Side(tokens_a, x), compare.Side(tokens_b, y), corpus=True)
            spent = time.process_time() - started
            tokens = sum(map(len, kept[0].tokens)) / max(1, len(kept[0].tokens))
            print(f"  and {spent:.2f} CPU s for its corpus's {pair.corpus} ({spent / max(1, pair.corpus) * 1000:.0f} ms "
                  f"a sentence of {tokens:.0f} tokens on average)")
            loaded = model.load(str(models[0]), fallback=False)
            texts = (tmp / "corpus.txt").read_text().splitlines()[:corpus_pass.COMPARED]
            started = time.process_time()
            corpus_pass.attention(loaded, [Line(t, "corpus.txt", k + 1) for k, t in enumerate(texts)])
            spent = time.process_time() - started
            size = sum((site / "heads" / m / names.CORPUS_ATTENTION).stat().st_size for m in ("model-a", "model-b")) / 2
            print(f"each model's pass over the {len(texts)} corpus sentences D takes (several models only): "
                  f"{spent:.1f} CPU s; their stored attention, {size / 1e6:.1f} MB a model")


if __name__ == "__main__":
    main()
