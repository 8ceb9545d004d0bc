"""Dropout with a cheaper random mask, for fine-tuning on the CPU.

Stock dropout on the CPU draws its mask with `bernoulli_`: one draw from the generator per element,
written out as a float tensor, then divided and multiplied in. On a MiniLM training step that was 9%
of the step (20 dropout calls: embeddings, each layer's attention probabilities, attention output and
feed-forward output, the head). Here one 64-bit draw from the same generator gives four elements
their masks: each element keeps its value when its 16 bits clear a threshold, so an element is
dropped with probability round(p * 65536) / 65536 (0.1000061 for p = 0.1) and the kept values are
scaled by the inverse of the exact keep probability, so every output's expectation is its input, as
with stock dropout. The mask is kept as booleans for the backward pass (a quarter of the float mask).

Draws come from torch's default generator, so a seeded run is repeatable and a resumed run (which
restores the generator's state) replays exactly. Only the draws differ from stock dropout: a run is an
equally likely run of the same model, not the same run.

`enable(model, probe)` swaps it in for a model's `nn.Dropout` modules and, for attention whose
dropout happens inside `scaled_dot_product_attention` (BERT-style encoders, in sdpa or eager form),
registers an attention function that computes the probabilities itself and drops them here. It first
checks, on a padded probe batch with dropout switched off, that the model in training mode with the
replacement, and in evaluation mode with it, gives the logits it gives in evaluation mode without it,
and leaves the model as it was otherwise. Causal attention, grouped key/value heads, caches and
attention variants (soft-capping, sliding windows, sinks, position biases) keep their own
implementation and its dropout.
`disable(model)` undoes it (fine-tuning calls it before saving).
"""

from __future__ import annotations

import inspect
import math
from contextlib import contextmanager
from functools import partial
from types import MethodType

import torch
from torch import nn
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from pipelines import logit_check

_LANES = 1 << 16  # one mask decision per 16 bits of a draw
_PATCHED = "_studio_fast_dropout"  # marks a dropout module whose forward is replaced here
_PREFIX = "studio_fast_dropout|"  # + the original implementation's name ("sdpa" or "eager")
_checking = False  # dropout off while `enable` compares training-mode logits with evaluation mode's


def _threshold(p: float) -> int:
    """An element is dropped when its 16 bits, read as a signed integer, are below this."""
    return round(p * _LANES) - _LANES // 2


def keep_probability(p: float) -> float:
    """The exact probability that an element is kept, for drop probability p (0 < p < 1)."""
    return 1.0 - round(p * _LANES) / _LANES


