"""The training loop's cheaper dropout: the same keep rate, scaling, gradients and eval mode as nn.Dropout."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pipelines.finetune.fast_dropout import FastDropout, keep_mask, swap_dropout


@pytest.mark.parametrize("p", [0.1, 0.5, 0.02])
def test_the_keep_rate_is_one_minus_p_in_both_halves_of_each_draw(p):
    torch.manual_seed(0)
    mask = keep_mask((1000, 1001), p)  # odd size: the last draw's second half is dropped
    assert mask.shape == (1000, 1001) and mask.dtype == torch.bool
    flat = mask.view(-1).float()
    # each element comes from the low 16 or the high 15 bits of a draw: even and odd places alike
    for part in (flat, flat[0::2], flat[1::2]):
        assert part.mean().item() == pytest.approx(1 - p, abs=3e-3)  # ~8 standard deviations


def test_masks_follow_the_torch_seed_and_differ_between_calls():
    torch.manual_seed(7)
    first, second = keep_mask((64, 64), 0.1), keep_mask((64, 64), 0.1)
    torch.manual_seed(7)
    assert torch.equal(keep_mask((64, 64), 0.1), first)
    assert not torch.equal(first, second)


def test_training_output_and_gradient_are_masked_and_scaled():
    torch.manual_seed(1)
    x = torch.randn(200, 300, requires_grad=True)
    out = FastDropout(0.2).train()(x)
    kept = out != 0
    assert torch.allclose(out[kept], x[kept] / 0.8)
    out.sum().backward()
    assert torch.allclose(x.grad, kept.float() / 0.8)
    assert kept.float().mean().item() == pytest.approx(0.8, abs=0.01)


def test_eval_mode_and_p_zero_are_the_identity():
    x = torch.randn(10, 10)
    assert FastDropout(0.3).eval()(x) is x
    assert FastDropout(0.0).train()(x) is x
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        FastDropout(1.0)


def test_swap_replaces_every_dropout_and_keeps_the_weights():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.1), nn.Sequential(nn.Linear(4, 2), nn.Dropout(0.3)))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert swap_dropout(model) == 2
    assert [m.p for m in model.modules() if isinstance(m, FastDropout)] == [0.1, 0.3]
    assert not any(type(m) is nn.Dropout for m in model.modules())
    after = model.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)
