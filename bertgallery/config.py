"""Stage 1: read sentences.yaml into plain values, or explain in one line what is wrong with it."""
from __future__ import annotations

import contextlib
import difflib
import io
import os
import re
import stat
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

import yaml
from yaml.composer import Composer

from .names import RESERVED

MASK = "[MASK]"  # how masks are written in the file, whatever the model's own mask token
DEFAULT_MODEL = "bert-base-uncased"
MAX_MODELS = 8  # a gallery's models: each is a set of pictures of every sentence, and each pair a compare page
DEFAULT_TOP_K = 5
DEFAULT_COLORMAP = "viridis"
IMPORTANCE = ("gradient", "ablation")  # how head importance is measured (attribution.py); the first is the default
TOP_KEYS = ("title", "intro", "model", "models", "top_k", "colormap", "importance", "corpus", "live", "files",
            "sentences")
SENTENCE_KEYS = ("text", "pair", "id", "title", "note", "question")
JOIN = " ‖ "  # between a pair's two segments where they are written on one line (--print, titles)
MAX_BYTES = 10_000_000  # a sentences file (or --text -) is text a person wrote; /dev/zero is not
MAX_CHARS = 20_000  # per sentence: far more than any model's 512 tokens, and checked before tokenising
# gallery sentences, each with its pages and pictures: GitHub Pages' 1 GB holds about 1,100 of BERT-base's and
# 2,200 of the offline model's; statistics over more sentences are what a corpus is for
MAX_SENTENCES = 2_000
MAX_TITLE = 200  # a title is written on the gallery's page and on every head's page (up to 1,536 of them)
MAX_QUESTION = 1_000  # a question for the reader, under its sentence: a sentence or two
MAX_INTRO = 20_000  # the gallery's introduction: a few screens of text
MAX_AUTHOR_FILES = 200  # the author's own files (files:): a favicon, CNAME, the introduction's pictures
MAX_AUTHOR_BYTES = 20_000_000  # all of them together: a gallery's own pictures are a few MB at most
MAX_MASKS = 100  # a sentence's: each is a ranked table, a map of its heads' importance and a backward pass
MAX_NODES = 50_000  # YAML values in a sentences file: 2,000 sentences with all four keys are 18,000
MAX_CORPUS_BYTES = 200_000_000  # all corpus files together
MAX_CORPUS_LINES = 1_000_000  # corpus sentences: hours of model runs on a CPU
STANDARD_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq")}


class ConfigError(Exception):
    """A mistake in the user's input; the message is the one line they see."""


@dataclass
class Sentence:
    text: str
    slug: str
    pair: str = ""  # the second segment ([CLS] text [SEP] pair [SEP]); "" for a single sentence
    title: str = ""
    note: str = ""
    question: str = ""  # for the reader, shown under the sentence
    where: str = ""  # how an error names it: "s.yaml:3: sentence 2", "--text 2", "--text -: line 4"


@dataclass(frozen=True)
class Given:
    """A sentence from the command line: its text, its pair (None: none) and how an error names it."""
    text: str
    pair: str | None = None
    where: str = "--text"


@dataclass(frozen=True)
class Piece:
    """A run of the introduction's text: plain text, a link ([text](target)) or a picture (![alt](file))."""
    text: str  # the words, the link's text or the picture's alt text
    href: str = ""  # a link's target or a picture's file
    picture: bool = False


@dataclass(frozen=True)
class AuthorFile:
    """One of the author's own files (files:), copied into the site as it is."""
    name: str  # its path in the site (and in the folder), with '/'
    path: Path  # where it is on disk
    size: int


@dataclass
class Config:
    models: list[str] = field(default_factory=lambda: [DEFAULT_MODEL])  # specs, in the user's order
    top_k: int = DEFAULT_TOP_K
    colormap: str = DEFAULT_COLORMAP
    importance: str = IMPORTANCE[0]
    corpus: list[Line] = field(default_factory=list)  # more sentences for the heads pages' statistics only
    corpus_files: list[Path] = field(default_factory=list)
    sentences: list[Sentence] = field(default_factory=list)
    path: Path = Path("sentences.yaml")
    # the "Try your own sentence" page: None for none, "" to run the gallery's model in the browser, or the
    # model to run there instead (a hub id, a folder or "offline": a lighter one suits readers on phones)
    live: str | None = None
    title: str = ""  # the gallery's own name for itself ("" for the default)
    intro: list[list[Piece]] = field(default_factory=list)  # the gallery's introduction: paragraphs of pieces
    files_folder: Path | None = None  # the author's own files (files:), copied into the site
    files: list[AuthorFile] = field(default_factory=list)


