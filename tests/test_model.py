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
