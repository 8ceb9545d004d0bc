"""F1: the harmonic mean of precision and recall, per class or averaged, as scikit-learn has it.

A local `evaluate` module: the canonical `evaluate.load("f1")` needs the Hub, this one is loaded
by path (see ../__init__.py). Keep one import per line: evaluate reads them to find missing packages.
The shared parts are in ../sklearn_base.py.
"""

import evaluate
from sklearn.metrics import f1_score

from pipelines.finetune.metrics import sklearn_base

_DESCRIPTION = """
F1 = 2 * (precision * recall) / (precision + recall). With several classes, `average` says how the
per-class scores combine: "macro" weighs every class equally, which keeps a rare class visible.
"""

_KWARGS_DESCRIPTION = sklearn_base.AVERAGED_ARGS + """
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


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class F1(sklearn_base.AveragedScore):
    FUNCTION = staticmethod(f1_score)
    DESCRIPTION, ARGS_DESCRIPTION = _DESCRIPTION, _KWARGS_DESCRIPTION
