"""Live mode's export: a WordPiece masked LM (BERT, DistilBERT, the offline model) as files that a static page
loads with <script src> and runs in a Web Worker (templates/live.js), from file:// as over http.

`export(net, tokenizer)` returns {relative file name: content}:
- `model.js`: the configuration, the vocabulary, the tokenizer (its settings, special tokens, and its character
  classes as the Python tokenizer itself sorts every code point, so the browser's Unicode tables do not
  matter), and where each tensor lies in the weights;
- `weights-1.js`, `weights-2.js`, ...: the weights, stored as 10- and 12-bit integers with scales and written
  as 7-bit text, each file at most `chunk_bytes` (GitHub refuses files over 100 MB).
Each file assigns its content into the global registry `window.bertGalleryLiveData`, keyed by its own URL
(`document.currentScript.src`); the loader in live.js inserts the <script> elements and reads them from there.
docs/live.md has the format, the choice of storage and the measurements.
"""
from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import numpy as np

from . import names
from .model import refused_specials

FORMAT = 1
REGISTRY = "bertGalleryLiveData"
MANIFEST = names.LIVE_MODEL
CHUNK_BYTES = 16_000_000  # each weights file at most: modest for GitHub (100 MB) and for a browser
FAMILIES = {"BertForMaskedLM": "bert", "DistilBertForMaskedLM": "distilbert"}
ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu_fast": "gelu_tanh",
               "relu": "relu"}
SEPARATOR = "\u01c2"  # ǂ: a letter no normalisation changes or produces, between the probed characters
HANGUL = (0xAC00, 0xD7A3)  # syllables: live.js decomposes them by the Unicode algorithm, not a table


def _refuse(what: str) -> ValueError:
    return ValueError(f"live mode needs a WordPiece model (BERT, DistilBERT): {what}")


def _family(net) -> str:
    name = type(net).__name__
    if name not in FAMILIES:
        kind = getattr(getattr(net, "config", None), "model_type", "") or name
        raise _refuse(f"{kind} ({name}) is not one")
    return FAMILIES[name]


MODEL_TYPES = {"bert": "bert", "distilbert": "distilbert"}  # config.json's model_type -> FAMILIES' family


def known_config(spec: str) -> dict | None:
    """The config.json of the model `spec` names (offline, a folder, or a hub id in the Hugging Face cache),
    read without loading the model: None when only a download can tell."""
    from . import checks, offline
    if spec == offline.NAME:
        path = offline.encoder_dir() / "config.json"
    elif checks.looks_like_path(spec):
        path = Path(spec).expanduser() / "config.json"
    else:
        from huggingface_hub import try_to_load_from_cache
        hit = try_to_load_from_cache(spec, "config.json")
        if not isinstance(hit, str):
            return None
        path = Path(hit)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # the loader will say what is wrong with it
    return data if isinstance(data, dict) else None


def refusal(known: dict | None) -> str:
    """Why a model of this config.json cannot run in the browser, in one line ("" when it can, or when its
    config is not known yet): the family, before the model is loaded."""
    kind = (known or {}).get("model_type")
    if known is None or kind in MODEL_TYPES:
        return ""
    return str(_refuse(f"{kind if isinstance(kind, str) else 'a model without a model_type'} is not one"))


def shape(known: dict) -> tuple[int, int]:
    """(layers, heads per layer) of a config.json."""
    if known.get("model_type") == "distilbert":  # the classes' defaults where config.json leaves them out
        return int(known.get("n_layers", 6)), int(known.get("n_heads", 12))
    return int(known.get("num_hidden_layers", 12)), int(known.get("num_attention_heads", 12))


def max_tokens(net, tokenizer) -> int:
    """The longest input, [CLS] and [SEP] included: as model.load decides it."""
    return int(min(net.config.max_position_embeddings, tokenizer.model_max_length))


# --- the weights, under names the browser's forward pass reads ---------------------------------------------

