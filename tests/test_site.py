"""Build a real sample site with a random-weight model and look inside its files."""
import io
import json
import math
import shutil
from html import escape, unescape
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import numpy as np
from PIL import Image

import golden_tree
from bertgallery import config, heads, names, site
from conftest import build_sample, site_files, working_folder

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


def test_the_sample_site_is_the_expected_tree(sample_site):
    """The sample site is tests/golden/, compared as tests/golden_tree.py says (numbers as numbers, pictures
    by their pixels), and its static files are templates/'. An intended change of the output: python
    tests/update_golden.py, and review the diff."""
    for name in names.STATIC_FILES:
        assert (sample_site / names.STATIC / name).read_bytes() == (site.TEMPLATES / name).read_bytes(), name
    golden = golden_tree.expected()
    behind = golden_tree.classes_behind(golden, config.load(sample_site.parent / "sentences.yaml"))
    classes = {p: len(re.findall(rb'class="c\d+"', data)) for p, data in golden.items() if p.endswith(".html")}
    assert {p: len(behind.get(p, [])) for p in classes} == classes  # every colour class's value is known
    found = golden_tree.differences(golden, site_files(sample_site), behind)
    assert not found, "the sample site is not tests/golden/ (python tests/update_golden.py):\n" + "\n".join(found)


@pytest.mark.slow
def test_a_build_from_weights_nudged_by_float32_rounding_is_the_expected_tree(sample_bert, tmp_path):
    """Every weight of the sample's model one float32 step up or down (about 1e-7 of its size, what another
    CPU's kernels do to a result): the same site, by the golden comparison."""
    from safetensors.numpy import load_file, save_file
    nudged = tmp_path / "nudged"
    shutil.copytree(sample_bert, nudged)
    rng = np.random.default_rng(0)
    weights = {name: np.nextafter(w, np.where(rng.random(w.shape) < 0.5, -np.inf, np.inf).astype(w.dtype))
               for name, w in load_file(nudged / "model.safetensors").items()}
    assert all(0 < np.abs(weights[n] / w - 1).max() < 2.5e-7
               for n, w in load_file(sample_bert / "model.safetensors").items() if np.all(w != 0))
    save_file(weights, nudged / "model.safetensors", metadata={"format": "pt"})
    built = build_sample(tmp_path / "sample", nudged)
    golden = golden_tree.expected()
    behind = golden_tree.classes_behind(golden, config.load(built.parent / "sentences.yaml"))
    assert golden_tree.differences(golden, site_files(built), behind) == []


def _changed(files: dict, change: str) -> dict:
    files = dict(files)
    if change == "statistic":  # one head's share of attention to the previous token, 1 % more
        data = json.loads(files["cat/data.json"])
        data["heads"][0]["prev"] *= 1.01
        files["cat/data.json"] = json.dumps(data).encode()
    elif change == "label":
        files["heads/index.html"] = files["heads/index.html"].replace(b"Previous token", b"Previous word", 1)
    elif change == "file name":
        files["cat/Attention_Layer_1_Head_1.png"] = files.pop("cat/Attention_Layer1_Head1.png")
    elif change == "colour of a picture":  # one colour of the palette, two colour-map steps further on
        img = Image.open(io.BytesIO(files["cat/Attention_Layer2_Head3.png"]))
        palette = np.array(img.getpalette()).reshape(-1, 3)
        used = np.unique(np.asarray(img))
        colour = used[np.argmax(np.ptp(palette[used], axis=1))]  # the most colourful one it uses
        palette[colour] = np.clip(palette[colour] + 2 * golden_tree.PIXEL_STEP, 0, 255)
        img.putpalette(palette.ravel().tolist())
        out = io.BytesIO()
        img.save(out, format="PNG")
        files["cat/Attention_Layer2_Head3.png"] = out.getvalue()
    elif change == "colour class":  # a map's first cell, two classes up
        html = files["cat/index.html"].decode()
        at = html.index('<td class="c', html.index('class="stat-map"')) + len('<td class="c')
        number = re.match(r"\d+", html[at:])[0]
        files["cat/index.html"] = (html[:at] + str((int(number) + 2) % 32) + html[at + len(number):]).encode()
    elif change == "printed number":  # a mean on the heads page, two units of its last digit off
        html = files["heads/index.html"].decode()
        m = re.search(r'class="c\d+">(\d\.\d\d)<', html)
        files["heads/index.html"] = (html[:m.start(1)] + f"{float(m[1]) + 0.02:.2f}" + html[m.end(1):]).encode()
    return files


