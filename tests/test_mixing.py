"""Value norms, value-weighted attention and contributions (bertgallery/mixing.py).

The references here are slow loops written from the definitions in mixing.py's docstring, over inputs
captured from the model by hooks (each layer's input, each attention block's LayerNorm input), not over the
hidden states compute() reads: a misreading of x cannot be shared. The models have random weights (float64,
so the comparisons can be tight); they test the mechanics, not what a trained model mixes.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bertgallery import mixing, model


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: a second thread on a shared 2-core machine only waits
    yield
    torch.set_num_threads(threads)


SMALL = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64)
FAMILIES = ["bert", "roberta", "distilbert", "xlm-roberta", "electra", "camembert"]


def small_net(family: str, dtype=torch.float64):
    """A random 3-layer x 4-head masked LM of `family`, in memory (ids are enough: no tokenizer)."""
    import transformers as tf
    torch.manual_seed(0)
    if family == "distilbert":
        cfg = tf.DistilBertConfig(vocab_size=120, dim=32, n_layers=3, n_heads=4, hidden_dim=64)
        cls = tf.DistilBertForMaskedLM
    else:
        name = {"bert": "Bert", "roberta": "Roberta", "xlm-roberta": "XLMRoberta", "camembert": "Camembert",
                "electra": "Electra"}[family]
        extra = {"embedding_size": 16} if family == "electra" else {}  # its embeddings are projected up
        cfg = getattr(tf, f"{name}Config")(vocab_size=120, pad_token_id=1, **SMALL, **extra)
        cls = getattr(tf, f"{name}ForMaskedLM")
    cfg._attn_implementation = "eager"
    net = cls(cfg).eval().to(dtype)
    with torch.no_grad():  # LayerNorms away from γ = 1, β = 0 and non-zero biases: a dropped term shows
        for name, p in net.named_parameters():
            if "LayerNorm" in name or "layer_norm" in name or name.endswith("bias"):
                p.add_(0.3 * torch.randn_like(p))
    return net


def parts(net, layer: int):
    """(the layer, its value projection, output projection, LayerNorm after attention), read for the
    reference here by the families' own attribute names."""
    if net.config.model_type == "distilbert":
        block = net.distilbert.transformer.layer[layer]
        return block, block.attention.v_lin, block.attention.out_lin, block.sa_layer_norm
    block = net.base_model.encoder.layer[layer]
    return block, block.attention.self.value, block.attention.output.dense, block.attention.output.LayerNorm


def run_captured(net, ids, mask):
    """One forward pass with mixing.FLAGS; also each layer's input and each LayerNorm's input, by hooks."""
    inputs, norm_inputs, handles = [], [], []
    for l in range(net.config.num_hidden_layers):
        block, _, _, norm = parts(net, l)
        handles.append(block.register_forward_pre_hook(
            lambda m, args, kwargs: inputs.append((args[0] if args else kwargs["hidden_states"]).clone()),
            with_kwargs=True))
        handles.append(norm.register_forward_pre_hook(lambda m, args: norm_inputs.append(args[0].clone())))
    try:
        with torch.no_grad():
            out = net(input_ids=ids, attention_mask=mask, **mixing.FLAGS)
    finally:
        for h in handles:
            h.remove()
    return out, inputs, norm_inputs


def reference(net, ids) -> dict:
    """Every quantity for one sentence (a batch of one, no padding), in loops from the definitions."""
    out, xs, _ = run_captured(net, ids, torch.ones_like(ids))
    heads = net.config.num_attention_heads
    norms, weighted, contributions = [], [], []
    for l, x in enumerate(xs):
        _, value, output, norm = parts(net, l)
        x = x[0].double().numpy()
        w_v, b_v = value.weight.detach().double().numpy(), value.bias.detach().double().numpy()
        w_o, b_o = output.weight.detach().double().numpy(), output.bias.detach().double().numpy()
        gamma, eps = norm.weight.detach().double().numpy(), norm.eps
        alpha = out.attentions[l][0].double().numpy()
        t, size = len(x), w_v.shape[0] // heads
        f = np.zeros((heads, t, x.shape[1]))
        for h in range(heads):
            rows = slice(h * size, (h + 1) * size)
            for j in range(t):
                f[h, j] = w_o[:, rows] @ (w_v[rows] @ x[j] + b_v[rows])
        n = np.array([[np.sqrt(np.sum(f[h, j] ** 2)) for j in range(t)] for h in range(heads)])
        vw = np.zeros((heads, t, t))
        for h in range(heads):
            for i in range(t):
                total = sum(alpha[h, i, k] * n[h, k] for k in range(t))
                for j in range(t):
                    vw[h, i, j] = alpha[h, i, j] * n[h, j] / total
        c = np.zeros((t, t))
        for i in range(t):
            pieces = [sum(alpha[h, i, j] * f[h, j] for h in range(heads)) + (x[i] if i == j else 0)
                      for j in range(t)]
            y = sum(pieces) + b_o
            tilde = [gamma * (p - p.mean()) / np.sqrt(np.var(y) + eps) for p in pieces]
            mixed = sum(tilde)
            for j in range(t):
                c[i, j] = max(0.0, np.abs(mixed).sum() - np.abs(mixed - tilde[j]).sum())
        norms.append(n)
        weighted.append(vw)
        contributions.append(c / c.sum(-1, keepdims=True))
    rollout = [contributions[0]]
    for c in contributions[1:]:
        rollout.append(c @ rollout[-1])
    return {"norms": np.array(norms), "value_weighted": np.array(weighted),
            "contributions": np.array(contributions), "rollout": np.array(rollout)}


