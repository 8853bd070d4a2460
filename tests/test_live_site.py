"""The "Try your own sentence" page in the gallery: `live:` in sentences.yaml and --live, the model exported as a
cached output of the build, and the page itself in Debian's Chromium (Playwright), from file:// and over http
under a sub-path with every request outside the site refused, against the build's own Python run.

The tiny model has random weights (drawn wide, so that its predictions are not near-ties): it tests the
mechanics, not quality; tests/test_live.py measures the real offline model against its Python run."""
import functools
import json
import re
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import TINY_SHAPE, run_cli, save_bert, working_folder, write_yaml

from bertgallery import build, config, names, reuse  # noqa: E402
from bertgallery.config import ConfigError  # noqa: E402

GALLERY = """model: ./tiny
top_k: 4
{live}
sentences:
  - id: cat
    text: The cat sat on the [MASK] and looked around.
  - text: I [MASK] to the [MASK] every day.
"""


def load_text(tmp_path: Path, text: str) -> config.Config:
    return config.load(write_yaml(tmp_path / "s.yaml", text))


# ---------------------------------------------------------------- sentences.yaml and the command line
@pytest.mark.parametrize("value, live", [("true", ""), ("false", None), ("yes", ""), ("offline", "offline"),
                                         ("' distilbert-base-uncased '", "distilbert-base-uncased"),
                                         ("./my-model", "./my-model")])
def test_live_names_the_model_or_turns_it_on(tmp_path, value, live):
    assert load_text(tmp_path, f"live: {value}\nsentences: ['a [MASK]']\n").live == live
    assert load_text(tmp_path, "sentences: ['a [MASK]']\n").live is None


@pytest.mark.parametrize("value, message", [
    ("3", "s.yaml:1: 'live' must be true, false or the model to run in the browser"),
    ("''", "s.yaml:1: 'live' must be true"), ("[offline]", "s.yaml:1: 'live' must be true"),
    ("", "s.yaml:1: 'live' must be true"), ('"a\\tb"', "s.yaml:1: 'live' holds a line break or control character"),
])
def test_a_bad_live_value_is_one_line(tmp_path, value, message):
    with pytest.raises(ConfigError) as e:
        load_text(tmp_path, f"live: {value}\nsentences: ['a [MASK]']\n")
    assert str(e.value).endswith(message) or message in str(e.value) and "\n" not in str(e.value)


def test_a_sentence_may_not_take_the_live_pages_folder(tmp_path):
    cfg = load_text(tmp_path, "sentences:\n  - {id: live, text: 'a [MASK]'}\n")
    assert cfg.sentences[0].slug == "live-sentence"
    assert names.site_file("live/index.html") and names.site_file("live/model.js") and \
        names.site_file("live/weights-12.js") and not names.site_file("live/weights-0.js") and \
        not names.site_file("live/notes.txt") and names.site_file("static/live-page.js")


# ---------------------------------------------------------------- the build: a cached output like the others
@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """Wide random weights: peaked attention and predictions that are not near-ties."""
    return save_bert(tmp_path_factory.mktemp("live-tiny") / "tiny", **dict(TINY_SHAPE, initializer_range=0.25))


def gallery(folder: Path, tiny: Path, live: str = "live: true", both: bool = False) -> Path:
    """The gallery's first sentence (both: its two) with the tiny model, in `folder`."""
    folder.mkdir(exist_ok=True)
    if not (folder / "tiny").exists():
        shutil.copytree(tiny, folder / "tiny")
    text = GALLERY.format(live=live)
    return write_yaml(folder / "s.yaml", text if both else text.split("  - text: I")[0])


def run(folder: Path, **options) -> build.Summary:
    with working_folder(folder):
        return build.build(config.load(Path("s.yaml")), Path("site"),
                           build.Options(fallback=False, progress=False, **options))


@pytest.fixture(scope="module")
def live_site(tiny, tmp_path_factory) -> Path:
    """A built gallery with its live page: not to be changed by the tests."""
    folder = tmp_path_factory.mktemp("live-site")
    gallery(folder, tiny, both=True)
    run(folder)
    return folder / "site"


def manifest(site: Path) -> dict:
    return json.loads((site / names.MANIFEST).read_text())


