"""The expected sample site, tests/golden/ (pelican's way), and how a built site is compared with it.

A built site is the golden tree when its output is the same, on whatever CPU it was built: floats differ in
their last bits from one machine's kernels to another's, so numbers are compared as numbers, and the test fails
for an output change only.

- The tree: the same files (the static files, copies of templates/, are checked against templates/ instead).
- HTML, SVG, JSON and the view's data: everything but the numbers exactly.
- A number printed in a page may be one unit of its last printed digit off (of the coarser of the two, so
  "1.0%" and "0.99%", one number printed either side of a format's threshold, agree).
- A number stored in data.json or the view's data may be STORED_RTOL of its size off, STORED_ATOL, or one unit
  of its last stored digit, whichever is largest. Other float32 kernels move the sample's numbers by a third of
  that at most (ATEN_CPU_CAPABILITY=default: the smallest head importance, 0.0061493, becomes 0.0061495), a
  change of a formula by far more. The explorer's 16-bit attention (w × 10000) may be one unit off.
- A colour class (c0..c31) may differ only to the class of a value within STORED_RTOL (or the statistics'
  stored 1e-6) of the golden value behind it: the values are recorded by rendering the golden results again.
- The other discrete results (the ranked predictions, tags, each head's strongest pairs, the top heads, the
  parse's most-attended words, hence the sort order of every table) must be equal:
  test_site.py::test_the_samples_discrete_results_are_clear_of_their_boundaries shows that no value behind
  them is within STORED_RTOL of its boundary, so no CPU's rounding can move one.
- PNGs by their decoded pixels: at most PIXEL_SHARE of a picture's pixels may differ, each by at most one
  colour step (PIXEL_STEP: the largest difference, in any channel, between two neighbouring colours of the
  sample's 64-step viridis): a heat-map cell whose weight sits on a colour boundary, an antialiased line
  moved by a rounding.
- The manifest: its structure, file names and pages exactly, and every SHA-256 that of the built file; the
  cache keys and the model's fingerprint, which follow the code by design, by their shape only.

An intended change of the output: `python tests/update_golden.py`, and review the diff.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from pathlib import Path

import numpy as np

from bertgallery import views

GOLDEN = Path(__file__).resolve().parent / "golden"
STORED_RTOL = 1e-4
STORED_ATOL = 1e-7
STATISTICS_UNIT = 1e-6  # data.json stores the head statistics to 6 decimals
PIXEL_SHARE = 0.01
PIXEL_STEP = 11  # viridis in 64 steps (render.CMAP_LEVELS): tests/test_site.py checks it
STATIC = "static/"


def golden_files(site: Path) -> dict[str, bytes]:
    """What tests/golden/ holds of a built site: {relative path: bytes}, every file but the static ones, the
    manifest without 'hashes' (the model files' sizes and times on this machine)."""
    from conftest import site_files
    return {relpath: data for relpath, data in site_files(site).items() if not relpath.startswith(STATIC)}


def expected() -> dict[str, bytes]:
    return {str(p.relative_to(GOLDEN)): p.read_bytes() for p in sorted(GOLDEN.rglob("*")) if p.is_file()}


def differences(golden: dict[str, bytes], got: dict[str, bytes], behind: dict[str, list]) -> list[str]:
    """What of a built site (`got`: every file, the static ones too) is not the golden tree, one line each.
    `behind`: the values behind each page's colour classes (classes_behind)."""
    found = []
    missing, extra = sorted(set(golden) - set(got)), sorted(set(got) - set(golden) - {p for p in got
                                                                                       if p.startswith(STATIC)})
    found += [f"{p}: missing" for p in missing] + [f"{p}: not in tests/golden/" for p in extra]
    for relpath in sorted(set(golden) & set(got)):
        if relpath == "manifest.json":
            why = _manifest(golden[relpath], got[relpath], got)
        elif relpath.endswith(".png"):
            why = _pixels(golden[relpath], got[relpath])
        elif relpath.endswith(".json"):
            why = _stored(_json(golden[relpath]), _json(got[relpath]), "")
        elif relpath.endswith("view-data.js"):
            why = _view(golden[relpath], got[relpath])
        else:
            why = _printed(golden[relpath].decode(), got[relpath].decode(), behind.get(relpath))
        if why:
            found.append(f"{relpath}: {why}")
    return found


# ---------------------------------------------------------------- numbers
class Number(float):
    """A number as it was written, with the unit of its last written digit."""

    def __new__(cls, text: str):
        text = text.replace("−", "-")
        number = super().__new__(cls, float(text))
        mantissa, _, exponent = text.lower().partition("e")
        number.unit = 10.0 ** (int(exponent or 0) - len(mantissa.partition(".")[2]))
        number.integer = "." not in mantissa and not exponent
        number.text = text
        return number


def printed_close(a: Number, b: Number) -> bool:
    if a.integer and b.integer:
        return a.text == b.text
    return abs(a - b) <= max(a.unit, b.unit) * (1 + 1e-9)


def stored_close(a: float, b: float) -> bool:
    units = [getattr(x, "unit", 0.0) for x in (a, b)]
    return abs(a - b) <= max(STORED_RTOL * max(abs(a), abs(b)), STORED_ATOL, *units) * (1 + 1e-9)


# a colour class's number (class="c12"), or a number: a sign only where it cannot be a hyphen; ".4" is a number
TOKEN = re.compile(r'(?<=class="c)(?P<cls>\d+)(?=")'
                   r"|(?P<num>(?:(?<![\w.])[-+−])?(?:\d+(?:\.\d+)?|(?<![\w.])\.\d+)(?:e[-+]\d+)?)")


def _tokens(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, where): runs of text, numbers and colour classes' numbers, in order."""
    out, at = [], 0
    for m in TOKEN.finditer(text):
        out += [("text", text[at:m.start()], at), ("cls" if m["cls"] else "num", m.group(), m.start())]
        at = m.end()
    return out + [("text", text[at:], at)]


def _printed(golden: str, got: str, behind: list | None) -> str | None:
    """The first difference of two pages, or None: text exact, numbers to one unit of their last printed digit,
    colour classes to the class of a value within tolerance of the one behind the golden class."""
    a, b = _tokens(golden), _tokens(got)
    if behind is not None and len(behind) != sum(kind == "cls" for kind, _, _ in a):
        behind = None  # the golden results no longer render these pages: their classes are compared exactly
    classes = iter(behind or [])
    for (kind, x, at), (kind_got, y, at_got) in zip(a, b):
        if kind == "text" and kind_got == "text" and x != y:
            i = next(i for i, (p, q) in enumerate(zip(x + "\0", y + "\0")) if p != q)
            return f"{got[max(0, at_got + i - 30):at_got + i + 30]!r} where tests/golden/ has " \
                   f"{golden[max(0, at + i - 30):at + i + 30]!r}"
        context = f" after {golden[max(0, at - 40):at]!r}"
        if kind != kind_got or (kind == "num" and not printed_close(Number(x), Number(y))):
            return f"{y!r} where tests/golden/ has {x!r}{context}"
        if kind == "cls":
            cell = next(classes, None)
            if x != y and not (cell and int(y) in _steps(cell)):
                return f"colour class c{y} where tests/golden/ has c{x}" + (
                    f" and the value behind it, {cell.value:.6g}, is not on a class boundary" if cell else "") + context
    if len(a) != len(b):
        return f"{len(b)} runs of text and numbers where tests/golden/ has {len(a)}"
    return None


def _steps(cell) -> range:
    """The colour classes of the values within tolerance of a cell's."""
    from bertgallery.colours import Cell
    margin = max(STORED_RTOL * abs(cell.value), STATISTICS_UNIT)
    return range(Cell(cell.value - margin, cell.signed).step, Cell(cell.value + margin, cell.signed).step + 1)


def classes_behind(golden: dict[str, bytes], cfg) -> dict[str, list]:
    """The value behind every colour class of every page, in the page's order (colours.Cell, as the templates
    take their class from it): the golden results rendered into pages again, with Cell.step watched."""
    from bertgallery import build, colours, model, names, site
    from bertgallery.records import Result
    results = [Result.from_json(json.loads(golden[f"{s.slug}/{names.DATA}"])) for s in cfg.sentences]
    svgs = [golden.get(f"{s.slug}/{names.PARSE}", b"").decode() for s in cfg.sentences]
    info = model.ModelInfo(cfg.models[0], results[0].layers, results[0].heads_per_layer)
    gallery = site.Gallery([build.gallery_model(cfg, info, "", results, svgs, None)], cfg.path.name, cfg.colormap)
    step, seen, out = colours.Cell.step, [], {}
    colours.Cell.step = property(lambda cell: seen.append(cell) or step.fget(cell))
    try:
        for relpath, _ in site.pages(gallery):  # a generator: each page is rendered as it is taken
            out[relpath], seen[:] = list(seen), []
    finally:
        colours.Cell.step = step
    return out


# ---------------------------------------------------------------- data
def _json(data: bytes):
    return json.loads(data, parse_float=Number)


def _stored(a, b, path: str) -> str | None:
    """The first difference of two JSON values, or None: numbers to the stored tolerance, the rest exact."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return f"{path or 'the top'} has keys {sorted(b)} where tests/golden/ has {sorted(a)}"
        return next((why for k in a if (why := _stored(a[k], b[k], f"{path}.{k}"))), None)
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path} has {len(b)} items where tests/golden/ has {len(a)}"
        return next((why for i, (x, y) in enumerate(zip(a, b)) if (why := _stored(x, y, f"{path}[{i}]"))), None)
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
    if numbers and (isinstance(a, float) or isinstance(b, float)):
        return None if stored_close(a, b) else f"{path} is {b} where tests/golden/ has {a}"
    return None if a == b and type(a) is type(b) else f"{path} is {b!r} where tests/golden/ has {a!r}"


def view_data(data: bytes) -> tuple[dict, np.ndarray]:
    """The explorer's data (views.view_data): the JSON without the attention, and the attention as integers."""
    view = _json(data.decode().removeprefix(views.VIEW_PREFIX).rstrip().removesuffix(");").encode())
    return view, np.frombuffer(base64.b64decode(view.pop("attention")), dtype="<u2").astype(int)


def _view(golden: bytes, got: bytes) -> str | None:
    (a, weights_a), (b, weights_b) = view_data(golden), view_data(got)
    for key in ("norms", "contributions"):  # 16-bit like the attention: another CPU may round one unit apart
        x, y = a.pop(key, None), b.pop(key, None)
        if (x is None) != (y is None):
            return f"the view's {key} is {'missing' if y is None else 'there'} where tests/golden/ has it otherwise"
        if x is not None:
            x, y = (np.frombuffer(base64.b64decode(v), dtype="<u2").astype(int) for v in (x, y))
            if x.shape != y.shape or np.abs(x - y).max() > 1:
                return f"the view's {key} are not the golden ones (to one unit of 1/10000)"
    if why := _stored(a, b, ""):
        return why
    if weights_a.shape != weights_b.shape or np.abs(weights_a - weights_b).max() > 1:
        return "the attention is not the golden one (to one unit of w × 10000)"
    return None


# ---------------------------------------------------------------- pictures
def _decode(png: bytes) -> np.ndarray:
    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def _pixels(golden: bytes, got: bytes) -> str | None:
    a, b = _decode(golden), _decode(got)
    if a.shape != b.shape:
        return f"{b.shape[1]} × {b.shape[0]} pixels where tests/golden/ has {a.shape[1]} × {a.shape[0]}"
    off = np.abs(a - b).max(-1)
    if off.max() > PIXEL_STEP:
        return f"{int((off > PIXEL_STEP).sum())} pixels more than one colour step off (up to {off.max()} levels)"
    if (off > 0).mean() > PIXEL_SHARE:
        return f"{(off > 0).mean():.2%} of the pixels one colour step off (at most {PIXEL_SHARE:.0%} may be)"
    return None


# ---------------------------------------------------------------- the manifest
def _shape(value: str) -> str:
    """A key or fingerprint with its hex digits blanked: what it is, not what it is now."""
    return re.sub(r"[0-9a-f]{16,}", lambda m: f"<{len(m.group())} hex digits>", value)


def _manifest(golden: bytes, got: bytes, files: dict[str, bytes]) -> str | None:
    a, b = json.loads(golden), json.loads(got)
    b.pop("hashes", None)
    if a.keys() != b.keys() or (a["tool"], a["version"]) != (b["tool"], b["version"]):
        return "not the golden manifest's structure or version"
    if list(map(_shape, a["models"])) != list(map(_shape, b["models"])):
        return f"the models are {list(map(_shape, b['models']))} where tests/golden/ has {list(map(_shape, a['models']))}"
    entries = list(zip(a["sentences"], b["sentences"])) + list(zip(a["corpus"], b["corpus"])) + \
        list(zip(a["compare"], b["compare"]))
    if [len(a[k]) for k in ("sentences", "corpus", "compare")] != [len(b[k]) for k in ("sentences", "corpus", "compare")]:
        return "other sentences or corpus than the golden manifest's"
    for x, y in entries:
        if (x["folder"], sorted(x["files"])) != (y["folder"], sorted(y["files"])) or \
                {k: _shape(v) for k, v in x["keys"].items()} != {k: _shape(v) for k, v in y["keys"].items()}:
            return f"the entry of {y['folder']} is not the golden one's shape"
    named = {f"{e['folder']}/{n}": d for e in b["sentences"] + b["corpus"] + b["compare"]
             for n, d in e["files"].items()} | b["pages"]
    if sorted(a["pages"]) != sorted(b["pages"]):
        return "other pages than the golden manifest's"
    wrong = sorted(p for p, d in named.items() if p not in files or hashlib.sha256(files[p]).hexdigest() != d)
    return f"the SHA-256 of {wrong[0]} is not its file's ({len(wrong)} such)" if wrong else None
