"""Text classification: a text column and a label column in, a sequence classifier out.

Held out: a stratified split with a fixed seed, so base and fine-tuned are scored on the same rows.
Metrics: accuracy (the headline), macro-F1, per-class precision and recall, the confusion matrix.
The model lands in the Sentiment tab's picker (any label set: it is a text classifier).

torch, transformers and the metrics are imported where they are used: the app lists the tasks and
their columns when it builds the Fine-tune tab, before it imports any of them.
"""

from __future__ import annotations

from collections import Counter

import datasets

from pipelines.finetune import guardrails
from pipelines.finetune.config import FinetuneConfig
from pipelines.finetune.tasks.base import (ExampleOutput, Evaluation, FinetuneTask, Prepared, Role, held_out_only,
                                           require_string_column, require_text_cells)
from pipelines.models import kinds
from pipelines.text.columns import LABEL_NAMES, TEXT_NAMES, guess_label_column

MIN_ROWS = 20  # below this the held-out split says nothing about whether training helped


class Classification(FinetuneTask):
    name = "classification"
    title = "Text classification"
    roles = (Role("text", "Text column", TEXT_NAMES, free_text=True),
             Role("label", "Label column", LABEL_NAMES))
    metric = "accuracy"
    points_scale = 100.0  # accuracy is a fraction: differences are told in percentage points
    curve_metrics = ("accuracy", "macro_f1")
    shows_up_in = "the **Sentiment** tab's model picker"
    saved_kind = kinds.CLASSIFIER
    summary_headers = ("Label", "Rows")

    def guess_columns(self, table: datasets.Dataset) -> dict[str, str | None]:
        guesses = super().guess_columns(table)
        if guesses["label"] is None:  # no usual name: the column with the fewest distinct values
            sample = table.select(range(min(len(table), 500))).to_list()
            guesses["label"] = guess_label_column([c for c in table.column_names if c != guesses["text"]], sample)
        return guesses

    def read_rows(self, table: datasets.Dataset, columns: dict[str, str], file_name: str) -> datasets.Dataset:
        text, label = columns["text"], columns["label"]
        labels = require_text_cells(table[label], label, "label")
        texts = require_text_cells(table[text], text, "text")
        require_string_column(table, text, "texts")
        if len(table) < MIN_ROWS:
            raise ValueError(f"'{file_name}' has {len(table)} rows; fine-tuning needs at least {MIN_ROWS} "
                             "labelled rows (a few hundred give a model worth keeping).")
        _check_classes(Counter(labels), label, len(labels))
        return datasets.Dataset.from_dict({"text": texts, "label": labels})

    def summary(self, rows: datasets.Dataset) -> dict[str, int]:
        return dict(sorted(Counter(rows["label"]).items()))

    def prepare(self, rows: datasets.Dataset, base, config: FinetuneConfig) -> Prepared:
        from transformers import DataCollatorWithPadding

        from pipelines.finetune.model import load_with_head

        label_names, keep_head = head_labels(base.config, sorted(set(rows["label"])))
        train, held_out = split(rows, label_names, config)
        model, tokenizer = load_with_head(
            base, "AutoModelForSequenceClassification", "classification", num_labels=len(label_names),
            id2label=dict(enumerate(label_names)), label2id={name: i for i, name in enumerate(label_names)},
            ignore_mismatched_sizes=not keep_head)
        max_length = config.max_length or self.default_max_length

        def encode(table: datasets.Dataset) -> datasets.Dataset:
            encoded = table.map(lambda b: tokenizer(b["text"], truncation=True, max_length=max_length),
                                batched=True, remove_columns=["text"])
            return encoded.rename_column("label", "labels")

        train_tokens, held_tokens = encode(train), encode(held_out)
        # Evaluation order is free, so sort it by length once: every evaluation batch is then nearly unpadded.
        order = sorted(range(len(held_tokens)), key=lambda i: len(held_tokens[i]["input_ids"]))
        collate = DataCollatorWithPadding(tokenizer)  # pads each batch to its longest text
        return Prepared(model=model, tokenizer=tokenizer, train=train_tokens,
                        train_lengths=[len(ids) for ids in train_tokens["input_ids"]],
                        held_out=held_tokens.select(order), collate=collate, eval_collate=collate,
                        train_rows=len(train), held_out_rows=len(held_out),
                        context=(held_out.select(order)["text"], label_names),
                        facts={"labels": list(label_names), "base_head": "kept" if keep_head else "new",
                               "max_length": max_length},
                        warnings=guardrails.check(self, rows, train, held_out))

    def evaluate(self, model, loader, accelerator, prepared: Prepared) -> Evaluation:
        predicted, references, confidences, true = _predict(model, loader, accelerator)
        texts, label_names = prepared.context
        return score(predicted, references, confidences, true, texts, label_names)

    def held_out_rows(self, rows: datasets.Dataset, config: FinetuneConfig, facts: dict) -> datasets.Dataset:
        names = tuple(facts["labels"])  # the run's label order, which its stratified split depended on
        held = split(rows, names, config)[1]
        return datasets.Dataset.from_dict({"text": held["text"], "label": [names[i] for i in held["label"]]})

    def example_values(self, evaluation: Evaluation) -> list[float]:
        """A row is won by being right, not by a higher probability of the true label."""
        return [o.parts[0] for o in evaluation.outputs]

    def picker_note(self, config: FinetuneConfig, result: dict) -> str:
        return (f"Fine-tuned here from {result['base_model']} on {result['dataset']} ({result['train_rows']} rows; "
                f"labels: {', '.join(result['facts']['labels'])}): held-out accuracy "
                f"{result['fine_tuned']['accuracy']:.3f}, base {result['base']['accuracy']:.3f}. Run {result['run_id']}.")

    def card_lines(self, result: dict) -> list[str]:
        base_note = {"new": "The base model is scored as training starts, with its new classification head untrained.",
                     "kept": "The base model already classified these labels: it is scored with its own head."}
        tuned = result["details"]["fine_tuned"]
        return [base_note[result["facts"]["base_head"]], "",
                "| label | precision | recall | F1 | held-out rows |", "|---|---|---|---|---|",
                *(f"| {c['label']} | {c['precision']:.4f} | {c['recall']:.4f} | {c['f1']:.4f} | {c['support']} |"
                  for c in tuned["per_class"]), "",
                "```python", "from transformers import pipeline", "",
                f'classifier = pipeline("text-classification", model="path/to/{result["registered_as"]}")',
                'classifier("A quietly moving film.")', "```"]


