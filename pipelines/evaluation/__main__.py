"""Run an evaluation or a learning curve in this process: `python -m pipelines.evaluation JOB_DIR`.

The app starts this command detached (jobs.launch); the job's folder says what to do (config.json) and
receives the progress (status.json) and the result (result.json).
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path


def main(argv: list[str]) -> int:
    from pipelines.evaluation import curve, jobs, scoring

    if len(argv) != 1 or not (Path(argv[0]) / "config.json").is_file():
        print("usage: python -m pipelines.evaluation JOB_DIR (a folder with config.json)", file=sys.stderr)
        return 2
    job = jobs.JobFolder(Path(argv[0]).resolve())
    try:
        state = {"evaluation": scoring.run, "learning-curve": curve.run}[job.kind](job)
    except Exception as err:  # the folder says why; the traceback goes to process.log
        traceback.print_exc()
        message = str(err) if isinstance(err, ValueError) else f"{type(err).__name__}: {err}"
        job.write_status("failed", message)
        return 1
    return 0 if state in ("finished", "stopped") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
