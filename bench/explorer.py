"""How fast the explorer draws: python bench/explorer.py [--tokens 64] [--heads 12] [--repeat 30]

In headless Chromium (Debian's /usr/bin/chromium), on one synthetic view of BERT-base's shape (12 layers x 12
heads) and a 64-token sentence with peaked attention rows (softmax of scaled Gaussian logits: real heads
put most of a row on a few tokens; random-weight models are nearly uniform and would draw no line at all),
this prints for templates/attention.js and, when git has it, the explorer before the redesign (commit
ded2326: one <line> per drawn pair, rebuilt as a string on every change):
- the lines drawn and the nodes in the lines' SVG, with all 12 heads of a layer chosen;
- the median time of script and style/layout (a forced layout after each change; painting is not included)
  for: choosing all 12 heads, highlighting a token (hover), switching the layer, and the mean of all layers;
- their ratios, old / new, measured in the same browser run.
"""
from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bertgallery import colours, names, site, views  # noqa: E402

OLD_COMMIT = "ded2326"  # the last explorer that rebuilt its lines as a string


def view(tokens: int, layers: int, heads: int) -> dict:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(layers, heads, tokens, tokens)) * 3.0
    att = np.exp(logits - logits.max(-1, keepdims=True))
    att /= att.sum(-1, keepdims=True)
    steps = colours.scale("viridis")
    words = [f"w{i}" for i in range(tokens - 2)]
    return {"model": "bench", "tokens": ["[CLS]", *words, "[SEP]"], "layers": layers, "heads": heads,
            "special": [0, tokens - 1], "segments": None, "colors": [c for c, _ in steps],
            "light": [light for _, light in steps], "scale": 10000, "names": names.for_js(),
            "tags": [[] for _ in range(layers * heads)], "headColours": colours.head_colours(heads),
            "default": [1, 1], "attention": base64.b64encode(np.rint(att * 10000).astype("<u2").tobytes()).decode(),
            "norms": None, "contributions": None}


PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>bench</title>
<link rel="stylesheet" href="explorer.css"></head><body><section id="explore" hidden data-models='[{{"slug": "", "name": "bench", "prefix": "", "heads": null}}]'>
<div class="explorer"></div></section><script src="view.js"></script><script src="{script}"></script></body></html>"""

# each step: JavaScript that changes the view, run `repeat` times alternating with `undo`
STEPS = {
    "new": {
        "choose 12 heads": ("E.set({mode: 'heads', heads: [0,1,2,3,4,5,6,7,8,9,10,11]})", "E.set({heads: [0]})"),
        "hover a token": ("tok(0, 5).dispatchEvent(new MouseEvent('mouseenter'))",
                          "tok(0, 5).dispatchEvent(new MouseEvent('mouseleave'))"),
        "switch layer": ("E.set({layer: 3})", "E.set({layer: 4})"),
        "mean of all layers": ("E.set({mode: 'all'})", "E.set({mode: 'heads'})"),
    },
    "old": {
        "choose 12 heads": ("E.set({mode: 'heads', heads: [0,1,2,3,4,5,6,7,8,9,10,11]})", "E.set({heads: [0]})"),
        "hover a token": ("tok(0, 5).dispatchEvent(new MouseEvent('mouseenter'))",
                          "tok(0, 5).dispatchEvent(new MouseEvent('mouseleave'))"),
        "switch layer": ("E.set({layer: 3})", "E.set({layer: 4})"),
        "mean of all layers": ("E.set({mode: 'all'})", "E.set({mode: 'heads'})"),
    },
}

MEASURE = """([setup, run, undo, repeat]) => {
  const E = window.E, tok = (s, i) => document.querySelectorAll(s ? '.bg-to .bg-tok' : '.bg-from .bg-tok')[i];
  eval(setup);
  const times = [];
  for (let k = 0; k < repeat; k++) {
    const t0 = performance.now();
    eval(run);
    document.body.getBoundingClientRect();  // style and layout of what changed
    document.querySelector('.bg-lines').getBBox();
    times.push(performance.now() - t0);
    eval(undo);
    document.body.getBoundingClientRect();
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright
    data = view(args.tokens, args.layers, args.heads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "explorer.css").write_bytes((site.TEMPLATES / "explorer.css").read_bytes())
        (folder / "new.js").write_bytes((site.TEMPLATES / "attention.js").read_bytes())
        kinds = ["new"]
        old = subprocess.run(["git", "show", f"{OLD_COMMIT}:templates/attention.js"], cwd=ROOT, capture_output=True)
        if old.returncode == 0:
            (folder / "old.js").write_bytes(old.stdout)
            kinds.append("old")
        text = json.dumps(data)
        (folder / "view.js").write_text(f"{views.VIEW_PREFIX}{text});\nwindow.bertGalleryView = window.bertGalleryViews[0];\n")
        results = {}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"])
            for kind in kinds:
                (folder / f"{kind}.html").write_text(PAGE.format(script=f"{kind}.js"))
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto((folder / f"{kind}.html").as_uri())
                # the page's own explorer stays; a second one is measured, made here the same way for both
                first = page.evaluate("""() => { const root = document.createElement('div'); document.body.appendChild(root);
                    const t0 = performance.now();
                    window.E = BertGallery.explorer(root, window.bertGalleryViews ? window.bertGalleryViews[0] : window.bertGalleryView, {});
                    root.getBoundingClientRect();
                    return performance.now() - t0; }""")
                page.evaluate("document.getElementById('explore').remove()")
                page.evaluate("E.set({mode: 'heads', heads: [0,1,2,3,4,5,6,7,8,9,10,11]})")
                counts = page.evaluate("""() => { const svg = document.querySelector('.bg-lines');
                    const d = [...svg.querySelectorAll('path')].map(p => (p.getAttribute('d').match(/M/g) || []).length);
                    return [svg.querySelectorAll('line:not(.bg-boundary)').length + d.reduce((a, b) => a + b, 0), svg.querySelectorAll('*').length]; }""")
                page.evaluate("E.set({heads: [0]})")
                results[kind] = {"first draw": first, "lines": counts[0], "nodes": counts[1]}
                for name, (run, undo) in STEPS[kind].items():
                    results[kind][name] = page.evaluate(MEASURE, ["", run, undo, args.repeat])
                page.close()
            browser.close()
    print(f"{args.tokens} tokens, {args.layers} x {args.heads} heads, median of {args.repeat}, script + style/layout:")
    for kind in kinds:
        r = results[kind]
        print(f"  {kind}: all 12 heads of a layer draw {r['lines']:,} lines with {r['nodes']:,} SVG nodes; "
              f"first draw {r['first draw']:.1f} ms")
    for name in STEPS["new"]:
        line = f"  {name:20s} new {results['new'][name]:7.2f} ms"
        if "old" in results:
            line += f"   old {results['old'][name]:7.2f} ms   old / new {results['old'][name] / results['new'][name]:5.1f}"
        print(line)


if __name__ == "__main__":
    main()