TASK = Classification()


def _check_classes(counts: Counter, column: str, n_rows: int) -> None:
    if len(counts) < 2:
        (only,) = counts
        raise ValueError(f"Every row of column '{column}' has the label '{only}'; a classifier needs at "
                         "least two classes. Add rows of another class, or choose another label column.")
    if len(counts) > max(2, n_rows // 2):
        raise ValueError(f"Column '{column}' has {len(counts)} different values in {n_rows} rows: that is "
                         "not a label column. Choose the column with the class of each row.")
    rare = sorted(label for label, n in counts.items() if n < 2)
    if rare:
        raise ValueError(f"Label(s) {', '.join(repr(r) for r in rare[:10])} in column '{column}' occur in only "
                         "one row; each class needs at least 2 rows (one to train, one to test). Add rows "
                         "or remove those labels.")


def head_labels(config, data_labels: list[str]) -> tuple[tuple[str, ...], bool]:
    """The label order of the classification head, and whether the base's own head is kept.

    A classifier that already predicts exactly the data's labels (ignoring case) keeps its trained head
    and its label order, so the base scores are its real zero-shot scores; any other base gets a new
    head over the labels in sorted order.
    """
    architectures = getattr(config, "architectures", None) or []
    id2label = {int(i): str(v) for i, v in (getattr(config, "id2label", None) or {}).items()}
    by_lower = {label.lower(): label for label in data_labels}
    if (any(a.endswith("ForSequenceClassification") for a in architectures)
            and len(id2label) == len(by_lower) and {v.lower() for v in id2label.values()} == set(by_lower)):
        return tuple(by_lower[id2label[i].lower()] for i in sorted(id2label)), True
    return tuple(sorted(data_labels)), False


def split(rows: datasets.Dataset, label_names: tuple[str, ...],
          config: FinetuneConfig) -> tuple[datasets.Dataset, datasets.Dataset]:
    """(train, held out): stratified by label with the run's split seed (the training rows drawn with its
    seed when cut to max_train_rows); labels as class ids. Every row held out for an evaluation job."""
    index = {name: i for i, name in enumerate(label_names)}
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=list(label_names))})
    table = datasets.Dataset.from_dict({"text": rows["text"], "label": [index[v] for v in rows["label"]]},
                                       features=features)
    if config.held_out_only:
        return held_out_only(table)
    n_eval = max(len(label_names), min(config.max_eval_rows, round(len(table) * config.eval_fraction)))
    parts = table.train_test_split(test_size=n_eval, stratify_by_column="label", seed=config.effective_split_seed)
    train = parts["train"]
    if config.max_train_rows is not None and config.max_train_rows < len(train):
        if config.max_train_rows < 2 * len(label_names):
            raise ValueError(f"max_train_rows={config.max_train_rows} is too few for {len(label_names)} classes.")
        train = train.train_test_split(train_size=config.max_train_rows, stratify_by_column="label",
                                       seed=config.seed)["train"]
    return train, parts["test"]


