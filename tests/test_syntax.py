"""Syntax heads (Clark et al. 2019, section 4): hand-checked numbers on synthetic attention, character alignment
on three tokenizer families, the real parser offline, escaping in the SVG, and pooling."""
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from bertgallery import model, offline, parser, syntax
from bertgallery.config import MASK
from conftest import ROOT


def pipeline_filled(text, fills):
    """The filled sentence written out by hand, as a reference for model.fill, character for character."""
    pieces = text.split(MASK)
    filled = pieces[0]
    for best, after in zip(fills, pieces[1:]):
        filled = (filled.rstrip() + best[2:] if best.startswith("##") else filled + best) + after
    return filled


def make(words, heads, relations, pos=None):
    spans, at = [], 0
    for w in words:
        spans.append([at, at + len(w)])
        at += len(w) + 1
    return parser.Parse(list(words), spans, list(heads), list(relations), pos or ["X"] * len(words))


# ---- the filled sentence and its character map

@pytest.mark.parametrize("text, fills", [
    ("The cat [MASK] on the mat.", ["sat"]),
    ("The cat [MASK] sat.", ["##s"]),
    ("The dog  [MASK] ran [MASK]!", ["##gy", "away"]),
    ("[MASK] cat [MASK]", ["##x", "##s"]),
    ("No mask at all.", []),
])
def test_fill_is_the_pipelines_filled_string_with_a_map_back(text, fills):
    f = syntax.fill(text, fills)
    assert f.text == pipeline_filled(text, fills)
    assert len(f.source) == len(f.text)
    masks = [m.start() for m in re.finditer(re.escape(MASK), text)]
    for ch, src in zip(f.text, f.source):  # a character is either the text's own or a prediction's at its mask
        assert text[src] == ch or src in masks


def test_fill_with_a_word_piece_joins_the_word_before():
    f = syntax.fill("The cat [MASK] sat.", ["##s"])
    assert f.text == "The cats sat."
    assert f.source.tolist()[:8] == [0, 1, 2, 3, 4, 5, 6, 8]  # the 's' maps to the [MASK] at offset 8
    with pytest.raises(ValueError):
        syntax.fill("The [MASK] sat.", [])


# ---- word-level attention

def test_word_attention_sums_to_a_split_word_averages_from_it_and_drops_specials():
    # tokens: [CLS] a b1 b2 b3 c [SEP]; words: a, b (three tokens), c
    token_word = np.array([-1, 0, 1, 1, 1, 2, -1])
    a = np.zeros((7, 7))
    a[0, 0] = a[6, 6] = 1  # the special rows are never used
    a[1] = [0.1, 0.2, 0.1, 0.1, 0.1, 0.2, 0.2]  # 'a' -> a 0.2, b 0.1 * 3 (summed), c 0.2; 0.3 to specials dropped
    a[2] = [0.5, 0, 0.5, 0, 0, 0, 0]
    a[3] = [0, 0.5, 0, 0, 0, 0.5, 0]
    a[4] = [0, 0, 0, 0.4, 0, 0, 0.6]
    a[5] = [0, 0, 0, 0, 0, 0, 1]  # 'c' looks only at [SEP]: nothing left, so uniform
    w = syntax.word_attention(a[None, None], token_word, 3)
    assert w.shape == (1, 1, 3, 3)
    np.testing.assert_allclose(w[0, 0, 0], [2 / 7, 3 / 7, 2 / 7])
    # from 'b': the mean of its three rows (a 0.5/3, b 0.9/3, c 0.5/3), then renormalised over the words
    np.testing.assert_allclose(w[0, 0, 1], [0.5 / 1.9, 0.9 / 1.9, 0.5 / 1.9])
    np.testing.assert_allclose(w[0, 0, 2], [1 / 3] * 3)
    np.testing.assert_allclose(w.sum(-1), 1)
    assert syntax.most_attended(w)[0, 0].tolist() == [1, 0, 0]  # itself excluded: 'b' -> 'a' (tie: first)


# ---- Clark's scoring on two hand-made sentences

S1 = make(["the", "cat", "sat", "on", "the", "mat", "."], [1, 2, 2, 2, 5, 3, 2],
          ["det", "nsubj", "ROOT", "prep", "det", "pobj", "punct"])
