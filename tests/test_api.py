"""The notebook API: the site's numbers for one sentence, and a view that works inline. Random-weight models:
mechanics only."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from bertgallery import analyse, api, heads, names
from bertgallery.config import ConfigError
from conftest import working_folder


def test_the_same_predictions_tokens_and_statistics_as_the_sites_data_json(sample_site):
    data = json.loads((sample_site / "cat" / "data.json").read_text())
    with working_folder(sample_site.parent):
        r = analyse(data["text"], model="./tiny-model", top_k=4)
    assert r.tokens == data["tokens"] and r.filled == data["filled"]
    got = [[(p.token, p.probability) for p in m.predictions] for m in r.masks]
    expected = [[(p["token"], p["probability"]) for p in m["predictions"]] for m in data["masks"]]
    assert [[t for t, _ in m] for m in got] == [[t for t, _ in m] for m in expected]
    np.testing.assert_allclose([p for m in got for _, p in m], [p for m in expected for _, p in m], rtol=1e-4)
    for h, d in zip(r.heads, data["heads"]):
        assert (h.layer, h.head, h.tags) == (d["layer"], d["head"], d["tags"])
        stored = [np.nan if d[k] is None else d[k] for k in heads.KEYS]  # null: not applicable (cross)
        np.testing.assert_allclose(h.values, stored, rtol=1e-4, atol=1e-6)
    assert r.attention.shape == (2, 3, len(r.tokens), len(r.tokens))
    np.testing.assert_allclose(r.attention.sum(-1), 1, atol=1e-5)
    np.testing.assert_allclose(r.masks[0].importance, data["masks"][0]["importance"]["values"], rtol=1e-3,
                               atol=1e-8)


def test_a_sentence_is_checked_as_the_site_checks_it(tiny_bert):
    for text, message in (("", "the sentence is empty"), ("no mask", "the sentence has no [MASK]"),
                          ("word " * 5000 + "[MASK]", "the sentence is 25,006 characters long; at most 20,000")):
        with pytest.raises(ConfigError, match=re.escape(message)):
            analyse(text, model=str(tiny_bert))
    r = analyse("  The   cat sat on the [MASK].  ", model=str(tiny_bert))
    assert r.text == "The cat sat on the [MASK]." and r.info.name == str(tiny_bert)


@pytest.mark.parametrize("call, kind, message", [
    (dict(text=123), TypeError, "the sentence must be text, not int 123"),
    (dict(text="Caf\udce9 [MASK]"), ValueError, "the sentence is not text: it holds '\\udce9' at character 4, a "
                                                "lone surrogate"),
    (dict(top_k=2.5), TypeError, "top_k must be a whole number, not float 2.5"),
    (dict(top_k=True), TypeError, "top_k must be a whole number, not bool True"),
    (dict(top_k=0), ValueError, "top_k must be between 1 and 100, not 0"),
    (dict(model=None), TypeError, "model must be a hub id, a model folder or 'offline' (text), or a model from "
                                  "bertgallery.api.load, not NoneType None"),
    (dict(model=["offline"]), TypeError, "model must be a hub id"),
    (dict(model=" "), ValueError, "model is empty"),
    (dict(model="./no-such-folder"), ValueError, "model folder ./no-such-folder does not exist"),
    (dict(model=Path("org/no-such-folder")), ValueError, "model folder ./org/no-such-folder does not exist"),
    (dict(top_k=np.float64(2)), TypeError, "top_k must be a whole number, not float64"),
    (dict(top_k=np.bool_(True)), TypeError, "top_k must be a whole number, not bool"),
    (dict(colormap=None), TypeError, "colormap must be the name of a matplotlib colour map, not NoneType None"),
    (dict(colormap="virdis"), ValueError, "colormap: unknown matplotlib colormap 'virdis' (did you mean 'viridis'?)"),
    (dict(importance="grad"), ValueError, "importance must be one of gradient, ablation, not 'grad'"),
    (dict(fallback="no"), TypeError, "fallback must be True or False, not str 'no'"),
    (dict(device="gpu"), ValueError, "device must be one of auto, cpu, cuda, not 'gpu'"),
    (dict(hub_timeout="soon"), TypeError, "hub_timeout must be a number of seconds, not str 'soon'"),
    (dict(hub_timeout=0), ValueError, "hub_timeout must be a number of seconds above 0 and at most 3600, not 0"),
    (dict(hub_timeout=float("nan")), ValueError, "hub_timeout must be a number of seconds above 0"),
])
def test_arguments_are_checked_as_the_command_line_checks_them(call, kind, message, tmp_path, monkeypatch):
    """A ValueError or TypeError whose text is one line, as the command line prints it, before any model is
    loaded (no torch traceback, no AttributeError from inside)."""
    monkeypatch.chdir(tmp_path)
    args = {"text": "The cat sat on the [MASK].", **call}
    with pytest.raises(kind) as e:
        analyse(args.pop("text"), **args)
    assert str(e.value).startswith(message) and "\n" not in str(e.value), str(e.value)
    if "model" in call:
        with pytest.raises(kind, match=re.escape(message[:40])):
            api.load(call["model"])


def test_the_hub_timeout_reaches_the_model_loader(monkeypatch):
    """As --hub-timeout does: how long a notebook waits for a hub that does not answer."""
    seen = []
    monkeypatch.setattr(api.models, "load", lambda *args: seen.append(args) or None)
    api._load.cache_clear()
    api.load("some/model", hub_timeout=3)
    assert seen == [("some/model", True, False, "auto", 3.0)]
    api._load.cache_clear()


def test_a_picture_is_asked_for_by_whole_numbers(tiny_bert):
    r = analyse("A [MASK] sat.", model=str(tiny_bert))
    for layer, head in ((1.0, 1), (1, "2"), (True, 1)):
        with pytest.raises(TypeError, match="must be a whole number"):
            r.head(layer, head)


def test_a_path_and_numpy_integers_are_taken_as_a_folder_and_numbers(tiny_bert):
    """A pathlib.Path for the model and numpy's integers (an argmax) were refused: not text, not int."""
    assert isinstance(tiny_bert, Path)
    r = analyse("A [MASK] sat.", model=tiny_bert, top_k=np.int64(2))
    assert len(r.masks[0].predictions) == 2
    assert r.head(np.int64(2), np.int32(3)).name == names.head_png(2, 3)


