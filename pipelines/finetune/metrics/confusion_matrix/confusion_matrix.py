"""Confusion matrix: how often each true class was predicted as each class, as scikit-learn counts it.

A local `evaluate` module loaded by path (see ../__init__.py); the Hub's version needs a network.
Keep one import per line: evaluate reads them to find missing packages.
The shared parts are in ../sklearn_base.py.
"""

import evaluate
from sklearn.metrics import confusion_matrix

from pipelines.finetune.metrics import sklearn_base

_DESCRIPTION = """
Entry [i][j] of the matrix counts the examples whose true class is i and whose predicted class is j:
the diagonal holds the correct predictions, and each off-diagonal cell names one kind of mistake.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): predicted class ids.
    references (`list` of `int`): true class ids.
    labels (`list` of `int`): the classes, in the order of the rows and columns; default all that
        occur, sorted. Pass every class id so that a class never seen still gets its row.
    sample_weight (`list` of `float`): weight of each example; default equal weights.
    normalize (`str` or None): "true" (rows sum to 1), "pred" (columns), "all", or None for counts.

Returns:
    confusion_matrix (`list` of `list`): rows are true classes, columns predicted ones.

Examples:
    >>> from pipelines.finetune.metrics import load_metric
    >>> matrix = load_metric("confusion_matrix")
    >>> matrix.compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0], labels=[0, 1, 2])
    {'confusion_matrix': [[2, 1, 0], [0, 1, 0], [0, 0, 0]]}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ConfusionMatrix(sklearn_base.SklearnMetric):
    FUNCTION = staticmethod(confusion_matrix)
    DESCRIPTION, ARGS_DESCRIPTION = _DESCRIPTION, _KWARGS_DESCRIPTION

    def _compute(self, predictions, references, labels=None, sample_weight=None, normalize=None):
        matrix = self._score(predictions, references, labels=labels, sample_weight=sample_weight,
                             normalize=normalize)
        return {"confusion_matrix": matrix.tolist()}