S2 = make(["the", "big", "dog", "barked"], [2, 2, 3, 3], ["det", "amod", "nsubj", "ROOT"])


def synthetic(p: parser.Parse) -> syntax.SentenceSyntax:
    """2 layers x 2 heads over [CLS] words [SEP]. Layer 1 head 2 points every word at its syntactic head
    (the root at [SEP], which is dropped); layer 2 head 1 at the previous word (the first word: the next);
    the rest are uniform."""
    n = len(p.words)
    t = n + 2
    att = np.full((2, 2, t, t), 1 / t)
    att[0, 1] = 0
    att[1, 0] = 0
    for w, h in enumerate(p.heads):
        att[0, 1, w + 1, (h if h != w else n) + 1] = 1
        att[1, 0, w + 1, (w - 1 if w else 1) + 1] = 1
    att[0, 1, [0, t - 1], 0] = att[1, 0, [0, t - 1], 0] = 1
    token_word = np.array([-1, *range(n), -1])
    attends = syntax.most_attended(syntax.word_attention(att, token_word, n))
    return syntax.SentenceSyntax(**vars(p), filled=" ".join(p.words), token_word=token_word.tolist(),
                                 attends=attends)


def test_a_head_that_points_at_syntactic_heads_scores_one_and_the_baseline_is_the_common_offset():
    pool = syntax.Pool(2, 2).add(synthetic(S1)).add(synthetic(S2))
    acc = pool.accuracy()
    r = pool.relations.index
    for relation in ("det", "nsubj", "prep", "pobj", "punct", "amod"):
        assert acc[r(relation), 0, 0, 1] == 1.0, relation
    assert "ROOT" not in pool.relations and pool.counts[r("det")] == 3
    # previous-word head, by hand: dep->head right for an offset of -1 (on->sat: prep) and for a first word
    # whose head is the second (the->cat: det 1 of 3); head->dep right when the head word's previous word is the
    # dependent: det 2 of 3 (the->cat, the->mat, not the->dog), nsubj 2/2, amod 1/1
    assert acc[r("prep"), 0, 1, 0] == 1 and acc[r("det"), 0, 1, 0] == pytest.approx(1 / 3)
    assert acc[r("pobj"), 0, 1, 0] == 0
    assert acc[r("det"), 1, 1, 0] == pytest.approx(2 / 3) and acc[r("nsubj"), 1, 1, 0] == 1
    assert acc[r("amod"), 1, 1, 0] == 1 and acc[r("prep"), 1, 1, 0] == 0
    # det offsets +1, +1, +2: baseline +1, 2/3; prep -1 (on -> sat); pobj -2 (mat -> on); punct -4
    assert pool.baseline(r("det")) == (1, pytest.approx(2 / 3))
    assert pool.baseline(r("prep")) == (-1, 1.0) and pool.baseline(r("pobj")) == (-2, 1.0)
    assert pool.baseline(r("punct")) == (-4, 1.0)

    rows = syntax.table(pool)
    assert [row.relation for row in rows] == ["det", "nsubj", "pobj", "prep", "amod", "punct"]  # Clark's order
    det = rows[0]
    assert (det.relation, det.count, det.layer, det.head, det.direction) == ("det", 3, 1, 2, "dep→head")
    assert det.accuracy == 1 and det.baseline == pytest.approx(2 / 3) and det.difference == pytest.approx(1 / 3)
    assert det.baseline_offset == 1 and det.too_few  # 3 < 10 instances
    m = syntax.matrix(pool, rows)
    assert m.shape == (len(rows), 2, 2) and m[0, 0, 1] == 1
    np.testing.assert_allclose(m.reshape(len(rows), -1).max(1), [row.accuracy for row in rows])


