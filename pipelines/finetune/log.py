"""The entries of a run's log.jsonl: one typed schema for the trainer that writes them and the views
that read them back.

One JSON object per line, each with a "type". A reader gets dataclasses, never dicts read by string
keys; an entry it does not know (written by a newer version) is skipped, not a crash.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields


@dataclass(frozen=True)
class StartEntry:
    """Training (re)started: what it trains, on how much data, with which precision."""

    task: str
    metric: str  # the headline metric
    higher_is_better: bool
    resumed_at_step: int
    total_steps: int
    epochs: int
    train_rows: int
    held_out_rows: int
    mixed_precision: str
    trainable_parameters: int
    total_parameters: int
    processes: int  # Accelerate's processes: 1 unless an Accelerate config asks for more
    time: float
    facts: dict = field(default_factory=dict)  # the task's own: labels, windows per example, ...
    warnings: list[str] = field(default_factory=list)  # small-data guardrails (finetune/guardrails.py)
    type: str = "start"


@dataclass(frozen=True)
class StepEntry:
    """The mean training loss since the last step entry, every `logging_steps` optimizer steps."""

    step: int
    total_steps: int
    epoch: float
    loss: float
    lr: float
    elapsed_s: float  # training time since the run began, evaluations and checkpoints excluded
    samples_per_s: float
    type: str = "step"


@dataclass(frozen=True)
class EvalEntry:
    """Held-out scores: of the base before the first step, then of the model being fine-tuned."""

    model: str  # "base" | "fine_tuned"
    epoch: float  # fractional between epochs (eval_steps)
    step: int
    train_time_s: float
    metrics: dict[str, float]
    type: str = "eval"


@dataclass(frozen=True)
class StatusEntry:
    state: str
    message: str
    time: float
    type: str = "status"


Entry = StartEntry | StepEntry | EvalEntry | StatusEntry
_TYPES = {cls.__dataclass_fields__["type"].default: cls for cls in (StartEntry, StepEntry, EvalEntry, StatusEntry)}


def to_line(entry: Entry) -> str:
    return json.dumps(asdict(entry)) + "\n"


def from_line(line: str) -> Entry | None:
    """The entry a log line holds; None for a type (or a shape) this version does not know."""
    values = json.loads(line)
    cls = _TYPES.get(values.get("type"))
    if cls is None:
        return None
    names = {f.name for f in fields(cls)}
    try:
        return cls(**{k: v for k, v in values.items() if k in names})
    except TypeError:  # a field this version needs is missing: an older run's line
        return None


def last_start(entries: list[Entry]) -> StartEntry | None:
    """The entry of the latest (re)start; None before training began."""
    return next((e for e in reversed(entries) if isinstance(e, StartEntry)), None)