@pytest.mark.parametrize("change, found", [
    ("statistic", r"cat/data.json: \.heads\[0\]\.prev is "),
    ("label", r"heads/index.html: '.*Previous word.*' where tests/golden/ has '.*Previous token"),
    ("file name", r"cat/Attention_Layer_1_Head_1.png: not in tests/golden/"),
    ("colour of a picture", r"cat/Attention_Layer2_Head3.png: \d+ pixels more than one colour step off"),
    ("colour class", r"cat/index.html: colour class c5 where tests/golden/ has c3 and the value behind it"),
    ("printed number", r"heads/index.html: '0.10' where tests/golden/ has '0.08'")])
def test_an_output_change_is_not_the_expected_tree(sample_site, change, found):
    """The other way: each change of the output the golden comparison names (and the manifest's hash of the
    changed file no longer holds)."""
    golden = golden_tree.expected()
    behind = golden_tree.classes_behind(golden, config.load(sample_site.parent / "sentences.yaml"))
    differences = golden_tree.differences(golden, _changed(site_files(sample_site), change), behind)
    assert any(re.match(found, line) for line in differences), differences


def test_numbers_compare_to_their_printed_or_stored_precision():
    """The golden comparison's rules on their own: a printed number may be one unit of its last digit off, a
    stored one its tolerance; a colour class only where the value behind it sits on a class boundary."""
    from bertgallery.colours import Cell
    same = lambda a, b, behind=None: golden_tree._printed(a, b, behind) is None  # noqa: E731
    assert same("mean 0.43 ±0.012", "mean 0.44 ±0.011") and not same("mean 0.43", "mean 0.45")
    assert same("1.0%", "0.99%") and same("−0.000", "+0.000") and same(".4", ".5") and same("1", ".9")
    assert not same("Layer 2", "Layer 3") and not same("layer1-head2.html", "layer1-head3.html")
    assert not same("#3b528b", "#3b528c") and not same("0.43 mean", "0.43 means")
    on_boundary, inside = Cell(12.5 / 31 + 1e-7), Cell(12.2 / 31)
    assert same('<td class="c12">', '<td class="c13">', [on_boundary])
    assert not same('<td class="c12">', '<td class="c13">', [inside])
    assert not same('<td class="c12">', '<td class="c14">', [on_boundary])
    stored = lambda a, b: golden_tree._stored(golden_tree._json(a), golden_tree._json(b), "") is None  # noqa: E731
    assert stored(b"[0.123456]", b"[0.123457]") and stored(b"[1.00001e-05]", b"[1.00002e-05]")
    assert stored(b"[5.67549e-05]", b"[5.6755e-05]") and not stored(b"[0.1236]", b"[0.1234]")
    assert not stored(b'[1, "a"]', b'[2, "a"]') and not stored(b'{"tags": ["broad"]}', b'{"tags": []}')


def test_the_pixel_tolerance_is_one_step_of_the_colour_map():
    from bertgallery import render
    colours = render.colormap("viridis")(np.arange(render.CMAP_LEVELS), bytes=True)[:, :3].astype(int)
    assert np.abs(np.diff(colours, axis=0)).max() == golden_tree.PIXEL_STEP