def test_tags_need_twenty_instances_and_ten_points_over_the_baseline():
    pool = syntax.Pool(2, 2)
    for _ in range(10):
        pool.add(synthetic(S1)).add(synthetic(S2))
    assert not any(row.too_few for row in syntax.table(pool))  # every relation now has >= 10
    summaries = syntax.head_summaries(pool)
    assert [(s.layer, s.head) for s in summaries] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    # det (30): 1.0 against 2/3 -> tagged; nsubj (20): 1.0 against 1.0 -> not; amod, prep, ... (10): too few
    assert summaries[1].tags == ["det→head"]
    assert summaries[1].best[0] == ["det→head", 1.0, pytest.approx(2 / 3, abs=1e-4)]
    # previous-word head: head→det 2/3 equals det's baseline; prep→head, head→nsubj and head→amod (1.0) do not
    # beat baselines of 1.0
    assert summaries[2].tags == []
    assert summaries[0].tags == summaries[3].tags == []


def test_thresholds_directions_and_ties_on_a_pool_written_by_hand():
    # 1 layer x 2 heads; correct[r] = [[dep->head per head], [head->dep per head]]
    pool = syntax.Pool.from_json({
        "layers": 1, "heads": 2, "sentences": 5, "relations": ["nsubj", "amod", "det", "conj"],
        "counts": [20, 19, 20, 9],
        "correct": [[[[12, 0]], [[0, 16]]],  # nsubj: head->dep of head 2 wins (0.8 against 0.6)
                    [[[19, 0]], [[0, 0]]],  # amod: 1.0 over 0.5, but 19 instances: no tag
                    [[[11, 0]], [[0, 0]]],  # det: 0.55 over 0.5: five points, no tag
                    [[[9, 0]], [[0, 0]]]],
        "offsets": [[[-1, 10], [1, 10]], [[1, 10], [2, 9]], [[-2, 10], [1, 10]], [[3, 9]]]})
    rows = syntax.table(pool)
    assert [r.relation for r in rows] == ["det", "nsubj", "amod", "conj"]
    nsubj = rows[1]
    assert (nsubj.layer, nsubj.head, nsubj.direction, nsubj.accuracy) == (1, 2, "head→dep", 0.8)
    # ties between offsets go to the nearer head, then the leftward one
    assert (nsubj.baseline_offset, nsubj.baseline) == (-1, 0.5) and rows[0].baseline_offset == 1
    assert rows[3].too_few and not rows[2].too_few
    np.testing.assert_allclose(syntax.matrix(pool, rows)[1], [[0, 0.8]])  # the row's own direction
    tags = {(h.layer, h.head): h.tags for h in syntax.head_summaries(pool)}
    assert tags == {(1, 1): ["nsubj→head"], (1, 2): ["head→nsubj"]}  # +10 points exactly is enough


def test_right_arcs_per_sentence_and_json():
    s = synthetic(S1)
    right = s.right()
    assert right.shape == (2, 2, 2, 7)
    assert right[0, 0, 1].tolist() == [True, True, False, True, True, True, True]  # root never right
    d = json.loads(json.dumps(s.as_json()))
    assert d["right"][0][1] == [1]  # 'cat': dep->head right only in head 1 (layer 1, head 2)
    # 'the' -> cat, head->dep: right in head 2 (layer 2, head 1: cat's previous word) and in the uniform heads
    # 0 and 3, whose tie goes to the first word
    assert d["right"][1][0] == [0, 2, 3]
    back = syntax.SentenceSyntax.from_json(d)
    assert np.array_equal(back.attends, s.attends) and back.heads == s.heads and back.words == s.words


def test_pooling_equals_counting_every_instance_at_once_and_survives_json():
    rng = np.random.default_rng(1)
    sentences = []
    for _ in range(40):
        n = int(rng.integers(2, 9))
        heads = [int(h) for h in rng.integers(0, n, n)]
        rels = [str(x) for x in rng.choice(["det", "nsubj", "amod", "punct"], n)]
        sentences.append(syntax.SentenceSyntax(["w"] * n, [[0, 1]] * n, heads, rels, ["X"] * n, filled="",
                                               token_word=[], attends=rng.integers(0, n, (3, 2, n)).astype(np.int16)))
    a, b, whole = syntax.Pool(3, 2), syntax.Pool(3, 2), syntax.Pool(3, 2)
    for i, s in enumerate(sentences):
        (a if i % 3 else b).add(s)
        whole.add(s)
    merged = syntax.Pool.from_json(json.loads(json.dumps(a.to_json()))).merge(
        syntax.Pool.from_json(json.loads(json.dumps(b.to_json()))))
    # the same numbers straight from the instances
    for relation in whole.relations:
        inst = [(s, w) for s in sentences for w in range(len(s.words))
                if s.relations[w] == relation and s.heads[w] != w]
        fwd = np.mean([s.attends[..., w] == s.heads[w] for s, w in inst], 0)
        rev = np.mean([s.attends[..., s.heads[w]] == w for s, w in inst], 0)
        for pool in (whole, merged):
            r = pool.relations.index(relation)
            assert pool.counts[r] == len(inst)
            np.testing.assert_allclose(pool.accuracy()[r], [fwd, rev])
            offsets = [s.heads[w] - w for s, w in inst]
            best = max(set(offsets), key=lambda o: (offsets.count(o), -abs(o), -o))
            assert pool.baseline(r) == (best, pytest.approx(offsets.count(best) / len(inst)))
    assert merged.sentences == 40 and syntax.table(merged) == syntax.table(whole)
    with pytest.raises(ValueError):
        whole.merge(syntax.Pool(2, 2))


