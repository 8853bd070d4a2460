"""The shipped offline model: the real MiniLM encoder plus our artefact, with no network."""
import json

import pytest
from safetensors import safe_open

from bertgallery import model, offline
from conftest import run_cli, write_yaml

EVERYDAY_HITS = 15  # of 30, measured on the shipped artefact (models/train_offline.py --score)


@pytest.fixture(scope="module")
def loaded():
    return model.load(offline.NAME, fallback=False)


@pytest.fixture
def no_hub(tmp_path, monkeypatch):
    """An empty Hugging Face cache and no hub: bert-base-uncased cannot be had."""
    from huggingface_hub import constants
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def test_artefact_is_small_and_matches_the_installed_encoder():
    assert offline.ARTEFACT.stat().st_size <= 10 * 1024 * 1024
    with safe_open(offline.ARTEFACT, "pt") as f:
        meta = f.metadata()
    assert meta["encoder_sha256"] == offline.encoder_sha256()


def test_assembles_a_standard_bert_masked_lm(loaded):
    from transformers import BertForMaskedLM
    assert isinstance(loaded.net, BertForMaskedLM)
    assert (loaded.info.layers, loaded.info.heads) == (6, 12)
    # the output layer is the frozen word-embedding matrix, as in BERT
    assert loaded.net.cls.predictions.decoder.weight.data_ptr() == \
        loaded.net.bert.embeddings.word_embeddings.weight.data_ptr()


@pytest.mark.parametrize("text, expected", [
    ("She opened the [MASK] and walked into the room.", "door"),
    ("He put on his [MASK] because his feet were cold.", "shoes"),
    # a known gap, reported in the README: the training text has almost no cats in it. strict: this test
    # fails the day the model gets it right, so the README gets updated
    pytest.param("The [MASK] meowed and jumped onto the sofa.", "cat", marks=pytest.mark.xfail(strict=True)),
])
def test_predicts_plausible_words(loaded, text, expected):
    top5 = [p.token for p in model.predict(loaded, text, top_k=5).masks[0].predictions]
    assert expected in top5, top5
    assert not any(t in ".,;:!?" for t in top5[:2]), top5  # words, not punctuation


def test_everyday_sentences_kept_aside_get_fitting_words(loaded):
    """models/everyday.tsv: 30 everyday cloze sentences the model never trained on, each with the words that
    fit, written before any model was scored. The README reports the shipped model's count; this guards it."""
    rows = offline.everyday_sentences()
    hits = 0
    for text, fitting in rows:
        top5 = {p.token for p in model.predict(loaded, text, top_k=5).masks[0].predictions}
        hits += bool(top5 & fitting)
    assert len(rows) == 30
    assert hits >= EVERYDAY_HITS, hits


