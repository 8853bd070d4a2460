"""Build-speed benchmark: python bench/bench.py [--sentences 100]

Prints, on this machine and in this one process:
1. ms per head PNG for 12/24/48-token sentences: the naive way (a new matplotlib figure per head, imshow,
   tick labels, colour bar, tight_layout, savefig) and ours (render.Workers drawing 144 heads with the
   build's worker processes), their ratio, and KB per head PNG;
2. cold, no-op and page-only (a title changed) build times of a 4-sentence site with a BERT-base-shaped model
   (random weights: the speed does not depend on the weights), and bytes per sentence;
3. with --sentences N, a cold build of N sentences, its time and peak memory per process.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bertgallery import output, render  # noqa: E402

WORDS = ("the quick brown fox jumps over a lazy dog while my friend reads old books near "
         "green hills and rivers under bright summer skies every single day").split()


def naive_head(attn, tokens, layer, head, path):
    """What a person writes first: everything from scratch for every head."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(6, 6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    im = ax.imshow(attn, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(tokens)), tokens, rotation=90)
    ax.set_yticks(range(len(tokens)), tokens)
    fig.colorbar(im)
    ax.set_title(f"Layer {layer} · Head {head}")
    fig.tight_layout()
    fig.savefig(path)


def tokens(n):
    return ["[CLS]"] + [WORDS[i % len(WORDS)] for i in range(n - 2)] + ["[SEP]"]


def attention(n, seed=0):
    a = np.random.default_rng(seed).random((12, 12, n, n)).astype(np.float32) ** 4
    return a / a.sum(-1, keepdims=True)


def bench_heads(workers, naive_sample=24):
    print("tokens | naive ms/head | ours ms/head (144 heads) | speed-up | KB/head")
    workers.heads(attention(12)[:1, :4], tokens(12), "viridis").get()  # warm up: fonts load once per build
    for n in (12, 24, 48):
        a, toks = attention(n), tokens(n)
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            for k in range(naive_sample):
                naive_head(a[k // 12, k % 12], toks, k // 12 + 1, k % 12 + 1, os.path.join(d, f"{k}.png"))
            naive = (time.perf_counter() - t) / naive_sample
            t = time.perf_counter()
            written = workers.heads(a, toks, "viridis").get()
            ours = (time.perf_counter() - t) / len(written)
            kb = np.mean([len(png) for _, png in written]) / 1024
        print(f"{n:6} | {naive * 1000:13.1f} | {ours * 1000:24.2f} | {naive / ours:7.1f}x | {kb:7.1f}")


def make_model(folder: Path) -> Path:
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM
    from bertgallery import offline
    import torch
    torch.manual_seed(0)
    BertForMaskedLM(BertConfig()).save_pretrained(folder)
    AutoTokenizer.from_pretrained(offline.encoder_dir()).save_pretrained(folder)
    return folder


def sentences_yaml(path: Path, model: Path, n: int, tokens_per: int = 12) -> Path:
    lines = [f"model: {model}", "sentences:"]
    for i in range(n):
        words = [WORDS[(i * 7 + j) % len(WORDS)] for j in range(tokens_per - 4)]  # + "number i", [CLS], [SEP]
        words[len(words) // 2] = "[MASK]"
        lines.append(f"  - id: s{i}\n    text: {' '.join(words)} number {i}")
    path.write_text("\n".join(lines) + "\n")
    return path


def timed_build(cfg: Path, out: Path, *extra) -> tuple[float, float]:
    """(seconds, peak resident MB of the build process) of one generate.py run."""
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(ROOT / "generate.py"), str(cfg), "--out", str(out), "--quiet",
                             *extra], stdout=subprocess.DEVNULL, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    _, status, usage = os.wait4(proc.pid, 0)
    if status:
        sys.exit(f"build failed: {cfg}")
    return time.perf_counter() - t, usage.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=0, help="also time a cold build of this many sentences")
    args = ap.parse_args()
    with render.Workers() as workers:
        bench_heads(workers)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = make_model(tmp / "model")
        cfg = sentences_yaml(tmp / "four.yaml", model, 4)
        cold, peak = timed_build(cfg, tmp / "site")
        noop, _ = timed_build(cfg, tmp / "site")
        cfg.write_text(cfg.read_text().replace("id: s0", "id: s0\n    title: A new title"))
        pages, _ = timed_build(cfg, tmp / "site")
        print(f"4-sentence site, BERT-base shape (144 heads): cold build {cold:.1f} s (peak {peak:.0f} MB), "
              f"no-op rebuild {noop:.2f} s ({noop / cold:.0%} of cold), a title changed {pages:.2f} s "
              f"({pages / cold:.0%} of cold)")
        # bytes a sentence adds to the whole site (its folder and its rows on the 144 head pages), measured
        # as the difference between a 4- and a 12-sentence site
        cfg12 = sentences_yaml(tmp / "twelve.yaml", model, 12)
        timed_build(cfg12, tmp / "site12")
        four, twelve = output.folder_bytes(tmp / "site"), output.folder_bytes(tmp / "site12")
        per = (twelve - four) / 8
        folder = tmp / "site" / "s0"
        parts = {"head PNGs": sum(p.stat().st_size for p in folder.glob("Attention_*.png"))}
        parts.update((name, (folder / name).stat().st_size) for name in ("index.html", "data.json", "overview.png",
                                                                          "view-data.js"))
        parts["head pages' rows"] = per - output.folder_bytes(folder)
        print(f"{per / 1024:.0f} KB per 12-token sentence; a 1,000-sentence site: "
              f"{(four + 996 * per) / 1e9:.2f} GB. Of a sentence: "
              + ", ".join(f"{name} {size / 1024:.0f} KB" for name, size in parts.items()))
        if args.sentences:
            cfg = sentences_yaml(tmp / "many.yaml", model, args.sentences)
            secs, peak = timed_build(cfg, tmp / "many")
            print(f"{args.sentences}-sentence cold build: {secs:.1f} s, peak memory {peak:.0f} MB")


if __name__ == "__main__":
    main()