# ---- alignment: words meet tokens by characters

@pytest.fixture(scope="module")
def wordpiece():
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(offline.encoder_dir())


@pytest.fixture(scope="module")
def byte_bpe(tiny_roberta):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(tiny_roberta)


@pytest.fixture(scope="module")
def sentencepiece():
    from tokenizers import SentencePieceBPETokenizer
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast
    sp = SentencePieceBPETokenizer()
    lines = ["The cat sat on the mat .", "A dog ran in the park (quickly).", "I like green tea."] * 20
    sp.train_from_iterator(lines, vocab_size=150, special_tokens=["<s>", "</s>", "<unk>", "<mask>", "<pad>"])
    sp.post_processor = TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=sp, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   mask_token="<mask>", pad_token="<pad>")


def aligned(tok, text, fills, parsed):
    filled = syntax.fill(text, fills)
    enc = tok(text.replace(MASK, tok.mask_token), return_offsets_mapping=True, return_special_tokens_mask=True)
    special = [bool(m) and i != tok.mask_token_id for m, i in zip(enc["special_tokens_mask"], enc["input_ids"])]
    got = syntax.align(parsed, filled, text, enc["offset_mapping"], special, tok.mask_token)
    return got, tok.convert_ids_to_tokens(enc["input_ids"])


def spelled(tokens, token_word, fills, tok):
    """Each word spelled from its tokens (marks removed, the mask read as its prediction)."""
    out = {}
    preds = iter(f.removeprefix("##") for f in fills)
    for t, w in zip(tokens, token_word):
        if w >= 0:
            piece = next(preds) if t == tok.mask_token else t.removeprefix("##").lstrip("Ġ▁")
            out[int(w)] = out.get(int(w), "") + piece
    return [out[w] for w in sorted(out)]


def test_wordpiece_dont_and_us(wordpiece):
    words = ["I", "do", "n't", "live", "in", "the", "U.S.", "now", "."]
    parsed = make(words, [3] * 9, ["x"] * 9)
    parsed.spans = [[0, 1], [2, 4], [4, 7], [8, 12], [13, 15], [16, 19], [20, 24], [25, 28], [28, 29]]
    tok_word, tokens = aligned(wordpiece, "I don't live in the U.S. now.", [], parsed)
    assert tokens[1:6] == ["i", "don", "'", "t", "live"]
    # "don" shares 2 characters with "do", 1 with "n't": it goes to "do"; u . s . all go to "U.S."
    assert tok_word.tolist() == [-1, 0, 1, 2, 2, 3, 4, 5, 6, 6, 6, 6, 7, 8, -1]
    assert spelled(tokens, tok_word, [], wordpiece) == ["i", "don", "'t", "live", "in", "the", "u.s.", "now", "."]


def test_wordpiece_mask_filled_with_a_word_piece(wordpiece):
    parsed = make(["The", "cats", "sat", "."], [1, 2, 2, 2], ["det", "nsubj", "ROOT", "punct"])
    parsed.spans[3] = [12, 13]  # "The cats sat."
    tok_word, tokens = aligned(wordpiece, "The cat [MASK] sat.", ["##s"], parsed)
    assert tokens == ["[CLS]", "the", "cat", "[MASK]", "sat", ".", "[SEP]"]
    assert tok_word.tolist() == [-1, 0, 1, 1, 2, 3, -1]  # 'cats' = cat + the [MASK] that became ##s


