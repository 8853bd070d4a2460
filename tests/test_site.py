"""Build a real sample site with a random-weight model and look inside its files."""
import base64
import json
import math
from html import escape, unescape
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import numpy as np
from PIL import Image

from bertgallery import names, site
from update_golden import GOLDEN, golden_files

class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls, self.imgs, self.scripts = [], [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("href", "src"):
            if name in attrs:
                self.urls.append(attrs[name])
        if tag == "img":
            self.imgs.append(attrs)
        if tag == "script":
            self.scripts += 1


def parse(path: Path) -> Links:
    links = Links()
    links.feed(path.read_text(encoding="utf-8"))
    return links


@pytest.fixture(scope="module")
def sample(sample_site):
    return sample_site, json.loads((sample_site / "manifest.json").read_text())


def close(a, b) -> bool:
    """The same JSON, numbers equal to 1e-4 relative: another CPU's float rounding is not an output change."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=1e-4,
                                                                                            abs_tol=1e-7)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    return a == b


def view_weights(data: bytes) -> tuple[dict, np.ndarray]:
    view = json.loads(data.decode().removeprefix(site.VIEW_PREFIX).rstrip().removesuffix(");"))
    return view, np.frombuffer(base64.b64decode(view.pop("attention")), dtype="<u2").astype(int)


def test_the_sample_site_is_the_expected_tree(sample_site):
    """Every page and the manifest byte for byte as in tests/golden/, data files to float rounding; the PNGs
    and static files by the manifest's SHA-256s, and the static files as copies of templates/. An intended
    change of the output: python tests/update_golden.py, and review the diff."""
    for name in site.STATIC_FILES:
        assert (sample_site / names.STATIC / name).read_bytes() == (site.TEMPLATES / name).read_bytes(), name
    got, expected = golden_files(sample_site), {str(p.relative_to(GOLDEN)): p.read_bytes()
                                                for p in sorted(GOLDEN.rglob("*")) if p.is_file()}
    assert sorted(got) == sorted(expected)
    for relpath in expected:
        hint = f"{relpath} differs from tests/golden/ (python tests/update_golden.py)"
        if relpath.endswith(".json") and relpath != "manifest.json":
            assert close(json.loads(got[relpath]), json.loads(expected[relpath])), hint
        elif relpath.endswith("view-data.js"):
            (view, weights), (view_expected, weights_expected) = view_weights(got[relpath]), \
                view_weights(expected[relpath])
            assert view == view_expected and np.abs(weights - weights_expected).max() <= 1, hint
        else:
            assert got[relpath] == expected[relpath], hint


def test_expected_tree(sample):
    out, manifest = sample
    heads = {names.head_png(l, h) for l in (1, 2) for h in (1, 2, 3)}
    expected = {"index.html", "manifest.json", "static/style.css", "static/explorer.css", "static/sort.js",
                "static/attention.js",
                "heads/index.html", "heads/statistics.html",
                "heads/per-layer.png", "heads/per-layer-narrow.png"} | {f"heads/layer{l}-head{h}.html" for l in (1, 2) for h in (1, 2, 3)}
    for slug in ("cat", "i-mask-to-the-mask-every-day", "long-word"):
        expected |= {f"{slug}/{name}" for name in heads | {"index.html", "data.json", "overview.png", "view-data.js", "Rollout.png",
                                                 "Parse.svg"}}
    assert {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} == expected
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".bertgallery-") and p.is_dir()]
    # the manifest names every file with its hash: the next build trusts nothing else
    files = {f"{s['slug']}/{n}" for s in manifest["sentences"] for n in s["files"]} | set(manifest["pages"])
    assert files == expected - {"manifest.json"}


def test_every_link_is_relative_and_resolves(sample):
    out, _ = sample
    pages = list(out.rglob("*.html"))
    assert len(pages) == 4 + 2 + 6  # index, 3 sentences, heads index and statistics page, a page per head
    for page in pages:
        for url in parse(page).urls:
            if url.startswith("#"):  # a place in the same page: the skip link
                assert url == "#content" and 'id="content"' in page.read_text(encoding="utf-8")
                continue
            parsed = urlparse(url)
            assert not parsed.scheme and not parsed.netloc and not url.startswith("/"), (page, url)
            target = (page.parent / unquote(parsed.path)).resolve()
            assert target.is_file(), (page, url)
            assert out.resolve() in target.parents


def test_sentence_page_content(sample):
    out, _ = sample
    html = (out / "cat" / "index.html").read_text(encoding="utf-8")
    links = parse(out / "cat" / "index.html")
    data = json.loads((out / "cat" / "data.json").read_text(encoding="utf-8"))
    # ranked table: the predictions in rank order with their percentages
    for p in data["masks"][0]["predictions"]:
        assert f'<td class="token">{escape(p["token"])}</td>' in html
        assert escape(site.percent(p["probability"])) in html
    assert '<mark class="mask">[MASK]</mark>' in html
    assert data["filled"] in html
    # the overview's tiles link every head's picture, each named by its alt text, layer-major
    tiles = re.findall(r'<a href="(Attention_Layer(\d+)_Head(\d+)\.png)" aria-label="([^"]*)"></a>',
                       html.split('<nav class="launcher"')[1].split("</nav>")[0])
    assert [(int(l), int(h)) for _, l, h, _ in tiles] == [(l, h) for l in (1, 2) for h in (1, 2, 3)]
    for _, l, h, label in tiles:
        assert re.match(rf"Layer {l}, head {h}( \([^)]*\))?: ‘[^’]+’ → ‘[^’]+’ \d\.\d\d, ", unescape(label))
    overview = next(i for i in links.imgs if i["src"] == "overview.png")
    assert Image.open(out / "cat" / "overview.png").size == (int(overview["width"]), int(overview["height"]))


def test_every_image_names_its_head_in_alt_text(sample):
    out, _ = sample
    for page in out.rglob("*.html"):
        for img in parse(page).imgs:
            m = re.search(r"Attention_Layer(\d+)_Head(\d+)\.png$", img["src"])
            if m:  # a head picture: layer, head and its strongest attention pairs
                assert re.match(rf"Layer {m[1]}, head {m[2]}( \([^)]*\))?: ‘[^’]+’ → ‘[^’]+’ \d\.\d\d", img["alt"]), \
                    (page, img)
            else:
                assert len(img["alt"]) > 20, (page, img)


def test_data_json_schema(sample):
    out, _ = sample
    data = json.loads((out / "i-mask-to-the-mask-every-day" / "data.json").read_text(encoding="utf-8"))
    assert data["text"] == "I [MASK] to the [MASK] every day."
    assert data["model"] == {"name": "./tiny-model", "about": ""}
    assert data["tokens"][0] == "[CLS]"
    assert [m["index"] for m in data["masks"]] == [i for i, t in enumerate(data["tokens"]) if t == "[MASK]"]
    for m in data["masks"]:
        probs = [p["probability"] for p in m["predictions"]]
        assert len(probs) == 4 and probs == sorted(probs, reverse=True)
        assert set(m["predictions"][0]) == {"token", "probability"}


def test_user_text_is_escaped_everywhere(sample):
    out, _ = sample
    index = (out / "index.html").read_text(encoding="utf-8")
    page = (out / "i-mask-to-the-mask-every-day" / "index.html").read_text(encoding="utf-8")
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert "<b>& mats</b>" not in index and "Cats &lt;b&gt;&amp; mats&lt;/b&gt;" in index
    assert parse(out / "index.html").scripts == 0


def test_index_lists_every_sentence_with_predictions(sample):
    out, _ = sample
    index = (out / "index.html").read_text(encoding="utf-8")
    links = parse(out / "index.html").urls
    assert "cat/index.html" in links and "i-mask-to-the-mask-every-day/index.html" in links
    cat = json.loads((out / "cat" / "data.json").read_text(encoding="utf-8"))
    assert cat["masks"][0]["predictions"][0]["token"] in index
    assert "mask 2:" in index  # the two-mask sentence lists both masks


def test_stat_maps_show_every_heads_statistic_in_its_colour(sample):
    """Seven layers x heads maps: each cell's text and colour class come from that head's number in data.json,
    and the page's style sheet gives each class the colour map's colour."""
    out, _ = sample
    html = (out / "cat" / "index.html").read_text(encoding="utf-8")
    data = json.loads((out / "cat" / "data.json").read_text(encoding="utf-8"))
    tables = re.findall(r'<table class="stat-map" data-values="([^"]*)" data-name="([^"]*)"[^>]*>(.*?)</table>', html,
                        re.S)
    for values, name, table in tables:  # each cell's precise value, for its name in the page
        assert unescape(name) == re.search(r"<caption>(.*?)</caption>", table)[1].replace("&amp;", "&")
    values = [v.split() for v, _, _ in tables]
    tables = [t for _, _, t in tables]
    assert [re.search(r"<caption>(.*?)</caption>", t)[1] for t in tables] == \
        [escape(stat.label, quote=False) for stat in site.MAPS]
    assert [stat.key for stat in site.MAPS] == ["prev", "next", "self", "cls", "sep", "punct", "breadth"]
    ln_t = math.log(len(data["tokens"]))
    for stat, table in zip(site.MAPS, tables):
        cells = re.findall(r'<td class="c(\d+)">([^<]*)</td>', table)
        assert len(cells) == len(data["heads"])  # layer-major, like data.json
        for (step, text), stats, precise in zip(cells, data["heads"], values[site.MAPS.index(stat)]):
            value = stats["entropy"] / ln_t if stat.key == "breadth" else stats[stat.key]
            assert precise == f"{value:.2f}"
            assert int(step) == round(value * (site.SCALE_STEPS - 1)), (stat.key, stats)
            assert text == ("1" if value >= 0.95 else f"{value:.1f}".removeprefix("0"))
    style = {k: (bg, fg) for k, bg, fg in re.findall(r"\}\.c(\d+)\{background:(#[0-9a-f]{6});color:(#[0-9a-f]{3,6})",
                                                      "}" + html.split("<style>")[1].split("\n")[0])}
    expected = site.colours(np.linspace(0, 1, site.SCALE_STEPS), "viridis")
    assert style == {str(k): (colour, "#fff" if light else "#000") for k, (colour, light) in enumerate(expected)}


@pytest.mark.parametrize("cmap", ["viridis", "Greys", "magma", "RdBu", "cividis"])
def test_text_on_every_colour_class_is_chosen_by_contrast(cmap):
    """WCAG 2: the text colour the pages and the view use on each colour class is the one with the higher
    contrast, computed here from the definition; with white or black that is always at least 4.5:1."""
    def luminance(hex_colour):
        rgb = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    def contrast(a, b):
        hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
        return (hi + 0.05) / (lo + 0.05)

    for background, light in site.scale(cmap):
        chosen, other = ("#ffffff", "#000000") if light else ("#000000", "#ffffff")
        assert contrast(chosen, background) >= contrast(other, background)
        assert contrast(chosen, background) >= 4.5, (cmap, background)


def test_alt_text_comes_from_the_strongest_pairs_in_data_json(sample):
    out, _ = sample
    data = json.loads((out / "cat" / "data.json").read_text(encoding="utf-8"))
    html = (out / "cat" / "index.html").read_text(encoding="utf-8")
    alts = {src: unescape(label) for src, label in re.findall(r'<a href="(Attention_[^"]*)" aria-label="([^"]*)">', html)}
    for h in data["heads"]:
        (i, j, w) = h["strongest"][0]
        alt = alts[f"Attention_Layer{h['layer']}_Head{h['head']}.png"]
        assert f"‘{data['tokens'][i]}’ → ‘{data['tokens'][j]}’ {w:.2f}" in alt


def test_every_page_has_a_plain_title_and_one_main(sample):
    out, _ = sample
    for page in out.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        title = re.search(r"<title>(.*?)</title>", html, re.S)[1]
        assert "<" not in title and title.endswith(" · BERT attention gallery"), (page, title[:80])
        assert html.count("<main") == 1 and html.count("<h1") == 1, page
