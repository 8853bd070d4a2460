"""How much each token really passes on: value norms, value-weighted attention, contributions (ALTI).

Attention weights say where a head looks, not what it takes: a head can put most of its weight on [CLS] or
[SEP] while passing on almost nothing from them, because their value vectors are short (Kobayashi et al.
2020), and the residual connection keeps most of each token's own information (Kobayashi et al. 2021;
Ferrando et al. 2022, ALTI). For layer l with input hidden states x_1 … x_T (the previous layer's output:
hidden_states[l] of the same forward pass), head h with attention α_h, value projection W_V[h], b_V[h] and
its slice W_O[:, h] of the output projection:

    f_h(x_j) = W_O[:, h] (W_V[h] x_j + b_V[h])                 value norms ‖f_h(x_j)‖₂
    N_h[i, j] = α_h[i, j] ‖f_h(x_j)‖₂ / Σ_k α_h[i, k] ‖f_h(x_k)‖₂   value-weighted attention
    T_i(x_j) = Σ_h α_h[i, j] f_h(x_j) + [i = j] x_i             so y_i = Σ_j T_i(x_j) + b_O is the real input
                                                                of the attention block's LayerNorm (γ, ε)
    T̃_i(x_j) = γ ⊙ (T_i(x_j) − mean(T_i(x_j))) / √(var(y_i) + ε),   ỹ_i = Σ_j T̃_i(x_j)
    c[i, j] = max(0, ‖ỹ_i‖₁ − ‖ỹ_i − T̃_i(x_j)‖₁),   C_l[i, j] = c[i, j] / Σ_k c[i, k]   contributions
    R_1 = C_1, R_l = C_l R_{l−1}                                contribution rollout (a mask at m reads row m)

A row with nothing to normalise (every α_h[i, k] ‖f_h(x_k)‖ zero, or every c[i, k] zero) stays all zeros,
and the statistics leave it out. Everything comes from one forward pass run with FLAGS: no second pass.

How compute() gets there: the LayerNorm's √(var(y_i) + ε) divides every T̃_i(x_j) of row i by one positive
number, so it scales c[i, ·] by that number and cancels in C_l; it is left out, and with it b_O, which only
enters y_i (decomposition() gives T_i(x_j), to check y_i against the model's own LayerNorm input). T̃_i(x_j)
is linear in f and x, so those are centred and multiplied by γ once, and ỹ_i is one matrix product. What
is left, ‖ỹ_i − T̃_i(x_j)‖₁ for every i and j, is T x T x d numbers a layer: made a chunk of rows at a time
(CHUNK_BYTES). f_h comes from the model's own weights in their dtype (at least float32); everything after it
is float64, because c is a difference of two nearly equal L1 norms (docs/mixing.md: what float32 would move).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import attribution

# what the forward pass must return for compute()
FLAGS = {"output_attentions": True, "output_hidden_states": True}
# model_type -> (a layer's value projection, its attention output projection, the LayerNorm after the
# attention block), under each layer as attribution.FAMILIES finds the layers. All of them post-LayerNorm.
_BERT_LIKE = ("attention.self.value", "attention.output.dense", "attention.output.LayerNorm")
FAMILIES = {
    "bert": _BERT_LIKE,
    "roberta": _BERT_LIKE,
    "xlm-roberta": _BERT_LIKE,
    "camembert": _BERT_LIKE,
    "electra": _BERT_LIKE,
    "distilbert": ("attention.v_lin", "attention.out_lin", "sa_layer_norm"),
}
# the most of T_i(x_j), [sentences, T, rows, d] float64, made at once: in full it is 1.5 GiB a layer for a
# 512-token BERT-base sentence; larger chunks are no faster (docs/mixing.md)
CHUNK_BYTES = 32 * 2 ** 20


@dataclass
class Mixing:
    """One sentence's value norms and contributions, on its own tokens only (no padding)."""
    norms: np.ndarray  # float64 [layers, heads, T]: ‖f_h(x_j)‖₂, the value vector's length as the head writes it
    contributions: np.ndarray  # float64 [layers, T, T]: C_l; row i = the receiving token; rows sum to 1 (or are 0)


@dataclass
class _Layer:
    value: object  # torch.nn.Linear: W_V (all heads), b_V
    output: object  # torch.nn.Linear: W_O, b_O
    norm: object  # torch.nn.LayerNorm: γ, ε


def _layers(net) -> list[_Layer]:
    import torch

    layers, _ = attribution._modules(net)
    value_at, output_at, norm_at = FAMILIES[net.config.model_type]
    found = [_Layer(*(attribution._get(layer, at) for at in (value_at, output_at, norm_at))) for layer in layers]
    d = net.config.hidden_size
    for f in found:
        if not (isinstance(f.value, torch.nn.Linear) and isinstance(f.output, torch.nn.Linear)
                and isinstance(f.norm, torch.nn.LayerNorm) and f.output.out_features == d
                and f.output.in_features == f.value.out_features and f.norm.normalized_shape == (d,)):
            raise TypeError("unexpected layout")
    return found


