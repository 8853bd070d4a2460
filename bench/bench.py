"""Build-speed benchmark: python bench/bench.py [--sentences 100] [--flat 10,100,1000] [--small] [--device cpu]

Every figure is printed beside a baseline measured in this same run, as a ratio, with CPU seconds (the build
process and its workers together) where a shared machine makes wall time unreliable:
1. ms per head PNG at 12/24/48 tokens: the naive way (`naive_head`: a new matplotlib figure per head) in one
   process against ours (render.Workers drawing 144 heads with the build's workers), for the first sentence of
   a layout (every title drawn) and the next (titles kept); KB per head; and, drawn in the bench's own
   process, the CPU time of one worker's share of the heads over all 144 (what a head's wall time is on cores
   of its own);
2. whole processes (`generate.py`): a 4-sentence BERT-base-shaped site (random weights: the speed does not
   depend on them) built ours and the naive way (the same build, with every head drawn by `naive_head` in the
   build's process); the cost of an added sentence, ours from 4 to 40 sentences against naive's from 1 to 4;
   a no-op rebuild against the cold build (and whether it imported torch); a changed title; bytes per sentence;
3. with --sentences N: an N-sentence build, its time against the 4-sentence one and its peak memory, the build
   and its workers together (the sum of their proportional set sizes, sampled every 50 ms);
4. with --flat 10,100,1000: the cost per sentence at each size (--small: a 2-layer model of BERT-base's width,
   so that 1,000 sentences take minutes; the per-sentence cost is then the model's share smaller).
"""
from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import threading
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
    print(f"1. head PNGs, drawn and encoded: wall ms a head of a 144-head sentence, ours with the build's "
          f"{workers.processes} workers (target: at most 2 ms), the naive way in one process\n"
          "   tokens | naive ms/head | ours ms/head, first sentence of its layout (titles drawn) / next | "
          "speed-up first / next | KB/head | in this process, CPU ms a head of one worker's share, first / next")
    for n in (12, 24, 48):
        toks = tokens(n)
        with tempfile.TemporaryDirectory() as d:
            a = attention(n)
            t = time.perf_counter()
            for k in range(naive_sample):
                naive_head(a[k // 12, k % 12], toks, k // 12 + 1, k % 12 + 1, os.path.join(d, f"{k}.png"))
            naive = (time.perf_counter() - t) / naive_sample
        ours = []
        for seed in (1, 2):  # the same tokens: the second sentence finds its titles kept
            t = time.perf_counter()
            written = workers.heads(attention(n, seed), toks, "viridis").get()
            ours.append((time.perf_counter() - t) / len(written))
        kb = np.mean([len(png) for _, png in written]) / 1024
        # what the wall time is made of, without the other sessions' load on the shared cores: one worker's share
        # of the heads drawn here, its CPU time over all 144 heads (with the workers on cores of their own, its
        # wall time a head)
        share = [(l, h) for l in range(1, 13) for h in range(1, 13)][::max(1, workers.processes)]
        cpu = []
        for seed in (1, 2):
            t = time.process_time()
            render._draw_heads((attention(n, seed), toks, "viridis", share, None))
            cpu.append((time.process_time() - t) / 144)
        print(f"   {n:2} tokens | {naive * 1000:13.1f} | {ours[0] * 1000:8.2f} / {ours[1] * 1000:5.2f} | "
              f"{naive / ours[0]:6.1f}x / {naive / ours[1]:5.1f}x | {kb:7.2f} | {cpu[0] * 1000:.2f} / {cpu[1] * 1000:.2f}")


def make_model(folder: Path, layers: int = 12) -> Path:
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM
    from bertgallery import offline
    import torch
    torch.manual_seed(0)
    BertForMaskedLM(BertConfig(num_hidden_layers=layers)).save_pretrained(folder)
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


def _pss(pid: int) -> int:
    """Bytes of memory a process and its descendants hold, each shared page counted once in all (PSS)."""
    total = 0
    for p in [pid, *_descendants(pid)]:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def _descendants(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [d for c in map(int, children) for d in (c, *_descendants(c))]


class Run:
    """One generate.py process: wall seconds, CPU seconds (with its workers), peak memory of it and its workers."""

    def __init__(self, cfg: Path, out: Path, *extra, naive: bool = False, env: dict | None = None):
        command = [sys.executable, str(Path(__file__).resolve()), "--naive-build"] if naive else \
            [sys.executable, str(ROOT / "generate.py")]
        peak = [0]
        t = time.perf_counter()
        proc = subprocess.Popen([*command, str(cfg), "--out", str(out), "--quiet", *extra], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, env=dict(os.environ, HF_HUB_OFFLINE="1", **(env or {})))
        done = threading.Event()

        def sample():
            while not done.wait(0.05):
                peak[0] = max(peak[0], _pss(proc.pid))
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        stderr = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        self.seconds = time.perf_counter() - t
        done.set()
        sampler.join()
        if status:
            sys.exit(f"build failed: {cfg}: {stderr.decode()[-2000:]}")
        self.cpu = usage.ru_utime + usage.ru_stime
        self.peak_mb = peak[0] / 2**20
        self.stderr = stderr.decode()


def naive_build(argv: list[str]) -> int:
    """generate.py, with every head PNG drawn by naive_head in the build's process."""
    from bertgallery import cli, names

    class Naive(render.Workers):
        def __init__(self, processes=None, enabled=True):
            super().__init__(0, False)

        def heads(self, attention, tokens, cmap, at=None):  # at: a pair's boundary, which naive_head never drew
            drawn = []
            for l in range(attention.shape[0]):
                for h in range(attention.shape[1]):
                    png = io.BytesIO()
                    naive_head(attention[l, h], tokens, l + 1, h + 1, png)
                    drawn.append((names.head_png(l + 1, h + 1), png.getvalue()))
            return render.Pending([drawn])
    render.Workers = Naive
    return cli.main(argv)


def whole_builds(tmp: Path, model: Path, device: list[str]):
    four, forty, one = (sentences_yaml(tmp / f"{n}.yaml", model, n) for n in (4, 40, 1))
    naive1 = Run(one, tmp / "naive1", *device, naive=True)
    naive4 = Run(four, tmp / "naive4", *device, naive=True)
    cold = Run(four, tmp / "site", *device)
    many = Run(forty, tmp / "site40", *device)
    print(f"2. 4-sentence BERT-base-shaped site (576 head PNGs), whole process: ours {cold.seconds:.1f} s "
          f"({cold.cpu:.1f} CPU s), naive {naive4.seconds:.1f} s ({naive4.cpu:.1f} CPU s): "
          f"{naive4.seconds / cold.seconds:.1f}x faster ({naive4.cpu / cold.cpu:.1f}x less CPU)")
    ours_per, naive_per = (many.seconds - cold.seconds) / 36, (naive4.seconds - naive1.seconds) / 3
    ours_cpu, naive_cpu = (many.cpu - cold.cpu) / 36, (naive4.cpu - naive1.cpu) / 3
    print(f"   an added sentence: ours {ours_per:.2f} s ({ours_cpu:.2f} CPU s; 4 to 40 sentences), naive "
          f"{naive_per:.1f} s ({naive_cpu:.1f} CPU s; 1 to 4): {naive_per / ours_per:.0f}x less "
          f"({naive_cpu / ours_cpu:.0f}x less CPU)")
    noop = Run(four, tmp / "site", *device)
    traced = Run(four, tmp / "site", *device, env={"PYTHONPROFILEIMPORTTIME": "1"})
    torch = any(line.rstrip().endswith("| torch") for line in traced.stderr.splitlines())
    four.write_text(four.read_text().replace("id: s0", "id: s0\n    title: A new title"))
    pages = Run(four, tmp / "site", *device)
    print(f"   no-op rebuild {noop.seconds:.2f} s: {noop.seconds / cold.seconds:.0%} of cold "
          f"({noop.cpu / cold.cpu:.0%} of its CPU), torch {'imported' if torch else 'not imported'}; "
          f"a title changed {pages.seconds:.2f} s ({pages.seconds / cold.seconds:.0%} of cold); peak memory of "
          f"the cold build and its workers {cold.peak_mb:.0f} MB")
    return cold


def site_bytes(tmp: Path, model: Path, device: list[str]):
    """Bytes a sentence adds to the whole site (its folder and its rows on the 144 head pages): the difference
    between a 4- and a 12-sentence site."""
    cfg12 = sentences_yaml(tmp / "twelve.yaml", model, 12)
    Run(cfg12, tmp / "site12", *device)
    four, twelve = output.folder_bytes(tmp / "site"), output.folder_bytes(tmp / "site12")
    per = (twelve - four) / 8
    folder = tmp / "site" / "s0"
    parts = {"head PNGs": sum(p.stat().st_size for p in folder.glob("Attention_*.png"))}
    parts.update((name, (folder / name).stat().st_size) for name in ("index.html", "data.json", "overview.png",
                                                                      "view-data.js"))
    parts["head pages' rows"] = per - output.folder_bytes(folder)
    print(f"   {per / 1024:.0f} KB per 12-token sentence; a 1,000-sentence site: {(four + 996 * per) / 1e9:.2f} GB. "
          "Of a sentence: " + ", ".join(f"{name} {size / 1024:.0f} KB" for name, size in parts.items()))


def main():
    if sys.argv[1:2] == ["--naive-build"]:
        sys.exit(naive_build(sys.argv[2:]))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=0, help="also time a cold build of this many sentences")
    ap.add_argument("--flat", default="", help="sizes to print the cost per sentence at, e.g. 10,100,1000")
    ap.add_argument("--small", action="store_true", help="--flat with a 2-layer model")
    ap.add_argument("--device", default="", help="passed to generate.py (cpu or cuda)")
    ap.add_argument("--skip", default="", help="parts not to run: heads,whole,bytes")
    args = ap.parse_args()
    device = ["--device", args.device] if args.device else []
    skip = set(args.skip.split(","))
    if "heads" not in skip:
        with render.Workers() as workers:
            workers.heads(attention(12)[:1, :4], tokens(12), "viridis").get()  # warm up: fonts load once per build
            bench_heads(workers)
    if {"whole", "bytes"} <= skip and not args.sentences and not args.flat:
        return  # part 1 alone: no model and no site to build
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = make_model(tmp / "model")
        cold = whole_builds(tmp, model, device) if "whole" not in skip else Run(
            sentences_yaml(tmp / "4.yaml", model, 4), tmp / "site", *device)
        if "bytes" not in skip:
            site_bytes(tmp, model, device)
        if args.sentences:
            run = Run(sentences_yaml(tmp / "many.yaml", model, args.sentences), tmp / "many", *device)
            print(f"3. {args.sentences}-sentence cold build: {run.seconds:.1f} s ({run.cpu:.1f} CPU s), "
                  f"{run.seconds / cold.seconds:.1f}x the 4-sentence build's time; peak memory of the build and "
                  f"its workers together {run.peak_mb:.0f} MB (the 4-sentence build's {cold.peak_mb:.0f} MB)")
        if args.flat:
            sizes = [int(n) for n in args.flat.split(",")]
            flat_model = make_model(tmp / "small", 2) if args.small else model
            runs = {n: Run(sentences_yaml(tmp / f"flat{n}.yaml", flat_model, n), tmp / f"flat{n}", *device)
                    for n in sizes}
            print(f"4. cost per sentence ({'2-layer' if args.small else 'BERT-base'} shape), between one size and "
                  "the next: " + ", ".join(
                      f"{a} to {b}: {(runs[b].seconds - runs[a].seconds) / (b - a):.3f} s "
                      f"({(runs[b].cpu - runs[a].cpu) / (b - a):.3f} CPU s)" for a, b in zip(sizes, sizes[1:])) +
                  "; peak memory " + ", ".join(f"{n}: {runs[n].peak_mb:.0f} MB" for n in sizes))


if __name__ == "__main__":
    main()