def test_byte_level_bpe_with_its_own_mask_token(byte_bpe):
    text, fills = "The cat [MASK] on the mat and looked around.", ["sat"]
    words = "The cat sat on the mat and looked around .".split()
    parsed = make(words, range(len(words)), ["x"] * len(words))
    parsed.spans[-1] = [parsed.spans[-2][1], parsed.spans[-2][1] + 1]
    tok_word, tokens = aligned(byte_bpe, text, fills, parsed)
    assert tokens[0] == "<s>" and tokens[-1] == "</s>" and "<mask>" in tokens and any("Ġ" in t for t in tokens)
    assert tok_word[0] == tok_word[-1] == -1
    assert spelled(tokens, tok_word, fills, byte_bpe) == words


def test_sentencepiece_with_leading_space_offsets(sentencepiece):
    text, fills = "The cat [MASK] on the mat .", ["sat"]
    words = text.replace(MASK, "sat").split()
    tok_word, tokens = aligned(sentencepiece, text, fills, make(words, range(len(words)), ["x"] * len(words)))
    enc = sentencepiece(text.replace(MASK, "<mask>"), return_offsets_mapping=True)
    assert tokens[0] == "<s>" and "▁cat" in tokens
    assert enc["offset_mapping"][tokens.index("▁cat")] == (3, 7)  # the space is inside the token
    assert spelled(tokens, tok_word, fills, sentencepiece) == words


def test_unalignable_sentences_give_a_reason(wordpiece, sentencepiece):
    # spaCy splits "cannot" into can + not; WordPiece keeps one token: "not" has no attention of its own
    reason, _ = aligned(wordpiece, "I cannot go.", [], make(["I", "can", "not", "go", "."], [3, 3, 3, 3, 3],
                                                            ["x"] * 5))
    assert reason == "the parser's word 'not' has no token of its own: it shares one with 'can'"
    # WordPiece drops U+FFFD, which spaCy keeps as a word (the real parser, so this is what a gallery meets)
    text = "I go \ufffd now."
    reason, _ = aligned(wordpiece, text, [], parser.parse([text])[0])
    assert reason == "no token covers the parser's word '\ufffd'"
    assert syntax.align(make([], [], []), syntax.fill("", []), "", [], [], "[MASK]") == "the parser found no words"
    # a special token belongs to no word even when its tokenizer gives it characters
    got = syntax.align(make(["cat"], [0], ["ROOT"]), syntax.fill("cat", []), "cat", [(0, 3), (0, 3)],
                       [True, False], "[MASK]")
    assert got.tolist() == [-1, 0]


# ---- the real parser, offline

def test_real_parser_offline(monkeypatch):
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("the parser tried to use the network")
    with monkeypatch.context() as m:
        m.setattr(socket.socket, "connect", no_network)
        m.setattr(socket, "create_connection", no_network)
        fresh = parser.load_parser.__wrapped__()  # a real load, not the cached parser
        assert [t.dep_ for t in fresh("the cat")][0] == "det"
    nlp = parser.load_parser()
    assert parser.load_parser() is nlp and "ner" not in nlp.pipe_names and "parser" in nlp.pipe_names
    the_cat, dont = parser.parse(["the cat sat.", "I don't live in the U.S. now.\n"])
    assert the_cat.relations[0] == "det" and the_cat.heads[0] == 1
    assert dont.words[1:3] == ["do", "n't"] and "U.S." in dont.words and "\n" not in dont.words


