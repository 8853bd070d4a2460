"""Sentence pairs (issue 26): [CLS] A [SEP] B [SEP], as BERT was pre-trained. The tiny models have random
weights: they test the mechanics (what the model is given, the segments, the statistic's arithmetic, the pages,
the filter), not what a trained model does with a pair (docs/pairs.md measures the offline model)."""
from __future__ import annotations

import functools
import io
import json
import re
import shutil

import numpy as np
import pytest

from bertgallery import api, build, config, heads, model, names, parser, render
from bertgallery.config import ConfigError
from bertgallery.views import read_view
from conftest import run_cli, write_yaml
from test_explorer import drawn, expected_lines
from test_browser import open_page

pytestmark = pytest.mark.xdist_group("pairs")  # one worker builds the pair site and loads the tiny models

A, B = "The cat sat on the mat.", "It was [MASK] tired."
BOTH = ("The [MASK] sat on the mat.", "It was very [MASK].")  # a mask in each segment


@pytest.fixture(scope="session")
def tiny_distilbert(tmp_path_factory):
    """DistilBERT (2 layers x 3 heads, random weights) with bert-base-uncased's WordPiece: a model without token
    type embeddings, whose tokenizer makes no token type ids."""
    import torch
    from transformers import DistilBertConfig, DistilBertForMaskedLM, DistilBertTokenizerFast

    from bertgallery import offline
    folder = tmp_path_factory.mktemp("tiny-distilbert")
    tok = DistilBertTokenizerFast.from_pretrained(offline.encoder_dir())
    tok.save_pretrained(folder)
    torch.manual_seed(0)
    DistilBertForMaskedLM(DistilBertConfig(vocab_size=len(tok), dim=48, n_layers=2, n_heads=3,
                                           hidden_dim=96)).save_pretrained(folder)
    return folder


@functools.cache
def loaded(folder):
    return model.load(str(folder), fallback=False, device="cpu")


def test_the_model_is_given_the_tokenizers_own_pair_encoding(tiny_bert, tiny_roberta, tiny_distilbert):
    """What the model is run on is exactly the tokenizer's encoding of the two segments (its special tokens, its
    token type ids where it makes them); the segments follow the token types where the model has them, and
    otherwise the separators: RoBERTa's </s></s> one to each segment, DistilBERT's as BERT's token types."""
    import torch
    shapes = {}
    for folder in (tiny_bert, tiny_roberta, tiny_distilbert):
        m = loaded(folder)
        tok = m.tokenizer
        for text, pair in ((A, B), BOTH):
            run = model.predict(m, text, 3, pair=pair)
            own = tok(text.replace("[MASK]", tok.mask_token), pair.replace("[MASK]", tok.mask_token),
                      return_tensors="pt")
            assert set(run.inputs.keys()) == set(own.keys()), folder
            for k in own:
                assert torch.equal(run.inputs[k].cpu(), own[k]), (folder, k)
            assert len(run.segments) == len(run.tokens) == run.attention.shape[-1]
            masks = (own["input_ids"][0] == tok.mask_token_id).nonzero().flatten().tolist()
            assert [m_.index for m_ in run.masks] == masks
            shapes[folder.name[:-1], text] = (run.tokens, run.segments, run.pair_note)
    for key, (tokens, segments, note) in shapes.items():
        if key[0] == "tiny-bert":
            own = loaded(tiny_bert).tokenizer(key[1], (A, B)[1] if key[1] == A else BOTH[1])["token_type_ids"]
            assert segments == own and "token type 0 in A and 1 in B" in note
            assert tokens[segments.index(1) - 1] == "[SEP]" and tokens[-1] == "[SEP]"
        elif key[0] == "tiny-roberta":
            k = segments.index(1)
            assert tokens[k - 1:k + 1] == ["</s>", "</s>"] and tokens[0] == "<s>" and "reads no token types" in note
            assert tokens.count("</s>") == 3 and segments == [0] * k + [1] * (len(tokens) - k)
        else:  # DistilBERT: the same WordPiece as tiny BERT, so BERT's token types are the truth
            bert_tokens, bert_segments, _ = shapes["tiny-bert", key[1]]
            assert (tokens, segments) == (bert_tokens, bert_segments) and "reads no token types" in note