@pytest.mark.xdist_group("live-site")  # one worker builds it
def test_the_export_is_in_the_manifest_and_every_page_links_the_live_page(live_site):
    [entry] = manifest(live_site)["live"]
    assert entry["folder"] == names.LIVE and set(entry["keys"]) == {"export"}
    assert set(entry["files"]) == {names.LIVE_MODEL, names.live_weights(1)}
    assert {p.name for p in (live_site / names.LIVE).iterdir()} == set(entry["files"]) | {names.PAGE}
    for name in names.LIVE_FILES:
        assert (live_site / names.STATIC / name).is_file()
    link = f'href="{{}}{names.LIVE}/{names.PAGE}">Try your own sentence</a>'
    pages = [p for p in live_site.rglob("*.html")]
    assert len(pages) > 10
    for page in pages:
        root = "" if page.parent == live_site else "../"
        assert link.format(root) in page.read_text(encoding="utf-8"), page


@pytest.mark.xdist_group("live-site")
@pytest.mark.slow
def test_a_rebuild_takes_the_export_over_and_an_edited_file_is_exported_again(live_site, tmp_path, monkeypatch):
    from bertgallery import live, model
    folder = tmp_path / "g"
    shutil.copytree(live_site.parent, folder)  # its gallery, its model and its site
    weights = folder / "site" / names.LIVE / names.live_weights(1)
    inode = weights.stat().st_ino
    real_export = live.export
    monkeypatch.setattr(live, "export", lambda *a, **k: pytest.fail("exported again"))
    monkeypatch.setattr(model, "load", lambda *a, **k: pytest.fail("loaded the model"))
    assert run(folder).bytes is None  # nothing to do: no export, no model, no torch
    (folder / "s.yaml").write_text((folder / "s.yaml").read_text().replace("top_k: 4", "top_k: 3"))
    monkeypatch.undo()
    monkeypatch.setattr(live, "export", lambda *a, **k: pytest.fail("exported again"))
    third = run(folder)  # the sentences go through the model again; the export is taken over
    assert third.rebuilt == 2 and weights.stat().st_ino == inode
    assert third.live_bytes == sum(p.stat().st_size for p in (folder / "site" / names.LIVE).glob("*.js"))
    with weights.open("ab") as f:
        f.write(b"//")
    calls = []
    monkeypatch.setattr(live, "export", lambda *a, **k: calls.append(1) or real_export(*a, **k))
    run(folder)
    assert calls == [1] and not weights.read_bytes().endswith(b"//")


@pytest.mark.slow
def test_an_edit_of_the_exporting_code_exports_again_and_nothing_else(tiny, tmp_path, monkeypatch):
    from bertgallery import cache, live
    folder = tmp_path / "g"
    gallery(folder, tiny)
    run(folder)
    real_code, real_export, calls = cache.code, live.export, []
    monkeypatch.setattr(cache, "code", lambda *modules: real_code(*modules) + ("+edit" if "live" in modules else ""))
    monkeypatch.setattr(live, "export", lambda *a, **k: calls.append(1) or real_export(*a, **k))
    assert run(folder).rebuilt == 0 and calls == [1]


@pytest.mark.slow
def test_turning_it_off_takes_the_page_and_the_link_away(tiny, tmp_path):
    folder = tmp_path / "g"
    gallery(folder, tiny)
    run(folder)
    gallery(folder, tiny, live="live: false")
    run(folder)
    site = folder / "site"
    assert not (site / names.LIVE).exists() and manifest(site)["live"] == []
    assert "Try your own sentence" not in (site / names.PAGE).read_text()
    assert not (site / names.STATIC / "live.js").exists()


@pytest.mark.slow
def test_the_command_line_turns_it_on_and_warns_when_the_export_is_large(tiny, tmp_path, monkeypatch):
    from bertgallery import cli
    gallery(tmp_path, tiny, live="")
    monkeypatch.setattr(cli, "LIVE_WARNING", 1_000_000)  # the tiny model's 3 MB count as large here
    done = run_cli("s.yaml", "--live", "--out", "site", "--no-fallback", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / names.LIVE / names.PAGE).is_file()
    assert "live page" in done.stdout
    warning = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "reader" in warning[0] and "phone" in warning[0], done.stderr


@pytest.mark.slow
def test_a_lighter_model_runs_in_the_browser_instead(tiny, tmp_path):
    """live: names another model: its export, not the gallery's, and the explorer does not link the gallery's
    head pages (they are another model's)."""
    other = save_bert(tmp_path / "other", **dict(TINY_SHAPE, num_attention_heads=4, hidden_size=32,
                                                 initializer_range=0.25))
    gallery(tmp_path, tiny, live=f"live: {other}")
    run(tmp_path)
    page = (tmp_path / "site" / names.LIVE / names.PAGE).read_text()
    settings = json.loads(re.search(r'data-live="([^"]*)"', page)[1].replace("&#34;", '"').replace("&amp;", "&"))
    assert settings["model"] == str(other) and settings["heads"] is None and len(settings["headColours"]) == 4
    assert "2 layers × 4 heads" in page
    model_js = (tmp_path / "site" / names.LIVE / names.LIVE_MODEL).read_text()
    assert '"heads":4' in model_js and '"hidden":32' in model_js