@dataclass(slots=True)  # a million of them may be held at once
class Line:
    text: str
    file: str  # as the user named it
    number: int  # 1-based line number in that file


def shown(text: str, quoted: bool = True, width: int = 80) -> str:
    """A name the user gave, for a one-line message: at most `width` characters of it (a 5 MB colour map name
    made a 5 MB line)."""
    cut = text[:width] + ("…" if len(text) > width else "")
    return repr(cut) if quoted else cut


def special(path, mode: int) -> str:
    """What a file of this mode at this path is, if it is not a regular file on disk (else ""): reading a
    named pipe can wait forever, a device or a file of /proc (regular, but its size says 0) never end."""
    if stat.S_ISREG(mode):
        real = os.path.realpath(path)
        return f"a file of /{real.split('/')[1]}" if real.startswith(("/proc/", "/sys/")) else ""
    if stat.S_ISDIR(mode):
        return ""
    return "a named pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"


def open_regular(path: Path, what: str) -> BinaryIO:
    """A regular file (or a link to one, wherever it points), opened for reading. A named pipe, a device, a
    socket or a file of /proc is refused at once, naming it (`what`); a folder raises IsADirectoryError."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a pipe nobody writes must not block us
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(21, "Is a directory", str(path))
        kind = special(path, mode)
        if kind:
            raise ConfigError(f"{what} is {kind}, not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path, limit: int, what: str) -> bytes:
    """At most `limit` + 1 bytes of a regular file (see open_regular): more than `limit` means too large."""
    with open_regular(path, what) as f:
        return f.read(limit + 1)


def read_lines(stream, culprit: str, max_bytes: int, too_large: str, max_lines: int,
               too_many: str, keep_tabs: bool = False) -> Iterator[tuple[int, str]]:
    """(line number, sentence) of a stream of text with one sentence a line (the corpus files and --text -):
    blank lines and lines starting with # left out, spaces made single. Read a megabyte at most at a time,
    never more than `max_bytes` in all nor more than `max_lines` sentences (else the one line `too_large` or
    `too_many`); a NUL byte or bytes that are not UTF-8 are one line naming the line. `keep_tabs`: tabs inside a
    line are kept (each part's spaces made single), for --text -'s pairs."""
    used, number, kept = 0, 0, 0
    while True:
        pieces = []
        while not pieces or not pieces[-1].endswith(("\n", b"\n")[isinstance(pieces[-1], bytes)]):
            piece = stream.readline(min(1 << 20, max_bytes - used + 1))
            if not piece:
                break
            # a text stream (sys.stdin replaced, in a notebook or a test) counts its characters as UTF-8 does
            used += len(piece) if isinstance(piece, bytes) else len(piece.encode("utf-8", "surrogatepass"))
            if used > max_bytes:
                raise ConfigError(too_large)
            if ("\0", b"\0")[isinstance(piece, bytes)] in piece:
                raise ConfigError(f"{culprit} is not text (a NUL byte on line {number + 1})")
            pieces.append(piece)
        if not pieces:
            return
        number += 1
        if isinstance(pieces[0], bytes):
            raw = b"".join(pieces)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ConfigError(f"{culprit} is not UTF-8 text (line {number}: byte {raw[e.start]:#04x})") from None
        else:
            text = "".join(pieces)
        if number == 1:
            text = text.removeprefix("\ufeff")
        if text.strip() and not text.lstrip().startswith("#"):
            kept += 1
            if kept > max_lines:
                raise ConfigError(too_many)
            yield number, "\t".join(" ".join(p.split()) for p in text.rstrip("\r\n").split("\t")) if keep_tabs \
                and "\t" in text.rstrip("\r\n") else " ".join(text.split())


def text_lines(text: str) -> list[tuple[int, str]]:
    """(line number, sentence) of text already in memory, read as read_lines reads a stream."""
    return list(read_lines(io.StringIO(text), "text", len(text.encode("utf-8", "surrogatepass")), "",
                           len(text) + 1, ""))


@dataclass
class Budget:
    """What a corpus may still take: its bounds are on all its files together."""
    bytes: int
    lines: int


def read_corpus(path: Path, name: str, budget: Budget | None = None) -> list[Line]:
    """The sentences of one corpus file: one a line, blank lines and lines starting with # left out; what it
    takes is taken from `budget`."""
    culprit = f"corpus file {shown(name, quoted=False)}"
    budget = budget or Budget(MAX_CORPUS_BYTES, MAX_CORPUS_LINES)
    try:
        with open_regular(path, culprit) as f:
            lines = [Line(t, name, n) for n, t in read_lines(
                f, culprit, budget.bytes, f"{culprit}: the corpus is larger than {MAX_CORPUS_BYTES // 1_000_000} MB "
                                          "(all its files together)",
                budget.lines, f"{culprit}: the corpus holds more than {MAX_CORPUS_LINES:,} sentences "
                              "(all its files together)")]
            budget.bytes -= f.tell()
            budget.lines -= len(lines)
    except FileNotFoundError:
        raise ConfigError(f"{culprit}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{culprit} is a folder, not a text file") from None
    except OSError as e:
        raise ConfigError(f"{culprit}: cannot read it ({e.strerror})") from None
    if not lines:
        raise ConfigError(f"{culprit} holds no sentences (only blank lines and # comments)")
    masked = next((line for line in lines if MASK in line.text), None)
    if masked:
        raise ConfigError(f"{culprit} line {masked.number} has a {MASK}: corpus sentences are read as "
                          "they are; put sentences to predict under 'sentences'")
    return lines


def slugify(text: str, fallback: str) -> str:
    """Lowercase ASCII words joined by '-': never a path separator, a dot-folder or empty."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words, length = [], 0
    for word in re.finditer(r"[a-z0-9]+", ascii_text.lower()):  # only as far as 60 characters need
        words.append(word[0])
        length += len(word[0]) + 1
        if length > 60:
            break
    return "-".join(words)[:60].strip("-") or fallback


class _TooMany(Exception):
    """More YAML values than MAX_NODES, at `mark`."""

    def __init__(self, mark):
        self.mark = mark


class _Counting(Composer):
    """PyYAML's composer, counting the values it makes: a 10 MB file of a million tiny values stops at
    MAX_NODES, at once, instead of taking seconds and a gigabyte to compose."""
    nodes = 0

    def compose_node(self, parent, index):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooMany(self.peek_event().start_mark)
        return super().compose_node(parent, index)


class _PyLoader(_Counting, yaml.SafeLoader):
    pass


_Loader = _PyLoader
if yaml.__with_libyaml__:  # libyaml's scanner and parser, in C, with the same marks; our composer
    from yaml._yaml import CParser
    from yaml.resolver import Resolver

    class _Loader(_Counting, CParser, Resolver):
        def __init__(self, stream):
            CParser.__init__(self, stream)
            Composer.__init__(self)
            Resolver.__init__(self)


def _where(path: Path, node) -> str:
    return f"{path}:{node.start_mark.line + 1}"


def _unknown(path: Path, node, key: str, allowed) -> ConfigError:
    close = difflib.get_close_matches(key, allowed, n=1) if len(key) < 100 else []
    hint = f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(allowed)})"
    return ConfigError(f"{_where(path, node)}: unknown key {shown(key)}{hint}")


