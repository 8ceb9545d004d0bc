"""The fine-tuning tasks, one module each on the common base in base.py.

`get(name)` gives a task with its default purpose (what the Fine-tune tab lists); `for_config(config)`
the task a run trains, bound to the config's purpose (seq2seq and causal-lm: summarization,
translation or generation, which decide the metric, the prompt and the tab).
"""

from __future__ import annotations

from pipelines.finetune.config import FinetuneConfig
from pipelines.finetune.tasks import causal_lm, classification, extractive_qa, masked_lm, seq2seq
from pipelines.finetune.tasks.base import FinetuneTask
from pipelines.finetune.tasks.generative import GenerativeTask

TASKS: dict[str, FinetuneTask] = {task.name: task for task in (
    classification.TASK, extractive_qa.TASK, masked_lm.TASK, seq2seq.Seq2Seq(), causal_lm.CausalLM())}


def get(name: str) -> FinetuneTask:
    if name not in TASKS:
        raise ValueError(f"Unknown task '{name}'; the tasks are: {', '.join(TASKS)}.")
    return TASKS[name]


def for_config(config: FinetuneConfig) -> FinetuneTask:
    task = get(config.task)
    if isinstance(task, GenerativeTask):
        bound = task.for_purpose(config.purpose)
        bound.check_languages(config)
        return bound
    if config.purpose is not None:
        raise ValueError(f"A purpose (summarization, translation, generation) is for seq2seq and causal-lm runs; "
                         f"a {task.title.lower()} run has none.")
    if config.lora:
        raise ValueError("LoRA is offered for seq2seq and causal-lm runs; use full fine-tuning or a transfer mode.")
    return task