def test_a_live_model_that_cannot_be_had_is_one_line_before_any_work(tiny, tmp_path, monkeypatch):
    from bertgallery import model
    gallery(tmp_path, tiny, live="live: ./no-such-model")
    monkeypatch.setattr(model, "load", lambda *a, **k: pytest.fail("loaded the gallery's model first"))
    with pytest.raises(ConfigError) as e:
        run(tmp_path)
    assert str(e.value).startswith("s.yaml: 'live': model folder ./no-such-model") and "\n" not in str(e.value)
    assert not (tmp_path / "site").exists()


def test_a_model_that_is_not_wordpiece_gets_one_line_and_the_rest_builds(tiny_roberta, tmp_path, monkeypatch):
    from bertgallery import model
    # one sentence: on main too, the tiny RoBERTa's two-mask page differs between the build that ran the model
    # and the next one (a reused result does not give the same page), which is not this test's business
    gallery(tmp_path, tiny_roberta)
    done = run_cli("s.yaml", "--out", "site", "--no-fallback", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stderr.splitlines() if "live" in line]
    assert notes == ["note: live mode needs a WordPiece model (BERT, DistilBERT): roberta is not one; the rest of "
                     "the gallery is built without the live page"], done.stderr
    site = tmp_path / "site"
    assert (site / "cat" / names.PAGE).is_file() and not (site / names.LIVE).exists()
    assert "Try your own sentence" not in (site / names.PAGE).read_text()
    # known from its config.json: a rebuild with nothing to do does not load the model to say so again
    monkeypatch.setattr(model, "load", lambda *a, **k: pytest.fail("loaded the model"))
    again = run_cli("s.yaml", "--out", "site", "--no-fallback", "--quiet", cwd=tmp_path)
    assert "up to date" in again.stdout and "WordPiece" in again.stderr


# ---------------------------------------------------------------- the page in Chromium
class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Page:
    """The live page open in a tab: console errors collected, and over http every request outside the site
    refused (and recorded)."""

    def __init__(self, browser, url: str, inside: str):
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.errors, self.refused = [], []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

        def guard(route):
            if route.request.url.startswith(inside) or route.request.url.startswith("blob:"):
                route.continue_()
            else:
                self.refused.append(route.request.url)
                route.abort()
        self.page.route("**/*", guard)
        self.page.goto(url)

    def ready(self):
        self.page.wait_for_function("document.getElementById('live-status').textContent.indexOf('ready') >= 0",
                                    timeout=30_000)

    def type(self, text: str, pair: str = ""):
        self.page.fill("#live-pair", pair)
        self.page.fill("#live-text", text)
        self.page.press("#live-text", "Enter")

    def shown(self, text: str):
        """The predictions of `text` on the page: [[(token, probability shown), ...] per mask]."""
        self.page.wait_for_function("t => window.bertGalleryTry.sentence && bertGalleryTry.sentence.text === t && "
                                    "!document.getElementById('live-predictions').hidden", arg=text, timeout=30_000)
        return self.page.evaluate("""() => Array.from(document.querySelectorAll('#live-predictions table.ranking'))
            .map(t => Array.from(t.querySelectorAll('tbody tr')).map(r => [r.cells[1].textContent,
                 r.cells[2].textContent]))""")

    def close(self):
        assert self.errors == [] and self.refused == [], (self.errors, self.refused)
        self.page.close()


def python_predictions(site: Path, slug: str):
    return [[(p["token"], p["probability"]) for p in m["predictions"]]
            for m in json.loads((site / slug / names.DATA).read_text())["masks"]]


def percent(p: float) -> str:
    from bertgallery import site
    return site.percent(p)


def same_predictions(page, shown, python):
    """The same words in the same order as the Python run, each probability within 2 % of Python's (the compact
    weights move them a little), and printed as the sentence pages print theirs."""
    got = page.page.evaluate("bertGalleryLive.last.masks.map(m => m.predictions.map(p => [p.token, p.probability]))")
    assert [[w for w, _ in m] for m in shown] == [[w for w, _ in m] for m in got] == [[w for w, _ in m] for m in python]
    for m, g, p in zip(shown, got, python):
        for (_, text), (_, mine), (_, theirs) in zip(m, g, p):
            assert mine == pytest.approx(theirs, rel=0.02) and text == percent(mine)


