"""The "Try your own sentence" page as a reader meets it: python bench/live_page.py SITE [--loads 5] [--runs 7]

SITE is a gallery built with `live:` on (python generate.py --live ...). In this one process, in Debian's headless
Chromium, from file://:
1. what a reader downloads: the live page's model files, and the page's own scripts;
2. the load: a fresh tab opened on live/index.html until the page says the model is ready (from the start of
   navigation), median of --loads tabs;
3. a sentence: the text typed and Enter pressed until the ranked tables and the explorer are on the page,
   median of --runs 12-token sentences after a warm-up; beside it the worker's own time for the same
   sentence (live.js's `ms`: what the page adds is the rest), and the Python model's forward pass on the same
   sentences (torch, eager attention, one thread as the browser has one worker), when the live model is the
   offline one; the ratios.
bench/live.py measures live.js itself (the export, the storage choices, BERT-base's shape).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bertgallery import names  # noqa: E402

WORDS = ("the quick brown fox jumps over a lazy dog while my friend reads old books near "
         "green hills and rivers under bright summer skies every single day").split()


def sentence(i: int) -> str:
    """Ten words, one of them [MASK]: 12 tokens with [CLS] and [SEP] (as bench/live.py's)."""
    words = [WORDS[(i * 7 + j) % len(WORDS)] for j in range(10)]
    words[5] = "[MASK]"
    return " ".join(words)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("site", type=Path)
    ap.add_argument("--loads", type=int, default=5)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright
    site = args.site.resolve()
    model = sum(p.stat().st_size for p in (site / names.LIVE).glob("*.js"))
    scripts = sum((site / names.STATIC / n).stat().st_size for n in names.LIVE_FILES + ("attention.js",))
    files = len(list((site / names.LIVE).glob("*.js")))
    print(f"downloads: the model {model / 1e6:.1f} MB in {files} files, the page's scripts {scripts / 1e3:.0f} KB")
    url = (site / names.LIVE / names.PAGE).as_uri()
    texts = [sentence(i) for i in range(args.runs + 1)]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"])
        loads = []
        for _ in range(args.loads):
            page = browser.new_page()
            page.goto(url, wait_until="commit")
            page.wait_for_function("document.getElementById('live-status').textContent.indexOf('ready') >= 0",
                                   polling="raf", timeout=120_000)
            loads.append(page.evaluate("performance.now()") / 1000)
            page.close()
        page = browser.new_page()
        page.goto(url)
        shown, worker = [], []
        for i, text in enumerate(texts):
            took = page.evaluate("""t => new Promise(done => {
                const start = performance.now(), form = document.getElementById('live-form');
                document.getElementById('live-text').value = t;
                form.requestSubmit();
                (function wait() {
                  const s = window.bertGalleryTry.sentence;
                  if (s && s.text === t && document.querySelector('#live-explore .bg-tok')) {
                    done([performance.now() - start, bertGalleryLive.last.ms]);
                  } else requestAnimationFrame(wait);
                })();
              })""", text)
            if i:  # the first is the warm-up
                shown.append(took[0])
                worker.append(took[1])
        info = page.evaluate("bertGalleryLive.info")
        browser.close()
    print(f"load, navigation to ready: median {statistics.median(loads):.2f} s of {args.loads} "
          f"({', '.join(f'{x:.2f}' for x in loads)})")
    page_ms, worker_ms = statistics.median(shown), statistics.median(worker)
    print(f"a 12-token sentence, Enter to tables and explorer: median {page_ms:.0f} ms; the worker's run "
          f"{worker_ms:.0f} ms; the page adds {page_ms - worker_ms:.0f} ms")
    settings = json.loads((site / names.LIVE / names.PAGE).read_text(encoding="utf-8")
                          .split('data-live="')[1].split('"')[0].replace("&#34;", '"').replace("&amp;", "&"))
    if settings["model"] != "offline":
        return
    import torch

    from bertgallery import offline
    torch.set_num_threads(1)
    tokenizer, net = offline.load()
    net.config._attn_implementation = "eager"
    times = []
    with torch.no_grad():
        for i, text in enumerate(texts):
            enc = tokenizer(text.replace("[MASK]", tokenizer.mask_token), return_tensors="pt")
            start = time.perf_counter()
            net(**enc, output_attentions=True)
            if i:
                times.append((time.perf_counter() - start) * 1000)
    python_ms = statistics.median(times)
    print(f"Python's forward pass, same sentences, one thread: median {python_ms:.0f} ms; the page / Python "
          f"{page_ms / python_ms:.1f}x (layers {info['config']['layers']}, heads {info['config']['heads']})")


if __name__ == "__main__":
    main()