def _bert_tensors(state: dict, cfg) -> dict:
    b = "bert."
    names = {"embed.word": b + "embeddings.word_embeddings.weight",
             "embed.position": b + "embeddings.position_embeddings.weight",
             "embed.type": b + "embeddings.token_type_embeddings.weight",
             "embed.norm.weight": b + "embeddings.LayerNorm.weight", "embed.norm.bias": b + "embeddings.LayerNorm.bias",
             "head.dense.weight": "cls.predictions.transform.dense.weight",
             "head.dense.bias": "cls.predictions.transform.dense.bias",
             "head.norm.weight": "cls.predictions.transform.LayerNorm.weight",
             "head.norm.bias": "cls.predictions.transform.LayerNorm.bias",
             "head.decoder": "cls.predictions.decoder.weight", "head.bias": "cls.predictions.bias"}
    parts = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "o": "attention.output.dense", "norm1": "attention.output.LayerNorm", "ff1": "intermediate.dense",
             "ff2": "output.dense", "norm2": "output.LayerNorm"}
    for i in range(cfg.num_hidden_layers):
        for ours, theirs in parts.items():
            for kind in ("weight", "bias"):
                names[f"layer{i}.{ours}.{kind}"] = f"{b}encoder.layer.{i}.{theirs}.{kind}"
    return {ours: state[theirs] for ours, theirs in names.items()}


def _distilbert_tensors(state: dict, cfg) -> dict:
    d = "distilbert."
    names = {"embed.word": d + "embeddings.word_embeddings.weight",
             "embed.position": d + "embeddings.position_embeddings.weight",
             "embed.norm.weight": d + "embeddings.LayerNorm.weight", "embed.norm.bias": d + "embeddings.LayerNorm.bias",
             "head.dense.weight": "vocab_transform.weight", "head.dense.bias": "vocab_transform.bias",
             "head.norm.weight": "vocab_layer_norm.weight", "head.norm.bias": "vocab_layer_norm.bias",
             "head.decoder": "vocab_projector.weight", "head.bias": "vocab_projector.bias"}
    parts = {"q": "attention.q_lin", "k": "attention.k_lin", "v": "attention.v_lin", "o": "attention.out_lin",
             "norm1": "sa_layer_norm", "ff1": "ffn.lin1", "ff2": "ffn.lin2", "norm2": "output_layer_norm"}
    for i in range(cfg.n_layers):
        for ours, theirs in parts.items():
            for kind in ("weight", "bias"):
                names[f"layer{i}.{ours}.{kind}"] = f"{d}transformer.layer.{i}.{theirs}.{kind}"
    return {ours: state[theirs] for ours, theirs in names.items()}


def _config(net, family: str) -> dict:
    cfg = net.config
    if family == "bert":
        if getattr(cfg, "position_embedding_type", None) not in (None, "absolute"):
            raise _refuse(f"this BERT uses {cfg.position_embedding_type} position embeddings, which live mode "
                          "does not compute")
        shape = dict(layers=cfg.num_hidden_layers, heads=cfg.num_attention_heads, hidden=cfg.hidden_size,
                     intermediate=cfg.intermediate_size, types=cfg.type_vocab_size, eps=cfg.layer_norm_eps)
        act = cfg.hidden_act
    else:
        shape = dict(layers=cfg.n_layers, heads=cfg.n_heads, hidden=cfg.dim, intermediate=cfg.hidden_dim, types=0,
                     eps=1e-12)
        act = cfg.activation
    if not isinstance(act, str) or act not in ACTIVATIONS:
        raise _refuse(f"its activation {act!r} is not one live mode computes ({', '.join(ACTIVATIONS)})")
    return dict(family=family, vocab=cfg.vocab_size, positions=cfg.max_position_embeddings,
                activation=ACTIVATIONS[act], **shape)


def tensors(net) -> dict[str, np.ndarray]:
    """The model's weights under the export's names, float32; `head.decoder` only when it is not tied to the
    word embeddings."""
    family = _family(net)
    state = {k: v.detach().float().cpu().numpy() for k, v in net.state_dict().items()}
    out = (_bert_tensors if family == "bert" else _distilbert_tensors)(state, net.config)
    if np.array_equal(out["head.decoder"], out["embed.word"]):
        del out["head.decoder"]
    return out