def test_the_model_is_loaded_once_and_pictures_are_the_sites(tiny_bert, sample_site, tmp_path):
    api._load.cache_clear()
    first = analyse("A [MASK] sat.", model=str(tiny_bert))
    analyse("Another [MASK].", model=str(tiny_bert))
    assert api._load.cache_info().hits == 1  # the second call reused the loaded model
    written = first.save_pngs(tmp_path / "pictures")
    assert sorted(p.name for p in written) == sorted(names.head_png(l, h) for l in (1, 2) for h in (1, 2, 3))
    assert first.head(2, 3).png == (tmp_path / "pictures" / "Attention_Layer2_Head3.png").read_bytes()
    with pytest.raises(ValueError, match="no layer 3, head 1"):
        first.head(3, 1)
    # the picture equals the site's for the same sentence and model
    data = json.loads((sample_site / "cat" / "data.json").read_text())
    with working_folder(sample_site.parent):
        same = analyse(data["text"], model="./tiny-model", top_k=4)
    assert same.head(1, 2).png == (sample_site / "cat" / "Attention_Layer1_Head2.png").read_bytes()


def test_the_inline_view_works_alone_in_a_browser_and_twice_on_a_page(tiny_bert, tmp_path, browser):
    """_repr_html_ saved into a page: no console error, no request beyond the page itself; hovering a token
    in one view changes that view only."""
    a = analyse("The cat sat on the [MASK].", model=str(tiny_bert))
    b = analyse("I [MASK] to the [MASK] every day.", model=str(tiny_bert))
    html = a._repr_html_() + b._repr_html_()
    assert "<link" not in html and "src=" not in html  # nothing to fetch
    page_file = tmp_path / "notebook.html"
    page_file.write_text(f"<!doctype html><html lang='en'><body>{html}</body></html>", encoding="utf-8")
    page = browser.new_page()
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(page_file.as_uri())
    views = page.locator(".bg-explorer")
    assert views.count() == 2
    before = [views.nth(k).locator(".bg-status").inner_text() for k in (0, 1)]
    views.nth(1).locator(".bg-from .bg-tok").nth(1).hover()
    after = [views.nth(k).locator(".bg-status").inner_text() for k in (0, 1)]
    assert after[0] == before[0] and after[1] != before[1] and "i →" in after[1]
    views.nth(0).locator(".bg-head").nth(1).dispatch_event("dblclick")
    assert views.nth(0).locator(".bg-head[aria-pressed=true]").count() == 1
    assert views.nth(1).locator(".bg-head[aria-pressed=true]").count() == 1
    assert errors == [] and requests == [page_file.as_uri()]
    page.close()


