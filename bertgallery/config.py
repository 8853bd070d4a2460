"""Stage 1: read sentences.yaml into plain values, or explain in one line what is wrong with it."""
from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

MASK = "[MASK]"  # how masks are written in the file, whatever the model's own mask token
DEFAULT_MODEL = "bert-base-uncased"
DEFAULT_TOP_K = 5
DEFAULT_COLORMAP = "viridis"
TOP_KEYS = ("model", "top_k", "colormap", "sentences")
SENTENCE_KEYS = ("text", "id", "title", "note")


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
    sentences: list[Sentence] = field(default_factory=list)
    path: Path = Path("sentences.yaml")


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
    return ConfigError(f"{_where(path, node)}: unknown key '{key}'{hint}")


def _scalar(path: Path, node, what: str, kind):
    """The Python value of a scalar node, checked to be of `kind`."""
    value = yaml.safe_load(yaml.serialize(node)) if isinstance(node, yaml.ScalarNode) else None
    if kind is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = yaml.serialize(node).strip().removesuffix("...").strip()  # ids like 42 are fine as text
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        name = {str: "text", int: "a whole number"}[kind]
        raise ConfigError(f"{_where(path, node)}: {what} must be {name}")
    return value


def _sentence(path: Path, node, index: int) -> tuple[str, str, str, str, int]:
    """(text, id, title, note, line) of one list item: a plain string or a mapping."""
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        values = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key not in SENTENCE_KEYS:
                raise _unknown(path, key_node, key, SENTENCE_KEYS)
            values[key] = "" if value_node.tag.endswith(":null") else _scalar(path, value_node, f"'{key}'", str)
        if "text" not in values:
            raise ConfigError(f"{path}:{line}: sentence {index} has no 'text'")
        text = values["text"]
    else:
        text = _scalar(path, node, f"sentence {index}", str)
        values = {}
    text = " ".join(text.split())
    if not text:
        raise ConfigError(f"{path}:{line}: sentence {index} is empty")
    if MASK not in text:
        raise ConfigError(f"{path}:{line}: sentence {index} has no {MASK}: {text[:60]!r}")
    return text, values.get("id", ""), values.get("title", ""), values.get("note", ""), line


def load(path: Path) -> Config:
    path = Path(path)
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read it ({e.__class__.__name__}: {e})") from None
    try:
        root = yaml.compose(source, Loader=yaml.SafeLoader)
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

    cfg = Config(path=path)
    sentences_node = None
    for key_node, value_node in root.value:
        key = str(key_node.value)
        if key not in TOP_KEYS:
            raise _unknown(path, key_node, key, TOP_KEYS)
        if key == "model":
            cfg.model = _scalar(path, value_node, "'model'", str).strip()
            if not cfg.model:
                raise ConfigError(f"{_where(path, value_node)}: 'model' is empty")
        elif key == "top_k":
            cfg.top_k = _scalar(path, value_node, "'top_k'", int)
        elif key == "colormap":
            cfg.colormap = _scalar(path, value_node, "'colormap'", str)
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

    taken: set[str] = set()
    for i, item in enumerate(sentences_node.value, start=1):
        text, sid, title, note, line = _sentence(path, item, i)
        base = slugify(sid or text, fallback=f"sentence-{i}")
        if base in ("heads", "static"):  # names the site itself uses
            base = f"{base}-sentence"
        slug, n = base, 2
        while slug in taken:
            slug, n = f"{base}-{n}", n + 1
        taken.add(slug)
        cfg.sentences.append(Sentence(text=text, slug=slug, title=title, note=note, line=line))
    return cfg


def check_top_k(top_k: int, culprit: str) -> None:
    if not 1 <= top_k <= 100:
        raise ConfigError(f"{culprit} must be between 1 and 100, not {top_k}")


def check_colormap(name: str, culprit: str) -> None:
    from matplotlib import colormaps
    if name not in colormaps:
        close = difflib.get_close_matches(name, list(colormaps), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(f"{culprit}: unknown matplotlib colormap '{name}'{hint}")