def test_a_tokenizer_that_makes_no_second_segment_gives_none_and_the_page_says_so(tiny_bert):
    """A tokenizer without pair support (its encoding has no second sequence, no token type 1): no segments,
    and the note says the model saw one sequence."""
    m = loaded(tiny_bert)
    one = m.tokenizer(f"{A} {B}".replace("[MASK]", m.tokenizer.mask_token), return_special_tokens_mask=True)
    special = [bool(x) for x in one["special_tokens_mask"]]
    assert model.segments(one, special) is None
    tokens = m.tokenizer.convert_ids_to_tokens(one["input_ids"])
    assert model.pair_note(m, tokens, None, special, False).endswith("saw one sequence, [CLS] A [SEP]")


def test_predictions_equal_a_direct_transformers_run_on_the_pair(tiny_bert, tiny_roberta):
    """Each mask's ranked predictions, in either segment, are a plain transformers run's on tokenizer(A, B)."""
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer
    for folder in (tiny_bert, tiny_roberta):
        tok = AutoTokenizer.from_pretrained(folder)
        net = AutoModelForMaskedLM.from_pretrained(folder, attn_implementation="eager").eval()
        for text, pair in ((A, B), BOTH):
            enc = tok(text.replace("[MASK]", tok.mask_token), pair.replace("[MASK]", tok.mask_token),
                      return_tensors="pt")
            with torch.no_grad():
                probs = net(**enc).logits[0].softmax(-1)
            positions = (enc["input_ids"][0] == tok.mask_token_id).nonzero().flatten().tolist()
            run = model.predict(loaded(folder), text, 4, pair=pair)
            assert [m.index for m in run.masks] == positions and len(positions) == text.count("[MASK]") + \
                pair.count("[MASK]")
            for m, pos in zip(run.masks, positions):
                values, ids = probs[pos].topk(4)
                assert [p.probability for p in m.predictions] == pytest.approx(values.tolist(), abs=1e-6)
                assert m.target == int(ids[0])


def cross_by_loops(a, tokens, segments) -> float:
    """The definition, literally: over the tokens i that are not special, Σ A[i, j] over the tokens j of the
    other segment that are not special; their mean."""
    special = {i for i, t in enumerate(tokens) if t in ("[CLS]", "[SEP]", "<s>", "</s>")}
    rows = [i for i in range(len(tokens)) if i not in special]
    total = 0.0
    for i in rows:
        for j in range(len(tokens)):
            if j not in special and segments[j] != segments[i]:
                total += a[i][j]
    return total / len(rows)


def test_the_cross_statistic_equals_a_loop_reference():
    rng = np.random.default_rng(7)
    tokens = ["[CLS]", "the", "cat", "sat", ".", "[SEP]", "it", "was", "[MASK]", ".", "[SEP]"]
    segments = [0] * 6 + [1] * 5
    a = rng.random((2, 3, 11, 11)) ** 3
    a /= a.sum(-1, keepdims=True)
    stats = heads.head_stats(a, tokens, segments=segments)
    for s in stats:
        assert s["cross"] == pytest.approx(cross_by_loops(a[s.layer - 1, s.head - 1].tolist(), tokens, segments),
                                           abs=1e-6)
    assert all(np.isnan(s["cross"]) for s in heads.head_stats(a, tokens))  # one sentence: not applicable
    across = np.zeros((11, 11))  # every token looks at the other segment's first word: the tag, at its threshold
    across[:, [1]] = 0.5
    across[:, [6]] = 0.5
    across[[1, 2, 3, 4], 6], across[[1, 2, 3, 4], 1] = 1.0, 0.0
    across[[6, 7, 8, 9], 1], across[[6, 7, 8, 9], 6] = 1.0, 0.0
    h = heads.head_stats(across[None, None], tokens, segments=segments)[0]
    assert h["cross"] == pytest.approx(1.0) and "cross-segment" in h.tags
    assert "cross-segment" not in heads.head_stats(np.full((1, 1, 11, 11), 1 / 11), tokens, segments=segments)[0].tags
    totals = heads.Totals.empty(2, 3)  # a single sentence's NaN stays out of the gallery's means
    totals.add(np.array([s.values for s in stats]).reshape(2, 3, -1), 11)
    totals.add(np.array([s.values for s in heads.head_stats(a, tokens)]).reshape(2, 3, -1), 11)
    k = heads.INDEX["cross"]
    assert totals.counts[..., k].max() == 1
    np.testing.assert_allclose(totals.means[..., k], np.array([s["cross"] for s in stats]).reshape(2, 3))


