"""Live mode's size and speed: python bench/live.py [--runs 7] [--loads 3] [--quality 200] [--no-base]

In this one process, for the offline model and BERT-base- and DistilBERT-base-shaped ones (BertConfig() and
DistilBertConfig() defaults, random weights: size and speed do not depend on them):
1. the export (bertgallery/live.py): its size on disk, its files, the seconds Python takes to make it;
2. in Debian's headless Chromium, from file://: the load time (load() called to ready: the <script> files, the
   worker decoding and dequantising), median of --loads fresh pages; the time per 12-token sentence with one
   [MASK] (run() called to answered), median of --runs sentences after a warm-up;
3. beside it, in the same run, the Python model's own forward pass on the same sentences (torch, eager
   attention, attention returned, one thread as the browser has one worker) and, for the offline model, its
   own load (offline.load, median of 3), and the ratios;
4. for the offline model, each storage (--precisions): size, load time, and against the Python model on
   --quality corpus sentences with one word masked (seeded): top-1 the same, attention error (the largest over
   all sentences, and the median of each sentence's largest). For the default precision it is measured in the
   browser; for the others from the weights the browser would hold (live.as_exported; tests/test_live.py
   shows the browser equals that to 2e-5).
"""
from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bertgallery import config, live  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
WORDS = ("the quick brown fox jumps over a lazy dog while my friend reads old books near "
         "green hills and rivers under bright summer skies every single day").split()
PAGE = ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Live</title>'
        '<script src="live.js"></script></head><body></body></html>')


def sentence(i: int) -> str:
    """Ten words, one of them [MASK]: 12 tokens with [CLS] and [SEP] (every word here is one WordPiece)."""
    words = [WORDS[(i * 7 + j) % len(WORDS)] for j in range(10)]
    words[5] = "[MASK]"
    return " ".join(words)