def test_end_to_end_with_tiny_models(tiny_bert, tiny_roberta):
    for folder in (tiny_bert, tiny_roberta):
        m = model.load(str(folder), fallback=False)
        text = "The cat [MASK] on the mat and looked [MASK]."
        result = model.predict(m, text, top_k=3)
        fills = [mask.predictions[0].token for mask in result.masks]
        assert syntax.fill(text, fills).text == result.filled
        s = syntax.sentence_syntax(text, fills, m.tokenizer, result.attention)
        if isinstance(s, syntax.SentenceSyntax):  # random weights may predict something unalignable
            assert s.attends.shape == (m.info.layers, m.info.heads, len(s.words))
            assert len(s.token_word) == len(result.tokens)
        t = len(m.tokenizer("The cat sat on the mat.")["input_ids"])
        ok = syntax.sentence_syntax("The cat sat on the mat.", [], m.tokenizer, np.full((2, 2, t, t), 1 / t))
        assert isinstance(ok, syntax.SentenceSyntax) and ok.words == ["The", "cat", "sat", "on", "the", "mat", "."]
        with pytest.raises(ValueError):  # attention from another tokenisation is a bug, not a bad sentence
            syntax.sentence_syntax("The cat sat on the mat.", [], m.tokenizer, np.full((2, 2, t + 1, t + 1), 0.1))