@pytest.mark.xdist_group("live-site")
def test_typing_a_sentence_shows_the_python_runs_predictions_and_the_explorer(live_site, browser):
    """From file://: type, press Enter; the same top-k words as the build's Python run, the explorer with every
    layer and head, numbers on hover, [CLS]/[SEP] hidden on request; the address holds the sentence and the view,
    and opening it elsewhere shows both again."""
    page = Page(browser, (live_site / names.LIVE / names.PAGE).as_uri(), live_site.as_uri())
    page.ready()
    text = "I [MASK] to the [MASK] every day."
    page.type(text)
    same_predictions(page, page.shown(text), python_predictions(live_site, "i-mask-to-the-mask-every-day"))
    tab = page.page
    assert tab.inner_text(".filled-text").startswith("I ")
    tokens = json.loads((live_site / "i-mask-to-the-mask-every-day" / names.DATA).read_text())["tokens"]
    assert tab.locator(".bg-from .bg-tok:visible").count() == len(tokens)
    assert tab.locator(".bg-layer option").count() == 2 and tab.locator(".bg-head:visible").count() == 3
    assert tab.evaluate("Array.from(document.querySelectorAll('.bg-lines path')).some(p => p.getAttribute('d'))")
    tab.hover(".bg-from .bg-tok >> nth=2")
    assert re.fullmatch(r" \d\.\d\d", tab.locator(".bg-to .bg-tok >> nth=1").locator(".bg-w").inner_text()) or \
        re.search(r"\d\.\d\d", tab.inner_text(".bg-status"))
    tab.check(".bg-hide")
    assert tab.locator(".bg-from .bg-tok:visible").count() == len(tokens) - 2
    tab.select_option(".bg-layer", "1")
    tab.click(".bg-head >> nth=0")
    hash_ = tab.evaluate("location.hash")
    assert hash_.startswith("#s=I+[MASK]+to+the+[MASK]+every+day.&l=2&h=") and "hide=1" in hash_
    state = tab.evaluate("bertGalleryTry.explorer.get()")
    page.close()
    again = Page(browser, (live_site / names.LIVE / names.PAGE).as_uri() + hash_, live_site.as_uri())
    assert again.shown(text) and again.page.input_value("#live-text") == text
    assert again.page.evaluate("bertGalleryTry.explorer.get()") == state
    again.type("No mask in this one.")  # bad input: live.js's message, and the old results go
    again.page.wait_for_selector("#live-error:not([hidden])")
    assert again.page.inner_text("#live-error") == ("There is no [MASK] in the text: write [MASK] where the model "
                                                     "should guess a word.")
    assert again.page.locator("#live-predictions").is_hidden() and again.page.evaluate("location.hash") == hash_
    again.type("The cat sat. [SEP] It was [MASK].")  # as the build: a typed [SEP] belongs in the second field
    again.page.wait_for_function("document.getElementById('live-error').textContent.indexOf('[SEP]') >= 0")
    assert again.page.inner_text("#live-error") == (
        "The text holds [SEP], which the model's tokenizer places itself between two segments: give the second "
        "segment in the second field (Second sentence).")
    again.close()


@pytest.fixture(scope="module")
def served(live_site, tmp_path_factory):
    """The site under a sub-path of a local server, as on GitHub Pages (user.github.io/repo/)."""
    root = tmp_path_factory.mktemp("pages")
    shutil.copytree(live_site, root / "repo" / "gallery")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/repo/gallery/"
    httpd.shutdown()


@pytest.mark.slow
@pytest.mark.xdist_group("live-site")
def test_under_a_pages_sub_path_with_nothing_outside_it(served, live_site, browser):
    page = Page(browser, served + f"{names.LIVE}/{names.PAGE}#s=The+cat+sat+on+the+[MASK]+and+looked+around.&l=1&h=2",
                served)
    same_predictions(page, page.shown("The cat sat on the [MASK] and looked around."),
                     python_predictions(live_site, "cat"))
    assert page.page.evaluate("bertGalleryTry.explorer.get()")["heads"] == [1]
    page.type("The cat sat on the mat.", "It was [MASK].")  # a pair: the segment filter appears
    page.shown("The cat sat on the mat.")
    assert page.page.locator(".bg-filter").is_visible()
    assert "&p=It+was+[MASK]." in page.page.evaluate("location.hash")
    page.page.go_back()
    page.shown("The cat sat on the [MASK] and looked around.")
    page.close()


