"""Hostile input: one clear line per mistake, exit 2, and the previous site untouched.

Each file in bad_configs/ is a config a user might write; its '# expect:' line is (part of) the one line
the user must see, and '# args:' adds command-line options ({tiny}, {roberta}, ... are filled in here)."""
import contextlib
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import generate
from conftest import file_hashes, save_bert
from bertgallery import config, offline, site, views
from bertgallery.config import ConfigError
from bertgallery.manifest import VERSION

BAD = Path(__file__).resolve().parent / "bad_configs"


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


def variant(tiny_bert: Path, folder: Path, config=None, drop=(), files=None) -> Path:
    """A copy of the tiny model with its config.json changed, files dropped or written."""
    shutil.copytree(tiny_bert, folder, ignore=shutil.ignore_patterns(*drop))
    if config:
        cfg = json.loads((folder / "config.json").read_text())
        cfg.update(config)
        (folder / "config.json").write_text(json.dumps(cfg))
    for name, data in (files or {}).items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def broken_models(tiny_bert, tmp_path_factory):
    """Model folders a user might point at, each wrong in one way."""
    tmp = tmp_path_factory.mktemp("broken")
    weights = (tiny_bert / "model.safetensors").read_bytes()
    pickle = (tmp / "pickle.bin")
    import torch
    from safetensors.torch import load_file
    torch.save(load_file(tiny_bert / "model.safetensors"), pickle)
    index = json.dumps({"metadata": {}, "weight_map": {"bert.embeddings.word_embeddings.weight": "weights.bin"}})
    models = {
        "no_tokenizer": variant(tiny_bert, tmp / "no-tokenizer", drop=("tokenizer*", "vocab*", "special*")),
        "truncated": variant(tiny_bert, tmp / "truncated", files={"model.safetensors": weights[:len(weights) // 2]}),
        "renamed_pickle": variant(tiny_bert, tmp / "renamed", files={"model.safetensors": pickle.read_bytes()}),
        "layers_mismatch": variant(tiny_bert, tmp / "sixty", config={"num_hidden_layers": 60}),
        "huge_layers": variant(tiny_bert, tmp / "huge", config={"num_hidden_layers": 100000}),
        "shape_mismatch": variant(tiny_bert, tmp / "shape", config={"intermediate_size": 100}),
        "remote_code": variant(tiny_bert, tmp / "evil", config={"model_type": "evilbert",
                                                                "auto_map": {"AutoModel": "evil.EvilModel"}},
                               files={"evil.py": b"open('/tmp/pwned', 'w').write('ran')\n"}),
        "small_vocab": save_bert(tmp / "small-vocab", vocab_size=200, hidden_size=16, num_hidden_layers=1,
                                 num_attention_heads=2, intermediate_size=32),
        "pickle_index_list": variant(tiny_bert, tmp / "pickle-index", drop=("model.safetensors",),
                                     files={"pytorch_model.bin.index.json": b"[1]"}),
        "index_to_pickle": variant(tiny_bert, tmp / "index", drop=("model.safetensors",),
                                   files={"weights.bin": pickle.read_bytes(),
                                          "model.safetensors.index.json": index.encode()}),
        # as a cloned model repository could carry: hashing the folder used to read /proc's file forever
        "proc_link": variant(tiny_bert, tmp / "proc-link"),
        "fifo_file": variant(tiny_bert, tmp / "fifo-file"),
        "config_to_proc": variant(tiny_bert, tmp / "config-to-proc", drop=("config.json",)),
        # within 256 layers and 256 heads a layer, but 65,536 pictures a sentence
        "too_many_heads": variant(tiny_bert, tmp / "too-many-heads",
                                  config={"num_hidden_layers": 256, "num_attention_heads": 256}),
    }
    (tmp / "proc-link" / "vocab.txt").symlink_to("/proc/self/pagemap")
    os.mkfifo(tmp / "fifo-file" / "merges.txt")
    (tmp / "config-to-proc" / "config.json").symlink_to("/proc/self/environ")
    return models


@pytest.fixture(scope="module")
def old_site(tiny_bert, tmp_path_factory):
    """A good site, built before each bad run, which must come through unchanged."""
    folder = tmp_path_factory.mktemp("old")
    (folder / "good.yaml").write_text("sentences:\n  - id: ok\n    text: A [MASK] sat.\n")
    assert generate.main([str(folder / "good.yaml"), "--out", str(folder / "site"), "--model", str(tiny_bert),
                          "--quiet"]) == 0
    return folder / "site"


def foreign_folders(tmp_path: Path, old_site: Path) -> dict:
    """Folders that are not the tool's own, though they hold a manifest.json, and one whose manifest was
    tampered with."""
    web_app = tmp_path / "public"
    web_app.mkdir()
    (web_app / "manifest.json").write_text('{"name": "My App"}')
    (web_app / "index.html").write_text("hi")
    tampered_list = tmp_path / "tampered-list"
    shutil.copytree(old_site, tampered_list)
    (tampered_list / "manifest.json").write_text("[]")
    tampered_extra = tmp_path / "tampered-extra"
    shutil.copytree(old_site, tampered_extra)
    manifest = json.loads((tampered_extra / "manifest.json").read_text())
    manifest["models"] = {"identity": manifest["models"], "extra": 1}
    (tampered_extra / "manifest.json").write_text(json.dumps(manifest))
    # sites of another version of this tool, holding a person's files: the manifest says nothing this version
    # can check, so only what is named as the tool names its files may go
    v2_site = tmp_path / "v2-site"
    (v2_site / "cat").mkdir(parents=True)
    (v2_site / "manifest.json").write_text(json.dumps({
        "version": 2, "sentences": {"cat": "0" * 20}, "index": "1" * 20,
        "model": {"name": "bert-base-uncased", "layers": 12, "heads": 12, "note": ""}}))
    (v2_site / "cat" / "Attention_Layer1_Head1.png").write_bytes(b"png")
    (v2_site / "index.html").write_text("old index")
    (v2_site / "photos").mkdir()
    (v2_site / "photos" / "holiday.jpg").write_text("precious")
    for name in ("NOTES.md", "CNAME", "thesis.tex"):
        (v2_site / name).write_text("precious")
    # a damaged manifest of ours, beside a person's file: the message said to delete the folder, file and all
    damaged_site = tmp_path / "damaged-site"
    shutil.copytree(tampered_extra, damaged_site)
    (damaged_site / "NOTES.md").write_text("precious")
    later_site = tmp_path / "later-site"
    later_site.mkdir()
    (later_site / "manifest.json").write_text(json.dumps({"tool": "bert-attention-gallery", "version": VERSION + 1}))
    (later_site / "drafts").mkdir()  # an empty folder is someone's too
    # this version's manifest, edited to list a person's file as a page
    listed = tmp_path / "listed-site"
    shutil.copytree(old_site, listed)
    (listed / "thesis.tex").write_text("precious")
    manifest = json.loads((listed / "manifest.json").read_text())
    manifest["pages"]["thesis.tex"] = hashlib.sha256(b"precious").hexdigest()
    (listed / "manifest.json").write_text(json.dumps(manifest))
    return {"web_app": web_app, "tampered_list": tampered_list, "tampered_extra": tampered_extra,
            "v2_site": v2_site, "later_site": later_site, "listed_site": listed, "damaged_site": damaged_site}


@pytest.mark.parametrize("path", sorted(BAD.glob("*.yaml")), ids=lambda p: p.stem)
def test_bad_config(path, tmp_path, monkeypatch, capsys, tiny_bert, tiny_roberta, pickle_model, broken_models,
                    old_site):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    foreign = tmp_path / "my-photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_text("precious")
    fifo = tmp_path / "fifo"  # a named pipe nobody writes: reading it would wait forever
    os.mkfifo(fifo)
    values = {"tiny": tiny_bert, "roberta": tiny_roberta, "pickle_model": pickle_model,
              "encoder": offline.encoder_dir(), "a_file": a_file, "foreign": foreign, "fifo": fifo, **broken_models,
              **foreign_folders(tmp_path, old_site)}
    header = dict(re.findall(r"^# (\w+): (.*)$", path.read_text(errors="replace"), re.M))
    expect = header["expect"].format(**values)
    args = header.get("args", "").format(**values).split()
    if "--out" not in args:
        args += ["--out", str(old_site)]
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(path.parent)
    untouched = [old_site, foreign] + [values[k] for k in ("web_app", "tampered_list", "tampered_extra", "v2_site",
                                                           "later_site", "listed_site", "damaged_site")]
    before = [file_hashes(f) for f in untouched]
    with pytest.raises(SystemExit) if "--port" in args else contextlib.nullcontext() as exited:
        assert generate.main([header.get("config", path.name).format(**values), "--quiet", *args]) == 2
    if exited:
        assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: "), err  # one line, no traceback
    assert expect in err
    assert [file_hashes(f) for f in untouched] == before
    assert (values["later_site"] / "drafts").is_dir()
    assert a_file.read_text() == "not a folder"
    assert not os.path.exists("/tmp/pwned")  # the remote code never ran
    assert not list(old_site.parent.glob(".bertgallery-*-build-*"))  # no staging folder left behind


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
@pytest.mark.slow
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
@pytest.mark.slow
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


@pytest.mark.slow
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
    assert evil.count("<script") == evil.count("</script>") == 2  # the view's data and attention.js
    # the view's data file: user text cannot end a script or start a comment in any page that inlines it
    view = (out / "img-src-x-onerror-alert-1" / "view-data.js").read_text(encoding="utf-8")
    assert "<" not in view and view.startswith(views.VIEW_PREFIX)
    assert "<" in json.loads(view.removeprefix(views.VIEW_PREFIX).rstrip().removesuffix(");"))["tokens"]
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


@pytest.mark.slow  # three builds of 120 sentences, each a process of its own, interrupted
def test_interrupted_builds_leave_the_old_site_whole(tiny_bert, tmp_path):
    """kill -9, Ctrl-C and SIGTERM to the whole process group (as a terminal, or systemd, sends them), while a
    build is writing pictures: every file of the old site stays, Ctrl-C and SIGTERM print one line (SIGTERM
    used to end the build silently), and the next build cleans up."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from conftest import ROOT
    out = tmp_path / "site"
    cfg = _slow_config(tmp_path, tiny_bert, 2)
    assert generate.main([str(cfg), "--out", str(out), "--model", str(tiny_bert), "--quiet"]) == 0
    before = file_hashes(out)
    for sig in ("SIGKILL", "SIGINT", "SIGTERM"):
        # a longer rebuild (120 sentences), interrupted once it is writing pictures, its drawing processes running
        slow = _slow_config(tmp_path, tiny_bert, 120)
        proc = subprocess.Popen([sys.executable, str(ROOT / "generate.py"), str(slow), "--out", str(out),
                                 "--model", str(tiny_bert), "--quiet"], stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        deadline = time.time() + 120
        while not list(tmp_path.glob(f".bertgallery-*-build-{proc.pid}/*/Attention_Layer1_Head1.png")):
            assert proc.poll() is None and time.time() < deadline, "the build ended before it could be interrupted"
            time.sleep(0.05)
        os.killpg(proc.pid, getattr(signal, sig))
        rc = proc.wait(60)
        assert rc != 0, f"the build was done before {sig} reached it"
        assert file_hashes(out) == before, sig  # every file of the old site, byte for byte
        if sig == "SIGINT":
            assert rc == 130
            assert proc.stderr.read() == "interrupted: the previous site is unchanged\n"  # one line, from the build
            assert not list(tmp_path.glob(".bertgallery-*-*-*"))
        if sig == "SIGTERM":
            assert rc == 143
            assert proc.stderr.read() == "stopped by SIGTERM: the previous site is unchanged\n"
            assert not list(tmp_path.glob(".bertgallery-*"))  # no staging folder, no lock file
    # the next build cleans up whatever was left and succeeds
    assert generate.main([str(cfg), "--out", str(out), "--model", str(tiny_bert), "--quiet", "--force"]) == 0
    assert not list(tmp_path.glob(".bertgallery-*-*-*"))
    assert (out / "s1" / "index.html").exists()


EARLY_SIGNAL = """
import builtins, os, runpy, signal, sys
real, sig = builtins.__import__, getattr(signal, sys.argv[1])
def signalled(name, *args, **kwargs):
    if name == "bertgallery.cli":  # as generate.py starts importing the command line (a second or more)
        builtins.__import__ = real
        os.kill(os.getpid(), sig)
    return real(name, *args, **kwargs)
builtins.__import__ = signalled
sys.argv = ["generate.py", "--text", "A [MASK] sat."]
runpy.run_path("generate.py", run_name="__main__")
"""


@pytest.mark.parametrize("sig, rc, line", [("SIGTERM", 143, "stopped by SIGTERM: the previous site is unchanged"),
                                           ("SIGHUP", 129, "stopped by SIGHUP: the previous site is unchanged"),
                                           ("SIGINT", 130, "interrupted: the previous site is unchanged")])
@pytest.mark.slow
def test_a_signal_while_the_command_line_is_imported_is_one_line(sig, rc, line):
    """Before the command line set its handlers (its imports take a second or more) SIGTERM ended the process
    silently and Ctrl-C printed a traceback."""
    import subprocess
    import sys
    from conftest import ROOT
    r = subprocess.run([sys.executable, "-c", EARLY_SIGNAL, sig], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert (r.returncode, r.stderr) == (rc, line + "\n")


# ---------------------------------------------------------------- bounds before work
def test_huge_inputs_fail_at_once_with_one_line(tmp_path, capsys, tiny_bert, monkeypatch):
    """A 50 MB sentence file and a 30,000-character sentence are refused before any model is looked at (so
    before anything is tokenised), and the big file is never read whole: checking it takes a fraction of its
    size in memory."""
    import tracemalloc
    from bertgallery import model

    def refuse(*args, **kwargs):
        raise AssertionError("a model was looked at")
    monkeypatch.setattr(model, "resolve", refuse)
    monkeypatch.setattr(model, "load", refuse)
    big = tmp_path / "big.yaml"
    big.write_text("sentences:\n  - '" + "word " * 10_000_000 + "[MASK]'\n")
    long = tmp_path / "long.yaml"
    long.write_text("sentences:\n  - ok [MASK]\n  - '" + "a" * 30_000 + " [MASK]'\n")
    for path, message in ((big, "big.yaml: larger than 10 MB"),
                          (long, "long.yaml:3: sentence 2 is 30,007 characters long; at most 20,000")):
        tracemalloc.start()
        try:
            assert generate.main([str(path), "--out", str(tmp_path / "site"), "--model", str(tiny_bert)]) == 2
            assert tracemalloc.get_traced_memory()[1] < 25_000_000  # bytes, at the peak
        finally:
            tracemalloc.stop()
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err


BUILD_LIMITED = """
import resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))  # every process of the build: the workers inherit it
from bertgallery import cli
code = cli.main(sys.argv[2:])
peak = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)["VmPeak"]
print(code, int(peak.split()[0]) * 1024, file=sys.stderr)
"""


def build_limited(limit: int, *args, stdin: str = "") -> tuple[int, str, int]:
    """A build in a process whose address space is limited (resource.RLIMIT_AS): (exit status, what it
    printed on standard error, its peak address space). Reaching the limit shows as a MemoryError traceback
    or a dead drawing process, never as one line."""
    import subprocess
    import sys
    from conftest import ROOT
    r = subprocess.run([sys.executable, "-c", BUILD_LIMITED, str(limit), *map(str, args), "--quiet"], cwd=ROOT,
                       input=stdin, capture_output=True, text=True, timeout=1800)
    *printed, last = r.stderr.splitlines() or [""]
    code, peak = map(int, last.split()) if r.returncode == 0 and len(last.split()) == 2 else (r.returncode, 0)
    return code, "\n".join(printed), peak


@pytest.mark.slow
def test_a_manifest_of_millions_of_values_is_refused_before_it_is_parsed(tmp_path, tiny_bert):
    """100 MB of empty lists in a folder's manifest.json (within its 256 MB bound): json.loads built 33 million
    lists, a MemoryError traceback under a 2 GB address-space limit. Now it is not ours, in one line."""
    out = tmp_path / "site"
    out.mkdir()
    (out / "manifest.json").write_text('{"tool": "bert-attention-gallery", "version": 5, "x": [' + "[]," * 33_000_000
                                       + "[]]}")
    (out / "index.html").write_text("x")
    cfg = tmp_path / "s.yaml"
    cfg.write_text("sentences:\n  - A [MASK] sat.\n")
    code, err, peak = build_limited(2 * 2**30, cfg, "--out", out, "--model", tiny_bert)
    assert (code, err) == (2, f"error: output folder {out} already holds files this tool did not make; choose an "
                              "empty or new folder with --out")


@pytest.mark.slow
@pytest.mark.parametrize("case", ["100 masks in 502 tokens, BERT-base's shape", "1,536 heads"])
def test_the_largest_inputs_within_the_bounds_build_in_bounded_memory(case, tmp_path):
    """At the bounds: 100 masks (the most a sentence may hold) in a 502-token sentence of a 12 x 12-head model
    (510 masks ran out of memory under 14 GB: a 615-million-pixel rollout), and a model of 1,536 heads (6 x
    256; 256 x 256 used to be allowed, and its overview alone ran out of memory under 8 GB). Thin random
    models (small hidden sizes): the pictures, pages and attention have the real shapes. Each build ends
    with its one summary line, well inside a 6 GB address-space limit."""
    limit = 6 * 2**30
    if case.startswith("100"):
        model = save_bert(tmp_path / "model", hidden_size=48, num_hidden_layers=12, num_attention_heads=12,
                          intermediate_size=96)
        text, images = " ".join(["[MASK] word word word word"] * 100) + ".", 144 + 3  # the heads, the overview (wide and narrow), the rollout
    else:
        model = save_bert(tmp_path / "model", hidden_size=256, num_hidden_layers=6, num_attention_heads=256,
                          intermediate_size=64)
        text, images = "The cat sat on the [MASK].", 1536 + 3
    code, printed, peak = build_limited(limit, "--text", "-", "--model", model, "--out", tmp_path / "site",
                                        "--print", "json", stdin=text + "\n")
    assert code == 0 and printed.startswith(f"built 1 of 1 sentences, {images} images") \
        and printed.count("\n") == 0, printed[-3000:]
    assert peak < 0.75 * limit, peak
    from PIL import Image
    for png in (tmp_path / "site").glob("*/*.png"):
        width, height = Image.open(png).size
        assert width * height <= 20_000_000, png
