"""Intervals and paired tests against values worked out by hand on small fixed inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipelines.evaluation import stats


def test_the_interval_of_two_rows_spans_both_values():
    # resamples of [0, 1] have means 0, 0.5 and 1 with chances 1/4, 1/2, 1/4: the 2.5th percentile of
    # 1,000 draws is 0 and the 97.5th is 1
    interval = stats.bootstrap(stats.mean_of([0.0, 1.0]), 2)
    assert (interval.value, interval.low, interval.high) == (0.5, 0.0, 1.0)


def test_rows_that_all_score_the_same_have_no_spread():
    interval = stats.bootstrap(stats.mean_of([0.8] * 7), 7)
    assert interval.low == interval.high == interval.value == pytest.approx(0.8)


def test_a_paired_interval_cancels_the_rows_difficulty():
    # the second model scores 0.1 above the first on every row: each resample's difference is exactly 0.1,
    # while each model's own interval is wide (the rows range from 0 to 0.9)
    first = np.linspace(0.0, 0.9, 10)
    difference = stats.paired_bootstrap(stats.mean_of(first), stats.mean_of(first + 0.1), 10)
    assert (difference.value, difference.low, difference.high) == pytest.approx((0.1, 0.1, 0.1))
    alone = stats.bootstrap(stats.mean_of(first), 10)
    assert alone.high - alone.low > 0.3


def test_when_the_models_trade_rows_the_interval_contains_zero():
    # row by row the second model wins one, loses one, ties two: a difference of 0 on all rows
    first, second = [1, 0, 1, 0], [0, 1, 1, 0]
    difference = stats.paired_bootstrap(stats.mean_of(first), stats.mean_of(second), 4)
    assert difference.value == 0.0 and difference.low < 0 < difference.high and difference.contains(0.0)
    assert stats.tally(first, second) == stats.Tally(wins=1, losses=1, ties=2)
    words = stats.difference_in_words("base", "fine-tuned", "accuracy", difference, unit="points of accuracy",
                                      scale=100)
    assert words.startswith("No clear difference between fine-tuned and base on accuracy: fine-tuned minus base "
                            "is +0.0 points of accuracy") and "includes 0" in words


def test_a_clear_win_is_said_in_points_with_its_interval():
    difference = stats.Interval(0.123, 0.098, 0.149)
    assert stats.difference_in_words("base", "fine-tuned", "accuracy", difference, unit="points of accuracy",
                                     scale=100) == ("Fine-tuned is better than base by 12.3 points of accuracy "
                                                    "(95% CI 9.8 to 14.9).")
    lower_perplexity = stats.Interval(-48128.0, -52000.0, -45000.0)
    assert stats.difference_in_words("base", "fine-tuned", "perplexity", lower_perplexity, higher_is_better=False,
                                     unit="in perplexity").startswith("Fine-tuned is better than base by 48128.0")


def test_mcnemar_counts_only_the_rows_the_models_disagree_on():
    # 1 row only the first gets right, 6 only the second: p = 2 * P(X <= 1), X ~ Bin(7, 1/2) = 2 * 8/128
    first = [True] * 3 + [True] + [False] * 6 + [False] * 2
    second = [True] * 3 + [False] + [True] * 6 + [False] * 2
    test = stats.mcnemar(first, second)
    assert (test.first_only, test.second_only, test.p_value) == (1, 6, 0.125)
    assert stats.mcnemar([False] * 10, [True] * 10).p_value == 2 / 1024
    assert stats.mcnemar([True, False] * 5, [False, True] * 5).p_value == 1.0  # 5 against 5: no evidence
    assert stats.mcnemar([True, True], [True, True]).p_value == 1.0  # never disagree


def test_perplexity_pools_token_losses_over_the_chosen_rows():
    statistic = stats.perplexity_of([2.0, 4.0], [1, 3])
    assert statistic(np.array([0, 1])) == pytest.approx(math.exp(6 / 4))  # not the mean of e^2 and e^(4/3)
    assert statistic(np.array([0, 0])) == pytest.approx(math.exp(2.0))


def test_bad_input_gets_a_clear_message():
    with pytest.raises(ValueError, match="at least one scored row"):
        stats.bootstrap(stats.mean_of([]), 0)
    with pytest.raises(ValueError, match="same rows"):
        stats.tally([1, 0], [1])


def test_chrf_pooled_from_row_counts_is_sacrebleus_corpus_chrf():
    import random

    import sacrebleu

    from pipelines.evaluation import chrf

    rng = random.Random(0)
    words = "le la les chat chien mer est sur table grand petit bleu , . !".split()
    predictions = [" ".join(rng.choices(words, k=rng.randint(0, 12))) for _ in range(40)]
    references = [" ".join(rng.choices(words, k=rng.randint(1, 12))) for _ in range(40)]
    predictions[:3] = ["", "x", references[2]]  # empty, no shared n-gram, perfect
    counts = np.array([chrf.row_counts(p, r) for p, r in zip(predictions, references)], dtype=float)
    for rows in (np.arange(40), np.array([0, 0, 1]), np.array([2]), np.array([5, 5, 7, 30, 31])):
        expected = sacrebleu.corpus_chrf([predictions[i] for i in rows], [[references[i] for i in rows]]).score
        assert chrf.score(counts[rows].sum(axis=0)) == pytest.approx(expected, abs=1e-9), rows
