"""The fine-tuning tasks, one module each on the common base in base.py; `get(name)` gives one."""

from __future__ import annotations

from pipelines.finetune.tasks import classification, extractive_qa, masked_lm
from pipelines.finetune.tasks.base import FinetuneTask

TASKS: dict[str, FinetuneTask] = {task.name: task for task in (classification.TASK, extractive_qa.TASK, masked_lm.TASK)}


def get(name: str) -> FinetuneTask:
    if name not in TASKS:
        raise ValueError(f"Unknown task '{name}'; the tasks are: {', '.join(TASKS)}.")
    return TASKS[name]
