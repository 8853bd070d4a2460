"""Hostile input: one clear line per mistake, exit 2, and the previous site untouched.

Each file in bad_configs/ is a config a user might write; its '# expect:' line is (part of) the one line
the user must see, and '# args:' adds command-line options ({tiny}, {roberta}, ... are filled in here)."""
import hashlib
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import generate
from bertgallery import config, offline
from bertgallery.config import ConfigError

BAD = Path(__file__).resolve().parent / "bad_configs"


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def pickle_model(tiny_bert, tmp_path_factory):
    """The tiny model with its weights as a pickle (pytorch_model.bin) instead of safetensors."""
    import shutil
    import torch
    from safetensors.torch import load_file
    folder = tmp_path_factory.mktemp("pickle-model")
    for f in tiny_bert.iterdir():
        if f.name != "model.safetensors":
            shutil.copy(f, folder / f.name)
    torch.save(load_file(tiny_bert / "model.safetensors"), folder / "pytorch_model.bin")
    return folder


@pytest.fixture(scope="module")
def old_site(tiny_bert, tmp_path_factory):
    """A good site, built before each bad run, which must come through unchanged."""
    folder = tmp_path_factory.mktemp("old")
    (folder / "good.yaml").write_text("sentences:\n  - id: ok\n    text: A [MASK] sat.\n")
    assert generate.main([str(folder / "good.yaml"), "--out", str(folder / "site"), "--model", str(tiny_bert),
                          "--quiet"]) == 0
    return folder / "site"


@pytest.mark.parametrize("path", sorted(BAD.glob("*.yaml")), ids=lambda p: p.stem)
def test_bad_config(path, tmp_path, monkeypatch, capsys, tiny_bert, tiny_roberta, pickle_model, old_site):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    foreign = tmp_path / "my-photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_text("precious")
    values = {"tiny": tiny_bert, "roberta": tiny_roberta, "pickle_model": pickle_model,
              "encoder": offline.encoder_dir(), "a_file": a_file, "foreign": foreign}
    header = dict(re.findall(r"^# (\w+): (.*)$", path.read_text(), re.M))
    expect = header["expect"].format(**values)
    args = header.get("args", "").format(**values).split()
    if "--out" not in args:
        args += ["--out", str(old_site)]
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(path.parent)
    before = snapshot(old_site), snapshot(foreign)
    assert generate.main([path.name, "--quiet", *args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: "), err  # one line, no traceback
    assert expect in err
    assert (snapshot(old_site), snapshot(foreign)) == before
    assert a_file.read_text() == "not a folder"
    assert not list(old_site.parent.glob(".site.*"))  # no staging folder left behind


def test_debug_shows_the_traceback(capsys):
    with pytest.raises(ConfigError):
        generate.main([str(BAD / "no-mask.yaml"), "--debug"])


# ---------------------------------------------------------------- random documents never crash the loader
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30),
                    st.sampled_from(["[MASK]", "a [MASK] b", "", "../..", "<script>", "text", "id"]))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.sampled_from(["model", "top_k", "colormap", "sentences", "text", "id", "title", "note",
                                     "x"]), inner, max_size=4)), max_leaves=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents)
def test_random_documents_load_or_fail_with_one_line(tmp_path, doc):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    try:
        cfg = config.load(path)
    except ConfigError as e:
        assert "\n" not in str(e) and str(e)
    else:
        assert cfg.sentences and all("[MASK]" in s.text for s in cfg.sentences)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_random_text_loads_or_fails_with_one_line(tmp_path, text):
    path = tmp_path / "r.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        config.load(path)
    except ConfigError as e:
        assert "\n" not in str(e) and str(e)


# ---------------------------------------------------------------- odd but valid input
ODD = r"""
sentences:
  - text: "<script>alert('text')</script> The [MASK] is <b>bold</b> & \"quoted\"."
    id: "<img src=x onerror=alert(1)>"
    title: "</title><script>alert('title')</script>"
    note: "<!-- note --> ' \" & </script>"
  - "Café ☕ — naïve 日本語 [MASK] 🐈‍⬛!"
  - The cat sat on the [MASK].
  - The cat sat on the [MASK].
  - {text: "a [MASK]", id: "../../outside"}
  - {text: "b [MASK]", id: "/etc/passwd"}
  - "[MASK]"
  - "[MASK] [MASK] [MASK] [MASK] [MASK] [MASK] [MASK] [MASK]"
"""


