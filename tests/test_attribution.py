"""Head importance and attention rollout (bertgallery/attribution.py).

Every model here has random weights: the tests check the mechanics (the gates, the batching, the maths)
against independent slow references, not what a trained model finds important.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from bertgallery import attribution, config, model
from bertgallery.config import MASK

@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The models here are tiny: a second thread gains nothing, and on a busy 2-core machine every parallel
    op waits for it to be scheduled (measured: a 10x32 LayerNorm took 8 ms instead of 10 us)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SMALL = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64)


def small_net(family: str, dtype=torch.float64, **shape):
    """A random 3-layer x 4-head masked LM of `family`, built in memory (no tokenizer: ids are enough)."""
    import transformers as tf
    torch.manual_seed(0)
    shape = dict(SMALL, **shape)
    if family == "distilbert":
        cfg = tf.DistilBertConfig(vocab_size=120, dim=shape["hidden_size"], n_layers=shape["num_hidden_layers"],
                                  n_heads=shape["num_attention_heads"], hidden_dim=shape["intermediate_size"])
    else:
        name = {"bert": "Bert", "roberta": "Roberta", "xlm-roberta": "XLMRoberta", "camembert": "Camembert",
                "electra": "Electra"}[family]
        cfg = getattr(tf, f"{name}Config")(vocab_size=120, pad_token_id=1, **shape)
        family = name
    cfg._attn_implementation = "eager"
    cls = getattr(tf, "DistilBertForMaskedLM" if family == "distilbert" else f"{family}ForMaskedLM")
    return cls(cfg).eval().to(dtype)


def sentence(net, length=10, positions=(3, 7), seed=1):
    """Random ids (none of them padding), the mask positions and the model's own top-1 prediction there."""
    ids = torch.randint(5, 120, (1, length), generator=torch.Generator().manual_seed(seed))
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    with torch.no_grad():
        targets = net(**inputs).logits[0, list(positions)].argmax(-1).tolist()
    return inputs, list(positions), targets


def log_p(net, inputs, positions, targets) -> np.ndarray:
    with torch.no_grad():
        logits = net(**inputs).logits[0, positions]
    return torch.log_softmax(logits, -1)[torch.arange(len(positions)), targets].double().numpy()


FAMILIES = ["bert", "roberta", "distilbert", "xlm-roberta", "camembert", "electra"]


@pytest.mark.parametrize("family", FAMILIES)
def test_gradient_is_the_derivative_in_the_gate(family):
    """Central finite differences of log p in each gate (float64: the O(eps^2) error is ~1e-10)."""
    net = small_net(family)
    inputs, positions, targets = sentence(net)
    scores = attribution.head_importance(net, inputs, positions, targets, "gradient")
    layers, heads = scores.shape[1:]
    eps = 1e-3
    for l in range(layers):
        for h in range(heads):
            gates = torch.ones(layers, heads, dtype=torch.float64)
            gates[l, h] = 1 + eps
            up = attribution.gated_log_probs(net, inputs, positions, targets, gates)
            gates[l, h] = 1 - eps
            down = attribution.gated_log_probs(net, inputs, positions, targets, gates)
            np.testing.assert_allclose(scores[:, l, h], ((up - down) / (2 * eps)).numpy(), rtol=1e-5, atol=1e-9)
    assert np.abs(scores).max() > 1e-5  # not trivially zero


@pytest.mark.parametrize("family", FAMILIES)
def test_ablation_is_the_drop_when_the_head_is_cut_out_of_the_weights(family):
    """The slow reference: zero the head's columns of the output projection on a copy and run it whole."""
    net = small_net(family)
    inputs, positions, targets = sentence(net)
    scores = attribution.head_importance(net, inputs, positions, targets, "ablation")
    base = log_p(net, inputs, positions, targets)
    layers, heads = scores.shape[1:]
    size = net.config.hidden_size // heads
    for l in range(layers):
        for h in range(heads):
            cut = copy.deepcopy(net)
            with torch.no_grad():
                attribution._modules(cut)[1][l].weight[:, h * size:(h + 1) * size] = 0
            np.testing.assert_allclose(scores[:, l, h], base - log_p(cut, inputs, positions, targets), atol=1e-12)


