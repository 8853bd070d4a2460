"""The explorer (templates/attention.js) in Chromium, on hand-made views written to the data contract
(docs/explorer.md): two and three models, a sentence pair with segments, value norms and contributions. Each
test builds its page in a temp folder with the site's static files; the numbers it expects are computed here
from the same arrays, independently of the JavaScript.

Bugs of issue 27 (item 5) have a test each here; the sample site's pages are checked where the bug was in
a template (the links, the skip link, the maps)."""
import base64
import json
import re
import shutil

import numpy as np
import pytest

from bertgallery import api, colours, names, site
from bertgallery.heads import applicable
from bertgallery.views import VIEW_PREFIX
from conftest import ROOT, working_folder
from test_browser import AXE, CHROMIUM, open_page, state  # noqa: F401  (skips where Chromium is missing)

ARTIFACTS = ROOT / "test-artifacts"
MIN_LINE, MIN_LEFT = 0.02, 0.05  # as attention.js


def b64(values: np.ndarray) -> str:
    return base64.b64encode(np.asarray(values).astype("<u2").tobytes()).decode("ascii")


def patterned(tokens: list[str], layers: int, heads: int, seed: int) -> np.ndarray:
    """[layers, heads, T, T] rows that sum to 1, quantised to 1/10,000 as the pages store them: heads that look
    at the previous token, the next one, [CLS], themselves, or broadly, with seeded noise."""
    rng = np.random.default_rng(seed)
    T = len(tokens)
    out = np.empty((layers, heads, T, T))
    for l in range(layers):
        for h in range(heads):
            a = rng.random((T, T)) ** 3 * 0.3
            kind = (l * heads + h) % 5
            for i in range(T):
                a[i, [max(i - 1, 0), min(i + 1, T - 1), 0, i, i][kind]] += [3, 3, 4, 2, 0][kind]
            out[l, h] = a / a.sum(-1, keepdims=True)
    return quantised(out)


def quantised(a: np.ndarray) -> np.ndarray:
    """w as the page reads it: round(w × 10000) × (1 / 10000), never exactly on the drawing threshold."""
    q = np.rint(a * 10000)
    q[q == MIN_LINE * 10000] += 1
    return q


def make_view(name, tokens, layers, heads, seed, segments=None, norms=False, contributions=False, default=(1, 1)):
    special = [i for i, t in enumerate(tokens) if t in ("[CLS]", "[SEP]", "<s>", "</s>")]
    att = patterned(tokens, layers, heads, seed)
    rng = np.random.default_rng(seed + 1)
    T = len(tokens)
    norm = None
    if norms:  # ‖f(x_j)‖ per head, each head's row divided by its largest, × 10000; the specials' are small
        n = rng.random((layers, heads, T)) + 0.2
        n[..., special] *= 0.05
        norm = np.rint(n / n.max(-1, keepdims=True) * 10000)
    contrib = None
    if contributions:
        c = rng.random((layers, T, T)) ** 4
        c[:, np.arange(T), np.arange(T)] += 2  # the residual: mostly itself
        contrib = quantised(c / c.sum(-1, keepdims=True))
    steps = colours.scale("viridis")
    tags = [["previous token"], ["next token"], ["[CLS]"], ["self"], ["broad"]]
    view = {"model": name, "tokens": tokens, "layers": layers, "heads": heads, "special": special,
            "segments": segments, "colors": [c for c, _ in steps], "light": [light for _, light in steps],
            "scale": 10000, "names": names.for_js(), "tags": [tags[k % 5] for k in range(layers * heads)],
            "headColours": colours.head_colours(heads), "default": list(default), "attention": b64(att),
            "norms": None if norm is None else b64(norm), "contributions": None if contrib is None else b64(contrib)}
    arrays = {"attention": att * (1 / 10000), "norms": norm,
              "contributions": None if contrib is None else contrib * (1 / 10000)}
    return view, arrays


SENTENCE = ["[CLS]", "the", "cat", "sat", "on", "the", "[MASK]", "and", "looked", "around", ".", "[SEP]"]
OTHER = ["<s>", "The", "Ġcat", "Ġsat", "Ġon", "Ġthe", "<mask>", "Ġand", "Ġlooked", "Ġaround", ".", "</s>"]
PAIR = ["[CLS]", "the", "cat", "sat", "down", ".", "[SEP]", "it", "was", "tired", ".", "[SEP]"]


