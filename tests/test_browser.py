"""The gallery in a real browser: Debian's Chromium driven by Playwright (never a downloaded browser), with
axe-core from the PyPI package axe-playwright-python injected for the accessibility audit.

The sites are built with random-weight models (the mechanics do not depend on the weights). Screenshots at
1280 and 375 px go to test-artifacts/."""
import functools
import os
import re
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urljoin, urlparse
from urllib.request import urlopen

import pytest

from conftest import CHROMIUM, ROOT

ARTIFACTS = ROOT / "test-artifacts"
if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)
pytest.importorskip("playwright.sync_api")
AXE = Path(pytest.importorskip("axe_playwright_python").__file__).parent / "axe.min.js"


@pytest.fixture(scope="module")
def site(sample_site):
    return sample_site


# A new page costs about as much CPU as loading one into it (half a second: Playwright makes a context and
# Chromium starts a renderer), so the tests take turns in this worker's tabs instead of opening their own:
# the working tab (open_page), and one tab for each page that tests only read (read_page). Tests leave them open.
TABS = {}  # (browser, None) -> the working tab; (browser, url, width, height) -> a page loaded for reading


def new_tab(browser, width, height):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.errors, page.exceptions, page.requests, page.scheme = [], [], [], "light"  # (Playwright's default scheme)
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: (page.errors.append(str(e)), page.exceptions.append(str(e))))
    page.on("request", lambda r: page.requests.append(r.url))
    return page


def working_tab(browser, width=1280, height=900, scheme="light"):
    """This worker's working tab at this viewport and colour scheme, the mouse off the page; recorded from here
    on: the console's errors and the scripts' (errors), the scripts' alone (exceptions), the requests. A tab
    whose history is long is replaced: history.length stops at 50, and tests count on it."""
    page = TABS.get((browser, None))
    if page is None or page.is_closed() or page.evaluate("history.length") > 25:
        if page is not None and not page.is_closed():
            page.close()
        page = TABS[(browser, None)] = new_tab(browser, width, height)
    else:
        page.mouse.move(-1, -1)  # where the last test left it, the new page would be hovered
        if page.viewport_size != {"width": width, "height": height}:
            page.set_viewport_size({"width": width, "height": height})
    if page.scheme != scheme:
        page.emulate_media(color_scheme=scheme)
        page.scheme = scheme
    for recorded in (page.errors, page.exceptions, page.requests):
        recorded.clear()
    return page


def open_page(browser, url, width=1280, height=900, scheme="light"):
    """`url` loaded afresh in the working tab: always a new document (an address that differs from the tab's
    only in its #hash is loaded again, not scrolled to), the tab's state from the last test gone."""
    page = working_tab(browser, width, height, scheme)
    if page.url.split("#")[0] == url.split("#")[0]:
        page.goto("about:blank")
    for recorded in (page.errors, page.exceptions, page.requests):
        recorded.clear()
    page.goto(url)
    return page


def read_page(browser, url, width=1280, height=900):
    """`url` at this viewport, loaded once for every test that only reads it (in this worker): a test that
    takes it must leave it as it found it (no click, hover, key or script that changes it)."""
    key = (browser, url, width, height)
    page = TABS.get(key)
    if page is None or page.is_closed():
        page = TABS[key] = new_tab(browser, width, height)
        page.goto(url)
    return page


def all_images_decoded(page):
    page.evaluate("document.querySelectorAll('img').forEach(i => i.loading = 'eager')")
    page.wait_for_function("[...document.images].every(i => i.complete)")
    return page.evaluate("[...document.images].filter(i => !(i.naturalWidth > 0)).map(i => i.src)")


def state(page):
    """The explorer's layer (1-based), pressed head squares, and the address's hash."""
    return (page.locator(".bg-layer").input_value(),
            page.eval_on_selector_all(".bg-head[aria-pressed=true]", "qs => qs.map(q => q.textContent)"),
            page.evaluate("location.hash"))


def test_from_file_url(site, browser):
    page = open_page(browser, (site / "index.html").as_uri())
    assert all_images_decoded(page) == []
    page.click("a.title >> nth=0")
    page.wait_for_load_state()
    assert page.url.endswith("/cat/index.html")
    assert all_images_decoded(page) == []
    assert page.errors == []
    assert all(url.startswith("file://") for url in page.requests), page.requests