def test_ablation_in_float32_and_in_several_passes(monkeypatch):
    """float32 (how the gallery runs) agrees with float64 to float32's rounding of log p; and a token budget
    that forces one pass per layer gives the same scores as one pass for all."""
    net = small_net("bert")
    inputs, positions, targets = sentence(net)
    exact = attribution.head_importance(net, inputs, positions, targets, "ablation")
    single = attribution.head_importance(small_net("bert", torch.float32), inputs, positions, targets, "ablation")
    np.testing.assert_allclose(single, exact, atol=2e-6)
    monkeypatch.setattr(attribution, "ABLATION_TOKENS", 10)  # 10 tokens: one layer (1 + 4 rows) a pass
    np.testing.assert_allclose(attribution.head_importance(net, inputs, positions, targets, "ablation"), exact,
                               atol=1e-12)


def ranks(x):
    return np.argsort(np.argsort(x))


def test_gradient_and_ablation_agree_where_log_p_is_nearly_linear_in_the_gates():
    """The gradient is the first-order Taylor estimate of the ablation. With weights drawn at std 0.05 a
    head moves log p by up to ~0.07 nats and its effect is close to linear in the gate, so the two rank
    the heads alike (Spearman > 0.95) and share signs on the heads that matter most. This is a property
    of the setup, not a guarantee: at std 0.2 heads move log p by nats and the two disagree (rank
    correlation ~0.25), which is what Michel et al. mean by the gradient being an approximation."""
    net = small_net("bert", torch.float32, hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
                    intermediate_size=128, initializer_range=0.05)
    inputs, positions, targets = sentence(net, length=12, positions=(4, 8))
    grad = attribution.head_importance(net, inputs, positions, targets, "gradient")
    drop = attribution.head_importance(net, inputs, positions, targets, "ablation")
    assert np.abs(drop).max() > 0.01  # heads matter enough for the comparison to mean something
    for g, a in zip(grad.reshape(len(positions), -1), drop.reshape(len(positions), -1)):
        assert np.corrcoef(ranks(g), ranks(a))[0, 1] > 0.95
        top = np.argsort(-np.abs(a))[:5]
        assert np.array_equal(np.sign(g[top]), np.sign(a[top]))


def rollout_reference(attention):
    layers, heads, n, _ = attention.shape
    out, flow = [], [[float(i == j) for j in range(n)] for i in range(n)]
    for l in range(layers):
        a = [[sum(float(attention[l, h, i, j]) for h in range(heads)) / heads * 0.5 + 0.5 * (i == j)
              for j in range(n)] for i in range(n)]
        a = [[v / sum(row) for v in row] for row in a]
        flow = [[sum(a[i][k] * flow[k][j] for k in range(n)) for j in range(n)] for i in range(n)]
        out.append(flow)
    return np.array(out)


def test_rollout_matches_a_loop_reference_and_rows_sum_to_one():
    raw = np.random.default_rng(0).random((3, 2, 5, 5)).astype(np.float32) ** 3
    attention = raw / raw.sum(-1, keepdims=True)
    got = attribution.rollout(attention)
    assert got.dtype == np.float64 and got.shape == (3, 5, 5)
    np.testing.assert_allclose(got, rollout_reference(attention), atol=1e-12)
    np.testing.assert_allclose(got.sum(-1), 1, atol=1e-12)
    np.testing.assert_allclose(attribution.rollout(np.full((1, 1, 4, 4), 0.25))[0], 0.5 * np.eye(4) + 0.125)


@pytest.fixture(scope="module")
def tiny_distilbert(tmp_path_factory):
    """A DistilBERT masked LM (2 layers x 2 heads, random weights) with BERT's tokenizer, which for
    DistilBERT must not send token_type_ids."""
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertForMaskedLM

    from bertgallery import offline
    folder = tmp_path_factory.mktemp("tiny-distilbert")
    tok = AutoTokenizer.from_pretrained(offline.encoder_dir(), model_input_names=["input_ids", "attention_mask"])
    tok.save_pretrained(folder)
    torch.manual_seed(0)
    DistilBertForMaskedLM(DistilBertConfig(vocab_size=len(tok), dim=32, n_layers=2, n_heads=2, hidden_dim=64)
                          ).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("fixture", ["tiny_bert", "tiny_roberta", "tiny_distilbert"])