@pytest.mark.slow
@pytest.mark.xdist_group("live-site")
def test_a_long_text_and_a_missing_file_get_a_message(live_site, browser, tmp_path):
    page = Page(browser, (live_site / names.LIVE / names.PAGE).as_uri(), live_site.as_uri())
    page.ready()
    page.type("word " * 600 + "[MASK]")
    page.page.wait_for_function("document.getElementById('live-error').textContent.indexOf('603 tokens') >= 0")
    page.close()
    broken = tmp_path / "site"
    shutil.copytree(live_site, broken)
    (broken / names.LIVE / names.live_weights(1)).unlink()
    page = Page(browser, (broken / names.LIVE / names.PAGE).as_uri(), broken.as_uri())
    page.page.wait_for_selector("#live-error:not([hidden])")
    message = page.page.inner_text("#live-error")
    assert message.startswith("The model could not be loaded. Could not load file://") and "weights-1.js" in message
    page.errors = [e for e in page.errors if "ERR_FILE_NOT_FOUND" not in e]  # Chromium's own line for the 404
    page.close()


@pytest.mark.slow
@pytest.mark.xdist_group("live-site")
@pytest.mark.parametrize("width", [1280, 375])
def test_the_live_page_passes_the_audit_at_both_widths(live_site, browser, width):
    """axe-core (no serious or critical finding) before and after a sentence, and no sideways scroll; the
    screenshots go to test-artifacts/ for a person to look at."""
    from test_browser import ARTIFACTS, audit
    page = Page(browser, (live_site / names.LIVE / names.PAGE).as_uri(), live_site.as_uri())
    page.page.set_viewport_size({"width": width, "height": 900})
    page.ready()
    assert page.errors == []
    assert audit(page.page) == []
    page.type("I [MASK] to the [MASK] every day.")
    page.shown("I [MASK] to the [MASK] every day.")
    page.page.locator(".bg-from .bg-tok").nth(2).hover()
    # axe reads the style sheets itself, which Chromium refuses from file://, and says so, when it likes
    assert [e for e in page.errors if not (e.startswith("Access to XMLHttpRequest at 'file://")
                                           or "net::ERR_FAILED" in e)] == []
    assert audit(page.page) == []
    assert page.page.evaluate("document.documentElement.scrollWidth") <= width
    ARTIFACTS.mkdir(exist_ok=True)
    page.page.screenshot(path=str(ARTIFACTS / f"live-{width}.png"), full_page=True)
    page.errors = []
    page.close()


@pytest.mark.xdist_group("live-site")
def test_the_pair_example_fills_both_fields_and_runs_as_a_pair(live_site, browser):
    """The page offers the gallery's first sentence and a pair (this gallery has none: site.EXAMPLE_PAIR); the
    pair's button fills both fields and runs them as [CLS] A [SEP] B [SEP], with the explorer's segment filter."""
    from bertgallery.site import EXAMPLE_PAIR
    page = Page(browser, (live_site / names.LIVE / names.PAGE).as_uri(), live_site.as_uri())
    tab = page.page
    assert tab.input_value("#live-text") == "The cat sat on the [MASK] and looked around."
    assert tab.input_value("#live-pair") == ""
    examples = tab.locator(".live-example")
    assert examples.count() == 2 and "a pair" in examples.nth(1).inner_text()
    page.ready()
    examples.nth(1).click()
    text, pair = EXAMPLE_PAIR
    assert page.shown(text)
    assert (tab.input_value("#live-text"), tab.input_value("#live-pair")) == (text, pair)
    assert tab.evaluate("bertGalleryTry.sentence.pair") == pair
    assert tab.evaluate("bertGalleryLive.last.tokenTypes.indexOf(1) > 0")  # B's tokens are segment 1
    assert tab.locator(".bg-filter input").count() == 5  # All, A→A, B→B, A→B, B→A
    assert "&p=" in tab.evaluate("location.hash")
    page.close()


def test_the_examples_are_the_first_sentence_and_the_gallerys_own_first_pair():
    from types import SimpleNamespace as NS
    from bertgallery.site import EXAMPLE_PAIR, live_examples

    def of(*sentences):
        return NS(models=[NS(entries=[NS(result=NS(text=t, pair=p)) for t, p in sentences])])
    assert live_examples(of(("A [MASK].", ""), ("B.", "[MASK] C."), ("D.", "E [MASK]."))) == \
        [("A [MASK].", ""), ("B.", "[MASK] C.")]
    assert live_examples(of(("A [MASK].", ""))) == [("A [MASK].", ""), EXAMPLE_PAIR]
    assert live_examples(of(("B.", "[MASK] C."), ("A [MASK].", ""))) == [("B.", "[MASK] C.")]  # it is the pair
