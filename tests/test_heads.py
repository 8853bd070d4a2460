"""Head statistics: synthetic attention with known answers, and a real model against a direct computation."""
import json
import math

import numpy as np
import pytest

from bertgallery import build, config, heads, model, offline

TOKENS = ["[CLS]", "the", "cat", ",", "sat", "on", "the", "mat", ".", "[SEP]"]
T = len(TOKENS)


def one_head(a):
    return heads.head_stats(np.asarray(a, dtype=np.float32)[None, None], TOKENS)[0]


def test_previous_token_head():
    a = np.zeros((T, T))
    a[0, 0] = 1
    for i in range(1, T):
        a[i, i - 1] = 1
    h = one_head(a)
    assert h["prev"] == pytest.approx(1) and h["next"] == pytest.approx(0)
    assert "previous token" in h.tags and "next token" not in h.tags
    assert h["entropy"] == pytest.approx(0)


def test_next_token_head():
    a = np.zeros((T, T))
    for i in range(T - 1):
        a[i, i + 1] = 1
    a[T - 1, T - 1] = 1
    h = one_head(a)
    assert h["next"] == pytest.approx(1) and "next token" in h.tags


def test_uniform_attention_is_broad_with_entropy_ln_t():
    h = one_head(np.full((T, T), 1 / T))
    assert h["entropy"] == pytest.approx(math.log(T), abs=1e-5)
    assert h["cls"] == pytest.approx(1 / T) and h["sep"] == pytest.approx(1 / T)
    assert h["punct"] == pytest.approx(2 / T)  # ',' and '.'
    assert h.tags == ["broad"]


def test_all_to_sep_and_all_to_cls():
    a = np.zeros((T, T))
    a[:, T - 1] = 1
    h = one_head(a)
    assert h["sep"] == pytest.approx(1) and h["cls"] == 0 and h.tags == ["[SEP]"]
    b = np.zeros((T, T))
    b[:, 0] = 1
    assert one_head(b)["cls"] == pytest.approx(1) and "[CLS]" in one_head(b).tags


def test_punctuation_tokens():
    assert heads.is_punct(",") and heads.is_punct("...") and heads.is_punct("##.") and heads.is_punct("—")
    assert not heads.is_punct("[SEP]") and not heads.is_punct("a.") and not heads.is_punct("")
    a = np.zeros((T, T))
    a[:, 3] = 0.5
    a[:, 8] = 0.5
    h = one_head(a)
    assert h["punct"] == pytest.approx(1) and "punctuation" in h.tags


def test_self_head():
    h = one_head(np.eye(T))
    assert h["self"] == pytest.approx(1) and h.tags == ["self"]


def direct(a, tokens, cls="[CLS]", sep="[SEP]"):
    """The definitions written out with loops, as an independent check of the vectorised code."""
    n = len(tokens)
    out = {}
    out["cls"] = sum(sum(a[i][j] for j in range(n) if tokens[j] == cls) for i in range(n)) / n
    out["sep"] = sum(sum(a[i][j] for j in range(n) if tokens[j] == sep) for i in range(n)) / n
    out["punct"] = sum(sum(a[i][j] for j in range(n) if heads.is_punct(tokens[j])) for i in range(n)) / n
    out["self"] = sum(a[i][i] for i in range(n)) / n
    out["prev"] = sum(a[i][i - 1] for i in range(1, n)) / (n - 1)
    out["next"] = sum(a[i][i + 1] for i in range(n - 1)) / (n - 1)
    out["entropy"] = sum(-sum(a[i][j] * math.log(a[i][j]) for j in range(n) if a[i][j] > 0) for i in range(n)) / n
    return out


def direct_by_value(a, norms, tokens, cls="[CLS]", sep="[SEP]"):
    """cls_norm and sep_norm from their definitions: per row i, N[i, j] = a[i][j] norms[j] / Σ_k a[i][k] norms[k];
    the share on the [CLS] (or [SEP]) positions, averaged over the rows N has anything in."""
    n, out = len(tokens), {}
    for key, kind in (("cls_norm", cls), ("sep_norm", sep)):
        shares = []
        for i in range(n):
            total = sum(a[i][k] * norms[k] for k in range(n))
            if total > 0:
                shares.append(sum(a[i][j] * norms[j] for j in range(n) if tokens[j] == kind) / total)
        out[key] = sum(shares) / len(shares) if shares else float("nan")
    return out