PAIRS = """model: {model}
top_k: 3
sentences:
  - id: single
    text: The cat sat on the [MASK].
  - id: pair
    text: "{a}"
    pair: "{b}"
  - text: "{c}"
    pair: "{d}"
"""


@pytest.fixture(scope="module")
def pair_site(tiny_bert, tmp_path_factory):
    """A gallery of one sentence and two pairs (a mask in B; a mask in each segment), tiny BERT."""
    folder = tmp_path_factory.mktemp("pairs")
    cfg = write_yaml(folder / "s.yaml", PAIRS.format(model=tiny_bert, a=A, b=B, c=BOTH[0], d=BOTH[1]))
    summary = build.build(config.load(cfg), folder / "site", build.Options(fallback=False, progress=False))
    return folder, summary


def data_of(site, slug):
    return json.loads((site / slug / names.DATA).read_text(encoding="utf-8"))


def test_a_pair_site_keys_names_and_shows_both_segments(pair_site, tiny_bert):
    folder, summary = pair_site
    site = folder / "site"
    cfg = config.load(folder / "s.yaml")
    third = cfg.sentences[2]
    assert (third.text, third.pair) == BOTH and third.slug == "the-mask-sat-on-the-mat-it-was-very-mask"
    data = data_of(site, "pair")
    assert (data["text"], data["pair"]) == (A, B) and data["segments"].count(1) == 6  # it was [MASK] tired . [SEP]
    assert data["filled_pair"].startswith("It was ") and data_of(site, "single")["pair"] == ""
    view = json.loads((site / "pair" / names.VIEW_DATA).read_text().split("push(", 1)[1].rsplit(");", 1)[0])
    assert view["segments"] == data["segments"]
    page = (site / "pair" / names.PAGE).read_text(encoding="utf-8")
    assert '<span class="seg-label">A</span> The cat sat on the mat.</span>' in page
    assert '<span class="seg-label">B</span> It was <mark class="mask">[MASK]</mark> tired.</span>' in page
    assert "token type 0 in A and 1 in B" in page and "Across the segments" in page
    assert "Across the segments" not in (site / "single" / names.PAGE).read_text(encoding="utf-8")
    assert "Across the segments" in (site / names.HEADS / names.PAGE).read_text(encoding="utf-8")
    index = (site / names.PAGE).read_text(encoding="utf-8")
    assert index.count('class="segment seg-b"') == 2
    printed = summary.results[1].predictions().splitlines()
    assert printed[0] == f"{A}{config.JOIN}{B}" and printed[1].endswith(" tired.") and config.JOIN in printed[1]
    # the cache key holds the pair: another pair for the same text is computed again, the rest is reused
    write_yaml(folder / "s.yaml", PAIRS.format(model=tiny_bert, a=A, b="It was [MASK] hungry.", c=BOTH[0], d=BOTH[1]))
    shutil.copytree(site, folder / "copy")
    again = build.build(config.load(folder / "s.yaml"), folder / "copy", build.Options(fallback=False, progress=False))
    assert again.rebuilt == 1 and data_of(folder / "copy", "pair")["pair"] == "It was [MASK] hungry."


def test_the_cross_statistic_in_data_json_equals_the_loops(pair_site):
    folder, _ = pair_site
    for slug in ("pair", "the-mask-sat-on-the-mat-it-was-very-mask"):
        data = data_of(folder / "site", slug)
        weights = read_view((folder / "site" / slug / names.VIEW_DATA).read_text()) / 10000
        for h in data["heads"]:
            a = weights[h["layer"] - 1, h["head"] - 1].tolist()
            reference = cross_by_loops(a, data["tokens"], data["segments"])
            assert h["cross"] == pytest.approx(reference, abs=2e-3)  # the view's weights are rounded to 1e-4
    assert all(h["cross"] is None for h in data_of(folder / "site", "single")["heads"])


