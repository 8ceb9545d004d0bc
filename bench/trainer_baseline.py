"""The fine-tuning baseline: the transformers `Trainer` on the same data, model and settings.

"Trainer defaults": float32, random batches padded to the longest; "Trainer tuned" adds its length
grouping, and bf16 where the hardware has fast bf16.
"""

from __future__ import annotations

import math
import tempfile
import time

from bench import common


def prepare(config):
    """Rows, tokens and model with its new head, by the task's own `prepare`, as our loop builds them."""
    from pipelines.finetune import tasks
    from pipelines.finetune.data import load_rows
    from pipelines.finetune.model import resolve_base

    task = tasks.for_config(config)
    rows, _ = load_rows(config.data_file, task, config.columns)
    return task.prepare(rows, resolve_base(config.base_model), config)


def train(config, tuned: bool) -> dict:
    from transformers import Trainer
    from transformers.trainer_utils import set_seed

    set_seed(config.seed)  # as ours: before the new head is built
    prepared = prepare(config)
    # our loop's warm-up, int(ratio x steps): the Trainer would round a ratio up, not down
    warmup = int(config.warmup_ratio * math.ceil(len(prepared.train) / config.batch_size) * config.epochs)
    with tempfile.TemporaryDirectory() as out:
        args = training_arguments(config, tuned, out, warmup)
        model = prepared.model
        if config.lora:  # Trainer + peft with the same adapters, as a peft user writes it
            from pipelines.finetune import lora, tasks

            model = lora.wrap(model, config, tasks.for_config(config).peft_task_type)
        # the task's own collator, as ours: it pads labels with -100, which the default one cannot
        trainer = Trainer(model, args, train_dataset=prepared.train, data_collator=prepared.collate)
        started = time.perf_counter()
        metrics = trainer.train().metrics
        score = held_out_score(config, prepared, trainer.model)
        wall = time.perf_counter() - started
    return {"samples_per_s": metrics["train_samples_per_second"], "train_s": metrics["train_runtime"],
            "wall_s": wall, "score": score, "precision": "bf16" if args.bf16 else "no"}


def training_arguments(config, tuned: bool, out: str, warmup: int, flags: frozenset[str] | None = None):
    """The Trainer's settings for a side: bf16 for "tuned" where the hardware has fast bf16 (`flags`
    stands in for this CPU's), and `use_cpu` without a GPU: on a CPU the Trainer refuses bf16 unless
    told it runs there ("Your setup doesn't support bf16/gpu")."""
    import torch
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=out, per_device_train_batch_size=config.batch_size, num_train_epochs=config.epochs,
        learning_rate=config.effective_learning_rate, warmup_steps=warmup, weight_decay=config.weight_decay,
        seed=config.seed, report_to="none", save_strategy="no", logging_steps=config.logging_steps,
        disable_tqdm=True, per_device_eval_batch_size=64,
        bf16=tuned and common.fast_bf16(flags)[0] and config.mixed_precision != "no",
        use_cpu=not torch.cuda.is_available(),
        **({"train_sampling_strategy": "group_by_length"} if tuned else {}))


def held_out_score(config, prepared, model) -> float:
    """The held-out metric by the task's own evaluation, as ours: the sides differ in training only."""
    import torch
    from accelerate import Accelerator

    from pipelines.finetune import tasks
    from pipelines.finetune.batching import make_loaders

    task = tasks.for_config(config)
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    # prepared, so gather_for_metrics trims by this loader's last batch, not by the Trainer's
    loader = accelerator.prepare(make_loaders(prepared, config.batch_size, config.seed)[1])
    model.eval()
    with torch.inference_mode():
        return task.evaluate(model, loader, accelerator, prepared).metrics[task.metric]
