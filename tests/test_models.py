"""Several models in one gallery (issue 24): the layout, the pages, and what adding, removing and reordering
models recompute. Two tiny random masked LMs with different tokenizers and the real MiniLM encoder (no
masked-LM head); random weights test the mechanics, not quality."""
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

import golden_tree
from bertgallery import build, compare, config, model, names
from conftest import MODELS_SAMPLE, site_files


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls, self.scripts, self.models = [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.urls += [attrs[k] for k in ("href", "src") if k in attrs]
        if tag == "script" and "src" in attrs:
            self.scripts.append(attrs["src"])
        if attrs.get("id") == "explore":
            self.models = json.loads(attrs["data-models"])


def links(path: Path) -> Links:
    found = Links()
    found.feed(path.read_text(encoding="utf-8"))
    return found


def slugs(tiny_bert, tiny_roberta):
    return model.slugs([str(tiny_bert), str(tiny_roberta), "minilm"])


def rebuild(site: Path, tmp_path: Path, models: list, **options):
    tmp_path.mkdir(exist_ok=True)
    shutil.copytree(site, tmp_path / "site")
    (tmp_path / "s.yaml").write_text(MODELS_SAMPLE.format(models=json.dumps([str(m) for m in models])))
    return build.build(config.load(tmp_path / "s.yaml"), tmp_path / "site",
                       build.Options(fallback=False, progress=False, **options)), tmp_path / "site"


@pytest.fixture
def no_model(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded")
    monkeypatch.setattr(model, "load", refuse)


@pytest.fixture
def no_comparing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a pair of models was compared again")
    monkeypatch.setattr(compare.Pair, "add", refuse)


@pytest.mark.xdist_group("models-sites")  # one worker builds the sites of several models
def test_the_gallery_of_three_models_has_a_folder_per_model_and_a_compare_page_per_pair(models_sites, tiny_bert,
                                                                                         tiny_roberta):
    site, summary, _ = models_sites["three"]
    bert, roberta, minilm = slugs(tiny_bert, tiny_roberta)
    assert [m.name for m in summary.models] == [str(tiny_bert), str(tiny_roberta), "minilm"]
    assert [m.masked_lm for m in summary.models] == [True, True, False]
    for sentence in ("cat", "two"):
        assert sorted(p.name for p in (site / sentence).iterdir()) == sorted([names.PAGE, bert, roberta, minilm])
        for slug, (layers, heads) in ((bert, (2, 3)), (roberta, (2, 2)), (minilm, (6, 12))):
            files = {p.name for p in (site / sentence / slug).iterdir()}
            # the seed's names, in a folder per model; an encoder without a masked-LM head draws no rollout
            assert names.pictures(layers, heads, slug != minilm) | {names.DATA, names.VIEW_DATA} <= files
            assert (names.ROLLOUT in files) == (slug != minilm)
        page = links(site / sentence / names.PAGE)
        # one view-data.js per model, in the config's order, before attention.js; the explorer is told about each
        assert page.scripts == [f"{s}/{names.VIEW_DATA}" for s in (bert, roberta, minilm)] + \
            ["../static/attention.js"]
        assert [(m["slug"], m["prefix"], m["heads"]) for m in page.models] == \
            [(s, f"{s}/", f"../heads/{s}/") for s in (bert, roberta, minilm)]
    for slug in (bert, roberta, minilm):
        assert (site / "heads" / slug / names.PAGE).is_file() and (site / "heads" / slug / "layer2-head2.html").is_file()
    assert (site / "heads" / names.STATISTICS_PAGE).is_file() and not (site / "heads" / names.PAGE).exists()
    pairs = sorted(p.name for p in (site / names.COMPARE).iterdir())
    assert pairs == sorted([f"{bert}--{roberta}", f"{bert}--{minilm}", f"{roberta}--{minilm}"])
    for pair in pairs:
        assert {p.name for p in (site / names.COMPARE / pair).iterdir()} == \
            {names.PAGE, names.COMPARE_DATA, names.COMPARE_PLOT}


@pytest.mark.xdist_group("models-sites")
def test_every_link_of_the_three_model_site_leads_to_a_file(models_sites):
    site = models_sites["three"][0]
    for page in site.rglob("*.html"):
        for url in links(page).urls:
            parsed = urlparse(url)
            if parsed.scheme or not parsed.path:
                continue
            assert (page.parent / unquote(parsed.path)).resolve().is_file(), f"{page.relative_to(site)}: {url}"


@pytest.mark.xdist_group("models-sites")
def test_the_sentence_page_shows_the_predictions_side_by_side_with_their_agreement(models_sites, tiny_bert,
                                                                                    tiny_roberta):
    site = models_sites["three"][0]
    html = (site / "two" / names.PAGE).read_text()
    data = {s: json.loads((site / "two" / s / names.DATA).read_text()) for s in slugs(tiny_bert, tiny_roberta)}
    bert, roberta, minilm = (data[s] for s in slugs(tiny_bert, tiny_roberta))
    assert html.count('class="ranking side-by-side"') == 2  # one table a mask
    assert html.count("no masked-LM head: this model shows its attention only") == 2
    for k in range(2):
        a, b = (d["masks"][k]["predictions"] for d in (bert, roberta))
        same = a[0]["token"].casefold() == b[0]["token"].casefold()
        shared = len({p["token"].casefold() for p in a} & {p["token"].casefold() for p in b})
        line = f"{tiny_bert} and {tiny_roberta}: " + ("the same top word" if same else "different top words")
        assert line in html and f"{shared} of their top 3 shared" in html
    assert minilm["masks"] == [] and minilm["filled"] == minilm["text"]  # it fills no mask
    # its syntax is of the sentence as written, [MASK] one word
    assert minilm["syntax"] is None or "[MASK]" in minilm["syntax"]["words"]
    index = (site / names.PAGE).read_text()
    assert all(p["token"] in index for d in (bert, roberta) for m in d["masks"] for p in m["predictions"][:3])


@pytest.mark.xdist_group("models-sites")
def test_one_model_then_two_moves_the_first_models_files_and_computes_only_the_second(models_sites, tiny_bert,
                                                                                      tiny_roberta):
    one, _, ran_one = models_sites["one"]
    two, summary, ran_two = models_sites["two"]
    assert ran_one == [str(tiny_bert)] * 2 and (one / "cat" / names.DATA).is_file()  # one model: today's layout
    assert ran_two == [str(tiny_roberta)] * 2 and summary.rebuilt == 2
    bert = slugs(tiny_bert, tiny_roberta)[0]
    assert (two / "cat" / bert / names.DATA).read_bytes() == (one / "cat" / names.DATA).read_bytes()


@pytest.mark.xdist_group("models-sites")
def test_adding_a_model_computes_only_its_results_and_keeps_the_other_pairs_comparison(models_sites, tiny_bert,
                                                                                         tiny_roberta):
    two = models_sites["two"][0]
    three, summary, ran = models_sites["three"]
    assert ran == ["minilm"] * 2 and summary.rebuilt == 2
    bert, roberta, _ = slugs(tiny_bert, tiny_roberta)
    pair = f"{names.COMPARE}/{bert}--{roberta}/{names.COMPARE_DATA}"
    assert (three / pair).read_bytes() == (two / pair).read_bytes()
    for slug in (bert, roberta):
        assert (three / "cat" / slug / "Attention_Layer1_Head1.png").read_bytes() == \
            (two / "cat" / slug / "Attention_Layer1_Head1.png").read_bytes()


@pytest.mark.xdist_group("models-sites")
def test_removing_a_model_removes_its_files_and_runs_nothing(models_sites, tiny_bert, tiny_roberta, tmp_path,
                                                            no_model, no_comparing):
    summary, site = rebuild(models_sites["three"][0], tmp_path, [tiny_bert, "minilm"])
    bert, roberta, minilm = slugs(tiny_bert, tiny_roberta)
    assert summary.rebuilt == 0 and summary.bytes is not None
    assert sorted(p.name for p in (site / "cat").iterdir()) == sorted([names.PAGE, bert, minilm])
    assert not (site / "heads" / roberta).exists()
    assert sorted(p.name for p in (site / names.COMPARE).iterdir()) == [f"{bert}--{minilm}"]
    assert roberta not in (site / "cat" / names.PAGE).read_text()
    manifest = json.loads((site / names.MANIFEST).read_text())
    assert not [e for e in manifest["sentences"] + manifest["corpus"] + manifest["compare"] if roberta in e["folder"]]


@pytest.mark.xdist_group("models-sites")
def test_reordering_the_models_recomputes_nothing(models_sites, tiny_bert, tiny_roberta, tmp_path, no_model,
                                                 no_comparing):
    summary, site = rebuild(models_sites["three"][0], tmp_path, ["minilm", tiny_roberta, tiny_bert])
    bert, roberta, minilm = slugs(tiny_bert, tiny_roberta)
    assert summary.rebuilt == 0 and [m.name for m in summary.models] == ["minilm", str(tiny_roberta), str(tiny_bert)]
    old = json.loads((models_sites["three"][0] / names.COMPARE / f"{bert}--{minilm}" / names.COMPARE_DATA).read_text())
    new = json.loads((site / names.COMPARE / f"{minilm}--{bert}" / names.COMPARE_DATA).read_text())
    assert new["models"] == old["models"][::-1] and new["shapes"] == old["shapes"][::-1]
    assert new["closest"] == {"a": old["closest"]["b"], "b": old["closest"]["a"]}
    assert links(site / "cat" / names.PAGE).scripts[0] == f"{minilm}/{names.VIEW_DATA}"


@pytest.mark.xdist_group("models-sites")
def test_a_rebuild_of_several_models_with_nothing_changed_writes_nothing(models_sites, tmp_path, tiny_bert,
                                                                        tiny_roberta, no_model, no_comparing):
    summary, site = rebuild(models_sites["three"][0], tmp_path, [tiny_bert, tiny_roberta, "minilm"])
    assert (summary.rebuilt, summary.bytes) == (0, None)


COMPUTED = (".png", ".json", "view-data.js")  # the files the models' numbers are in (the manifest apart)


def differences(got: Path, forced: Path) -> list[str]:
    """How an incremental build's site differs from a --force build's of the same gallery, one line each. Both
    are built here, on one CPU: the computed files (data, view data, pictures) should be the same bytes, and
    where they are not they are compared as tests/golden_tree.py compares them (numbers as numbers, pixels
    within a colour step); the pages and the manifest (its keys, folders, file names; the digests of files
    compared as numbers apart) exactly, for a page prints the stored numbers and one printed unit apart
    (4.545% and 4.546%) is just what a build path that rounds twice gives."""
    a, b = site_files(forced), site_files(got)
    found = [f"{p}: only in the forced build" for p in sorted(set(a) - set(b))] + \
        [f"{p}: not in the forced build" for p in sorted(set(b) - set(a))]
    noisy = {p for p in set(a) & set(b) if a[p] != b[p] and p.endswith(COMPUTED) and p != names.MANIFEST}
    found += golden_tree.differences({p: a[p] for p in noisy}, {p: b[p] for p in noisy}, {})
    found += [f"{p}: not the forced build's" for p in sorted(set(a) & set(b) - noisy - {names.MANIFEST})
              if a[p] != b[p]]

    def manifest(files):
        data = json.loads(files[names.MANIFEST])
        for e in data["sentences"] + data["corpus"] + data["compare"] + data["live"]:
            e["files"] = {n: "noisy" if f"{e['folder']}/{n}" in noisy else d for n, d in e["files"].items()}
        return data
    if manifest(a) != manifest(b):
        x, y = manifest(a), manifest(b)
        found += [f"manifest.json's {k} is not the forced build's" for k in x if x[k] != y.get(k)]
    return found


def forced_equal(site: Path, tmp_path: Path, models: list, computed: int) -> None:
    """The gallery of `site` rebuilt with `models`, incrementally and (from the same copy) with --force: the
    same site; the incremental build put `computed` (model, sentence)s through a model."""
    summary, got = rebuild(site, tmp_path / "incremental", models)
    assert summary.rebuilt == computed
    _, forced = rebuild(site, tmp_path / "forced", models, force=True)
    assert differences(got, forced) == []


@pytest.mark.slow
@pytest.mark.xdist_group("models-sites")
def test_adding_a_model_gives_what_a_forced_build_gives(models_sites, tiny_bert, tiny_roberta, tmp_path):
    summary, forced = rebuild(models_sites["two"][0], tmp_path, [tiny_bert, tiny_roberta, "minilm"], force=True)
    assert summary.rebuilt == 6
    assert differences(models_sites["three"][0], forced) == []


@pytest.mark.slow  # about 5 s: two builds
@pytest.mark.xdist_group("models-sites")
def test_removing_a_model_gives_what_a_forced_build_gives(models_sites, tiny_bert, tiny_roberta, tmp_path):
    forced_equal(models_sites["three"][0], tmp_path, [tiny_bert, tiny_roberta], 0)


@pytest.mark.xdist_group("models-sites")
def test_removing_all_but_one_model_gives_the_one_model_layout_a_forced_build_gives(models_sites, tiny_roberta,
                                                                                     tmp_path):
    forced_equal(models_sites["two"][0], tmp_path, [tiny_roberta], 0)


@pytest.mark.slow  # about 5 s: two builds
@pytest.mark.xdist_group("models-sites")
def test_reordering_the_models_gives_what_a_forced_build_gives(models_sites, tiny_bert, tiny_roberta, tmp_path):
    forced_equal(models_sites["two"][0], tmp_path, [tiny_roberta, tiny_bert], 0)


@pytest.mark.slow
@pytest.mark.xdist_group("models-sites")
def test_reordering_three_models_gives_what_a_forced_build_gives(models_sites, tiny_bert, tiny_roberta, tmp_path):
    """The encoder without a masked-LM head first: the first masked LM, whose predictions the index shows, moves."""
    forced_equal(models_sites["three"][0], tmp_path, ["minilm", tiny_roberta, tiny_bert], 0)


@pytest.mark.slow  # about 5 s: two builds
@pytest.mark.xdist_group("models-sites")
def test_replacing_a_model_gives_what_a_forced_build_gives(models_sites, tiny_bert, tiny_roberta, sample_bert,
                                                           tmp_path):
    """tiny BERT replaced by another random BERT of its shape and tokenizer (other weights): only it runs."""
    forced_equal(models_sites["two"][0], tmp_path, [sample_bert, tiny_roberta], 2)


def test_the_same_spec_gets_the_same_slug_wherever_it_stands():
    assert model.slugs(["offline", "minilm", "org/name", "./models/my-model", "bert-base-uncased"]) == \
        ["offline", "minilm", "org-name", "my-model", "bert-base-uncased"]
    assert model.slugs(["./a/x", "./b/x"]) == ["x", "x-2"]


def test_fallbacks_collapse_into_one_offline_model(monkeypatch):
    """Two hub ids that cannot be downloaded and an explicit offline: one offline model, whose note names
    both; with --no-fallback the first is an error."""
    from bertgallery.cache import FileHashes
    monkeypatch.setattr(model, "cached_commit", lambda spec, allow_pickle: "")
    monkeypatch.setattr(model, "hub_lookup", lambda spec, timeout: "the hub cannot be reached (test)")
    found = model.resolve_all(["bert-base-uncased", "offline", "roberta-base", "minilm"], True, False, FileHashes())
    assert [r.spec for r in found] == ["offline", "minilm"]
    assert "bert-base-uncased and roberta-base could not be downloaded" in found[0].note
    with pytest.raises(config.ConfigError, match="bert-base-uncased"):
        model.resolve_all(["bert-base-uncased", "offline"], False, False, FileHashes())


@pytest.mark.slow
def test_each_model_counts_the_corpus_once_and_keeps_its_counts_in_its_heads_folder(tiny_bert, tiny_roberta, tmp_path,
                                                                                   monkeypatch):
    (tmp_path / "corpus.txt").write_text("A dog ran in the park.\nI like green tea.\nThe sun is warm today.\n")
    (tmp_path / "s.yaml").write_text(MODELS_SAMPLE.format(models=json.dumps([str(tiny_bert), str(tiny_roberta)]))
                                     + "corpus: corpus.txt\n")
    summary = build.build(config.load(tmp_path / "s.yaml"), tmp_path / "site", build.Options(fallback=False,
                                                                                             progress=False))
    bert, roberta, _ = slugs(tiny_bert, tiny_roberta)
    assert summary.corpus == 6  # 3 sentences, each model
    for slug in (bert, roberta):
        assert json.loads((tmp_path / "site" / "heads" / slug / names.CORPUS).read_text())["totals"]["sentences"] == 3
    assert "3 of its corpus" in (tmp_path / "site" / "heads" / bert / names.PAGE).read_text()
    # reordered: both counts taken over from the other folders' files; no model loaded
    monkeypatch.setattr(model, "load", lambda *a, **k: pytest.fail("a model was loaded"))
    (tmp_path / "s.yaml").write_text(MODELS_SAMPLE.format(models=json.dumps([str(tiny_roberta), str(tiny_bert)]))
                                     + "corpus: corpus.txt\n")
    again = build.build(config.load(tmp_path / "s.yaml"), tmp_path / "site", build.Options(fallback=False,
                                                                                           progress=False))
    assert (again.rebuilt, again.corpus) == (0, 0)
    assert json.loads((tmp_path / "site" / names.MANIFEST).read_text())["corpus"][0]["folder"] == f"heads/{roberta}"


@pytest.mark.slow  # three builds of two tiny models: about 8 s
def test_with_a_corpus_adding_a_second_model_gives_what_a_forced_build_gives(tiny_bert, tiny_roberta, tmp_path):
    """A gallery of one model keeps no corpus attention: adding a second runs the first over the corpus sentences
    the compare page takes (corpus.attention) and nothing else of it, which is what a forced build's counting
    pass keeps."""
    (tmp_path / "corpus.txt").write_text("A dog ran in the park.\nI like green tea.\nThe sun is warm today.\n")
    yaml = tmp_path / "s.yaml"
    for models in ([tiny_bert], [tiny_bert, tiny_roberta]):
        yaml.write_text(MODELS_SAMPLE.format(models=json.dumps([str(m) for m in models])) + "corpus: corpus.txt\n")
        summary = build.build(config.load(yaml), tmp_path / "site", build.Options(fallback=False, progress=False))
    assert summary.rebuilt == 2 and summary.corpus == 3  # tiny RoBERTa's sentences and corpus only
    (tmp_path / "g").mkdir()
    shutil.copytree(tmp_path / "site", tmp_path / "g" / "site")
    shutil.copy(tmp_path / "corpus.txt", tmp_path / "g")
    (tmp_path / "g" / "s.yaml").write_text(yaml.read_text())
    build.build(config.load(tmp_path / "g" / "s.yaml"), tmp_path / "g" / "site",
                build.Options(fallback=False, progress=False, force=True))
    assert differences(tmp_path / "site", tmp_path / "g" / "site") == []