def test_each_segment_is_parsed_on_its_own(pair_site):
    """The syntax's words are spaCy's words of filled A, then of filled B; no arc crosses the boundary; each
    token's word lies in its own segment."""
    folder, _ = pair_site
    data = data_of(folder / "site", "the-mask-sat-on-the-mat-it-was-very-mask")
    syntax = data["syntax"]
    a, b = parser.parse([data["filled"], data["filled_pair"]])
    assert syntax["words"] == a.words + b.words
    assert syntax["heads"] == a.heads + [h + len(a.words) for h in b.heads]
    for token, (word, segment) in enumerate(zip(syntax["token_word"], data["segments"])):
        if word >= 0:
            assert (word >= len(a.words)) == bool(segment), token


def test_the_head_pictures_draw_a_line_between_the_segments(pair_site):
    """A white line over the first row and column of segment B's cells, in every head's PNG, and the fast
    renderer's picture is the full redraw's (as tests/test_render.py compares them)."""
    from PIL import Image
    folder, _ = pair_site
    data = data_of(folder / "site", "pair")
    at = data["segments"].index(1)
    lay = render.layout(data["tokens"])
    line = render.boundary_lines(lay, at)
    side = len(data["tokens"]) * lay.cell
    for layer, head in ((1, 1), (2, 3)):
        px = np.asarray(Image.open(folder / "site" / "pair" / names.head_png(layer, head)).convert("RGB"))
        assert (px[line[0], lay.left:lay.left + side] == 255).all()
        assert (px[lay.top:lay.top + side, line[1]] == 255).all()
        assert not (px[line[0] + 1, lay.left:lay.left + side] == 255).all()  # the cells themselves stay coloured
    weights = read_view((folder / "site" / "pair" / names.VIEW_DATA).read_text())[0, 0] / 10000
    fast = np.asarray(Image.open(io.BytesIO(render.HeadRenderer(data["tokens"], "viridis", at).png(weights, 1, 1)))
                      .convert("RGB")).astype(int)
    slow = render.render_head_slow(weights, data["tokens"], 1, 1, "viridis", at)[..., :3].astype(int)
    coloured = ~((slow[..., 0] == slow[..., 1]) & (slow[..., 1] == slow[..., 2]))  # greys: the palette's 3 levels
    assert np.array_equal(fast[coloured], slow[coloured]) and (slow[line[0], lay.left:lay.left + side] == 255).all()
    assert (fast[line[0], lay.left:lay.left + side] == 255).all()


@pytest.mark.parametrize("item, said", [
    ("{text: 'The cat sat.', pair: 'It was tired.'}", "sentence 1 has no [MASK] in either segment"),
    ("{text: 'The [MASK] sat.', pair: ''}", "sentence 1's pair is empty"),
    ("{text: 'The [MASK] sat.', pair: [a, b]}", "'pair' must be text"),
    ("{text: 'The [MASK] sat.', pairs: 'It was.'}", "unknown key 'pairs' (did you mean 'pair'?)"),
])
def test_a_bad_pair_in_the_sentences_file_is_one_line(tmp_path, item, said):
    path = write_yaml(tmp_path / "s.yaml", f"sentences:\n  - {item}\n")
    with pytest.raises(ConfigError) as e:
        config.load(path)
    assert said in str(e.value) and "\n" not in str(e.value)


