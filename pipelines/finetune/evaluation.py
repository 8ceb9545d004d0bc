"""Score a classifier on the held-out split: accuracy, macro-F1, per-class precision and recall, the
confusion matrix, and the examples it gets wrong. The same function scores the base model before
training and the fine-tuned one after, on the same rows, so the two are comparable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import datasets
import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader

from pipelines.finetune.metrics import load_metric

MAX_MISCLASSIFIED = 50  # enough to see a pattern in the mistakes, small enough for a table


@dataclass(frozen=True)
class ClassScores:
    label: str
    precision: float
    recall: float
    f1: float
    support: int  # held-out rows of this class


@dataclass(frozen=True)
class Misclassified:
    text: str
    label: str
    predicted: str
    confidence: float  # the model's probability for what it predicted


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    macro_f1: float
    per_class: tuple[ClassScores, ...]
    confusion_matrix: tuple[tuple[int, ...], ...]  # rows: true label, columns: predicted, in `labels` order
    labels: tuple[str, ...]
    misclassified: tuple[Misclassified, ...]  # most confident mistakes first
    n_examples: int

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Evaluation:
        return cls(accuracy=values["accuracy"], macro_f1=values["macro_f1"],
                   per_class=tuple(ClassScores(**c) for c in values["per_class"]),
                   confusion_matrix=tuple(tuple(row) for row in values["confusion_matrix"]),
                   labels=tuple(values["labels"]),
                   misclassified=tuple(Misclassified(**m) for m in values["misclassified"]),
                   n_examples=values["n_examples"])


def predict(model, loader: DataLoader, accelerator: Accelerator) -> tuple[list[int], list[int], list[float]]:
    """(predicted ids, true ids, confidences) for every row of the loader, in the loader's order."""
    was_training = model.training
    model.eval()
    gathered = []
    with torch.inference_mode():
        for batch in loader:
            labels = batch.pop("labels")
            probabilities = model(**batch).logits.float().softmax(dim=-1)
            confidence, predicted = probabilities.max(dim=-1)
            # Kept on the device until the end: one host sync per evaluation, not one per batch.
            gathered.append(accelerator.gather_for_metrics((predicted, labels, confidence)))
    model.train(was_training)
    predicted, labels, confidence = (torch.cat(part).tolist() for part in zip(*gathered))
    return predicted, labels, confidence


def score(predicted: list[int], references: list[int], confidences: list[float], held_out: datasets.Dataset,
          label_names: tuple[str, ...]) -> Evaluation:
    """Metrics from the local `evaluate` modules, plus the mistakes with their texts."""
    ids = list(range(len(label_names)))
    inputs = dict(predictions=predicted, references=references)
    per_class_inputs = dict(inputs, labels=ids, average=None, zero_division=0.0)
    precision = load_metric("precision").compute(**per_class_inputs)["precision"]
    recall = load_metric("recall").compute(**per_class_inputs)["recall"]
    f1 = load_metric("f1").compute(**per_class_inputs)["f1"]
    matrix = load_metric("confusion_matrix").compute(**inputs, labels=ids)["confusion_matrix"]
    per_class = tuple(ClassScores(label=name, precision=precision[i], recall=recall[i], f1=f1[i],
                                  support=sum(matrix[i])) for i, name in enumerate(label_names))
    return Evaluation(
        accuracy=load_metric("accuracy").compute(**inputs)["accuracy"],
        macro_f1=load_metric("f1").compute(**inputs, average="macro", zero_division=0.0)["f1"],
        per_class=per_class, confusion_matrix=tuple(tuple(row) for row in matrix), labels=label_names,
        misclassified=_mistakes(predicted, references, confidences, held_out["text"], label_names),
        n_examples=len(references))


def _mistakes(predicted, references, confidences, texts, label_names) -> tuple[Misclassified, ...]:
    wrong = [i for i, (p, r) in enumerate(zip(predicted, references)) if p != r]
    wrong.sort(key=lambda i: -confidences[i])
    return tuple(Misclassified(text=texts[i], label=label_names[references[i]], predicted=label_names[predicted[i]],
                               confidence=round(confidences[i], 4)) for i in wrong[:MAX_MISCLASSIFIED])


def evaluate_model(model, loader: DataLoader, accelerator: Accelerator, held_out: datasets.Dataset,
                   label_names: tuple[str, ...]) -> Evaluation:
    predicted, references, confidences = predict(model, loader, accelerator)
    return score(predicted, references, confidences, held_out, label_names)
