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
    assert cfg.models == ["bert-base-uncased"] and cfg.top_k == 5 and cfg.colormap == "viridis"
    a, b = cfg.sentences
    assert (a.text, a.slug, a.title, a.where) == ("The cat sat on the [MASK].", "the-cat-sat-on-the-mask", "",
                                                f"{cfg.path}:3: sentence 1")
    assert (b.text, b.slug, b.title, b.note) == ("A [MASK] ran.", "dog-run", "Dogs", "a note")


def test_shipped_file_loads_and_names_bert_base():
    cfg = config.load(Path(__file__).resolve().parent.parent / "sentences.yaml")
    assert cfg.models == ["bert-base-uncased"]
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


# ---------------------------------------------------------------- bounds: counted work and memory, never time
import contextlib  # noqa: E402
import io  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402


def lines_run(fn, module=None) -> int:
    """How many lines of Python fn() runs (in `module`'s file only, if given): the work it does, counted, not
    timed."""
    count = 0
    only = module.__file__ if module else None

    def tracer(frame, event, arg):
        nonlocal count
        if only and frame.f_code.co_filename != only:
            return None  # not into this frame
        count += event == "line"
        return tracer
    sys.settrace(tracer)
    try:
        fn()
    finally:
        sys.settrace(None)
    return count


@contextlib.contextmanager
def deadline(seconds: int):
    """A safety net for a read that used to hang: it fails the test instead of stalling the suite."""
    def expired(*_):
        raise TimeoutError(f"still running after {seconds} s")
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_reading_a_config_is_linear_in_its_sentences(tmp_path):
    """Identical sentences (each needs a -2, -3, ... folder) and ids that take those names first: eight times
    the sentences, about eight times the lines config.py runs. Finding folder names used to rebuild the set
    of taken names and probe every suffix for every sentence (20,000 identical lines took 32 s). The YAML
    composer's own work is bounded by the number of values (the next test but one)."""
    def work(n: int) -> int:
        path = tmp_path / f"s{n}.yaml"
        path.write_text("sentences:\n" + "".join("  - Same [MASK].\n" if i % 4 else
                                                 f"  - {{text: 'S{i} [MASK].', id: same-mask-{i // 2 + 2}}}\n"
                                                 for i in range(n)))
        cfg = config.load(path)
        assert len({s.slug for s in cfg.sentences}) == n
        return lines_run(lambda: config.load(path), config)
    work(10)  # the first load imports matplotlib (check_colormap)
    small, large = work(250), work(2000)
    assert large < 9 * small, (small, large)  # linear: 8x; the quadratic search was 60x
    assert len(config.load(tmp_path / "s2000.yaml").sentences) == 2000