def test_bad_pairs_on_the_command_line_are_one_line_and_exit_2(tmp_path, tiny_bert):
    long_a, long_b = " ".join(["cat"] * 300), " ".join(["dog"] * 300) + " [MASK]"
    cases = [
        (["--pair", "It was [MASK]."], "", "put a --text first"),
        (["--text", "-", "--pair", "B"], "", "--pair cannot follow --text -"),
        (["--text", "A [MASK]", "--pair", "B", "--pair", "C"], "", "has two --pair"),
        (["--text", "-"], "one\ttwo\tthree [MASK]\n", "line 1 has 2 tabs"),
        (["--text", "-"], "The [MASK] sat.\t\n", "line 1 has a tab but nothing after it"),
        (["--text", "The cat.", "--pair", "It sat."], "", "--text has no [MASK] in either segment"),
        (["--text", long_a, "--pair", long_b, "--model", str(tiny_bert), "--no-fallback"], "",
         "is 604 tokens long as a pair: 300 in the sentence, 301 in its pair and 3 special tokens"),
        # standard input's lines are named as they are numbered there: blank lines and # comments counted
        (["--text", "-"], "The [MASK] sat.\n\n# a note\nThe cat.\tIt sat.\n",
         "error: --text -: line 4 has no [MASK] in either segment"),
        (["--text", "The [MASK] sat.", "--text", "-"], "\nThe dog [MASK].\n\tIt sat.\n",
         "error: --text -: line 3 has a tab but no text before it"),
        (["--text", "The [MASK] sat.", "--text", "The cat."], "", "error: --text 2 has no [MASK]"),
        (["--text", "-", "--model", str(tiny_bert), "--no-fallback"], f"The [MASK] sat.\n\n{long_a}\t{long_b}\n",
         "error: --text -: line 3 is 604 tokens long as a pair"),
        (["--text", "-", "--model", str(tiny_bert), "--no-fallback"], "The [MASK] sat.\n# x\nA cat.\tIt [SEP] [MASK].\n",
         "error: --text -: line 3 holds [SEP] in its pair"),
    ]
    for args, stdin, said in cases:
        r = run_cli(*args, "--out", tmp_path / "site", cwd=tmp_path, stdin=stdin)
        assert r.returncode == 2 and said in r.stderr and r.stderr.count("\n") == 1, (args, r.stderr)
        assert not (tmp_path / "site").exists()


@pytest.mark.slow  # two builds through the command line; --print's lines are tested on the pair site's results too
def test_text_dash_reads_a_tab_and_print_shows_the_pair(tmp_path, tiny_bert):
    """--text - with a tab: a pair; --pair after a --text: its pair; --print text and json show both."""
    r = run_cli("--text", "-", "--text", "The [MASK] sat.", "--pair", "It was tired.", "--model", tiny_bert,
                "--no-fallback", "--quiet", "--out", tmp_path / "site", cwd=tmp_path,
                stdin=f"{A}\t{B}\nThe dog [MASK].\n")
    assert r.returncode == 0, r.stderr
    blocks = r.stdout.strip().split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == [f"{A}{config.JOIN}{B}", "The dog [MASK].",
                                                   f"The [MASK] sat.{config.JOIN}It was tired."]
    r = run_cli("--text", A, "--pair", B, "--model", tiny_bert, "--no-fallback", "--quiet", "--print", "json",
                "--out", tmp_path / "site", cwd=tmp_path)
    line = json.loads(r.stdout)
    assert (line["text"], line["pair"], line["segments"][0], line["segments"][-1]) == (A, B, 0, 1)


def test_analyse_takes_a_pair(tiny_bert):
    r = api.analyse(A, pair=B, model=str(tiny_bert), top_k=2)
    assert (r.pair, r.segments.count(1)) == (B, 6) and repr(r).splitlines()[0] == f"{A}{config.JOIN}{B}"
    assert "‖" in r._repr_html_()
    with pytest.raises(TypeError, match="pair must be text"):
        api.analyse(A, pair=3, model=str(tiny_bert))
    with pytest.raises(ValueError, match="no \\[MASK\\] in either segment"):
        api.analyse("The cat.", pair="It sat.", model=str(tiny_bert))
    with pytest.raises(ValueError, match="^the sentence holds \\[SEP\\] in its pair, which"):
        api.analyse(A, pair="It [SEP] was [MASK].", model=str(tiny_bert))