def test_numbers_on_hover_and_focus_and_pinning(site, browser):
    page = open_page(browser, (site / "cat" / "index.html").as_uri())
    page.locator(".bg-from .bg-tok").nth(2).hover()  # 'cat'
    status = page.locator(".bg-status").inner_text()
    assert re.search(r": cat → \S+ \d\.\d\d, ", status), status  # the weights, largest first
    numbers = page.eval_on_selector_all(".bg-to .bg-tok .bg-w", "ws => ws.map(w => w.textContent.trim())")
    assert all(re.fullmatch(r"\d\.\d\d", n) for n in numbers) and len(numbers) == 12
    assert abs(sum(map(float, numbers)) - 1) <= 0.005 * len(numbers)  # one row: they sum to 1, to rounding
    # a click pins the token: moving away keeps it; a second click or Esc lets go
    page.locator(".bg-from .bg-tok").nth(2).click()
    page.locator(".bg-from .bg-tok").nth(5).hover()
    assert ": cat →" in page.locator(".bg-status").inner_text()
    assert page.locator(".bg-from .bg-tok").nth(2).get_attribute("aria-pressed") == "true"
    assert "&t=2" in page.evaluate("location.hash")
    page.keyboard.press("Escape")
    assert page.locator(".bg-from .bg-tok[aria-pressed=true]").count() == 0
    # keyboard: focus and highlight move together
    page.locator(".bg-from .bg-tok").nth(3).focus()
    assert ": sat →" in page.locator(".bg-status").inner_text()
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.textContent").startswith("on")
    assert ": on →" in page.locator(".bg-status").inner_text()
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.closest('.bg-to') !== null")
    assert ": on ←" in page.locator(".bg-status").inner_text()
    assert page.errors == []


def test_several_heads_means_and_their_legend(site, browser):
    page = open_page(browser, (site / "cat" / "index.html").as_uri())
    page.locator(".bg-head").nth(0).dispatch_event("dblclick")
    assert state(page)[1] == ["1"]
    page.locator(".bg-head").nth(2).click()
    page.wait_for_function("document.querySelectorAll('.bg-head[aria-pressed=true]').length === 2")
    assert state(page)[1] == ["1", "3"]
    colours = page.eval_on_selector_all(".bg-lines .bg-slot", """gs => gs.filter(g => [...g.querySelectorAll('path')]
        .some(p => p.getAttribute('d'))).map(g => g.style.getPropertyValue('--head'))""")
    squares = page.eval_on_selector_all(".bg-head[aria-pressed=true]", "qs => qs.map(q => q.style.getPropertyValue('--head'))")
    assert colours == squares and len(set(colours)) == 2  # each head's lines in its own colour, as its square
    assert "Line colour: the head" in page.locator(".bg-legend").inner_text()
    page.locator(".bg-head").nth(2).dispatch_event("dblclick")  # keep only that one
    assert state(page)[1] == ["3"]
    page.check(".bg-mode input[value=layer]")
    assert "the mean of layer" in page.locator(".bg-status").inner_text()
    assert "h=mean" in state(page)[2]
    page.check(".bg-mode input[value=all]")
    assert "the mean of all 6 heads" in page.locator(".bg-status").inner_text()
    assert page.errors == []


def test_the_address_holds_the_view_and_back_walks_through_views(site, browser):
    page = open_page(browser, (site / "cat" / "index.html").as_uri() + "#l=2&h=1,3&t=4")
    layer, heads, _ = state(page)
    assert (layer, heads) == ("1", ["1", "3"])
    assert page.locator(".bg-from .bg-tok").nth(4).get_attribute("aria-pressed") == "true"
    page.select_option(".bg-layer", "0")
    assert state(page)[2].startswith("#l=1&h=1,3")
    page.go_back()
    page.wait_for_function("location.hash.startsWith('#l=2')")
    assert state(page)[0] == "1"
    assert page.errors == []


def test_history_has_only_real_changes_and_back_returns_to_the_first_view(site, browser):
    page = open_page(browser, (site / "cat" / "index.html").as_uri())
    first = state(page)
    length = page.evaluate("history.length")
    page.locator(".bg-from .bg-tok").nth(1).focus()
    page.keyboard.press("Escape")  # nothing pinned: nothing changes
    assert page.evaluate("history.length") == length
    page.locator(".launcher a").nth(5).click()
    assert page.evaluate("history.length") == length + 1
    page.go_back()
    page.wait_for_function("location.hash === ''")
    assert state(page) == first  # the view the page opened with
    # tabbing out of the tokens lands on the next control (the legend is updated in place, never rebuilt)
    page.locator(".bg-to .bg-tok").nth(2).focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "bg-picture"
    assert page.errors == []


