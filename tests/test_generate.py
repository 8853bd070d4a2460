"""The command line, run as a user runs it: in a temp folder, as a process of its own where the process is
what is tested (its imports, a signal, an installed command), else by its main() in this process."""
import json
import os
import re
import sys

import pytest

from conftest import run_cli, run_generate, write_yaml


def test_help_explains_each_option():
    r = run_cli("--help")  # argparse's SystemExit(0) is the exit status; no process needed for the text
    assert r.returncode == 0
    for option in ("CONFIG", "--out", "--model", "--top-k", "--no-fallback", "--force"):
        assert option in r.stdout


def test_build_prints_a_short_summary(tiny_bert, tmp_path, monkeypatch, capfd):
    """In this process (the subprocess tests below cover the command itself); capfd sees the drawing
    processes' output too."""
    import generate
    cfg = write_yaml(tmp_path / "sentences.yaml", "sentences:\n  - The cat sat on the [MASK].\n")
    monkeypatch.chdir(tmp_path)
    assert generate.main(["--model", str(tiny_bert), "--top-k", "3", "--quiet"]) == 0
    r = capfd.readouterr()
    assert r.out.startswith("built 1 of 1 sentences, 9 images")  # 6 heads, the overview (wide, narrow), the rollout
    assert str(tmp_path / "site" / "index.html") in r.out
    assert r.err == ""  # no library chatter
    data = json.loads((tmp_path / "site" / "the-cat-sat-on-the-mask" / "data.json").read_text())
    assert len(data["masks"][0]["predictions"]) == 3  # --top-k overrides the file's default of 5
    assert data["model"] == {"name": str(tiny_bert), "about": ""}  # --model overrides the file's bert-base-uncased
    assert cfg.exists()
    size = sum(p.stat().st_size for p in (tmp_path / "site").rglob("*") if p.is_file())
    said = float(re.search(r"\(([\d.]+) MB\)", r.out).group(1))
    assert abs(said - size / 1e6) < 0.05  # the site's size, for people who publish it


def test_a_site_over_the_pages_limit_gets_a_warning(tiny_bert, tmp_path, monkeypatch, capsys):
    import generate
    from bertgallery import cli
    write_yaml(tmp_path / "s.yaml", "sentences:\n  - The cat sat on the [MASK].\n")
    monkeypatch.setattr(cli, "PAGES_LIMIT", 10_000)  # bytes; a real 1 GB site takes too long to build
    assert generate.main([str(tmp_path / "s.yaml"), "--model", str(tiny_bert), "--out", str(tmp_path / "site"),
                          "--quiet"]) == 0
    err = capsys.readouterr().err
    assert re.fullmatch(r"warning: the site is 0\.\d\d GB; GitHub Pages publishes sites up to 1 GB .*\n", err)


