"""bertgallery/compare.py: the Jensen-Shannon arithmetic on hand-checked rows, then the divergence matrix of a
built gallery of several models recomputed here, directly in numpy, from the attention its pages store."""
import json
import math

import numpy as np
import pytest

from bertgallery import compare, model, names, views

LN2 = math.log(2)


def softmax_rows(rng, shape):
    x = np.exp(rng.normal(size=shape) * 3)
    return x / x.sum(-1, keepdims=True)


def kl(p, q):
    return sum(x * math.log(x / y) for x, y in zip(p, q) if x > 0)


def js_by_hand(p, q):
    m = [(x + y) / 2 for x, y in zip(p, q)]
    return kl(p, m) / 2 + kl(q, m) / 2


def test_js_of_identical_rows_is_zero_and_of_disjoint_rows_ln2():
    p = softmax_rows(np.random.default_rng(0), (50, 9))
    assert np.all(compare.jsd(p, p) == pytest.approx(0, abs=1e-12))
    assert compare.jsd(np.array([0.0, 1.0, 0.0]), np.array([0.0, 1.0, 0.0])) == 0  # 0 ln 0 = 0, no nan
    for p, q in (([1, 0], [0, 1]), ([1, 0, 0], [0, 0, 1]), ([0.5, 0.5, 0, 0], [0, 0, 0.3, 0.7])):
        assert compare.jsd(np.array(p, float), np.array(q, float)) == pytest.approx(LN2, abs=1e-12)


def test_js_hand_checked_and_symmetric():
    # P = (1, 0), Q = (1/2, 1/2), M = (3/4, 1/4): KL(P||M) = ln 4/3, KL(Q||M) = 1/2 ln 2/3 + 1/2 ln 2 = 1/2 ln 4/3
    assert compare.jsd(np.array([1.0, 0]), np.array([0.5, 0.5])) == pytest.approx(0.75 * math.log(4 / 3), abs=1e-12)
    rng = np.random.default_rng(1)
    p, q = softmax_rows(rng, (200, 12)), softmax_rows(rng, (200, 12))
    assert np.allclose(compare.jsd(p, q), compare.jsd(q, p), rtol=0, atol=1e-15)
    assert np.allclose(compare.jsd(p, q), [js_by_hand(a, b) for a, b in zip(p, q)], rtol=0, atol=1e-12)


@pytest.mark.parametrize("chunk", [1, 50, compare.CHUNK])
def test_divergence_is_the_mean_js_of_every_pair_of_heads_in_any_chunks(chunk):
    rng = np.random.default_rng(2)
    a, b = softmax_rows(rng, (4, 5, 5)), softmax_rows(rng, (3, 5, 5))
    want = [[np.mean([js_by_hand(a[x, i], b[y, i]) for i in range(5)]) for y in range(3)] for x in range(4)]
    assert np.allclose(compare.divergence(a, b, chunk), want, rtol=0, atol=1e-12)


def stored(site_folder, sentence, slug):
    """A (model, sentence)'s tokens and its attention as the page stores it (view-data.js, 16 bits)."""
    folder = site_folder / sentence / slug
    return json.loads((folder / names.DATA).read_text())["tokens"], views.read_view((folder / names.VIEW_DATA).read_text())


