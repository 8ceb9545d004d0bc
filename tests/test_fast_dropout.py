"""Fine-tuning's cheaper dropout (pipelines/finetune/dropout.py): masks at the stated rate in every
lane of a draw, expectation kept, gradients through the kept elements only, seeded draws repeatable;
in a model, the same loss and gradients as stock attention with the masks off, no `bernoulli_` left,
and the model unchanged where the check fails or after `disable`."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from transformers import BertConfig, BertForSequenceClassification

from pipelines.finetune import dropout
from tests.test_first_position import (SIZES, assert_same_loss_and_gradients, padded_batch, tiny_classifier,
                                      without_dropout)


@pytest.mark.parametrize("p", [0.1, 0.25, 0.5])
def test_every_lane_of_a_draw_keeps_at_the_stated_rate(p):
    torch.manual_seed(0)
    count = 1_000_000
    keep = dropout.keep_mask((count,), p)
    rate = dropout.keep_probability(p)
    assert abs(rate - (1 - p)) <= 1 / 65536
    spread = 5 * (rate * (1 - rate) / (count / 4)) ** 0.5  # five standard errors of one lane's rate
    for lane in keep.view(-1, 4).float().mean(0):  # each 16-bit quarter of the 64-bit draws
        assert abs(float(lane) - rate) < spread


def test_kept_values_are_scaled_to_keep_the_expectation_and_gradients_follow_the_mask():
    torch.manual_seed(0)
    x = torch.ones(400_000, requires_grad=True)
    out = dropout.dropout(x, 0.1)
    y = out.detach()
    scale = 1 / dropout.keep_probability(0.1)
    assert torch.unique(y).tolist() == [0.0, pytest.approx(scale)]
    assert abs(float(y.mean()) - 1.0) < 5 * (0.1 * 0.9 / 400_000) ** 0.5 * scale
    out.sum().backward()
    assert torch.equal(x.grad, y)  # d(sum)/dx: the scale where kept, 0 where dropped
    z = torch.randn(10)
    assert dropout.dropout(z, 0.1, training=False) is z and dropout.dropout(z, 0.0) is z
    assert torch.equal(dropout.dropout(z, 1.0), torch.zeros(10))


def test_seeded_draws_repeat_and_different_seeds_differ():
    masks = []
    for seed in (1, 1, 2):
        torch.manual_seed(seed)
        masks.append(dropout.keep_mask((3, 1000), 0.1))
    assert torch.equal(masks[0], masks[1]) and not torch.equal(masks[0], masks[2])


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("architecture", ["bert", "roberta", "gpt2"])
def test_with_the_masks_off_loss_and_every_gradient_match_stock_attention(architecture, attention):
    stock = tiny_classifier(architecture, attention)
    fast = copy.deepcopy(stock)
    assert dropout.enable(fast, padded_batch(seed=1))
    assert fast.config._attn_implementation == f"studio_fast_dropout|{attention}"
    batch, labels = padded_batch(seed=2), torch.tensor([0, 1, 2, 1])
    stock_loss = without_dropout(stock)(**batch, labels=labels).loss
    with dropout.masks_off():  # this module's attention path, nothing dropped
        fast_loss = fast.train()(**batch, labels=labels).loss
    assert_same_loss_and_gradients(stock, stock_loss, fast, fast_loss)


class OpNames(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.names = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.add(func.__name__.split(".")[0])
        return func(*args, **(kwargs or {}))


def ops_of_a_training_step(model) -> set[str]:
    model.train()
    with OpNames() as seen:
        model(**padded_batch(seed=3), labels=torch.tensor([0, 1, 2, 1])).loss.backward()
    return seen.names


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_training_draws_its_masks_here_and_no_bernoulli_is_left(attention):
    stock = tiny_classifier("bert", attention)
    fast = copy.deepcopy(stock)
    assert dropout.enable(fast, padded_batch(seed=1)) and dropout.enabled(fast)
    assert "bernoulli_" in ops_of_a_training_step(stock)
    fast_ops = ops_of_a_training_step(fast)
    assert "bernoulli_" not in fast_ops and "random_" in fast_ops
    fast.eval()  # evaluation: no dropout, the model's own attention, the same logits as stock
    stock.eval()
    with torch.no_grad():
        assert torch.allclose(fast(**padded_batch(seed=4)).logits, stock(**padded_batch(seed=4)).logits, atol=1e-6)


def test_attention_probabilities_are_dropped_at_the_rate():
    """Attention dropout happens in this module's attention path: with only attention dropout on, every
    mask drawn in a training forward has the attention probabilities' shape, one a layer."""
    model = tiny_classifier("bert")
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Dropout) and not name.endswith("attention.self.dropout"):
            module.p = 0.0
    assert dropout.enable(model, padded_batch(seed=1))
    shapes = []
    draw = dropout.keep_mask

    def recording(shape, p, device="cpu"):
        shapes.append((tuple(shape), p))
        return draw(shape, p, device)

    dropout.keep_mask = recording
    try:
        model.train()(**padded_batch(seed=2))
    finally:
        dropout.keep_mask = draw
    assert shapes == [((4, 4, 11, 11), 0.1)] * SIZES["num_hidden_layers"]  # (batch, heads, query, key)


class BreaksInTraining(BertForSequenceClassification):
    def forward(self, *args, **kwargs):
        if self.training:
            raise RuntimeError("not this way")
        return super().forward(*args, **kwargs)


def test_a_model_that_fails_the_check_is_left_as_it_was():
    torch.manual_seed(0)
    model = BreaksInTraining(BertConfig(**SIZES, num_labels=3)).eval()
    assert not dropout.enable(model, padded_batch(seed=1))
    assert not model.training and not dropout.enabled(model) and model.config._attn_implementation == "sdpa"


def test_disable_restores_the_model_and_saved_configs_never_name_this_module(tmp_path):
    model = tiny_classifier("bert")
    assert dropout.enable(model, padded_batch(seed=1))
    model.save_pretrained(tmp_path / "while")  # as a checkpoint mid-run would
    dropout.disable(model)
    assert not dropout.enabled(model) and model.config._attn_implementation == "sdpa"
    assert all(type(m).forward is m.forward.__func__ for m in model.modules() if isinstance(m, torch.nn.Dropout))
    model.save_pretrained(tmp_path / "after")
    for folder in ("while", "after"):
        assert "studio" not in json.dumps(json.loads((tmp_path / folder / "config.json").read_text()))
