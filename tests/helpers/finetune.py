"""What the fine-tuning tests share: the command line run as a user runs it, waiting, reading losses."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.finetune.runs import RunFolder
from pipelines.finetune.status import losses as logged_losses
from pipelines.runtime import settings


def run_cli(*args, env: dict | None = None) -> tuple[RunFolder, str]:
    """`python -m pipelines.finetune ARGS` in a fresh process; the (last) run it made, and its stdout."""
    done = subprocess.run([sys.executable, "-m", "pipelines.finetune", *map(str, args)], cwd=settings.REPO_ROOT,
                          capture_output=True, text=True, timeout=900, env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    folders = [line.split(": ", 1)[1] for line in done.stdout.splitlines() if line.startswith("Run folder: ")]
    return RunFolder(Path(folders[-1])), done.stdout


def wait_until(condition, timeout_s=300.0, what="condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


def losses(run: RunFolder) -> dict[int, float]:
    """Step -> logged training loss."""
    return dict(logged_losses(run.read_log()))


def check_comparison(result: dict, improved: bool) -> dict:
    """The paired base-vs-fine-tuned comparison of a result agrees with its own metrics: each interval's
    value is the metric on all rows, the difference is theirs, rows won, lost and tied add up; `improved`:
    the difference's interval lies clear of 0 on the good side and the words say "better"."""
    comparison, metric = result["comparison"], result["metric"]
    assert comparison["metric"] == metric and comparison["rows"] == result["held_out_rows"]
    base, tuned = comparison["intervals"]["base"], comparison["intervals"]["fine-tuned"]
    # the pooled statistic recomputes the headline metric from the examples' parts (rounded to 4 places)
    assert base["value"] == pytest.approx(result["base"][metric], rel=1e-3, abs=1e-3)
    assert tuned["value"] == pytest.approx(result["fine_tuned"][metric], rel=1e-3, abs=1e-3)
    difference = comparison["difference"]
    assert difference["value"] == pytest.approx(tuned["value"] - base["value"], abs=1e-9)
    for interval in (base, tuned, difference):
        assert interval["low"] <= interval["value"] <= interval["high"]
    tally = comparison["tally"]
    assert tally["wins"] + tally["losses"] + tally["ties"] == result["held_out_rows"]
    if improved:
        good_side = difference["low"] > 0 if result["higher_is_better"] else difference["high"] < 0
        assert good_side, difference
        assert comparison["summary"].startswith("Fine-tuned is better than base by"), comparison["summary"]
    return comparison
