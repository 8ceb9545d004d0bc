"""The fine-tuning benchmark's time to accuracy, read from accuracy curves (bench/time_to_accuracy.py)."""

from __future__ import annotations

import pytest

from bench.time_to_accuracy import add_time_to_accuracy, time_to

# (training seconds, step, held-out accuracy); the last point is the final model's
CURVE = [(10.0, 10, 0.55), (20.0, 20, 0.78), (30.0, 30, 0.74), (40.0, 40, 0.792), (50.0, 50, 0.79)]


def test_time_to_is_the_first_scoring_that_reached_the_accuracy():
    assert time_to(CURVE, 0.78) == 20.0  # reached at 20 s, lost at 30 s: the first time counts
    assert time_to(CURVE, 0.785) == 40.0
    assert time_to(CURVE, 0.79) == 40.0
    assert time_to(CURVE, 0.5) == 10.0


def test_time_to_reads_the_curve_in_time_order():
    assert time_to(list(reversed(CURVE)), 0.78) == 20.0


def test_each_round_gets_its_own_common_target_and_each_run_its_own_final():
    fast = {"accuracy": 0.79, "curve": CURVE}
    slow = {"accuracy": 0.80, "curve": [(30.0, 10, 0.6), (60.0, 20, 0.77), (90.0, 30, 0.80)]}
    later = {"accuracy": 0.70, "curve": [(15.0, 10, 0.70)]}
    again = {"accuracy": 0.79, "curve": CURVE}
    results = {"a": [fast, later], "b": [slow, again]}
    add_time_to_accuracy(results)
    # round 1: the common target is 0.79, the lower final accuracy of the two
    assert fast["common_target"] == slow["common_target"] == 0.79
    assert fast["to_common_s"] == 40.0 and slow["to_common_s"] == 90.0
    # within half a point of its own final accuracy: 0.785 for fast, 0.795 for slow
    assert fast["to_final_s"] == 40.0 and slow["to_final_s"] == 90.0
    # round 2 has its own target
    assert later["common_target"] == again["common_target"] == 0.70
    assert again["to_common_s"] == 20.0 and later["to_common_s"] == 15.0


def test_a_curve_that_never_reaches_the_accuracy_is_an_error_not_a_time():
    with pytest.raises(ValueError, match="never reached 0.900"):
        time_to(CURVE, 0.9)