def test_user_mistake_is_one_line_exit_2_no_traceback(tmp_path):
    write_yaml(tmp_path / "s.yaml", "sentences:\n  - no mask here\n")
    r = run_generate("s.yaml", "--out", "out", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip() == "error: s.yaml:2: sentence 1 has no [MASK]: 'no mask here'"
    assert r.stdout == ""
    assert not (tmp_path / "out").exists()


@pytest.mark.xdist_group("base-site")  # one worker builds the 144-head site
def test_bert_base_shape_gives_144_heads(base_site):
    """BertConfig() defaults, random weights: the 12 x 12 = 144 files the gallery promises, each linked."""
    folder = base_site / "cat"
    names = {p.name for p in folder.glob("Attention_*.png")}
    assert names == {f"Attention_Layer{l}_Head{h}.png" for l in range(1, 13) for h in range(1, 13)}
    page = (folder / "index.html").read_text()
    assert all(f'<a href="{name}"' in page for name in names)
    assert "Layer 12, head 12" in page


@pytest.mark.slow
def test_serve_previews_the_site_over_http(tiny_bert, tmp_path):
    """The command, serving until Ctrl-C; the site is built here first, so its build is a no-op. With --text
    (which prints the predictions) the summary and the serving line go to standard error: standard output
    holds the predictions only."""
    import re
    import signal
    import subprocess
    import sys
    import urllib.request
    from conftest import ROOT
    text = "The cat sat on the [MASK]."
    assert run_cli("--text", text, "--model", tiny_bert, "--quiet", cwd=tmp_path).returncode == 0
    proc = subprocess.Popen([sys.executable, str(ROOT / "generate.py"), "--text", text, "--model", str(tiny_bert),
                             "--quiet", "--serve", "--port", "0"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr.readline().startswith("1 sentences up to date")  # the build summary
        url = re.search(r"http://127\.0\.0\.1:\d+/", proc.stderr.readline())[0]
        with urllib.request.urlopen(url + "the-cat-sat-on-the-mask/index.html", timeout=60) as r:
            assert r.status == 200 and b"The cat sat on the" in r.read()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)  # safety nets only: a loaded machine is slow
    assert proc.returncode == 0 and err == ""
    assert out.splitlines() == expected_lines(tiny_bert, text, 5)


# ---------------------------------------------------------------- from the terminal
def expected_lines(tiny_bert, text, top_k):
    """The documented format, from the model's own softmax: the sentence, then per prediction its
    probability and the filled-in sentence."""
    import torch
    from bertgallery import model
    from bertgallery.site import percent
    loaded = model.load(str(tiny_bert), fallback=False)
    tok = loaded.tokenizer
    enc = tok(text.replace("[MASK]", tok.mask_token), return_tensors="pt")
    at = (enc["input_ids"][0] == tok.mask_token_id).nonzero()[0, 0].item()
    probs = torch.softmax(loaded.net(**enc).logits[0, at], -1)
    values, indices = probs.topk(top_k)
    lines = [text]
    for p, i in zip(values.tolist(), indices.tolist()):
        word = tok.decode([i]).strip()
        lines.append(f"  {percent(p):>6}  {model.fill(text, [word]).text}")
    return lines


def test_text_prints_the_filled_in_sentences_and_builds_the_site(tiny_bert, tmp_path):
    text = "The cat sat on the [MASK] and looked around."
    r = run_cli("--text", text, "--model", tiny_bert, "--top-k", 3, "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == expected_lines(tiny_bert, text, 3)  # nothing else on standard output
    assert r.stderr.startswith("built 1 of 1 sentences")  # the summary goes to standard error
    assert (tmp_path / "site" / "the-cat-sat-on-the-mask-and-looked-around" / "Attention_Layer2_Head3.png").exists()


def test_text_from_standard_input_and_json_lines(tiny_bert, tmp_path, monkeypatch, capsys):
    import sys
    stdin = "# a comment\nThe cat sat on the [MASK].\n\nI [MASK] to the [MASK] every day.\n"
    r = run_cli("--text", "-", "--model", tiny_bert, "--print", "json", "--quiet", stdin=stdin, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    objects = [json.loads(line) for line in r.stdout.splitlines()]
    assert [o["text"] for o in objects] == ["The cat sat on the [MASK].", "I [MASK] to the [MASK] every day."]
    for o in objects:  # data.json without the heads
        data = json.loads(next((tmp_path / "site").glob("*/data.json")).read_text())
        assert "heads" not in o and set(o) == set(data) - {"heads", "syntax"}
    assert [len(o["masks"]) for o in objects] == [1, 2]
    import generate
    import io
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8"))
    assert generate.main(["--text", "-", "--model", str(tiny_bert), "--print", "--quiet", "--out",
                          str(tmp_path / "site")]) == 0
    blocks = capsys.readouterr().out.split("\n\n")
    assert blocks[1].splitlines()[:2] == ["I [MASK] to the [MASK] every day.", "  mask 1 of 2:"]
    assert "  mask 2 of 2:" in blocks[1].splitlines() and "[MASK] every day." in blocks[1].splitlines()[2]


def test_text_mistakes_are_one_line(tmp_path):
    r = run_cli("--text", "no mask here", cwd=tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (2, "", "error: --text has no [MASK]: 'no mask here'\n")
    r = run_cli("s.yaml", "--text", "a [MASK]", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr == "error: give either CONFIG (s.yaml) or --text, not both\n"


# ---------------------------------------------------------------- packaging
@pytest.mark.slow  # a wheel built and installed by pip, and its command run: a process of its own
def test_pip_install_gives_the_bert_gallery_command(tiny_bert, tmp_path):
    """The wheel holds the templates and the offline model inside the package; its bert-gallery command,
    run away from the repository, builds a site from them."""
    import subprocess
    import sys
    from conftest import ROOT
    wheel = tmp_path / "wheel"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                        str(wheel), str(ROOT)], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    target = tmp_path / "installed"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                        *map(str, wheel.glob("*.whl"))], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (target / "bertgallery" / "templates" / "base.html").exists()
    assert (target / "bertgallery" / "models" / "offline-minilm-mlm.safetensors").exists()
    env = dict(os.environ, PYTHONPATH=str(target), HF_HUB_OFFLINE="1")
    (tmp_path / "work").mkdir()
    r = subprocess.run([sys.executable, str(target / "bin" / "bert-gallery"), "--text", "A [MASK] sat.", "--model",
                        str(tiny_bert), "--quiet"], cwd=tmp_path / "work", env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("A [MASK] sat.\n") and (tmp_path / "work" / "site" / "static" / "explorer.css").exists()
    from bertgallery import __version__
    assert f"bert_attention_gallery-{__version__}-" in next(wheel.glob("*.whl")).name


# ---------------------------------------------------------------- standard input, argv, exit status (issue 23)
class Endless:
    """Standard input that never ends (yes "..." | generate.py --text -), counting what is read of it."""

    def __init__(self, line: bytes):
        self.line, self.reads = line, 0
        self.buffer = self

    def readline(self, size=-1):
        self.reads += 1
        return self.line[:size] if size >= 0 else self.line


def no_model_work(*args, **kwargs):
    raise AssertionError("the build started: the mistake should have been found before any model work")


@pytest.mark.parametrize("line, message, most_reads", [
    (b"The cat sat on the [MASK].\n", "error: --text -: standard input holds more than 2,000 sentences; a gallery "
                                      "holds at most 2,000\n", 2_001),
    (b"x" * 100_000, "error: --text -: standard input is larger than 10 MB; sentences to predict are short "
                     "text\n", 200),
])
def test_standard_input_is_read_with_the_sentence_files_bounds(monkeypatch, capsys, line, message, most_reads):
    """It used to be read whole: yes ... | generate.py --text - ended in a MemoryError traceback."""
    import generate
    from bertgallery import build
    stdin = Endless(line)
    monkeypatch.setattr(sys, "stdin", stdin)
    monkeypatch.setattr(build, "build", no_model_work)
    assert generate.main(["--text", "-", "--quiet"]) == 2
    assert capsys.readouterr() == ("", message) and stdin.reads <= most_reads


@pytest.mark.parametrize("args, stdin, message", [
    (["--text", "Caf\udce9 [MASK] here."], "", "error: --text is not text: it holds '\\udce9' at character 4, a lone "
                                             "surrogate"),
    (["--text", "-"], b"Fine [MASK].\nCaf\xe9 [MASK] here.\n", "error: --text -: standard input is not UTF-8 text "
                                                              "(line 2: byte 0xe9)"),
    (["--text", "-"], b"A [MASK]\0.\n", "error: --text -: standard input is not text (a NUL byte on line 1)"),
    (["s\udce9.yaml"], "", "error: CONFIG is not text: it holds '\\udce9' at character 2"),
    (["--text", "A [MASK].", "--out", "site-\udce9"], "", "error: --out is not text: it holds '\\udce9' at "
                                                           "character 6"),
    (["--text", "A [MASK].", "--model", "./m\udce9"], "", "error: --model is not text: it holds '\\udce9'"),
])
def test_bytes_that_are_not_utf8_are_one_line_before_any_model_work(args, stdin, message, monkeypatch, capsys):
    """Python keeps undecodable command-line bytes as lone surrogates; they used to reach the tokenizer
    (TypeError) or a page (UnicodeEncodeError) after the model had run."""
    import io
    import generate
    from bertgallery import build
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin or b"")))
    monkeypatch.setattr(build, "build", no_model_work)
    assert generate.main([*args, "--quiet"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith(message), err


def test_a_port_in_use_is_the_machines_doing(tiny_bert, tmp_path, capsys):
    import socket
    import generate
    write_yaml(tmp_path / "s.yaml", "sentences:\n  - The cat sat on the [MASK].\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert generate.main([str(tmp_path / "s.yaml"), "--out", str(tmp_path / "site"), "--model", str(tiny_bert),
                              "--quiet", "--serve", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err == f"error: cannot serve on port {port}: Address already in use; try another with --port\n"


def test_a_reader_that_stops_early_ends_the_command_quietly(tiny_bert, tmp_path, monkeypatch, capsys):
    """generate.py --text - | head -1: the pipe breaks while predictions are printed; exit 141 (as a process
    SIGPIPE ended), with no BrokenPipeError traceback. The site is built."""
    import generate

    class Closed:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass
    monkeypatch.setattr(sys, "stdout", Closed())
    assert generate.main(["--text", "A [MASK] sat.", "--model", str(tiny_bert), "--out", str(tmp_path / "site"),
                          "--quiet"]) == 141
    assert capsys.readouterr().err == "" and (tmp_path / "site" / "index.html").exists()


@pytest.mark.slow
def test_standard_output_on_a_full_disk_is_one_line(tiny_bert, tmp_path):
    """--text ... > pred.txt on a full disk (here /dev/full): the predictions' print raised an OSError traceback
    after the build, outside the command line's error handling."""
    import subprocess
    import sys
    from conftest import ROOT
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, str(ROOT / "generate.py"), "--text", "A [MASK] sat.", "--model",
                            str(tiny_bert), "--out", str(tmp_path / "site"), "--quiet"], cwd=tmp_path, stdout=full,
                           stderr=subprocess.PIPE, text=True, timeout=600)
    assert (r.returncode, r.stderr) == (1, "error: could not write to standard output: No space left on device; "
                                           "the site itself is built\n")
    assert (tmp_path / "site" / "index.html").exists()
