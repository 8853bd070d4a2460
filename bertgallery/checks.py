"""Checks on a model before anything loads it: plain Python, JSON and safetensors headers, no torch.

They turn what would be a traceback, a prompt, a pickle or minutes of work (a config that claims 100,000
layers) into one line naming the file, and list the files the loader will read, so the build's cache can
fingerprint exactly those.
"""
from __future__ import annotations

import json
import os
import re
import struct
import sys
from pathlib import Path

from .config import ConfigError, read_regular, special

TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model",
                   "tokenizer.model")
READ_ALSO = ("config.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "merges.txt")
# bounds that no real masked LM passes; a config beyond them would take minutes and gigabytes to build
LIMITS = {"layers": 256, "heads": 256, "hidden": 65536, "vocab": 4_000_000}
MAX_HEADS = 1_536  # layers x heads: a picture and a page each, on every sentence (XLM-R XXL has 48 x 32)
# the first part of a masked-LM head's tensor names (BERT, RoBERTa, DistilBERT, ELECTRA's generator): a folder
# whose weights hold none of them is an encoder without one, listed for its attention only
MLM_HEADS = ("cls", "lm_head", "vocab_projector", "vocab_transform", "vocab_layer_norm", "predictions",
             "generator_predictions", "generator_lm_head")
SHAPE_KEYS = {"layers": ("num_hidden_layers", "n_layers"), "heads": ("num_attention_heads", "n_heads"),
              "hidden": ("hidden_size", "dim"), "vocab": ("vocab_size",)}


def one_line(text: str) -> str:
    """Text from a file or a library, made safe for a one-line message."""
    return " ".join(str(text).split())[:300]


def first_line(error: BaseException) -> str:
    """What a library's exception says, for a one-line message: its first line, or its class's name when it
    says nothing."""
    text = str(error)
    return one_line(text.splitlines()[0] if text else type(error).__name__)


def looks_like_path(spec: str) -> bool:
    """Hub ids are 'name' or 'org/name'; anything else that names a place on disk is a folder."""
    try:
        exists = Path(spec).expanduser().exists()
    except (OSError, ValueError):  # a name too long for a path, a NUL byte: not a folder
        exists = False
    return spec.startswith((".", "/", "~")) or spec.count("/") > 1 or "\\" in spec or exists


def hub_id(spec: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]{0,95}(/[A-Za-z0-9][\w.-]{0,95})?", spec) or ".." in spec:
        raise ConfigError(f"model {one_line(spec)!r} is neither a hub id (such as bert-base-uncased or org/name) "
                          "nor an existing folder")


def _json(path: Path, culprit: str):
    try:
        data = read_regular(path, 50_000_000, f"{culprit}: {path.name}")  # never trusting its size
        if len(data) > 50_000_000:
            raise ConfigError(f"{culprit}: {path.name} is too large to be a configuration file")
        return json.loads(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ConfigError(f"{culprit}: {path.name} is not valid JSON ({one_line(e)})") from None


def _no_special_files(folder: Path, culprit: str) -> None:
    """Every file of the folder must be a regular file, or a link to one wherever it points (a Hugging Face
    cache snapshot is links into ../../blobs): the loader may open any of them, and a named pipe, a device
    or a link to /proc's endless files would hang it, or the hashing of the folder."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as e:
        raise ConfigError(f"{culprit} cannot be read ({e.strerror})") from None
    for entry in entries:
        try:
            kind = special(entry.path, os.stat(entry.path).st_mode)  # through links
        except OSError:
            continue  # a dangling link: nothing to open
        if kind:
            link = f" (a link to {one_line(os.path.realpath(entry.path))})" if entry.is_symlink() else ""
            raise ConfigError(f"{culprit}: {one_line(entry.name)}{link} is {kind}, not a regular file")


def safetensors_names(path: Path, culprit: str) -> list[str]:
    """The tensor names in a safetensors file's header, after checking that the file is one and is whole."""
    bad = f"{culprit}: {path.name} is not a valid safetensors file"
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > min(size - 8, 100_000_000):
                raise ConfigError(f"{bad} (its header is cut off or it is another format, such as a pickle)")
            header = json.loads(f.read(n))
    except (OSError, struct.error, ValueError, UnicodeDecodeError, RecursionError):
        raise ConfigError(f"{bad} (it is cut off or another format, such as a pickle)") from None
    if not isinstance(header, dict):
        raise ConfigError(bad)
    ends = [t.get("data_offsets", [0, 0])[1] for k, t in header.items() if k != "__metadata__" and isinstance(t, dict)]
    if len(ends) != len([k for k in header if k != "__metadata__"]) or max(ends, default=0) > size - 8 - n:
        raise ConfigError(f"{bad} (it is shorter than its header says: cut off?)")
    return [k for k in header if k != "__metadata__"]


def _plain_name(name, folder: Path, culprit: str) -> Path:
    if not isinstance(name, str) or not name.isprintable() or Path(name).name != name or name.startswith(".") \
            or not (folder / name).is_file():
        raise ConfigError(f"{culprit}: its weight index names {one_line(name)!r}, which is not a file in the folder")
    return folder / name


def _shards(index: Path, culprit: str) -> list[Path]:
    """The weight files a sharded model's index (model.safetensors.index.json, pytorch_model.bin.index.json)
    names, each a plain file beside it."""
    data = _json(index, culprit)
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise ConfigError(f"{culprit}: {index.name} has no weight_map")
    return sorted({_plain_name(n, index.parent, culprit) for n in weight_map.values()})


def pickle_only(folder: Path) -> bool:
    return not ((folder / "model.safetensors").is_file() or (folder / "model.safetensors.index.json").is_file())


def weight_files(folder: Path, culprit: str, allow_pickle: bool) -> tuple[list[Path], list[str]]:
    """The files the loader will open for the weights (index files included), and the tensor names."""
    if (folder / "model.safetensors").is_file():
        files = [folder / "model.safetensors"]
    elif (folder / "model.safetensors.index.json").is_file():
        shards = _shards(folder / "model.safetensors.index.json", culprit)
        return [folder / "model.safetensors.index.json", *shards], \
            [k for s in shards for k in safetensors_names(s, culprit)]
    else:
        pickles = [p for p in ("pytorch_model.bin", "pytorch_model.bin.index.json") if (folder / p).is_file()]
        if not pickles:
            raise ConfigError(f"{culprit} holds no model weights (*.safetensors)")
        if not allow_pickle:
            raise ConfigError(f"{culprit} has only pickle weights (pytorch_model.bin), which can run code when "
                              "loaded; convert them to safetensors or pass --allow-pickle")
        files = [folder / pickles[0]]
        if pickles[0].endswith(".json"):
            files += _shards(files[0], culprit)
        print(f"warning: loading pickle weights from {culprit.removeprefix('model folder ')} (--allow-pickle)",
              file=sys.stderr)
        return files, []
    return files, [k for f in files for k in safetensors_names(f, culprit)]


def _shape(config: dict, culprit: str) -> dict:
    shape = {}
    for what, names in SHAPE_KEYS.items():
        value = next((config[n] for n in names if n in config), None)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= LIMITS[what]:
            raise ConfigError(f"{culprit}: config.json gives {names[0]} = {one_line(value)}; a masked LM has "
                              f"between 1 and {LIMITS[what]:,}")
        shape[what] = value
    if "layers" in shape and "heads" in shape:
        check_heads(shape["layers"], shape["heads"], f"{culprit}: config.json")
    return shape


def check_heads(layers: int, heads: int, culprit: str) -> None:
    """At most MAX_HEADS heads in all: each is a picture and a page on every sentence."""
    if layers * heads > MAX_HEADS:
        raise ConfigError(f"{culprit} gives {layers:,} layers of {heads:,} heads, {layers * heads:,} in all; this "
                          f"tool draws at most {MAX_HEADS:,} (BERT-large has 384, XLM-R XL 1,152)")


def masked_lm(names: list[str]) -> bool | None:
    """Whether weights with these tensor names hold a masked-LM head (None: no names to tell, pickle weights)."""
    return any(n.split(".")[0] in MLM_HEADS for n in names) if names else None


def model_folder(folder: Path, spec: str, allow_pickle: bool) -> tuple[list[Path], bool | None]:
    """Check a local model folder; return every file the loader will read, and whether its weights hold a
    masked-LM head (masked_lm)."""
    culprit = f"model folder {one_line(spec)}"
    if not folder.is_dir():
        raise ConfigError(f"{culprit} does not exist")
    _no_special_files(folder, culprit)
    if not (folder / "config.json").is_file():
        raise ConfigError(f"{culprit} has no config.json: not a Hugging Face model folder")
    config = _json(folder / "config.json", culprit)
    if not isinstance(config, dict):
        raise ConfigError(f"{culprit}: config.json is not a JSON object")
    for name in ("config.json", "tokenizer_config.json"):
        data = config if name == "config.json" else \
            _json(folder / name, culprit) if (folder / name).is_file() else {}
        if isinstance(data, dict) and data.get("auto_map"):
            raise ConfigError(f"{culprit} asks to run its own code ('auto_map' in {name}: "
                              f"{one_line(json.dumps(data['auto_map']))[:80]}); this tool never runs a model's code")
    shape = _shape(config, culprit)
    weights, names = weight_files(folder, culprit, allow_pickle)
    if not any((folder / f).is_file() for f in TOKENIZER_FILES):
        raise ConfigError(f"{culprit} has no tokenizer files ({', '.join(TOKENIZER_FILES[:3])}, …): save the "
                          "tokenizer into it too (tokenizer.save_pretrained)")
    # BERT, RoBERTa, ELECTRA: encoder.layer.N; DistilBERT: transformer.layer.N (ALBERT shares one layer: skipped)
    layers = {int(m[1]) for n in names if (m := re.search(r"(?:^|\.)layer\.(\d+)\.", n))}
    if layers and "layers" in shape and shape["layers"] != max(layers) + 1:
        raise ConfigError(f"{culprit}: config.json says {shape['layers']} layers but the weights hold "
                          f"{max(layers) + 1}; the two do not belong together")
    read = [folder / f for f in READ_ALSO + TOKENIZER_FILES if (folder / f).is_file()]
    return sorted(set(read + weights)), masked_lm(names)