def test_the_heads_page_has_few_tab_stops_and_tables_that_break_between_words(site, browser):
    for width in (1280, 375):
        page = read_page(browser, (site / "heads" / "index.html").as_uri(), width)
        assert visible_tab_stops(page) <= 60
        cell = page.locator("table.stat-map td a").first
        assert re.fullmatch(r"Layer 1, head 1, .+ \d\.\d\d", cell.get_attribute("aria-label"))
        heights = page.eval_on_selector_all("table.heads thead th, table.clark tbody td",
                                            "cs => cs.map(c => c.getBoundingClientRect().height)")
        assert max(heights) < 60, max(heights)  # one line a cell: no word broken letter by letter


def test_overview_tiles_and_map_cells_select_their_head(site, browser):
    page = open_page(browser, (site / "cat" / "index.html").as_uri())
    tiles = page.locator(".launcher a")
    assert tiles.count() == 6
    assert tiles.nth(5).get_attribute("href") == "Attention_Layer2_Head3.png"
    box = page.locator(".overview-frame img").bounding_box()
    tile = tiles.nth(5).bounding_box()
    assert box["x"] < tile["x"] and tile["x"] + tile["width"] <= box["x"] + box["width"]
    tiles.nth(5).click()
    assert state(page)[:2] == ("1", ["3"])
    # the keyboard: one tab stop, arrow keys inside
    tiles.nth(0).focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    assert state(page)[:2] == ("0", ["2"])
    maps = page.locator("table.stat-map")
    from bertgallery import heads, site as pages
    assert maps.count() == len(heads.applicable(pages.MAPS, False)) + 1  # what each head looks at, and
    # the importance for the prediction
    cell = maps.last.locator("tbody tr").nth(1).locator("td a").nth(2)
    assert cell.get_attribute("href") == "Attention_Layer2_Head3.png"
    assert re.fullmatch(r"Layer 2, head 3, Breadth \(how spread out\) \d\.\d\d", cell.get_attribute("aria-label"))
    cell.click()
    assert state(page)[:2] == ("1", ["3"])
    assert page.errors == []


def test_hidden_special_tokens_say_how_much_was_removed(site, browser):
    page = open_page(browser, (site / "cat" / "index.html").as_uri())
    n = page.locator(".bg-from .bg-tok:visible").count()
    page.check(".bg-hide")
    assert page.locator(".bg-from .bg-tok:visible").count() == n - 2
    # the tokens' one tab stop moved off the hidden [CLS] onto a token that shows
    assert page.eval_on_selector_all(".bg-tok", "bs => bs.filter(b => b.tabIndex === 0).map(b => !b.hidden)") == [True]
    page.locator(".bg-from .bg-tok").nth(2).hover()
    status = page.locator(".bg-status").inner_text()
    assert re.search(r"\(\d+ % of its attention is on \[CLS\]/\[SEP\]", status), status
    widths = page.eval_on_selector_all(".bg-from .bg-tok .bg-gone", "gs => gs.map(g => g.style.width)")
    assert any(w not in ("", "0.0%") for w in widths)
    assert "hide=1" in page.evaluate("location.hash")


def test_heads_table_sorts_and_filters(site, browser):
    page = open_page(browser, (site / "heads" / "index.html").as_uri())
    page.click("table.heads th:nth-child(5) button")  # [CLS]: a number, largest first
    values = page.eval_on_selector_all("table.heads tbody tr td:nth-child(5)", "tds => tds.map(t => +t.dataset.value)")
    assert values == sorted(values, reverse=True)
    tags = page.eval_on_selector_all("table.heads tbody tr", "rs => rs.map(r => r.dataset.tags)")
    page.select_option("select.tag-filter", "broad")
    shown = page.locator("table.heads tbody tr:visible").count()
    assert shown == sum("broad" in t.split("|") for t in tags)
    assert page.errors == []


def visible_tab_stops(page):
    return page.evaluate("""[...document.querySelectorAll('a[href], button, select, input, [tabindex]')]
        .filter(e => e.tabIndex >= 0 && !e.disabled && e.getClientRects().length > 0).length""")


@pytest.mark.xdist_group("base-site")  # one worker builds the 144-head site
def test_a_144_head_page_has_few_tab_stops(base_site, browser):
    page = read_page(browser, (base_site / "cat" / "index.html").as_uri())
    assert page.locator(".launcher a").count() == 144
    stops = visible_tab_stops(page)
    assert stops <= 60, stops
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to the content"
    page.evaluate("document.activeElement.blur()")  # as it was, for the other tests that read this page
    assert page.errors == []


