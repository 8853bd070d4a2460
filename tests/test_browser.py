"""The gallery in a real browser: Debian's Chromium driven by Playwright (never a downloaded browser).

The site is built with a random-weight model (the mechanics do not depend on the weights). Screenshots at
1280 and 375 px go to test-artifacts/."""
import functools
import os
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

from conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)
sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright


@pytest.fixture(scope="module")
def site(sample_site):
    return sample_site


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync"])
        yield b
        b.close()


def open_page(browser, url, width=1280):
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.errors, page.requests = [], []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("request", lambda r: page.requests.append(r.url))
    page.goto(url)
    return page


def all_images_decoded(page):
    page.evaluate("document.querySelectorAll('img').forEach(i => i.loading = 'eager')")
    page.wait_for_function("[...document.images].every(i => i.complete)")
    return page.evaluate("[...document.images].filter(i => !(i.naturalWidth > 0)).map(i => i.src)")


def test_from_file_url(site, browser):
    page = open_page(browser, (site / "index.html").as_uri())
    assert all_images_decoded(page) == []
    page.click("a.title >> nth=0")
    page.wait_for_load_state()
    assert page.url.endswith("/cat/index.html")
    assert all_images_decoded(page) == []
    assert page.errors == []
    assert all(url.startswith("file://") for url in page.requests), page.requests
    page.close()


def test_interactive_view(site, browser):
    page = open_page(browser, (site / "cat" / "index.html").as_uri())
    view = page.locator("#explore")
    assert view.is_visible()
    lines_before = page.locator("#view svg line").count()
    page.locator("#view .from button.tok").nth(2).hover()  # 'cat'
    lines_after = page.locator("#view svg line").count()
    assert 0 < lines_after < lines_before  # only the hovered token's lines remain
    assert "cat attends to" in page.locator("#view-status").inner_text()
    assert page.locator("#view .to button.tok").nth(0).evaluate("b => b.style.background") != ""
    # arrow keys move between heads and layers
    page.locator("#view").focus()
    page.keyboard.press("ArrowRight")
    assert page.locator("#head").input_value() == "1"
    page.keyboard.press("ArrowDown")
    assert page.locator("#layer").input_value() == "1"
    assert page.locator("#full-picture").get_attribute("href") == "Attention_Layer2_Head2.png"
    # hiding [CLS]/[SEP] drops two tokens from each column
    n = page.locator("#view .from button.tok").count()
    page.check("#hide-special")
    assert page.locator("#view .from button.tok").count() == n - 2
    # a thumbnail click selects its head in the view
    page.click('table.grid a[href="Attention_Layer1_Head3.png"] img')
    assert (page.locator("#layer").input_value(), page.locator("#head").input_value()) == ("0", "2")
    # statistics cells ship bare; the script makes each a link to its head (row = layer, column = head) in
    # every map, and a click selects that head
    last_map = page.locator("table.stat-map").last
    assert last_map.locator("tbody tr").nth(1).locator("td a").nth(2).get_attribute("href") == "Attention_Layer2_Head3.png"
    hrefs = page.eval_on_selector_all("table.stat-map td a", "as => as.map(a => a.getAttribute('href'))")
    maps = page.locator("table.stat-map").count()
    assert maps == 7 + 1  # what each head looks at, and the importance for the mask's prediction
    assert hrefs == [f"Attention_Layer{l}_Head{h}.png" for _ in range(maps) for l in (1, 2) for h in (1, 2, 3)]
    last_map.locator("tbody tr").nth(1).locator("td a").nth(2).click()
    assert (page.locator("#layer").input_value(), page.locator("#head").input_value()) == ("1", "2")
    assert page.errors == []
    page.close()


def test_heads_table_sorts(site, browser):
    page = open_page(browser, (site / "heads" / "index.html").as_uri())
    first = lambda: page.locator("table.heads tbody tr td:first-child").first.inner_text()  # noqa: E731
    assert first() == "Layer 1 · Head 1"
    page.click("table.heads th:nth-child(3) button")  # [SEP], ascending
    page.click("table.heads th:nth-child(3) button")  # descending
    values = page.eval_on_selector_all("table.heads tbody tr td:nth-child(3)", "tds => tds.map(t => +t.dataset.value)")
    assert values == sorted(values, reverse=True)
    assert page.errors == []
    page.close()


@pytest.mark.parametrize("width", [1280, 375])
def test_screenshots_and_no_sideways_scrolling(site, browser, width):
    ARTIFACTS.mkdir(exist_ok=True)
    for name, path in (("index", "index.html"), ("sentence", "cat/index.html")):
        page = open_page(browser, (site / path).as_uri(), width)
        all_images_decoded(page)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # wide tables scroll inside
        page.close()


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_every_link_resolves_under_a_sub_path(site, browser, tmp_path):
    """As on GitHub Pages: the site served at http://host/repo-name/."""
    shutil.copytree(site, tmp_path / "repo-name")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/repo-name/"
    try:
        page = browser.new_page()
        seen, todo, checked = set(), [base + "index.html"], 0
        while todo:
            url = todo.pop()
            if url in seen:
                continue
            seen.add(url)
            assert page.goto(url).status == 200, url
            for link in page.eval_on_selector_all("a[href], img[src], link[href], script[src]",
                                                  "els => els.map(e => e.getAttribute('href') || e.getAttribute('src'))"):
                target = urljoin(url, link)
                assert target.startswith(base), (url, link)  # relative, and inside the sub-path
                if target.endswith(".html"):
                    todo.append(target)
                elif target not in seen:
                    seen.add(target)
                    assert page.request.get(target).status == 200, (url, link)
                    checked += 1
        assert checked > 10 and len([u for u in seen if urlparse(u).path.endswith(".html")]) >= 3 + 1 + 6
        page.close()
    finally:
        server.shutdown()