def _pairs(path: Path, node) -> list[tuple[str, object, object]]:
    """(key, key node, value node) of a mapping node; a key given twice is an error naming both lines."""
    seen: dict[str, int] = {}
    pairs = []
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            raise ConfigError(f"{path}:{line}: a key must be a plain name, not a list or a mapping")
        key = str(key_node.value)
        if key in seen:
            raise ConfigError(f"{path}:{line}: {shown(key)} appears twice (lines {seen[key]} and {line}); "
                              "the second would silently replace the first")
        seen[key] = line
        pairs.append((key, key_node, value_node))
    return pairs


def _check_tags(path: Path, root) -> None:
    """Only plain YAML: a tag such as !foo or !!python/object names a constructor we never run."""
    todo, seen = [root], set()
    while todo:
        node = todo.pop()
        if id(node) in seen:  # an alias: the same node again, or a node that holds itself
            continue
        seen.add(id(node))
        if node.tag not in STANDARD_TAGS:
            raise ConfigError(f"{_where(path, node)}: the YAML tag {shown(node.tag)} is not allowed here; "
                              "write plain values")
        if isinstance(node, yaml.MappingNode):
            todo += [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            todo += node.value


def _scalar(path: Path, node, what: str, kind):
    """The Python value of a scalar node, checked to be of `kind` (and text to be text)."""
    try:
        value = yaml.constructor.SafeConstructor().construct_object(node) if isinstance(node, yaml.ScalarNode) \
            else None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError):  # !!int abc, !!timestamp 2001-13-45
        value = None
    if kind is str and isinstance(node, yaml.ScalarNode) and node.tag != "tag:yaml.org,2002:null" \
            and not isinstance(value, (str, bool)) and value is not None:
        value = str(node.value)  # ids like 42 or 2024-01-01 are fine as text
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        name = {str: "text", int: "a whole number"}[kind]
        raise ConfigError(f"{_where(path, node)}: {what} must be {name}")
    if kind is str:
        check_unicode(value, f"{_where(path, node)}: {what}")
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def check_unicode(text: str, culprit: str) -> None:
    """Text that can be written as UTF-8: a lone surrogate (an escape such as \\udce9 in YAML, or bytes that
    are not UTF-8 on the command line, which Python keeps as surrogates) would fail only when a page is
    written, after the model has run."""
    try:
        text.encode("utf-8")
        return
    except UnicodeEncodeError:
        found = _SURROGATE.search(text)
    if found:
        raise ConfigError(f"{culprit} is not text: it holds {ascii(found[0])} at character {found.start() + 1:,}, a "
                          "lone surrogate (bytes that are not UTF-8, or an escape such as \\udce9)")


