"""What the five metric modules share: scikit-learn computes, `evaluate` describes.

Each metric stays its own `evaluate` module file, loaded by path (see __init__.py); this module holds
their common parts. The metric files import this module, not its classes: `evaluate` takes the first
metric class it finds in a module file as that file's metric, so only the metric itself may be one.
"""

from __future__ import annotations

import datasets
import evaluate

CITATION = """
@article{scikit-learn, title={Scikit-learn: Machine Learning in {P}ython}, author={Pedregosa, F. and
others}, journal={Journal of Machine Learning Research}, volume={12}, pages={2825--2830}, year={2011}}
"""

# The arguments precision, recall and F1 share, as scikit-learn's functions take them.
AVERAGED_ARGS = """
Args:
    predictions (`list` of `int`): predicted class ids.
    references (`list` of `int`): true class ids.
    labels (`list` of `int`): the classes to score and their order; default all that occur.
    pos_label (`int`): the positive class when average="binary" (default 1).
    average (`str` or None): "binary" (default), "macro", "micro", "weighted", or None for one score
        per class.
    sample_weight (`list` of `float`): weight of each example; default equal weights.
    zero_division (`float` or "warn"): the score of a class that is never predicted (default 0.0).
"""


class SklearnMetric(evaluate.Metric):
    """A metric of predicted against true class ids, computed by the scikit-learn function FUNCTION."""

    FUNCTION = None  # e.g. sklearn.metrics.accuracy_score, set by each metric
    DESCRIPTION = ""
    ARGS_DESCRIPTION = ""

    def _info(self):
        return evaluate.MetricInfo(
            description=self.DESCRIPTION,
            citation=CITATION,
            inputs_description=self.ARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int32"),
                                        "references": datasets.Value("int32")}),
            reference_urls=["https://scikit-learn.org/stable/modules/generated/"
                            f"sklearn.metrics.{self.FUNCTION.__name__}.html"],
        )

    def _score(self, predictions, references, **kwargs):
        return type(self).FUNCTION(references, predictions, **kwargs)  # scikit-learn: truth first


class AveragedScore(SklearnMetric):
    """Precision, recall or F1: one score averaged over the classes, or one per class (average=None)."""

    def _compute(self, predictions, references, labels=None, pos_label=1, average="binary",
                 sample_weight=None, zero_division=0.0):
        score = self._score(predictions, references, labels=labels, pos_label=pos_label, average=average,
                            sample_weight=sample_weight, zero_division=zero_division)
        return {self.name: score.tolist() if average is None else float(score)}
