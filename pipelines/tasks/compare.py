"""Two or three models on the same input, one after another, each timed: a side-by-side comparison.

Blind to the task: the caller says how one model runs on the input (`run`, given a resolved
`ModelSpec`) and how its result reads in a few words (`describe`). A model that cannot run (an
unknown name, not available offline, a pipeline's refusal) gets its sentence in its own row, so the
other models still answer.

>>> from functools import partial
>>> from pipelines.tasks import sentiment
>>> text = "A wonderful film."
>>> comparison = compare_models("sentiment", ["distilbert-sst2", "SmolLM2-135M-Instruct (packaged)"],
...                             {"text": text}, run=partial(sentiment.classify_sentiment, text),
...                             describe=lambda r: r.labels[0].label)  # doctest: +SKIP
>>> [(row.model, row.text) for row in comparison.results]  # doctest: +SKIP
[('distilbert-sst2', 'POSITIVE'), ('SmolLM2-135M-Instruct (packaged)', 'positive')]
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

from pipelines.models import catalog, loading
from pipelines.models.catalog import ModelSpec
from pipelines.runtime.errors import first_line

# Two to compare; more than three would not fit side by side, and on a 2-core CPU each one waits for
# the last (the models run one after another: in parallel they would only share the same cores).
MIN_MODELS, MAX_MODELS = 2, 3

log = logging.getLogger(__name__)


class TaskResult(Protocol):
    def to_dict(self) -> dict: ...


@dataclass(frozen=True)
class ModelRun:
    """One row of a comparison: one model's output, or why it has none."""

    model: str  # the reference as the caller gave it
    output: dict | None  # the task's result, as its single-model call returns it; None if it failed
    text: str  # the output in a few words, for a table cell; "" if it failed
    seconds: float | None  # the call alone (the model already loaded); None if it failed
    error: str | None  # why this model has no output, in a sentence; None if it answered


@dataclass(frozen=True)
class Comparison:
    task: str
    input: dict  # what every model was given (the task's inputs and settings, without the models)
    results: tuple[ModelRun, ...]  # in the order the models were given

    def to_dict(self) -> dict:
        return {"task": self.task, "input": self.input, "results": [asdict(run) for run in self.results]}


def chosen_models(models: Sequence[str] | str | None) -> list[str]:
    """The distinct model references, in order; a ValueError unless there are two or three."""
    if isinstance(models, str):  # one name, not a list of names
        models = [models]
    names = list(dict.fromkeys(name.strip() for name in models or () if name and name.strip()))
    if len(names) < MIN_MODELS:
        picked = f"only '{names[0]}' was picked" if names else "none was picked"
        raise ValueError(f"Pick {MIN_MODELS} or {MAX_MODELS} different models to compare; {picked}.")
    if len(names) > MAX_MODELS:
        raise ValueError(f"Pick at most {MAX_MODELS} models to compare; {len(names)} were picked "
                         f"({', '.join(names)}).")
    return names


def compare_models(task: str, models: Sequence[str] | str | None, inputs: dict, *,
                   run: Callable[[ModelSpec], TaskResult], describe: Callable[[TaskResult], str],
                   on_load: Callable[[ModelSpec], object] | None = None,
                   prepare: Callable[[ModelSpec], object] = loading.load) -> Comparison:
    """Run each model on the same input, in order, and time each call.

    `on_load(spec)` is called before a model that is not in the cache yet is loaded (the app says
    "loading" then). `prepare(spec)` loads what `run` will use before the clock starts: the model at
    its default precision unless the task picks another copy for this input. If every model fails
    with the same sentence, the input is at fault rather than the models: that sentence is raised once
    as a ValueError instead of filling every row with it.
    """
    results = tuple(_run_one(task, name, run, describe, on_load, prepare) for name in chosen_models(models))
    errors = {result.error for result in results}
    if len(errors) == 1 and None not in errors:
        raise ValueError(errors.pop())
    return Comparison(task=task, input=inputs, results=results)


def _run_one(task: str, name: str, run: Callable[[ModelSpec], TaskResult], describe: Callable[[TaskResult], str],
             on_load: Callable[[ModelSpec], object] | None, prepare: Callable[[ModelSpec], object]) -> ModelRun:
    try:
        spec = catalog.resolve(task, name)
        if on_load is not None and not loading.is_loaded(spec):
            on_load(spec)
        # Loaded before the clock starts: a model's first use (seconds, half a minute for the packaged
        # SmolLM2's conversion) would otherwise swamp the difference the comparison is about.
        prepare(spec)
        started = time.perf_counter()
        result = run(spec)
        seconds = time.perf_counter() - started
        return ModelRun(model=name, output=result.to_dict(), text=describe(result), seconds=seconds, error=None)
    except ValueError as err:  # the pipelines' sentences: unknown model, unavailable, wrong kind, bad input
        return ModelRun(model=name, output=None, text="", seconds=None, error=str(err))
    except Exception as err:  # a bug or a model that breaks on this input: its row says so, the others stand
        log.exception("Comparing %s models: %s failed", task, name)
        return ModelRun(model=name, output=None, text="", seconds=None,
                        error=f"The model failed on this input ({type(err).__name__}: {first_line(err)}).")