def test_each_family_gives_importance_and_rollout_in_the_pipeline(fixture, request):
    """As the build would: model.load, analyse, then both scores for the top-1 word and the rollout."""
    loaded = model.load(str(request.getfixturevalue(fixture)), fallback=False)
    net, tok = loaded.net, loaded.tokenizer
    assert attribution.reason_unsupported(net) is None
    text = f"The cat sat on the {MASK} and looked {MASK} ."
    result = model.predict(loaded, text, top_k=3)
    inputs = tok(text.replace(MASK, tok.mask_token), return_tensors="pt")
    positions = [m.index for m in result.masks]
    targets = net(**inputs).logits[0, positions].argmax(-1).tolist()
    shape = (2, loaded.info.layers, loaded.info.heads)
    for method in config.IMPORTANCE:
        scores = attribution.head_importance(net, inputs, positions, targets, method)
        assert scores.shape == shape and scores.dtype == np.float64 and np.isfinite(scores).all()
        assert np.abs(scores).max() > 0
        # without targets, the model's own top-1: the same words, so the same scores
        np.testing.assert_array_equal(attribution.head_importance(net, inputs, positions, method=method), scores)
    flow = attribution.rollout(result.attention)
    assert flow.shape == (loaded.info.layers, len(result.tokens), len(result.tokens))
    np.testing.assert_allclose(flow.sum(-1), 1, atol=1e-9)
    # the model is left as it was: no hooks, no gradients, the same predictions
    assert not torch.is_grad_enabled()
    assert not any(m._forward_pre_hooks for m in net.modules())
    again = model.predict(loaded, text, top_k=3).masks
    assert [(m.index, m.target, m.predictions) for m in again] == \
        [(m.index, m.target, m.predictions) for m in result.masks]
    for m, before in zip(again, result.masks):  # and the same contributions (issue 25)
        np.testing.assert_array_equal(m.contribution_rollout, before.contribution_rollout)