def test_the_filter_on_a_built_pair_page_draws_the_lines_the_data_gives(pair_site, browser):
    """On the built page of a pair: All · A→A · B→B · A→B · B→A, each drawing the lines its segments let
    through (counted against view-data.js), the four adding up to All, and the filter kept in the address."""
    folder, _ = pair_site
    page_dir = folder / "site" / "pair"
    data = data_of(folder / "site", "pair")
    weights = read_view((page_dir / names.VIEW_DATA).read_text()) / 10000
    url = (page_dir / names.PAGE).as_uri()
    page = open_page(browser, url + "#l=2&h=1")
    counts = {}
    for flt in ("all", "AA", "BB", "AB", "BA"):
        page.check(f".bg-filter input[value={flt}]")
        page.mouse.move(0, 0)
        counts[flt] = expected_lines(weights, 1, [0], data["segments"], flt)
        assert drawn(page) == counts[flt], flt
    assert sum(counts[f] for f in ("AA", "BB", "AB", "BA")) == counts["all"] and counts["AB"] > 0
    assert "f=BA" in page.evaluate("location.hash")
    page.goto(url + "#l=1&h=2&f=AB")
    assert page.locator(".bg-filter input[value=AB]").is_checked()
    assert drawn(page) == expected_lines(weights, 0, [1], data["segments"], "AB")
    seg = page.eval_on_selector_all(".bg-from .bg-tok", "bs => bs.map(b => b.getAttribute('data-seg'))")
    assert seg[:len(data["tokens"])] == ["AB"[s] for s in data["segments"]]
    assert page.errors == []
    page.close()


def test_the_compare_pages_words_of_a_pair_are_as_and_then_bs(tiny_bert, tiny_roberta):
    """Two models with different tokenizers meet at the words of the sentence as written: a pair's are A's
    words, then B's, whichever tokenizer split them, each token's word in its own segment."""
    from transformers import AutoTokenizer

    from bertgallery import compare
    for folder in (tiny_bert, tiny_roberta):
        tok = AutoTokenizer.from_pretrained(folder)
        words = compare.words_of(BOTH[0], tok, BOTH[1])
        enc = tok(BOTH[0].replace("[MASK]", tok.mask_token), BOTH[1].replace("[MASK]", tok.mask_token))
        sequence = enc.sequence_ids(0)
        assert sorted(set(words[words >= 0].tolist())) == list(range(7 + 5))  # The [MASK] sat on the mat . | It ...
        for w, q in zip(words.tolist(), sequence):
            # a special token is in no word (nor is a byte-level BPE's lone space before <mask>)
            assert (w < 0 if q is None else w < 0 or (w >= 7) == bool(q)), (folder, words, sequence)


def test_a_special_token_written_in_a_segment_is_one_line_naming_it(tiny_bert, tiny_roberta):
    """[SEP], [CLS] or RoBERTa's </s> and <mask> written in a segment would be read as that token: a sequence
    the model was never given in training, or a mask the sentence does not count. [MASK] (whatever the model's
    own token) and [UNK] are text to write; RoBERTa's tokenizer reads [SEP] as plain text."""
    bert, roberta = loaded(tiny_bert), loaded(tiny_roberta)
    cases = [
        (bert, "The cat sat. [SEP] It was [MASK].", "", "X holds [SEP], which", "as the sentence's pair ('pair:'"),
        (bert, "The cat sat. [SEP] It was.", B, "X holds [SEP] in its text, which", "a pair has two"),
        (bert, A, "[CLS] It was [MASK].", "X holds [CLS] in its pair, one of", "write the sentence without it"),
        (bert, A, "It was [PAD] [MASK].", "X holds [PAD] in its pair, one of", "write the sentence without it"),
        (roberta, "The <mask> sat on the [MASK].", "", "X holds <mask>, ", "own mask token: write each mask as [MASK]"),
        (roberta, A, "It was <mask> [MASK].", "X holds <mask> in its pair, ", "own mask token"),
        (roberta, A, "It </s> was [MASK].", "X holds </s> in its pair, which", "a pair has two"),
    ]
    for m, text, pair, start, said in cases:
        with pytest.raises(ConfigError) as e:
            model.predict(m, text, 3, "X ", pair)
        assert str(e.value).startswith(start) and said in str(e.value) and "\n" not in str(e.value), (text, pair)
    for m, text in ((bert, "The [UNK] sat on the [MASK]."), (roberta, "The [SEP] sat on the [MASK].")):
        assert len(model.predict(m, text, 3, pair=B).masks) == 2


