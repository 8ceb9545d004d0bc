"""The fine-tuning benchmark's baseline: the transformers `Trainer` on the same data, model and settings.

"Trainer defaults" is `Trainer` with its default settings (float32, random batches padded to the
longest by its default collator); "Trainer tuned" adds its own length grouping, and bf16 where the
hardware has fast bf16. Both score the held-out rows during training as often as our loop does, for
the time-to-accuracy curve, and take that scoring off their training clock as ours does.
"""

from __future__ import annotations

import math
import tempfile
import time

from bench import common


def warmup_steps(config, rows: int) -> int:
    """Our loop's warm-up (int(ratio x steps)); the Trainer would round a ratio up, not down."""
    return int(config.warmup_ratio * math.ceil(rows / config.batch_size) * config.epochs)


def train(config, tuned: bool, data, base, label_names, keep_head) -> dict:
    """Train and score one Trainer variant on `data` (the split our loop makes of the same rows)."""
    import numpy as np
    from transformers import Trainer, TrainingArguments
    from transformers.trainer_utils import set_seed

    from pipelines.finetune.model import load_for_training

    set_seed(config.seed)  # as ours: before the new head is built
    model, tokenizer = load_for_training(base, label_names, keep_head)

    def encode(batch):
        return tokenizer(batch["text"], truncation=True, max_length=config.max_length)

    train_set = data.train.map(encode, batched=True, remove_columns=["text"])
    held_out = data.held_out.map(encode, batched=True, remove_columns=["text"])
    has_bf16, _ = common.fast_bf16()
    clock = training_clock()

    def accuracy_of(predicted) -> dict:  # length grouping reorders predictions too: use the label_ids given
        return {"accuracy": float((np.argmax(predicted.predictions, axis=-1) == predicted.label_ids).mean())}

    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=config.batch_size, num_train_epochs=config.epochs,
            learning_rate=config.effective_learning_rate, warmup_steps=warmup_steps(config, len(train_set)),
            weight_decay=config.weight_decay, seed=config.seed, report_to="none", save_strategy="no",
            logging_steps=config.logging_steps, disable_tqdm=True,
            # the time-to-accuracy curve: scored as often as ours, in batches of 64 (scoring is off the clock)
            eval_strategy="steps" if config.eval_steps else "no", eval_steps=config.eval_steps,
            per_device_eval_batch_size=64,
            bf16=tuned and has_bf16, **({"train_sampling_strategy": "group_by_length"} if tuned else {}))
        trainer = Trainer(model=model, args=args, train_dataset=train_set, eval_dataset=held_out,
                          processing_class=tokenizer, compute_metrics=accuracy_of, callbacks=[clock])
        started = time.perf_counter()
        metrics = trainer.train().metrics
        accuracy = accuracy_of(trainer.predict(held_out))["accuracy"]
        wall = time.perf_counter() - started
    # train_runtime includes the scorings during training; the training clock does not (as ours)
    samples = metrics["train_samples_per_second"] * metrics["train_runtime"]
    train_s = metrics["train_runtime"] - clock.scoring_s
    curve = clock.curve  # ends with the final model's score where the Trainer scored at the last step itself
    if not curve or curve[-1][1] != trainer.state.global_step:
        curve.append((train_s, trainer.state.global_step, accuracy))
    return {"samples_per_s": samples / train_s, "train_s": train_s, "wall_s": wall, "accuracy": accuracy,
            "precision": "bf16" if args.bf16 else "no", "curve": curve}


def training_clock():
    """A Trainer callback that records the held-out accuracy at each of its scorings against training
    seconds: wall time since training began, less the time spent scoring (each scoring's `eval_runtime`)."""
    from transformers import TrainerCallback

    class TrainingClock(TrainerCallback):
        def __init__(self):
            self.curve: list[tuple[float, int, float]] = []
            self.scoring_s = 0.0
            self.started = 0.0

        def on_train_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            self.scoring_s += metrics["eval_runtime"]
            self.curve.append((time.perf_counter() - self.started - self.scoring_s, state.global_step,
                               metrics["eval_accuracy"]))

    return TrainingClock()
