"""The command line, run as a user runs it: in a temp folder, as a process of its own where the process is
what is tested (its imports, a signal, an installed command), else by its main() in this process."""
import json
import os
import re

import pytest

from conftest import run_cli, run_generate, write_yaml


def test_help_explains_each_option():
    r = run_generate("--help")
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
    assert r.out.startswith("built 1 of 1 sentences, 8 images")  # 6 heads, the overview, the rollout
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


def test_serve_previews_the_site_over_http(tiny_bert, tmp_path):
    """The command, serving until Ctrl-C; the site is built here first, so its build is a no-op."""
    import re
    import signal
    import subprocess
    import sys
    import urllib.request
    from conftest import ROOT
    write_yaml(tmp_path / "s.yaml", "sentences:\n  - {id: cat, text: 'The cat sat on the [MASK].'}\n")
    assert run_cli("s.yaml", "--model", tiny_bert, "--quiet", cwd=tmp_path).returncode == 0
    proc = subprocess.Popen([sys.executable, str(ROOT / "generate.py"), "s.yaml", "--model", str(tiny_bert),
                             "--quiet", "--serve", "--port", "0"], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("1 sentences up to date")  # the build summary
        url = re.search(r"http://127\.0\.0\.1:\d+/", proc.stdout.readline())[0]
        with urllib.request.urlopen(url + "cat/index.html", timeout=10) as r:
            assert r.status == 200 and b"The cat sat on the" in r.read()
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0


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