def _sentence(path: Path, node, index: int) -> tuple[str, str, str, str, str, str, str]:
    """(text, pair, id, title, note, question, where) of one list item: a plain string or a mapping."""
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        values = {}
        for key, key_node, value_node in _pairs(path, node):
            if key not in SENTENCE_KEYS:
                raise _unknown(path, key_node, key, SENTENCE_KEYS)
            values[key] = "" if value_node.tag.endswith(":null") else _scalar(path, value_node, f"'{key}'", str)
            if key == "question" and len(values[key]) > MAX_QUESTION:
                raise ConfigError(f"{_where(path, value_node)}: sentence {index}'s 'question' is "
                                  f"{len(values[key]):,} characters long; at most {MAX_QUESTION:,} (a question "
                                  "for the reader; a longer text belongs in the gallery's 'intro')")
        if "text" not in values:
            raise ConfigError(f"{path}:{line}: sentence {index} has no 'text'")
        if len(values.get("title", "")) > MAX_TITLE:
            raise ConfigError(f"{path}:{line}: sentence {index}'s 'title' is {len(values['title']):,} characters long; "
                              f"at most {MAX_TITLE} (every head's page names each sentence by its title; "
                              "a 'note' may be longer)")
        text = values["text"]
    else:
        text = _scalar(path, node, f"sentence {index}", str)
        values = {}
    where = f"{path}:{line}: sentence {index}"
    text, pair = check_pair(text, values.get("pair"), where)
    return text, pair, values.get("id", ""), values.get("title", ""), values.get("note", ""), \
        " ".join(values.get("question", "").split()), where


def check_text(text: str, culprit: str, masked: bool = True) -> str:
    """A sentence to predict, spaces made single; one line naming `culprit` if it cannot be one. `masked`:
    it must hold a [MASK] (a pair's segments need one between them: check_pair)."""
    check_unicode(text, culprit)
    if len(text) > MAX_CHARS:
        raise ConfigError(f"{culprit} is {len(text):,} characters long; at most {MAX_CHARS:,}")
    text = " ".join(text.split())
    if not text:
        raise ConfigError(f"{culprit} is empty")
    if masked and MASK not in text:
        raise ConfigError(f"{culprit} has no {MASK}: {text[:60]!r}")
    if text.count(MASK) > MAX_MASKS:
        raise ConfigError(f"{culprit} has {text.count(MASK):,} masks; at most {MAX_MASKS} (each is a ranked table, "
                          "a map of its heads' importance and a backward pass through the model)")
    return text


def check_pair(text: str, pair: str | None, culprit: str) -> tuple[str, str]:
    """(text, pair) of a sentence and its second segment (None: none), each checked as check_text checks a
    sentence; the masks may be in either segment, but there must be one, and MAX_MASKS in both together."""
    if pair is None:
        return check_text(text, culprit), ""
    text = check_text(text, culprit, masked=False)
    pair = check_text(pair, f"{culprit}'s pair", masked=False)
    masks = text.count(MASK) + pair.count(MASK)
    if not masks:
        raise ConfigError(f"{culprit} has no {MASK} in either segment: {text[:40]!r}, pair {pair[:40]!r}")
    if masks > MAX_MASKS:
        raise ConfigError(f"{culprit} has {masks:,} masks in its two segments; at most {MAX_MASKS}")
    return text, pair


def joined(text: str, pair: str) -> str:
    """A sentence and its pair on one line, as --print and the pages' titles write them."""
    return f"{text}{JOIN}{pair}" if pair else text


class Slugs:
    """Folder names for a gallery's sentences, each new one in constant time (amortised): never one the
    site uses, never one taken; identical sentences get -2, -3, ..."""

    def __init__(self):
        self.taken: set[str] = set()
        self.after: dict[str, int] = {}  # base -> the next suffix to try

    def new(self, base: str) -> str:
        if base in RESERVED:
            base = f"{base}-sentence"
        slug = base
        if slug in self.taken:
            n = self.after.get(base, 2)
            while f"{base}-{n}" in self.taken:  # each probe moves `after` on: no suffix is tried twice
                n += 1
            slug, self.after[base] = f"{base}-{n}", n + 1
        self.taken.add(slug)
        return slug