@pytest.mark.slow
def test_loading_and_parsing_print_nothing():
    code = "from bertgallery import parser; parser.parse(['The cat sat.'])"
    done = subprocess.run([sys.executable, "-W", "default", "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, HF_HUB_OFFLINE="1"), timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_parser_missing_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(parser, "PACKAGE", "no_such_parser_package")
    with pytest.raises(parser.ParserMissing, match="requirements.txt") as e:
        parser.load_parser.__wrapped__()  # the uncached function: the cache holds the real parser
    assert "\n" not in str(e.value)


GOOD_META = {"lang": "en", "name": "core_web_sm", "version": "3.8.0", "labels": {"parser": list(parser.KEY_RELATIONS)}}


@pytest.mark.parametrize("change", [{"name": "core_web_trf"}, {"version": "999.9.9"}, {"lang": "de"},
                                    {"labels": {"parser": ["nk", "sb"]}}])
def test_a_look_alike_parser_package_is_refused(monkeypatch, tmp_path, change):
    fake = tmp_path / "fake_parser" / "fake_parser-3.8.0"
    fake.mkdir(parents=True)
    (fake.parent / "__init__.py").write_text("")
    (fake / "config.cfg").write_text("")
    (fake / "meta.json").write_text(json.dumps(GOOD_META | change))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(parser, "PACKAGE", "fake_parser")
    with pytest.raises(parser.ParserMissing, match="is not spaCy's en_core_web_sm 3.8.0"):
        parser.load_parser.__wrapped__()


def test_whitespace_tokens_are_dropped_and_their_dependents_handed_up():
    from spacy.tokens import Doc
    vocab = parser.load_parser().vocab
    # "Hello \n world": the newline is world's dependent and Hello's head -> Hello hangs from world
    doc = Doc(vocab, words=["Hello", "\n", "world"], spaces=[True, False, False], heads=[1, 2, 2],
              deps=["nsubj", "dep", "ROOT"])
    p = parser._from_doc(doc)
    assert (p.words, p.heads, p.spans) == (["Hello", "world"], [1, 1], [[0, 5], [7, 12]])
    # a whitespace root: its dependents become roots themselves
    doc = Doc(vocab, words=["Hello", "\n", "world"], spaces=[True, False, False], heads=[1, 1, 1],
              deps=["dep", "ROOT", "dep"])
    assert parser._from_doc(doc).heads == [0, 1]


# ---- the picture

def test_svg_escapes_words_and_is_stable():
    words = ["<script>alert(1)</script>", "Tom", "&", '"Jerry"', "'s"]
    p = make(words, [1, 1, 1, 1, 3], ["x<y", "ROOT", "cc", "conj", "case"], ["X", "PROPN", "CCONJ", "PROPN", "PART"])
    svg = parser.svg(p, "dep-7")
    assert "<script>" not in svg and "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert ">&amp;<" in svg and "&quot;Jerry&quot;" in svg and "x&lt;y" in svg
    root = ET.fromstring(svg)  # well-formed XML: every & is an entity
    assert root.get("id") == "dep-7" and root.get("viewBox").startswith("0 ")
    assert svg == parser.svg(p, "dep-7") and not re.search(r"[0-9a-f]{32}", svg)  # no random id
    assert "currentColor" in svg and "system-ui" in svg and "Arial" not in svg and "#ffffff" not in svg
    assert svg.count('class="displacy-arc"') == 4 and svg.count('href="#arrow-dep-7-') == 4
    with pytest.raises(ValueError):
        parser.svg(p, '"><script>')


def test_svg_draws_what_displacy_draws_from_the_doc():
    from spacy import displacy
    doc = parser.load_parser()("The cat sat on the mat.")
    theirs = displacy.render(doc, style="dep", jupyter=False, minify=True, options=parser.SVG_OPTIONS)
    theirs = re.sub(r"[0-9a-f]{32}-0", "d", theirs)
    ours = parser.svg(parser.parse([doc.text])[0], "d")
    inside = re.compile(r"^<svg [^>]*>(.*)</svg>$", re.S)
    assert inside.match(ours).group(1) == inside.match(theirs).group(1)  # the same words and arcs
    # the empty band above the highest arc is cropped: the view starts 4 px above it, and is that much shorter
    arc_top = min(float(y) for y in re.findall(r'class="displacy-arc"[^>]* d="M[\d.]+,[\d.]+ [\d.]+,([\d.]+)',
                                               ours))
    root = ET.fromstring(ours)
    top, tall = root.get("viewBox").split()[1::2]
    old_tall = float(re.search(r'height="([\d.]+)"', theirs).group(1))
    assert float(top) == pytest.approx(arc_top - 4, abs=0.1)
    assert float(tall) == pytest.approx(old_tall - float(top), abs=0.1)
    assert root.get("height") == tall and f"height: {tall}px" in root.get("style")


# ---- in the built site
def test_the_sample_site_shows_the_parse_and_the_heads_that_follow_it(sample_site):
    """data.json carries the parse and each head's predictions; the page inlines the arcs (no external font)
    and lists, for each arc, exactly the heads data.json says got it right; the heads page has Clark's table."""
    import html as html_lib
    data = json.loads((sample_site / "cat" / "data.json").read_text())
    s = syntax.SentenceSyntax.from_json(data["syntax"])
    assert s.filled == data["filled"] and s.words[:3] == ["The", "cat", "sat"]
    page = (sample_site / "cat" / "index.html").read_text()
    svg = (sample_site / "cat" / "Parse.svg").read_text()
    assert svg in page and "<svg" in svg and "@font-face" not in svg and "http://fonts" not in svg
    rows = re.findall(r"<tr><td>([^<]*)</td><td><code>([^<]*)</code></td><td>([^<]*)</td>(.*?)</tr>",
                      page.split('<table class="arcs">')[1], re.S)
    right = s.right().reshape(2, -1, len(s.words))
    arcs = [(w, h) for w, h in enumerate(s.heads) if h != w]
    assert len(rows) == len(arcs)
    for (word, relation, head, cells), (w, h) in zip(rows, arcs):
        assert (html_lib.unescape(word), relation, html_lib.unescape(head)) == (s.words[w], s.relations[w], s.words[h])
        for cell, d in zip(re.findall(r"<td>(.*?)</td>", cells), (0, 1)):
            shown = [(int(a), int(b)) for a, b in re.findall(r"L(\d+)H(\d+)", cell)]
            expected = [(i // 3 + 1, i % 3 + 1) for i in np.flatnonzero(right[d, :, w])]
            assert shown == expected[:6]
    heads_page = (sample_site / "heads" / "index.html").read_text()
    assert '<table class="clark sortable">' in heads_page and "<code>det</code>" in heads_page


def test_a_build_parses_in_a_process_of_its_own_with_the_same_parses_svgs_and_errors(monkeypatch):
    from bertgallery import render
    texts = ["The cat sat on the mat.", "A dog barked at the moon."]
    here = parser.parse(texts)
    drawn = parser.svg(here[0], "parse")
    with parser.Background(render.process()):
        assert parser._background is not None  # parse() and svg() go to the other process
        assert parser.parse(texts) == here and parser.svg(here[0], "parse") == drawn
    assert parser._background is None

    def missing():
        raise parser.ParserMissing("the syntax statistics need spaCy's English parser: pip install it")
    monkeypatch.setattr(parser, "load_parser", missing)  # before the fork: the process has it too
    with parser.Background(render.process()), pytest.raises(parser.ParserMissing, match="English parser: pip install it$"):
        parser.parse(texts)
