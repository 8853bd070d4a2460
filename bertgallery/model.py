"""Stage 2: find, check and load a BERT-family masked LM, and run one forward pass per sentence.

Everything before loading is plain Python (folders, JSON, safetensors headers: see checks.py), so a
rebuild that has nothing to do never imports torch, and a bad model folder fails in a moment with one line.
"""
from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import checks, offline
from .cache import FileHashes, key
from .config import MASK, ConfigError


@dataclass
class ModelInfo:
    """What the pages say about the model: what was used, its shape, and why if not what was asked."""
    name: str  # the hub id, folder or "offline"
    layers: int
    heads: int
    note: str = ""  # why this is not the model the user asked for; shown as a banner
    about: str = ""  # what it is, where that needs saying (the offline model)


@dataclass
class Resolved:
    """The model a build will use, known without loading it."""
    spec: str  # what to load: the user's hub id or folder, or "offline"
    identity: str  # a content fingerprint; "" when only a download can tell
    note: str = ""


@dataclass
class Prediction:
    token: str
    probability: float


@dataclass
class Mask:
    index: int  # token position, [CLS] = 0
    predictions: list[Prediction]
    target: int = -1  # the top prediction's token id
    importance: np.ndarray | None = None  # [layers, heads]: each head's importance for the top prediction
    rollout: np.ndarray | None = None  # [layers, T]: the attention rollout at this position after each layer


@dataclass
class Run:
    """One forward pass over one sentence."""
    tokens: list[str]
    masks: list[Mask]
    filled: str  # the sentence with every mask replaced by its top-1 prediction
    attention: np.ndarray  # float32 [layers, heads, T, T]; row = attending token
    special: list[int]  # positions of [CLS]/[SEP] (<s>, </s>)
    inputs: object = None  # the tokenizer's tensors, for the analyses that run the model again


# tokens a sentence at most, whatever the model takes: its head pictures stay legible (4 px a token) within
# render.MAX_PIXELS
MAX_TOKENS = 1_024
# attention weights a sentence at most, heads x tokens²: the memory of a sentence's analyses and the size of the
# explorer's data grow with them (BERT-base's 144 heads at 512 tokens are 37.7 million)
MAX_WEIGHTS = 40_000_000


