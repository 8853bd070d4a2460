"""bertgallery.analyse() in the notebooks people use: a real JupyterLab (and Notebook 7, from the same server)
driven in Debian's Chromium by Playwright, and a notebook executed by nbclient. The server runs on 127.0.0.1
with a random port and token, its news feed, update check and extension manager off, its configuration in a
temporary folder; the tests start and stop it. The model is the tiny random BERT (mechanics only).
Screenshots land in test-artifacts/."""
import base64
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "test-artifacts"
TEXTS = ("The cat sat on the [MASK].", "I [MASK] to the [MASK] every day.")


def cells(model) -> list[str]:
    """What a user types: one result per cell, shown by Jupyter."""
    return [f"from bertgallery import analyse\nr = analyse({TEXTS[0]!r}, model={str(model)!r}, top_k=3)\nr",
            f"r2 = analyse({TEXTS[1]!r}, model={str(model)!r}, top_k=3)\nr2",
            "r.head(1, 2)"]


def write_notebook(path, sources):
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources], metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def expected(tiny_bert):
    """The predictions, computed here: the notebook must show these."""
    from bertgallery import analyse
    return [[p.token for m in analyse(t, model=str(tiny_bert), top_k=3).masks for p in m.predictions] for t in TEXTS]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """jupyter lab on 127.0.0.1: a random port and token, every setting in a temporary folder."""
    home = tmp_path_factory.mktemp("jupyter")
    root = home / "notebooks"
    root.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(24)
    config = home / "config"
    (config / "labconfig").mkdir(parents=True)
    (config / "jupyter_server_config.json").write_text(json.dumps({
        "ServerApp": {"ip": "127.0.0.1", "port": port, "port_retries": 0, "open_browser": False, "allow_root": True,
                      "root_dir": str(root)},
        "IdentityProvider": {"token": token},
        # nothing fetched from outside: no news feed, no update check, no extension manager (it asks PyPI)
        "LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                   "extension_manager": "readonly"}}))
    (config / "labconfig" / "page_config.json").write_text(json.dumps({"disabledExtensions": {
        "@jupyterlab/extensionmanager-extension": True}}))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), PYTHONPATH=str(ROOT))  # the kernel imports ours
    log = open(home / "server.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser"], env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)  # its kernels in its group
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if process.poll() is not None:
                pytest.fail(f"jupyter lab stopped: {(home / 'server.log').read_text()[-2000:]}")
            try:
                request = urllib.request.Request(f"{base}/api/status", headers={"Authorization": f"token {token}"})
                urllib.request.urlopen(request, timeout=2).close()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("jupyter lab did not start in 120 s")
        yield base, token, root
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def wait_for_kernel(base, token, notebook):
    """Until the notebook's kernel is idle and the page is connected to it (the server's own account)."""
    for _ in range(240):
        request = urllib.request.Request(f"{base}/api/sessions", headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            sessions = [s for s in json.load(answer) if s["path"] == notebook]
        if sessions and sessions[0]["kernel"]["connections"] > 0 and \
                sessions[0]["kernel"]["execution_state"] == "idle":
            return
        time.sleep(0.5)
    pytest.fail(f"the kernel of {notebook} did not start in 120 s")


def run_in(browser, base, token, path):
    """Open the notebook at `path` (a client's URL), run its cells one by one as a user does (Shift+Enter), and
    return the page once both results show."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.errors, page.requests = [], []
    page.on("pageerror", lambda e: page.errors.append(e.stack or str(e)))
    page.on("request", lambda r: page.requests.append(r.url))
    page.goto(f"{base}{path}?token={token}")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=120_000)
    wait_for_kernel(base, token, path.rsplit("/", 1)[-1])  # keys pressed before it is connected are lost
    page.locator(".jp-Notebook .jp-Cell .jp-InputArea-editor").first.click()
    for _ in range(3):
        page.keyboard.press("Shift+Enter")
    page.wait_for_function("document.querySelectorAll('.jp-OutputArea-output img').length === 1", timeout=180_000)
    return page


def check_the_results(page, base, expected, name):
    outputs = page.locator(".jp-Cell .jp-OutputArea-output")
    views = page.locator(".jp-OutputArea-output .bg-explorer")
    assert views.count() == 2
    # the predictions show, ranked, in each cell's result
    for k in (0, 1):
        result = page.locator(".jp-OutputArea-output .bg-notebook").nth(k)
        assert result.locator(".bg-ranking code").all_text_contents() == expected[k]
        assert TEXTS[k] in result.text_content()
    # no cell printed to stderr (tqdm's "IProgress not found", a library warning)
    assert page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').count() == 0
    assert [outputs.nth(k).get_attribute("data-mime-type") for k in range(3)] == ["text/html", "text/html",
                                                                                  "image/png"]
    # the lines span the tokens, and the view ends where its tokens do: no empty band after it
    for k in (0, 1):
        sizes = views.nth(k).evaluate("""v => ({svg: v.querySelector('svg.bg-lines').getBoundingClientRect().height,
            column: v.querySelector('.bg-from').getBoundingClientRect().height,
            view: v.querySelector('.bg-view').getBoundingClientRect().height})""")
        assert abs(sizes["svg"] - sizes["column"]) <= 1 and sizes["view"] <= sizes["column"] + 12, sizes
        band = page.locator(".jp-OutputArea-output .bg-notebook").nth(k).evaluate(
            "n => n.closest('.jp-OutputArea-output').getBoundingClientRect().bottom - "
            "n.querySelector('.bg-legend').getBoundingClientRect().bottom")
        assert band <= 40, band  # the card's padding and the output's margin; the stretched SVG left ~280 px
    # hovering a token in the second result shows its weights there, and only there
    page.mouse.move(1, 1)  # away from where the output appeared under the pointer
    # text_content, not inner_text: a client may skip the layout of a cell scrolled out of view (JupyterLab's
    # content-visibility), and inner_text of it is ""
    before = [views.nth(k).locator(".bg-status").text_content() for k in (0, 1)]
    views.nth(1).locator(".bg-from .bg-tok").nth(1).hover()
    after = [views.nth(k).locator(".bg-status").text_content() for k in (0, 1)]
    assert after[0] == before[0] and after[1] != before[1] and re.search(r": i → \S+ \d\.\d\d", after[1]), after
    numbers = views.nth(1).locator(".bg-to .bg-tok .bg-w").all_text_contents()
    assert all(re.fullmatch(r"\d\.\d\d", n.strip()) for n in numbers) and len(numbers) == 10, numbers
    assert views.nth(0).locator(".bg-to .bg-tok .bg-w").all_text_contents() == [""] * 9
    # choosing a head in the first changes the first only
    views.nth(0).locator(".bg-head").nth(1).dispatch_event("dblclick")
    assert views.nth(0).locator(".bg-head[aria-pressed=true]").all_text_contents() == ["2"]
    assert views.nth(1).locator(".bg-head[aria-pressed=true]").all_text_contents() == ["1"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    # nothing came from outside the server; our script threw nothing (Notebook 7's own bundle throws one
    # "reading 'schema'" error while loading its settings, with or without us)
    assert [u for u in page.requests if not u.startswith((base + "/", "data:", "blob:"))] == []
    assert [e for e in page.errors if f"{base}/static/" not in e] == []


def test_jupyterlab_shows_both_results_and_each_works_alone(server, browser, tiny_bert, expected):
    base, token, root = server
    write_notebook(root / "lab.ipynb", cells(tiny_bert))
    page = run_in(browser, base, token, "/lab/tree/lab.ipynb")
    check_the_results(page, base, expected, "jupyterlab")
    page.close()


def test_notebook_7_shows_both_results_and_each_works_alone(server, browser, tiny_bert, expected):
    base, token, root = server
    write_notebook(root / "classic.ipynb", cells(tiny_bert))
    page = run_in(browser, base, token, "/notebooks/classic.ipynb")
    check_the_results(page, base, expected, "notebook7")
    page.close()


def test_an_executed_notebook_has_html_results_a_png_head_and_no_stderr(tiny_bert, tmp_path):
    import nbformat
    from nbclient import NotebookClient
    write_notebook(tmp_path / "run.ipynb", cells(tiny_bert))
    nb = nbformat.read(tmp_path / "run.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = [c.outputs for c in nb.cells]
    assert [[o.output_type for o in out] for out in outputs] == [["execute_result"]] * 3  # no stream: no stderr
    for out in outputs[:2]:
        assert set(out[0].data) == {"text/html", "text/plain"}
        assert 'class="bg-notebook"' in out[0].data["text/html"] and "<script>" in out[0].data["text/html"]
    assert set(outputs[2][0].data) == {"image/png", "text/plain"}
    assert base64.b64decode(outputs[2][0].data["image/png"]).startswith(b"\x89PNG\r\n\x1a\n")
