"""The corpus pass: padded batches give the statistics of one sentence at a time, memory stays flat, the
counts are cached, and bad corpus files fail with one line. Random-weight models: mechanics only."""
import json
import tracemalloc

import numpy as np
import pytest

from bertgallery import build, config, corpus, heads, model, syntax
from bertgallery.config import Line

MIXED = ["A cat sat.", "The old man walked slowly down the long and dusty road to town.", "Hi!",
         "She said that the keys to the cabinet were on the table, not in the drawer.", "Dogs bark.",
         "It rained all day, so we stayed inside and read books by the fire until late at night."]


@pytest.fixture(scope="module")
def tiny(tiny_bert):
    return model.load(str(tiny_bert), fallback=False)


def lines(texts):
    return [Line(t, "c.txt", n) for n, t in enumerate(texts, start=1)]


def one_at_a_time(loaded, texts):
    """The gallery's own path, sentence by sentence: model.predict (no padding, no mask) and heads.statistics."""
    tok = loaded.tokenizer
    totals = heads.Totals.empty(loaded.info.layers, loaded.info.heads)
    pool = syntax.Pool(loaded.info.layers, loaded.info.heads)
    for text in texts:
        run = model.predict(loaded, text, top_k=1)
        totals.add(np.round(heads.statistics(heads.sentence(run.attention, run.tokens, tok.cls_token,
                                                            tok.sep_token, norms=run.mixing.norms)), 6),
                   len(run.tokens))
        found = syntax.sentence_syntax(text, [], tok, run.attention)
        if not isinstance(found, str):
            pool.add(found)
    return totals, pool


@pytest.mark.parametrize("budget", [4096, 40])  # one padded batch for all, or many small ones
def test_batched_statistics_equal_one_sentence_at_a_time(tiny, budget):
    counted = corpus.count(tiny, lines(MIXED), progress=False, budget=budget)
    totals, pool = one_at_a_time(tiny, MIXED)
    assert (counted.totals.sentences, counted.totals.tokens) == (totals.sentences, totals.tokens)
    np.testing.assert_allclose(counted.totals.sums, totals.sums, atol=1e-5)
    np.testing.assert_allclose(counted.totals.squares, totals.squares, atol=1e-5)
    assert (counted.totals.tag_counts == totals.tag_counts).all()
    assert by_relation(counted.pool) == by_relation(pool)


def by_relation(pool):
    """The pool's counts keyed by relation: the order relations first appear in depends on sentence order."""
    return {r: (n, c.tolist(), dict(o)) for r, n, c, o in zip(pool.relations, pool.counts, pool.correct, pool.offsets)}


def test_padding_never_leaks_into_a_sentence(tiny):
    """A short sentence's statistics are the same alone and padded beside a long one."""
    short, long = "Hi!", MIXED[-1]
    alone = corpus.count(tiny, lines([short]), progress=False)
    padded = corpus.count(tiny, lines([short, long]), progress=False)
    with_long = corpus.count(tiny, lines([long]), progress=False)
    np.testing.assert_allclose(padded.totals.sums - with_long.totals.sums, alone.totals.sums, atol=1e-5)


@pytest.mark.slow
def test_memory_stays_flat_as_the_corpus_grows(tiny):
    """tracemalloc's peak over the pass (Python and numpy allocations) with 200 and with 800 sentences:
    only one batch is held at a time. (One vocabulary for both: spaCy keeps every new word it meets.)"""
    from bertgallery import parser
    parser.load_parser()  # once, before tracing: loading it is not part of the pass
    corpus.count(tiny, lines(MIXED), progress=False)  # first calls fill the libraries' caches
    peaks = []
    for n in (200, 800):
        texts = lines([MIXED[i % len(MIXED)] for i in range(n)])
        tracemalloc.start()
        # a budget of 120 tokens: batches of at most 24 sentences, reached with 200 sentences already
        corpus.count(tiny, texts, progress=False, budget=120)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.1 * peaks[0], peaks


def test_lines_too_long_for_the_model_are_skipped_and_named(tiny_roberta):
    loaded = model.load(str(tiny_roberta), fallback=False)  # 64 tokens at most
    counted = corpus.count(loaded, lines(["A cat sat.", "word " * 200, "Dogs bark.", "x" * 30_000]), progress=False)
    assert counted.totals.sentences == 2 and counted.skipped == ["c.txt line 2", "c.txt line 4"]
    assert corpus.skipped_note(counted.skipped, 62) == \
        "note: skipped 2 corpus lines longer than the model's 62 tokens: c.txt line 2, c.txt line 4"


def test_counts_survive_json(tiny):
    counted = corpus.count(tiny, lines(MIXED), progress=False)
    again = corpus.Counted.from_json(json.loads(json.dumps(counted.to_json())))
    assert again.to_json() == counted.to_json()