def test_the_samples_discrete_results_are_clear_of_their_boundaries(sample_site):
    """What the golden comparison takes as exact rests on values none of which is within STORED_RTOL (relative)
    of its boundary, so no CPU's float rounding can move it: each mask's ranking (the top_k + 1 first, so the
    last kept one too) and the five heads it depends on most, the tags, each head's strongest pairs, and the
    word each word attends to most (the parse's arcs, and so the syntax table)."""
    from bertgallery import analyse, heads, syntax
    cfg = config.load(sample_site.parent / "sentences.yaml")
    margins = {"ranks": [], "top heads": [], "tags": [], "strongest pairs": [], "most-attended words": []}

    def gaps(values, n):  # relative gaps between the n largest values, in order
        top = np.sort(np.ravel(values))[::-1][:n]
        return list((top[:-1] - top[1:]) / top[:-1])

    with working_folder(sample_site.parent):
        for s in cfg.sentences:
            r = analyse(s.text, model=cfg.models[0], top_k=cfg.top_k + 1, colormap=cfg.colormap)
            for mask in r.masks:
                margins["ranks"] += gaps([p.probability for p in mask.predictions], cfg.top_k + 1)
                margins["top heads"] += gaps(np.abs(mask.importance), site.TOP_HEADS + 1)
            values = np.array([h.values for h in r.heads])
            margins["tags"] += [np.nanmin(np.abs(values[:, heads.INDEX[t.key]] - t.threshold)) / t.threshold
                                for t in heads.TAGGED  # a statistic that does not apply (cross, alone) tags nothing
                                if not np.isnan(values[:, heads.INDEX[t.key]]).all()]
            margins["strongest pairs"] += [g for head in r.attention.reshape(-1, len(r.tokens) ** 2)
                                           for g in gaps(head, 4)]
            assert r.syntax, s.text
            words = syntax.word_attention(r.attention, np.array(r.syntax.token_word), len(r.syntax.words))
            words = np.sort(np.where(np.eye(words.shape[-1], dtype=bool), -np.inf, words), -1)
            margins["most-attended words"] += list(np.ravel((words[..., -1] - words[..., -2]) / words[..., -1]))
    closest = {kind: min(found) for kind, found in margins.items()}
    assert all(margin > golden_tree.STORED_RTOL for margin in closest.values()), closest


def test_expected_tree(sample):
    out, manifest = sample
    heads = {names.head_png(l, h) for l in (1, 2) for h in (1, 2, 3)}
    expected = {"index.html", "manifest.json", "static/style.css", "static/explorer.css", "static/sort.js",
                "static/attention.js",
                "heads/index.html", "heads/statistics.html",
                "heads/per-layer.png", "heads/per-layer-narrow.png"} | {f"heads/layer{l}-head{h}.html" for l in (1, 2) for h in (1, 2, 3)}
    for slug in ("cat", "i-mask-to-the-mask-every-day", "long-word"):
        expected |= {f"{slug}/{name}" for name in heads | {"index.html", "data.json", "overview.png", "overview-narrow.png", "view-data.js", "Rollout.png",
                                                 "Parse.svg"}}
    assert {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} == expected
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".bertgallery-") and p.is_dir()]
    # the manifest names every file with its hash: the next build trusts nothing else
    files = {f"{s['folder']}/{n}" for s in manifest["sentences"] for n in s["files"]} | set(manifest["pages"])
    assert files == expected - {"manifest.json"}


def test_every_link_is_relative_and_resolves(sample):
    out, _ = sample
    pages = list(out.rglob("*.html"))
    assert len(pages) == 4 + 2 + 6  # index, 3 sentences, heads index and statistics page, a page per head
    for page in pages:
        for url in parse(page).urls:
            if url.startswith("#"):  # a place in the same page (the skip link's, a section), or an explorer view
                text = page.read_text(encoding="utf-8")
                assert f'id="{url[1:]}"' in text or re.fullmatch(r"#l=\d+&h=\d+", url) and 'id="explore"' in text, url
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
    narrow = re.search(r'<source media="\(max-width: 600px\), \(min-width: 1000px\)" srcset="overview-narrow.png" '
                       r'width="(\d+)" height="(\d+)">', html)  # a phone's and the explorer's column's, its own size
    assert narrow and Image.open(out / "cat" / "overview-narrow.png").size == tuple(map(int, narrow.groups()))


