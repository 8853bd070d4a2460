"""Stage 1: read sentences.yaml into plain values, or explain in one line what is wrong with it."""
from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .names import RESERVED

MASK = "[MASK]"  # how masks are written in the file, whatever the model's own mask token
DEFAULT_MODEL = "bert-base-uncased"
DEFAULT_TOP_K = 5
DEFAULT_COLORMAP = "viridis"
IMPORTANCE = ("gradient", "ablation")  # how head importance is measured (attribution.py); the first is the default
TOP_KEYS = ("model", "top_k", "colormap", "importance", "corpus", "sentences")
SENTENCE_KEYS = ("text", "id", "title", "note")
MAX_BYTES = 10_000_000  # a sentences file is text a person wrote; /dev/zero is not
MAX_CHARS = 20_000  # per sentence: far more than any model's 512 tokens, and checked before tokenising
MAX_FILE_BYTES = 200_000_000  # a corpus file
STANDARD_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq")}


class ConfigError(Exception):
    """A mistake in the user's input; the message is the one line they see."""


@dataclass
class Sentence:
    text: str
    slug: str
    title: str = ""
    note: str = ""
    line: int = 0  # where it is in the file, for error messages


@dataclass
class Config:
    model: str = DEFAULT_MODEL
    top_k: int = DEFAULT_TOP_K
    colormap: str = DEFAULT_COLORMAP
    importance: str = IMPORTANCE[0]
    corpus: list[Line] = field(default_factory=list)  # more sentences for the heads pages' statistics only
    corpus_files: list[Path] = field(default_factory=list)
    sentences: list[Sentence] = field(default_factory=list)
    path: Path = Path("sentences.yaml")


@dataclass
class Line:
    text: str
    file: str  # as the user named it
    number: int  # 1-based line number in that file


def read_corpus(path: Path, name: str) -> list[Line]:
    """The sentences of one corpus file: one a line, blank lines and lines starting with # left out."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError(f"corpus file {name} is larger than {MAX_FILE_BYTES // 1_000_000} MB")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"corpus file {name}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"corpus file {name} is a folder, not a text file") from None
    except OSError as e:
        raise ConfigError(f"corpus file {name}: cannot read it ({e.strerror})") from None
    if b"\0" in data:
        line = data[:data.index(b"\0")].count(b"\n") + 1
        raise ConfigError(f"corpus file {name} is not text (a NUL byte on line {line})")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ConfigError(f"corpus file {name} is not UTF-8 text (line {line})") from None
    lines = [Line(t, name, n) for n, t in text_lines(text)]
    if not lines:
        raise ConfigError(f"corpus file {name} holds no sentences (only blank lines and # comments)")
    masked = next((line for line in lines if MASK in line.text), None)
    if masked:
        raise ConfigError(f"corpus file {name} line {masked.number} has a {MASK}: corpus sentences are read as "
                          "they are; put sentences to predict under 'sentences'")
    return lines


def text_lines(text: str) -> list[tuple[int, str]]:
    """(line number, sentence) of text with one sentence a line: blank lines and # comments left out, spaces
    made single. The corpus files and --text - read alike."""
    return [(n, " ".join(t.split())) for n, t in enumerate(text.splitlines(), start=1)
            if t.strip() and not t.lstrip().startswith("#")]


def slugify(text: str, fallback: str) -> str:
    """Lowercase ASCII words joined by '-': never a path separator, a dot-folder or empty."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60].strip("-")
    return slug or fallback


def _where(path: Path, node) -> str:
    return f"{path}:{node.start_mark.line + 1}"


def _unknown(path: Path, node, key: str, allowed) -> ConfigError:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else f" (allowed: {', '.join(allowed)})"
    return ConfigError(f"{_where(path, node)}: unknown key {key!r}{hint}")


