"""What one fine-tuning run does, as a frozen typed config that round-trips through JSON.

The UI writes this config into a run folder and the trainer reads it back, so a run can be repeated or
resumed from its folder alone: `python -m pipelines.finetune RUN/config.json`.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

# What a run teaches the model: one module each under finetune/tasks/.
TASKS = ("classification", "extractive-qa", "masked-lm", "seq2seq", "causal-lm")
# What a generative model (seq2seq, causal-lm) is trained for: its metric, its prompt, its tab.
PURPOSES = ("summarization", "translation", "generation")
# LoRA's default targets: every linear layer of the blocks (q, k, v, o and the MLP), as QLoRA found best.
LORA_ALL_LINEAR = "all-linear"
# How much of the pretrained model trains: everything, only the new head, or the head plus the top
# `top_k_layers` layers (cheaper than full, often nearly as good on small data).
MODES = ("full", "feature-extraction", "top-k")
INITS = ("pretrained", "scratch")  # a model's starting weights: the checkpoint's, or random (same architecture)
MIXED_PRECISION = ("auto", "no", "bf16", "fp16")

# With the backbone frozen only a freshly initialised head learns, and it needs a far larger step than
# pretrained weights can take without forgetting; the top-k mode sits between the two.
DEFAULT_LEARNING_RATES = {"full": 5e-5, "top-k": 1e-4, "feature-extraction": 1e-3}

DEFAULT_BASE_MODEL = "all-MiniLM-L6-v2 (packaged)"  # the real encoder that works offline
_FOLDER_NAME = re.compile(r"^[A-Za-z0-9][\w.-]{0,120}$")  # the registered model's folder under models/


@dataclass(frozen=True)
class FinetuneConfig:
    data_file: str  # CSV, TSV, JSON, JSONL or Parquet; a run keeps its own copy under data/
    task: str = "classification"
    # The file's column for each of the task's roles ({"text": "review", "label": "stars"}); a role
    # left out is guessed from the file (see the task's `roles`).
    columns: dict[str, str] = field(default_factory=dict)
    base_model: str = DEFAULT_BASE_MODEL  # anything catalog.resolve accepts
    # Start from the model another run registers once it finishes (a domain-adapted encoder, say);
    # the run waits for it in the queue and fails if it does not finish. base_model is then ignored.
    base_from_run: str | None = None
    mode: str = "full"
    top_k_layers: int = 2  # used by mode "top-k" only
    learning_rate: float | None = None  # None: DEFAULT_LEARNING_RATES[mode]
    epochs: int = 3
    batch_size: int = 32
    max_length: int | None = None  # tokens per row (QA: per window); None: the task's default
    doc_stride: int = 128  # extractive QA: tokens two windows of a long context share
    mlm_probability: float = 0.15  # masked LM: the share of tokens to predict, as BERT was trained
    # seq2seq and causal-lm: what the model is for (None: summarization for seq2seq; for causal-lm,
    # generation from plain text, or translation-free prompt/response pairs: see the task modules)
    purpose: str | None = None
    source_lang: str = "en"  # translation: the languages, for the prompt or prefix and the model card
    target_lang: str = "fr"
    # causal-lm: the user message, with {source} where a row's source goes; None: the purpose's tab
    # prompt (so the tuned model is asked in its tab exactly as it was trained), or the source itself
    prompt: str | None = None
    source_prefix: str | None = None  # seq2seq: text before each source (T5's "summarize: "); None: the model's
    max_target_length: int = 128  # tokens of a target kept for training; longer ones are cut (and counted)
    max_new_tokens: int = 64  # evaluation: tokens generated per held-out example (greedy)
    # LoRA (peft): small trained matrices beside frozen weights, merged into them when the run saves
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32  # the update is scaled by alpha / r
    lora_dropout: float = 0.05
    lora_target_modules: str = LORA_ALL_LINEAR  # or comma-separated module names: "q_proj,v_proj"
    gradient_accumulation_steps: int = 1
    warmup_ratio: float = 0.1  # a new random head sends large gradients into the backbone at first
    weight_decay: float = 0.01
    mixed_precision: str = "auto"  # auto: bf16 where the CPU or GPU computes it natively, else no
    seed: int = 42
    eval_fraction: float = 0.2  # held out when the data has no validation split
    max_eval_rows: int = 1000  # +-1.5 points of accuracy is enough to compare base and fine-tuned
    max_train_rows: int | None = None  # None: every row not held out
    logging_steps: int = 10  # reading the loss forces a host sync, so only every N steps
    # also score the held-out split every N optimizer steps (None: after each epoch only), for a finer
    # curve; the training clock stops while it scores
    eval_steps: int | None = None
    name: str | None = None  # registered model folder; None: "<base>-<dataset>-<run id>"
    dataset_name: str | None = None  # for the model card and the default name; None: file stem
    # runs started together (domain adaptation: adapt, then fine-tune both bases) share a chain id,
    # and each says which part of it it is
    chain: str | None = None
    chain_role: str | None = None
    # An Accelerate config file (multi-GPU, FSDP, several CPU processes) for `accelerate launch`;
    # None: STUDIO_ACCELERATE_CONFIG if set, else one process on this machine.
    accelerate_config: str | None = None
    # Evaluation jobs and learning curves (pipelines/evaluation): every row held out (nothing trains), the
    # held-out split's own seed (None: seed; a learning curve keeps one held-out set across its seeds),
    # the starting weights ("scratch": the base's architecture, randomly initialised), and a learning-curve
    # point's lean run (scores_only: no base score, no checkpoints, no saved model; scored after the last epoch).
    held_out_only: bool = False
    split_seed: int | None = None
    init: str = "pretrained"
    scores_only: bool = False

    def __post_init__(self) -> None:
        _one_of(self.task, TASKS, "task")
        if self.purpose is not None:
            _one_of(self.purpose, PURPOSES, "purpose")
        for name in ("lora_r", "lora_alpha", "max_target_length", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1; got {getattr(self, name)}.")
        if not 0 <= self.lora_dropout < 1:
            raise ValueError(f"lora_dropout must be in [0, 1); got {self.lora_dropout}.")
        if self.prompt is not None and "{source}" not in self.prompt:
            raise ValueError("prompt must say where the source text goes: put {source} in it.")
        _one_of(self.mode, MODES, "mode")
        _one_of(self.init, INITS, "init")
        _one_of(self.mixed_precision, MIXED_PRECISION, "mixed_precision")
        for name in ("epochs", "batch_size", "gradient_accumulation_steps", "logging_steps",
                     "top_k_layers", "max_eval_rows"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1; got {getattr(self, name)}.")
        if self.max_length is not None and not 8 <= self.max_length <= 8192:
            raise ValueError(f"max_length must be between 8 and 8192 tokens; got {self.max_length}.")
        if not 0 <= self.doc_stride <= 1024:
            raise ValueError(f"doc_stride must be between 0 and 1024 tokens; got {self.doc_stride}.")
        if not 0 < self.mlm_probability < 1:
            raise ValueError(f"mlm_probability must be between 0 and 1; got {self.mlm_probability}.")
        if self.learning_rate is not None and not 0 < self.learning_rate < 1:
            raise ValueError(f"learning_rate must be between 0 and 1; got {self.learning_rate}.")
        if not 0 < self.eval_fraction <= 0.5:
            raise ValueError(f"eval_fraction must be above 0 and at most 0.5; got {self.eval_fraction}.")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1); got {self.warmup_ratio}.")
        if self.name is not None and not _FOLDER_NAME.match(self.name):
            raise ValueError(f"name '{self.name}' must be a folder name: letters, digits, '.', '_', '-'.")
        for name in ("max_train_rows", "eval_steps"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1; got {getattr(self, name)}.")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.columns.items()):
            raise ValueError("columns must map each role to a column name, e.g. {\"text\": \"review\"}.")

    @property
    def effective_learning_rate(self) -> float:
        return self.learning_rate if self.learning_rate is not None else DEFAULT_LEARNING_RATES[self.mode]

    @property
    def effective_split_seed(self) -> int:
        return self.seed if self.split_seed is None else self.split_seed

    @property
    def effective_dataset_name(self) -> str:
        return self.dataset_name or Path(self.data_file).name.split(".")[0]

    def with_changes(self, **changes) -> FinetuneConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls, values: dict) -> FinetuneConfig:
        values = _upgraded(values)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown setting(s) in the config: {', '.join(unknown)}. "
                             f"Known settings: {', '.join(sorted(known))}.")
        if "data_file" not in values:
            raise ValueError("The config has no data_file: name the CSV, TSV, JSON(L) or Parquet file.")
        for f in fields(cls):
            if f.name in values and not _has_type(values[f.name], f.type):
                raise ValueError(f"Setting '{f.name}' must be {f.type}; got {values[f.name]!r}.")
        return cls(**values)

    @classmethod
    def from_json(cls, path: Path) -> FinetuneConfig:
        try:
            values = json.loads(Path(path).read_text())
        except OSError as err:
            raise ValueError(f"Cannot read the config file '{path}': {err.strerror}.") from err
        except json.JSONDecodeError as err:
            raise ValueError(f"The config file '{path}' is not valid JSON (line {err.lineno}: "
                             f"{err.msg}).") from err
        if not isinstance(values, dict):
            raise ValueError(f"The config file '{path}' must hold one JSON object of settings.")
        return cls.from_dict(values)


def _upgraded(values: dict) -> dict:
    """Configs written before runs had a task named their two classification columns directly."""
    values = dict(values)
    columns = dict(values.get("columns") or {})
    for old, role in (("text_column", "text"), ("label_column", "label")):
        if old in values:
            column = values.pop(old)
            if column is not None:
                columns.setdefault(role, column)
    if columns or "columns" in values:
        values["columns"] = columns
    return values


def _has_type(value, annotation: str) -> bool:
    """Whether a JSON value fits a field annotation such as "int", "float | None" or "dict[str, str]"."""
    allowed = {"int": (int,), "float": (int, float), "str": (str,), "None": (type(None),), "bool": (bool,),
               "dict[str, str]": (dict,)}
    kinds = tuple(t for part in annotation.split("|") for t in allowed[part.strip()])
    return isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool))


def _one_of(value: str, choices: tuple[str, ...], name: str) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got '{value}'.")