def value_norms_by_hooks(net, inputs) -> np.ndarray:
    """‖f_h(x_j)‖ = ‖W_O[:, h] (W_V[h] x_j + b_V[h])‖ [layers, heads, T], each layer's input x captured by a
    hook on the layer (not read from the hidden states the code uses) and each head's slices taken by hand."""
    import torch
    layers, captured = net.base_model.encoder.layer, []
    handles = [layer.register_forward_pre_hook(
        lambda m, args, kwargs: captured.append((args[0] if args else kwargs["hidden_states"])[0].double().numpy()),
        with_kwargs=True) for layer in layers]
    try:
        with torch.no_grad():
            net(**inputs)
    finally:
        for h in handles:
            h.remove()
    heads_n = net.config.num_attention_heads
    out = []
    for x, layer in zip(captured, layers):
        w_v, b_v = (p.double().numpy() for p in (layer.attention.self.value.weight, layer.attention.self.value.bias))
        w_o = layer.attention.output.dense.weight.double().numpy()
        size = w_v.shape[0] // heads_n
        out.append([[np.linalg.norm(w_o[:, h * size:(h + 1) * size] @ (w_v[h * size:(h + 1) * size] @ x[j]
                                                                       + b_v[h * size:(h + 1) * size]))
                     for j in range(len(x))] for h in range(heads_n)])
    return np.array(out)


def test_by_value_norms_a_head_can_look_at_cls_and_take_nothing_from_it():
    """All weight on [CLS] whose value vector is 0: the row has nothing (left out, so NaN); half on [CLS] (norm
    0) and half on 'cat' (norm 1): cls_norm 0; norms equal everywhere: the shares by weights."""
    a = np.zeros((T, T))
    a[:, 0] = 1
    norms = np.ones((1, 1, T))
    norms[..., 0] = 0
    h = heads.head_stats(a[None, None], TOKENS, norms=norms)[0]
    assert h["cls"] == pytest.approx(1) and np.isnan(h["cls_norm"]) and np.isnan(h["sep_norm"])
    a[:, 0], a[:, 2] = 0.5, 0.5
    h = heads.head_stats(a[None, None], TOKENS, norms=norms)[0]
    assert h["cls"] == pytest.approx(0.5) and h["cls_norm"] == 0 and "[CLS]" not in h.tags
    uniform = heads.head_stats(np.full((1, 1, T, T), 1 / T), TOKENS, norms=np.full((1, 1, T), 3.0))[0]
    assert uniform["cls_norm"] == pytest.approx(1 / T) and uniform["sep_norm"] == pytest.approx(1 / T)
    a = np.zeros((T, T))
    a[:, T - 1] = 1
    h = heads.head_stats(a[None, None], TOKENS, norms=np.ones((1, 1, T)))[0]
    assert h["sep_norm"] == pytest.approx(1) and h.tags == ["[SEP]", "[SEP] by value"]
    assert np.isnan(heads.head_stats(a[None, None], TOKENS)[0]["cls_norm"])  # no norms: not applicable


