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


def test_classification_score_reports_every_metric_and_each_example():
    from pipelines.finetune.tasks.base import Evaluation
    from pipelines.finetune.tasks.classification import score

    evaluation = score(predicted=[0, 1, 1, 0, 0], references=[0, 1, 0, 0, 1], confidences=[0.9, 0.8, 0.6, 0.7, 0.95],
                       true_probabilities=[0.9, 0.8, 0.4, 0.7, 0.05], texts=["t0", "t1", "t2", "t3", "t4"],
                       label_names=("neg", "pos"))
    assert evaluation.metrics["accuracy"] == pytest.approx(0.6)
    assert evaluation.metrics["macro_f1"] == pytest.approx(sk.f1_score([0, 1, 0, 0, 1], [0, 1, 1, 0, 0],
                                                                       average="macro"))
    assert evaluation.details["confusion_matrix"] == [[2, 1], [1, 1]]
    assert [(c["label"], c["support"]) for c in evaluation.details["per_class"]] == [("neg", 3), ("pos", 2)]
    assert evaluation.details["per_class"][0]["recall"] == pytest.approx(2 / 3)
    assert [(o.input, o.reference, o.prediction) for o in evaluation.outputs][2] == ("t2", "neg", "pos (0.60)")
    assert [o.score for o in evaluation.outputs] == [0.9, 0.8, 0.4, 0.7, 0.05]  # p(true label): worst is t4
    assert Evaluation.from_dict(evaluation.to_dict()) == evaluation


def test_paired_examples_put_the_fine_tuned_models_worst_first():
    from pipelines.finetune.evaluation import paired_examples
    from pipelines.finetune.tasks.base import Evaluation, ExampleOutput

    def evaluation(*scores):
        return Evaluation({}, tuple(ExampleOutput(f"t{i}", "ref", f"p{i}", s) for i, s in enumerate(scores)))

    rows = paired_examples(evaluation(0.9, 0.1, 0.5), evaluation(0.2, 0.2, 1.0))
    assert [row["input"] for row in rows] == ["t0", "t1", "t2"]  # equal 0.2: the one the base did better first
    assert rows[0] == {"input": "t0", "reference": "ref", "base": "p0", "fine_tuned": "p0", "base_score": 0.9,
                       "fine_tuned_score": 0.2}
    with pytest.raises(ValueError, match="same rows"):
        paired_examples(evaluation(0.1), evaluation(0.1, 0.2))


def test_squad_scores_match_hand_computed_values():
    squad = load_metric("squad")
    # "Alcala de Henares" against "in Alcala de Henares": 3 of 4 predicted words right, all 3 gold found
    got = squad.compute(predictions=["in Alcala de Henares", "1547", ""], references=[["Alcala de Henares"],
                                                                                      ["1547", "in 1547"], ["x"]])
    assert got["exact_match"] == pytest.approx(100 / 3)
    assert got["f1"] == pytest.approx(100 * (2 * 0.75 * 1 / 1.75 + 1 + 0) / 3)
    assert "no_answer_exact" not in got  # every question here has an answer
