"""Precision: of the examples predicted as a class, the share that are; as scikit-learn computes it.

A local `evaluate` module: the canonical `evaluate.load("precision")` needs the Hub, this one is loaded
by path (see ../__init__.py). Keep one import per line: evaluate reads them to find missing packages.
The shared parts are in ../sklearn_base.py.
"""

import evaluate
from sklearn.metrics import precision_score

from pipelines.finetune.metrics import sklearn_base

_DESCRIPTION = """
Precision = TP / (TP + FP): of the examples predicted as a class, how many are.
With several classes, `average` says how the per-class scores combine: "macro" weighs every
class equally, which keeps a rare class visible.
"""

_KWARGS_DESCRIPTION = sklearn_base.AVERAGED_ARGS + """
Returns:
    precision (`float`, or `list` of `float` when average is None): in [0, 1].

Examples:
    >>> from pipelines.finetune.metrics import load_metric
    >>> precision = load_metric("precision")
    >>> precision.compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0])
    {'precision': 0.5}
    >>> precision.compute(predictions=[0, 2, 1, 0], references=[0, 1, 2, 0], average=None)
    {'precision': [1.0, 0.0, 0.0]}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Precision(sklearn_base.AveragedScore):
    FUNCTION = staticmethod(precision_score)
    DESCRIPTION, ARGS_DESCRIPTION = _DESCRIPTION, _KWARGS_DESCRIPTION
