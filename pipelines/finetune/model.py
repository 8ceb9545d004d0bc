"""The base checkpoint a run starts from, loaded with the head its task needs, and what of it trains.

The base is named like any other model in the app (catalogue name, Hub id, folder under the models
directory) and resolved by the catalogue; fine-tuning then needs the files themselves, not the
inference-ready `LoadedModel` that `loading.load` caches, because training changes the weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import transformers
from transformers import AutoConfig, AutoTokenizer, PretrainedConfig

from pipelines.models import catalog, loading
from pipelines.models.catalog import ModelSpec
from pipelines.runtime.errors import first_line

@dataclass(frozen=True)
class BaseModel:
    spec: ModelSpec
    source: str  # a local folder, or a Hub id when the Hub is reachable
    revision: str | None
    config: PretrainedConfig
    scratch: bool = False  # the checkpoint's architecture and tokenizer, its weights randomly initialised


def resolve_base(reference: str, scratch: bool = False) -> BaseModel:
    """The base checkpoint behind a model reference, or a ValueError saying why it cannot be used."""
    spec = catalog.find(reference)
    source, revision = loading.weights_location(spec)
    try:
        config = AutoConfig.from_pretrained(source, revision=revision, trust_remote_code=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"Could not read the config of '{spec.name}': {first_line(err)}") from err
    return BaseModel(spec=spec, source=source, revision=revision, config=config, scratch=scratch)


def load_with_head(base: BaseModel, auto_class: str, what: str, **model_args):
    """(model, tokenizer): the base through `transformers.<auto_class>`, a new head where it has none; with
    random weights throughout for a `scratch` base."""
    common = dict(revision=base.revision, trust_remote_code=False)
    # float32 master weights, whatever dtype the checkpoint was saved in (transformers 5 would keep it):
    # a run's bf16 is autocast over these, the right tool for training
    dtype = torch.float32
    try:
        tokenizer = AutoTokenizer.from_pretrained(base.source, **common)
        auto = getattr(transformers, auto_class)
        if base.scratch:  # same architecture and vocabulary, nothing learned: the baseline transfer is measured against
            model_args.pop("ignore_mismatched_sizes", None)
            model = auto.from_config(AutoConfig.from_pretrained(base.source, **model_args, **common), dtype=dtype)
        else:
            model = auto.from_pretrained(base.source, dtype=dtype, **model_args, **common)
    except (OSError, ValueError) as err:
        raise ValueError(f"Could not load '{base.spec.name}' for {what}: {first_line(err)}") from err
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token  # decoder-only LMs ship without one
    model.config.pad_token_id = tokenizer.pad_token_id  # decoder classifiers find the last token by it
    return model, tokenizer


def apply_transfer_mode(model: torch.nn.Module, mode: str, top_k_layers: int) -> None:
    """Freeze what this mode keeps fixed: nothing (full), the backbone (feature-extraction), or the
    backbone below its top `top_k_layers` layers (top-k). The task's head always trains."""
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
