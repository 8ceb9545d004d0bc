"""Language models asked zero-shot in an evaluation, beside the models trained for its task.

Stakeholders ask "why not just ask an LLM?". Here the language model gets no head and no training; it
is asked the way its tab asks it, and its answers go through the task's own scoring, so it gets the
same metrics and the same paired comparison as a fine-tuned model on the same rows.

- Classification (a causal LM): asked which of the rows' labels fits each text; each label's
  probability is read from its next-token distribution, calibrated on content-free texts
  (pipelines.tasks.sentiment.lm_label_probabilities, the Sentiment tab's method).
- Extractive QA (a causal LM or an encoder-decoder): it answers each question in its own words from
  the context, as the Question answering tab asks it (pipelines.tasks.qa.generate_answer), and the
  answer is scored by SQuAD's exact match and F1 against the reference span.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pipelines.models import kinds

ASKED = {"classification": (kinds.CAUSAL_LM,), "extractive-qa": (kinds.CAUSAL_LM, kinds.SEQ2SEQ)}


def scores(task_name: str, kind: str | None) -> bool:
    """Whether a model of this kind is asked zero-shot in an evaluation of this task."""
    return kind in ASKED.get(task_name, ())


def notes(task_name: str, name: str, evaluation) -> list[str]:
    """What the evaluation's page says about a model asked zero-shot."""
    if task_name == "extractive-qa":
        return [f"{name} is a language model: it answered each question in its own words, with no training, as the "
                "Question answering tab asks it (greedy, the first line of its reply); SQuAD's exact match and F1 "
                "compare that answer with the reference span, so a right answer worded differently scores lower."]
    said = [f"{name} is a language model: it was asked zero-shot, with no training, which label fits each text (a "
            "prompt listing the labels; each label's next-token probability, calibrated on content-free texts, as "
            "the Sentiment tab does)."]
    labels = evaluation.details["labels"]
    if all(label.strip().lstrip("-").isdigit() for label in labels):  # the LM reads the names: numbers say nothing
        said.append(f"Zero-shot: the labels are numbers ({', '.join(labels)}), so a language model can only guess "
                    "what they mean; its accuracy says little. Name the classes in the file (positive, negative...) "
                    "to ask it fairly.")
    return said


def evaluate(task_name: str, rows, spec, batch_size: int, precision: str,
             on_rows: Callable[[int], None] | None = None):
    """The task's Evaluation of a language model on the rows, its weights in `precision` (float32 or
    bf16, as the evaluation's other models compute)."""
    from pipelines.models import loading

    loaded = loading.load(spec, precision=precision)
    if not scores(task_name, loaded.kind):
        raise ValueError(f"'{spec.name}' is a {loaded.kind} model, not a language model to ask zero-shot.")
    if task_name == "extractive-qa":
        return _answers(loaded, rows, on_rows)
    return _labels(loaded, rows, batch_size, on_rows)


def _labels(loaded, rows, batch_size: int, on_rows):
    from pipelines.finetune.tasks.classification import score
    from pipelines.tasks import sentiment

    label_names = tuple(sorted(set(rows["label"])))
    texts = list(rows["text"])
    progress = (lambda done, total: on_rows(done)) if on_rows is not None else None
    probabilities = sentiment.lm_label_probabilities(loaded, texts, label_names, batch_size, progress)
    predicted = [max(range(len(row)), key=row.__getitem__) for row in probabilities]
    references = [label_names.index(label) for label in rows["label"]]
    return score(predicted, references, [row[p] for row, p in zip(probabilities, predicted)],
                 [row[r] for row, r in zip(probabilities, references)], texts, label_names)


def _answers(loaded, rows, on_rows):
    from pipelines.finetune.tasks.extractive_qa import score_answers
    from pipelines.tasks import qa

    predictions, reported = [], time.monotonic()
    for done, row in enumerate(rows, start=1):
        try:
            predictions.append(qa.generate_answer(loaded, row["question"], row["context"]).text)
        except ValueError:  # a context longer than the model reads: no answer, as the tab would refuse it
            predictions.append("")
        if on_rows is not None and time.monotonic() - reported >= 1.0:
            on_rows(done)
            reported = time.monotonic()
    return score_answers(rows, predictions)