def _add(cfg: "Config", slugs: Slugs, text: str, pair: str, sid: str, title: str, note: str, question: str,
         where: str) -> None:
    """A sentence, with a folder name of its own (a pair's: from both segments)."""
    slug = slugs.new(slugify(sid or f"{text} {pair}", fallback=f"sentence-{len(cfg.sentences) + 1}"))
    cfg.sentences.append(Sentence(text=text, slug=slug, pair=pair, title=title, note=note,
                                  question=question, where=where))


def too_many(count: int, where: str) -> ConfigError:
    return ConfigError(f"{where}: {count:,} sentences; a gallery holds at most {MAX_SENTENCES:,} (each has its own "
                       "pages and pictures: GitHub Pages' 1 GB holds about 1,100 with BERT-base); for statistics "
                       "over more sentences, name them as a corpus")


def from_texts(texts: list[Given]) -> "Config":
    """A configuration of the sentences given with --text, the other settings their defaults."""
    cfg, slugs = Config(path=Path("--text")), Slugs()
    if len(texts) > MAX_SENTENCES:
        raise too_many(len(texts), "--text")
    for given in texts:
        _add(cfg, slugs, *check_pair(given.text, given.pair, given.where), "", "", "", "", given.where)
    if not cfg.sentences:
        raise ConfigError("--text -: standard input held no sentences")
    return cfg


def stdin_texts(stream) -> list[Given]:
    """The sentences of --text -, one a line, read with the sentences file's bounds as they arrive: a stream
    that never ends (yes ... |) stops at the first bound it passes. A tab parts a line's two segments (text and
    pair); a second tab is an error naming the line. Each is named by its line of standard input, blank lines
    and # comments counted."""
    out = []
    for number, text in read_lines(
            stream, "--text -: standard input", MAX_BYTES, f"--text -: standard input is larger than "
            f"{MAX_BYTES // 1_000_000} MB; sentences to predict are short text", MAX_SENTENCES,
            f"--text -: standard input holds more than {MAX_SENTENCES:,} sentences; a gallery holds at most "
            f"{MAX_SENTENCES:,}", keep_tabs=True):
        parts = [" ".join(p.split()) for p in text.split("\t")]
        if len(parts) > 2:
            raise ConfigError(f"--text -: line {number} has {len(parts) - 1} tabs; one tab parts a sentence from "
                              "its pair, and a line holds at most two segments")
        if len(parts) == 2 and not (parts[0] and parts[1]):
            missing = "no text before" if not parts[0] else "nothing after"
            raise ConfigError(f"--text -: line {number} has a tab but {missing} it; a tab parts a sentence from "
                              "its pair")
        out.append(Given(parts[0], parts[1] if len(parts) == 2 else None, f"--text -: line {number}"))
    return out