def audit(page):
    page.evaluate(AXE.read_text(encoding="utf-8"))
    found = page.evaluate("axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)")
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in found
            if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("width", [1280, 375])
@pytest.mark.slow
def test_accessibility_audit_and_screenshots(site, browser, width):
    """axe-core on the index, a sentence page (plain, with a token hovered and with [CLS]/[SEP] hidden), the
    heads page, the statistics page and a head page: no serious or critical violation; no sideways scroll
    at either width, a 45-letter word included."""
    ARTIFACTS.mkdir(exist_ok=True)
    for name, path in (("index", "index.html"), ("sentence", "cat/index.html"), ("long-word", "long-word/index.html"),
                       ("heads", "heads/index.html"), ("head", "heads/layer1-head2.html")):
        page = open_page(browser, (site / path).as_uri(), width)
        all_images_decoded(page)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, name  # wide tables scroll inside
        assert page.errors == [], name
        if name == "long-word":  # the same page as the sentence's: only its width was in question
            continue
        assert audit(page) == [], name  # (axe reads the style sheets itself: from file:// that logs errors)
        if name == "sentence":
            page.locator(".bg-from .bg-tok").nth(2).hover()
            assert audit(page) == [], "hovered token"
            page.check(".bg-hide")
            page.locator(".bg-from .bg-tok").nth(3).hover()
            assert audit(page) == [], "special tokens hidden"


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def status(url: str) -> int:
    try:
        with urlopen(url, timeout=30) as response:
            return response.status
    except HTTPError as e:
        return e.code


def test_every_link_resolves_under_a_sub_path(site, browser, tmp_path):
    """As on GitHub Pages: the site served at http://host/repo-name/. Each page is read in Chromium, with the
    links its scripts make, in a small window (only its links are read: a quarter less CPU than at 1280 x 900);
    the files it names are fetched by Python (Playwright's request API took twice the CPU)."""
    shutil.copytree(site, tmp_path / "repo-name")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/repo-name/"
    try:
        page = working_tab(browser, 400, 300)
        seen, todo, checked = set(), [base + "index.html"], 0
        while todo:
            url = todo.pop()
            if url in seen:
                continue
            seen.add(url)
            assert page.goto(url).status == 200, url
            for link in page.eval_on_selector_all("a[href], img[src], link[href], script[src], source[srcset]",
                                                  "els => els.map(e => e.getAttribute('href') || e.getAttribute('src')"
                                                  " || e.getAttribute('srcset'))"):
                target = urljoin(url, link)
                assert target.startswith(base), (url, link)  # relative, and inside the sub-path
                if target.endswith(".html"):
                    todo.append(target)
                elif target not in seen:
                    seen.add(target)
                    assert status(target) == 200, (url, link)
                    checked += 1
        assert checked > 10 and len([u for u in seen if urlparse(u).path.endswith(".html")]) >= 4 + 2 + 6
    finally:
        server.shutdown()


def test_the_lens_changes_the_numbers_on_a_built_page_and_the_address_restores_it(site, browser):
    """The sample site's own view data (issue 25): under each lens the numbers on hover are that lens's row —
    the weights, the value-weighted attention, the layer's contributions — recomputed here by the API from the
    same model; the address names the lens, and opening that address shows it again."""
    import numpy as np

    from bertgallery import api, mixing
    from conftest import working_folder
    with working_folder(site.parent):
        r = api.analyse("The cat sat on the [MASK] and looked around.", model="./tiny-model")
    rows = {"weights": r.attention[1, 2, 2],
            "value": mixing.value_weighted(r.attention, r.result.mixing.norms)[1, 2, 2],
            "contributions": r.result.mixing.contributions[1, 2]}
    page = open_page(browser, (site / "cat" / "index.html").as_uri() + "#l=2&h=3")

    def numbers():
        page.locator(".bg-from .bg-tok").nth(2).hover()  # 'cat'
        return np.array(page.eval_on_selector_all(".bg-to .bg-tok .bg-w", "ws => ws.map(w => +w.textContent)"))
    assert page.locator(".bg-lens").is_visible() and page.locator(".bg-lens input[value=weights]").is_checked()
    np.testing.assert_allclose(numbers(), rows["weights"], atol=0.006)
    for lens in ("value", "contributions"):
        page.check(f".bg-lens input[value={lens}]")
        np.testing.assert_allclose(numbers(), rows[lens], atol=0.006)
        assert np.abs(rows[lens] - rows["weights"]).max() > 0.02  # the lens makes a difference here
        address = page.evaluate("location.href")
        assert f"lens={lens}" in address
        assert page.errors == []
        page = open_page(browser, address)  # the address opened again: a new document, the lens from it
        assert page.locator(f".bg-lens input[value={lens}]").is_checked()
        assert page.locator(".bg-heads").is_visible() == (lens != "contributions")
    assert page.errors == []