@pytest.mark.parametrize("fixture", ["tiny_bert", "tiny_distilbert"])
def test_the_importance_from_the_prediction_pass_equals_a_pass_of_its_own(fixture, request):
    """model.predict with importance "gradient" scores the heads in its own forward pass (gates of 1): the same
    predictions, attention and contributions as a plain predict, and the same scores as head_importance's own
    pass, within rounding."""
    loaded = model.load(str(request.getfixturevalue(fixture)), fallback=False)
    text = f"The cat sat on the {MASK} and looked {MASK} ."
    one, plain = model.predict(loaded, text, top_k=3, importance="gradient"), model.predict(loaded, text, top_k=3)
    assert plain.importance is None and one.importance.shape == (2, loaded.info.layers, loaded.info.heads)
    separate = attribution.head_importance(loaded.net, plain.inputs, [m.index for m in plain.masks],
                                           [m.target for m in plain.masks])
    assert np.abs(separate).max() > 0
    np.testing.assert_allclose(one.importance, separate, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(one.attention, plain.attention, atol=1e-7)
    for a, b in zip(one.masks, plain.masks):
        assert (a.index, a.target, [p.token for p in a.predictions]) == (b.index, b.target,
                                                                         [p.token for p in b.predictions])
        np.testing.assert_allclose([p.probability for p in a.predictions], [p.probability for p in b.predictions],
                                   rtol=1e-5)
        np.testing.assert_allclose(a.contribution_rollout, b.contribution_rollout, atol=1e-7)
    np.testing.assert_allclose(attribution.explain(loaded.net, one, "gradient").importance, separate, rtol=1e-5,
                               atol=1e-7)
    assert not torch.is_grad_enabled() and not any(m._forward_pre_hooks for m in loaded.net.modules())


def test_an_unsupported_family_gets_a_one_line_reason():
    from transformers import AlbertConfig, AlbertForMaskedLM
    torch.manual_seed(0)
    cfg = AlbertConfig(vocab_size=120, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                       num_attention_heads=2, intermediate_size=64)
    cfg._attn_implementation = "eager"
    net = AlbertForMaskedLM(cfg).eval()
    reason = attribution.reason_unsupported(net)
    assert reason == "head importance is not available for albert models"
    inputs, positions, targets = sentence(net)
    with pytest.raises(ValueError, match="albert"):
        attribution.head_importance(net, inputs, positions, targets)
    with torch.no_grad():
        attention = np.stack([a[0].numpy() for a in net(**inputs, output_attentions=True).attentions])
    assert attribution.rollout(attention).shape == (2, 10, 10)  # rollout needs only the attention


def test_no_masks_and_bad_arguments():
    net = small_net("bert")
    inputs, _, _ = sentence(net)
    assert attribution.head_importance(net, inputs, [], []).shape == (0, 3, 4)
    with pytest.raises(ValueError, match="method"):
        attribution.head_importance(net, inputs, [3], [5], method="taylor")
    with pytest.raises(ValueError, match="one target per mask"):
        attribution.head_importance(net, inputs, [3, 4], [5])


# ---------------------------------------------------------------- in the built site
def test_the_sample_site_carries_importance_and_rollout(sample_site):
    """data.json per mask: the importance (layers x heads, signed, method named) equals the score computed here
    from the model; the rollout row equals rollout() of the attention; the page names the top heads, each linking its view in the explorer."""
    import json
    from conftest import working_folder
    data = json.loads((sample_site / "cat" / "data.json").read_text())
    with working_folder(sample_site.parent):
        loaded = model.load("./tiny-model", fallback=False)
    run = model.predict(loaded, data["text"], top_k=4)
    expected = attribution.head_importance(loaded.net, run.inputs, [m.index for m in run.masks])
    flow = attribution.rollout(run.attention)
    (mask,) = data["masks"]
    assert mask["importance"]["method"] == "gradient"
    np.testing.assert_allclose(mask["importance"]["values"], expected[0], rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(mask["rollout"], flow[:, mask["index"]], atol=1e-4)
    np.testing.assert_allclose(np.sum(mask["rollout"], axis=1), 1, atol=1e-3)
    html = (sample_site / "cat" / "index.html").read_text()
    values = np.array(mask["importance"]["values"])
    order = np.argsort(-np.abs(values), axis=None)[:5]
    named = [f'<li><a href="#l={i // 3 + 1}&amp;h={i % 3 + 1}" data-layer="{i // 3 + 1}" '
             f'data-head="{i % 3 + 1}">Layer {i // 3 + 1}, head {i % 3 + 1}</a>' for i in order]
    positions = [html.index(n) for n in named]
    assert positions == sorted(positions)  # largest |I| first
    assert (sample_site / "cat" / "Rollout.png").stat().st_size > 1000


def test_an_unsupported_family_builds_with_a_one_line_note(tmp_path):
    """ALBERT (one layer shared by every depth, so no per-layer gates): the page says so; rollout still shows."""
    import json
    from transformers import AlbertConfig, AlbertForMaskedLM, AutoTokenizer

    from bertgallery import build, config, offline
    tok = AutoTokenizer.from_pretrained(offline.encoder_dir())
    tok.save_pretrained(tmp_path / "albert")
    torch.manual_seed(0)
    AlbertForMaskedLM(AlbertConfig(vocab_size=len(tok), embedding_size=16, hidden_size=32, num_hidden_layers=2,
                                   num_attention_heads=2, intermediate_size=64)).save_pretrained(tmp_path / "albert")
    (tmp_path / "s.yaml").write_text(f"model: {tmp_path / 'albert'}\nsentences:\n  - {{id: a, text: 'A [MASK] ran.'}}\n")
    build.build(config.load(tmp_path / "s.yaml"), tmp_path / "site", build.Options(fallback=False, progress=False))
    data = json.loads((tmp_path / "site" / "a" / "data.json").read_text())
    assert data["importance_note"] == "head importance is not available for albert models"
    assert data["masks"][0]["importance"] is None and len(data["masks"][0]["rollout"]) == 2
    html = (tmp_path / "site" / "a" / "index.html").read_text()
    assert html.count("head importance is not available for albert models.") == 1
    assert "Where the guess's information comes from" in html
    note = "value norms and contributions are not available for albert models"  # issue 25: the same kind of note
    assert data["mixing_note"] == note and data["masks"][0]["contribution_rollout"] is None
    assert html.count(note + ".") == 1 and "Contribution rollout" not in html
    assert all(h["cls_norm"] is None and h["sep_norm"] is None for h in data["heads"])
    view = (tmp_path / "site" / "a" / "view-data.js").read_text()
    assert '"norms":null' in view and '"contributions":null' in view


def test_ablation_is_chosen_in_the_yaml(tiny_bert, tmp_path):
    import json

    from bertgallery import build, config
    (tmp_path / "s.yaml").write_text(f"model: {tiny_bert}\nimportance: ablation\nsentences:\n"
                                     "  - {id: a, text: 'The cat sat on the [MASK].'}\n")
    build.build(config.load(tmp_path / "s.yaml"), tmp_path / "site", build.Options(fallback=False, progress=False))
    mask = json.loads((tmp_path / "site" / "a" / "data.json").read_text())["masks"][0]
    loaded = model.load(str(tiny_bert), fallback=False)
    run = model.predict(loaded, "The cat sat on the [MASK].", top_k=5)
    expected = attribution.head_importance(loaded.net, run.inputs, [run.masks[0].index], method="ablation")
    assert mask["importance"]["method"] == "ablation"
    np.testing.assert_allclose(mask["importance"]["values"], expected[0], rtol=1e-4, atol=1e-9)
