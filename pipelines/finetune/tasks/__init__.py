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
from pipelines.models import kinds

TASKS: dict[str, FinetuneTask] = {task.name: task for task in (
    classification.TASK, extractive_qa.TASK, masked_lm.TASK, seq2seq.Seq2Seq(), causal_lm.CausalLM())}
GENERATIVE_BY_KIND = {kinds.SEQ2SEQ: "seq2seq", kinds.CAUSAL_LM: "causal-lm"}


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


def for_model(task: FinetuneTask, kind: str | None) -> FinetuneTask:
    """The task that scores a model of `kind` in an evaluation of `task`: `task` itself, or, for
    summarization and translation, the other generative task bound to the same purpose. A BART
    summarizer and an instruct LM are then scored on the same rows by the same metric, each asked its
    own way (a prefix, or the purpose tab's prompt in the chat template), as a run of its kind asks."""
    if isinstance(task, GenerativeTask) and task.purpose != "generation" and kind in GENERATIVE_BY_KIND \
            and kind not in task.base_kinds:
        return get(GENERATIVE_BY_KIND[kind]).for_purpose(task.purpose)
    return task
