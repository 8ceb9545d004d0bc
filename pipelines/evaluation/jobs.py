"""Background jobs besides training runs: evaluations and learning curves, each a folder on disk.

    $STUDIO_HOME/evaluations/<id>/   an evaluation: several models scored on the same labelled rows
    $STUDIO_HOME/curves/<id>/        a learning curve: pretrained vs from-scratch on growing subsets

Like a run (finetune/runs.py), everything about a job is in its folder, so any page reattaches to it:

    config.json    what to do (kind, task, data, models or sizes, the FinetuneConfig it builds on)
    data/          a copy of the uploaded file (or nothing: a past run's own copy is read)
    status.json    {"state", "message", "pid", "done", "total", "updated"}
    result.json    written once, at the end
    points/        a learning curve's small training runs, one run folder each
    stop           present when a stop was requested (checked between models, points and steps)
    process.log    the job process's stdout and stderr (process.pid: its process id)

A job runs in its own process (`python -m pipelines.evaluation JOB_DIR`), never in the web server.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pipelines.finetune import data, run_queue
from pipelines.runtime import owners, settings

KINDS = {"evaluation": "evaluations", "learning-curve": "curves"}  # kind -> folder under STUDIO_HOME
PREFIXES = {"evaluation": "eval", "learning-curve": "curve"}
ACTIVE = ("queued", "running")
LOG_TAIL_LINES = 15


def write_json(path: Path, value, indent: int | None = None) -> None:
    """Whole or not at all: a reader (the app's poll) never sees half a file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=indent) + "\n")
    os.replace(tmp, path)


@dataclass(frozen=True)
class JobFolder:
    path: Path

    id = property(lambda self: self.path.name)
    config_file = property(lambda self: self.path / "config.json")
    data_dir = property(lambda self: self.path / "data")
    status_file = property(lambda self: self.path / "status.json")
    result_file = property(lambda self: self.path / "result.json")
    stop_file = property(lambda self: self.path / "stop")
    process_log = property(lambda self: self.path / "process.log")
    points_dir = property(lambda self: self.path / "points")
    pid_file = property(lambda self: self.path / "process.pid")

    @property
    def config(self) -> dict:
        return json.loads(self.config_file.read_text())

    @property
    def kind(self) -> str:
        return self.config["kind"]

    def read_status(self) -> dict:
        try:
            return json.loads(self.status_file.read_text())
        except (OSError, ValueError):
            return {}

    def write_status(self, state: str, message: str = "", **fields) -> None:
        values = {**self.read_status(), **fields, "state": state, "message": message, "updated": time.time()}
        write_json(self.status_file, values)

    def status(self) -> dict:
        """status.json as the UI should show it: a job whose process died is 'failed', with its log's end."""
        raw = self.read_status()
        state = raw.get("state", "queued")
        if state in ACTIVE and not self._alive(raw):
            return {**raw, "state": "interrupted", "message": "The job's process ended unexpectedly (killed, out of "
                    "memory, or the machine restarted). Last lines of its log:\n" + self.log_tail()}
        if state == "running" and self.stop_requested():
            return {**raw, "state": "stopping", "message": "Stopping after the current step."}
        return {**raw, "state": state}

    def result(self) -> dict | None:
        return json.loads(self.result_file.read_text()) if self.result_file.is_file() else None

    def write_result(self, result: dict) -> None:
        write_json(self.result_file, result, indent=1)

    def stop_requested(self) -> bool:
        return self.stop_file.exists()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        if not self.process_log.is_file():
            return "(no process log)"
        return "\n".join(self.process_log.read_text(errors="replace").splitlines()[-lines:])

    def _alive(self, raw: dict) -> bool:
        pid = raw.get("pid") or _read_int(self.pid_file)
        if not pid:  # created, not started yet; a minute later nothing will start it any more
            return time.time() - raw.get("updated", 0.0) < 60
        return run_queue.process_alive(pid)


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def jobs_dir(kind: str) -> Path:
    path = settings.studio_home() / KINDS[kind]
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_job_limit(owner: str | None) -> None:
    """A ValueError naming the limit when `owner` already has STUDIO_MAX_JOBS runs, evaluations and learning
    curves queued or running (the command line, owner None, has no limit). A chain of runs (adapt, then
    fine-tune: one click, one run training at a time) counts once."""
    from pipelines.finetune.runs import ACTIVE as RUN_ACTIVE, list_run_folders

    if owner is None or settings.shared_workspace():
        return
    active = len({_chain_or_id(run) for run in list_run_folders()
                  if owners.read_owner(run.path) == owner and run.live_state() in RUN_ACTIVE})
    active += sum(1 for kind in KINDS for job in list_jobs(kind, owner)
                  if owners.read_owner(job.path) == owner and job.status()["state"] in ACTIVE)
    limit = settings.max_jobs_per_owner()
    if active >= limit:
        raise ValueError(f"You have {active} run(s) or evaluation(s) queued or running; the limit is {limit} at a "
                         "time (STUDIO_MAX_JOBS). Wait for one to finish, or stop one, then start again.")


def _chain_or_id(run) -> str:
    try:
        return run.config.chain or run.id
    except ValueError:  # a config this version cannot read: counted on its own
        return run.id


def create_job(kind: str, config: dict, data_file: Path | None = None, owner: str | None = None) -> JobFolder:
    """A new job folder with its config (and its own copy of the data file, when one was uploaded)."""
    job_id = f"{PREFIXES[kind]}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    check_job_limit(owner)
    with owners.new_folder(settings.studio_home() / KINDS[kind] / job_id, owner) as path:
        job = JobFolder(path)
        config = {**config, "kind": kind}
        if data_file is not None:
            config["finetune_config"] = {**config["finetune_config"],
                                         "data_file": str(data.copy_into(Path(data_file), job.data_dir))}
        job.config_file.write_text(json.dumps(config, indent=1) + "\n")
        job.write_status("queued", "Starting.")
    return job


def launch(job: JobFolder) -> JobFolder:
    """Start the job's own process, detached from the web server; returns at once."""
    env = {**os.environ, "STUDIO_HOME": str(settings.studio_home()),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(settings.REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    with job.process_log.open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "pipelines.evaluation", str(job.path)],
                                   cwd=settings.REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    job.pid_file.write_text(str(process.pid))  # its own file: the process may already be writing status.json
    return job


def find_job(kind: str, job_id: str, owner: str | None = None) -> JobFolder:
    """The job with this id, or a ValueError the user can act on (an id is a folder name, never a path);
    another visitor's job is answered as if it did not exist."""
    job_id = (job_id or "").strip()
    folder = owners.visible_folder(jobs_dir(kind), job_id, owner)
    if folder is None:
        what = "evaluation" if kind == "evaluation" else "learning curve"
        raise ValueError(f"There is no {what} {owners.named_in_message(job_id)}; pick one from the list of past ones.")
    return JobFolder(folder)


def list_jobs(kind: str, owner: str | None = None) -> list[JobFolder]:
    """The jobs of this kind `owner` may see, newest first."""
    folders = (p for p in jobs_dir(kind).iterdir() if (p / "config.json").is_file() and owners.can_see(p, owner))
    return [JobFolder(p) for p in sorted(folders, key=lambda p: p.name, reverse=True)]


def request_stop(job: JobFolder) -> None:
    """Ask the job to end: between models or points, and a learning curve's point after its current step."""
    if job.status()["state"] in ACTIVE:
        job.stop_file.touch()
        for point in job.points_dir.glob("*/config.json"):
            if not (point.parent / "result.json").is_file():
                (point.parent / "stop").touch()


def continue_job(job: JobFolder) -> JobFolder:
    """Start a stopped or failed job again: a learning curve keeps the points it finished."""
    state = job.status()["state"]
    if state not in ("stopped", "failed", "interrupted"):
        raise ValueError(f"'{job.id}' is {state}; only a stopped, failed or interrupted job can be started again.")
    job.stop_file.unlink(missing_ok=True)
    for stop in job.points_dir.glob("*/stop"):
        stop.unlink()
    job.pid_file.unlink(missing_ok=True)
    job.write_status("queued", "Starting again.", pid=None)
    return launch(job)
