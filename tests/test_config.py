from pathlib import Path

import pytest

from bertgallery import config
from bertgallery.config import ConfigError


def load_text(tmp_path: Path, text: str) -> config.Config:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return config.load(path)


def test_defaults_and_both_item_forms(tmp_path):
    cfg = load_text(tmp_path, """
sentences:
  - The cat sat on the [MASK].
  - text: A [MASK] ran.
    id: Dog Run
    title: Dogs
    note: a note
""")
    assert cfg.model == "bert-base-uncased" and cfg.top_k == 5 and cfg.colormap == "viridis"
    a, b = cfg.sentences
    assert (a.text, a.slug, a.title, a.line) == ("The cat sat on the [MASK].", "the-cat-sat-on-the-mask", "", 3)
    assert (b.text, b.slug, b.title, b.note) == ("A [MASK] ran.", "dog-run", "Dogs", "a note")


def test_shipped_file_loads_and_names_bert_base():
    cfg = config.load(Path(__file__).resolve().parent.parent / "sentences.yaml")
    assert cfg.model == "bert-base-uncased"
    assert 6 <= len(cfg.sentences) <= 10
    assert any(s.text.count("[MASK]") >= 2 for s in cfg.sentences)
    assert any(s.text.startswith("The cat sat on the [MASK] and looked around.") for s in cfg.sentences)


def test_slugs_are_unique_ascii_and_stay_inside(tmp_path):
    cfg = load_text(tmp_path, """
sentences:
  - text: Same [MASK].
  - text: Same [MASK].
  - {text: "x [MASK]", id: "../../etc/passwd"}
  - {text: "y [MASK]", id: "/abs"}
  - {text: "z [MASK]", id: "Café ☕ crème"}
  - {text: "[MASK]", id: "..."}
  - {text: "w [MASK]", id: heads}
""")
    slugs = [s.slug for s in cfg.sentences]
    assert slugs == ["same-mask", "same-mask-2", "etc-passwd", "abs", "cafe-creme", "sentence-6", "heads-sentence"]
    for slug in slugs:
        assert slug.isascii() and "/" not in slug and not slug.startswith(".") and slug == slug.lower()


def test_numbers_are_fine_as_ids(tmp_path):
    cfg = load_text(tmp_path, "sentences:\n  - {text: 'a [MASK]', id: 42}\n")
    assert cfg.sentences[0].slug == "42"


@pytest.mark.parametrize("text, message", [
    ("sentences: [\n", "s.yaml:2:1: YAML syntax error"),
    ("sentence:\n  - a [MASK]\n", "s.yaml:1: unknown key 'sentence' (did you mean 'sentences'?)"),
    ("top_k: five\nsentences: ['a [MASK]']\n", "s.yaml:1: 'top_k' must be a whole number"),
    ("top_k: 0\nsentences: ['a [MASK]']\n", "'top_k' must be between 1 and 100, not 0"),
    ("sentences: []\n", "s.yaml:1: 'sentences' is empty"),
    ("sentences: 'a [MASK]'\n", "'sentences' must be a list"),
    ("sentences:\n  - ''\n", "s.yaml:2: sentence 1 is empty"),
    ("sentences:\n  - ok [MASK]\n  - no mask here\n", "s.yaml:3: sentence 2 has no [MASK]"),
    ("sentences:\n  - {txt: 'a [MASK]'}\n", "unknown key 'txt' (did you mean 'text'?)"),
    ("model: bert\n", "no 'sentences' list"),
    ("colormap: virdis\nsentences: ['a [MASK]']\n", "unknown matplotlib colormap 'virdis' (did you mean 'viridis'?)"),
    ("- just a list\n", "expected a mapping"),
])
def test_bad_input_gives_one_clear_line(tmp_path, text, message):
    with pytest.raises(ConfigError) as e:
        load_text(tmp_path, text)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        config.load(tmp_path / "nope.yaml")