def by_definition(folder, text: str) -> dict:
    """Value-weighted attention, contributions and the contribution rollout for one sentence, written out from
    their definitions (docs/mixing.md) with loops over the model's own modules: each layer's input x and each
    attention block's LayerNorm input y captured by hooks in a forward pass of its own, the heads' slices of
    W_V, b_V and W_O taken by hand, float64 from there on."""
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(folder)
    net = AutoModelForMaskedLM.from_pretrained(folder, attn_implementation="eager").eval()
    enc = tok(text.replace("[MASK]", tok.mask_token), return_tensors="pt")
    layers, xs, ys = net.bert.encoder.layer, [], []
    handles = [h for layer in layers for h in (
        layer.register_forward_pre_hook(lambda m, a, k: xs.append((a[0] if a else k["hidden_states"])[0].double()),
                                        with_kwargs=True),
        layer.attention.output.LayerNorm.register_forward_pre_hook(lambda m, a: ys.append(a[0][0].double())))]
    with torch.no_grad():
        out = net(**enc, output_attentions=True)
    for h in handles:
        h.remove()
    heads_n, T = net.config.num_attention_heads, enc["input_ids"].shape[1]
    vw, contributions = [], []
    for l, layer in enumerate(layers):
        x, alpha = xs[l].numpy(), out.attentions[l][0].double().numpy()
        w_v, b_v = (p.double().numpy() for p in (layer.attention.self.value.weight, layer.attention.self.value.bias))
        dense = layer.attention.output.dense
        w_o, b_o = dense.weight.double().numpy(), dense.bias.double().numpy()
        norm = layer.attention.output.LayerNorm
        gamma, eps = norm.weight.double().numpy(), norm.eps
        size = w_v.shape[0] // heads_n
        cut = [slice(h * size, (h + 1) * size) for h in range(heads_n)]
        f = np.array([[w_o[:, cut[h]] @ (w_v[cut[h]] @ x[j] + b_v[cut[h]]) for j in range(T)]
                      for h in range(heads_n)])  # [heads, T, d]
        n = np.array([[[alpha[h, i, j] * np.linalg.norm(f[h, j]) for j in range(T)] for i in range(T)]
                      for h in range(heads_n)])
        vw.append(n / n.sum(-1, keepdims=True))
        pieces = np.array([[sum(alpha[h, i, j] * f[h, j] for h in range(heads_n)) + (x[i] if i == j else 0)
                            for j in range(T)] for i in range(T)])  # T_i(x_j): [i, j, d]
        y = pieces.sum(1) + b_o
        np.testing.assert_allclose(y, ys[l].numpy(), atol=1e-4)  # the LayerNorm's real input
        scale = np.sqrt(y.var(-1) + eps)
        tilde = gamma * (pieces - pieces.mean(-1, keepdims=True)) / scale[:, None, None]
        whole = tilde.sum(1)
        c = np.array([[max(0.0, np.abs(whole[i]).sum() - np.abs(whole[i] - tilde[i, j]).sum()) for j in range(T)]
                      for i in range(T)])
        contributions.append(c / c.sum(-1, keepdims=True))
    flow, rollout = np.eye(T), []
    for c in contributions:
        flow = c @ flow
        rollout.append(flow)
    ids = enc["input_ids"][0].tolist()
    return {"value_weighted": np.array(vw), "contributions": np.array(contributions), "rollout": np.array(rollout),
            "masks": [k for k, i in enumerate(ids) if i == tok.mask_token_id],
            "cls": np.array([i == tok.cls_token_id for i in ids]),
            "sep": np.array([i == tok.sep_token_id for i in ids])}


def test_value_weighted_contributions_and_contribution_rollout_are_their_definitions(sample_site):
    """Issue 25: analyse()'s .value_weighted (rows sum to 1), .contributions and each mask's
    .contribution_rollout, and data.json's masks[].contribution_rollout, cls_norm and sep_norm, against loops
    from the definitions on the sample's own model."""
    slug = "i-mask-to-the-mask-every-day"
    data = json.loads((sample_site / slug / "data.json").read_text())
    with working_folder(sample_site.parent):
        r = analyse(data["text"], model="./tiny-model", top_k=4)
        expected = by_definition("./tiny-model", data["text"])
    layers, per_layer, T = 2, 3, len(r.tokens)
    assert r.value_weighted.shape == (layers, per_layer, T, T) and r.contributions.shape == (layers, T, T)
    np.testing.assert_allclose(r.value_weighted.sum(-1), 1, atol=1e-9)
    np.testing.assert_allclose(r.value_weighted, expected["value_weighted"], atol=1e-5)
    np.testing.assert_allclose(r.contributions.sum(-1), 1, atol=1e-9)
    np.testing.assert_allclose(r.contributions, expected["contributions"], atol=1e-5)
    assert [m.index for m in r.masks] == expected["masks"] and len(r.masks) == 2
    for mask, stored in zip(r.masks, data["masks"]):
        np.testing.assert_allclose(mask.contribution_rollout, expected["rollout"][:, mask.index], atol=1e-5)
        np.testing.assert_allclose(stored["contribution_rollout"], expected["rollout"][:, mask.index], atol=1e-4)
    vw = expected["value_weighted"]
    for h in data["heads"]:
        l, k = h["layer"] - 1, h["head"] - 1
        assert h["cls_norm"] == pytest.approx(vw[l, k][:, expected["cls"]].sum(-1).mean(), abs=1e-5)
        assert h["sep_norm"] == pytest.approx(vw[l, k][:, expected["sep"]].sum(-1).mean(), abs=1e-5)
    assert data["mixing_note"] == "" and r.mixing_note == ""