def direct(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """D for one sentence, [heads A, heads B], head pair by head pair and row by row: the definition."""
    a = a / a.sum(-1, keepdims=True)
    b = b / b.sum(-1, keepdims=True)
    out = np.zeros((a.shape[0], b.shape[0]))
    for x in range(a.shape[0]):
        for y in range(b.shape[0]):
            m = (a[x] + b[y]) / 2
            with np.errstate(divide="ignore", invalid="ignore"):
                kl_a = np.where(a[x] > 0, a[x] * np.log(a[x] / m), 0).sum(-1)
                kl_b = np.where(b[y] > 0, b[y] * np.log(b[y] / m), 0).sum(-1)
            out[x, y] = ((kl_a + kl_b) / 2).mean()
    return out


def words(a: np.ndarray, token_word: np.ndarray) -> np.ndarray:
    """Token attention [H, T, T] merged into words as Clark et al. do, written out: to a word the sum of its
    tokens' columns, from a word the mean of its tokens' rows, tokens in no word dropped, rows renormalised."""
    n = token_word.max() + 1
    to = np.stack([a[..., token_word == w].sum(-1) for w in range(n)], -1)
    rows = np.stack([to[:, token_word == w].mean(1) for w in range(n)], 1)
    return rows / rows.sum(-1, keepdims=True)


@pytest.mark.xdist_group("models-sites")  # one worker builds the sites of several models
def test_the_divergence_matrix_is_a_direct_numpy_computation_on_the_stored_attention(models_sites, tiny_bert,
                                                                                      tiny_roberta):
    site_folder = models_sites["three"][0]
    bert, roberta, minilm = model.slugs([str(tiny_bert), str(tiny_roberta), "minilm"])
    # tiny BERT and MiniLM share bert-base-uncased's WordPiece: token by token
    found = json.loads((site_folder / names.COMPARE / f"{bert}--{minilm}" / names.COMPARE_DATA).read_text())
    assert (found["sentences"], found["token_level"], found["word_level"]) == (2, 2, 0)
    want = np.mean([direct(stored(site_folder, s, bert)[1].reshape(6, *stored(site_folder, s, bert)[1].shape[2:]),
                           stored(site_folder, s, minilm)[1].reshape(72, *stored(site_folder, s, minilm)[1].shape[2:]))
                    for s in ("cat", "two")], axis=0)
    got = np.array(found["divergence"])
    assert got.shape == (2, 3, 6, 12)
    assert np.allclose(got.reshape(6, 72), want, rtol=0, atol=2e-6)  # stored to 6 decimals
    # each head's closest counterpart is the row's smallest D
    assert [c[:2] for c in found["closest"]["a"]] == [[int(j) // 12 + 1, int(j) % 12 + 1] for j in want.argmin(1)]
    # tiny BERT and tiny RoBERTa split the sentences differently: word by word
    found = json.loads((site_folder / names.COMPARE / f"{bert}--{roberta}" / names.COMPARE_DATA).read_text())
    assert (found["token_level"], found["word_level"]) == (0, 2)
    per = []
    for s in ("cat", "two"):
        text = json.loads((site_folder / s / bert / names.DATA).read_text())["text"]
        sides = []
        for slug, folder in ((bert, tiny_bert), (roberta, tiny_roberta)):
            tokens, att = stored(site_folder, s, slug)
            token_word = compare.words_of(text, model.tokenizer(model.Resolved(str(folder), "")))
            assert len(token_word) == len(tokens)
            sides.append(words(att.reshape(-1, len(tokens), len(tokens)).astype(float), token_word))
        per.append(direct(*sides))
    assert np.allclose(np.array(found["divergence"]).reshape(6, 4), np.mean(per, axis=0), rtol=0, atol=2e-6)
    assert found["agreement"]["masks"] == 3 and found["agreement"]["k"] == 3


def test_the_argmax_share_and_namesakes_of_a_model_with_itself():
    """A model against an exact copy: every row's most-attended token the same, every namesake at D = 0 and
    the closest counterpart of every head itself, unless another head attends exactly alike."""
    rng = np.random.default_rng(3)
    att = np.rint(softmax_rows(rng, (2, 3, 6, 6)) * 10000)
    pair = compare.Pair(["a", "b"], [[2, 3], [2, 3]])
    pair.add(compare.Side(list("abcdef"), att), compare.Side(list("abcdef"), att.copy()))
    got = pair.result(False)
    assert got.same_top == [1.0, 1.0] and got.namesakes() == [0.0, 0.0]
    assert [c[:2] for c in got.closest(0)] == [(l, h) for l in (1, 2) for h in (1, 2, 3)]
    assert [b for b, _ in got.best_layers()] == [1, 2]
    again = compare.Compared.from_json(json.loads(json.dumps(got.to_json())))
    assert again.to_json() == got.to_json() and again.swapped().swapped().to_json() == got.to_json()


CORPUS_LINES = ["A dog ran in the park.", "I like green tea.", "The sun is warm today and the sky is blue.",
                "Birds sing."]


@pytest.fixture(scope="module")
def corpus_site(tiny_bert, tiny_roberta, tmp_path_factory):
    """Tiny BERT and tiny RoBERTa (other tokenizers: word by word) over the two sentences of the models sample
    and a corpus of four, of which D takes the first three (corpus.COMPARED lowered to 3 for the test)."""
    from bertgallery import build, config, corpus
    from conftest import MODELS_SAMPLE
    folder = tmp_path_factory.mktemp("compare-corpus")
    (folder / "corpus.txt").write_text("\n".join(CORPUS_LINES) + "\n")
    (folder / "s.yaml").write_text(MODELS_SAMPLE.format(models=json.dumps([str(tiny_bert), str(tiny_roberta)]))
                                   + "corpus: corpus.txt\n")
    limit, corpus.COMPARED = corpus.COMPARED, 3
    try:
        build.build(config.load(folder / "s.yaml"), folder / "site", build.Options(fallback=False, progress=False))
    finally:
        corpus.COMPARED = limit
    return folder / "site"


def kept_by_hand(path):
    """The corpus attention a model's heads folder stores, decoded here: {line: (tokens, uint16 [L, H, T, T])}."""
    import base64
    import zlib
    d = json.loads(path.read_text())
    return {line: (tokens, np.frombuffer(zlib.decompress(base64.b64decode(a)), dtype="<u2").reshape(shape))
            for line, tokens, a, shape in zip(d["lines"], d["tokens"], d["attention"], d["shapes"])}


def test_the_divergence_takes_the_first_corpus_sentences_and_equals_a_direct_computation(corpus_site, tiny_bert,
                                                                                          tiny_roberta):
    bert, roberta = model.slugs([str(tiny_bert), str(tiny_roberta)])
    found = json.loads((corpus_site / names.COMPARE / f"{bert}--{roberta}" / names.COMPARE_DATA).read_text())
    assert (found["sentences"], found["corpus"], found["corpus_first"], found["word_level"]) == (5, 3, 3, 5)
    texts = [json.loads((corpus_site / s / bert / names.DATA).read_text())["text"] for s in ("cat", "two")]
    sides = {slug: [stored(corpus_site, s, slug) for s in ("cat", "two")] for slug in (bert, roberta)}
    for slug in (bert, roberta):
        kept = kept_by_hand(corpus_site / "heads" / slug / names.CORPUS_ATTENTION)
        assert sorted(kept) == [0, 1, 2]  # the fourth line is not taken
        sides[slug] += [kept[k] for k in range(3)]
    per = []
    for k, text in enumerate(texts + CORPUS_LINES[:3]):
        merged = []
        for slug, folder in ((bert, tiny_bert), (roberta, tiny_roberta)):
            tokens, att = sides[slug][k]
            token_word = compare.words_of(text, model.tokenizer(model.Resolved(str(folder), "")))
            merged.append(words(att.reshape(-1, len(tokens), len(tokens)).astype(float), token_word))
        per.append(direct(*merged))
    assert np.allclose(np.array(found["divergence"]).reshape(6, 4), np.mean(per, axis=0), rtol=0, atol=2e-6)
    # without the corpus the mean would be another: the corpus sentences count
    assert not np.allclose(np.mean(per[:2], axis=0), np.mean(per, axis=0), rtol=0, atol=1e-4)
    page = " ".join((corpus_site / names.COMPARE / f"{bert}--{roberta}" / names.PAGE).read_text().split())
    assert "It rests on 5 sentences, 2 of the gallery and 3 of its corpus (its first 3 of 4; D takes a corpus's " \
           "first 3 at most)" in page


def test_the_stored_corpus_attention_is_the_models_own_for_each_sentence_alone(corpus_site, tiny_bert):
    """Run in a padded batch, each corpus sentence's stored attention is what the model gives it alone."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    net = AutoModel.from_pretrained(tiny_bert, attn_implementation="eager").eval()
    kept = kept_by_hand(corpus_site / "heads" / model.slugs([str(tiny_bert)])[0] / names.CORPUS_ATTENTION)
    for k, (tokens, att) in kept.items():
        enc = tok(CORPUS_LINES[k], return_tensors="pt")
        with torch.no_grad():
            alone = torch.stack(net(**enc, output_attentions=True).attentions, 1)[0].numpy()
        assert tokens == tok.convert_ids_to_tokens(enc["input_ids"][0])
        assert np.abs(att.astype(float) - np.rint(alone * 10000)).max() <= 1


@pytest.mark.slow  # MiniLM over the sentences and the corpus: about 5 s
def test_adding_a_model_to_a_gallery_with_a_corpus_runs_only_that_model(corpus_site, tiny_bert, tiny_roberta,
                                                                        tmp_path, monkeypatch):
    """The other models' corpus attention is taken over from their heads folders: their pair is not compared
    again and no other model's corpus is run."""
    import shutil

    from bertgallery import build, config, corpus
    from conftest import MODELS_SAMPLE
    shutil.copytree(corpus_site.parent, tmp_path / "g")
    ran, alone, real = [], [], corpus.count_and_keep
    monkeypatch.setattr(corpus, "count_and_keep", lambda loaded, *a, **k: ran.append(loaded.info.name) or
                        real(loaded, *a, **k))
    monkeypatch.setattr(corpus, "attention", lambda loaded, *a: alone.append(loaded.info.name))
    monkeypatch.setattr(corpus, "COMPARED", 3)
    (tmp_path / "g" / "s.yaml").write_text(MODELS_SAMPLE.format(models=json.dumps(
        [str(tiny_bert), str(tiny_roberta), "minilm"])) + "corpus: corpus.txt\n")
    summary = build.build(config.load(tmp_path / "g" / "s.yaml"), tmp_path / "g" / "site",
                          build.Options(fallback=False, progress=False))
    assert (ran, alone, summary.rebuilt) == (["minilm"], [], 2)  # its counts and attention in one pass
    bert, roberta, minilm = model.slugs([str(tiny_bert), str(tiny_roberta), "minilm"])
    pair = f"{names.COMPARE}/{bert}--{roberta}/{names.COMPARE_DATA}"
    assert (tmp_path / "g" / "site" / pair).read_bytes() == (corpus_site / pair).read_bytes()
    assert json.loads((tmp_path / "g" / "site" / names.COMPARE / f"{bert}--{minilm}" /
                       names.COMPARE_DATA).read_text())["corpus"] == 3
