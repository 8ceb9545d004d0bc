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