def sentence(length: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(5, 120, (1, length), generator=torch.Generator().manual_seed(seed))


def computed(net, ids, mask=None) -> list[mixing.Mixing]:
    with torch.no_grad():
        out = net(input_ids=ids, attention_mask=torch.ones_like(ids) if mask is None else mask, **mixing.FLAGS)
    return mixing.compute(net, out.hidden_states, out.attentions, mask)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_quantity_matches_the_definitions(family):
    net = small_net(family)
    ids = sentence(9)
    ref = reference(net, ids)
    with torch.no_grad():
        out = net(input_ids=ids, **mixing.FLAGS)
    (got,) = mixing.compute(net, out.hidden_states, out.attentions)
    attention = torch.stack(out.attentions)[:, 0].numpy()
    np.testing.assert_allclose(got.norms, ref["norms"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mixing.value_weighted(attention, got.norms), ref["value_weighted"], atol=1e-12)
    np.testing.assert_allclose(got.contributions, ref["contributions"], atol=1e-12)
    np.testing.assert_allclose(mixing.contribution_rollout(got.contributions), ref["rollout"], atol=1e-12)
    for rows in (mixing.value_weighted(attention, got.norms), got.contributions,
                 mixing.contribution_rollout(got.contributions)):
        np.testing.assert_allclose(rows.sum(-1), 1.0, atol=1e-12)
    assert got.norms.dtype == got.contributions.dtype == np.float64
    # the residual keeps much of each token's own information: a dropped [i = j] x_i would show here
    assert np.diagonal(got.contributions, axis1=1, axis2=2).mean() > 1 / got.contributions.shape[-1]


@pytest.mark.parametrize("family", FAMILIES)
def test_the_pieces_add_up_to_the_layernorm_input_the_model_sees(family):
    """Σ_j T_i(x_j) + b_O against the LayerNorm's input captured by a hook, in a padded batch."""
    net = small_net(family)
    ids = torch.cat([sentence(8, 2), sentence(8, 3)])
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    out, _, norm_inputs = run_captured(net, ids, mask)
    for l, seen in enumerate(norm_inputs):
        pieces = mixing.decomposition(net, out.hidden_states, out.attentions, l, mask)  # [batch, i, j, d]
        y = pieces.sum(2) + parts(net, l)[2].bias.detach()
        np.testing.assert_allclose(y[0].numpy(), seen[0].numpy(), atol=1e-12)
        np.testing.assert_allclose(y[1, :5].numpy(), seen[1, :5].numpy(), atol=1e-12)


@pytest.mark.parametrize("family", ["bert", "roberta", "distilbert"])
def test_a_padded_batch_gives_what_each_sentence_gives_alone(family):
    net = small_net(family)
    lengths = (9, 4, 7)
    alone = [computed(net, sentence(n, seed))[0] for seed, n in enumerate(lengths)]
    ids = torch.full((len(lengths), max(lengths)), net.config.pad_token_id)
    mask = torch.zeros_like(ids)
    for row, (seed, n) in enumerate(zip(range(len(lengths)), lengths)):
        ids[row, :n], mask[row, :n] = sentence(n, seed)[0], 1
    with torch.no_grad():
        out = net(input_ids=ids, attention_mask=mask, **mixing.FLAGS)
    batched = mixing.compute(net, out.hidden_states, out.attentions, mask)
    # the padding's hidden states made huge and given attention: nothing of it may reach a real token's numbers
    loud = tuple(torch.where(mask[..., None].bool(), h, 1e6 * torch.randn_like(h)) for h in out.hidden_states)
    heard = tuple(a + 0.5 * (1 - mask)[:, None, None, :] for a in out.attentions)
    shouted = mixing.compute(net, loud, heard, mask)
    for one, many, other, n in zip(alone, batched, shouted, lengths):
        assert many.norms.shape == (3, 4, n) and many.contributions.shape == (3, n, n)
        for got in (many, other):
            np.testing.assert_allclose(got.norms, one.norms, rtol=1e-9)
            np.testing.assert_allclose(got.contributions, one.contributions, atol=1e-10)


def test_chunks_give_the_same_numbers_and_cover_every_row_once():
    net = small_net("bert")
    ids = torch.cat([sentence(7, 4), sentence(7, 5), sentence(7, 6)])
    with torch.no_grad():
        out = net(input_ids=ids, **mixing.FLAGS)
    whole = mixing.compute(net, out.hidden_states, out.attentions)
    row = 7 * 32 * 8  # bytes of one row's T_i(x_j) for all j
    for budget in (1, 3 * row, 7 * row, 15 * row):  # one row; rows of one sentence; one sentence; two
        for a, b in zip(whole, mixing.compute(net, out.hidden_states, out.attentions, budget=budget)):
            np.testing.assert_allclose(b.contributions, a.contributions, atol=1e-13)
        pieces = mixing._chunks(3, 7, 32, budget)
        covered = sorted((s, i) for part, first, rows in pieces for s in range(3)[part]
                         for i in range(first, first + rows))
        assert covered == [(s, i) for s in range(3) for i in range(7)]
        biggest = max(len(range(3)[part]) * rows for part, _, rows in pieces)
        assert biggest * row <= max(budget, row)


def one_layer(zero_value: bool, focused: bool, all_zero: bool = False):
    """A hand-built 1-layer BERT (d = 4, 2 heads) and inputs_embeds of 5 tokens whose layer inputs are
    known: token 2's is along u = (1, −1, 0, 0), which W_V maps to 0 (b_V = 0), the others are orthogonal
    to u. focused: the keys make every query put almost all its weight on token 2."""
    from transformers import BertConfig, BertModel
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=10, hidden_size=4, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8)
    cfg._attn_implementation = "eager"
    net = BertModel(cfg, add_pooling_layer=False).eval().double()
    u = torch.tensor([1.0, -1.0, 0.0, 0.0], dtype=torch.float64)
    with torch.no_grad():
        emb = net.embeddings
        emb.position_embeddings.weight.zero_()
        emb.token_type_embeddings.weight.zero_()
        emb.LayerNorm.weight.fill_(1.0)
        emb.LayerNorm.bias.zero_()
        attn = net.encoder.layer[0].attention.self
        w_v = torch.tensor([[1.0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 1, 1]], dtype=torch.float64)
        attn.value.weight.copy_(0 * w_v if all_zero else w_v)
        attn.value.bias.zero_()
        if not zero_value:
            attn.value.bias.fill_(0.5)
        if focused:  # every query is q; a key is 10 (u·x_j / |u|²) q: large for token 2, 0 for the others
            q = torch.tensor([1.0, 2.0, 1.0, 2.0], dtype=torch.float64)
            attn.query.weight.zero_()
            attn.query.bias.copy_(q)
            attn.key.weight.copy_(10 * torch.outer(q, u) / u.dot(u))
            attn.key.bias.zero_()
    others = torch.tensor([[1.0, 1, -1, -1], [0, 0, 1, -1], [1, 1, -2, 0], [2, 2, -1, -3]], dtype=torch.float64)
    embeds = torch.cat([others[:2], u[None], others[2:]])[None]
    with torch.no_grad():
        out = net(inputs_embeds=embeds, **mixing.FLAGS)
    assert torch.allclose(out.hidden_states[0][0, 2] @ u, torch.tensor(2 * 2 ** 0.5, dtype=torch.float64))
    return net, out


@pytest.mark.parametrize("focused", [False, True])
def test_a_token_with_a_zero_value_vector_passes_on_nothing_whatever_its_weight(focused):
    net, out = one_layer(zero_value=True, focused=focused)
    (got,) = mixing.compute(net, out.hidden_states, out.attentions)
    attention = out.attentions[0][0].numpy()
    if focused:
        assert attention[:, :, 2].min() > 0.99  # by weight, token 2 is nearly all every head looks at
    assert np.all(got.norms[0, :, 2] == 0)
    vw = mixing.value_weighted(attention[None], got.norms)
    assert np.all(vw[..., 2] == 0)
    np.testing.assert_allclose(vw.sum(-1), 1.0)
    others = [i for i in range(5) if i != 2]
    assert np.all(got.contributions[0, others, 2] == 0)
    assert got.contributions[0, 2, 2] > 0  # its own residual still carries it to itself
    # the same model with b_V ≠ 0: token 2's value is no longer zero, and it is no longer left out
    net, out = one_layer(zero_value=False, focused=focused)
    (got,) = mixing.compute(net, out.hidden_states, out.attentions)
    assert np.all(got.norms[0, :, 2] > 0)
    assert got.contributions[0, others, 2].max() > 0


def test_no_values_at_all_leaves_the_rows_empty_and_only_the_residual():
    net, out = one_layer(zero_value=True, focused=False, all_zero=True)
    (got,) = mixing.compute(net, out.hidden_states, out.attentions)
    assert np.all(got.norms == 0)
    vw = mixing.value_weighted(out.attentions[0][0].numpy()[None], got.norms)
    assert np.all(vw == 0)  # nothing to normalise: zeros, not NaN
    cls = np.array([True, False, False, False, False])
    assert np.all(np.isnan(mixing.cls_norm(vw, cls)))  # not applicable: left out of any mean
    np.testing.assert_allclose(got.contributions[0], np.eye(5), atol=1e-15)  # each token keeps only itself


def test_cls_norm_and_sep_norm_are_the_mean_share_over_live_rows():
    rng = np.random.default_rng(0)
    attention = rng.random((2, 3, 6, 6))
    attention /= attention.sum(-1, keepdims=True)
    norms = rng.random((2, 3, 6))
    norms[1, 2] = 0  # every row of layer 2, head 3 is empty
    attention[0, 1, 4] = 0  # row 4 of layer 1, head 2 is empty: left out of that head's mean
    vw = mixing.value_weighted(attention, norms)
    cls, sep = np.zeros(6, dtype=bool), np.zeros(6, dtype=bool)
    cls[0], sep[[3, 5]] = True, True
    for function, at in ((mixing.cls_norm, cls), (mixing.sep_norm, sep)):
        got = function(vw, at)
        for l in range(2):
            for h in range(3):
                shares = []
                for i in range(6):
                    n = [attention[l, h, i, j] * norms[l, h, j] for j in range(6)]
                    if sum(n) > 0:
                        shares.append(sum(n[j] for j in range(6) if at[j]) / sum(n))
                if shares:
                    assert got[l, h] == pytest.approx(np.mean(shares), abs=1e-14)
                else:
                    assert np.isnan(got[l, h])
    assert np.isnan(mixing.cls_norm(vw, cls)[1, 2]) and not np.isnan(mixing.cls_norm(vw, cls)[0, 1])


@pytest.mark.parametrize("fixture", ["tiny_bert", "tiny_roberta"])
def test_a_float32_model_from_disk_batched_and_against_float64(fixture, request):
    """The gallery's own loading (model.load: eager attention, float32) and tokenizer padding."""
    loaded = model.load(str(request.getfixturevalue(fixture)), fallback=False, device="cpu")
    texts = ["The cat sat on the mat and looked around.", "A dog ran."]
    enc = loaded.tokenizer(texts, padding=True, return_tensors="pt")
    out = loaded.net(**enc, **mixing.FLAGS)
    batched = mixing.compute(loaded.net, out.hidden_states, out.attentions, enc["attention_mask"])
    wide = loaded.net.double()  # the same weights in float64: what float32 costs in accuracy
    for text, got in zip(texts, batched):
        one = loaded.tokenizer(text, return_tensors="pt")
        assert got.contributions.shape[-1] == one["input_ids"].shape[1]
        out64 = wide(**one, **mixing.FLAGS)
        (exact,) = mixing.compute(wide, out64.hidden_states, out64.attentions)
        np.testing.assert_allclose(got.norms, exact.norms, rtol=1e-4)
        np.testing.assert_allclose(got.contributions, exact.contributions, atol=1e-5)


def test_other_families_and_passes_without_the_flags_get_one_line():
    import transformers as tf
    cfg = tf.AlbertConfig(vocab_size=50, embedding_size=8, hidden_size=16, num_hidden_layers=1,
                          num_attention_heads=2, intermediate_size=16)
    albert = tf.AlbertForMaskedLM(cfg).eval()
    assert mixing.reason_unsupported(albert) == "value norms and contributions are not available for albert models"
    net = small_net("bert")
    assert mixing.reason_unsupported(net) is None
    ids = sentence(5)
    with torch.no_grad():
        plain = net(input_ids=ids, output_attentions=True)
    with pytest.raises(ValueError, match="mixing.FLAGS"):
        mixing.compute(net, plain.hidden_states, plain.attentions)
    net.bert.encoder.layer[1].attention.output.LayerNorm = torch.nn.Identity()
    reason = mixing.reason_unsupported(net)
    assert reason.endswith("its layers are not laid out as BERT's") and "\n" not in reason
    with pytest.raises(ValueError, match="not laid out"):
        mixing.compute(net, plain.hidden_states, plain.attentions)
