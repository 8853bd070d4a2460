"""Model stage on random-weight models: the mechanics of predictions and attention, not their quality."""
import numpy as np
import pytest
import torch

from bertgallery import model
from bertgallery.cache import FileHashes
from bertgallery.config import ConfigError


@pytest.fixture(scope="module")
def tiny(tiny_bert):
    return model.load(str(tiny_bert), fallback=False)


def test_predictions_are_the_softmax_top_k(tiny):
    result = model.predict(tiny, "The cat sat on the [MASK] and looked around.", top_k=7)
    assert result.tokens[0] == "[CLS]" and result.tokens[-1] == "[SEP]"
    (mask,) = result.masks
    assert result.tokens[mask.index] == "[MASK]"
    # an independent computation of the same numbers
    enc = tiny.tokenizer("The cat sat on the [MASK] and looked around.", return_tensors="pt")
    probs = torch.softmax(tiny.net(**enc).logits[0, mask.index], -1)
    values, indices = probs.topk(7)
    assert [p.probability for p in mask.predictions] == pytest.approx(values.tolist(), abs=1e-6)
    assert [p.token for p in mask.predictions] == [tiny.tokenizer.decode([i]).strip() for i in indices.tolist()]
    assert result.filled.startswith("The cat sat on the ")
    assert "[MASK]" not in result.filled


def test_attention_is_layers_heads_tokens_tokens(tiny):
    result = model.predict(tiny, "A [MASK] is here.", top_k=3)
    t = len(result.tokens)
    assert result.attention.shape == (2, 3, t, t)
    assert result.attention.dtype == np.float32
    np.testing.assert_allclose(result.attention.sum(-1), 1.0, atol=1e-5)  # each attending row is a distribution


def test_two_masks_from_one_pass(tiny):
    result = model.predict(tiny, "I [MASK] to the [MASK] today.", top_k=3)
    assert len(result.masks) == 2
    assert result.masks[0].index < result.masks[1].index
    first, second = (m.predictions[0].token for m in result.masks)
    assert result.filled.replace(" ", "").lower() == f"I{first}tothe{second}today.".replace(" ", "").replace("##", "").lower()


def test_roberta_mask_token_is_written_as_MASK(tiny_roberta):
    roberta = model.load(str(tiny_roberta), fallback=False)
    assert roberta.tokenizer.mask_token == "<mask>"
    result = model.predict(roberta, "The cat sat on the [MASK].", top_k=3)
    assert len(result.masks) == 1
    assert result.attention.shape[:2] == (2, 2)


def test_too_long_sentence_names_its_length(tiny_roberta):
    roberta = model.load(str(tiny_roberta), fallback=False)
    with pytest.raises(ConfigError, match=r"s.yaml:3: sentence 1 is \d+ tokens long; .* accepts at most 64"):
        model.predict(roberta, "The cat sat on the mat. " * 12 + "[MASK]", top_k=3, culprit="s.yaml:3: sentence 1 ")


def test_missing_folder_and_folder_without_weights(tmp_path):
    with pytest.raises(ConfigError, match="model folder ./nowhere does not exist"):
        model.load("./nowhere")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match="holds no model weights"):
        model.load(str(tmp_path))


def identity(spec):
    return model.resolve(spec, False, False, FileHashes()).identity


def test_identity_is_the_content_of_every_file_the_loader_reads(tiny_bert, tmp_path):
    import shutil
    copy = tmp_path / "m"
    shutil.copytree(tiny_bert, copy)
    before = identity(str(copy))
    assert before == identity(str(copy))
    (copy / "README.md").write_text("not read by the loader")
    assert identity(str(copy)) == before
    (copy / "tokenizer_config.json").write_text((copy / "tokenizer_config.json").read_text() + " ")
    assert identity(str(copy)) != before


def test_file_hashes_are_remembered_but_never_trusted_across_a_change(tmp_path):
    f = tmp_path / "w"
    f.write_bytes(b"a" * 100)
    hashes = FileHashes()
    first = hashes(f)
    again = FileHashes(hashes.used)
    assert again(f) == first
    stat = f.stat()
    f.write_bytes(b"b" * 100)  # same size, and the old time put back (as cp -p does)
    import os
    os.utime(f, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert FileHashes(hashes.used)(f) != first


def test_a_folder_of_links_to_regular_files_loads(tiny_bert, tmp_path):
    """A Hugging Face cache snapshot is links into ../../blobs: a link to a regular file is fine wherever it
    points (a link to anything else is refused: tests/bad_configs/model-*-proc.yaml, model-fifo.yaml)."""
    import hashlib
    import os
    import shutil
    blobs, snapshot = tmp_path / "blobs", tmp_path / "snapshots" / "0123abc"
    blobs.mkdir()
    snapshot.mkdir(parents=True)
    for f in tiny_bert.iterdir():
        blob = blobs / hashlib.sha256(f.read_bytes()).hexdigest()
        shutil.copy(f, blob)
        (snapshot / f.name).symlink_to(os.path.relpath(blob, snapshot))
    resolved = model.resolve(str(snapshot), False, False, FileHashes())
    assert resolved.identity.startswith("folder:")
    loaded = model.load(resolved, fallback=False)
    assert model.predict(loaded, "The cat sat on the [MASK].", top_k=2).masks


def test_a_file_is_hashed_up_to_its_size_only(tmp_path, monkeypatch):
    """What is hashed is bounded by the size the file had when opened; one that gives more is refused."""
    import os
    from bertgallery import cache
    path = tmp_path / "grows"
    path.write_bytes(b"x" * 100)
    assert cache.sha256_file(path) == cache.sha256_bytes(b"x" * 100)
    real = os.fstat
    monkeypatch.setattr(cache.os, "fstat", lambda fd: os.stat_result((*real(fd)[:6], 10, *real(fd)[7:])))
    with pytest.raises(ConfigError, match="grows gives more than its size says"):
        cache.sha256_file(path)


@pytest.mark.slow
def test_a_sentence_is_bounded_by_its_attention_weights(tmp_path):
    """At most 40 million attention weights (heads x tokens²) a sentence: a 1,536-head model takes 161 tokens,
    and says why it takes fewer than its 512 positions. Checked before the forward pass."""
    from conftest import save_bert
    folder = save_bert(tmp_path / "wide", hidden_size=256, num_hidden_layers=6, num_attention_heads=256,
                       intermediate_size=64)
    wide = model.load(str(folder), fallback=False)
    assert wide.max_tokens == model.tokens_for(1536) == 161
    with pytest.raises(ConfigError, match=r"^s\.yaml:2: sentence 1 is 202 tokens long; .* accepts at most 161 "
                                          r"here \(this tool's bound: 1,024 tokens, and 40 million attention "
                                          r"weights, heads × tokens², for its 1,536 heads\)$"):
        model.predict(wide, "word " * 199 + "[MASK]", 3, culprit="s.yaml:2: sentence 1 ")
    assert model.predict(wide, "word " * 150 + "[MASK]", 3).attention.shape == (6, 256, 153, 153)
    assert model.tokens_for(144) == 527 and model.tokens_for(384) == 322 and model.tokens_for(6) == 1024
