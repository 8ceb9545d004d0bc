"""Base vs fine-tuned on the same held-out examples: the side-by-side rows a run's result shows.

Each task scores a model into an `Evaluation` (finetune/tasks/base.py): metrics and one output per
held-out example, in the same order for every model. Pairing the base's outputs with the fine-tuned
model's shows what training changed, the examples it still gets worst first.
"""

from __future__ import annotations

from pipelines.finetune.tasks.base import Evaluation

MAX_EXAMPLES = 200  # enough to see a pattern, small enough for a table and result.json


def paired_examples(base: Evaluation, tuned: Evaluation, limit: int = MAX_EXAMPLES) -> list[dict]:
    """One row per held-out example (input, reference, each model's output and score), the
    fine-tuned model's worst first; among equals, those the base did better on first."""
    if len(base.outputs) != len(tuned.outputs):
        raise ValueError(f"The base was scored on {len(base.outputs)} examples and the fine-tuned model on "
                         f"{len(tuned.outputs)}; they must be the same rows.")
    rows = [{"input": b.input, "reference": b.reference, "base": b.prediction, "fine_tuned": t.prediction,
             "base_score": round(b.score, 4), "fine_tuned_score": round(t.score, 4)}
            for b, t in zip(base.outputs, tuned.outputs)]
    rows.sort(key=lambda row: (row["fine_tuned_score"], -row["base_score"]))
    return rows[:limit]
