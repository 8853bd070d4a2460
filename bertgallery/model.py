"""Stage 2: load a BERT-family masked LM and run one forward pass per sentence.

torch and transformers are imported inside the functions that need them, so a rebuild that has nothing
to do (see build.py) never pays for importing them.
"""
from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import offline
from .config import MASK, ConfigError
from .site import ModelInfo

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


@dataclass
class Prediction:
    token: str
    probability: float


@dataclass
class MaskResult:
    index: int  # token position, [CLS] = 0
    predictions: list[Prediction]


@dataclass
class Analysis:
    tokens: list[str]
    masks: list[MaskResult]
    filled: str  # the sentence with every mask replaced by its top-1 prediction
    attention: np.ndarray  # float32 [layers, heads, T, T]; row = attending token


@dataclass
class Model:
    tokenizer: object
    net: object
    info: ModelInfo  # what was used (hub id, folder or "offline"), its shape, and why if not what was asked
    max_tokens: int = 512
    special_ids: set = field(default_factory=set)


def quiet() -> None:
    """Our output is a summary line, not library chatter."""
    import warnings
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore")
    import transformers
    from huggingface_hub.utils import disable_progress_bars
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    disable_progress_bars()


def looks_like_path(spec: str) -> bool:
    """Hub ids are 'name' or 'org/name'; anything else that names a place on disk is a folder."""
    return spec.startswith((".", "/", "~")) or spec.count("/") > 1 or "\\" in spec \
        or Path(spec).expanduser().exists()


