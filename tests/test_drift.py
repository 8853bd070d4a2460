"""models/attention_drift.py: the Jensen-Shannon and argmax arithmetic on hand-checked rows, then the script
on the real models (the pip-installed MiniLM encoder, with and without the shipped artefact)."""
import math
import re
import sys

import numpy as np
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "models"))
import attention_drift as ad  # noqa: E402

LN2 = math.log(2)


def softmax_rows(rng, shape):
    x = np.exp(rng.normal(size=shape) * 3)
    return (x / x.sum(-1, keepdims=True)).astype(np.float32)


def test_js_of_identical_rows_is_zero():
    p = softmax_rows(np.random.default_rng(0), (50, 9))
    assert np.all(ad.js_divergence(p, p) == pytest.approx(0, abs=1e-12))
    assert ad.js_divergence([0.0, 1.0, 0.0], [0.0, 1.0, 0.0]) == 0  # 0 ln 0 = 0, no nan


@pytest.mark.parametrize("p, q", [([1, 0], [0, 1]), ([1, 0, 0], [0, 0, 1]), ([0.5, 0.5, 0, 0], [0, 0, 0.3, 0.7])])
def test_js_of_rows_with_nothing_in_common_is_ln2(p, q):
    assert ad.js_divergence(p, q) == pytest.approx(LN2, abs=1e-12)


def test_js_is_symmetric_and_between_0_and_ln2():
    rng = np.random.default_rng(1)
    p, q = softmax_rows(rng, (200, 12)), softmax_rows(rng, (200, 12))
    assert np.allclose(ad.js_divergence(p, q), ad.js_divergence(q, p), rtol=0, atol=1e-15)
    js = ad.js_divergence(p, q)
    assert js.shape == (200,) and np.all(js > 0) and np.all(js <= LN2)


def test_js_hand_checked():
    # P = (1, 0), Q = (1/2, 1/2), M = (3/4, 1/4): KL(P||M) = ln 4/3, KL(Q||M) = 1/2 ln 2/3 + 1/2 ln 2 = 1/2 ln 4/3
    assert ad.js_divergence([1, 0], [0.5, 0.5]) == pytest.approx(0.75 * math.log(4 / 3), abs=1e-12)


def test_identical_attention_has_every_argmax_unchanged_and_no_divergence():
    rng = np.random.default_rng(2)
    att = [softmax_rows(rng, (6, 12, t, t)) for t in (5, 9, 14)]
    d = ad.drift(att, [a.copy() for a in att])
    assert d.argmax_unchanged == [1.0] * 6 and d.overall_argmax_unchanged == 1.0
    assert d.mean_js == pytest.approx([0.0] * 6, abs=1e-12) and d.overall_mean_js == pytest.approx(0, abs=1e-12)
    assert (d.rows_per_layer, d.tokens) == (12 * 28, 28)


def test_small_example_by_hand():
    """Two sentences (2 and 3 tokens), 2 layers x 1 head. Layer 1 is the same in both models. Layer 2 changes
    two of its five rows: (1,0) -> (0,1), JS ln 2, and (1,0,0) -> (1/4,3/4,0), whose JS is by hand
    1/2 ln(1/0.625) + 1/2 (1/4 ln(0.25/0.625) + 3/4 ln(0.75/0.375)) = 0.380396..."""
    eye2, eye3 = np.eye(2), np.eye(3)
    base = [np.stack([eye2, eye2])[:, None], np.stack([eye3, eye3])[:, None]]
    tuned2 = eye2.copy()
    tuned2[0] = [0, 1]
    tuned3 = eye3.copy()
    tuned3[0] = [0.25, 0.75, 0]
    tuned = [np.stack([eye2, tuned2])[:, None], np.stack([eye3, tuned3])[:, None]]
    j = 0.5 * math.log(1 / 0.625) + 0.5 * (0.25 * math.log(0.25 / 0.625) + 0.75 * math.log(0.75 / 0.375))
    assert j == pytest.approx(0.380396, abs=1e-6)
    d = ad.drift(base, tuned)
    assert d.argmax_unchanged == pytest.approx([1.0, 3 / 5])
    assert d.mean_js == pytest.approx([0.0, (LN2 + j) / 5], abs=1e-12)
    assert d.overall_argmax_unchanged == pytest.approx(8 / 10)
    assert d.overall_mean_js == pytest.approx((LN2 + j) / 10, abs=1e-12)
    assert ad.table(d).splitlines()[2:] == ["| 1 | 100.0 % | 0.000 |", "| 2 | 60.0 % | 0.215 |",
                                            "| all | 80.0 % | 0.107 |"]


def test_mismatched_attention_is_refused():
    with pytest.raises(ValueError):
        ad.drift([np.ones((2, 1, 3, 3)) / 3], [np.ones((2, 1, 4, 4)) / 4])
    with pytest.raises(ValueError):
        ad.drift([], [])


def test_the_sentence_set_is_everyday_tsv_and_sentences_yaml_each_once():
    texts = ad.sentences()
    assert len(texts) == 35 == len(set(texts))  # 30 + 8, three of them in both files
    assert all("[MASK]" in t for t in texts)
    assert texts[0] == "I went to the [MASK] to buy some milk."
    assert texts[-1] == "The trophy did not fit in the suitcase because the [MASK] was too big."


@pytest.mark.offline_model
def test_script_on_the_real_offline_model(capsys):
    ad.main([])
    out = capsys.readouterr().out
    rows = re.findall(r"^\| (\d|all) \| ([\d.]+) % \| ([\d.]+) \|$", out, flags=re.M)
    assert [r[0] for r in rows] == ["1", "2", "3", "4", "5", "6", "all"], out
    for _, share, js in rows:
        assert 0 <= float(share) <= 100 and 0 <= float(js) <= LN2
    # fine-tuning did move attention, but most rows still pick the same token
    assert 50 < float(rows[-1][1]) < 100 and 0 < float(rows[-1][2]) < 0.3, out
    assert "35 sentences" in out and "overall:" in out
    # what the pages show (offline.DRIFT, on the statistics page of a gallery built with it) is this run
    from bertgallery import offline
    assert [(layer, f"{share} %", js) for layer, share, js in rows] == list(offline.DRIFT), out
