"""How far the offline model's attention is from the original all-MiniLM-L6-v2 encoder's: the compare page of
examples/compare.yaml (bertgallery/compare.py), printed as the README's table.

    python models/attention_drift.py [--out DIR]     # builds the example into DIR (default: a temporary folder)

Per layer: the share of attention rows (every head, every token of the 35 sentences) whose most-attended token is
the same in both models, and the mean Jensen-Shannon divergence (nats) of each head's rows to its namesake's.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "compare.yaml"


def table(compared: dict) -> list[tuple[str, str, str]]:
    """(layer, share unchanged, mean JSD) per layer of a compare.json, and over all layers (each layer has as many
    rows); the statistics page shows these rows (offline.DRIFT)."""
    same, js = compared["same_top"], compared["namesakes"]
    rows = [(str(i), f"{s * 100:.1f} %", f"{j:.3f}") for i, (s, j) in enumerate(zip(same, js), start=1)]
    return rows + [("all", f"{sum(same) / len(same) * 100:.1f} %", f"{sum(js) / len(js):.3f}")]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="where to build the example (default: a temporary folder)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from bertgallery import build, config, names
    out = args.out or Path(tempfile.mkdtemp()) / "site"
    build.build(config.load(EXAMPLE), out, build.Options(fallback=False, progress=False))
    compared = json.loads((out / names.compare_folder("offline", "minilm") / names.COMPARE_DATA).read_text())
    print("| layer | most-attended token unchanged | mean Jensen–Shannon divergence (nats) |\n| --- | --- | --- |")
    print("\n".join(f"| {' | '.join(row)} |" for row in table(compared)))
    print(f"\n{compared['sentences']} sentences; the compare page: {out / names.compare_folder('offline', 'minilm')}")


if __name__ == "__main__":
    main()