def load(path: Path) -> Config:
    path = Path(path)
    try:
        data = read_regular(path, MAX_BYTES, str(path))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder, not a sentences file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read it ({e.strerror or e.__class__.__name__})") from None
    if len(data) > MAX_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_BYTES // 1_000_000} MB; a sentences file is short text")
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte {data[e.start]:#04x})") from None
    try:
        root = yaml.compose(source, Loader=_Loader)
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a sentences file") from None
    except _TooMany as e:
        raise ConfigError(f"{path}:{e.mark.line + 1}: more than {MAX_NODES:,} YAML values; a sentences file holds at "
                          f"most {MAX_SENTENCES:,} sentences") from None
    except yaml.MarkedYAMLError as e:
        if "maximum nesting depth" in str(e.problem):  # libyaml's own bound on it
            raise ConfigError(f"{path}: nested too deeply to be a sentences file") from None
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: YAML syntax error: {e.problem or e.context}") from None
    except yaml.reader.ReaderError as e:
        # libyaml gives a byte offset and a code point, PyYAML a character offset and a character
        before = data[:e.position].count(b"\n") if isinstance(e.character, int) else source[:e.position].count("\n")
        character = chr(e.character) if isinstance(e.character, int) else e.character
        raise ConfigError(f"{path}:{before + 1}: YAML does not allow the control character {character!r}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: YAML error: {' '.join(str(e).split())}") from None
    if root is None or not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{path}: expected a mapping with a 'sentences' list")
    _check_tags(path, root)

    cfg = Config(path=path)
    sentences_node, model_line, intro_node, files_node = None, None, None, None
    for key, key_node, value_node in _pairs(path, root):
        if key not in TOP_KEYS:
            raise _unknown(path, key_node, key, TOP_KEYS)
        if key in ("model", "models"):
            line = key_node.start_mark.line + 1
            if model_line:
                raise ConfigError(f"{path}:{line}: give either 'model' (one) or 'models' (a list), not both "
                                  f"(lines {model_line} and {line})")
            model_line = line
            cfg.models = [_model(path, value_node, "'model'")] if key == "model" else _models(path, value_node)
        elif key == "top_k":
            cfg.top_k = _scalar(path, value_node, "'top_k'", int)
        elif key == "colormap":
            cfg.colormap = _scalar(path, value_node, "'colormap'", str)
        elif key == "corpus":
            _corpus(cfg, value_node)
        elif key == "live":
            cfg.live = _live(path, value_node)
        elif key == "title":
            cfg.title = _title(path, value_node)
        elif key == "intro":
            intro_node = value_node  # read last: its pictures are files of the folder 'files' names
        elif key == "files":
            files_node = value_node  # read after the sentences: a name of theirs is not the author's to take
        elif key == "importance":
            cfg.importance = _scalar(path, value_node, "'importance'", str)
            if cfg.importance not in IMPORTANCE:
                raise ConfigError(f"{_where(path, value_node)}: 'importance' must be one of {', '.join(IMPORTANCE)}, "
                                  f"not {shown(cfg.importance)}")
        else:
            sentences_node = value_node
    check_top_k(cfg.top_k, f"{path}: 'top_k'")
    check_colormap(cfg.colormap, f"{path}: 'colormap'")

    if sentences_node is None:
        raise ConfigError(f"{path}: no 'sentences' list")
    if not isinstance(sentences_node, yaml.SequenceNode):
        raise ConfigError(f"{_where(path, sentences_node)}: 'sentences' must be a list")
    if not sentences_node.value:
        raise ConfigError(f"{_where(path, sentences_node)}: 'sentences' is empty")
    if len(sentences_node.value) > MAX_SENTENCES:
        raise too_many(len(sentences_node.value), _where(path, sentences_node.value[MAX_SENTENCES]))

    slugs = Slugs()
    for i, item in enumerate(sentences_node.value, start=1):
        _add(cfg, slugs, *_sentence(path, item, i))
    if files_node is not None:
        cfg.files_folder, cfg.files = author_files(path, files_node, {s.slug for s in cfg.sentences})
    if intro_node is not None:
        cfg.intro = _intro(path, intro_node, {f.name for f in cfg.files})
    return cfg


def _live(path: Path, node) -> str | None:
    """live: true (the gallery's model), false, or the model to run in the browser."""
    value = None
    if isinstance(node, yaml.ScalarNode):
        with contextlib.suppress(yaml.YAMLError, ValueError, TypeError, OverflowError):
            value = yaml.constructor.SafeConstructor().construct_object(node)
    if isinstance(value, bool):
        return "" if value else None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{_where(path, node)}: 'live' must be true, false or the model to run in the browser "
                          "(a hub id such as distilbert-base-uncased, a folder, or offline)")
    check_unicode(value, f"{_where(path, node)}: 'live'")
    if not value.strip().isprintable():
        raise ConfigError(f"{_where(path, node)}: 'live' holds a line break or control character")
    return value.strip()


def check_model(spec: str, culprit: str) -> str:
    """A model as the user wrote it, spaces around it dropped: never empty, never a line break."""
    spec = spec.strip()
    if not spec:
        raise ConfigError(f"{culprit} is empty")
    if not spec.isprintable():
        raise ConfigError(f"{culprit} holds a line break or control character")
    return spec


def _model(path: Path, node, what: str) -> str:
    return check_model(_scalar(path, node, what, str), f"{_where(path, node)}: {what}")


def _models(path: Path, node) -> list[str]:
    """models: a list of 1 to MAX_MODELS hub ids, folders or names (offline, minilm)."""
    if not isinstance(node, yaml.SequenceNode):
        raise ConfigError(f"{_where(path, node)}: 'models' must be a list (for one model, 'model: NAME' will do)")
    if not node.value:
        raise ConfigError(f"{_where(path, node)}: 'models' is an empty list")
    if len(node.value) > MAX_MODELS:
        raise too_many_models(len(node.value), _where(path, node.value[MAX_MODELS]))
    return [_model(path, item, f"model {i}") for i, item in enumerate(node.value, start=1)]


def too_many_models(count: int, where: str) -> ConfigError:
    return ConfigError(f"{where}: {count} models; a gallery compares at most {MAX_MODELS} (each draws every "
                       "sentence again, and each pair of them has a compare page)")


