"""The small-data warnings: each one on rows written to trigger it, and none on clean rows."""

from __future__ import annotations

import datasets

from pipelines.finetune import guardrails, tasks


def classification_rows(texts: list[str], labels: list[str]) -> datasets.Dataset:
    return datasets.Dataset.from_dict({"text": texts, "label": labels})


def test_clean_balanced_rows_get_no_warning():
    rows = classification_rows([f"review number {i}" for i in range(40)], ["good", "bad"] * 20)
    assert guardrails.data_warnings(tasks.get("classification"), rows) == []


def test_exact_and_loose_duplicates_are_told_apart_with_their_row_numbers():
    texts = [f"review {i}" for i in range(20)] + ["review 3", "  Review   5 ", "review 3"]
    rows = classification_rows(texts, ["good", "bad"] * 10 + ["good", "bad", "good"])
    warnings = guardrails.data_warnings(tasks.get("classification"), rows)
    assert warnings[0].startswith("2 row(s) repeat an earlier row's text exactly (rows 21, 23)")
    assert warnings[1].startswith("1 row(s) repeat an earlier row's text but for case or spacing (rows 22)")
    # "review 3" is bad in row 4 and good in rows 21 and 23
    assert warnings[2].startswith('1 text(s) appear with different labels (for example "review 3")')


def test_rare_classes_and_imbalance_are_named_with_their_counts():
    rows = classification_rows([f"text {i}" for i in range(65)], ["common"] * 60 + ["rare"] * 5)
    few, imbalance = guardrails.data_warnings(tasks.get("classification"), rows)
    assert few.startswith("Class(es) with fewer than 8 examples: rare (5).")
    assert imbalance.startswith("Strong imbalance: 'common' has 60 rows, 12x the smallest class (5). Always "
                                "answering 'common' already scores 92% accuracy")


def test_held_out_rows_seen_in_training_are_counted_after_normalising():
    task = tasks.get("classification")
    train = classification_rows(["The film was great", "dull plot"], ["good", "bad"])
    held_out = classification_rows(["the film  was GREAT", "a new text", "dull plot"], ["good", "good", "bad"])
    (warning,) = guardrails.leakage(task, train, held_out)
    assert warning.startswith("2 of the 3 held-out rows also appear among the training rows")
    assert guardrails.leakage(task, train, classification_rows(["unseen"], ["good"])) == []


def test_qa_rows_repeat_only_when_question_and_context_both_do():
    task = tasks.get("extractive-qa")
    rows = datasets.Dataset.from_dict({"context": ["a b c", "a b c", "d e f"], "question": ["what?", "who?", "what?"],
                                       "answer": ["a", "b", "d"]})
    assert guardrails.data_warnings(task, rows) == []
    rows = datasets.Dataset.from_dict({"context": ["a b c", "a b c"], "question": ["what?", "what?"], "answer": ["a", "a"]})
    assert "question and context exactly (rows 2)" in guardrails.data_warnings(task, rows)[0]
