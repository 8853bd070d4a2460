"""Incremental builds: the manifest decides what is redone. Random-weight model; mechanics only."""
import json
import subprocess
import sys

import pytest

from bertgallery import build, config
from conftest import ROOT

THREE = """model: {model}
sentences:
  - {{id: a, text: "The cat sat on the [MASK]."}}
  - {{id: b, text: "A [MASK] ran in the park."}}
  - {{id: c, text: "I like green [MASK]."}}
"""


def inodes(folder):
    return {p.name: p.stat().st_ino for p in folder.iterdir()}


def make(tmp_path, model, text=None):
    cfg = tmp_path / "s.yaml"
    cfg.write_text(text or THREE.format(model=model))
    return cfg


def run(cfg, out, **kw):
    return build.build(config.load(cfg), out, fallback=False, progress=False, **kw)


@pytest.fixture
def built(tiny_bert, tmp_path):
    cfg = make(tmp_path, tiny_bert)
    out = tmp_path / "site"
    assert run(cfg, out).rebuilt == 3
    return cfg, out


def test_nothing_changed_redoes_nothing(built):
    cfg, out = built
    before = {s: inodes(out / s) for s in "abc"}
    index = (out / "index.html").stat().st_mtime_ns
    summary = run(cfg, out)
    assert (summary.rebuilt, summary.images) == (0, 0)
    assert {s: inodes(out / s) for s in "abc"} == before
    assert (out / "index.html").stat().st_mtime_ns == index


def test_no_op_rebuild_never_imports_torch(built):
    cfg, out = built
    code = ("import sys, generate; rc = generate.main([sys.argv[1], '--out', sys.argv[2], '--quiet']); "
            "print(rc, 'torch' in sys.modules, 'transformers' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, str(cfg), str(out)], cwd=ROOT, capture_output=True, text=True)
    assert r.stdout.strip().splitlines()[-1] == "0 False False", r.stderr


def test_changed_sentence_is_the_only_one_redone(built, tiny_bert):
    cfg, out = built
    before = {s: inodes(out / s) for s in "abc"}
    cfg.write_text(THREE.format(model=tiny_bert).replace("I like green [MASK].", "I like red [MASK]."))
    summary = run(cfg, out)
    assert summary.rebuilt == 1
    assert inodes(out / "a") == before["a"] and inodes(out / "b") == before["b"]  # same files, hard-linked
    assert inodes(out / "c")["Attention_Layer1_Head1.png"] != before["c"]["Attention_Layer1_Head1.png"]
    assert json.loads((out / "c" / "data.json").read_text())["text"] == "I like red [MASK]."
    assert "I like red" in (out / "index.html").read_text()


def test_removed_sentence_folder_goes(built, tiny_bert):
    cfg, out = built
    cfg.write_text(THREE.format(model=tiny_bert).replace('  - {id: c, text: "I like green [MASK]."}\n', ""))
    summary = run(cfg, out)
    assert not (out / "c").exists()
    assert summary.sentences == 2
    # b lost its "next" link, so its page is rebuilt; a is untouched
    assert summary.rebuilt == 1
    assert "c/index.html" not in (out / "b" / "index.html").read_text()


def test_top_k_and_model_changes_redo_everything(built, tiny_bert):
    cfg, out = built
    cfg.write_text(THREE.format(model=tiny_bert).replace("sentences:", "top_k: 3\nsentences:"))
    assert run(cfg, out).rebuilt == 3


def test_force_redoes_everything(built):
    cfg, out = built
    before = inodes(out / "a")
    assert run(cfg, out, force=True).rebuilt == 3
    assert inodes(out / "a")["Attention_Layer1_Head1.png"] != before["Attention_Layer1_Head1.png"]


def test_deleted_output_folder_is_rebuilt(built):
    import shutil
    cfg, out = built
    shutil.rmtree(out / "b")
    assert run(cfg, out).rebuilt == 1
    assert (out / "b" / "index.html").exists()