@pytest.mark.slow
def test_real_model_statistics_in_data_json_match_a_direct_computation(tmp_path):
    """The offline model (real weights): data.json's numbers equal the loops above to 1e-4."""
    cfg_path = tmp_path / "s.yaml"
    cfg_path.write_text("model: offline\nsentences:\n  - {id: s, text: 'The cat, tired, sat on the [MASK].'}\n")
    cfg = config.load(cfg_path)
    build.build(cfg, tmp_path / "site", build.Options(progress=False))
    data = json.loads((tmp_path / "site" / "s" / "data.json").read_text())
    loaded = model.load(offline.NAME)
    result = model.predict(loaded, cfg.sentences[0].text, top_k=1)
    assert data["tokens"] == result.tokens
    assert len(data["heads"]) == 6 * 12
    for stats in data["heads"]:
        a = result.attention[stats["layer"] - 1, stats["head"] - 1].astype(float).tolist()
        for name, value in direct(a, result.tokens).items():
            assert stats[name] == pytest.approx(value, abs=1e-4), (stats["layer"], stats["head"], name)
        assert stats["breadth"] == pytest.approx(stats["entropy"] / math.log(len(result.tokens)), abs=1e-4)
    assert set(data["heads"][0]) == {"layer", "head", "cls", "sep", "punct", "self", "prev", "next", "breadth",
                                     "entropy", "importance", "tags", "strongest", "cls_norm", "sep_norm", "cross"}
    assert all(stats["cross"] is None for stats in data["heads"])  # a single sentence: not applicable
    norms = value_norms_by_hooks(loaded.net, result.inputs)
    for stats in data["heads"]:
        l, h = stats["layer"] - 1, stats["head"] - 1
        for name, value in direct_by_value(result.attention[l, h].astype(float).tolist(), norms[l, h].tolist(),
                                           result.tokens).items():
            assert stats[name] == pytest.approx(value, abs=1e-4), (stats["layer"], stats["head"], name)
    assert 0 < np.mean([s["cls_norm"] for s in data["heads"]]) < np.mean([s["cls"] for s in data["heads"]])
    for stats in data["heads"]:  # the strongest pairs are the head's largest weights, by token position
        a = result.attention[stats["layer"] - 1, stats["head"] - 1]
        top = sorted(a.ravel(), reverse=True)[:3]
        assert [w for _, _, w in stats["strongest"]] == pytest.approx(top, abs=1e-4)
        assert [a[i, j] for i, j, _ in stats["strongest"]] == pytest.approx(top)


def test_totals_mean_spread_tags_and_per_layer():
    n = len(heads.STATISTICS)
    totals = heads.Totals.empty(1, 2)
    a = np.zeros((1, 2, n))
    b = np.ones((1, 2, n))
    b[0, 1] = 0.0
    totals.add(a, 10)
    totals.add(b, 20)
    assert (totals.sentences, totals.tokens) == (2, 30)
    assert totals.means[0, 0].tolist() == [0.5] * n and totals.means[0, 1].tolist() == [0.0] * n
    # standard error of the mean of (0, 1): sample sd 0.7071 / sqrt(2)
    assert totals.stderr[0, 0] == pytest.approx([0.5] * n)
    (first, second) = heads.summaries(totals)
    assert first.tag_counts == {t: 1 for t in heads.TAGS} and second.tag_counts == {}
    assert heads.per_layer(totals, ("cls", "sep")).tolist() == [[0.25, 0.25]]
    merged = totals.merge(totals)
    assert merged.sentences == 4 and np.allclose(merged.means, totals.means)
    assert heads.Totals.from_json(json.loads(json.dumps(totals.to_json()))).to_json() == totals.to_json()


def test_one_table_drives_keys_tags_and_maps():
    keys = [s.key for s in heads.STATISTICS]
    assert keys == list(heads.KEYS) and len(set(keys)) == len(keys)
    for stat in heads.STATISTICS:
        assert stat.label and stat.short and stat.formula and stat.about
        assert not stat.tag or stat.why  # every threshold says where it comes from


def test_a_statistic_of_pairs_only_applies_where_some_sentence_is_a_pair():
    """heads.applicable and Totals.has_pairs: the one rule every page's maps, columns and means follow."""
    uniform = np.full((1, 1, len(TOKENS), len(TOKENS)), 1 / len(TOKENS))
    single = heads.statistics(heads.sentence(uniform, TOKENS))
    pair = heads.statistics(heads.sentence(uniform, TOKENS, segments=[0] * 5 + [1] * 5))
    totals = heads.Totals.empty(1, 1)
    totals.add(single, len(TOKENS))
    assert not totals.has_pairs
    assert [s.key for s in heads.applicable(heads.STATISTICS, totals.has_pairs)] == \
        [k for k in heads.KEYS if k != "cross"]
    totals.add(pair, len(TOKENS))
    assert totals.has_pairs and heads.applicable(heads.STATISTICS, True) == heads.STATISTICS


