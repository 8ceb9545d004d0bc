"""The local `evaluate` metric modules: they load offline by path, compute what scikit-learn computes,
and the examples in their docstrings run."""

from __future__ import annotations

import doctest
import importlib.util
import random

import evaluate
import pytest
from sklearn import metrics as sk

from pipelines.finetune.metrics import METRICS_DIR, NAMES, load_metric


def labels(n, classes, seed):
    rng = random.Random(seed)
    return [rng.randrange(classes) for _ in range(n)]


PREDICTIONS, REFERENCES = labels(200, 3, seed=1), labels(200, 3, seed=2)
BINARY_PREDICTIONS, BINARY_REFERENCES = labels(50, 2, seed=3), labels(50, 2, seed=4)


def test_accuracy_matches_sklearn():
    accuracy = load_metric("accuracy")
    assert accuracy.compute(predictions=PREDICTIONS, references=REFERENCES)["accuracy"] == pytest.approx(
        sk.accuracy_score(REFERENCES, PREDICTIONS))
    assert accuracy.compute(predictions=PREDICTIONS, references=REFERENCES, normalize=False)["accuracy"] == (
        sk.accuracy_score(REFERENCES, PREDICTIONS, normalize=False))


@pytest.mark.parametrize("name, function", [("f1", sk.f1_score), ("precision", sk.precision_score),
                                            ("recall", sk.recall_score)])
def test_averaged_and_per_class_scores_match_sklearn(name, function):
    metric = load_metric(name)
    binary = metric.compute(predictions=BINARY_PREDICTIONS, references=BINARY_REFERENCES)[name]
    assert binary == pytest.approx(function(BINARY_REFERENCES, BINARY_PREDICTIONS))
    for average in ("macro", "micro", "weighted"):
        got = metric.compute(predictions=PREDICTIONS, references=REFERENCES, average=average)[name]
        assert got == pytest.approx(function(REFERENCES, PREDICTIONS, average=average))
    per_class = metric.compute(predictions=PREDICTIONS, references=REFERENCES, average=None, labels=[0, 1, 2, 3])
    expected = function(REFERENCES, PREDICTIONS, average=None, labels=[0, 1, 2, 3], zero_division=0.0)
    assert per_class[name] == pytest.approx(expected.tolist())  # class 3 never occurs: scored 0, not an error
    assert len(per_class[name]) == 4


def test_confusion_matrix_matches_sklearn():
    got = load_metric("confusion_matrix").compute(predictions=PREDICTIONS, references=REFERENCES, labels=[0, 1, 2])
    assert got["confusion_matrix"] == sk.confusion_matrix(REFERENCES, PREDICTIONS, labels=[0, 1, 2]).tolist()


def test_modules_load_offline_by_path_through_evaluate_itself(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in NAMES:
        module = evaluate.load(str(METRICS_DIR / name))
        assert module.name == name
        assert set(module.features) == {"predictions", "references"}
    combined = evaluate.combine([str(METRICS_DIR / "accuracy"), str(METRICS_DIR / "f1")])
    assert combined.compute(predictions=[0, 1, 1], references=[0, 1, 0]) == {"accuracy": pytest.approx(2 / 3),
                                                                           "f1": pytest.approx(2 / 3)}


def test_add_batch_accumulates_like_one_compute():
    metric = load_metric("accuracy")
    for start in range(0, 200, 50):
        metric.add_batch(predictions=PREDICTIONS[start:start + 50], references=REFERENCES[start:start + 50])
    assert metric.compute()["accuracy"] == pytest.approx(sk.accuracy_score(REFERENCES, PREDICTIONS))


def test_unknown_metric_names_the_known_ones():
    with pytest.raises(ValueError, match="accuracy, f1, precision, recall, confusion_matrix"):
        load_metric("bleu")


@pytest.mark.parametrize("name", NAMES)
def test_docstring_examples_run(name):
    path = METRICS_DIR / name / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"metric_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    outcome = doctest.testmod(module)
    assert outcome.attempted >= 3 and outcome.failed == 0


@pytest.mark.parametrize("name", NAMES)
def test_each_import_stands_on_its_own_line(name):
    # evaluate scans import lines for missing packages and reads "import a, b" as a package "a,".
    source = (METRICS_DIR / name / f"{name}.py").read_text()
    assert not [line for line in source.splitlines() if line.startswith("import ") and "," in line]


def test_score_reports_every_metric_and_the_mistakes_most_confident_first():
    import datasets

    from pipelines.finetune.evaluation import Evaluation, score

    held_out = datasets.Dataset.from_dict({"text": ["t0", "t1", "t2", "t3", "t4"], "label": [0, 1, 0, 0, 1]})
    evaluation = score(predicted=[0, 1, 1, 0, 0], references=[0, 1, 0, 0, 1], confidences=[0.9, 0.8, 0.6, 0.7, 0.95],
                       held_out=held_out, label_names=("neg", "pos"))
    assert evaluation.accuracy == pytest.approx(0.6)
    assert evaluation.macro_f1 == pytest.approx(sk.f1_score([0, 1, 0, 0, 1], [0, 1, 1, 0, 0], average="macro"))
    assert evaluation.confusion_matrix == ((2, 1), (1, 1))
    assert [(c.label, c.support) for c in evaluation.per_class] == [("neg", 3), ("pos", 2)]
    assert evaluation.per_class[0].recall == pytest.approx(2 / 3) and evaluation.per_class[1].precision == 0.5
    assert [(m.text, m.label, m.predicted) for m in evaluation.misclassified] == [("t4", "pos", "neg"),
                                                                                 ("t2", "neg", "pos")]
    assert Evaluation.from_dict(evaluation.to_dict()) == evaluation
