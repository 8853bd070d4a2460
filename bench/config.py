"""How long reading a sentences file takes at its bounds: python bench/config.py

config.load on files at and past the bounds of issue 23, in CPU seconds of this process (so other work on
a shared machine does not count), each beside the baseline of the same file composed by PyYAML's
pure-Python loader, which config.py used before (the ratio is what to compare between machines):

1. 10 MB (the file bound) of 520 sentences of 19,000 characters: the speed per byte;
2. 1 MB of tiny values ("sentences: [a, a, ...]", 330,000 of them): our composer stops at 50,000;
3. 2,000 sentences (the sentence bound) with all four keys, and a 30,001-sentence file (refused at once);
4. 2,000 identical sentences (each needs a -2, -3, ... folder name), which the quadratic slug search made slow.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bertgallery import config  # noqa: E402

CASES = {
    "10 MB of 520 long sentences": "sentences:\n" + "".join(f"  - '{'word ' * 3840}[MASK] {i}'\n" for i in range(520)),
    "1 MB of tiny values (330,000)": "sentences: [" + "a, " * 330_000 + "]\n",
    "2,000 sentences, four keys each": "sentences:\n" + "".join(
        f"  - {{text: 'Sentence {i} has a [MASK] in it.', id: s{i}, title: Title {i}, note: A note.}}\n"
        for i in range(2000)),
    "30,001 sentences": "sentences:\n" + "  - The cat sat on the [MASK].\n" * 30_001,
    "2,000 identical sentences": "sentences:\n" + "  - The cat sat on the [MASK].\n" * 2_000,
}


def cpu(fn) -> float:
    started = time.process_time()
    fn()
    return time.process_time() - started


def load(path: Path) -> str:
    try:
        return f"{len(config.load(path).sentences):,} sentences"
    except config.ConfigError as e:
        return f"error: {str(e)[len(str(path)):][:70]}…"


def main():
    config.check_colormap("viridis", "")  # matplotlib's import is not the file's cost
    print(f"{'file':34} {'MB':>5} {'config.load s':>14} {'PyYAML compose s':>17} {'ratio':>6}  result")
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in CASES.items():
            path = Path(tmp) / "s.yaml"
            path.write_text(text, encoding="utf-8")
            ours = cpu(lambda: load(path))
            result = load(path)
            base = cpu(lambda: yaml.compose(text, Loader=yaml.SafeLoader))
            print(f"{name:34} {len(text) / 1e6:5.1f} {ours:14.2f} {base:17.2f} {base / ours:5.0f}x  {result}")


if __name__ == "__main__":
    main()