AUTHOR_KEYS = """title: "Week 3: <b>heads</b> & masks"
intro: |
  Each sentence page shows the model's guesses for a <mask>, then [its heads](heads/index.html); read
  [Clark et al. 2019](https://arxiv.org/abs/1906.04341) beside it.

  ![A line through three points](pictures/curve.png)
files: own
"""


@pytest.fixture(scope="module")
def author_site(sample_bert, tmp_path_factory):
    """The sample gallery with the author's title, introduction, a question and their own files (a picture for
    the introduction, a favicon, CNAME)."""
    from bertgallery import build, config
    from conftest import SAMPLE, working_folder
    folder = tmp_path_factory.mktemp("author")
    shutil.copytree(sample_bert, folder / "tiny-model")
    (folder / "own" / "pictures").mkdir(parents=True)
    (folder / "own" / "CNAME").write_text("gallery.example.org\n")
    (folder / "own" / "favicon.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 2 2">'
                                                '<circle cx="1" cy="1" r="1" fill="#2f4fc9"/></svg>')
    import matplotlib.pyplot as plt
    figure = plt.figure(figsize=(3, 1.6), dpi=100)
    plt.plot([0, 1, 2], [1, 0, 2])
    figure.savefig(folder / "own" / "pictures" / "curve.png", transparent=True)  # dark lines on no background
    plt.close(figure)
    text = AUTHOR_KEYS + SAMPLE.replace("    text: The cat sat on the [MASK] and looked around.\n",
                                        "    text: The cat sat on the [MASK] and looked around.\n"
                                        "    question: \"Which word would <em>you</em> put in the blank?\"\n")
    (folder / "sentences.yaml").write_text(text, encoding="utf-8")
    with working_folder(folder):
        build.build(config.load(Path("sentences.yaml")), Path("site"), build.Options(fallback=False, progress=False))
    return folder / "site"