def keep_mask(shape: torch.Size | tuple[int, ...], p: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """A boolean tensor of `shape`, each element True with probability keep_probability(p)."""
    count = math.prod(shape)
    words = torch.empty((count + 3) // 4, dtype=torch.int64, device=device).random_(-(2**63), None)
    return words.view(torch.int16)[:count].view(shape) >= _threshold(p)


class _ApplyMask(torch.autograd.Function):
    """x * keep * scale, keeping only the boolean mask for the backward pass."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, keep: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return x.mul(keep).mul_(scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (keep,) = ctx.saved_tensors
        return grad.mul(keep).mul_(ctx.scale), None, None


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Dropout of `x` with probability p (rounded to a multiple of 1/65536), as `F.dropout`."""
    if not training or p == 0.0 or _checking:
        return x
    if p >= 1.0:
        return x * 0.0
    rounded_keep = keep_probability(p)
    if rounded_keep == 1.0:  # p below 1/131072 rounds to no dropout
        return x
    return _ApplyMask.apply(x, keep_mask(x.shape, p, x.device), 1.0 / rounded_keep)


def _dropout_forward(module: nn.Dropout, x: torch.Tensor) -> torch.Tensor:
    return dropout(x, module.p, module.training)


def _math_attention(query, key, value, attention_mask, p: float, scaling: float | None) -> torch.Tensor:
    """Softmax attention, its probabilities dropped here; output (batch, query length, heads, head size)."""
    scores = torch.matmul(query, key.transpose(-1, -2))
    scores.mul_(query.shape[-1] ** -0.5 if scaling is None else scaling)
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:  # True where a query may attend (the sdpa mask format)
            scores.masked_fill_(~attention_mask, torch.finfo(scores.dtype).min)
        else:  # additive (the eager mask format)
            scores.add_(attention_mask[..., : key.shape[-2]])
    probabilities = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    context = torch.matmul(dropout(probabilities, p), value)
    return context.transpose(1, 2).contiguous()


_VARIANTS = ("softcap", "sliding_window", "s_aux", "sinks", "position_bias", "cache", "head_mask")


def _attention(original: str, module, query, key, value, attention_mask, dropout: float = 0.0,
               scaling: float | None = None, is_causal: bool | None = None, **kwargs):
    """The attention function registered as _PREFIX + original: ours where it drops probabilities in
    a plain bidirectional attention, the original implementation everywhere else."""
    causal = (is_causal if is_causal is not None else getattr(module, "is_causal", True)) and attention_mask is None \
        and query.shape[-2] > 1
    plain = (module.training and (dropout > 0.0 or _checking) and not causal and query.shape[1] == key.shape[1]
             and not any(kwargs.get(name) is not None for name in _VARIANTS))
    if plain:
        return _math_attention(query, key, value, attention_mask, dropout, scaling), None
    eager = getattr(inspect.getmodule(type(module)), "eager_attention_forward", None)
    function = ALL_ATTENTION_FUNCTIONS.get_interface(original, eager)  # as the model's own attention looks it up
    if is_causal is not None:
        kwargs["is_causal"] = is_causal
    return function(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)


def _register(original: str) -> str:
    name = _PREFIX + original
    if name not in ALL_ATTENTION_FUNCTIONS:
        ALL_ATTENTION_FUNCTIONS.register(name, partial(_attention, original))
        ALL_MASK_ATTENTION_FUNCTIONS.register(name, ALL_MASK_ATTENTION_FUNCTIONS[original])
    return name


def _configs(model: nn.Module) -> list:
    """Every distinct config in the model (a model and its base share one)."""
    found = {}
    for module in model.modules():
        config = getattr(module, "config", None)
        if config is not None and hasattr(config, "_attn_implementation_internal"):
            found[id(config)] = config
    return list(found.values())


def enable(model: nn.Module, probe: dict[str, torch.Tensor]) -> bool:
    """Use the cheaper dropout in `model` (on the CPU), if the check on `probe` (a padded batch of model
    inputs) passes; returns whether it did."""
    if next(model.parameters()).device.type != "cpu":
        return False  # GPUs draw dropout masks in fused kernels already

    def check() -> bool:
        model.eval()
        reference = model(**probe).logits
        _patch(model)
        model.train()
        with masks_off():
            candidate = model(**probe).logits  # training mode: this module's attention path
        model.eval()
        delegated = model(**probe).logits  # evaluation mode: handed to the model's own attention
        return logit_check.same_logits(reference, candidate, delegated)

    return logit_check.keep_if_same(model, check, disable, "Stock dropout kept here")


def enable_for(model: nn.Module, tokenizer) -> bool:
    """`enable`, checked on logit_check.PROBE_TEXTS as the model's tokenizer encodes them."""
    probe = logit_check.probe_batch(model, tokenizer)
    return probe is not None and enable(model, probe)


@contextmanager
def masks_off():
    """Within it, this module's dropout keeps every element (attention still takes this module's path
    in training mode): what `enable` compares with evaluation mode."""
    global _checking
    _checking = True
    try:
        yield
    finally:
        _checking = False


def _patch(model: nn.Module) -> None:
    for module in model.modules():
        if type(module) is nn.Dropout and not getattr(module, _PATCHED, False):
            module.forward = MethodType(_dropout_forward, module)
            setattr(module, _PATCHED, True)
    for config in _configs(model):
        if config._attn_implementation in ("sdpa", "eager"):
            config._attn_implementation_internal = _register(config._attn_implementation)


def disable(model: nn.Module) -> None:
    """Undo `enable`: stock dropout and the model's own attention implementation again."""
    for module in model.modules():
        if getattr(module, _PATCHED, False):
            del module.forward
            delattr(module, _PATCHED)
    for config in _configs(model):
        name = config._attn_implementation or ""
        if name.startswith(_PREFIX):
            config._attn_implementation_internal = name.removeprefix(_PREFIX)


def enabled(model: nn.Module) -> bool:
    return any(getattr(module, _PATCHED, False) for module in model.modules())
