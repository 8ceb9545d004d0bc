"""Speed changes to a model's forward pass that are kept only where a check shows the same logits.

`first_position` (the top layer on the read position only) and `finetune/dropout` (cheaper dropout
masks) both change how a model computes, not what: each applies its change, runs the model on a
padded probe batch, and keeps the change only where the logits match the unchanged model's.
This module holds what they share: the probe batch and the check itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

logger = logging.getLogger(__name__)

TOLERANCE = 1e-4  # on logits; float32 reorderings differ by about 1e-6
PROBE_TEXTS = ("Fine.", "A longer text, so that the shorter one is padded when they form a batch.")


def probe_batch(model: torch.nn.Module, tokenizer) -> dict[str, torch.Tensor] | None:
    """PROBE_TEXTS as the model's tokenizer encodes them (two lengths, so padded), on the model's
    device; None for a tokenizer that cannot pad (no batch to check on)."""
    try:
        probe = tokenizer(list(PROBE_TEXTS), padding=True, return_tensors="pt")
    except (ValueError, TypeError):
        return None
    device = next(model.parameters()).device
    return {name: values.to(device) for name, values in probe.items()}


def same_logits(reference: torch.Tensor, *others: torch.Tensor) -> bool:
    return all(o.shape == reference.shape and torch.allclose(o, reference, atol=TOLERANCE, rtol=TOLERANCE)
               for o in others)


def keep_if_same(model: torch.nn.Module, check: Callable[[], bool], undo: Callable[[torch.nn.Module], None],
                 refused: str) -> bool:
    """Run `check` (which applies a change and compares logits) without gradients; keep the change if
    it returns True, else (or if it raises: an architecture the change does not know) `undo` it.
    The model's training mode is restored either way. Returns whether the change was kept."""
    was_training = model.training
    try:
        with torch.no_grad():
            same = check()
    except Exception as err:
        logger.info("%s (%s).", refused, err)
        same = False
    finally:
        model.train(was_training)
    if not same:
        undo(model)
    return same
