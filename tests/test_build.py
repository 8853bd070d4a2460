"""Incremental builds: a sentence's results are reused when their key and files match; every page is
rewritten from them. Random-weight models; mechanics only."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from bertgallery import build, config, model, site
from conftest import ROOT, file_hashes, save_bert, site_files

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


def same_as_forced(cfg, out, tmp_path):
    forced = tmp_path / "forced"
    run(cfg, forced, force=True)
    return site_files(out) == site_files(forced)


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


@pytest.mark.parametrize("damage", ["folder", "png", "page", "data", "empty-data"])
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
    else:
        (b / "data.json").write_text("{}")
    summary = run(cfg, out)
    assert summary.rebuilt == (0 if damage == "page" else 1)
    assert same_as_forced(cfg, out, tmp_path)


@pytest.mark.parametrize("planted", ["CNAME", "b/secret", "a/elsewhere", ".git"])
def test_anything_else_in_the_site_stops_the_build_and_stays(built, planted, capsys):
    """A file or link a person put inside the site would go with the next swap, and a link would be carried
    or followed: the build refuses, naming it, and changes nothing; once it is moved out, the build runs."""
    import generate
    cfg, out = built
    path = out / planted
    if planted == "b/secret":
        path.symlink_to("/etc/hostname")
    elif planted == "a/elsewhere":
        path.symlink_to("/etc", target_is_directory=True)
    elif planted == ".git":
        path.mkdir()
        (path / "HEAD").write_text("ref: refs/heads/main")
    else:
        path.write_text("gallery.example.org")
    before = file_hashes(out)
    assert generate.main([str(cfg), "--out", str(out), "--quiet", "--force"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path} was not made by this tool" in err  # a folder is named once
    assert file_hashes(out) == before and (path.is_symlink() or path.exists())
    shutil.rmtree(path) if planted == ".git" else path.unlink()
    assert run(cfg, out).rebuilt == 0


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


@pytest.mark.parametrize("edit", ["fewer-files", "other-sentence"])
def test_a_hand_edited_manifest_never_gives_a_wrong_site(built, tmp_path, edit):
    """A manifest that is still well-formed but lies: a sentence's results are reused only if its folder holds
    every file such results have, and its data.json is that sentence's."""
    cfg, out = built
    manifest = json.loads((out / "manifest.json").read_text())
    a, b = manifest["sentences"][0], manifest["sentences"][1]
    if edit == "fewer-files":
        a["files"] = {"overview.png": a["files"]["overview.png"]}
        for name in set(os.listdir(out / "a")) - {"overview.png", "index.html"}:
            os.unlink(out / "a" / name)
    else:  # a's entry points at b's folder and files
        a["slug"], a["files"] = b["slug"], b["files"]
        shutil.rmtree(out / "a")
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert run(cfg, out).rebuilt == 1
    assert same_as_forced(cfg, out, tmp_path)


def test_an_edit_made_with_its_hash_is_taken_over_unless_no_page_could_hold_it(built):
    """The hashes catch accidents, not tampering (the README says so): a data.json edited together with its
    SHA-256 in manifest.json is taken over as it is. One with a lone surrogate, which no build writes and no
    page can hold, is computed again instead of ending the build in a UnicodeEncodeError traceback."""
    import hashlib
    cfg, out = built

    def edit(old: str, new: str):
        data = out / "a" / "data.json"
        data.write_text(data.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
        manifest = json.loads((out / "manifest.json").read_text())
        entry = next(e for e in manifest["sentences"] if e["slug"] == "a")
        entry["files"]["data.json"] = hashlib.sha256(data.read_bytes()).hexdigest()
        (out / "manifest.json").write_text(json.dumps(manifest))
    filled = json.loads((out / "a" / "data.json").read_text())["filled"]
    edit(json.dumps(filled), json.dumps("Edited by hand."))
    assert run(cfg, out).rebuilt == 0 and "Edited by hand." in (out / "a" / "index.html").read_text()
    edit(json.dumps("Edited by hand."), '"Edited \\udce9 by hand."')
    assert run(cfg, out).rebuilt == 1 and "Edited" not in (out / "a" / "index.html").read_text()
