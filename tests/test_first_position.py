"""The top layer computing only the position a classifier reads: same logits, loss and gradients as
the full layer, and left off for any model where the logits would differ."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import (BertConfig, BertForSequenceClassification, BertModel, BertPreTrainedModel,
                          DistilBertConfig, DistilBertForSequenceClassification, GPT2Config,
                          GPT2ForSequenceClassification, RobertaConfig, RobertaForSequenceClassification)
from transformers.modeling_outputs import SequenceClassifierOutput

from pipelines import first_position

SIZES = dict(vocab_size=120, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64)


def tiny_classifier(architecture: str, attention: str = "sdpa") -> torch.nn.Module:
    """A seeded random 3-label classifier: "bert", "roberta" or "gpt2" (a decoder), in sdpa or eager."""
    torch.manual_seed(0)
    if architecture == "bert":
        return BertForSequenceClassification(BertConfig(**SIZES, num_labels=3, attn_implementation=attention))
    if architecture == "roberta":
        return RobertaForSequenceClassification(RobertaConfig(**SIZES, num_labels=3, pad_token_id=0,
                                                              attn_implementation=attention))
    config = GPT2Config(vocab_size=120, n_embd=32, n_layer=2, n_head=4, n_positions=32, num_labels=3,
                        pad_token_id=0, attn_implementation=attention)
    return GPT2ForSequenceClassification(config)


def padded_batch(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 120, (4, 11), generator=generator)
    mask = torch.ones_like(ids)
    for row, length in enumerate((11, 7, 3, 9)):
        mask[row, length:] = 0
        ids[row, length:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def without_dropout(model: torch.nn.Module) -> torch.nn.Module:
    """Dropout off in train mode (attention reads its dropout module's p too), so both forwards draw
    nothing and must agree exactly."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return model.train()


def assert_same_loss_and_gradients(model, loss, other, other_loss) -> None:
    """Back-propagates both losses; they, and every parameter's gradient, must agree."""
    loss.backward()
    other_loss.backward()
    assert torch.allclose(other_loss, loss, atol=1e-6)
    for (name, param), other_param in zip(model.named_parameters(), other.parameters(), strict=True):
        assert (param.grad is None) == (other_param.grad is None), name
        if param.grad is not None:
            assert torch.allclose(other_param.grad, param.grad, atol=1e-6), name


class MeanPooledClassifier(BertPreTrainedModel):
    """Built like BERT, but its head averages every position: skipping positions would change it."""

    def __init__(self, config):
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=False)
        self.classifier = torch.nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return SequenceClassifierOutput(logits=self.classifier((hidden * weights).sum(1) / weights.sum(1)))


MeanPooledClassifier.__name__ = "MeanPooledForSequenceClassification"


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("architecture", ["bert", "roberta"])
def test_loss_and_every_gradient_match_the_full_top_layer(architecture, attention):
    model = tiny_classifier(architecture, attention)
    fast = copy.deepcopy(model)
    assert first_position.enable(fast, padded_batch(seed=1))
    assert fast.training  # enable checks in eval mode and restores the mode it found

    batch, labels = padded_batch(seed=2), torch.tensor([0, 1, 2, 1])
    full_loss = without_dropout(model)(**batch, labels=labels).loss
    fast_loss = without_dropout(fast)(**batch, labels=labels).loss
    assert_same_loss_and_gradients(model, full_loss, fast, fast_loss)

    top = fast.base_model.encoder.layer[-1]
    assert "forward" in vars(top)  # the top layer's own forward is replaced ...
    first_position.disable(fast)
    assert "forward" not in vars(top)  # ... and disable restores the class's


def test_a_head_that_reads_every_position_keeps_the_full_layer():
    torch.manual_seed(0)
    model = MeanPooledClassifier(BertConfig(**SIZES, num_labels=2)).eval()
    batch = padded_batch()
    before = model(**batch).logits
    assert not first_position.enable(model, batch)  # the check's logits differ: left as it was
    assert "forward" not in vars(model.bert.encoder.layer[-1])
    assert torch.equal(model(**batch).logits, before)


def test_a_model_built_otherwise_is_left_alone():
    model = DistilBertForSequenceClassification(DistilBertConfig(vocab_size=120, dim=32, n_layers=2, n_heads=4,
                                                                 hidden_dim=64))
    assert not first_position.enable(model, padded_batch())
    assert not any("forward" in vars(module) for module in model.modules())


def test_a_top_layer_that_fails_the_shortcut_is_restored(monkeypatch):
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(**SIZES, num_labels=2))

    def unknown_internals(layer, *args, **kwargs):
        raise AttributeError("no such projection")

    monkeypatch.setattr(first_position, "_forward", unknown_internals)
    assert not first_position.enable(model, padded_batch())
    assert "forward" not in vars(model.bert.encoder.layer[-1]) and model.training