def test_describe_names_the_strongest_pairs():
    a = np.zeros((3, 3))
    a[1, 0], a[2, 1], a[0, 0] = 0.9, 0.7, 0.5
    pairs = heads.strongest(a, k=2)
    assert pairs == [[1, 0, 0.9], [2, 1, 0.7]]
    values = [0.0] * len(heads.STATISTICS)
    values[heads.INDEX["prev"]] = 0.9
    stats = heads.HeadStats(3, 10, tuple(values), pairs)
    assert heads.describe(stats, ["x", "cat", "sat"]) == \
        "Layer 3, head 10 (previous token): ‘cat’ → ‘x’ 0.90, ‘sat’ → ‘cat’ 0.70"


def first_look_heads():
    """One layer of four heads: one parked on [CLS], a previous-token head, a next-token head with a little
    noise, and a broad one; their values as the site has them."""
    rng = np.random.default_rng(3)
    a = np.zeros((4, T, T))
    a[0, :, 0] = 1
    for i in range(T):
        a[1, i, max(i - 1, 0)] = 1
        a[2, i, min(i + 1, T - 1)] = 1
    a[2] = 0.9 * a[2] + 0.1 / T
    a[3] = rng.random((T, T)) + 0.5
    a[3] /= a[3].sum(-1, keepdims=True)
    stats = heads.head_stats(a[None].astype(np.float32), TOKENS)
    return a, np.array([h.values for h in stats]).reshape(1, 4, -1)


def on_other_words(a):
    """From the attention itself: the share on [CLS], [SEP] and the token itself, under 0.6."""
    special = [0, T - 1]
    return [np.mean([a[h, i, special].sum() + (a[h, i, i] if i not in special else 0) for i in range(T)]) < 0.6
            for h in range(len(a))]


def test_the_explorer_opens_on_the_head_that_does_most_for_the_guess_among_those_that_look_at_words():
    """Not the largest |I| (head 2 works against the guess), nor the largest I (head 1 parks on [CLS]): of the
    heads that look mostly at other words, the one with the largest positive importance."""
    a, values = first_look_heads()
    assert on_other_words(a) == [False, True, True, True]
    importance = np.array([[1.0, -2.0, 0.3, 0.2]])
    assert heads.first_look(values, importance) == heads.FirstLook(1, 3, "supports")
    assert heads.first_look(values, np.array([[1.0, -2.0, 0.2, 0.3]])) == heads.FirstLook(1, 4, "supports")


def test_without_a_supporting_head_it_opens_on_the_most_focused_one_that_looks_at_words():
    a, values = first_look_heads()
    entropy = [np.mean([-sum(w * math.log(w) for w in row if w > 0) for row in a[h]]) for h in range(4)]
    focused = min((e, h) for h, e in enumerate(entropy) if on_other_words(a)[h])[1]
    assert focused == 1  # the previous-token head: one token a row, except the [CLS] row's own
    for importance in (None, np.array([[1.0, -2.0, -0.3, -0.2]])):
        assert heads.first_look(values, importance) == heads.FirstLook(1, focused + 1, "focused")
    # every head parked on [CLS]: the most focused of all, and the page says that none looks at other words
    parked = values.copy()
    parked[..., heads.INDEX["cls"]] = 0.7
    assert heads.first_look(parked, importance) == heads.FirstLook(1, int(np.argmin(entropy)) + 1, "any")


def test_the_head_it_opens_on_is_the_same_from_a_result_read_back_from_data_json():
    """The view is written with the computed result, a later page from data.json's 5 digits of importance:
    two heads that differ only past them must not open one and name the other."""
    from bertgallery.model import Mask, Prediction, ModelInfo
    from bertgallery.records import Result
    _, values = first_look_heads()
    stats = [heads.HeadStats(1, h + 1, tuple(values[0, h])) for h in range(4)]
    mask = Mask(3, [Prediction("cat", 0.5)], importance=np.array([[1.0, -2.0, 0.3000001, 0.3000004]]))
    result = Result("a [MASK].", ["[CLS]", "a", "[MASK]", "."], [mask], "a cat.", stats, 1, 4, [0], (1, 1, 1),
                    (1, 1), (0, 0, 1, 1, 0, 0), (1, 1), (0, 0, 1, 1, 0, 0))
    again = Result.from_json(result.to_json(ModelInfo("m", 1, 4)))
    assert result.first_look() == again.first_look() == heads.FirstLook(1, 3, "supports")