def identity(spec: str) -> str:
    """What the weights are, cheaply and without torch: changes when the weights change."""
    if spec == offline.NAME:
        files = [offline.ARTEFACT, offline.encoder_dir() / "model.safetensors"]
    elif looks_like_path(spec):
        folder = Path(spec).expanduser()
        files = [folder / f for f in WEIGHT_FILES + ("config.json",) if (folder / f).exists()]
    else:
        from huggingface_hub import try_to_load_from_cache
        for name in WEIGHT_FILES:
            hit = try_to_load_from_cache(spec, name)
            if isinstance(hit, str):
                return f"hub:{spec}@{Path(hit).parent.name}"  # the snapshot folder is the commit
        return f"hub:{spec}@uncached+{identity(offline.NAME)}"  # what the fallback would use
    stats = [f"{f}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files if f.exists()]
    return hashlib.sha256("\n".join(stats).encode()).hexdigest()[:16]


def _from_folder_or_hub(spec: str, allow_pickle: bool):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    kwargs = dict(attn_implementation="eager", trust_remote_code=False)
    if looks_like_path(spec):
        folder = Path(spec).expanduser()
        if not folder.is_dir():
            raise ConfigError(f"model folder {spec} does not exist")
        if not (folder / "config.json").is_file():
            raise ConfigError(f"model folder {spec} has no config.json: not a Hugging Face model folder")
        has_safe = any(folder.glob("*.safetensors")) or (folder / "model.safetensors.index.json").exists()
        has_bin = any(folder.glob("pytorch_model*.bin"))
        if not has_safe and not has_bin:
            raise ConfigError(f"model folder {spec} holds no model weights (*.safetensors)")
        if not has_safe and not allow_pickle:
            raise ConfigError(f"model folder {spec} has only pickle weights (pytorch_model.bin), which can run "
                              "code when loaded; convert them to safetensors or pass --allow-pickle")
        if not has_safe:
            print(f"warning: loading pickle weights from {spec} (--allow-pickle)", file=sys.stderr)
        kwargs.update(local_files_only=True, use_safetensors=has_safe)
        return AutoTokenizer.from_pretrained(folder, local_files_only=True), \
            _masked_lm(AutoModelForMaskedLM, folder, f"model folder {spec}", kwargs)
    kwargs.update(use_safetensors=None if allow_pickle else True)
    try:  # the cache first: no network round trip when the model is already here
        return AutoTokenizer.from_pretrained(spec, local_files_only=True), \
            _masked_lm(AutoModelForMaskedLM, spec, f"model '{spec}'", dict(kwargs, local_files_only=True))
    except OSError:
        if not hub_reachable():
            raise
        return AutoTokenizer.from_pretrained(spec), _masked_lm(AutoModelForMaskedLM, spec, f"model '{spec}'", kwargs)


def _masked_lm(auto, source, culprit: str, kwargs: dict):
    """The model, refusing one whose masked-LM head would be random (a bare encoder such as a BertModel)."""
    net, info = auto.from_pretrained(source, output_loading_info=True, **kwargs)
    missing = sorted(info["missing_keys"])
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise ConfigError(f"{culprit} holds no masked-LM weights ({missing[0]}{more} missing): it is an encoder "
                          "without a prediction head; use a masked-LM checkpoint such as bert-base-uncased")
    return net


def hub_reachable(timeout: float = 5.0) -> bool:
    """One quick connection attempt, instead of the hub client's retries (about 50 s) when offline."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants
    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)),
                                 timeout=timeout).close()
        return True
    except OSError:
        return False


def load(spec: str, fallback: bool = True, allow_pickle: bool = False) -> Model:
    """The model named by `spec`; the offline model instead when a hub id cannot be had and `fallback`."""
    quiet()
    import torch
    torch.set_grad_enabled(False)
    note = ""
    try:
        if spec == offline.NAME:
            tokenizer, net = offline.load()
        else:
            tokenizer, net = _from_folder_or_hub(spec, allow_pickle)
    except ConfigError:
        raise
    except (OSError, ValueError) as e:
        if looks_like_path(spec):
            raise ConfigError(f"model folder {spec} could not be loaded as a masked LM: "
                              f"{str(e).splitlines()[0]}") from None
        if not fallback:
            raise ConfigError(f"model '{spec}' cannot be downloaded and is not in the Hugging Face cache: "
                              "connect to the internet once, or pass a local folder with --model") from None
        note = (f"{spec} could not be downloaded and is not in the Hugging Face cache, so this gallery "
                f"uses the offline model ({offline.DESCRIPTION}).")
        print(f"note: {spec} is not reachable or cached; using the offline model instead "
              "(--no-fallback turns this off)", file=sys.stderr)
        tokenizer, net = offline.load()
        spec = offline.NAME
    if getattr(net.config, "is_decoder", False) or tokenizer.mask_token is None:
        raise ConfigError(f"model {spec} is not a masked language model (it has no mask token)")
    net.eval()
    cfg = net.config
    max_tokens = min(getattr(cfg, "max_position_embeddings", 512), tokenizer.model_max_length)
    if getattr(cfg, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        max_tokens -= 2  # RoBERTa's positions start after the padding index
    info = ModelInfo(name=spec, layers=cfg.num_hidden_layers, heads=cfg.num_attention_heads, note=note)
    return Model(tokenizer=tokenizer, net=net, info=info, max_tokens=max_tokens,
                 special_ids=set(tokenizer.all_special_ids))


def _word(tokenizer, token_id: int) -> str:
    """A token as a person reads it: 'cat' for BERT's 'cat' and RoBERTa's 'Ġcat'."""
    return tokenizer.decode([token_id]).strip() or tokenizer.convert_ids_to_tokens(token_id)


def analyse(model: Model, text: str, top_k: int, culprit: str = "") -> Analysis:
    """One forward pass: ranked predictions for every mask and all attention maps."""
    import torch

    tok = model.tokenizer
    enc = tok(text.replace(MASK, tok.mask_token), return_tensors="pt", truncation=False)
    ids = enc["input_ids"][0]
    if len(ids) > model.max_tokens:
        raise ConfigError(f"{culprit}is {len(ids)} tokens long; {model.info.name} accepts at most {model.max_tokens}")
    out = model.net(**enc, output_attentions=True)
    if out.attentions is None or any(a is None for a in out.attentions):
        raise ConfigError(f"model {model.info.name} does not return attention weights")
    attention = torch.stack([a[0] for a in out.attentions]).float().numpy()
    positions = (ids == tok.mask_token_id).nonzero().flatten().tolist()
    probs = torch.softmax(out.logits[0, positions].float(), dim=-1)
    values, indices = probs.topk(min(top_k, probs.shape[-1]), dim=-1)
    masks = [MaskResult(index=pos, predictions=[Prediction(_word(tok, i), float(p))
                                                for p, i in zip(vals.tolist(), idxs.tolist())])
             for pos, vals, idxs in zip(positions, values, indices)]
    pieces = text.split(MASK)
    filled = pieces[0]
    for m, after in zip(masks, pieces[1:]):
        best = m.predictions[0].token
        # a word piece ('##s') joins the word before it
        filled = (filled.rstrip() + best[2:] if best.startswith("##") else filled + best) + after
    tokens = [_word(tok, i) if i not in model.special_ids else tok.convert_ids_to_tokens(i) for i in ids.tolist()]
    return Analysis(tokens=tokens, masks=masks, filled=filled, attention=attention)
