"""Recall: of the examples of a class, the share predicted as it; as scikit-learn computes it.

A local `evaluate` module: the canonical `evaluate.load("recall")` needs the Hub, this one is loaded
by path (see ../__init__.py). Keep one import per line: evaluate reads them to find missing packages.
The shared parts are in ../sklearn_base.py.
"""

import evaluate
from sklearn.metrics import recall_score

from pipelines.finetune.metrics import sklearn_base

_DESCRIPTION = """
Recall = TP / (TP + FN): of the examples of a class, how many are found.
With several classes, `average` says how the per-class scores combine: "macro" weighs every
class equally, which keeps a rare class visible.
"""

_KWARGS_DESCRIPTION = sklearn_base.AVERAGED_ARGS + """
Returns:
    recall (`float`, or `list` of `float` when average is None): in [0, 1].

Examples:
    >>> from pipelines.finetune.metrics import load_metric
    >>> recall = load_metric("recall")
    >>> recall.compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0])
    {'recall': 1.0}
    >>> recall.compute(predictions=[0, 2, 1, 0], references=[0, 1, 2, 0], average=None)
    {'recall': [1.0, 0.0, 0.0]}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Recall(sklearn_base.AveragedScore):
    FUNCTION = staticmethod(recall_score)
    DESCRIPTION, ARGS_DESCRIPTION = _DESCRIPTION, _KWARGS_DESCRIPTION