def test_odd_but_valid_input_builds_safely(tiny_bert, tmp_path, capfd):
    import json
    (tmp_path / "odd.yaml").write_text(ODD, encoding="utf-8")
    out = tmp_path / "deep" / "site"
    out.parent.mkdir()
    assert generate.main([str(tmp_path / "odd.yaml"), "--out", str(out), "--model", str(tiny_bert), "--quiet"]) == 0
    assert capfd.readouterr().err == ""  # no warnings about fonts lacking CJK glyphs, from any process
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert folders == ["cafe-naive-mask", "etc-passwd", "heads", "img-src-x-onerror-alert-1",
                       "mask", "mask-mask-mask-mask-mask-mask-mask-mask", "outside", "static",
                       "the-cat-sat-on-the-mask", "the-cat-sat-on-the-mask-2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "odd.yaml"]  # nothing written outside
    for page in out.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>bold" not in html
    evil = (out / "img-src-x-onerror-alert-1" / "index.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#39;text&#39;)&lt;/script&gt;" in evil
    assert "&lt;/title&gt;&lt;script&gt;" in evil
    # the inline JSON of the interactive view: user text cannot close its <script> element
    assert evil.count("<script") == evil.count("</script>") == 2
    block = evil.split('<script type="application/json" id="attention-data">')[1].split("</script>")[0]
    assert "<" not in block and "</" in "".join(json.loads(block)["tokens"] + ["</"])
    assert "<" in json.loads(block)["tokens"]
    emoji = json.loads((out / "cafe-naive-mask" / "data.json").read_text(encoding="utf-8"))
    assert emoji["text"] == "Café ☕ — naïve 日本語 [MASK] 🐈‍⬛!"
    many = json.loads((out / "mask-mask-mask-mask-mask-mask-mask-mask" / "data.json").read_text())
    assert len(many["masks"]) == 8
    only = json.loads((out / "mask" / "data.json").read_text())
    assert only["tokens"] == ["[CLS]", "[MASK]", "[SEP]"] and "[MASK]" not in only["filled"]


# ---------------------------------------------------------------- interrupted builds
def _slow_config(tmp_path, model, n):
    path = tmp_path / "slow.yaml"
    path.write_text("sentences:\n" + "".join(
        f"  - {{id: s{i}, text: 'Sentence number {i} has a [MASK] in the middle of it.'}}\n" for i in range(n)))
    return path


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGINT"])
def test_interrupted_build_leaves_the_old_site_whole(base_shaped_bert, tiny_bert, tmp_path, sig):
    import os
    import signal
    import subprocess
    import sys
    import time
    from conftest import ROOT
    out = tmp_path / "site"
    cfg = _slow_config(tmp_path, tiny_bert, 2)
    assert generate.main([str(cfg), "--out", str(out), "--model", str(tiny_bert), "--quiet"]) == 0
    before = snapshot(out)
    # a slow rebuild (BERT-base shape: 144 heads a sentence), interrupted once it is writing pictures
    cfg = _slow_config(tmp_path, base_shaped_bert, 6)
    proc = subprocess.Popen([sys.executable, str(ROOT / "generate.py"), str(cfg), "--out", str(out),
                             "--model", str(base_shaped_bert), "--quiet"], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(tmp_path.glob(".site.building-*/s0/Attention_Layer1_Head1.png")):
        assert proc.poll() is None and time.time() < deadline, "the build ended before it could be interrupted"
        time.sleep(0.05)
    os.kill(proc.pid, getattr(signal, sig))
    rc = proc.wait(60)
    assert snapshot(out) == before  # every file of the old site, byte for byte
    if sig == "SIGINT":
        assert rc == 130
        assert proc.stderr.read().strip() == "interrupted: the previous site is unchanged"
        assert not list(tmp_path.glob(".site.*"))
    # the next build cleans up whatever was left and succeeds
    assert generate.main([str(_slow_config(tmp_path, tiny_bert, 2)), "--out", str(out), "--model", str(tiny_bert),
                          "--quiet", "--force"]) == 0
    assert not list(tmp_path.glob(".site.*"))
    assert (out / "s1" / "index.html").exists()