def reason_unsupported(net) -> str | None:
    """None when compute works for `net`; otherwise why not, in one line for the page."""
    kind = getattr(net.config, "model_type", "") or type(net).__name__
    if kind not in FAMILIES:
        return f"value norms and contributions are not available for {kind} models"
    try:
        _layers(net)
    except (AttributeError, IndexError, TypeError):
        return (f"value norms and contributions are not available for this {kind} model: its layers are not "
                f"laid out as BERT's")
    return None


def _values(layer: _Layer, x, heads: int):
    """f_h(x_j) for every head and token, float64 [batch, T, heads, d], by the model's own weights in their
    dtype (at least float32: no copy of them for a float32 or float64 model)."""
    import torch
    from torch.nn.functional import linear

    dtype = torch.promote_types(layer.value.weight.dtype, torch.float32)
    bias = None if layer.value.bias is None else layer.value.bias.to(dtype)
    v = linear(x.to(dtype), layer.value.weight.to(dtype), bias)  # W_V x + b_V, the heads side by side
    b, t, width = v.shape
    w_o = layer.output.weight.to(dtype).view(-1, heads, width // heads)  # [d, heads, head size]
    return torch.einsum("bthe,dhe->bthd", v.view(b, t, heads, width // heads), w_o).double()


def _pieces(f, alpha, x, first: int, rows: int):
    """T_i(x_j) for the rows i in [first, first + rows): float64 [batch, T (j), rows (i), d], from f
    [batch, T, heads, d], alpha [batch, heads, T, T] and x [batch, T, d]."""
    import torch

    b, t, heads, d = f.shape
    a = alpha[:, :, first:first + rows, :].permute(0, 3, 2, 1).reshape(b * t, rows, heads)  # [b*j, i, h]
    out = torch.bmm(a, f.reshape(b * t, heads, d)).view(b, t, rows, d)
    i = torch.arange(rows, device=out.device)
    out[:, first + i, i] += x[:, first:first + rows]  # the residual: [i = j] x_i
    return out


def _chunks(batch: int, t: int, d: int, budget: int) -> list[tuple[slice, int, int]]:
    """(sentences, first row, rows) pieces whose [sentences, T, rows, d] float64 array fits in `budget`."""
    rows = max(1, budget // (t * d * 8))  # (sentence, row) pairs at once
    if rows >= t:
        per = rows // t
        return [(slice(s, min(batch, s + per)), 0, t) for s in range(0, batch, per)]
    return [(slice(s, s + 1), first, min(rows, t - first)) for s in range(batch) for first in range(0, t, rows)]


def _inputs(hidden_states, attentions, layer: int, attention_mask):
    """The layer's input x [batch, T, d] as the model has it, and its attention α as float64."""
    import torch

    x = torch.as_tensor(hidden_states[layer])  # the previous layer's output
    alpha = torch.as_tensor(attentions[layer], device=x.device).double()
    if attention_mask is not None:  # padding passes on nothing, by construction, not by softmax underflow
        alpha = alpha * torch.as_tensor(attention_mask, device=x.device).double()[:, None, None, :]
    return x, alpha


def decomposition(net, hidden_states, attentions, layer: int, attention_mask=None):
    """T_i(x_j) of one layer (0-based) in full, float64 [batch, T (i), T (j), d]: for tests and for exploring
    short sentences (compute never holds it whole). Padding keys pass on nothing; padding rows are junk."""
    import torch

    with torch.no_grad():
        x, alpha = _inputs(hidden_states, attentions, layer, attention_mask)
        f = _values(_layers(net)[layer], x, alpha.shape[1])
        return _pieces(f, alpha, x.double(), 0, x.shape[1]).transpose(1, 2)


def compute(net, hidden_states, attentions, attention_mask=None, budget: int = CHUNK_BYTES) -> list[Mixing]:
    """Every sentence's Mixing, from one forward pass of `net` (eval mode) run with FLAGS.

    hidden_states: the pass's layers + 1 tensors [batch, T, d]; attentions: its layers tensors
    [batch, heads, T, T]; attention_mask: the tokenizer's [batch, T] (1 = token, 0 = padding), None for a
    batch without padding. Returns one Mixing per batch row, cut to its own tokens. `budget`: bytes of
    T_i(x_j) made at once. Raises ValueError for an unsupported model: ask reason_unsupported."""
    import torch

    reason = reason_unsupported(net)
    if reason:
        raise ValueError(reason)
    if hidden_states is None or attentions is None:
        raise ValueError("run the model with mixing.FLAGS: it returned no hidden states or attentions")
    found, heads = _layers(net), net.config.num_attention_heads
    if len(hidden_states) != len(found) + 1 or len(attentions) != len(found):
        raise ValueError(f"expected {len(found) + 1} hidden states and {len(found)} attentions, "
                         f"not {len(hidden_states)} and {len(attentions)}")
    batch, t, d = hidden_states[0].shape
    norms = torch.empty(len(found), batch, heads, t, dtype=torch.float64)
    contributions = torch.zeros(len(found), batch, t, t, dtype=torch.float64)
    with torch.no_grad():
        for l, layer in enumerate(found):
            x, alpha = _inputs(hidden_states, attentions, l, attention_mask)
            f = _values(layer, x, heads)
            norms[l] = f.norm(dim=-1).transpose(1, 2).cpu()
            # T̃_i(x_j) is linear in f and x: centre and scale them once rather than every T_i(x_j)
            gamma = layer.norm.weight.double()
            f = (f - f.mean(-1, keepdim=True)) * gamma
            x = x.double()
            x = (x - x.mean(-1, keepdim=True)) * gamma
            mixed = torch.einsum("bhij,bjhd->bid", alpha, f) + x  # √(var(y_i) + ε) ỹ_i, one GEMM
            size = mixed.abs().sum(-1)  # [b, i]
            for part, first, rows in _chunks(batch, t, d, budget):
                pieces = _pieces(f[part], alpha[part], x[part], first, rows)  # √(var(y_i) + ε) T̃_i(x_j)
                pieces -= mixed[part, None, first:first + rows]  # [s, j, i, d]; its L1 norm: ‖ỹ_i − T̃_i(x_j)‖₁
                c = size[part, None, first:first + rows] - torch.linalg.vector_norm(pieces, 1, dim=-1)
                contributions[l, part, first:first + rows] = c.clamp_(min=0).transpose(1, 2).cpu()
    total = contributions.sum(-1, keepdim=True)
    contributions = torch.where(total > 0, contributions / torch.where(total > 0, total, 1.0), 0.0)
    keep = [torch.arange(t)] * batch if attention_mask is None else \
        [torch.as_tensor(m).cpu().nonzero().flatten() for m in attention_mask]
    return [Mixing(norms[:, s][..., at].numpy(), contributions[:, s][:, at][..., at].numpy())
            for s, at in enumerate(keep)]


def value_norms(net, hidden_states, attention_mask=None) -> list[np.ndarray]:
    """Every sentence's value norms ‖f_h(x_j)‖₂ alone (float64 [layers, heads, T], cut to its own tokens), as
    compute() gives them, without the contributions: all the statistics need (the corpus pass)."""
    import torch

    reason = reason_unsupported(net)
    if reason:
        raise ValueError(reason)
    if hidden_states is None:
        raise ValueError("run the model with mixing.FLAGS: it returned no hidden states")
    found, heads = _layers(net), net.config.num_attention_heads
    with torch.no_grad():
        norms = torch.stack([_values(layer, torch.as_tensor(hidden_states[l]), heads).norm(dim=-1).transpose(1, 2)
                             for l, layer in enumerate(found)], dim=1).cpu()  # [batch, layers, heads, T]
    if attention_mask is None:
        return list(norms.numpy())
    return [norms[s][..., torch.as_tensor(m).cpu().bool()].numpy() for s, m in enumerate(attention_mask)]


def value_weighted(attention: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """N (float64, [..., heads, T, T]) from attention [..., heads, T, T] and norms [..., heads, T]: each
    weight times the length of what it takes, rows renormalised; a row whose products are all zero stays 0."""
    n = np.asarray(attention, dtype=np.float64) * np.asarray(norms, dtype=np.float64)[..., None, :]
    total = n.sum(-1, keepdims=True)
    return np.divide(n, total, out=np.zeros_like(n), where=total > 0)


def contribution_rollout(contributions: np.ndarray) -> np.ndarray:
    """R (float64, [layers, T, T]): R_1 = C_1, R_l = C_l R_{l−1}; row i is how much of each input token
    reaches position i after layer l (rows sum to 1, or are 0 where a row of C was)."""
    c = np.asarray(contributions, dtype=np.float64)
    out = np.empty_like(c)
    flow = np.eye(c.shape[-1])
    for layer in range(c.shape[0]):
        flow = c[layer] @ flow
        out[layer] = flow
    return out


def _share(value_weighted: np.ndarray, at: np.ndarray) -> np.ndarray:
    """[layers, heads]: the mean over rows i of Σ_{j in at} N[i, j], rows that are all zero left out (NaN
    when every row is)."""
    live = value_weighted.sum(-1) > 0.5  # a row sums to 1 or is all zeros
    on = value_weighted[..., np.asarray(at, dtype=bool)].sum(-1)
    counted = live.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counted > 0, (on * live).sum(-1) / counted, np.nan)


def cls_norm(value_weighted: np.ndarray, cls: np.ndarray) -> np.ndarray:
    """The share of value-weighted attention on the [CLS] positions (bool [T]), per head [layers, heads]."""
    return _share(value_weighted, cls)


def sep_norm(value_weighted: np.ndarray, sep: np.ndarray) -> np.ndarray:
    """The share of value-weighted attention on the [SEP] positions (bool [T]), per head [layers, heads]."""
    return _share(value_weighted, sep)
