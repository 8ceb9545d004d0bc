"""Is a difference between two models real or noise? Intervals and paired tests on the same rows.

Every model is scored on the same held-out rows, so the comparison is paired: each bootstrap resample
draws one set of rows and scores both models on it, which cancels the rows' own difficulty out of the
difference (far narrower than two independent intervals). A metric is given as a function of row
indices, so corpus-level metrics (chrF, perplexity) are recomputed on each resample rather than
averaged per row.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

RESAMPLES = 1000
CONFIDENCE = 0.95

Statistic = Callable[[np.ndarray], float]  # row indices (with repeats) -> the metric on those rows


@dataclass(frozen=True)
class Interval:
    value: float  # the metric on all rows
    low: float
    high: float
    confidence: float = CONFIDENCE

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high

    def to_dict(self) -> dict:
        return asdict(self)


def resample_indices(n: int, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """(resamples, n) row indices drawn with replacement; one fixed draw per seed."""
    if n < 1:
        raise ValueError("No rows to resample: the interval needs at least one scored row.")
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def percentile_interval(value: float, draws: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(np.asarray(draws, dtype=float), [tail, 100 - tail])
    return Interval(float(value), float(low), float(high), confidence)


def bootstrap(statistic: Statistic, n: int, resamples: int = RESAMPLES, confidence: float = CONFIDENCE,
              seed: int = 0) -> Interval:
    """The percentile bootstrap interval of a metric over n rows."""
    draws = [statistic(rows) for rows in resample_indices(n, resamples, seed)]
    return percentile_interval(statistic(np.arange(n)), draws, confidence)


def paired_bootstrap(first: Statistic, second: Statistic, n: int, resamples: int = RESAMPLES,
                     confidence: float = CONFIDENCE, seed: int = 0) -> Interval:
    """The interval of second minus first, both scored on the same resampled rows."""
    draws = [second(rows) - first(rows) for rows in resample_indices(n, resamples, seed)]
    everything = np.arange(n)
    return percentile_interval(second(everything) - first(everything), draws, confidence)


def mean_of(values: Sequence[float]) -> Statistic:
    """The statistic of a metric that is the mean of one value per row (accuracy, SQuAD F1, ROUGE)."""
    array = np.asarray(values, dtype=float)
    return lambda rows: float(array[rows].mean())


def perplexity_of(losses: Sequence[float], tokens: Sequence[float]) -> Statistic:
    """Perplexity pooled over rows: exp(summed token losses / summed tokens), not a mean of each row's."""
    loss_sums, counts = np.asarray(losses, dtype=float), np.asarray(tokens, dtype=float)
    return lambda rows: float(math.exp(loss_sums[rows].sum() / max(counts[rows].sum(), 1.0)))


@dataclass(frozen=True)
class McNemar:
    """Exact McNemar test for two classifiers on the same rows: only the rows they disagree on count."""

    first_only: int  # rows the first model gets right and the second wrong
    second_only: int
    p_value: float  # two-sided, exact binomial


def mcnemar(first_correct: Sequence[bool], second_correct: Sequence[bool]) -> McNemar:
    if len(first_correct) != len(second_correct):
        raise ValueError("McNemar's test needs both models' answers on the same rows.")
    first_only = sum(1 for a, b in zip(first_correct, second_correct) if a and not b)
    second_only = sum(1 for a, b in zip(first_correct, second_correct) if b and not a)
    n, k = first_only + second_only, min(first_only, second_only)
    # P(X <= k) for X ~ Binomial(n, 1/2), doubled; exact integers, so no underflow for large n
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n if n else 1.0
    return McNemar(first_only, second_only, min(1.0, 2 * tail))


@dataclass(frozen=True)
class Tally:
    wins: int  # rows where the second model scores higher
    losses: int
    ties: int


def tally(first: Sequence[float], second: Sequence[float], tolerance: float = 1e-9) -> Tally:
    """Per row: does the second model do better, worse, or the same as the first?"""
    if len(first) != len(second):
        raise ValueError("Wins and losses need both models' scores on the same rows.")
    wins = sum(1 for a, b in zip(first, second) if b > a + tolerance)
    losses = sum(1 for a, b in zip(first, second) if b < a - tolerance)
    return Tally(wins, losses, len(first) - wins - losses)


def difference_in_words(first: str, second: str, metric: str, difference: Interval, higher_is_better: bool = True,
                        unit: str | None = None, scale: float = 1.0) -> str:
    """'fine-tuned is better than base by 12.3 points of accuracy (95% CI 9.8 to 14.9)', or, when the
    interval holds 0, that the rows cannot tell them apart. `scale` turns fractions into points."""
    unit = unit or f"points of {metric}"
    d, low, high = (x * scale for x in (difference.value, difference.low, difference.high))
    level = f"{difference.confidence:.0%} CI {low:.{_digits(d, low, high)}f} to {high:.{_digits(d, low, high)}f}"
    if difference.contains(0.0):
        return (f"No clear difference between {second} and {first} on {metric}: {second} minus {first} is "
                f"{d:+.{_digits(d, low, high)}f} {unit}, and the {level} includes 0.")
    better = (d > 0) == higher_is_better
    subject = second.capitalize() if second in ("base", "fine-tuned") else second  # a model's name stays as written
    return (f"{subject} is {'better' if better else 'worse'} than {first} by {abs(d):.{_digits(d, low, high)}f} "
            f"{unit} ({level}).")


def _digits(*values: float) -> int:
    """One decimal for differences of a point or more, more for small ones."""
    largest = max(abs(v) for v in values)
    return 1 if largest >= 1 else 3
