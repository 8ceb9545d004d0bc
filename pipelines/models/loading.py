"""Load a model once and keep it: the only state shared by every user of the app, and it is bounded.

`load(spec)` returns a `LoadedModel` (model, tokenizer, kind). The first call for a model reads it
from disk or the Hub; later calls, from any user, get the same object until it is evicted by newer
ones (least recently used first, at most ``STUDIO_MAX_MODELS``, default 4). Two users asking for the
same model at once wait on one load instead of loading it twice.

`trust_remote_code` is never switched on: a checkpoint from the Hub or an upload cannot run code here.

Precision: "auto" (the default) loads a model's weights as bf16, converted once at load, where the
hardware multiplies bf16 natively (a CUDA GPU with bf16, a CPU with AVX-512 BF16 or AMX), and as
float32 elsewhere: a CPU without those emulates bf16, and on an AVX2-only EPYC a bf16 forward pass ran
at a quarter of the float32 speed or less. Converted weights rather than autocast over float32 ones:
autocast casts every weight again at every forward call, which a one-token decoding step cannot
amortise (SmolLM2 generated slower under autocast than in plain float32). "float32" gives exact float32
results everywhere, the same as transformers 4.57's pipelines. Set it per process with
``STUDIO_PRECISION`` (auto, float32 or bf16), or per call with ``load(spec, precision=...)``; every
result says which precision answered. BENCHMARKS.md has the speed of each and their agreement.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.models import catalog, kinds
from pipelines.models.catalog import ModelSpec
from pipelines.runtime import hardware, settings
from pipelines.runtime.errors import first_line

if TYPE_CHECKING:  # torch is imported on first use: the app serves its UI before paying for it
    import torch

_AUTO_CLASS = {
    kinds.EXTRACTIVE_QA: "AutoModelForQuestionAnswering",
    kinds.CLASSIFIER: "AutoModelForSequenceClassification",
    kinds.SEQ2SEQ: "AutoModelForSeq2SeqLM",
    kinds.CAUSAL_LM: "AutoModelForCausalLM",
    kinds.SENTENCE_ENCODER: "AutoModel",
}


PRECISIONS = ("auto", "float32", "bf16")


@dataclass
class LoadedModel:
    spec: ModelSpec
    kind: str
    model: Any  # a transformers PreTrainedModel in eval mode
    tokenizer: Any  # a fast tokenizer where the checkpoint has one
    precision: str = "float32"  # "bf16": a bf16 copy of the weights, converted once at load

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def is_instruct(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))


class ModelCache:
    """A small LRU of loaded models, safe to use from Gradio's worker threads."""

    def __init__(self, max_models: int):
        self.max_models = max_models
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def get(self, key: str) -> LoadedModel | None:
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            return None

    def get_or_load(self, key: str, loader) -> LoadedModel:
        found = self.get(key)
        if found is not None:
            return found
        with self._lock:
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:  # one load per key; other callers wait here and then find it cached
            found = self.get(key)
            if found is not None:
                return found
            loaded = loader()
            with self._lock:
                self._models[key] = loaded
                while len(self._models) > self.max_models:
                    self._models.popitem(last=False)
                self._loading.pop(key, None)
            return loaded

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._models)

    def clear(self) -> None:
        with self._lock:
            self._models.clear()


CACHE = ModelCache(max_models=int(os.environ.get("STUDIO_MAX_MODELS", "4")))


def is_loaded(spec: ModelSpec, precision: str | None = None) -> bool:
    return CACHE.get(_cache_key(spec, inference_precision(precision))) is not None


def load(spec: ModelSpec, precision: str | None = None) -> LoadedModel:
    """The model behind a resolved spec, loaded at most once while it stays in the cache.

    `precision` (auto, float32, bf16) overrides STUDIO_PRECISION for this call.
    """
    resolved = inference_precision(precision)
    return CACHE.get_or_load(_cache_key(spec, resolved), lambda: _load_uncached(spec, precision=resolved))


def _cache_key(spec: ModelSpec, precision: str) -> str:
    # float32 keeps the plain key: a bf16 copy of the same weights is a different entry
    return spec.key if precision == "float32" else f"{spec.key}|{precision}"


