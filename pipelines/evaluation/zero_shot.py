"""A causal LM in a classification evaluation, scored zero-shot beside the classifiers.

Stakeholders ask "why not just ask an LLM?". Here the LM gets no head and no training: it is asked
which of the rows' labels fits each text, and each label's probability is read from its next-token
distribution, calibrated on content-free texts (pipelines.tasks.sentiment.lm_label_probabilities, the
Sentiment tab's method). The result goes through the classification task's own scoring, so the LM gets
the same metrics, confusion matrix and paired comparison as a fine-tuned classifier on the same rows.
"""

from __future__ import annotations

from collections.abc import Callable

from pipelines.models import kinds


def scores(task_name: str, kind: str | None) -> bool:
    """Whether a model of this kind is scored zero-shot in an evaluation of this task."""
    return task_name == "classification" and kind == kinds.CAUSAL_LM


def label_warning(labels: list[str]) -> str | None:
    """A zero-shot LM reads the label names: numbers or codes tell it nothing."""
    if all(label.strip().lstrip("-").isdigit() for label in labels):
        return (f"Zero-shot: the labels are numbers ({', '.join(labels)}), so a language model can only guess what they mean; "
                "its accuracy says little. Name the classes in the file (positive, negative...) to ask it fairly.")
    return None


def evaluate(rows, spec, batch_size: int, precision: str, on_rows: Callable[[int], None] | None = None):
    """The classification Evaluation of a causal LM on the rows (columns text and label), its weights in
    `precision` (float32 or bf16, as the evaluation's other models compute)."""
    from pipelines.finetune.tasks.classification import score
    from pipelines.models import loading
    from pipelines.tasks import sentiment

    label_names = tuple(sorted(set(rows["label"])))
    loaded = loading.load(spec, precision=precision)
    if loaded.kind != kinds.CAUSAL_LM:
        raise ValueError(f"'{spec.name}' is a {loaded.kind} model, not a language model to ask zero-shot.")
    texts = list(rows["text"])
    progress = (lambda done, total: on_rows(done)) if on_rows is not None else None
    probabilities = sentiment.lm_label_probabilities(loaded, texts, label_names, batch_size, progress)
    predicted = [max(range(len(row)), key=row.__getitem__) for row in probabilities]
    references = [label_names.index(label) for label in rows["label"]]
    return score(predicted, references, [row[p] for row, p in zip(probabilities, predicted)],
                 [row[r] for row, r in zip(probabilities, references)], texts, label_names)
