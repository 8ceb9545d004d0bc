"""Time to accuracy for the fine-tuning benchmark: when to score during training, and what the curves say.

Every variant scores the held-out rows `EVALS_PER_RUN` times a run (ours: the config's `eval_steps`;
the Trainer: its own `eval_strategy="steps"`), with its training clock stopped while it scores, so a
run leaves a curve of (training seconds, step, held-out accuracy) that ends with its final accuracy.
From it: the training time until the run first came within `WITHIN_FINAL` of its own final accuracy,
and until it reached the round's common target, the lowest final accuracy of the variants (each gets
there). Measured from the preset's size on, where accuracy is judged at all.
"""

from __future__ import annotations

import math

EVALS_PER_RUN = 6  # held-out scorings during training
WITHIN_FINAL = 0.005  # "reached its final accuracy": within half a point of it
# Accuracy is judged, and time to accuracy measured, from the size of the rotten-tomatoes preset on
# (4,000 rows, 2 epochs, about 0.8 accuracy): below it every variant stays near the majority class, so
# scoring every other step of the suite's 12-step runs would only add time for a flat curve.
PRESET_SAMPLES = 4000 * 2


def judged(rows: int, epochs: int) -> bool:
    return rows * epochs >= PRESET_SAMPLES


def eval_steps(config) -> int | None:
    """Score the held-out rows every this many optimizer steps, EVALS_PER_RUN times a run (None: only
    at the end, below the size where accuracy is judged)."""
    if not judged(config.max_train_rows, config.epochs):
        return None
    steps = math.ceil(config.max_train_rows / config.batch_size) * config.epochs
    return max(1, steps // EVALS_PER_RUN)


def time_to(curve: list, accuracy: float) -> float:
    """Training seconds at the first scoring that reached `accuracy` (the curve ends at the final one)."""
    for seconds, _, found in sorted(curve):
        if found >= accuracy - 1e-12:
            return seconds
    raise ValueError(f"the curve never reached {accuracy:.3f}: it must end with the run's final accuracy")


def add_time_to_accuracy(results: dict[str, list[dict]]) -> None:
    """Per run: seconds to within WITHIN_FINAL of its own final accuracy, and to the round's common
    target, the lowest final accuracy of the variants in that round."""
    for round_runs in zip(*results.values()):
        target = min(r["accuracy"] for r in round_runs)
        for r in round_runs:
            r.update(to_final_s=time_to(r["curve"], r["accuracy"] - WITHIN_FINAL),
                     to_common_s=time_to(r["curve"], target), common_target=target)
