"""Incremental builds: a sentence's results are reused when their key and files match; every page is
rewritten from them. Random-weight models; mechanics only."""
import json
import shutil
import subprocess
import sys

import pytest

from bertgallery import build, config, model, site
from conftest import ROOT, save_bert

THREE = """model: {model}
sentences:
  - {{id: a, text: "The cat sat on the [MASK]."}}
  - {{id: b, text: "A [MASK] ran in the park."}}
  - {{id: c, text: "I like green [MASK]."}}
"""


def inodes(folder):
    return {p.name: p.stat().st_ino for p in folder.iterdir()}


def run(cfg, out, **kw):
    return build.build(config.load(cfg), out, build.Options(fallback=False, progress=False, **kw))


def tree(folder):
    """Every file's bytes (the manifest without its machine-specific 'hashes' cache)."""
    files = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            if p.name == "manifest.json":
                manifest = json.loads(data)
                manifest.pop("hashes")
                data = manifest
            files[str(p.relative_to(folder))] = data
    return files


def same_as_forced(cfg, out, tmp_path):
    forced = tmp_path / "forced"
    run(cfg, forced, force=True)
    return tree(out) == tree(forced)


@pytest.fixture
def built(tiny_bert, tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text(THREE.format(model=tiny_bert))
    out = tmp_path / "site"
    assert run(cfg, out).rebuilt == 3
    return cfg, out


@pytest.fixture
def no_model(monkeypatch):
    """Any attempt to load a model fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded")
    monkeypatch.setattr(model, "load", refuse)


def test_nothing_changed_writes_nothing(built, no_model):
    cfg, out = built
    before = {s: inodes(out / s) for s in "abc"}
    index = (out / "index.html").stat().st_mtime_ns
    summary = run(cfg, out)
    assert (summary.rebuilt, summary.images, summary.bytes) == (0, 0, None)
    assert {s: inodes(out / s) for s in "abc"} == before
    assert (out / "index.html").stat().st_mtime_ns == index


def test_no_op_rebuild_never_imports_torch(built):
    cfg, out = built
    code = ("import sys, generate; rc = generate.main([sys.argv[1], '--out', sys.argv[2], '--quiet']); "
            "print(rc, 'torch' in sys.modules, 'transformers' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, str(cfg), str(out)], cwd=ROOT, capture_output=True, text=True)
    assert r.stdout.strip().splitlines()[-1] == "0 False False", r.stderr


def test_page_edits_rerender_no_png_and_load_no_model(built, tiny_bert, tmp_path, monkeypatch, no_model):
    """A changed style sheet, title, note and order: every page is rewritten, every PNG is the old file
    (hard-linked), and the site equals a --force build."""
    cfg, out = built
    before = {s: inodes(out / s) for s in "abc"}
    templates = tmp_path / "templates"
    shutil.copytree(site.TEMPLATES, templates)
    (templates / "style.css").write_text((templates / "style.css").read_text() + "/* a comment */\n")
    monkeypatch.setattr(site, "TEMPLATES", templates)
    site._env.cache_clear()
    cfg.write_text(THREE.format(model=tiny_bert).replace(
        '  - {id: a, text: "The cat sat on the [MASK]."}\n', "").replace(
        '"A [MASK] ran in the park."}', '"A [MASK] ran in the park.", title: Dogs, note: A note}')
        + '  - {id: a, text: "The cat sat on the [MASK]."}\n')
    summary = run(cfg, out)
    assert summary.rebuilt == 0 and summary.bytes
    assert "/* a comment */" in (out / "static" / "style.css").read_text()
    assert "A note" in (out / "b" / "index.html").read_text()
    for s in "abc":
        pngs = {n: i for n, i in inodes(out / s).items() if n.endswith(".png")}
        assert pngs == {n: i for n, i in before[s].items() if n.endswith(".png")}
    monkeypatch.undo()  # the forced build below needs the model
    site._env.cache_clear()
    monkeypatch.setattr(site, "TEMPLATES", templates)
    assert same_as_forced(cfg, out, tmp_path)
    site._env.cache_clear()


def test_inserting_a_sentence_at_the_top_redoes_only_that_one(built, tiny_bert, tmp_path):
    cfg, out = built
    before = {s: inodes(out / s) for s in "abc"}
    cfg.write_text(THREE.format(model=tiny_bert).replace("sentences:\n", "sentences:\n  - A new [MASK] first.\n"))
    summary = run(cfg, out)
    assert summary.rebuilt == 1
    for s in "abc":
        assert {n: i for n, i in inodes(out / s).items() if n != "index.html"} == \
            {n: i for n, i in before[s].items() if n != "index.html"}
    assert same_as_forced(cfg, out, tmp_path)


def test_changed_sentence_is_the_only_one_redone(built, tiny_bert):
    cfg, out = built
    before = {s: inodes(out / s) for s in "abc"}
    cfg.write_text(THREE.format(model=tiny_bert).replace("I like green [MASK].", "I like red [MASK]."))
    summary = run(cfg, out)
    assert summary.rebuilt == 1
    assert inodes(out / "a")["Attention_Layer1_Head1.png"] == before["a"]["Attention_Layer1_Head1.png"]
    assert inodes(out / "c")["Attention_Layer1_Head1.png"] != before["c"]["Attention_Layer1_Head1.png"]
    assert json.loads((out / "c" / "data.json").read_text())["text"] == "I like red [MASK]."
    assert "I like red" in (out / "index.html").read_text()


def test_removed_sentence_folder_goes(built, tiny_bert):
    cfg, out = built
    cfg.write_text(THREE.format(model=tiny_bert).replace('  - {id: c, text: "I like green [MASK]."}\n', ""))
    summary = run(cfg, out)
    assert not (out / "c").exists()
    assert (summary.sentences, summary.rebuilt) == (2, 0)
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


@pytest.mark.parametrize("damage", ["folder", "png", "page", "data", "empty-data", "planted-link"])
def test_a_damaged_sentence_folder_is_rebuilt_and_equals_a_forced_build(built, tmp_path, damage):
    cfg, out = built
    b = out / "b"
    if damage == "folder":
        shutil.rmtree(b)
    elif damage == "png":
        (b / "Attention_Layer2_Head3.png").unlink()
    elif damage == "page":
        (b / "index.html").write_text("hand-edited")
    elif damage == "data":
        (b / "data.json").unlink()
    elif damage == "empty-data":
        (b / "data.json").write_text("{}")
    else:
        (b / "secret").symlink_to("/etc/hostname")
    summary = run(cfg, out)
    assert summary.rebuilt == (0 if damage in ("page", "planted-link") else 1)
    assert not (out / "b" / "secret").exists()  # a planted link is never carried into the new site
    assert same_as_forced(cfg, out, tmp_path)


def test_a_planted_folder_link_does_not_break_rebuilds(built):
    cfg, out = built
    (out / "a" / "elsewhere").symlink_to("/etc", target_is_directory=True)
    assert run(cfg, out).rebuilt == 0
    assert not (out / "a" / "elsewhere").exists()


@pytest.mark.parametrize("change", ["tokenizer", "weights-same-size-and-time"])
def test_model_files_are_fingerprinted_by_content(tiny_bert, tmp_path, change):
    folder = tmp_path / "m"
    shutil.copytree(tiny_bert, folder)
    cfg = tmp_path / "s.yaml"
    cfg.write_text(THREE.format(model=folder))
    out = tmp_path / "site"
    run(cfg, out)
    if change == "tokenizer":  # a token's spelling changes: the pages must show it
        vocab = (folder / "tokenizer.json").read_text().replace('"cat"', '"kat"')
        (folder / "tokenizer.json").write_text(vocab)
    else:  # other weights of the same size, copied in keeping the old file's time (as cp -p or rsync -a do)
        other = save_bert(tmp_path / "other", hidden_size=48, num_hidden_layers=2, num_attention_heads=3,
                          intermediate_size=96, initializer_range=0.05)
        stat = (folder / "model.safetensors").stat()
        shutil.copyfile(other / "model.safetensors", folder / "model.safetensors")
        import os
        os.utime(folder / "model.safetensors", ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert (folder / "model.safetensors").stat().st_size == stat.st_size
    assert run(cfg, out).rebuilt == 3
    assert same_as_forced(cfg, out, tmp_path)