def _predict(model, loader, accelerator) -> tuple[list[int], list[int], list[float], list[float]]:
    """(predicted ids, true ids, confidences, probabilities of the true label) for every row of the
    loader, in the loader's order."""
    import torch

    gathered = []
    for batch in loader:
        labels = batch.pop("labels")
        probabilities = model(**batch).logits.float().softmax(dim=-1)
        confidence, predicted = probabilities.max(dim=-1)
        true = probabilities.gather(1, labels[:, None])[:, 0]
        # Kept on the device until the end: one host sync per evaluation, not one per batch.
        gathered.append(accelerator.gather_for_metrics((predicted, labels, confidence, true)))
    return tuple(torch.cat(part).tolist() for part in zip(*gathered))


def score(predicted: list[int], references: list[int], confidences: list[float], true_probabilities: list[float],
          texts: list[str], label_names: tuple[str, ...]) -> Evaluation:
    """Metrics from the local `evaluate` modules, and every example's prediction; an example's own
    score is the probability the model gave its true label (so the most confident mistakes sort first)."""
    from pipelines.finetune.metrics import load_metric

    ids = list(range(len(label_names)))
    inputs = dict(predictions=predicted, references=references)
    per_class_inputs = dict(inputs, labels=ids, average=None, zero_division=0.0)
    precision = load_metric("precision").compute(**per_class_inputs)["precision"]
    recall = load_metric("recall").compute(**per_class_inputs)["recall"]
    f1 = load_metric("f1").compute(**per_class_inputs)["f1"]
    matrix = load_metric("confusion_matrix").compute(**inputs, labels=ids)["confusion_matrix"]
    per_class = [dict(label=name, precision=precision[i], recall=recall[i], f1=f1[i], support=sum(matrix[i]))
                 for i, name in enumerate(label_names)]
    metrics = {"accuracy": load_metric("accuracy").compute(**inputs)["accuracy"],
               "macro_f1": load_metric("f1").compute(**inputs, average="macro", zero_division=0.0)["f1"]}
    outputs = tuple(ExampleOutput(input=text, reference=label_names[r],
                                  prediction=f"{label_names[p]} ({c:.2f})", score=t, parts=(float(p == r),))
                    for text, p, r, c, t in zip(texts, predicted, references, confidences, true_probabilities))
    return Evaluation(metrics=metrics, outputs=outputs,
                      details={"labels": list(label_names), "per_class": per_class, "confusion_matrix": matrix})