@pytest.mark.slow  # 16 page loads and axe runs: about a minute on two cores
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_authors_gallery_passes_axe_in_both_colour_schemes(author_site, browser, scheme):
    """The index (with the author's title, introduction and picture), a sentence page (with its question), the
    heads page and a head page at 1280 and 375 px, in the light and the dark colour scheme: no serious or
    critical axe finding, no sideways scroll, no script error. In the dark the page is dark with light text, the
    [MASK] marks keep dark text on their yellow, and the PNGs stay light on a light frame."""
    ARTIFACTS.mkdir(exist_ok=True)
    for width in (1280, 375):
        for name, path in (("index", "index.html"), ("sentence", "cat/index.html"), ("heads", "heads/index.html"),
                           ("head", "heads/layer1-head2.html")):
            page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto((author_site / path).as_uri())
            assert all_images_decoded(page) == [], name
            page.screenshot(path=str(ARTIFACTS / f"author-{name}-{width}-{scheme}.png"), full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
            colours = page.evaluate("""() => {
                const c = s => { const e = document.querySelector(s); return e && getComputedStyle(e); };
                return [c('body').backgroundColor, c('body').color, c('mark.mask') && c('mark.mask').color,
                        c('main img') && c('main img').backgroundColor]; }""")
            dark = scheme == "dark"
            assert (colours[0] == "rgb(22, 24, 28)", colours[1] == "rgb(230, 231, 234)") == (dark, dark), colours
            assert colours[2] in (None, "rgb(29, 29, 31)", "rgb(0, 0, 0)"), colours  # dark on the yellow
            assert colours[3] in (None, "rgb(255, 255, 255)" if dark else "rgba(0, 0, 0, 0)"), colours
            assert audit(page) == [], (name, width, scheme)
            assert errors == [], name
            page.close()


# ---- phones and touch, the parse, the heads table (issue 27)

PHONE = 375

TARGETS = (".launcher a, table.stat-map td a, .bg-head, .bg-tok, .bg-controls label, .bg-controls select, "
           "table.sortable th button, select.tag-filter, table.arcs a, table.arcs summary")


def small_targets(page, selector=TARGETS):
    """The visible targets under 24 x 24 CSS px whose 24-px circle, centred on them, meets another target: what
    WCAG 2.2's target size (minimum, 2.5.8) forbids. Returns (how many targets, [the bad ones])."""
    return page.evaluate("""(sel) => {
      const els = [...document.querySelectorAll(sel)].filter(e => e.getClientRects().length);
      const boxes = els.map(e => e.getBoundingClientRect());
      const bad = els.filter((e, i) => {
        const b = boxes[i];
        if (b.width >= 24 && b.height >= 24) return false;
        const cx = b.x + b.width / 2, cy = b.y + b.height / 2;
        return boxes.some((o, j) => {
          if (j === i) return false;
          const dx = Math.max(o.x - cx, 0, cx - o.right), dy = Math.max(o.y - cy, 0, cy - o.bottom);
          return dx * dx + dy * dy < 144;
        });
      }).map(e => [e.tagName, e.className, (e.textContent || e.getAttribute('aria-label') || '').slice(0, 30),
                   Math.round(e.getBoundingClientRect().width), Math.round(e.getBoundingClientRect().height)]);
      return [els.length, bad];
    }""", selector)


@pytest.mark.parametrize("width", [1280, PHONE])
def test_tap_targets_are_24_px_or_spaced_out(site, browser, width):
    for path in ("cat/index.html", "heads/index.html"):
        page = read_page(browser, (site / path).as_uri(), width)
        count, bad = small_targets(page)
        assert count > 20 and bad == [], (path, bad[:5])


@pytest.mark.xdist_group("base-site")
def test_144_heads_on_a_phone_tap_targets_and_no_sideways_scroll(base_site, browser):
    """12 heads a row: the overview's tiles are spaced out enough at 375 px; the page never scrolls sideways."""
    page = open_page(browser, (base_site / "cat" / "index.html").as_uri(), PHONE)
    # the narrow overview, 1:1: its labels as tall as they are drawn, its grid of links on its tiles
    img = page.locator(".overview-frame img")
    assert img.evaluate("i => i.currentSrc").endswith("/overview-narrow.png")
    assert img.evaluate("i => i.getBoundingClientRect().width === i.naturalWidth")
    frame, tiles = img.bounding_box(), page.locator(".launcher a")
    first, last = tiles.first.bounding_box(), tiles.last.bounding_box()
    assert frame["x"] < first["x"] and last["x"] + last["width"] <= frame["x"] + frame["width"]
    assert frame["y"] < first["y"] and last["y"] + last["height"] <= frame["y"] + frame["height"]
    count, bad = small_targets(page)
    assert count > 144 * 2 and bad == [], bad[:5]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE


def overview_at(page):
    """The overview's picture as drawn: (its file, drawn width, natural width), and whether every tile's link
    lies inside it."""
    img = page.locator(".overview-frame img").first
    frame, tiles = img.bounding_box(), page.locator(".launcher a")
    first, last = tiles.first.bounding_box(), tiles.last.bounding_box()
    inside = (frame["x"] < first["x"] and last["x"] + last["width"] <= frame["x"] + frame["width"] and
              frame["y"] < first["y"] and last["y"] + last["height"] <= frame["y"] + frame["height"])
    return (img.evaluate("i => i.currentSrc.split('/').pop()"), img.evaluate("i => i.getBoundingClientRect().width"),
            img.evaluate("i => i.naturalWidth"), inside)


@pytest.mark.xdist_group("base-site")
def test_beside_the_explorer_the_overview_is_the_narrow_picture_at_1_to_1(base_site, browser):
    """At 1280 px the overview sits in a column beside the explorer: the narrow picture, drawn 1:1 (the wide one,
    scaled into the column, drew its labels about 4 px tall), its tiles under their links; at 800 px, below the
    explorer, the wide one."""
    page = read_page(browser, (base_site / "cat" / "index.html").as_uri(), 1280)
    all_images_decoded(page)  # (every picture loaded: nothing else changes)
    src, drawn, natural, inside = overview_at(page)
    assert (src, drawn, inside) == ("overview-narrow.png", natural, True)
    explorer, column = page.locator("#explore").bounding_box(), page.locator(".overviews").bounding_box()
    assert column["x"] >= explorer["x"] + explorer["width"] and column["width"] <= natural + 1  # beside, as wide
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page = open_page(browser, (base_site / "cat" / "index.html").as_uri(), 800)
    all_images_decoded(page)
    src, drawn, natural, inside = overview_at(page)
    assert src == "overview.png" and inside and drawn <= natural


def test_on_a_touch_screen_the_words_speak_of_taps_and_the_taps_do_what_they_say(site, browser):
    context = browser.new_context(viewport={"width": PHONE, "height": 800}, has_touch=True, is_mobile=True)
    page = context.new_page()
    page.goto((site / "cat" / "index.html").as_uri())
    help_text = page.locator(".bg-help").inner_text()
    assert help_text.startswith("Tap a token") and "double tap shows that head alone" in help_text
    assert not re.search(r"Hover|click|Enter|Space|Esc", help_text), help_text  # no mouse, no keyboard
    caption = page.locator(".overview figcaption").first.inner_text()
    assert "press and hold a tile" in caption and "Ctrl" not in caption, caption
    # what the words promise, by taps: a tap adds a head, a double tap keeps only that one
    squares = page.locator(".bg-head")
    squares.nth(0).tap()
    page.wait_for_timeout(600)  # two taps this far apart are two taps, not a double tap
    squares.nth(1).tap()
    page.wait_for_function("document.querySelectorAll('.bg-head[aria-pressed=true]').length === 3")
    squares.nth(1).tap()
    squares.nth(1).tap()
    page.wait_for_function("document.querySelectorAll('.bg-head[aria-pressed=true]').length === 1")
    assert state(page)[1] == ["2"]
    assert page.locator(".bg-head").nth(1).evaluate("q => getComputedStyle(q).touchAction") == "manipulation"
    # a tile of the overview, tapped, chooses its head (and is the picture's link, for press and hold)
    tile = page.locator(".launcher a").nth(4)  # layer 2, head 2 of 2 x 3
    assert tile.get_attribute("href").endswith(".png")
    tile.tap()
    page.wait_for_function("location.hash.startsWith('#l=2&h=2')")
    assert state(page)[:2] == ("1", ["2"])
    context.close()
    page = open_page(browser, (site / "cat" / "index.html").as_uri())
    help_text = page.locator(".bg-help").inner_text()
    assert help_text.startswith("Hover over") and "a double click or Enter shows that head alone" in help_text
    caption = page.locator(".overview figcaption").first.inner_text()
    assert "Ctrl- or ⌘-click" in caption and "press and hold" not in caption, caption


PARSE_GEOMETRY = """(svg) => {
  // every label's box, every line's points every half pixel (from the path's geometry, not its box)
  const boxes = [...svg.querySelectorAll('.dep-labels text')].map(t => t.getBBox());
  const words = [...svg.querySelectorAll('.dep-words text')].map(t => t.getBBox());
  const lines = [...svg.querySelectorAll('.dep-lines path')].map(p => {
    const n = p.getTotalLength(), pts = [];
    for (let s = 0; s <= n; s += 0.5) { const q = p.getPointAtLength(s); pts.push([q.x, q.y]); }
    return pts;
  });
  const overlap = (a, b) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
  const inside = (b, [x, y]) => x > b.x - 1 && x < b.x + b.width + 1 && y > b.y - 1 && y < b.y + b.height + 1;
  const out = {labels: boxes.length, lines: lines.length, crossing: [], touching: [], astray: [], words: []};
  boxes.forEach((b, i) => {
    boxes.forEach((c, j) => { if (j > i && overlap(b, c)) out.crossing.push([i, j]); });
    lines.forEach((pts, j) => { if (pts.some(q => inside(b, q))) out.touching.push([i, j]); });
    // on its own arc: its middle on the arc's top line, inside the arc's span
    const top = Math.min(...lines[i].map(q => q[1])), xs = lines[i].map(q => q[0]);
    if (Math.abs(b.y + b.height / 2 - top) > 2 || b.x < Math.min(...xs) || b.x + b.width > Math.max(...xs))
      out.astray.push(i);
  });
  words.forEach((b, i) => { if (i && words[i - 1].x + words[i - 1].width + 4 > b.x) out.words.push(i); });
  return out;
}"""

# a long sentence with nested, crossing-free arcs on both sides of its root and short words with long labels
LONG_PARSE = ("After the long meeting, the tired teachers and their students walked slowly to the old house near "
              "the river, talked, and ate.")


def test_the_parse_labels_sit_on_their_own_arcs_and_touch_nothing(site, browser):
    """From the arcs' geometry in Chromium: no label overlaps another label or any arc's line (its own included:
    it sits in a gap of its own arc's top line), each label is on its own arc, no word runs into the next; at
    375 px a wide parse scrolls in its own box and the page does not."""
    from bertgallery import parser
    drawn = [parser.svg(p, f"p{i}") for i, p in enumerate(parser.parse([LONG_PARSE, "I can't see it, can you?"]))]
    drawn.append((site / "cat" / "Parse.svg").read_text(encoding="utf-8"))
    page = working_tab(browser)
    page.goto("about:blank")  # (set_content writes into the tab's document: not into a gallery page's)
    for svg in drawn:
        page.set_content(f'<!doctype html><body style="font: 16px system-ui">{svg}</body>')
        found = page.eval_on_selector("svg", PARSE_GEOMETRY)
        assert found["labels"] == found["lines"] > 3
        assert (found["crossing"], found["touching"], found["astray"], found["words"]) == ([], [], [], []), found
    page = read_page(browser, (site / "cat" / "index.html").as_uri(), PHONE)
    box = page.locator(".parse")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE
    assert box.evaluate("b => getComputedStyle(b).overflowX") == "auto"
    assert box.evaluate("b => b.querySelector('svg').getBoundingClientRect().width <= b.clientWidth || "
                        "b.scrollWidth > b.clientWidth")  # all of it shows, or it scrolls inside
    rows = page.eval_on_selector_all("table.arcs tbody tr", "rs => rs.map(r => r.getBoundingClientRect().height)")
    assert rows and max(rows) < 40, rows  # one line a row: the full lists of heads are on demand


def test_the_heads_table_shows_every_column_at_1280_without_a_box_of_its_own(site, browser):
    page = read_page(browser, (site / "heads" / "index.html").as_uri())
    table = page.locator("table.heads")
    # no ancestor scrolls or clips it: the page's own scroll bar is the only one
    clipping = table.evaluate("""t => { const out = [];
        for (let e = t.parentElement; e && e !== document.body; e = e.parentElement) {
          const s = getComputedStyle(e);
          if (s.overflowX !== 'visible' || s.overflowY !== 'visible' || s.maxHeight !== 'none') out.push(e.className);
        } return out; }""")
    assert clipping == []
    right = page.evaluate("document.querySelector('main').getBoundingClientRect().right")
    edges = page.eval_on_selector_all("table.heads thead th", "ths => ths.map(t => t.getBoundingClientRect().right)")
    from bertgallery.heads import STATISTICS
    columns = 2 + sum(not s.pairs_only for s in STATISTICS)  # the head, the statistics (no pair in the sample), the tags
    assert len(edges) == columns and max(edges) <= right, (edges, right)
    page = read_page(browser, (site / "heads" / "index.html").as_uri(), PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE
    first = page.locator("table.heads tbody tr").first
    cells = first.evaluate("r => [...r.cells].map(c => c.getBoundingClientRect())"
                           ".map(b => [b.left, b.top, b.right, b.bottom])")
    assert all(c[2] <= PHONE for c in cells)  # every statistic shows
    assert cells[-1][1] >= max(c[3] for c in cells[:-1]) - 1  # the tags on their own line, under the numbers


def test_on_a_phone_every_card_value_says_which_column_it_is(site, browser):
    """At 375 px the heads table is cards: each value has its column's title written above it (data-label,
    from the same names as the titles); at 1280 px the columns' titles say it, and the cells carry none."""
    from bertgallery.heads import STATISTICS
    labels = """r => [...r.cells].slice(1).map(c => [c.dataset.label,
        getComputedStyle(c, '::before').content, getComputedStyle(c, '::before').display])"""
    page = read_page(browser, (site / "heads" / "index.html").as_uri(), PHONE)
    titles = page.eval_on_selector_all("table.heads thead th", "ths => ths.map(t => t.textContent.trim())")[1:]
    assert titles[:-1] == [s.short for s in STATISTICS if not s.pairs_only]
    for row in page.locator("table.heads tbody tr").all():
        got = row.evaluate(labels)
        assert [g[0] for g in got] == titles, got
        assert all(content in (f'"{t}"', f'"{t}" ": "', f'"{t}: "') and display != "none"
                   for (t, content, display) in got), got
    page = read_page(browser, (site / "heads" / "index.html").as_uri())
    assert all(content == "none" for _, content, _ in page.locator("table.heads tbody tr").first.evaluate(labels))


def test_no_page_scrolls_sideways_on_a_phone(site, browser):
    """At 375 px (the audit's slow run checks it too): wide pictures and tables scroll in their own boxes."""
    for path in ("index.html", "cat/index.html", "long-word/index.html", "i-mask-to-the-mask-every-day/index.html",
                 "heads/index.html", "heads/layer1-head2.html"):
        read = path in ("cat/index.html", "heads/index.html")  # the pages other tests read at this width
        page = (read_page if read else open_page)(browser, (site / path).as_uri(), PHONE)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE, path
        assert page.errors == [], path
