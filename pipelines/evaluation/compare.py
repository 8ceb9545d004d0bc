"""Two models scored on the same rows, compared the way a stakeholder needs it: each one's metric
with its interval, the paired difference with its interval, in words, rows won and lost, and for
accuracy McNemar's test. Works for every task, through the task's `row_statistic`."""

from __future__ import annotations

from dataclasses import asdict

from pipelines.evaluation import stats


def compare(task, first, second, names: tuple[str, str] = ("base", "fine-tuned"),
            resamples: int = stats.RESAMPLES, seed: int = 0) -> dict:
    """`first` and `second` are `Evaluation`s of the same rows, in the same order."""
    n = len(first.outputs)
    if n != len(second.outputs):
        raise ValueError(f"{names[0]} was scored on {n} rows and {names[1]} on {len(second.outputs)}; a paired "
                         "comparison needs the same rows.")
    a, b = task.row_statistic(first), task.row_statistic(second)
    difference = stats.paired_bootstrap(a, b, n, resamples, seed=seed)
    tally = stats.tally(task.example_values(first), task.example_values(second))
    scale = task.points_scale
    unit = f"points of {task.metric}" if task.metric != "perplexity" else "in perplexity"
    summary = stats.difference_in_words(names[0], names[1], task.metric, difference, task.higher_is_better,
                                        unit=unit, scale=scale)
    compared = {
        "metric": task.metric, "higher_is_better": task.higher_is_better, "rows": n, "names": list(names),
        "points_scale": scale, "resamples": resamples,
        "intervals": {names[0]: stats.bootstrap(a, n, resamples, seed=seed).to_dict(),
                      names[1]: stats.bootstrap(b, n, resamples, seed=seed).to_dict()},
        "difference": difference.to_dict(), "tally": asdict(tally), "summary": summary,
    }
    if task.metric == "accuracy":
        test = stats.mcnemar([v > 0 for v in task.example_values(first)], [v > 0 for v in task.example_values(second)])
        compared["mcnemar"] = asdict(test)
        compared["summary"] += (f" McNemar's test on the {test.first_only + test.second_only} rows they disagree on: "
                                f"p = {test.p_value:.3g}.")
    return compared


def interval_text(interval: dict, scale: float = 1.0) -> str:
    """'0.790 (95% CI 0.764 to 0.815)': a metric with its interval, for tables."""
    digits = 1 if abs(interval["value"] * scale) >= 10 else 3
    return (f"{interval['value'] * scale:.{digits}f} ({interval['confidence']:.0%} CI "
            f"{interval['low'] * scale:.{digits}f} to {interval['high'] * scale:.{digits}f})")