def test_each_sentence_page_says_which_head_the_explorer_opens_on_and_why(sample):
    """Recomputed from data.json: of the heads with under 0.6 of their attention on [CLS], [SEP] and the token
    itself, the largest positive importance of the first mask. The page names that head and its guess above the
    explorer, its view data opens on it, and the order of the page is the sentence, the predictions, the
    explorer, going deeper. (Random weights: the long-word sentence is the one whose largest |I| works against
    its guess, and its page opens elsewhere.)"""
    from bertgallery.views import VIEW_PREFIX
    out, _ = sample
    opened = {}
    for slug in ("cat", "i-mask-to-the-mask-every-day", "long-word"):
        data = json.loads((out / slug / "data.json").read_text(encoding="utf-8"))
        importance = np.array(data["masks"][0]["importance"]["values"]).ravel()
        words = [h["cls"] + h["sep"] + h["self"] < 0.6 for h in data["heads"]]
        k = max((v, k) for k, v in enumerate(importance) if words[k] and v > 0)[1]
        layer, head = data["heads"][k]["layer"], data["heads"][k]["head"]
        view = json.loads((out / slug / names.VIEW_DATA).read_text(encoding="utf-8").removeprefix(VIEW_PREFIX)[:-3])
        assert view["default"] == [layer, head], slug
        html = (out / slug / "index.html").read_text(encoding="utf-8")
        lead = unescape(re.sub(r"<[^>]+>", "", html.split('id="first-look">')[1].split("</p>")[0]))
        guess = data["masks"][0]["predictions"][0]["token"]
        assert lead.startswith(f"It opens on Layer {layer}, head {head},\nthe head that does most for the guess "
                               f"‘{guess}’"), lead
        assert "(under 60 % of their attention on [CLS], [SEP] and the token itself)" in " ".join(lead.split())
        order = [html.index(m) for m in ('class="sentence"', 'id="predictions-title"', 'id="explore-title"',
                                         'id="explore"', 'class="overview"', 'id="deeper"', 'id="importance"',
                                         'id="rollout"', 'id="what-heads-do"', 'id="syntax"')]
        assert order == sorted(order), slug
        opened[slug] = k
    long_word = np.array(json.loads((out / "long-word" / "data.json").read_text())["masks"][0]["importance"]["values"])
    assert long_word.ravel()[np.argmax(np.abs(long_word))] < 0 and opened["long-word"] != np.argmax(np.abs(long_word))


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
    single = heads.applicable(site.MAPS, False)  # the sample has no sentence pair
    assert [re.search(r"<caption>(.*?)</caption>", t)[1] for t in tables] == \
        [escape(stat.label, quote=False) for stat in single]
    assert [stat.key for stat in single] == ["prev", "next", "self", "cls", "sep", "cls_norm", "sep_norm", "punct",
                                             "breadth"]
    assert [s.key for s in site.MAPS if s.pairs_only] == ["cross"]  # a pair's page draws it too (tests/test_pairs.py)
    ln_t = math.log(len(data["tokens"]))
    for stat, table in zip(single, tables):
        cells = re.findall(r'<td class="c(\d+)">([^<]*)</td>', table)
        assert len(cells) == len(data["heads"])  # layer-major, like data.json
        for (step, text), stats, precise in zip(cells, data["heads"], values[single.index(stat)]):
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


class Words(HTMLParser):
    """What a reader reads of a page: its text and the labels a screen reader says, never script or style."""
    def __init__(self):
        super().__init__()
        self.words, self.hidden = [], 0

    def handle_starttag(self, tag, attrs):
        self.hidden += tag in ("script", "style")
        self.words += [v for k, v in attrs if k in ("alt", "title", "aria-label", "data-name") and v]

    def handle_endtag(self, tag):
        self.hidden -= tag in ("script", "style")

    def handle_data(self, data):
        if not self.hidden:
            self.words.append(data)


def words(page: Path) -> str:
    w = Words()
    w.feed(page.read_text(encoding="utf-8"))
    return " ".join(" ".join(w.words).split())


# a formula's signs and units, for the statistics page (one link away from every map that needs one)
FORMULA = ("÷", "|I|", "ln T", "nats of", "log p(")


def test_the_pages_speak_plainly_and_the_statistics_page_keeps_the_formulas(sample):
    """Issue 27: a student reads plain words on the pages; the formulas are on the statistics page. No page sends
    a visitor of the published site to the README (not on the site); a count of two is "both"."""
    out, _ = sample
    stats_page = out / names.HEADS / names.STATISTICS_PAGE
    for page in out.rglob("*.html"):
        text = words(page)
        assert "README" not in text, page
        assert not re.search(r"\b[Aa]ll 2\b", text), page
        if page != stats_page:
            assert [f for f in FORMULA if f in text] == [], page
    formulas = words(stats_page)
    assert "entropy ÷ ln T" in formulas and "log p(w | sentence)" in formulas
    two = words(out / "i-mask-to-the-mask-every-day" / "index.html")
    assert "Both masks are predicted from the same single pass" in two and "the other's answer" in two
    assert site.all_of(3, "masks") == "All 3 masks" and site.all_of(2, "heads") == "Both heads"