def inference_precision(choice: str | None = None) -> str:
    """"bf16" or "float32": `choice`, else STUDIO_PRECISION, else "auto", resolved for this machine."""
    choice = (choice or os.environ.get("STUDIO_PRECISION") or "auto").strip().lower()
    if choice not in PRECISIONS:
        raise ValueError(f"Precision must be one of {', '.join(PRECISIONS)}; got '{choice}' "
                         "(check STUDIO_PRECISION).")
    if choice == "auto":
        return "bf16" if hardware.fast_bf16(hardware.device()) else "float32"
    return choice


def torch_dtype(precision: str) -> torch.dtype:
    import torch

    return torch.bfloat16 if precision == "bf16" else torch.float32


def _load_uncached(spec: ModelSpec, precision: str = "float32") -> LoadedModel:
    import torch
    import transformers

    source, revision = weights_location(spec)
    kind = spec.kind or _kind_from_hub(spec)
    if kind is None:
        raise ValueError(f"'{spec.name}' has an architecture Transfer Studio cannot run "
                         "(it needs a QA, classification, seq2seq, causal-LM or encoder model).")
    common = dict(revision=revision, trust_remote_code=False)
    try:
        auto_class = getattr(transformers, _AUTO_CLASS[kind])
        # The weights in the precision asked for, converted once here. Named even for float32: left to
        # itself, transformers 5 loads a checkpoint in the dtype it was saved in (often bf16 on the Hub).
        model = auto_class.from_pretrained(source, dtype=torch_dtype(precision), **common)
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, **common)
    except OSError as err:  # missing files, offline without a cached copy, a private repo
        raise ValueError(f"Could not load '{spec.name}': {first_line(err)}") from err
    model.eval()
    if torch.cuda.is_available():
        model.to("cuda")
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token  # decoder-only LMs often ship without one
    return LoadedModel(spec=spec, kind=kind, model=model, tokenizer=tokenizer, precision=precision)


def weights_location(spec: ModelSpec) -> tuple[str, str | None]:
    """(folder or Hub id, revision) to pass to from_pretrained; a packaged GGUF file is converted first."""
    if spec.gguf_file:
        return str(converted_gguf_folder(spec)), None
    if spec.path is not None:
        return str(spec.path), None
    snapshot = None if settings.hub_reachable() else catalog.hub_snapshot(spec.hub_id, spec.revision)
    if snapshot is not None:
        return str(snapshot), None
    return spec.hub_id, spec.revision


def _kind_from_hub(spec: ModelSpec) -> str | None:
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(spec.hub_id, revision=spec.revision, trust_remote_code=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"Could not read the config of '{spec.hub_id}': {first_line(err)}") from err
    return kinds.kind_from_config(config.to_dict())


_convert_lock = threading.Lock()


def converted_gguf_folder(spec: ModelSpec) -> Path:
    """A packaged GGUF model, dequantised once to a safetensors folder under $STUDIO_HOME/cache.

    transformers reads GGUF (about 14 s for SmolLM2) but refuses to `save_pretrained` a model that
    still carries its gguf quantization_config, so we rebuild the model from a clean config and load
    the dequantised weights into it. Later loads read the folder in well under a second.
    """
    target = settings.cache_dir() / "packaged" / Path(spec.gguf_file).stem
    with _convert_lock:
        if (target / "config.json").is_file():
            return target
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        tmp = target.with_name(target.name + ".partial")
        quantised = AutoModelForCausalLM.from_pretrained(spec.path, gguf_file=spec.gguf_file)
        config = quantised.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        clean = AutoModelForCausalLM.from_config(AutoConfig.for_model(**config.to_dict()))
        clean.load_state_dict(quantised.state_dict())
        clean.save_pretrained(tmp)
        AutoTokenizer.from_pretrained(spec.path, gguf_file=spec.gguf_file).save_pretrained(tmp)
        (tmp / "studio.json").write_text(json.dumps({"note": spec.note, "converted_from": spec.gguf_file}))
        tmp.rename(target)  # a crash mid-conversion leaves only the .partial folder behind
        return target