def test_a_mask_split_between_the_segments_is_text_in_both_and_an_encoder_fills_none(tiny_bert):
    """'[MA' at the end of A and 'SK]' at the start of B are no mask (the tokenizer reads each segment on its
    own): the encoder without a masked-LM head, which fills no mask, and a masked LM both write the segments
    back as they were, less the masks that are one."""
    encoder = model.load("minilm", fallback=False, device="cpu")
    for m in (encoder, loaded(tiny_bert)):
        run = model.predict(m, "The [MASK] cat [MA", 2, pair="SK] sat.")
        assert run.filled_pair == "SK] sat." and run.filled.endswith(" cat [MA")
        assert len(run.masks) == (0 if m is encoder else 1)
    run = model.predict(encoder, "The cat.", 2, pair="It [MASK] [MASK].")
    assert (run.filled, run.filled_pair, run.masks) == ("The cat.", "It [MASK] [MASK].", [])


def test_a_pair_of_masks_alone_is_read(tiny_bert):
    r = api.analyse("[MASK]", pair="[MASK]", model=str(tiny_bert), top_k=2)
    assert r.tokens == ["[CLS]", "[MASK]", "[SEP]", "[MASK]", "[SEP]"] and r.segments == [0, 0, 0, 1, 1]
    assert len(r.masks) == 2


def test_a_pairs_only_tag_is_a_share_of_the_pairs(pair_site):
    """cross-segment held in the one pair of two sentences: 100 % of the pairs, not 50 % of the sentences; a
    tag of every sentence stays a share of all of them. The heads page says which is which."""
    tokens = ["[CLS]", "the", "cat", "sat", ".", "[SEP]", "it", "was", "[MASK]", ".", "[SEP]"]
    across = np.zeros((11, 11))  # every token gives the other segment's first word all its attention
    across[[0, 1, 2, 3, 4, 5], 6] = 1.0
    across[[6, 7, 8, 9, 10], 1] = 1.0
    totals = heads.Totals.empty(1, 1)
    for segments in ([0] * 6 + [1] * 5, None):
        values = np.array(heads.head_stats(across[None, None], tokens, segments=segments)[0].values)
        totals.add(values.reshape(1, 1, -1), 11)
    (head,) = heads.summaries(totals)
    assert head.tag_counts["cross-segment"] == 1 and head.tag_shares["cross-segment"] == 1.0
    assert all(head.tag_shares[t] == head.tag_counts[t] / 2 for t in head.tag_counts if t != "cross-segment")
    folder, _ = pair_site
    page = (folder / "site" / names.HEADS / names.PAGE).read_text(encoding="utf-8")
    assert "(for cross-segment, the share of the sentence pairs)" in page
    lead = (folder / "site" / names.HEADS / names.HEAD_PAGE.format(layer=1, head=1)).read_text(encoding="utf-8")
    assert re.search(r"Averaged over the gallery: [^<]*, across \d", lead)  # a head's page gives it too


def test_the_offline_models_pair_note_says_what_bench_pairs_measured():
    """The note each pair's page prints for the offline model, and the README, give docs/pairs.md's table as it
    is (bench/pairs.py's run): the log-probabilities as a pair, from B alone and as one sentence, and that no
    head earned the tag; not a claim the run did not make (that no head reaches across at all)."""
    import re
    from pathlib import Path

    from bertgallery import offline
    root = Path(__file__).resolve().parent.parent
    table = dict(re.findall(r"^\| (pair, token types 0 and 1|one sentence, A B|B alone)[^|]*\| (−\d\.\d\d) \|",
                            (root / "docs" / "pairs.md").read_text(encoding="utf-8"), re.M))
    assert len(table) == 3
    readme = " ".join((root / "README.md").read_text(encoding="utf-8").split())
    for said in (offline.PAIRS, readme):
        for value, how in ((table["pair, token types 0 and 1"], "read as a pair"), (table["B alone"], "from"),
                           (table["one sentence, A B"], "with the two read as one sentence")):
            assert f"{value} {how}" in said, (value, how)
        assert "never trained on a second segment" in said and "cross-segment" in said
    assert "reaches across" not in offline.PAIRS and "stay within their own segment" not in readme
    assert not any(name in offline.PAIRS for name in ("README", ".py", "bench/"))  # the page's reader has none
    note = model.pair_note(type("M", (), {"info": type("I", (), {"name": offline.NAME})})(),
                           ["[CLS]", "a", "[SEP]", "b", "[SEP]"], [0, 0, 0, 1, 1], [True, False, True, False, True], True)
    assert note.endswith(offline.PAIRS)