def tokens_for(heads: int) -> int:
    """The most tokens a sentence may have, for a model of `heads` heads in all."""
    return min(MAX_TOKENS, math.isqrt(MAX_WEIGHTS // heads))


@dataclass
class Model:
    tokenizer: object
    net: object
    info: ModelInfo
    identity: str
    max_tokens: int = 512  # the model's own, or this tool's bound for it (`bound` says why)
    bound: str = ""


def quiet() -> None:
    """Our output is a summary line, not library chatter: silence the libraries' own loggers and bars."""
    import logging
    import warnings
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers
    from huggingface_hub.utils import disable_progress_bars
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    disable_progress_bars()
    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)
    for module in ("transformers", "torch", "huggingface_hub"):
        warnings.filterwarnings("ignore", module=module)


def offline_identity(hashes: FileHashes) -> str:
    return "offline:" + key(*(hashes(f) for f in offline.files()))


def resolve(spec: str, fallback: bool, allow_pickle: bool, hashes: FileHashes) -> Resolved:
    """Which model a build uses, and its fingerprint, without torch. Raises ConfigError for a model that
    cannot be used, before any work is done."""
    if spec == offline.NAME:
        return Resolved(spec, offline_identity(hashes))
    if checks.looks_like_path(spec):
        files = checks.model_folder(Path(spec).expanduser(), spec, allow_pickle)
        # the name too: data.json and the pages say which folder it was
        return Resolved(spec, "folder:" + key(spec, *((f.name, hashes(f)) for f in files)))
    checks.hub_id(spec)
    from huggingface_hub import try_to_load_from_cache
    for name in ("model.safetensors", "model.safetensors.index.json", "config.json"):
        hit = try_to_load_from_cache(spec, name)
        if isinstance(hit, str):
            return Resolved(spec, f"hub:{spec}@{Path(hit).parent.name}")  # the snapshot folder is the commit
    if hub_reachable():
        return Resolved(spec, "")
    if not fallback:
        raise _unreachable(spec)
    return Resolved(offline.NAME, offline_identity(hashes), fallback_note(spec))


def _unreachable(spec: str) -> ConfigError:
    return ConfigError(f"model '{spec}' cannot be downloaded and is not in the Hugging Face cache: connect to "
                       "the internet once, or pass a local folder with --model")


def fallback_note(spec: str) -> str:
    """The banner of a gallery that fell back; saying so on the terminal too, once per build."""
    print(f"note: {spec} is not reachable or cached; using the offline model instead "
          "(--no-fallback turns this off)", file=sys.stderr)
    return (f"{spec} could not be downloaded and is not in the Hugging Face cache, so this gallery uses the "
            f"offline model: {offline.DESCRIPTION}.")


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


def _masked_lm(source, culprit: str, kwargs: dict):
    """The model, refusing one whose masked-LM head would be random (a bare encoder such as a BertModel)."""
    from transformers import AutoModelForMaskedLM
    net, info = AutoModelForMaskedLM.from_pretrained(source, output_loading_info=True, **kwargs)
    missing = sorted(info["missing_keys"])
    head = [k for k in missing if k.split(".")[0] in ("cls", "lm_head", "vocab_projector", "vocab_transform",
                                                       "vocab_layer_norm", "predictions", "generator_lm_head")]
    if missing and len(head) < len(missing):
        body = [k for k in missing if k not in head]
        raise ConfigError(f"{culprit}: its weights do not match its config.json ({body[0]} and {len(body) - 1} "
                          "more missing)")
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise ConfigError(f"{culprit} holds no masked-LM weights ({missing[0]}{more} missing): it is an encoder "
                          "without a prediction head; use a masked-LM checkpoint such as bert-base-uncased")
    return net


def _load_named(spec: str, allow_pickle: bool):
    from transformers import AutoTokenizer
    safe = dict(trust_remote_code=False)  # never run a model's own code, never ask
    if checks.looks_like_path(spec):
        folder = Path(spec).expanduser()
        kwargs = dict(safe, attn_implementation="eager", local_files_only=True,
                      use_safetensors=not checks.pickle_only(folder))
        return AutoTokenizer.from_pretrained(folder, local_files_only=True, **safe), \
            _masked_lm(folder, f"model folder {spec}", kwargs)
    kwargs = dict(safe, attn_implementation="eager", use_safetensors=None if allow_pickle else True)
    try:  # the cache first: no network round trip when the model is already here
        return AutoTokenizer.from_pretrained(spec, local_files_only=True, **safe), \
            _masked_lm(spec, f"model '{spec}'", dict(kwargs, local_files_only=True))
    except OSError:
        if not hub_reachable():
            raise
        return AutoTokenizer.from_pretrained(spec, **safe), _masked_lm(spec, f"model '{spec}'", kwargs)


def device_for(name: str) -> str:
    """auto: a GPU when torch sees one. Results are the same to 1e-4 on either (float32 everywhere)."""
    import torch
    if name not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"--device must be auto, cpu or cuda, not {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: torch sees no GPU here (pip's CPU build of torch, or no driver); "
                          "use --device cpu")
    return "cuda" if name == "auto" and torch.cuda.is_available() else "cpu" if name == "auto" else name


