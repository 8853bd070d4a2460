"""Which heads a prediction leans on, and where attention carries each token's information.

Head importance (Michel, Levy & Neubig 2019, "Are Sixteen Heads Really Better than One?"): every head h
gets a gate xi_h, 1 in the real model, that multiplies the head's context vector, i.e. its slice of the
attention output before the output projection mixes the heads. For a mask m whose top prediction is w,

    I_h = xi_h * d log p(w | sentence) / d xi_h   at xi = 1      ("gradient": one backward pass per mask)
    I_h = log p(w) - log p(w | xi_h = 0)                         ("ablation": the exact drop)

Both are signed the same way: positive when the head supports w. The gradient is the first-order Taylor
estimate of the ablation, so the two agree where log p is close to linear in the gate.

The gates are forward pre-hooks on the model's own modules, so the transformers code runs unchanged:
one on each layer's output projection (its input is the heads' context vectors side by side) and one on
the output embeddings (the vocabulary-sized matrix), which keeps only the mask positions, the only rows
we score, so no T x vocabulary logits are computed.

Attention rollout (Abnar & Zuidema 2020): the heads' mean attention with the residual connection added as
an identity, multiplied through the layers: how much of each input token reaches each position.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .config import IMPORTANCE

# model_type -> (where the layers are, under the base model; where a layer's attention output projection is).
# These families share BERT's attention code: the projection's input is [batch, tokens, heads * head_size],
# head-major. A family is listed only when that holds; anything else gets a reason, never a wrong answer.
_BERT_LIKE = ("encoder.layer", "attention.output.dense")
FAMILIES = {
    "bert": _BERT_LIKE,
    "roberta": _BERT_LIKE,
    "xlm-roberta": _BERT_LIKE,
    "camembert": _BERT_LIKE,
    "electra": _BERT_LIKE,
    "distilbert": ("transformer.layer", "attention.out_lin"),
}
NAMES = ("BERT", "RoBERTa", "XLM-RoBERTa", "CamemBERT", "ELECTRA", "DistilBERT")  # FAMILIES, as people write them
# ablation runs many copies of the sentence in one batch; this many tokens per forward pass at most keeps
# memory flat for long sentences (the attention weights alone are rows x heads x T x T)
ABLATION_TOKENS = 8192


def _get(obj, dotted: str):
    for part in dotted.split("."):
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
    return obj


def _modules(net) -> tuple[list, list]:
    """(the encoder layers, each layer's attention output projection), in order."""
    import torch

    layers_at, projection_at = FAMILIES[net.config.model_type]
    layers = list(_get(net.base_model, layers_at))
    projections = [_get(layer, projection_at) for layer in layers]
    if len(layers) != net.config.num_hidden_layers or not all(isinstance(p, torch.nn.Linear) for p in projections):
        raise TypeError("unexpected layout")
    return layers, projections


def reason_unsupported(net) -> str | None:
    """None when head_importance works for `net`; otherwise why not, in one line for the page."""
    kind = getattr(net.config, "model_type", "") or type(net).__name__
    if kind not in FAMILIES:
        return f"head importance is not available for {kind} models"
    try:
        _modules(net)
    except (AttributeError, IndexError, TypeError):
        return f"head importance is not available for this {kind} model: its layers are not laid out as BERT's"
    if net.get_output_embeddings() is None:
        return f"head importance is not available for this {kind} model: it has no output embeddings"
    return None


@contextmanager
def _hooked(net, positions: list[int], gate, grow: frozenset = frozenset()):
    """Run `net` with gates and, for ablation, extra batch rows.

    gate(layer, rows) -> a [rows or 1, heads] tensor multiplying each head's context vector, or None.
    At the input of each layer in `grow`, `heads` copies of row 0 are appended to the batch: up to that
    layer a head's ablation changes nothing, so those rows share row 0's work instead of repeating it."""
    heads = net.config.num_attention_heads
    layers, projections = _modules(net)
    handles = []

    def gate_hook(layer):
        def hook(module, args):
            g = gate(layer, args[0].shape[0])
            if g is None:
                return None
            x = args[0]
            b, t, width = x.shape
            x = (x.reshape(b, t, heads, width // heads) * g[:, None, :, None]).reshape(b, t, width)
            return (x, *args[1:])
        return hook

    def grow_hook(module, args, kwargs):  # the attention mask, made for a batch of one, broadcasts
        import torch
        if args:
            h = args[0]
            return (torch.cat([h, h[:1].expand(heads, -1, -1)]), *args[1:]), kwargs
        h = kwargs["hidden_states"]
        return args, dict(kwargs, hidden_states=torch.cat([h, h[:1].expand(heads, -1, -1)]))

    def keep_masks(module, args):  # the vocabulary projection sees only the mask positions
        return (args[0][:, positions], *args[1:])

    try:
        for i, (layer, projection) in enumerate(zip(layers, projections)):
            handles.append(projection.register_forward_pre_hook(gate_hook(i)))
            if i in grow:
                handles.append(layer.register_forward_pre_hook(grow_hook, with_kwargs=True))
        handles.append(net.get_output_embeddings().register_forward_pre_hook(keep_masks))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _log_probs(net, inputs: dict, positions: list[int], targets: list[int] | None, gate, grow=frozenset()):
    """log p(target_k | sentence) at mask k for every batch row: [rows, masks]. No targets: row 0's top-1."""
    import torch

    with _hooked(net, positions, gate, grow):
        logits = net(**inputs).logits  # [rows, masks, vocabulary]: keep_masks dropped the other positions
    log_p = torch.log_softmax(logits, dim=-1)
    targets = log_p[0].argmax(-1) if targets is None else torch.as_tensor(targets)
    return log_p[:, torch.arange(len(positions)), targets]


def gated_log_probs(net, inputs: dict, positions: list[int], targets: list[int], gates):
    """log p(target_k) at each mask with head h of layer l scaled by gates[l, h] ([layers, heads], in the
    model's dtype); the model as it is when every gate is 1. For checking the scores (tests) and exploring."""
    import torch

    with torch.no_grad():
        return _log_probs(net, inputs, positions, targets, lambda layer, rows: gates[layer][None])[0]


@contextmanager
def _frozen(net):
    """Parameters without gradients for a while: the backward pass then builds and walks only what leads
    to the gates, not a weight gradient for every matrix in the model."""
    flags = [(p, p.requires_grad) for p in net.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def head_importance(net, inputs: dict, positions: list[int], targets: list[int] | None = None,
                    method: str = "gradient") -> np.ndarray:
    """I[m, l, h] (float64, [masks, layers, heads]): how much head h of layer l supports token
    targets[m] at mask position positions[m]; positive = supports. No targets: the model's own top-1 at
    each mask, found in the same forward pass. `inputs` is the tokenizer's batch of one; `net` in eval
    mode (as model.load leaves it). Raises ValueError for an unsupported model: ask reason_unsupported."""
    reason = reason_unsupported(net)
    if reason:
        raise ValueError(reason)
    if method not in IMPORTANCE:
        raise ValueError(f"method must be one of {', '.join(IMPORTANCE)}, not {method!r}")
    if (targets is not None and len(positions) != len(targets)) or inputs["input_ids"].shape[0] != 1:
        raise ValueError("one sentence, and one target per mask position")
    if not positions:
        return np.zeros((0, net.config.num_hidden_layers, net.config.num_attention_heads))
    targets = None if targets is None else list(targets)
    return (_gradient if method == "gradient" else _ablation)(net, inputs, list(positions), targets)


def _gradient(net, inputs, positions, targets) -> np.ndarray:
    """One forward pass with the gates as leaves of the graph, then one backward pass per mask."""
    with gated(net, positions) as gates:
        logits = net(**inputs).logits  # [1, masks, vocabulary]: keep_masks dropped the other positions
        return gradient_scores(gates, logits, targets)


@contextmanager
def gated(net, positions: list[int]):
    """The model runs with a gate of 1 on every head, a leaf of the autograd graph (x · 1 is x exactly: the
    pass's attention, hidden states and logits are the ungated model's), and the vocabulary projection sees only
    the mask positions: so one forward pass gives the predictions, the mixing analyses and, by
    gradient_scores, the gradient importance (model.predict). Yields the gates [layers, heads]."""
    import torch

    shape = (net.config.num_hidden_layers, net.config.num_attention_heads)
    like = next(net.parameters())  # gates in the model's dtype, on its device
    with torch.enable_grad(), _frozen(net):  # model.load turned gradients off for the whole process
        gates = torch.ones(shape, dtype=like.dtype, device=like.device, requires_grad=True)
        with _hooked(net, positions, lambda layer, rows: gates[layer][None]):
            yield gates


def gradient_scores(gates, logits, targets: list[int] | None) -> np.ndarray:
    """I[m, l, h] from a pass run under gated(): `logits` its output [1, masks, vocabulary] as the model returned
    it (indexed here, where the graph is recorded), `targets` the token scored at each mask (None: the top-1).
    One backward pass per mask, the graph kept between them: masks are few, and each needs its own gradient."""
    import torch

    with torch.enable_grad():
        log_p = torch.log_softmax(logits[0], dim=-1)
        targets = log_p.argmax(-1) if targets is None else torch.as_tensor(targets)
        log_p = log_p[torch.arange(len(targets)), targets]
        scores = [torch.autograd.grad(log_p[k], gates, retain_graph=k + 1 < len(log_p))[0]
                  for k in range(len(log_p))]
    return (torch.stack(scores) * gates.detach()).double().cpu().numpy()  # xi * d/dxi; xi = 1 here


@contextmanager
def masks_only(net, positions: list[int]):
    """The vocabulary projection sees only the mask positions, in any family: logits [batch, masks, vocabulary]."""
    handle = net.get_output_embeddings().register_forward_pre_hook(lambda module, args: (args[0][:, positions],
                                                                                          *args[1:]))
    try:
        yield
    finally:
        handle.remove()


def _ablation(net, inputs, positions, targets) -> np.ndarray:
    """Every head zeroed in turn, batched: row 0 is the sentence as is, and layer l's input gains one row
    per head, whose gate zeroes that head in layer l only. Layers go in passes small enough for memory."""
    import torch

    layers, heads = net.config.num_hidden_layers, net.config.num_attention_heads
    tokens = inputs["input_ids"].shape[1]
    like = next(net.parameters())
    per_pass = max(1, (ABLATION_TOKENS // tokens - 1) // heads)  # rows at the last layer: 1 + per_pass * heads
    zero_one = 1 - torch.eye(heads, dtype=like.dtype, device=like.device)  # row h: every head but h
    out = np.empty((len(positions), layers, heads))
    for first in range(0, layers, per_pass):
        grow = frozenset(range(first, min(layers, first + per_pass)))

        def gate(layer, rows):
            if layer not in grow:
                return None  # rows from earlier layers keep this layer whole
            g = torch.ones(rows, heads, dtype=like.dtype, device=like.device)
            g[rows - heads:] = zero_one  # the rows that joined at this layer's input
            return g

        with torch.no_grad():
            log_p = _log_probs(net, inputs, positions, targets, gate, grow)  # [1 + len(grow) * heads, masks]
        drop = (log_p[:1] - log_p[1:]).double().cpu().numpy()  # log p(w) - log p(w | head zeroed)
        out[:, first:first + len(grow)] = drop.T.reshape(len(positions), len(grow), heads)
    return out


def rollout(attention: np.ndarray) -> np.ndarray:
    """R[l] (float64, [layers, T, T]): row i is how much of each input token reaches position i after
    layer l+1. Each layer's heads are averaged, the residual connection is added as an identity with
    equal weight (A = 0.5 mean + 0.5 I, rows renormalised), and layers compose: R_l = A_l ... A_1."""
    a = np.asarray(attention, dtype=np.float64).mean(axis=1)
    tokens = a.shape[-1]
    a = 0.5 * a + 0.5 * np.eye(tokens)
    a /= a.sum(axis=-1, keepdims=True)  # float32 attention rows sum to 1 only within rounding
    out = np.empty_like(a)
    flow = np.eye(tokens)
    for layer in range(a.shape[0]):
        flow = a[layer] @ flow
        out[layer] = flow
    return out


@dataclass
class Explanation:
    """Each mask of a model run explained: where its information comes from and which heads its top prediction
    leans on."""
    rollout: np.ndarray  # [masks, layers, T]: the mask's row of the rollout after each layer
    importance: np.ndarray | None  # [masks, layers, heads], or None where the model's family does not allow it
    note: str = ""  # why there is no importance, in one line for the page


def explain(net, run, method: str) -> Explanation:
    """The rollout of each mask of a model run (model.Run) and, where the model's family allows, its heads'
    importance for the top prediction."""
    flow = rollout(run.attention)[:, [m.index for m in run.masks], :].transpose(1, 0, 2)
    if not run.masks:
        return Explanation(flow, None)
    reason = reason_unsupported(net)
    if reason:
        return Explanation(flow, None, reason)
    if method == "gradient" and run.importance is not None:  # predict's pass computed it
        return Explanation(flow, run.importance)
    return Explanation(flow, head_importance(net, run.inputs, [m.index for m in run.masks],
                                             [m.target for m in run.masks], method))
