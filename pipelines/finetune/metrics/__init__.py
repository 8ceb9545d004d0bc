"""The metrics of this project as local `evaluate` modules, loaded by path so they work offline.

`evaluate.load("accuracy")` fetches the canonical module from the Hub and fails without a network;
`evaluate.load(<folder>)` loads the module file named after its folder. See each module's docstring.
"""

from __future__ import annotations

from pathlib import Path

import evaluate

METRICS_DIR = Path(__file__).resolve().parent
NAMES = ("accuracy", "f1", "precision", "recall", "confusion_matrix", "squad", "rouge", "sacrebleu")


def load_metric(name: str) -> evaluate.EvaluationModule:
    """One of NAMES as an `evaluate` module, e.g. load_metric("f1").compute(predictions=..., references=...)."""
    if name not in NAMES:
        raise ValueError(f"Unknown metric '{name}'; the local metrics are: {', '.join(NAMES)}.")
    # keep_in_memory: no cache files or file locks, so the web server and a training process can
    # compute the same metric at the same time without clashing on evaluate's default experiment id.
    return evaluate.load(str(METRICS_DIR / name), keep_in_memory=True)