def write_page(folder, views, models=None, body=""):
    """A sentence page as the site makes it: a skip link, the explorer's section with data-models, one
    view-data script per model before attention.js. Returns its file:// URL."""
    (folder / "static").mkdir(parents=True, exist_ok=True)
    for name in ("attention.js", "explorer.css", "style.css"):
        shutil.copy(site.TEMPLATES / name, folder / "static" / name)
    page = folder / "page"
    page.mkdir(exist_ok=True)
    models = models or [{"slug": f"m{k}", "name": v["model"], "prefix": "", "heads": "../heads/"}
                        for k, v in enumerate(views)]
    scripts = ""
    for k, v in enumerate(views):
        (page / f"view-{k}.js").write_text(
            f"{VIEW_PREFIX}{json.dumps(v)});\n", encoding="utf-8")
        scripts += f'<script src="view-{k}.js"></script>\n'
    attr = json.dumps(models).replace("&", "&amp;").replace('"', "&quot;")
    (page / "index.html").write_text(f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Explorer test</title>
<link rel="stylesheet" href="../static/style.css"><link rel="stylesheet" href="../static/explorer.css"></head>
<body><a class="skip" href="#content">Skip to the content</a><main id="content"><h1>A hand-made view</h1>{body}
<section class="interactive" id="explore" hidden aria-labelledby="t" data-models="{attr}"><h2 id="t">Explore the heads</h2>
<div class="explorer"></div></section><p style="height: 1500px">After the explorer.</p></main>
{scripts}<script src="../static/attention.js"></script></body></html>""", encoding="utf-8")
    return (page / "index.html").as_uri()


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """Three models: a 2 x 3 BERT-like one, a 3 x 4 one with other tokens and value norms, and a sentence pair
    (2 x 3) with segments, norms and contributions."""
    views = [make_view("tiny-bert", SENTENCE, 2, 3, 1, default=(2, 2)),
             make_view("other-model", OTHER, 3, 4, 2, norms=True, default=(3, 4)),
             make_view("pair-model", PAIR, 2, 3, 3, segments=[0] * 7 + [1] * 5, norms=True, contributions=True)]
    url = write_page(tmp_path_factory.mktemp("three"), [v for v, _ in views])
    return url, views


def lines(page):
    """Per head slot, how many lines each weight bucket's path draws (one 'M' per line)."""
    return page.eval_on_selector_all(".bg-lines .bg-slot", "gs => gs.map(g => [...g.querySelectorAll('path')]"
                                     ".map(p => (p.getAttribute('d').match(/M/g) || []).length))")


def drawn(page) -> int:
    return sum(map(sum, lines(page)))


def svg_nodes(page) -> int:
    return page.evaluate("document.querySelector('.bg-lines').querySelectorAll('*').length")


def expected_lines(a, layer, heads, segments=None, flt="all", hide=False, special=(), active=None):
    """The lines the explorer must draw for these heads, from the definitions: per head, each pair (i, j) with
    weight ≥ 0.02 (after renormalising each row over the tokens shown, with [CLS]/[SEP] hidden; a row with
    under 5 % left is not drawn), that the segment filter lets through and that touches the active token."""
    T = a.shape[-1]
    shown = [k for k in range(T) if not (hide and k in special)]
    mean = sum(a[layer, h] * (1 / len(heads)) for h in heads) if len(heads) > 1 else a[layer, heads[0]]
    total = 0
    for h in heads:
        w = a[layer, h]
        for i in shown:
            if hide and sum(mean[i, j] for j in shown) < MIN_LEFT:
                continue
            left = sum(w[i, j] for j in shown) if hide else 1
            for j in shown:
                v = w[i, j] / left if hide else w[i, j]
                if v < MIN_LINE or (active and active[0] == 0 and active[1] != i) \
                        or (active and active[0] == 1 and active[1] != j):
                    continue
                if flt != "all" and not (segments[i] == "AB".index(flt[0]) and segments[j] == "AB".index(flt[1])):
                    continue
                total += 1
    return total


def test_the_sites_view_data_is_the_contract(sample_site):
    """view-data.js pushes one view with every field of the contract (docs/explorer.md), null where a feature
    does not apply; the sentence page names its model for the explorer and loads the view before attention.js."""
    text = (sample_site / "cat" / names.VIEW_DATA).read_text(encoding="utf-8")
    assert text.startswith(VIEW_PREFIX) and text.endswith(");\n")
    view = json.loads(text.removeprefix(VIEW_PREFIX).removesuffix(");\n"))
    assert set(view) == {"model", "tokens", "layers", "heads", "special", "segments", "attention", "scale", "norms",
                         "contributions", "colors", "light", "names", "tags", "headColours", "default"}
    assert (view["model"], view["segments"]) == ("./tiny-model", None)
    weights = np.frombuffer(base64.b64decode(view["attention"]), dtype="<u2").astype(int).reshape(2, 3, 12, 12)
    assert np.abs(weights.sum(-1) - view["scale"]).max() <= 12  # rows sum to 1, to the rounding of 12 weights
    # value norms: each head's divided by its largest; contributions per layer, rows summing to 1 (issue 25)
    norms = np.frombuffer(base64.b64decode(view["norms"]), dtype="<u2").astype(int).reshape(2, 3, 12)
    contributions = np.frombuffer(base64.b64decode(view["contributions"]), dtype="<u2").astype(int).reshape(2, 12, 12)
    assert (norms.max(-1) == 10000).all() and np.abs(contributions.sum(-1) - view["scale"]).max() <= 12
    with working_folder(sample_site.parent):
        mixed = api.analyse("The cat sat on the [MASK] and looked around.", model="./tiny-model").result.mixing
    np.testing.assert_allclose(norms / 10000, mixed.norms / mixed.norms.max(-1, keepdims=True), atol=0.5e-4)
    np.testing.assert_allclose(contributions / 10000, mixed.contributions, atol=0.5e-4)
    assert view["names"]["headPage"] == names.HEAD_PAGE
    html = (sample_site / "cat" / "index.html").read_text(encoding="utf-8")
    models = json.loads(re.search(r'data-models="([^"]*)"', html)[1].replace("&#34;", '"'))
    assert models == [{"slug": "", "name": "./tiny-model", "prefix": "", "heads": "../heads/"}]
    assert html.index(f'<script src="{names.VIEW_DATA}">') < html.index("attention.js")


def test_drawing_creates_no_svg_nodes_after_the_first_draw(three, browser):
    """bertviz's way: the DOM is built once and `draw` rewrites attributes. Switching models, layers, heads,
    modes, lenses, filters, hiding and hovering tokens adds no node to the lines' SVG."""
    url, views = three
    page = open_page(browser, url)
    nodes = svg_nodes(page)
    page.evaluate("""window.added = 0; new MutationObserver(ms => ms.forEach(m => window.added += m.addedNodes.length))
        .observe(document.querySelector('.bg-lines'), {childList: true, subtree: true})""")
    steps = [lambda: page.select_option(".bg-model", "1"), lambda: page.select_option(".bg-layer", "1"),
             lambda: page.locator(".bg-head").nth(0).click(), lambda: page.locator(".bg-head").nth(3).click(),
             lambda: page.locator(".bg-from .bg-tok").nth(3).hover(), lambda: page.check(".bg-lens input[value=value]"),
             lambda: page.check(".bg-mode input[value=layer]"), lambda: page.check(".bg-mode input[value=all]"),
             lambda: page.select_option(".bg-model", "2"), lambda: page.check(".bg-filter input[value=AB]"),
             lambda: page.check(".bg-lens input[value=contributions]"), lambda: page.check(".bg-hide"),
             lambda: page.locator(".bg-to .bg-tok").nth(2).click(), lambda: page.select_option(".bg-model", "0"),
             lambda: page.check(".bg-mode input[value=heads]")]
    for step in steps:
        step()
        assert svg_nodes(page) == nodes
    assert page.evaluate("window.added") == 0
    assert drawn(page) > 0 and page.errors == []


def test_lines_drawn_per_segment_filter_match_the_data(three, browser):
    """The filter All · A→A · B→B · A→B · B→A (only on a view with segments): the lines drawn, per filter, with
    one and two heads, with [CLS]/[SEP] hidden and with a token highlighted, are those the data gives."""
    url, views = three
    (view, arrays) = views[2]
    seg, special = view["segments"], view["special"]
    page = open_page(browser, url + "#m=m2&l=1&h=2")
    assert page.locator(".bg-filter").is_visible()
    labels = page.eval_on_selector_all(".bg-filter label", "ls => ls.map(l => l.textContent.trim())")
    assert labels == ["All", "A→A", "B→B", "A→B", "B→A"]
    counts = {}
    for heads, hide in (([1], False), ([0, 2], False), ([0, 2], True)):
        page.goto(url + f"#m=m2&l=1&h={','.join(str(h + 1) for h in heads)}" + ("&hide=1" if hide else ""))
        for flt in ("all", "AA", "BB", "AB", "BA"):
            page.check(f".bg-filter input[value={flt}]")
            page.mouse.move(0, 0)  # the click leaves the pointer where a token may move under it: no hover here
            expected = expected_lines(arrays["attention"], 0, heads, seg, flt, hide, special)
            assert drawn(page) == expected, (heads, hide, flt)
            counts[(tuple(heads), hide, flt)] = expected
        # with the attending token 'it' (segment B) highlighted: only its lines, to the filter's segment
        page.check(".bg-filter input[value=BA]")
        page.locator(".bg-from .bg-tok").nth(7).hover()
        assert drawn(page) == expected_lines(arrays["attention"], 0, heads, seg, "BA", hide, special, (0, 7)) > 0
    for key in counts:  # the four filters split the lines of All
        if key[2] == "all":
            assert sum(counts[key[:2] + (f,)] for f in ("AA", "BB", "AB", "BA")) == counts[key]
    assert "f=BA" in page.evaluate("location.hash")
    # a view without segments offers no filter, and the address's f= is ignored there
    page.goto(url + "#l=1&h=1&f=AB")
    assert not page.locator(".bg-filter").is_visible() and "f=" not in page.evaluate("location.hash")
    assert page.errors == []


def test_several_heads_keep_every_heads_lines_visible(tmp_path, browser):
    """Two heads with the same weights, chosen together: the lines of both are drawn side by side in each
    head's colour, so the pixels of both colours show (before, the last head drawn covered the other)."""
    view, _ = make_view("same", SENTENCE, 1, 2, 5)
    att = np.frombuffer(base64.b64decode(view["attention"]), dtype="<u2").reshape(1, 2, 12, 12).copy()
    att[0, 1] = att[0, 0]
    view["attention"] = b64(att)
    page = open_page(browser, write_page(tmp_path, [view]) + "#l=1&h=1,2")
    shot = tmp_path / "lines.png"
    page.locator(".bg-lines").screenshot(path=str(shot))
    from PIL import Image
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    for colour in view["headColours"]:
        rgb = np.array([int(colour[k:k + 2], 16) for k in (1, 3, 5)])
        near = np.abs(pixels - rgb).sum(1) < 60
        assert near.sum() > 300, (colour, near.sum())  # thousands of its pixels, not a few at the edges
    slots = lines(page)
    assert sum(slots[0]) == sum(slots[1]) > 0
    ys = page.eval_on_selector_all(".bg-slot path", "ps => ps.map(p => p.getAttribute('d')).filter(d => d)")
    assert len(set(ys)) == len(ys)  # no head's lines lie on another's


def test_head_squares_react_at_once_and_the_only_head_says_why_it_stays(three, browser):
    url, _ = three
    page = open_page(browser, url)
    assert state(page)[1] == ["2"]
    # the click's effect is there in the same task: no timer waits for a possible double click
    pressed = page.evaluate("""() => { const q = document.querySelectorAll('.bg-head')[0]; q.click();
        return [...document.querySelectorAll('.bg-head[aria-pressed=true]')].map(q => q.textContent); }""")
    assert pressed == ["1", "2"]
    page.locator(".bg-head").nth(0).click()
    assert state(page)[1] == ["2"] and page.locator(".bg-note").inner_text() == ""
    length = page.evaluate("history.length")
    page.locator(".bg-head").nth(1).click()  # the only head chosen: it stays, and the page says why
    assert state(page)[1] == ["2"]
    assert "is the only head shown" in page.locator(".bg-note").inner_text()
    assert page.evaluate("history.length") == length
    # a double click keeps only that head, in one history entry (its first click's entry is replaced)
    page.locator(".bg-head").nth(2).dblclick()
    assert state(page)[1] == ["3"] and page.evaluate("history.length") == length + 1
    page.go_back()
    page.wait_for_function("document.querySelectorAll('.bg-head[aria-pressed=true]').length === 1 && "
                           "document.querySelector('.bg-head[aria-pressed=true]').textContent === '2'")
    assert page.errors == []


def test_the_model_switch_keeps_or_clamps_the_view_and_the_address_holds_it(three, browser):
    url, views = three
    page = open_page(browser, url)
    assert page.eval_on_selector_all(".bg-model option", "os => os.map(o => o.textContent)") == \
        ["tiny-bert", "other-model", "pair-model"]
    assert state(page)[:2] == ("1", ["2"]) and page.evaluate("location.hash") == ""
    page.locator(".bg-head").nth(2).click()  # layer 2, heads 2 and 3
    page.select_option(".bg-model", "1")  # 3 x 4 heads: it has them all, and other tokens
    assert state(page) == ("1", ["2", "3"], "#m=m1&l=2&h=2,3")
    assert page.locator(".bg-from .bg-tok").nth(2).inner_text() == "Ġcat"
    assert page.locator(".bg-head:visible").count() == 4
    page.select_option(".bg-layer", "2")
    page.locator(".bg-head").nth(3).click()  # layer 3, heads 2, 3, 4
    page.select_option(".bg-model", "2")  # 2 x 3: the layer and head 4 clamp
    assert state(page) == ("1", ["2", "3"], "#m=m2&l=2&h=2,3")
    assert page.locator(".bg-head:visible").count() == 3
    # the address restores the model and the view, and Back walks back through the real changes
    page.goto(url + "#m=m1&l=3&h=1,4&t=2r&lens=value")
    assert state(page)[:2] == ("2", ["1", "4"]) and page.locator(".bg-model").input_value() == "1"
    assert page.locator(".bg-to .bg-tok").nth(2).get_attribute("aria-pressed") == "true"
    assert page.locator(".bg-lens input[value=value]").is_checked()
    page.select_option(".bg-model", "0")  # no norms: the lens is the weights; its token 2 is another: let go
    assert state(page)[2] == "#l=2&h=1,3"
    page.go_back()
    page.wait_for_function("location.hash.startsWith('#m=m1')")
    assert page.locator(".bg-model").input_value() == "1" and page.locator(".bg-lens input[value=value]").is_checked()
    assert page.errors == []


def test_lenses_change_the_numbers_and_contributions_step_the_heads_aside(three, browser):
    """value-weighted = α[i, j]·‖f(x_j)‖, row-normalised; contributions are per layer. The numbers on hover are
    those, the lens shows only where the view has the data, and the address keeps it."""
    url, views = three
    view, arrays = views[2]
    page = open_page(browser, url + "#m=m2&l=2&h=3")
    labels = page.eval_on_selector_all(".bg-lens label:visible", "ls => ls.map(l => l.textContent.trim())")
    assert labels == ["attention weights", "value-weighted", "contributions"]

    def numbers():
        return [float(x) for x in page.eval_on_selector_all(".bg-to .bg-tok .bg-w", "ws => ws.map(w => w.textContent)")
                if x.strip()]

    page.locator(".bg-from .bg-tok").nth(2).hover()  # 'cat'
    np.testing.assert_allclose(numbers(), arrays["attention"][1, 2, 2], atol=0.006)
    page.check(".bg-lens input[value=value]")
    page.locator(".bg-from .bg-tok").nth(2).hover()
    n = arrays["attention"][1, 2, 2] * arrays["norms"][1, 2]
    np.testing.assert_allclose(numbers(), n / n.sum(), atol=0.006)
    assert not np.allclose(n / n.sum(), arrays["attention"][1, 2, 2], atol=0.02)  # the lens makes a difference
    assert "lens=value" in page.evaluate("location.hash")
    page.check(".bg-lens input[value=contributions]")
    page.locator(".bg-from .bg-tok").nth(2).hover()
    np.testing.assert_allclose(numbers(), arrays["contributions"][1, 2], atol=0.006)
    assert not page.locator(".bg-heads").is_visible() and not page.locator(".bg-mode").is_visible()
    assert "per layer" in page.locator(".bg-aside").inner_text()
    assert "contributions of layer 2" in page.locator(".bg-status").inner_text()
    hash_ = page.evaluate("location.hash")
    assert "lens=contributions" in hash_
    page.goto(url + "#l=1&h=1")  # another model, then back to the address with the lens
    page.goto(url + hash_)
    assert page.locator(".bg-lens input[value=contributions]").is_checked() and not page.locator(".bg-heads").is_visible()
    # a model without norms or contributions has no lens control; one with norms only, two lenses
    page.goto(url)
    assert not page.locator(".bg-lens").is_visible()
    page.goto(url + "#m=m1&l=1&h=1&lens=contributions")
    assert page.eval_on_selector_all(".bg-lens label:visible", "ls => ls.map(l => l.textContent.trim())") == \
        ["attention weights", "value-weighted"]
    assert page.locator(".bg-lens input[value=weights]").is_checked() and page.locator(".bg-heads").is_visible()
    assert page.errors == []


def test_a_non_view_address_such_as_the_skip_links_keeps_the_view(sample_site, browser):
    """Pressing the skip link on a shared view keeps the address and the view, as does a link to a section of
    the page; any other anchor (#content typed, a section's id) leaves the view as it is; only the page's own
    address goes back to the first view."""
    page = open_page(browser, (sample_site / "cat" / "index.html").as_uri() + "#l=2&h=1,3&hide=1")
    before = state(page)
    assert before[:2] == ("1", ["1", "3"])
    page.evaluate("window.scrollTo(0, 0)")
    page.locator("a.skip").focus()  # (a shared view's first Tab goes to the explorer, where the page opened)
    assert page.evaluate("document.activeElement.textContent") == "Skip to the content"
    page.keyboard.press("Enter")
    assert state(page) == before and page.locator(".bg-hide").is_checked()
    assert page.evaluate("document.activeElement.id") == "content"
    # so does a link to a place in the page: the lead's link to the importance section
    page.locator("#first-look a[href='#importance']").click()
    assert state(page) == before and page.evaluate("document.activeElement.id") == "importance"
    assert abs(page.evaluate("document.getElementById('importance').getBoundingClientRect().top")) < 2
    page.evaluate("location.hash = '#content'")
    page.wait_for_function("location.hash === '#content'")
    assert state(page)[:2] == before[:2] and page.locator(".bg-hide").is_checked()
    page.evaluate("location.hash = '#what-heads-do'")
    page.wait_for_function("location.hash === '#what-heads-do'")
    assert state(page)[:2] == before[:2]
    page.go_back()
    page.go_back()
    page.wait_for_function("location.hash.startsWith('#l=2')")
    assert state(page) == before
    assert page.errors == []


def contrast(a, b) -> float:
    def luminance(rgb):
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (v / 255 for v in rgb)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def css_rgb(colour: str) -> tuple:
    """A computed CSS colour (rgb(), or color(srgb ...) as color-mix() gives) or #rrggbb as 0-255 values."""
    if colour.startswith("#"):
        return tuple(int(colour[k:k + 2], 16) for k in (1, 3, 5))
    values = [float(v) for v in re.findall(r"[\d.]+", colour.split("(", 1)[1])[:3]]
    return tuple(v * 255 for v in values) if colour.startswith("color(") else tuple(values)


def pixel(page, image, selector, x_fraction=0.5, y_fraction=0.5):
    """The colour a selector's element shows at a point of `image`, the page's screenshot (what the reader
    sees)."""
    box = page.locator(selector).bounding_box()
    return image.getpixel((int(box["x"] + box["width"] * x_fraction), int(box["y"] + box["height"] * y_fraction)))


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_hidden_token_bars_are_visible(three, browser, scheme):
    """WCAG 1.4.11: the bar under each attending token (its share on [CLS]/[SEP]) has at least 3:1 against the
    explorer's background, in light and dark (today #eceef1 on white was 1.2:1)."""
    url, _ = three
    page = open_page(browser, url + "#m=m2&l=1&h=3&hide=1", scheme=scheme)
    bars = page.locator(".bg-from .bg-tok .bg-gone")
    widths = bars.evaluate_all("bs => bs.map(b => b.getBoundingClientRect().width)")
    k = int(np.argmax(widths))
    assert widths[k] > 10
    from io import BytesIO

    from PIL import Image
    shot = Image.open(BytesIO(page.screenshot())).convert("RGB")  # one for the three colours
    bar = pixel(page, shot, f".bg-from .bg-tok >> nth={k} >> .bg-gone", 0.9)
    track = pixel(page, shot, f".bg-from .bg-tok >> nth={k} >> .bg-bar", 0.02)  # the part of the bar not filled
    background = pixel(page, shot, ".bg-lines", 0.5, 0.0 + 1 / 1000)  # between the columns, above the lines' start
    assert contrast(bar, background) >= 3 and contrast(bar, track) >= 3, (bar, track, background)


def test_the_lines_take_a_fair_share_of_a_wide_box_and_tap_targets_are_24_px(three, browser):
    url, _ = three
    for width in (1280, 375):
        page = open_page(browser, url, width)
        view = page.locator(".bg-view").bounding_box()
        lines_box = page.locator(".bg-lines").bounding_box()
        if width == 1280:
            assert lines_box["width"] >= 0.35 * view["width"], (lines_box, view)  # was 220 px of 1,140
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        sizes = page.eval_on_selector_all(".bg-head:not([hidden]), .bg-tok:not([hidden])",
                                          "es => es.map(e => [e.getBoundingClientRect().width, e.getBoundingClientRect().height])")
        assert min(w for w, _ in sizes) >= 24 and min(h for _, h in sizes) >= 24, width


def test_the_sentence_page_links_the_heads_page_and_marks_the_chosen_head(sample_site, browser):
    """The explorer links the chosen head's page (its picture in every sentence, and the way back), not a bare
    PNG; the heads that matter most choose their head in the explorer, as the overview's tiles and the maps'
    cells do; the overview and every map mark the chosen head."""
    page = open_page(browser, (sample_site / "cat" / "index.html").as_uri() + "#l=2&h=3")
    link = page.locator(".bg-picture")
    assert link.get_attribute("href") == "../heads/layer2-head3.html"
    assert link.inner_text() == "Layer 2, head 3 in every sentence"
    assert (sample_site / "heads" / "layer2-head3.html").is_file()

    def marked():
        return page.evaluate("""[...document.querySelectorAll('.launcher, table.stat-map')].map(g =>
            [...g.querySelectorAll('a')].map((a, k) => a.getAttribute('aria-current') === 'true' ? k : -1)
            .filter(k => k >= 0))""")
    grids = marked()
    # layer 2 head 3: the sixth of six
    assert len(grids) == 1 + len(applicable(site.MAPS, False)) + 1 and all(g == [5] for g in grids)
    top = page.locator("ol.top-heads a").first
    layer, head = int(top.get_attribute("data-layer")), int(top.get_attribute("data-head"))
    assert top.get_attribute("href") == f"#l={layer}&h={head}"  # the link is the explorer's address of its head
    top.click()
    assert state(page)[:2] == (str(layer - 1), [str(head)])
    assert page.evaluate("location.hash") == f"#l={layer}&h={head}"
    assert all(g == [(layer - 1) * 3 + head - 1] for g in marked())
    page.check(".bg-mode input[value=layer]")  # the mean of a layer: its row is marked
    assert all(g == [(layer - 1) * 3 + k for k in range(3)] for g in marked())
    assert page.locator(".bg-picture").is_hidden()
    assert page.errors == []
    # a head's page links each sentence's page with that head in the address
    html = (sample_site / "heads" / "layer1-head2.html").read_text(encoding="utf-8")
    assert 'href="../cat/index.html#l=1&amp;h=2"' in html
    page = open_page(browser, (sample_site / "heads" / "layer1-head2.html").as_uri())
    page.locator("figcaption a").first.click()
    page.wait_for_load_state()
    assert state(page)[:2] == ("0", ["2"])


def boxes(page):
    """Where the predictions, the explorer, the overview (the one shown) and the lines are, in page
    coordinates."""
    return page.evaluate("""(() => { const box = s => {
        const e = [...document.querySelectorAll(s)].find(e => e.getClientRects().length), r = e.getBoundingClientRect();
        return {top: r.top + scrollY, bottom: r.bottom + scrollY, left: r.left, right: r.right, width: r.width}; };
        return {predictions: box('.predictions'), explorer: box('#explore'), overview: box('figure.overview'),
                view: box('.bg-view'), lines: box('.bg-lines')}; })()""")


@pytest.mark.parametrize("slug", ["cat", "i-mask-to-the-mask-every-day"])
@pytest.mark.parametrize("width, height", [(1280, 900), (375, 800)])
def test_the_explorer_comes_right_after_the_predictions_with_the_overview_beside_it(sample_site, browser, slug,
                                                                                   width, height):
    """The page reads: the sentence, its predictions, the explorer. Its top is within the first screen after
    the predictions (only the heading and the sentence saying which head it opens on come between), and within
    the first screen of the page at 1280 x 900 and, with one mask, at 375 x 800. At 1000 px and wider the
    overview stands beside the explorer, on a phone below it; the lines still take a fair share of the view."""
    page = open_page(browser, (sample_site / slug / "index.html").as_uri(), width, height)
    b = boxes(page)
    gap = b["explorer"]["top"] - b["predictions"]["bottom"]
    assert 0 < gap <= 0.4 * height, b
    if width == 1280 or slug == "cat":
        assert b["explorer"]["top"] < height, b
    if width >= 1000:
        assert b["overview"]["left"] >= b["explorer"]["right"] and b["overview"]["top"] < b["explorer"]["bottom"], b
        assert b["lines"]["width"] >= 0.35 * b["view"]["width"], b
    else:
        assert b["overview"]["top"] >= b["explorer"]["bottom"], b
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.xdist_group("models-sites")  # one worker builds the sites of several models
def test_several_models_the_overview_shown_is_the_explorers_model_and_links_carry_model_and_head(
        models_sites, tiny_bert, tiny_roberta, browser):
    """A sentence page of three models: the overview beside the explorer is the shown model's (the others are
    hidden, and come with the model switch); the heads that matter most for the second model link the explorer's
    address with its slug (#m=<slug>&l=&h=) and choose that model's head; its head pages link the sentence with
    the same address, which opens that model and head."""
    from bertgallery import model
    site_folder = models_sites["three"][0]
    bert, roberta, minilm = model.slugs([str(tiny_bert), str(tiny_roberta), "minilm"])
    page = open_page(browser, (site_folder / "cat" / names.PAGE).as_uri())

    def shown():
        return page.eval_on_selector_all(".overviews figure.overview", "fs => fs.filter(f => !f.hidden)"
                                         ".map(f => f.dataset.model)")
    assert page.locator(".overviews figure.overview").count() == 3 and shown() == [bert]
    page.select_option(".bg-model", "2")
    assert shown() == [minilm]
    top = page.locator(f'section.deeper[data-model="{roberta}"] ol.top-heads a').first
    layer, head = top.get_attribute("data-layer"), top.get_attribute("data-head")
    assert top.get_attribute("href") == f"#m={roberta}&l={layer}&h={head}"
    top.click()
    assert page.locator(".bg-model").input_value() == "1" and shown() == [roberta]
    assert page.evaluate("location.hash") == f"#m={roberta}&l={layer}&h={head}"
    assert state(page)[:2] == (str(int(layer) - 1), [head])
    assert page.locator(".bg-picture").get_attribute("href") == f"../heads/{roberta}/layer{layer}-head{head}.html"
    b = boxes(page)
    assert b["overview"]["left"] >= b["explorer"]["right"]
    html = (site_folder / "heads" / roberta / f"layer{layer}-head{head}.html").read_text(encoding="utf-8")
    assert f'href="../../cat/index.html#m={roberta}&amp;l={layer}&amp;h={head}"' in html
    page = open_page(browser, (site_folder / "heads" / roberta / f"layer{layer}-head{head}.html").as_uri())
    page.locator(f'figcaption a[href^="../../cat/"]').click()
    page.wait_for_load_state()
    assert page.locator(".bg-model").input_value() == "1" and state(page)[:2] == (str(int(layer) - 1), [head])
    assert page.errors == []


def test_the_heads_page_sorts_numbers_largest_first_and_filters_by_tags_some_head_has(sample_site, browser):
    page = open_page(browser, (sample_site / "heads" / "index.html").as_uri())
    page.click("table.heads th:nth-child(5) button")  # [CLS]: one click, largest first
    values = page.eval_on_selector_all("table.heads tbody tr td:nth-child(5)", "tds => tds.map(t => +t.dataset.value)")
    assert values == sorted(values, reverse=True)
    page.click("table.heads th:nth-child(5) button")  # again: smallest first
    values = page.eval_on_selector_all("table.heads tbody tr td:nth-child(5)", "tds => tds.map(t => +t.dataset.value)")
    assert values == sorted(values)
    page.click("table.heads th:nth-child(1) button")  # the names: in order first
    names_ = page.eval_on_selector_all("table.heads tbody tr td:nth-child(1)", "tds => tds.map(t => +t.dataset.value)")
    assert names_ == sorted(names_)
    tags = page.eval_on_selector_all("table.heads tbody tr", "rs => rs.map(r => r.dataset.tags.split('|'))")
    offered = page.eval_on_selector_all("select.tag-filter option", "os => os.map(o => o.value).filter(v => v)")
    assert offered and all(any(t in row for row in tags) for t in offered)
    assert set(offered) == {t for row in tags for t in row if t}
    assert page.errors == []


@pytest.mark.slow  # a minute of screenshots and axe runs: .ci/run's second step
@pytest.mark.parametrize("width", [1280, 375])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots_and_axe_in_both_colour_schemes(three, sample_site, browser, width, scheme):
    """The pictures to look at (test-artifacts/explorer-*.png): the sample site's sentence page with one head
    and with three, a token pinned; the hand-made three-model view; in light and dark. axe-core finds nothing
    serious or critical in the explorer, the page and the dark one included."""
    from test_browser import audit
    ARTIFACTS.mkdir(exist_ok=True)
    url, _ = three
    shots = (("one-head", (sample_site / "cat" / "index.html").as_uri() + "#l=2&h=1&t=2"),
             ("three-heads", (sample_site / "cat" / "index.html").as_uri() + "#l=2&h=1,2,3"),
             ("models", url + "#m=m1&l=3&h=1,2,4&lens=value&t=3"),
             ("pair", url + "#m=m2&l=1&h=1&f=BA&hide=1"))
    for name, address in shots:
        page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(address)
        page.locator("#explore").screenshot(path=str(ARTIFACTS / f"explorer-{name}-{width}-{scheme}.png"))
        assert page.evaluate("document.documentElement.scrollWidth") <= width, name
        assert audit(page) == [] and errors == [], name
        page.close()


@pytest.fixture(scope="module")
def notebook_html(tiny_bert) -> str:
    """What a notebook shows for a sentence (the model run, its parse and the page: 0.6 s), for the three
    themes' tests."""
    from bertgallery import analyse
    return analyse("The cat sat on the [MASK].", model=str(tiny_bert))._repr_html_()


@pytest.mark.parametrize("theme, scheme", [(("#111318", "#d8dadf"), "light"), (("#ffffff", "#1f1f1f"), "dark")])
def test_the_notebook_view_takes_the_notebooks_colours(notebook_html, tmp_path, browser, theme, scheme):
    """In a notebook the explorer follows the notebook's theme, not the system's: inside a dark page (JupyterLab
    dark, VS Code dark) with the system light, and inside a light page with the system dark, its text is the
    page's text colour, the head colours are lifted for a dark background, and axe-core finds nothing serious."""
    from test_browser import audit
    html = notebook_html
    background, ink = theme
    page_file = tmp_path / "notebook.html"
    page_file.write_text(f"<!doctype html><html lang='en'><head><title>A notebook</title></head>"
                         f"<body style='background: {background}; color: {ink}'><main>{html}</main></body></html>",
                         encoding="utf-8")
    page = open_page(browser, page_file.as_uri(), 1000, 900, scheme)
    page.locator(".bg-from .bg-tok").nth(2).hover()
    body = page.evaluate("getComputedStyle(document.body).color")
    assert page.evaluate("getComputedStyle(document.querySelector('.bg-from .bg-tok')).color") == body
    assert page.evaluate("getComputedStyle(document.querySelector('.bg-status')).color") == body
    assert page.evaluate("getComputedStyle(document.querySelector('.bg-explorer')).backgroundColor") == "rgba(0, 0, 0, 0)"
    dark = background != "#ffffff"
    assert page.evaluate("document.querySelector('.bg-explorer').classList.contains('bg-dark')") == dark
    for square in page.eval_on_selector_all(".bg-head:not([hidden])", "qs => qs.map(q => getComputedStyle(q).borderTopColor)"):
        assert contrast(css_rgb(square), css_rgb(background)) >= 4.5, square  # its number is in that colour too
    page.screenshot(path=str(ARTIFACTS / f"notebook-{'dark' if dark else 'light'}.png"))
    assert audit(page) == [] and page.exceptions == []  # (axe logs errors on the console, reading from file://)


@pytest.mark.parametrize("variables, ink", [
    ("--jp-content-font-color1: rgba(255, 255, 255, 1); --jp-border-color2: #424242; --jp-layout-color0: #111111",
     (255, 255, 255)),  # JupyterLab's dark theme
    pytest.param("--vscode-editor-foreground: #cccccc; --vscode-editor-background: #1f1f1f", (204, 204, 204),
                 marks=pytest.mark.slow)])  # VS Code's: the same rule, another variable (3 s more)
def test_the_notebook_view_takes_the_notebooks_theme_variables(notebook_html, tmp_path, browser, variables, ink):
    """A dark notebook whose output does not set a text colour (VS Code's outputs say prefers-color-scheme: light
    whatever the theme): the view's text, its tables' text and the explorer's take the theme's variables, never a
    dark default on the dark background; its table rules are the theme's; axe-core finds nothing serious."""
    from test_browser import audit
    html = notebook_html
    background = re.search(r"(?:layout-color0|editor-background): (#\w+)", variables)[1]
    page_file = tmp_path / "notebook.html"
    page_file.write_text(f"<!doctype html><html lang='en' style='{variables}'><head><title>A notebook</title></head>"
                         f"<body style='background: {background}'><main>{html}</main></body></html>", encoding="utf-8")
    page = open_page(browser, page_file.as_uri(), 1000, 900)
    for selector in (".bg-notebook > p", ".bg-ranking td", ".bg-ranking caption", ".bg-from .bg-tok", ".bg-status"):
        colour = page.evaluate(f"getComputedStyle(document.querySelector('{selector}')).color")
        assert css_rgb(colour) == ink, (selector, colour)
        assert contrast(css_rgb(colour), css_rgb(background)) >= 4.5
    assert page.evaluate("document.querySelector('.bg-explorer').classList.contains('bg-dark')")
    if "--jp-border-color2" in variables:
        assert page.evaluate("getComputedStyle(document.querySelector('.bg-ranking td')).borderBottomColor") \
            == "rgb(66, 66, 66)"
    page.screenshot(path=str(ARTIFACTS / f"notebook-{'jupyterlab' if 'jp-' in variables else 'vscode'}-dark.png"))
    assert audit(page) == []


@pytest.mark.xdist_group("models-sites")
def test_a_built_page_of_three_models_switches_models_without_new_svg_nodes(models_sites, tiny_bert, tiny_roberta,
                                                                            browser):
    """The sentence page of a real gallery of three models (issue 24): the explorer gets one view per model in
    the config's order, switching models, heads and tokens adds no node to the lines' SVG, the address names the
    model, and a map in one model's section chooses that model."""
    from bertgallery import model
    site_folder = models_sites["three"][0]
    bert, roberta, minilm = model.slugs([str(tiny_bert), str(tiny_roberta), "minilm"])
    page = open_page(browser, (site_folder / "cat" / names.PAGE).as_uri())
    assert page.eval_on_selector_all(".bg-model option", "os => os.map(o => o.textContent)") == \
        [str(tiny_bert), str(tiny_roberta), "minilm"]
    nodes = svg_nodes(page)
    page.evaluate("""window.added = 0; new MutationObserver(ms => ms.forEach(m => window.added += m.addedNodes.length))
        .observe(document.querySelector('.bg-lines'), {childList: true, subtree: true})""")
    steps = [lambda: page.select_option(".bg-model", "2"), lambda: page.select_option(".bg-layer", "5"),
             lambda: page.locator(".bg-head").nth(7).click(), lambda: page.locator(".bg-from .bg-tok").nth(3).hover(),
             lambda: page.select_option(".bg-model", "1"), lambda: page.locator(".bg-to .bg-tok").nth(1).click(),
             lambda: page.select_option(".bg-model", "0"), lambda: page.locator(".bg-head").nth(1).click()]
    for step in steps:
        step()
        assert svg_nodes(page) == nodes
    assert page.evaluate("window.added") == 0 and drawn(page) > 0
    page.select_option(".bg-model", "2")
    assert page.evaluate("location.hash").startswith(f"#m={minilm}&")
    # a cell of the roberta section's first map chooses the roberta model's head
    page.locator(f'[data-model="{roberta}"] table.stat-map td a').nth(3).click()
    assert page.locator(".bg-model").input_value() == "1"
    assert page.evaluate("location.hash").startswith(f"#m={roberta}&l=2&h=2")
    assert page.errors == []
