"""The model to fine-tune: where the base checkpoint's files are, its classification head, what trains.

The base is named like any other model in the app (catalogue name, Hub id, folder under the models
directory) and resolved by the catalogue; fine-tuning then needs the files themselves, not the
inference-ready `LoadedModel` that `loading.load` caches, because training changes the weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, PretrainedConfig

from pipelines.models import catalog, loading
from pipelines.models.catalog import ModelSpec
from pipelines.runtime.errors import first_line

# catalog.resolve checks a model against a task; an encoder resolves for "qa", a classifier for
# "sentiment", and every kind of checkpoint resolves for one of the two.
_RESOLVE_AS = ("sentiment", "qa")


@dataclass(frozen=True)
class BaseModel:
    spec: ModelSpec
    source: str  # a local folder, or a Hub id when the Hub is reachable
    revision: str | None
    config: PretrainedConfig


def resolve_base(reference: str) -> BaseModel:
    """The base checkpoint behind a model reference, or a ValueError saying why it cannot be used."""
    errors = []
    for task in _RESOLVE_AS:
        try:
            spec = catalog.resolve(task, reference)
            break
        except ValueError as err:
            errors.append(str(err))
    else:
        raise ValueError(errors[0])
    source, revision = loading.weights_location(spec)
    try:
        config = AutoConfig.from_pretrained(source, revision=revision, trust_remote_code=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"Could not read the config of '{spec.name}': {first_line(err)}") from err
    return BaseModel(spec=spec, source=source, revision=revision, config=config)


def head_labels(config: PretrainedConfig, data_labels: list[str]) -> tuple[tuple[str, ...], bool]:
    """The label order of the classification head, and whether the base's own head is kept.

    A classifier that already predicts exactly the data's labels (ignoring case) keeps its trained head
    and its label order, so the base scores are its real zero-shot scores; any other base gets a new
    head over the labels in sorted order.
    """
    architectures = getattr(config, "architectures", None) or []
    id2label = {int(i): str(v) for i, v in (getattr(config, "id2label", None) or {}).items()}
    by_lower = {label.lower(): label for label in data_labels}
    if (any(a.endswith("ForSequenceClassification") for a in architectures)
            and len(id2label) == len(by_lower) and {v.lower() for v in id2label.values()} == set(by_lower)):
        return tuple(by_lower[id2label[i].lower()] for i in sorted(id2label)), True
    return tuple(sorted(data_labels)), False


def load_for_training(base: BaseModel, label_names: tuple[str, ...], keep_head: bool):
    """(model, tokenizer): the base with a sequence-classification head over `label_names`."""
    common = dict(revision=base.revision, trust_remote_code=False)
    try:
        tokenizer = AutoTokenizer.from_pretrained(base.source, **common)
        model = AutoModelForSequenceClassification.from_pretrained(
            base.source, num_labels=len(label_names), id2label=dict(enumerate(label_names)),
            label2id={name: i for i, name in enumerate(label_names)},
            ignore_mismatched_sizes=not keep_head, **common)
    except (OSError, ValueError) as err:
        raise ValueError(f"Could not load '{base.spec.name}' for classification: "
                         f"{first_line(err)}") from err
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token  # decoder-only LMs ship without one
    model.config.pad_token_id = tokenizer.pad_token_id  # decoder classifiers find the last token by it
    return model, tokenizer


def apply_transfer_mode(model: torch.nn.Module, mode: str, top_k_layers: int) -> None:
    """Freeze what this mode keeps fixed: nothing (full), the backbone (feature-extraction), or the
    backbone below its top `top_k_layers` layers (top-k). The head always trains."""
    if mode == "full":
        return
    backbone = getattr(model, model.base_model_prefix)
    backbone.requires_grad_(False)
    if mode == "top-k":
        for layer in layer_stack(backbone)[-top_k_layers:]:
            layer.requires_grad_(True)
        pooler = getattr(backbone, "pooler", None)  # BERT's pooler sits above the top layer
        if pooler is not None:
            pooler.requires_grad_(True)


def layer_stack(backbone: torch.nn.Module) -> torch.nn.ModuleList:
    """The backbone's transformer layers: its longest ModuleList (encoder.layer, layers, ...)."""
    stacks = [m for m in backbone.modules() if isinstance(m, torch.nn.ModuleList)]
    if not stacks:
        raise ValueError("The top-k mode needs a model built from a stack of layers; use full fine-tuning.")
    return max(stacks, key=len)


def parameter_counts(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameters."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())