def quality_sentences(tokenizer, n: int) -> list[str]:
    """Corpus sentences with one word masked, as tests/test_live.py chooses them (seeded)."""
    corpus = [line for _, line in config.text_lines((ROOT / "corpus.txt").read_text(encoding="utf-8"))]
    rng = random.Random(28)
    chosen = [line for line in rng.sample(corpus, min(len(corpus), n + n // 2))
              if len(tokenizer(line)["input_ids"]) <= 64][:n]
    out = []
    for line in chosen:
        words = line.split()
        words[rng.randrange(len(words))] = "[MASK]"
        out.append(" ".join(words))
    return out


def write_site(folder: Path, files: dict) -> Path:
    (folder / "live").mkdir(parents=True)
    for name, content in files.items():
        (folder / "live" / name).write_text(content, encoding="utf-8")
    shutil.copy(ROOT / "templates" / "live.js", folder / "live.js")
    (folder / "index.html").write_text(PAGE, encoding="utf-8")
    return folder


def open_live(browser, site: Path):
    page = browser.new_page()
    page.goto((site / "index.html").as_uri())
    took = page.evaluate("(async () => { const t = performance.now(); const info = await bertGalleryLive.load();"
                         " return [performance.now() - t, bertGalleryLive.timings.scripts, info.timings]; })()")
    return page, took


def python_forward(net, tokenizer, text: str):
    """What model.predict does with the model: one forward pass with attention, the softmax at the masks."""
    import torch
    enc = tokenizer(text, return_tensors="pt")
    if type(net).__name__.startswith("DistilBert"):
        enc.pop("token_type_ids")
    with torch.no_grad():
        out = net(**enc, output_attentions=True)
        masks = (enc["input_ids"][0] == tokenizer.mask_token_id).nonzero().flatten()
        probs = torch.softmax(out.logits[0, masks], dim=-1)
    return torch.stack([a[0] for a in out.attentions]).numpy(), probs.argmax(-1).tolist()


def speed(browser, net, tokenizer, files: dict, folder: Path, args, label: str, python_load: float = 0.0):
    site = write_site(folder, files)
    sizes = [len(v.encode()) for v in files.values()]
    loads, page = [], None
    for _ in range(args.loads):
        if page:
            page.close()
        page, took = open_live(browser, site)
        loads.append(took)
    total, scripts, inside = sorted(loads)[len(loads) // 2]
    print(f"{label}: {sum(sizes) / 1e6:.1f} MB in {len(sizes)} files (largest {max(sizes) / 1e6:.1f} MB)")
    versus = f"; Python's own load {python_load:.2f} s, browser / Python {total / 1000 / python_load:.1f}x" \
        if python_load else ""
    print(f"  load: median {total / 1000:.2f} s of {len(loads)} (all <script> files in {scripts / 1000:.2f} s; "
          f"worker: decoding {inside['decode'] / 1000:.2f} s, dequantising {inside['build'] / 1000:.2f} s){versus}")
    page.evaluate(f"bertGalleryLive.run({sentence(0)!r})")  # warm-up: the JIT
    python_forward(net, tokenizer, sentence(0))
    browser_ms, worker_ms, python_ms = [], [], []
    for i in range(1, args.runs + 1):
        text = sentence(i)
        wall, inner = page.evaluate("(async t => { const s = performance.now(); const r = await "
                                    "bertGalleryLive.run(t); return [performance.now() - s, r.ms]; })", text)
        start = time.perf_counter()
        python_forward(net, tokenizer, text)
        python_ms.append((time.perf_counter() - start) * 1000)
        browser_ms.append(wall)
        worker_ms.append(inner)
    b, p = statistics.median(browser_ms), statistics.median(python_ms)
    print(f"  12-token sentence: browser median {b:.0f} ms (in the worker {statistics.median(worker_ms):.0f} ms), "
          f"Python {p:.1f} ms; browser / Python {b / p:.1f}x  (medians of {args.runs})")
    return page, sum(sizes), total


def quality(net, tokenizer, texts, attention_of):
    """Top-1 agreement with the Python model and attention error over `texts`; attention_of(text) gives the
    attention and the top-1 ids of the run under test."""
    same, worst = 0, []
    for text in texts:
        ref, top = python_forward(net, tokenizer, text)
        got, top_got = attention_of(text)
        same += top == top_got
        worst.append(float(np.abs(got - ref).max()))
    return same, max(worst), statistics.median(worst)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--loads", type=int, default=3)
    ap.add_argument("--quality", type=int, default=200)
    ap.add_argument("--precisions", default="compact,float16,int8")
    ap.add_argument("--no-base", action="store_true", help="leave out the base-shaped models")
    args = ap.parse_args()
    import torch
    from playwright.sync_api import sync_playwright
    from transformers import (AutoTokenizer, BertConfig, BertForMaskedLM, DistilBertConfig,
                              DistilBertForMaskedLM)

    from bertgallery import model, offline
    model.quiet()
    torch.set_num_threads(1)
    torch.set_grad_enabled(False)
    tokenizer, net = offline.load()
    loads = []
    for _ in range(3):  # the Python side's own load of the offline model, for the ratio
        start = time.perf_counter()
        offline.load()
        loads.append(time.perf_counter() - start)
    python_load = statistics.median(loads)
    precisions = args.precisions.split(",")
    texts = quality_sentences(tokenizer, args.quality)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        print(f"{time.strftime('%Y-%m-%d %H:%M')}, Chromium {browser.version}, torch on 1 thread\n")
        for precision in precisions:
            start = time.perf_counter()
            files = live.export(net, tokenizer, precision)
            took = time.perf_counter() - start
            label = f"offline model (6 layers x 12 heads), {precision}, exported in {took:.1f} s"
            page, size, load = speed(browser, net, tokenizer, files, Path(tmp) / f"offline-{precision}", args, label,
                                     python_load)
            if precision == precisions[0]:
                def in_browser(text):
                    r = page.evaluate("t => bertGalleryLive.run(t, null, {topK: 1}).then(r => "
                                      "[r.attention, r.masks.map(m => m.predictions[0].id)])", text)
                    return np.array(r[0]), r[1]
                measured = quality(net, tokenizer, texts, in_browser)
                where = "in the browser"
            else:
                twin = live.as_exported(net, precision)
                measured = quality(net, tokenizer, texts, lambda t: python_forward(twin, tokenizer, t))
                where = "from its weights"
            page.close()
            rows.append((precision, size, load, *measured, where))
        print(f"\nstorage of the offline model, against the Python model on {len(texts)} corpus sentences with "
              "a word masked:")
        print("| precision | size | load | top-1 the same | attention error, largest | median of each "
              "sentence's largest | measured |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for precision, size, load, same, worst, median, where in rows:
            print(f"| {precision} | {size / 1e6:.1f} MB | {load / 1000:.2f} s | {same} of {len(texts)} "
                  f"({100 * same / len(texts):.1f} %) | {worst:.4f} | {median:.4f} | {where} |")
        if not args.no_base:
            base_tokenizer = AutoTokenizer.from_pretrained(offline.encoder_dir())
            for name, make in (("BERT-base shape (12 x 12, random weights)", lambda: BertForMaskedLM(BertConfig(
                                   attn_implementation="eager"))),
                               ("DistilBERT-base shape (6 x 12, random weights)", lambda: DistilBertForMaskedLM(
                                   DistilBertConfig(attn_implementation="eager")))):
                torch.manual_seed(0)
                base = make().eval()
                start = time.perf_counter()
                files = live.export(base, base_tokenizer, precisions[0])
                took = time.perf_counter() - start
                print()
                page, _, _ = speed(browser, base, base_tokenizer, files, Path(tmp) / name.split()[0],
                                   argparse.Namespace(runs=args.runs, loads=max(1, args.loads // 2)),
                                   f"{name}, {precisions[0]}, exported in {took:.1f} s")
                page.close()
                del base, files
        browser.close()


if __name__ == "__main__":
    main()