def _pairs(path: Path, node) -> list[tuple[str, object, object]]:
    """(key, key node, value node) of a mapping node; a key given twice is an error naming both lines."""
    seen: dict[str, int] = {}
    pairs = []
    for key_node, value_node in node.value:
        key = str(key_node.value)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ConfigError(f"{path}:{line}: {key!r} appears twice (lines {seen[key]} and {line}); "
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
            raise ConfigError(f"{_where(path, node)}: the YAML tag {node.tag!r} is not allowed here; "
                              "write plain values")
        if isinstance(node, yaml.MappingNode):
            todo += [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            todo += node.value


def _scalar(path: Path, node, what: str, kind):
    """The Python value of a scalar node, checked to be of `kind`."""
    try:
        value = yaml.safe_load(yaml.serialize(node)) if isinstance(node, yaml.ScalarNode) else None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError):  # !!int abc, !!timestamp 2001-13-45
        value = None
    if kind is str and isinstance(node, yaml.ScalarNode) and node.tag != "tag:yaml.org,2002:null" \
            and not isinstance(value, (str, bool)) and value is not None:
        value = str(node.value)  # ids like 42 or 2024-01-01 are fine as text
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        name = {str: "text", int: "a whole number"}[kind]
        raise ConfigError(f"{_where(path, node)}: {what} must be {name}")
    return value


def _sentence(path: Path, node, index: int) -> tuple[str, str, str, str, int]:
    """(text, id, title, note, line) of one list item: a plain string or a mapping."""
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        values = {}
        for key, key_node, value_node in _pairs(path, node):
            if key not in SENTENCE_KEYS:
                raise _unknown(path, key_node, key, SENTENCE_KEYS)
            values[key] = "" if value_node.tag.endswith(":null") else _scalar(path, value_node, f"'{key}'", str)
        if "text" not in values:
            raise ConfigError(f"{path}:{line}: sentence {index} has no 'text'")
        text = values["text"]
    else:
        text = _scalar(path, node, f"sentence {index}", str)
        values = {}
    return check_text(text, f"{path}:{line}: sentence {index}"), values.get("id", ""), values.get("title", ""), \
        values.get("note", ""), line


def check_text(text: str, culprit: str) -> str:
    """A sentence to predict, spaces made single; one line naming `culprit` if it cannot be one."""
    if len(text) > MAX_CHARS:
        raise ConfigError(f"{culprit} is {len(text):,} characters long; at most {MAX_CHARS:,}")
    text = " ".join(text.split())
    if not text:
        raise ConfigError(f"{culprit} is empty")
    if MASK not in text:
        raise ConfigError(f"{culprit} has no {MASK}: {text[:60]!r}")
    return text


def _add(cfg: "Config", text: str, sid: str, title: str, note: str, line: int) -> None:
    """A sentence, with a folder name of its own: never one the site uses, never one taken."""
    base = slugify(sid or text, fallback=f"sentence-{len(cfg.sentences) + 1}")
    if base in RESERVED:
        base = f"{base}-sentence"
    taken = {s.slug for s in cfg.sentences}
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    cfg.sentences.append(Sentence(text=text, slug=slug, title=title, note=note, line=line))


def from_texts(texts: list[str]) -> "Config":
    """A configuration of the sentences given with --text, the other settings their defaults."""
    cfg = Config(path=Path("--text"))
    for i, text in enumerate(texts, start=1):
        _add(cfg, check_text(text, f"--text {i}" if len(texts) > 1 else "--text"), "", "", "", i)
    if not cfg.sentences:
        raise ConfigError("--text -: standard input held no sentences")
    return cfg


def load(path: Path) -> Config:
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_BYTES // 1_000_000} MB; a sentences file is short text")
        source = data.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read it ({e.__class__.__name__}: {' '.join(str(e).split())})") from None
    try:
        root = yaml.compose(source, Loader=yaml.SafeLoader)
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a sentences file") from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: YAML syntax error: {e.problem or e.context}") from None
    except yaml.reader.ReaderError as e:
        line = source[:e.position].count("\n") + 1
        raise ConfigError(f"{path}:{line}: YAML does not allow the control character {e.character!r}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: YAML error: {' '.join(str(e).split())}") from None
    if root is None or not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{path}: expected a mapping with a 'sentences' list")
    _check_tags(path, root)

    cfg = Config(path=path)
    sentences_node = None
    for key, key_node, value_node in _pairs(path, root):
        if key not in TOP_KEYS:
            raise _unknown(path, key_node, key, TOP_KEYS)
        if key == "model":
            cfg.model = _scalar(path, value_node, "'model'", str).strip()
            if not cfg.model:
                raise ConfigError(f"{_where(path, value_node)}: 'model' is empty")
            if not cfg.model.isprintable():
                raise ConfigError(f"{_where(path, value_node)}: 'model' holds a line break or control character")
        elif key == "top_k":
            cfg.top_k = _scalar(path, value_node, "'top_k'", int)
        elif key == "colormap":
            cfg.colormap = _scalar(path, value_node, "'colormap'", str)
        elif key == "corpus":
            _corpus(cfg, value_node)
        elif key == "importance":
            cfg.importance = _scalar(path, value_node, "'importance'", str)
            if cfg.importance not in IMPORTANCE:
                raise ConfigError(f"{_where(path, value_node)}: 'importance' must be one of {', '.join(IMPORTANCE)}, "
                                  f"not {cfg.importance!r}")
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

    for i, item in enumerate(sentences_node.value, start=1):
        _add(cfg, *_sentence(path, item, i))
    return cfg


def _corpus(cfg: Config, node) -> None:
    """corpus: a file or a list of files, relative to the YAML file."""
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    if not items:
        raise ConfigError(f"{_where(cfg.path, node)}: 'corpus' is an empty list")
    for item in items:
        name = _scalar(cfg.path, item, "'corpus'", str).strip()
        if not name or not name.isprintable():
            raise ConfigError(f"{_where(cfg.path, item)}: 'corpus' needs a file name")
        path = cfg.path.parent / Path(name).expanduser()
        try:
            cfg.corpus += read_corpus(path, name)
        except ConfigError as e:
            raise ConfigError(f"{_where(cfg.path, item)}: {e}") from None
        cfg.corpus_files.append(path)


def check_top_k(top_k: int, culprit: str) -> None:
    if not 1 <= top_k <= 100:
        raise ConfigError(f"{culprit} must be between 1 and 100, not {top_k}")


def check_colormap(name: str, culprit: str) -> None:
    from matplotlib import colormaps
    if name not in colormaps:
        close = difflib.get_close_matches(name, list(colormaps), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(f"{culprit}: unknown matplotlib colormap {name!r}{hint}")
