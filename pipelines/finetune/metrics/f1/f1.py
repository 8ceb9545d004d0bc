"""F1: the harmonic mean of precision and recall, per class or averaged, as scikit-learn has it.

A local `evaluate` module: the canonical `evaluate.load("f1")` needs the Hub, this one is loaded
by path (see ../__init__.py). Keep one import per line: evaluate reads them to find missing packages.
"""

import datasets
import evaluate
from sklearn.metrics import f1_score

_DESCRIPTION = """
F1 = 2 * (precision * recall) / (precision + recall). With several classes, `average` says how the
per-class scores combine: "macro" weighs every class equally, which keeps a rare class visible.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): predicted class ids.
    references (`list` of `int`): true class ids.
    labels (`list` of `int`): the classes to score and their order; default all that occur.
    pos_label (`int`): the positive class when average="binary" (default 1).
    average (`str` or None): "binary" (default), "macro", "micro", "weighted", or None for one score
        per class.
    sample_weight (`list` of `float`): weight of each example; default equal weights.
    zero_division (`float` or "warn"): the score of a class that is never predicted (default 0.0).

Returns:
    f1 (`float`, or `list` of `float` when average is None): in [0, 1].

Examples:
    >>> from pipelines.finetune.metrics import load_metric
    >>> f1 = load_metric("f1")
    >>> f1.compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0])
    {'f1': 0.6666666666666666}
    >>> f1.compute(predictions=[0, 2, 1, 0], references=[0, 1, 2, 0], average=None)
    {'f1': [1.0, 0.0, 0.0]}
"""

_CITATION = """
@article{scikit-learn, title={Scikit-learn: Machine Learning in {P}ython}, author={Pedregosa, F. and
others}, journal={Journal of Machine Learning Research}, volume={12}, pages={2825--2830}, year={2011}}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class F1(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int32"),
                                        "references": datasets.Value("int32")}),
            reference_urls=["https://scikit-learn.org/stable/modules/generated/"
                            "sklearn.metrics.f1_score.html"],
        )

    def _compute(self, predictions, references, labels=None, pos_label=1, average="binary",
                 sample_weight=None, zero_division=0.0):
        score = f1_score(references, predictions, labels=labels, pos_label=pos_label, average=average,
                         sample_weight=sample_weight, zero_division=zero_division)
        return {"f1": score.tolist() if average is None else float(score)}