def test_the_corpus_feeds_the_heads_pages_and_is_cached(tiny_bert, tmp_path):
    (tmp_path / "c.txt").write_text("# a comment\n\n" + "\n".join(MIXED) + "\n")
    cfg = tmp_path / "s.yaml"
    cfg.write_text(f"model: {tiny_bert}\ncorpus: c.txt\nsentences:\n  - {{id: a, text: 'A [MASK] ran.'}}\n")
    out = tmp_path / "site"
    options = build.Options(fallback=False, progress=False)
    first = build.build(config.load(cfg), out, options)
    assert first.corpus == len(MIXED)
    page = (out / "heads" / "index.html").read_text()
    assert f"averaged over {len(MIXED) + 1:,} sentences" in " ".join(page.split())
    counts = out / "heads" / "corpus.json"
    inode = counts.stat().st_ino
    # a changed gallery sentence does not count the corpus again
    cfg.write_text(cfg.read_text().replace("A [MASK] ran.", "A [MASK] sat."))
    second = build.build(config.load(cfg), out, options)
    assert (second.rebuilt, second.corpus) == (1, 0) and counts.stat().st_ino == inode
    # a changed corpus file does
    (tmp_path / "c.txt").write_text("\n".join(MIXED[:3]) + "\n")
    third = build.build(config.load(cfg), out, options)
    assert (third.rebuilt, third.corpus) == (0, 3)
    assert json.loads(counts.read_text())["totals"]["sentences"] == 3


def test_reading_a_corpus_file_skips_blanks_and_comments(tmp_path):
    (tmp_path / "c.txt").write_text("\ufeff# about this file\nFirst  one.\n\n   \n  # indented comment\nSecond.\n")
    got = config.read_corpus(tmp_path / "c.txt", "c.txt")
    assert [(line.text, line.number) for line in got] == [("First one.", 2), ("Second.", 6)]


def test_a_corpus_the_model_cannot_take_is_one_line(tiny_roberta, tmp_path, capsys):
    import generate
    (tmp_path / "c.txt").write_text("word " * 200 + "\n" + "more " * 200 + "\n")
    (tmp_path / "s.yaml").write_text("corpus: c.txt\nsentences:\n  - A [MASK] sat.\n")
    assert generate.main([str(tmp_path / "s.yaml"), "--out", str(tmp_path / "site"), "--model", str(tiny_roberta),
                          "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err == ("error: the corpus has no line the model accepts: every one is longer than its 64 tokens "
                   "(c.txt line 1, …)\n")
    assert not (tmp_path / "site").exists()


def test_one_sentence_a_line_reads_alike_everywhere():
    import io
    text = "# about\n  # indented comment\n\nFirst  one.\n   \nSecond.\n"
    for stream in (io.BytesIO(text.encode()), io.StringIO(text)):  # a file or standard input; a replaced sys.stdin
        assert list(config.read_lines(stream, "x", 10**6, "", 10**6, "")) == [(4, "First one."), (6, "Second.")]


def test_the_attention_kept_for_comparing_is_the_same_from_the_counting_pass_and_on_its_own(tiny, monkeypatch):
    """The first COMPARED lines are batched apart in the counting pass as attention() batches them, so their
    16-bit attention is the same to the bit whichever pass kept it (a model added to a gallery of one runs
    attention() alone, a forced build the counting pass); a line too long for the model is left out of both."""
    monkeypatch.setattr(corpus, "COMPARED", 4)
    texts = MIXED[:3] + ["word " * 600] + MIXED[3:]
    counted, kept = corpus.count_and_keep(tiny, lines(texts), corpus.COMPARED, progress=False)
    alone = corpus.attention(tiny, lines(texts)[:corpus.COMPARED])
    assert kept.lines == alone.lines == [0, 1, 2] and kept.texts == MIXED[:3] and kept.tokens == alone.tokens
    assert all(np.array_equal(a, b) for a, b in zip(kept.attention, alone.attention))
    assert all(a.dtype == np.uint16 and a.shape == (2, 3, len(t), len(t)) for a, t in zip(kept.attention, kept.tokens))
    again = corpus.Kept.from_json(json.loads(json.dumps(kept.to_json())))
    assert again.lines == kept.lines and all(np.array_equal(a, b) for a, b in zip(again.attention, kept.attention))
    # the counts are the plain counting pass's
    plain = corpus.count(tiny, lines(texts), progress=False)
    assert counted.totals.sentences == plain.totals.sentences == len(texts) - 1
    assert np.allclose(np.array(counted.totals.to_json()["sums"], dtype=float),
                       np.array(plain.totals.to_json()["sums"], dtype=float), rtol=1e-5, atol=1e-6, equal_nan=True)