def load(resolved: Resolved | str, fallback: bool = True, allow_pickle: bool = False, device: str = "auto") -> Model:
    """The model `resolved` names (or a hub id, folder or "offline"); the offline model instead when a hub id
    cannot be had and `fallback`."""
    if isinstance(resolved, str):
        resolved = resolve(resolved, fallback, allow_pickle, FileHashes())
    quiet()
    import torch
    torch.set_grad_enabled(False)
    device = device_for(device)
    spec, note = resolved.spec, resolved.note
    try:
        tokenizer, net = offline.load() if spec == offline.NAME else _load_named(spec, allow_pickle)
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - a model we cannot load is the user's input, not our bug
        first = checks.first_line(e)
        if "mismatched_sizes" in first:
            first = "its weights do not match its config.json (tensors of other shapes)"
        if checks.looks_like_path(spec):
            raise ConfigError(f"model folder {spec} could not be loaded as a masked LM: {first}") from None
        if not isinstance(e, OSError):
            raise ConfigError(f"model '{spec}' could not be loaded as a masked LM: {first}") from None
        if not fallback:
            raise _unreachable(spec) from None
        tokenizer, net = offline.load()
        spec, note = offline.NAME, fallback_note(spec)
    net.to(device)
    if getattr(net.config, "is_decoder", False) or tokenizer.mask_token is None:
        raise ConfigError(f"model {spec} is not a masked language model (it has no mask token)")
    if len(tokenizer) > net.get_input_embeddings().num_embeddings:
        raise ConfigError(f"model {spec}: its tokenizer knows {len(tokenizer):,} tokens but its weights only "
                          f"{net.get_input_embeddings().num_embeddings:,}; the two do not belong together")
    net.eval()
    cfg = net.config
    checks.check_heads(cfg.num_hidden_layers, cfg.num_attention_heads, f"model {spec}")  # a hub model's too
    max_tokens = min(getattr(cfg, "max_position_embeddings", 512), tokenizer.model_max_length)
    if getattr(cfg, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        max_tokens -= 2  # RoBERTa's positions start after the padding index
    heads = cfg.num_hidden_layers * cfg.num_attention_heads
    bound = ""
    if tokens_for(heads) < max_tokens:
        max_tokens = tokens_for(heads)
        bound = f" here (this tool's bound: {MAX_TOKENS:,} tokens, and {MAX_WEIGHTS // 1_000_000} million attention " \
                f"weights, heads × tokens², for its {heads:,} heads)"
    identity = resolved.identity if spec == resolved.spec else offline_identity(FileHashes())
    if not identity:  # downloaded just now: the snapshot is in the cache
        identity = resolve(spec, False, allow_pickle, FileHashes()).identity
    info = describe(Resolved(spec, identity, note), cfg.num_hidden_layers, cfg.num_attention_heads)
    return Model(tokenizer=tokenizer, net=net, info=info, identity=identity, max_tokens=max_tokens, bound=bound)


def describe(resolved: Resolved, layers: int, heads: int) -> ModelInfo:
    """What the pages say about the model, known without loading it."""
    return ModelInfo(resolved.spec, layers, heads, resolved.note,
                     offline.DESCRIPTION if resolved.spec == offline.NAME else "")


def _word(tokenizer, token_id: int) -> str:
    """A token as a person reads it: 'cat' for BERT's 'cat' and RoBERTa's 'Ġcat'."""
    return tokenizer.decode([token_id]).strip() or tokenizer.convert_ids_to_tokens(token_id)


@dataclass
class Filled:
    text: str  # the sentence with each [MASK] replaced by its best prediction
    source: np.ndarray  # int [len(text)]: each character's offset in the masked text; a prediction's -> its [MASK]


def fill(text: str, fills: list[str]) -> Filled:
    """The sentence with each [MASK] replaced by its top prediction (a word piece such as '##s' joins the word
    before it), and where each of its characters came from in the masked text (syntax.py aligns words by it)."""
    pieces = text.split(MASK)
    if len(fills) != len(pieces) - 1:
        raise ValueError(f"{len(pieces) - 1} masks but {len(fills)} predictions")
    out, source, pos = pieces[0], list(range(len(pieces[0]))), len(pieces[0])
    for best, after in zip(fills, pieces[1:]):
        if best.startswith("##"):  # a word piece joins the word before it
            out, best = out.rstrip(), best[2:]
            del source[len(out):]
        out += best + after
        source += [pos] * len(best) + list(range(pos + len(MASK), pos + len(MASK) + len(after)))
        pos += len(MASK) + len(after)
    return Filled(out, np.array(source, dtype=np.int64))


def predict(model: Model, text: str, top_k: int, culprit: str = "") -> Run:
    """One forward pass: ranked predictions for every mask and all attention maps."""
    import torch

    tok = model.tokenizer
    masked = text.replace(MASK, tok.mask_token)
    enc = tok(masked, return_tensors="pt", truncation=False)
    ids = enc["input_ids"][0]
    if len(ids) > model.max_tokens:
        raise ConfigError(f"{culprit}is {len(ids)} tokens long; {model.info.name} accepts at most {model.max_tokens}"
                          f"{model.bound}")
    enc = enc.to(next(model.net.parameters()).device)
    try:
        out = model.net(**enc, output_attentions=True)
    except (RuntimeError, IndexError, ValueError) as e:  # a model folder whose parts do not fit together
        raise ConfigError(f"{culprit}could not be run through {model.info.name}: {checks.first_line(e)}") from None
    if out.attentions is None or any(a is None for a in out.attentions):
        raise ConfigError(f"model {model.info.name} does not return attention weights")
    attention = torch.stack([a[0] for a in out.attentions]).float().cpu().numpy()
    positions = (ids == tok.mask_token_id).nonzero().flatten().tolist()
    probs = torch.softmax(out.logits[0, positions].float(), dim=-1)
    values, indices = (t.cpu() for t in probs.topk(min(top_k, probs.shape[-1]), dim=-1))
    masks = [Mask(index=pos, target=idxs[0], predictions=[Prediction(_word(tok, i), float(p))
                                                          for p, i in zip(vals.tolist(), idxs)])
             for pos, vals, idxs in zip(positions, values, indices.tolist())]
    special_ids = set(tok.all_special_ids)
    tokens = [tok.convert_ids_to_tokens(i) if i in special_ids else _word(tok, i) for i in ids.tolist()]
    special = [i for i, t in enumerate(tokens) if t in (tok.cls_token, tok.sep_token)]
    return Run(tokens=tokens, masks=masks, filled=fill(text, [m.predictions[0].token for m in masks]).text,
               attention=attention, special=special, inputs=enc)
