"""Accuracy: the fraction of predictions equal to their reference, as scikit-learn computes it.

A local `evaluate` module: the canonical `evaluate.load("accuracy")` needs the Hub, this one is loaded
by path (see ../__init__.py). Keep one import per line: evaluate reads them to find missing packages.
The shared parts are in ../sklearn_base.py.
"""

import evaluate
from sklearn.metrics import accuracy_score

from pipelines.finetune.metrics import sklearn_base

_DESCRIPTION = """
Accuracy is the proportion of correct predictions among all predictions:
(TP + TN) / (TP + TN + FP + FN) for two classes, and the same count of exact matches for more.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): predicted class ids.
    references (`list` of `int`): true class ids.
    normalize (`bool`): return the fraction (default) rather than the count of correct predictions.
    sample_weight (`list` of `float`): weight of each example; default equal weights.

Returns:
    accuracy (`float`): in [0, 1] when normalize is True, else the number of correct predictions.

Examples:
    >>> from pipelines.finetune.metrics import load_metric
    >>> accuracy = load_metric("accuracy")
    >>> accuracy.compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0])
    {'accuracy': 0.75}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Accuracy(sklearn_base.SklearnMetric):
    FUNCTION = staticmethod(accuracy_score)
    DESCRIPTION, ARGS_DESCRIPTION = _DESCRIPTION, _KWARGS_DESCRIPTION

    def _compute(self, predictions, references, normalize=True, sample_weight=None):
        return {"accuracy": float(self._score(predictions, references, normalize=normalize,
                                              sample_weight=sample_weight))}