def _corpus(cfg: Config, node) -> None:
    """corpus: a file or a list of files, relative to the YAML file; a file named twice (c.txt, ./c.txt, a
    link to it) is counted once, and a note says so."""
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    if not items:
        raise ConfigError(f"{_where(cfg.path, node)}: 'corpus' is an empty list")
    budget, first, again = Budget(MAX_CORPUS_BYTES, MAX_CORPUS_LINES), {}, {}
    for item in items:
        name = _scalar(cfg.path, item, "'corpus'", str).strip()
        if not name or not name.isprintable():
            raise ConfigError(f"{_where(cfg.path, item)}: 'corpus' needs a file name")
        path = cfg.path.parent / Path(name).expanduser()
        try:
            st = os.stat(path)
            file = (st.st_dev, st.st_ino)
        except OSError:  # read_corpus says what is wrong with it
            file = None
        if file in first:
            again.setdefault(first[file], []).append(name)
            continue
        first[file] = name
        try:
            cfg.corpus += read_corpus(path, name, budget)
        except ConfigError as e:
            raise ConfigError(f"{_where(cfg.path, item)}: {e}") from None
        cfg.corpus_files.append(path)
    for name, names in again.items():
        print(f"note: {_where(cfg.path, node)}: 'corpus' names the file {shown(name, quoted=False)} {len(names) + 1} "
              f"times (as {', '.join(shown(n, quoted=False) for n in dict.fromkeys([name, *names]))}); it is counted "
              "once", file=sys.stderr)


def _title(path: Path, node) -> str:
    """The gallery's title: one line of text, spaces made single; "" for the default."""
    title = " ".join(("" if node.tag.endswith(":null") else _scalar(path, node, "'title'", str)).split())
    if len(title) > MAX_TITLE:
        raise ConfigError(f"{_where(path, node)}: 'title' is {len(title):,} characters long; at most {MAX_TITLE} "
                          "(it names the gallery at the top of every page; the 'intro' may be longer)")
    return title


_MARKUP = re.compile(r"(!?)\[([^\[\]\n]*)\]\(([^()\s]*)\)")  # [text](target), ![alt](file)
WEB = ("https://", "http://", "mailto:")  # link targets outside the gallery that the introduction may name


def _intro(path: Path, node, files: set[str]) -> list[list[Piece]]:
    """The introduction: paragraphs (separated by a blank line) of plain text with two bits of markup, a link
    [text](target) to a web address, one of the author's files or a page of the gallery, and a picture
    ![alt](file) of the author's files. Nothing else is read as markup: every character is shown as written."""
    from .names import site_file
    text = "" if node.tag.endswith(":null") else _scalar(path, node, "'intro'", str)
    if len(text) > MAX_INTRO:
        raise ConfigError(f"{_where(path, node)}: 'intro' is {len(text):,} characters long; at most {MAX_INTRO:,}")

    first = node.start_mark.line + 1 + (node.style == "|")  # the text's first line: exact in a literal block (|)
    blocks, lines = [], text.split("\n")  # paragraphs: lines with words, up to a blank one
    for number, line in enumerate(lines):
        if line.strip():
            if number == 0 or not lines[number - 1].strip():
                blocks.append((number, []))
            blocks[-1][1].append(line)
    paragraphs = []
    for number, block_lines in blocks:
        block, pieces, at = "\n".join(block_lines), [], 0
        for m in _MARKUP.finditer(block):
            picture, words, target = bool(m[1]), " ".join(m[2].split()), m[3]
            line = first + (number + block.count("\n", 0, m.start()) if node.style == "|" else 0)
            culprit = f"{path}:{line}: 'intro': {shown(m[0])}"
            if not words:
                raise ConfigError(f"{culprit} has no " + ("alt text (what the picture shows, for readers who "
                                                          "cannot see it)" if picture else "text to click"))
            if picture and target not in files:
                raise ConfigError(f"{culprit}: a picture must be one of the files in the folder 'files' names "
                                  f"({shown(target)} is not)")
            if not picture and not target.startswith(WEB) and target not in files and not site_file(target):
                raise ConfigError(f"{culprit}: a link goes to a web address (https://…), an e-mail address "
                                  "(mailto:…), one of the files in 'files' or a page of the gallery "
                                  f"(such as heads/index.html), not {shown(target)}")
            pieces += [Piece(re.sub(r"\s+", " ", block[at:m.start()])), Piece(words, target, picture)]
            at = m.end()
        pieces.append(Piece(re.sub(r"\s+", " ", block[at:])))
        pieces[0], pieces[-1] = Piece(pieces[0].text.lstrip(), pieces[0].href, pieces[0].picture), \
            Piece(pieces[-1].text.rstrip(), pieces[-1].href, pieces[-1].picture)
        paragraphs.append([p for p in pieces if p.text])
    return paragraphs