def test_every_page_has_a_plain_title_and_one_main(sample):
    out, _ = sample
    for page in out.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        title = re.search(r"<title>(.*?)</title>", html, re.S)[1]
        assert "<" not in title and title.endswith(" · Attention gallery"), (page, title[:80])
        assert html.count("<main") == 1 and html.count("<h1") == 1, page


def test_the_per_layer_plot_shows_the_special_tokens_by_weights_and_by_value_norms(sample_site):
    """Issue 25: the heads page's plot has the shares by weights and by value norms together (the page says which
    line is which); a statistic measured in no layer (a family without value norms) is left out, legend too."""
    from bertgallery import heads, plots
    html = (sample_site / names.HEADS / names.PAGE).read_text(encoding="utf-8")
    alt = re.search(r'<img src="per-layer.png" alt="([^"]*)"', html)[1]
    assert all(escape(heads.STATISTICS[heads.INDEX[k]].label, quote=True) in alt
               for k in ("cls", "sep", "cls_norm", "sep_norm"))
    assert "dashed" in html and "value norms" in html
    means = np.array([[0.5, 0.3, 0.1, 0.2, 0.1], [0.6, 0.2, 0.1, 0.1, 0.05]])
    labels = [heads.STATISTICS[heads.INDEX[k]].label for k in site.LAYER_PLOT_KEYS]
    drawn = plots.render_layer_plot(means, labels, site.LAYER_PLOT_SIZE, site.LAYER_PLOT_STYLES)
    weights_only = plots.render_layer_plot(means[:, :3], labels[:3], site.LAYER_PLOT_SIZE, site.LAYER_PLOT_STYLES)
    assert drawn != weights_only
    unmeasured = means.copy()
    unmeasured[:, 3:] = np.nan
    assert plots.render_layer_plot(unmeasured, labels, site.LAYER_PLOT_SIZE, site.LAYER_PLOT_STYLES) == weights_only


def test_the_heads_table_shows_a_standard_error_only_where_it_reaches_the_digits_shown(sample_site):
    """Recomputed from the sentences' data.json: each mean over the sentences, and its ± (the standard error,
    sample standard deviation ÷ √n) shown to two digits exactly where it is at least site.SHOWN_STDERR."""
    from bertgallery.heads import STATISTICS
    pages = [json.loads((sample_site / slug / "data.json").read_text())
             for slug in ("cat", "i-mask-to-the-mask-every-day", "long-word")]
    assert not any(p.get("pair") for p in pages)
    html = (sample_site / "heads" / "index.html").read_text()
    body = html.split('<table class="heads sortable"')[1].split("</tbody>")[0]
    rows = re.findall(r"<tr data-tags=.*?</tr>", body, re.S)
    assert len(rows) == 6
    shown = hidden = 0
    for k, row in enumerate(rows):
        shown_stats = [stat for stat in STATISTICS if not stat.pairs_only]  # the sample has no sentence pair
        cells = re.findall(r'<td data-label="([^"]*)" data-value="[^"]*"(?: class="c\d+")?>(.*?)</td>', row, re.S)
        assert [label for label, _ in cells[:-1]] == [stat.short for stat in shown_stats]  # a phone's card says it
        for stat, (_, cell) in zip(shown_stats, cells):
            values = [p["heads"][k][stat.key] for p in pages if p["heads"][k][stat.key] is not None]
            se = np.std(values, ddof=1) / math.sqrt(len(values)) if len(values) > 1 else math.nan
            error = re.search(r"<small> ±(\d\.\d\d)</small>", cell)
            if se >= site.SHOWN_STDERR:
                assert error and float(error[1]) == pytest.approx(se, abs=0.005 + 1e-9), (k, stat.key, cell, se)
                shown += 1
            else:
                assert error is None, (k, stat.key, cell, se)
                hidden += 1
    assert shown and hidden  # both cases occur in the sample
