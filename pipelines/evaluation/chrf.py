"""chrF as sums of per-row counts, so a bootstrap can rescore any subset of rows without re-reading
the texts: sacreBLEU's own resampling works from the same counts (character n-gram counts of the
prediction, of the reference, and their overlap, per order). `tests/test_evaluation_stats.py` checks
the pooled score against `sacrebleu.corpus_chrf` (chrF defaults: character 6-grams, beta 2,
whitespace ignored, one reference per row)."""

from __future__ import annotations

from collections.abc import Sequence

from sacrebleu.metrics.helpers import extract_all_char_ngrams

CHAR_ORDER = 6
BETA = 2


def row_counts(prediction: str, reference: str) -> tuple[int, ...]:
    """(prediction n-grams, reference n-grams, shared n-grams) for n = 1..6, flattened: 18 counts."""
    counts: list[int] = []
    for hyp, ref in zip(extract_all_char_ngrams(prediction, CHAR_ORDER), extract_all_char_ngrams(reference, CHAR_ORDER)):
        shared = sum(min(n, ref[gram]) for gram, n in hyp.items() if gram in ref)
        counts += [sum(hyp.values()) if ref else 0, sum(ref.values()), shared]  # no reference n-grams: no hits
    return tuple(counts)


def score(totals: Sequence[float]) -> float:
    """chrF (0-100) from the counts summed over rows: precision and recall averaged over the orders
    both sides have, then their F-beta."""
    precision = recall = 0.0
    orders = 0
    for i in range(CHAR_ORDER):
        hyp, ref, shared = totals[3 * i:3 * i + 3]
        if hyp > 0 and ref > 0:
            precision += shared / hyp
            recall += shared / ref
            orders += 1
    if not orders:
        return 0.0
    precision, recall = precision / orders, recall / orders
    if precision + recall == 0:
        return 0.0
    factor = BETA ** 2
    return 100 * (1 + factor) * precision * recall / (factor * precision + recall)
