"""Skip the top layer's work on positions a sequence classifier never reads.

A BERT-style classifier (BERT, MiniLM, RoBERTa, ELECTRA, ...) reads one position of its top layer's
output: the first. Every other position of that layer still costs its query, its attention output and
its feed-forward block: on MiniLM (6 layers) about a seventh of the matrix work of a forward pass, and
of a training step, for outputs nothing uses. Here the top layer computes the first position only: its
query, attending over every position's keys and values (which it does need), then the attention
output and the feed-forward block on that one position. The logits, the loss and every gradient are
the same as the full layer's (the unused positions have no path to the loss); in training only the
dropout draws for the skipped positions are not made. Fine-tuning (`finetune/train.py`) and the
sentiment classifiers (`loading.py`) use it.

Used only where it gives the same logits: `enable` checks the layer's structure, then compares the
model's logits with and without it on rows of different lengths (so with padding), and leaves the
model as it was when they differ (a head that pools every position, a decoder classifier reading the
last token, an attention variant this does not know).
"""

from __future__ import annotations

import inspect
from types import MethodType

import torch
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from pipelines import logit_check

_PATCHED = "_studio_first_position_only"  # marks a layer whose forward is replaced here


def enable(model: torch.nn.Module, probe: dict[str, torch.Tensor]) -> bool:
    """Make the classifier's top layer compute its first position only, if that leaves the logits of
    `probe` (a padded batch of model inputs, on the model's device) unchanged; returns whether it did."""
    layer = _top_layer(model)
    if layer is None:
        return False

    def check() -> bool:
        model.eval()
        full = model(**probe).logits
        _patch(layer)
        return logit_check.same_logits(full, model(**probe).logits)

    return logit_check.keep_if_same(model, check, disable, "The top layer computes every position here")


def enable_for(model: torch.nn.Module, tokenizer) -> bool:
    """`enable`, checked on logit_check.PROBE_TEXTS as the model's tokenizer encodes them."""
    probe = logit_check.probe_batch(model, tokenizer)
    return probe is not None and enable(model, probe)


def disable(model: torch.nn.Module) -> None:
    """Undo `enable`: the top layer computes every position again."""
    layer = _top_layer(model)
    if layer is not None and getattr(layer, _PATCHED, False):
        del layer.forward
        delattr(layer, _PATCHED)


def _top_layer(model: torch.nn.Module) -> torch.nn.Module | None:
    """The top transformer layer, if it is built like BERT's (self-attention with query, key and value
    projections, an attention output block, a feed-forward chunk) and is an encoder layer."""
    if not type(model).__name__.endswith("ForSequenceClassification"):
        return None
    try:
        layer = getattr(model, model.base_model_prefix).encoder.layer[-1]
        attention = layer.attention.self
        parts = (attention.query, attention.key, attention.value, layer.attention.output, layer.feed_forward_chunk)
    except (AttributeError, IndexError, TypeError):
        return None
    if getattr(layer, "is_decoder", False) or not all(callable(p) for p in parts):
        return None
    return layer


def _patch(layer: torch.nn.Module) -> None:
    layer.forward = MethodType(_forward, layer)
    setattr(layer, _PATCHED, True)


def _forward(layer, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, *args, **kwargs):
    """The layer's forward for the first position only: output shape (batch, 1, hidden)."""
    attention = layer.attention.self
    batch, length, _ = hidden_states.shape
    first = hidden_states[:, :1]
    heads, head_size = attention.num_attention_heads, attention.attention_head_size
    query = attention.query(first).view(batch, 1, heads, head_size).transpose(1, 2)
    key = attention.key(hidden_states).view(batch, length, heads, head_size).transpose(1, 2)
    value = attention.value(hidden_states).view(batch, length, heads, head_size).transpose(1, 2)
    if attention_mask is not None and attention_mask.dim() == 4:
        attention_mask = attention_mask[:, :, :1, :]  # the first query's row of (batch, 1, query, key)
    eager = getattr(inspect.getmodule(attention), "eager_attention_forward", None)
    interface = ALL_ATTENTION_FUNCTIONS.get_interface(attention.config._attn_implementation, eager)
    context, _ = interface(attention, query, key, value, attention_mask,
                           dropout=attention.dropout.p if attention.training else 0.0,
                           scaling=attention.scaling)
    attention_output = layer.attention.output(context.reshape(batch, 1, -1), first)
    return layer.feed_forward_chunk(attention_output)
