"""What silently ruins a small-data result, said before anyone trusts the numbers.

Warnings, not errors: the data still trains, but a held-out score means little when held-out rows
also sit in the training rows (the model was shown the answers), when rows repeat, when a class has a
handful of examples, or when one class dwarfs the others (always answering it scores well). The data
step shows `data_warnings`; a run adds the split's `leakage` and keeps both in its start entry,
`/finetune_status` and its result.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from pipelines.finetune.tasks.base import rows_list

FEW_EXAMPLES = 8  # a class with fewer held-out-and-training rows than this cannot be learned or judged
IMBALANCE = 10.0  # largest class / smallest class


def normalised(text: str) -> str:
    return " ".join(text.lower().split())


def data_warnings(task, rows) -> list[str]:
    """Duplicate rows (exact, then equal but for case and spacing), the same input with different
    labels, classes with few examples, strong imbalance."""
    keys = [task.input_key(row) for row in rows]
    warnings = []
    exact = _repeats(keys)
    if exact:
        warnings.append(f"{len(exact)} row(s) repeat an earlier row's {task.input_words} exactly (rows "
                        f"{rows_list(exact)}): copies can land on both sides of the split and flatter the held-out "
                        "score. Remove the duplicates.")
    loose = sorted(set(_repeats([normalised(k) for k in keys])) - set(exact))
    if loose:
        warnings.append(f"{len(loose)} row(s) repeat an earlier row's {task.input_words} but for case or spacing "
                        f"(rows {rows_list(loose)}). Remove them unless the difference matters.")
    if "label" in rows.column_names:
        warnings += _label_warnings([normalised(k) for k in keys], rows["label"])
    return warnings


def leakage(task, train, held_out) -> list[str]:
    """Held-out rows whose input (normalised) is also a training row's."""
    seen = {normalised(task.input_key(row)) for row in train}
    shared = [i + 1 for i, row in enumerate(held_out) if normalised(task.input_key(row)) in seen]
    if not shared:
        return []
    return [f"{len(shared)} of the {len(held_out)} held-out rows also appear among the training rows (same "
            f"{task.input_words} after normalising case and spacing): the held-out score overstates how the model "
            "does on new data. Remove the duplicates from the file and train again."]


def check(task, rows, train, held_out) -> list[str]:
    """Everything a run warns about, for its start entry (facts["warnings"])."""
    return data_warnings(task, rows) + leakage(task, train, held_out)


def _repeats(keys: list[str]) -> list[int]:
    """Row numbers (from 1) of the rows whose key an earlier row already had."""
    seen, repeats = set(), []
    for i, key in enumerate(keys):
        if key in seen:
            repeats.append(i + 1)
        seen.add(key)
    return repeats


def _label_warnings(keys: list[str], labels: list[str]) -> list[str]:
    warnings = []
    labels_of = defaultdict(set)
    for key, label in zip(keys, labels):
        labels_of[key].add(label)
    conflicting = [key for key, found in labels_of.items() if len(found) > 1]
    if conflicting:
        warnings.append(f"{len(conflicting)} text(s) appear with different labels (for example \"{conflicting[0][:80]}\"): "
                        "a model cannot get both right. Check those labels.")
    counts = Counter(labels)
    few = sorted(label for label, n in counts.items() if n < FEW_EXAMPLES)
    if few:
        warnings.append(f"Class(es) with fewer than {FEW_EXAMPLES} examples: "
                        f"{', '.join(f'{label} ({counts[label]})' for label in few)}. The model will barely learn "
                        "them and the held-out rows hold one or two at most: collect more, or merge classes.")
    largest, smallest = max(counts.values()), min(counts.values())
    if len(counts) > 1 and largest >= IMBALANCE * smallest:
        top = counts.most_common(1)[0][0]
        warnings.append(f"Strong imbalance: '{top}' has {largest} rows, {largest / smallest:.0f}x the smallest class "
                        f"({smallest}). Always answering '{top}' already scores {largest / len(labels):.0%} accuracy; "
                        "judge by macro F1 and the per-class recall.")
    return warnings
