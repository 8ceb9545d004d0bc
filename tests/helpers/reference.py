"""Run a snippet under transformers 4.57 (the `.venv-ref` environment) and get its JSON result back.

transformers 5 dropped the question-answering, summarization and translation pipelines; 4.57 still
has them, so it is the reference our own pipelines are compared with on the same checkpoint and input.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REF_PYTHON = Path(__file__).resolve().parents[2] / ".venv-ref" / "bin" / "python"


def run_reference(script: str, payload: dict, timeout_s: float = 300) -> dict:
    """Execute `script` with the reference Python; it reads `payload` as JSON from stdin and must
    print one JSON document as its last line of stdout."""
    if not REF_PYTHON.exists():
        pytest.fail(f"{REF_PYTHON} is missing: run `make test` (it builds the reference environment).")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error", PYTHONWARNINGS="ignore")
    done = subprocess.run([str(REF_PYTHON), "-c", script], input=json.dumps(payload), env=env,
                          capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        pytest.fail(f"reference run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