def test_unreachable_hub_model_falls_back_with_a_banner(tmp_path, no_hub):
    write_yaml(tmp_path / "s.yaml", "model: bert-base-uncased\nsentences:\n  - id: cat\n    text: A [MASK] sat.\n")
    r = run_cli("s.yaml", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().splitlines() == [
        "note: bert-base-uncased is not in the Hugging Face cache and HF_HUB_OFFLINE is set; using the offline "
        "model instead (--no-fallback turns this off)"]
    for page in (tmp_path / "site" / "index.html", tmp_path / "site" / "cat" / "index.html"):
        html = page.read_text()
        # the banner and the model line say the encoder itself was fine-tuned, and link to how far from MiniLM
        assert ('<p class="banner" role="note">bert-base-uncased could not be downloaded, so this gallery shows the '
                'offline model instead. <a href="' + ("../" if page.parent.name == "cat" else "") +
                'heads/statistics.html#offline-model">About the offline model</a></p>') in html
        assert "(all-MiniLM-L6-v2 fine-tuned for masked-word prediction, <a href=" in html
        assert "statistics.html#offline-model" in html
    record = json.loads((tmp_path / "site" / "cat" / "data.json").read_text())["model"]
    assert record == {"name": "offline", "about": offline.DESCRIPTION} and "fine-tuned" in record["about"]
    statistics = (tmp_path / "site" / "heads" / "statistics.html").read_text()
    assert '<h2 id="offline-model">' in statistics and "62.9 %" in statistics
    # how it was made, on the page itself: a visitor of the published site has no README nor models/ folder
    assert "It was made by giving MiniLM" in statistics and "README" not in statistics
    assert ".py" not in statistics.split('<h2 id="offline-model">')[1].split("<h2")[0]
    assert len(list((tmp_path / "site" / "cat").glob("Attention_*.png"))) == 72
    # the fallback is part of what the site was built from: --no-fallback is not "up to date" with it
    before = {p: p.read_bytes() for p in (tmp_path / "site").rglob("*") if p.is_file()}
    r = run_cli("s.yaml", "--quiet", "--no-fallback", cwd=tmp_path)
    assert r.returncode == 2 and "is not in the Hugging Face cache" in r.stderr
    assert {p: p.read_bytes() for p in (tmp_path / "site").rglob("*") if p.is_file()} == before


@pytest.mark.slow
def test_a_fallback_never_replaces_a_gallery_of_another_model(tmp_path, no_hub, tiny_bert):
    """A gallery built with a real model stays as it was when the hub is gone: the offline model stands in
    only where it replaces nothing but itself; --model offline replaces it on purpose."""
    from conftest import file_hashes
    write_yaml(tmp_path / "s.yaml", f"model: {tiny_bert}\nsentences:\n  - id: cat\n    text: A [MASK] sat.\n")
    assert run_cli("s.yaml", "--quiet", cwd=tmp_path).returncode == 0
    before = file_hashes(tmp_path / "site")
    write_yaml(tmp_path / "s.yaml", "model: bert-base-uncased\nsentences:\n  - id: cat\n    text: A [MASK] sat.\n")
    for force in ((), ("--force",)):
        r = run_cli("s.yaml", "--quiet", *force, cwd=tmp_path)
        assert r.returncode == 2 and r.stderr.strip().splitlines() == [
            "error: model 'bert-base-uncased' is not in the Hugging Face cache and HF_HUB_OFFLINE is set; the output "
            "folder holds a gallery of another model, which the offline model would replace: build again once the "
            "hub can be reached, or pass --model offline to replace it on purpose"], r.stderr
        assert file_hashes(tmp_path / "site") == before
    r = run_cli("s.yaml", "--quiet", "--model", "offline", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "site" / "cat" / "data.json").read_text())["model"]["name"] == "offline"
    r = run_cli("s.yaml", "--quiet", cwd=tmp_path)  # now the fallback replaces only the offline model's gallery
    assert r.returncode == 0 and "using the offline model instead" in r.stderr, r.stderr


def test_no_fallback_fails_with_advice(tmp_path, no_hub):
    write_yaml(tmp_path / "s.yaml", "model: bert-base-uncased\nsentences:\n  - A [MASK] sat.\n")
    r = run_cli("s.yaml", "--no-fallback", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip() == ("error: model 'bert-base-uncased' is not in the Hugging Face cache and "
                                "HF_HUB_OFFLINE is set: unset HF_HUB_OFFLINE to download it, or pass a local folder "
                                "with --model")
    assert not (tmp_path / "site").exists()


@pytest.mark.slow
def test_offline_by_name_has_no_banner(tmp_path, capfd):
    import generate
    write_yaml(tmp_path / "s.yaml", "model: offline\nsentences:\n  - id: x\n    text: A [MASK] sat.\n")
    assert generate.main([str(tmp_path / "s.yaml"), "--out", str(tmp_path / "site"), "--quiet"]) == 0
    assert capfd.readouterr().err == ""
    html = (tmp_path / "site" / "x" / "index.html").read_text()
    assert 'class="banner"' not in html and "fine-tuned for masked-word prediction" in html  # the model line


def test_refuses_an_encoder_it_was_not_trained_on(monkeypatch):
    monkeypatch.setattr(offline, "encoder_sha256", lambda: "0" * 64)
    with pytest.raises(offline.OfflineModelMissing, match="is not the encoder the offline model was trained on"):
        offline.load()