_AUTHOR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # as the manifest lists a site's files


def author_files(path: Path, node, slugs: set[str]) -> tuple[Path, list[AuthorFile]]:
    """(the folder, its files) of files: a folder of the author's own files (a favicon, CNAME, the pictures of
    the introduction), relative to the sentences file, copied into the site as they are. Names starting with
    '.' are left out (.git, .DS_Store); a link must stay inside the folder and lead to a file; no name may be
    one the gallery writes itself; at most MAX_AUTHOR_FILES files and MAX_AUTHOR_BYTES in all."""
    from .names import MANIFEST, PAGE
    where = _where(path, node)
    name = "" if node.tag.endswith(":null") else _scalar(path, node, "'files'", str).strip()
    if not name or not name.isprintable():
        raise ConfigError(f"{where}: 'files' needs a folder name (a folder of your own files to publish with "
                          "the gallery)")
    folder = path.parent / Path(name).expanduser()
    culprit = f"{where}: 'files' folder {shown(name, quoted=False)}"
    try:
        if not stat.S_ISDIR(os.stat(folder).st_mode):
            raise ConfigError(f"{culprit} is a file, not a folder")
    except FileNotFoundError:
        raise ConfigError(f"{culprit}: no such folder") from None
    except OSError as e:
        raise ConfigError(f"{culprit}: cannot read it ({e.strerror})") from None
    real = os.path.realpath(folder)
    taken = {PAGE: "front page", MANIFEST: "manifest"} | {n: f"folder {n}/" for n in RESERVED} \
        | {slug: f"sentence folder {slug}/" for slug in slugs}
    found, total, seen = [], 0, 0

    def refused(error):
        raise ConfigError(f"{culprit}: cannot read {error.filename} ({error.strerror})")

    for root, dirs, names_here in os.walk(folder, onerror=refused):
        rel = Path(os.path.relpath(root, folder))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for entry in dirs + sorted(n for n in names_here if not n.startswith(".")):
            seen += 1
            if seen > 4 * MAX_AUTHOR_FILES:  # a tree of empty folders is no lighter to walk
                raise ConfigError(f"{culprit} holds more than {MAX_AUTHOR_FILES} files and folders")
            full, shown_name = os.path.join(root, entry), (rel / entry).as_posix().removeprefix("./")
            what = f"{culprit}: {shown(shown_name, quoted=False)}"
            if not _AUTHOR_NAME.fullmatch(entry) or ".." in entry:
                raise ConfigError(f"{what}: a name in a published site is letters, digits, '-', '_' and '.'; "
                                  "rename it")
            if os.path.islink(full) and os.path.commonpath([real, os.path.realpath(full)]) != real:
                raise ConfigError(f"{what} is a link leading out of the folder (to {os.path.realpath(full)}); "
                                  "copy the file in instead")
            top = shown_name.split("/")[0].lower()
            if top in taken:
                raise ConfigError(f"{what} clashes with the gallery's own {taken[top]}; rename it")
            if entry in dirs:
                if os.path.islink(full):
                    raise ConfigError(f"{what} is a link to a folder; copy the folder in instead")
                continue
            try:
                st = os.stat(full)
            except OSError as e:
                raise ConfigError(f"{what}: cannot read it ({e.strerror})") from None
            kind = special(full, st.st_mode)
            if kind or not stat.S_ISREG(st.st_mode):
                raise ConfigError(f"{what} is {kind or 'a folder'}, not a regular file")
            total += st.st_size
            if len(found) == MAX_AUTHOR_FILES or total > MAX_AUTHOR_BYTES:
                raise ConfigError(f"{culprit} holds more than {MAX_AUTHOR_FILES} files or "
                                  f"{MAX_AUTHOR_BYTES // 1_000_000} MB (a gallery's own pictures and icons are "
                                  "far fewer)")
            found.append(AuthorFile(shown_name, Path(full), st.st_size))
    return folder, found


def check_top_k(top_k: int, culprit: str) -> None:
    if not 1 <= top_k <= 100:
        raise ConfigError(f"{culprit} must be between 1 and 100, not {top_k}")


def check_colormap(name: str, culprit: str) -> None:
    from matplotlib import colormaps
    if name not in colormaps:
        close = difflib.get_close_matches(name, list(colormaps), n=1) if len(name) < 100 else []
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(f"{culprit}: unknown matplotlib colormap {shown(name)}{hint}")