# How each kind of matrix is stored: (bits, a scale per column as well as per row), or a float type. Vectors
# (biases, LayerNorms) are always float32. "compact" is the default: docs/live.md has the measurements.
PRECISIONS = {
    "compact": {"vocab": (10, True), "other": (12, True)},
    "int8": {"vocab": (8, False), "other": (8, False)},  # the scale per row the issue suggested: too coarse
    "float16": {"vocab": "float16", "other": "float16"},
    "float32": {"vocab": "float32", "other": "float32"},  # for the tests: the browser's arithmetic alone
}
VOCAB_SIZED = ("embed.word", "head.decoder")


def _scheme(precision: str, name: str):
    if precision not in PRECISIONS:
        raise ValueError(f"live export: precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    return PRECISIONS[precision]["vocab" if name in VOCAB_SIZED else "other"]


def quantise(matrix: np.ndarray, bits: int, columns: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Signed `bits`-bit integers q and float32 scales with matrix ~ q * rows[:, None] * cols[None, :]: each
    column first divided by its largest magnitude (when `columns`: a feature with large values, as BERT's
    embeddings have, then costs the others no precision), then each row's largest magnitude made the largest
    integer."""
    limit = 2 ** (bits - 1) - 1
    matrix = matrix.astype(np.float32)
    cols = np.abs(matrix).max(axis=0) if columns else np.ones(matrix.shape[1], np.float32)
    cols = np.where(cols > 0, cols, 1).astype(np.float32)
    scaled = matrix / cols
    rows = (np.abs(scaled).max(axis=1) / limit).astype(np.float32)
    rows = np.where(rows > 0, rows, 1).astype(np.float32)
    q = np.clip(np.rint(scaled / rows[:, None]), -limit, limit).astype(np.int32)
    return q, rows, cols


def dequantise(matrix: np.ndarray, scheme) -> np.ndarray:
    """What the browser computes with: the matrix after a round trip through its storage."""
    if isinstance(scheme, str):
        return matrix.astype(scheme).astype(np.float32)
    q, rows, cols = quantise(matrix, *scheme)
    return (q.astype(np.float64) * rows[:, None].astype(np.float64) * cols[None, :].astype(np.float64)) \
        .astype(np.float32)


def pack_bits(q: np.ndarray, bits: int) -> bytes:
    """Integers as a little-endian bit stream: value k in bits k*bits .. (k+1)*bits - 1, two's complement."""
    flat = (q.reshape(-1).astype(np.int64) & ((1 << bits) - 1)).astype(np.uint64)
    n = 8 // np.gcd(bits, 8)  # values to a whole number of bytes: 2 of 12 bits are 3 bytes, 4 of 10 are 5
    if n * bits <= 64:
        block = np.zeros(-(-flat.size // n) * n, np.uint64)
        block[:flat.size] = flat
        block = block.reshape(-1, n) << (np.arange(n, dtype=np.uint64) * np.uint64(bits))
        words = np.bitwise_or.reduce(block, axis=1).astype("<u8")
        data = words.view(np.uint8).reshape(-1, 8)[:, :n * bits // 8].tobytes()
    else:  # any other width, a bit at a time
        stream = ((flat[:, None] >> np.arange(bits, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)
        data = np.packbits(stream.reshape(-1), bitorder="little").tobytes()
    return data[:-(-flat.size * bits // 8)]


def as_exported(net, precision: str = "compact"):
    """A copy of `net` whose weights are what the browser computes with (the tests' exact reference, and how
    docs/live.md measures what the storage changes)."""
    import torch
    family = _family(net)
    twin = copy.deepcopy(net)
    state = twin.state_dict()
    names = (_bert_tensors if family == "bert" else _distilbert_tensors)({k: k for k in state}, twin.config)
    with torch.no_grad():
        for ours, theirs in names.items():
            t = state[theirs]
            if t.dim() == 2:
                t.copy_(torch.from_numpy(dequantise(t.float().numpy(), _scheme(precision, ours))))
    return twin


def _pack(weights: dict[str, np.ndarray], precision: str) -> tuple[bytes, list[dict]]:
    """One byte string of every tensor, each at a multiple of 4 bytes (for Float32Array views), and the index
    live.js finds them by."""
    parts, index, offset = [], [], 0

    def put(data: bytes) -> int:
        nonlocal offset
        start = offset
        pad = -len(data) % 4
        parts.append(data + b"\0" * pad)
        offset += len(data) + pad
        return start

    for name, array in weights.items():
        entry = {"name": name, "shape": list(array.shape)}
        scheme = _scheme(precision, name) if array.ndim == 2 else "float32"
        if isinstance(scheme, str):
            entry.update(dtype=scheme, offset=put(array.astype("<f2" if scheme == "float16" else "<f4").tobytes()))
        else:
            q, rows, cols = quantise(array, *scheme)
            entry.update(dtype="int", bits=scheme[0], offset=put(pack_bits(q, scheme[0])),
                         rows=put(rows.astype("<f4").tobytes()), cols=put(cols.astype("<f4").tobytes()))
        entry["end"] = offset  # where its bytes end: live.js builds each tensor as soon as they are in
        index.append(entry)
    return b"".join(parts), index


# The weights as text a JavaScript string literal holds: 7 bits a character (bytes as a little-endian bit
# stream), so a file is 8/7 of the bytes plus the escapes, where base64 is 4/3. The five 7-bit values a
# double-quoted literal cannot hold as themselves (NUL, LF, CR, ", \) are written U+0080 + value: two bytes of
# UTF-8, one character to JavaScript.
CHARACTERS = np.arange(128, dtype="<u4")
CHARACTERS[[0, 10, 13, 34, 92]] += 0x80


def text7(data: bytes) -> str:
    """Seven bytes are one 56-bit number, eight 7-bit characters."""
    raw = np.frombuffer(data, np.uint8)
    padded = np.zeros(-(-raw.size // 7) * 7, np.uint8)
    padded[:raw.size] = raw
    blocks = np.zeros((padded.size // 7, 8), np.uint8)
    blocks[:, :7] = padded.reshape(-1, 7)
    numbers = blocks.view("<u8").reshape(-1, 1)
    groups = (numbers >> (np.arange(8, dtype=np.uint64) * np.uint64(7))) & np.uint64(127)
    return CHARACTERS[groups.reshape(-1)[:-(-raw.size * 8 // 7)]].tobytes().decode("utf-32-le")


# --- the tokenizer -------------------------------------------------------------------------------------------

def _ranges(points: list[int]) -> list[int]:
    """Sorted code points as [first, last, first, last, ...] runs."""
    out: list[int] = []
    for p in points:
        if out and out[-1] == p - 1:
            out[-1] = p
        else:
            out += [p, p]
    return out


def _hangul(c: int) -> str:
    s = c - 0xAC00
    lead, vowel, tail = 0x1100 + s // 588, 0x1161 + (s % 588) // 28, s % 28
    return chr(lead) + chr(vowel) + (chr(0x11A7 + tail) if tail else "")


_TABLES: dict[str, dict] = {}


def _character_classes(backend) -> dict:
    """Every code point as the Python tokenizer itself treats it, found by asking it (about a second, once per
    normaliser): what the normaliser makes of it (dropped, padded with spaces as a CJK character, mapped to
    other characters: accents stripped, lower-cased; Hangul syllables follow the Unicode algorithm), and what
    the pre-tokeniser does with it (splits on it as whitespace, isolates it as punctuation)."""
    key = json.dumps([json.loads(backend.to_str()).get(k) for k in ("normalizer", "pre_tokenizer")])
    if key in _TABLES:
        return _TABLES[key]
    # planes 4-13 hold no character in any Unicode version: the tokenizer keeps them as letters, as live.js
    # does with any code point these tables do not name
    points = [c for c in (*range(0xD800), *range(0xE000, 0x40000), *range(0xE0000, 0x110000)) if c != ord(SEPARATOR)]
    drop, pad, mapping, space, punct = [], [], {}, [], []
    normalise = backend.normalizer.normalize_str if backend.normalizer else (lambda s: s)
    pre = backend.pre_tokenizer.pre_tokenize_str
    hangul = normalise(chr(HANGUL[0])) == _hangul(HANGUL[0])  # NFD on: the algorithm, not a table
    for start in range(0, len(points), 8192):
        batch = points[start:start + 8192]
        outs = normalise(SEPARATOR + SEPARATOR.join(map(chr, batch)) + SEPARATOR).split(SEPARATOR)[1:-1]
        if len(outs) != len(batch):  # never seen; but one character at a time is always right
            outs = [normalise(chr(c)) for c in batch]
        for c, out in zip(batch, outs):
            if out == chr(c):
                continue
            if out == "":
                drop.append(c)
            elif out == f" {chr(c)} ":
                pad.append(c)
            elif not (hangul and HANGUL[0] <= c <= HANGUL[1] and out == _hangul(c)):
                mapping[str(c)] = out
        text = SEPARATOR + SEPARATOR.join(map(chr, batch)) + SEPARATOR
        piece = np.zeros(len(text), np.int64)  # the length of the piece each character ended in; 0: dropped
        for _, (a, b) in pre(text):
            piece[a:b] = b - a
        mine = piece[1::2][:len(batch)]
        space += [c for c, n in zip(batch, mine) if n == 0]
        punct += [c for c, n in zip(batch, mine) if n == 1]
    _TABLES[key] = dict(drop=_ranges(drop), pad=_ranges(pad), map=mapping, space=_ranges(space),
                        punct=_ranges(punct), hangul=hangul)
    return _TABLES[key]


def refused(tokenizer) -> list[int]:
    """The special tokens the live page refuses as written in a sentence, as the build does (model's
    refused_specials); the page's mask is the model's own token, which it writes for [MASK]."""
    return sorted(refused_specials(tokenizer) - {tokenizer.mask_token_id})


def _tokenizer(tokenizer, family: str, net) -> tuple[dict, list[str]]:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise _refuse("its tokenizer is not a fast (tokenizers) one")
    spec = json.loads(backend.to_str())
    model, norm, pre, post = spec["model"], spec.get("normalizer") or {}, spec.get("pre_tokenizer") or {}, \
        spec.get("post_processor") or {}
    if model.get("type") != "WordPiece" or norm.get("type") != "BertNormalizer" \
            or pre.get("type") != "BertPreTokenizer":
        raise _refuse(f"its tokenizer is {model.get('type')} ({norm.get('type') or 'no'} normaliser, "
                      f"{pre.get('type') or 'no'} pre-tokenizer), not BERT's WordPiece")
    vocab = tokenizer.get_vocab()
    words = [""] * len(vocab)
    for word, i in vocab.items():
        if not 0 <= i < len(words) or words[i]:
            raise _refuse("its vocabulary's ids are not 0 to n - 1")
        words[i] = word
    if len(words) > net.config.vocab_size:
        raise _refuse(f"its tokenizer knows {len(words):,} tokens but the model only {net.config.vocab_size:,}")
    added = []
    for t in spec.get("added_tokens", []):
        if t["normalized"] or t["lstrip"] or t["rstrip"] or t["single_word"]:
            raise _refuse(f"its added token {t['content']!r} is matched in a way live mode does not reproduce")
        added.append({"content": t["content"], "id": t["id"]})
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    single = [[cls, 0], ["A", 0], [sep, 0]]
    pair = single + [["B", 1], [sep, 1]]
    if post.get("type") == "TemplateProcessing":
        ids = {k: v["ids"][0] for k, v in post["special_tokens"].items()}

        def template(items):
            return [[ids[i["SpecialToken"]["id"]], i["SpecialToken"]["type_id"]] if "SpecialToken" in i
                    else [i["Sequence"]["id"], i["Sequence"]["type_id"]] for i in items]
        ok = template(post["single"]) == single and template(post["pair"]) == pair
    else:
        ok = post.get("type") == "BertProcessing" and post["cls"][1] == cls and post["sep"][1] == sep
    if not ok:
        raise _refuse("its tokenizer does not frame a sentence as [CLS] A [SEP] (B [SEP])")
    settings = dict(lowercase=norm["lowercase"], stripAccents=norm["lowercase"] if norm["strip_accents"] is None
                    else norm["strip_accents"], chinese=norm["handle_chinese_chars"], cleanText=norm["clean_text"])
    return dict(settings, unk=model["unk_token"], prefix=model["continuing_subword_prefix"],
                maxWordChars=model["max_input_chars_per_word"], cls=cls, sep=sep, mask=tokenizer.mask_token_id,
                maskToken=tokenizer.mask_token, added=added, refused=refused(tokenizer),
                maxTokens=max_tokens(net, tokenizer), tokenTypes=family == "bert",
                chars=_character_classes(backend)), words


# --- the files ---------------------------------------------------------------------------------------------

def _script(value) -> str:
    """A script that puts `value` into the registry under its own address (ASCII JSON: safe as JavaScript)."""
    return (f"(window.{REGISTRY} = window.{REGISTRY} || {{}})[document.currentScript.src] = "
            f"{json.dumps(value, ensure_ascii=True, separators=(',', ':'))};\n")


def _part(key: str, text: str) -> str:
    """A weights file: a UTF-8 byte-order mark (the escapes are UTF-8 whatever the page's encoding), then the
    registry assignment, the text as one string literal."""
    return (f"\ufeff(window.{REGISTRY} = window.{REGISTRY} || {{}})[document.currentScript.src] = "
            f"{{\"key\":\"{key}\",\"data\":\"{text}\"}};\n")


def export(net, tokenizer, precision: str = "compact", chunk_bytes: int = CHUNK_BYTES) -> dict[str, str]:
    """{relative file name: content} of a BertForMaskedLM or DistilBertForMaskedLM for live.js. Raises
    ValueError (one line) for any other model or tokenizer."""
    _scheme(precision, "")  # a wrong precision is refused before any work
    family = _family(net)
    config = _config(net, family)
    tok, words = _tokenizer(tokenizer, family, net)
    config["maxTokens"] = tok["maxTokens"]
    weights = tensors(net)
    config["tied"] = "head.decoder" not in weights
    blob, index = _pack(weights, precision)
    digest = hashlib.sha256(blob)
    digest.update(json.dumps([config, tok, words]).encode())
    key = digest.hexdigest()[:16]
    # the text in runs of 32,768 characters (7 * 4096 bytes each), as many runs to a file as fit chunk_bytes
    text, run = text7(blob), 32768
    files, parts, texts, size, first = {}, [], [], 0, 0
    overhead = len(_part(key, "").encode())

    def flush(end: int):
        name = names.live_weights(len(parts) + 1)
        files[name] = _part(key, "".join(texts))
        parts.append({"file": name, "offset": first, "bytes": end - first})

    for at in range(0, len(text), run):
        piece = text[at:at + run]
        n = len(piece.encode())
        start = at // 8 * 7
        if texts and size + n + overhead > chunk_bytes:
            flush(start)
            texts, size, first = [], 0, start
        texts.append(piece)
        size += n
    flush(len(blob))
    manifest = {"format": FORMAT, "key": key, "precision": precision, "config": config, "tokenizer": tok,
                "vocab": words, "tensors": index, "bytes": len(blob), "parts": parts}
    return {MANIFEST: _script(manifest), **files}


def size(files: dict[str, str | bytes]) -> int:
    """Bytes on disk of an export."""
    return sum(len(v.encode() if isinstance(v, str) else v) for v in files.values())