def test_a_gallery_holds_at_most_2000_sentences(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("sentences:\n" + "  - A [MASK].\n" * 30_001)
    with pytest.raises(ConfigError) as e:
        config.load(path)
    assert str(e.value).startswith(f"{path}:2002: 30,001 sentences; a gallery holds at most 2,000")
    path.write_text("sentences:\n" + "  - A [MASK].\n" * 2_000)
    assert len(config.load(path).sentences) == 2_000


@pytest.mark.slow
def test_a_yaml_file_of_a_million_values_stops_at_the_bound(tmp_path):
    """Composing 10 MB of tiny values took seconds and a gigabyte; the composer stops at 50,000 values, so
    a file ten times as large costs no more work."""
    def work(n: int) -> int:
        path = tmp_path / f"v{n}.yaml"
        path.write_text("sentences: [" + "a, " * n + "]\n")
        with pytest.raises(ConfigError, match=r"v\d+\.yaml:1: more than 50,000 YAML values; a sentences file "
                                              "holds at most 2,000 sentences"):
            config.load(path)
        return lines_run(lambda: pytest.raises(ConfigError, config.load, path))
    small, large = work(100_000), work(1_000_000)
    assert large < 1.2 * small, (small, large)


@pytest.mark.parametrize("loader", ["libyaml", "python"])
def test_a_lone_surrogate_in_any_text_value_is_one_line(tmp_path, monkeypatch, loader):
    """libyaml refuses the escape itself; PyYAML's own loader makes a lone surrogate, which used to reach the
    tokenizer (TypeError) or the page writer (UnicodeEncodeError) after the model had run."""
    if loader == "python":
        monkeypatch.setattr(config, "_Loader", config._PyLoader)
    for key, line in (("text", 2), ("title", 3), ("note", 3), ("id", 3)):
        text = "sentences:\n  - text: " + ('"Caf\\udce9 [MASK]"' if key == "text" else "'A [MASK].'\n    "
                                          f'{key}: "x \\ud800"') + "\n"
        with pytest.raises(ConfigError) as e:
            load_text(tmp_path, text)
        message = str(e.value)
        assert message.startswith(f"{tmp_path / 's.yaml'}:{line}"), message
        assert "\n" not in message and message.isascii()
        if loader == "python":
            assert "lone surrogate" in message and ("'\\udce9' at character 4" in message
                                                    or "'\\ud800' at character 3" in message), message


def test_bytes_that_are_not_utf8_name_their_line(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_bytes(b"sentences:\n  - ok [MASK]\n  - Caf\xe9 [MASK]\n")
    with pytest.raises(ConfigError, match=r"s\.yaml:3: not UTF-8 text \(byte 0xe9\)$"):
        config.load(path)


def test_special_files_are_refused_at_once(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # nobody writes it: opening it for reading used to wait forever
    (tmp_path / "c.yaml").write_text("corpus: fifo\nsentences:\n  - A [MASK].\n")
    with deadline(60):
        with pytest.raises(ConfigError, match=r"c\.yaml:1: corpus file fifo is a named pipe, not a regular file$"):
            config.load(tmp_path / "c.yaml")
        with pytest.raises(ConfigError, match="is a named pipe, not a regular file$"):
            config.load(fifo)


def test_a_corpus_file_named_twice_is_counted_once(tmp_path, capsys):
    (tmp_path / "c.txt").write_text("One sentence.\nAnother one.\n")
    (tmp_path / "link.txt").symlink_to(tmp_path / "c.txt")
    (tmp_path / "d.txt").write_text("A third.\n")
    cfg = load_text(tmp_path, "corpus: [c.txt, c.txt, ./c.txt, d.txt, link.txt]\nsentences:\n  - A [MASK].\n")
    assert [line.text for line in cfg.corpus] == ["One sentence.", "Another one.", "A third."]
    assert cfg.corpus_files == [tmp_path / "c.txt", tmp_path / "d.txt"]
    assert capsys.readouterr().err == (f"note: {tmp_path / 's.yaml'}:1: 'corpus' names the file c.txt 4 times (as "
                                       "c.txt, ./c.txt, link.txt); it is counted once\n")


def test_the_corpus_bounds_are_on_all_its_files_together(tmp_path, monkeypatch):
    """One 20 MB file listed 40 times reached ~6 GB: the bounds are on the total (here made small)."""
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text("A sentence of the corpus.\n" * 30)  # 780 bytes
    monkeypatch.setattr(config, "MAX_CORPUS_BYTES", 1000)
    with pytest.raises(ConfigError, match=r"s\.yaml:1: corpus file b\.txt: the corpus is larger than 0 MB "):
        load_text(tmp_path, "corpus: [a.txt, b.txt]\nsentences:\n  - A [MASK].\n")
    monkeypatch.setattr(config, "MAX_CORPUS_BYTES", 10_000)
    monkeypatch.setattr(config, "MAX_CORPUS_LINES", 50)
    with pytest.raises(ConfigError, match=r"corpus file b\.txt: the corpus holds more than 50 sentences"):
        load_text(tmp_path, "corpus: [a.txt, b.txt]\nsentences:\n  - A [MASK].\n")


def test_a_corpus_line_without_an_end_is_read_a_megabyte_at_a_time(tmp_path):
    """A binary file stops at its first NUL, not after 200 MB: the reader never takes more than 1 MB at once."""
    reads = []

    class Endless(io.RawIOBase):
        def readline(self, size=-1):
            reads.append(size)
            return b"x" * (size - 1) + (b"\0" if len(reads) == 3 else b"")
    with pytest.raises(ConfigError, match=r"^s is not text \(a NUL byte on line 1\)$"):
        list(config.read_lines(Endless(), "s", config.MAX_CORPUS_BYTES, "", 10, ""))
    assert len(reads) == 3 and max(reads) == 1 << 20


# ---------------------------------------------------------------- the author's text and files (issue 27)
def author_folder(tmp_path: Path) -> Path:
    own = tmp_path / "own"
    (own / "Pictures").mkdir(parents=True)
    (own / "CNAME").write_text("gallery.example.org\n")
    (own / "Pictures" / "heads.png").write_bytes(b"\x89PNG not really")
    (own / ".git").mkdir()  # a folder kept in git: its dot-names are no files of the site
    (own / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (own / ".DS_Store").write_bytes(b"\0")
    return own


def test_title_intro_question_and_files_are_read_as_written(tmp_path):
    author_folder(tmp_path)
    cfg = load_text(tmp_path, """title: "  Week 3:  <b>heads</b> "
intro: |
  Read <i>this</i> first, then [the heads](heads/index.html)
  and [Clark et al.](https://arxiv.org/abs/1906.04341) [x](y.

  ![The heads, drawn by hand](Pictures/heads.png)
files: own
sentences:
  - text: The cat sat on the [MASK].
    question: "Which   word fits?"
  - A [MASK] ran.
""")
    P = config.Piece
    assert cfg.title == "Week 3: <b>heads</b>"
    assert cfg.intro == [[P("Read <i>this</i> first, then "), P("the heads", "heads/index.html"), P(" and "),
                          P("Clark et al.", "https://arxiv.org/abs/1906.04341"), P(" [x](y.")],
                         [P("The heads, drawn by hand", "Pictures/heads.png", picture=True)]]
    assert [s.question for s in cfg.sentences] == ["Which word fits?", ""]
    assert cfg.files_folder == tmp_path / "own"
    assert [(f.name, f.size) for f in cfg.files] == [("CNAME", 20), ("Pictures/heads.png", 15)]


@pytest.mark.parametrize("text, expect", [
    ("title: " + "t" * 201, ":1: 'title' is 201 characters long; at most 200"),
    ("intro: |\n  one\n\n  two [go](javascript:alert)", ":4: 'intro': '[go](javascript:alert)': a link goes to"),
    ("intro: '![](Pictures/heads.png)'\nfiles: own", ":1: 'intro': '![](Pictures/heads.png)' has no alt text"),
    ("intro: '![A cat](cat.png)'\nfiles: own", "a picture must be one of the files in the folder 'files' names "
                                               "('cat.png' is not)"),
    ("intro: '![A cat](Pictures/heads.png)'", "('Pictures/heads.png' is not)"),  # no files: no pictures
    ("intro: " + "i" * 20_001, ":1: 'intro' is 20,001 characters long; at most 20,000"),
    ("files: missing", ":1: 'files' folder missing: no such folder"),
    ("files: own/CNAME", ":1: 'files' folder own/CNAME is a file, not a folder"),
    ("files: ''", ":1: 'files' needs a folder name"),
    ("files: [own]", ":1: 'files' must be text"),
])
def test_the_authors_keys_explain_a_mistake_in_one_line_naming_the_line(tmp_path, text, expect):
    author_folder(tmp_path)
    with pytest.raises(ConfigError) as e:
        load_text(tmp_path, text + "\nsentences:\n  - A [MASK] ran.\n")
    assert str(e.value).startswith(str(tmp_path / "s.yaml") + ":") and expect in str(e.value), str(e.value)
    assert "\n" not in str(e.value)


def test_a_long_question_names_its_line(tmp_path):
    with pytest.raises(ConfigError, match=r"s\.yaml:4: sentence 2's 'question' is 1,001 characters long; at most "
                                          "1,000"):
        load_text(tmp_path, "sentences:\n  - A [MASK].\n  - text: B [MASK].\n    question: " + "q" * 1001 + "\n")


@pytest.mark.parametrize("name, what", [
    ("index.html", "the gallery's own front page"), ("Manifest.json", "the gallery's own manifest"),
    ("static", "the gallery's own folder static/"), ("heads/x.png", "the gallery's own folder heads/"),
    ("cat/extra.txt", "the gallery's own sentence folder cat/"), ("my picture.png", "letters, digits"),
])
def test_a_name_the_gallery_writes_or_cannot_publish_is_refused(tmp_path, name, what):
    own = author_folder(tmp_path)
    (own / name).parent.mkdir(parents=True, exist_ok=True)
    if name == "static":
        (own / name).mkdir()
    else:
        (own / name).write_text("mine")
    with pytest.raises(ConfigError) as e:
        load_text(tmp_path, "files: own\nsentences:\n  - {id: cat, text: 'The cat sat on the [MASK].'}\n")
    assert str(e.value).startswith(f"{tmp_path / 's.yaml'}:1: 'files' folder own: {name.split('/')[0]}"), str(e.value)
    assert what in str(e.value) and "\n" not in str(e.value)


def test_links_stay_inside_the_folder_and_special_files_are_refused(tmp_path):
    own = author_folder(tmp_path)
    (tmp_path / "secret.txt").write_text("not for the web")
    (own / "inside.txt").symlink_to(own / "CNAME")  # a link to one of their own files: copied as a file
    cfg = load_text(tmp_path, "files: own\nsentences:\n  - A [MASK].\n")
    assert [f.name for f in cfg.files] == ["CNAME", "inside.txt", "Pictures/heads.png"]
    for make, expect in ((lambda p: p.symlink_to(tmp_path / "secret.txt"), "is a link leading out of the folder"),
                         (lambda p: p.symlink_to(own / "Pictures"), "is a link to a folder"),
                         (lambda p: p.symlink_to(own / "gone"), "cannot read it"),
                         (os.mkfifo, "is a named pipe, not a regular file")):
        make(own / "zz")
        with pytest.raises(ConfigError, match=f"s\\.yaml:1: 'files' folder own: zz {expect}" if "cannot" not in expect
                           else f"s\\.yaml:1: 'files' folder own: zz: {expect}"):
            load_text(tmp_path, "files: own\nsentences:\n  - A [MASK].\n")
        (own / "zz").unlink()


def test_the_authors_files_are_bounded_in_number_and_size(tmp_path, monkeypatch):
    own = author_folder(tmp_path)
    monkeypatch.setattr(config, "MAX_AUTHOR_FILES", 3)
    for i in range(3):
        (own / f"f{i}.txt").write_text("x")
    with pytest.raises(ConfigError, match="'files' folder own holds more than 3 files or 20 MB"):
        load_text(tmp_path, "files: own\nsentences:\n  - A [MASK].\n")
    monkeypatch.setattr(config, "MAX_AUTHOR_FILES", 200)
    with open(own / "big.bin", "wb") as f:
        f.truncate(config.MAX_AUTHOR_BYTES)  # sparse: 20 MB said, nothing written
    with pytest.raises(ConfigError, match="holds more than 200 files or 20 MB"):
        load_text(tmp_path, "files: own\nsentences:\n  - A [MASK].\n")

