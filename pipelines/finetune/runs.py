"""Run folders: what a fine-tuning run is on disk, listing runs, and creating their folders.

A run is a folder under ``$STUDIO_HOME/runs/<run id>/``; everything about it is on disk, so any page,
browser or restarted app reattaches to it by reading the folder:

    config.json    the FinetuneConfig it runs with (data_file points at data/)
    data/          a copy of the uploaded file; the upload itself is never touched
    status.json    {"state", "message", "pid", "queued_at", "updated"}; see RunStatus
    log.jsonl      one typed entry per line (finetune/log.py): start, step, eval, status
    checkpoints/   last/: accelerator.save_state, with the step counter; what --resume continues from
    model/         the final save_pretrained folder with its model card (README.md)
    result.json    {"task", "metric", "base", "fine_tuned", "examples", ...}: base vs fine-tuned on
                   the same held-out rows, the same shape for every task
    stop           present when a stop was requested; the training loop checks for it between steps
    process.log    the training process's stdout and stderr
    launcher.pid   the `accelerate launch` process started by start_run

Training never runs in the web server: launch.py starts `accelerate launch -m pipelines.finetune`
as a detached process. One run trains at a time per machine; the others wait in a queue (run_queue.py).
"""

from __future__ import annotations

import json
import os
import secrets
import time
import zipfile
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

from pipelines.finetune import data, run_queue, tasks
from pipelines.finetune.config import FinetuneConfig
from pipelines.finetune.log import Entry, StatusEntry, from_line, to_line
from pipelines.runtime import owners, settings

# "interrupted": recorded as queued or running, but its process is gone (killed, out of memory, the machine
# restarted); it resumes from its last checkpoint like a stopped run.
STATES = ("queued", "running", "stopping", "finished", "failed", "stopped", "interrupted")
ACTIVE = ("queued", "running")  # states that need a live process behind them
LOG_TAIL_LINES = 15


@dataclass(frozen=True)
class RunStatus:
    state: str  # one of STATES
    message: str = ""  # why it failed or stopped, or where it stands in the queue
    position: int | None = None  # queued: how many runs are ahead of this one
    pid: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RunFolder:
    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    config_file = property(lambda self: self.path / "config.json")
    data_dir = property(lambda self: self.path / "data")
    status_file = property(lambda self: self.path / "status.json")
    log_file = property(lambda self: self.path / "log.jsonl")
    checkpoint_dir = property(lambda self: self.path / "checkpoints" / "last")
    model_dir = property(lambda self: self.path / "model")
    result_file = property(lambda self: self.path / "result.json")
    stop_file = property(lambda self: self.path / "stop")
    process_log = property(lambda self: self.path / "process.log")
    launcher_pid_file = property(lambda self: self.path / "launcher.pid")

    @cached_property
    def config(self) -> FinetuneConfig:
        return FinetuneConfig.from_json(self.config_file)

    @property
    def status(self) -> RunStatus:
        """The state as the UI should show it: a dead process is 'interrupted' (with the end of its log),
        a running one asked to stop is 'stopping', a queued one says how many runs are ahead."""
        raw, state = self.read_status(), self.live_state()
        pid = raw.get("pid")
        if state == "interrupted":
            where = ("resume continues from its last checkpoint" if self.has_checkpoint else
                     "it had saved no checkpoint yet, so resume starts it again")
            return RunStatus("interrupted", f"The training process ended unexpectedly (killed, out of memory, or the "
                             f"machine restarted); {where}. Last lines of its log:\n" + self.log_tail(), pid=pid)
        if state == "stopping":
            return RunStatus("stopping", "Stopping after the current step; the checkpoint is kept.", pid=pid)
        if state == "queued":
            ahead = run_queue.runs_ahead(self, list_run_folders())
            return RunStatus("queued", f"Waiting for {ahead} run(s) to finish first." if ahead else
                             "Starting.", position=ahead, pid=pid)
        return RunStatus(state, raw.get("message", ""), pid=pid)

    def live_state(self) -> str:
        """The recorded state, corrected by what is true now: its process died, or a stop is pending."""
        raw = self.read_status()
        state = raw.get("state", "queued")
        if state in ACTIVE and not self._process_alive(raw):
            return "interrupted"
        if state == "running" and self.stop_requested():
            return "stopping"
        return state

    def read_status(self) -> dict:
        try:
            return json.loads(self.status_file.read_text())
        except (OSError, ValueError):
            return {}

    def write_status(self, state: str, message: str = "", **fields) -> None:
        """Update status.json in one atomic step (readers never see half a file) and log the change."""
        values = {**self.read_status(), **fields, "state": state, "message": message, "updated": time.time()}
        tmp = self.status_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(values))
        os.replace(tmp, self.status_file)
        self.append_log(StatusEntry(state=state, message=message, time=values["updated"]))

    def append_log(self, entry: Entry) -> None:
        with self.log_file.open("a") as log:  # one write per line, so a reader sees whole lines
            log.write(to_line(entry))

    def read_log(self) -> list[Entry]:
        """Every complete line of log.jsonl; a line still being written is left for the next read."""
        if not self.log_file.is_file():
            return []
        lines = self.log_file.read_text().split("\n")[:-1]
        return [entry for entry in map(from_line, filter(str.strip, lines)) if entry is not None]

    def result(self) -> dict | None:
        return json.loads(self.result_file.read_text()) if self.result_file.is_file() else None

    def stop_requested(self) -> bool:
        return self.stop_file.exists()

    @property
    def has_checkpoint(self) -> bool:
        return (self.checkpoint_dir / "progress.json").is_file()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        if not self.process_log.is_file():
            return "(no process log)"
        return "\n".join(self.process_log.read_text(errors="replace").splitlines()[-lines:])

    def _process_alive(self, raw: dict) -> bool:
        pids = [p for p in (raw.get("pid"), _read_int(self.launcher_pid_file)) if p]
        if not pids:  # created but not launched yet; a minute later nothing will launch it any more
            return time.time() - raw.get("updated", 0.0) < 60
        return any(run_queue.process_alive(p) for p in pids)


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def list_run_folders() -> list[RunFolder]:
    """Every run, newest first (run ids start with their creation time)."""
    folders = (p for p in settings.runs_dir().iterdir() if (p / "config.json").is_file())
    return [RunFolder(p) for p in sorted(folders, key=lambda p: p.name, reverse=True)]


def find_run(run_id: str, owner: str | None = None) -> RunFolder:
    """The run with this id, or a ValueError the user can act on (an id is a folder name, never a path).
    Another visitor's run is answered as if it did not exist (runtime/owners.py)."""
    run_id = (run_id or "").strip()
    folder = owners.visible_folder(settings.runs_dir(), run_id, owner)
    if folder is None:
        raise ValueError(f"There is no fine-tuning run {owners.named_in_message(run_id)} in {settings.runs_dir()}; "
                         "pick one under Past runs.")
    return RunFolder(folder)


@dataclass(frozen=True)
class RunSummary:
    """One row of the runs table."""

    id: str
    state: str
    message: str
    task: str
    base_model: str
    dataset: str
    mode: str
    metric: str  # the task's headline metric
    base_score: float | None
    score: float | None  # the fine-tuned model's, on the same held-out rows
    model_name: str | None  # the registered model, as the pickers show it
    chain: str | None

    def to_dict(self) -> dict:
        return asdict(self)


def list_runs(owner: str | None = None) -> list[RunSummary]:
    """The runs `owner` may see, newest first."""
    summaries = []
    for run in (r for r in list_run_folders() if owners.can_see(r.path, owner)):
        try:
            config = run.config
        except ValueError:  # a config this version cannot read: not listed rather than breaking the list
            continue
        status, result, metric = run.status, run.result() or {}, tasks.for_config(config).metric
        summaries.append(RunSummary(
            id=run.id, state=status.state, message=status.message, task=config.task,
            base_model=result.get("base_model") or base_reference(config, must_exist=False),
            dataset=config.effective_dataset_name, mode=config.mode, metric=metric,
            base_score=(result.get("base") or {}).get(metric), score=(result.get("fine_tuned") or {}).get(metric),
            model_name=result.get("registered_as"), chain=config.chain))
    return summaries


def base_reference(config: FinetuneConfig, must_exist: bool = True) -> str:
    """The model a run starts from: its base_model, or the model the run it builds on registered."""
    if config.base_from_run is None:
        return config.base_model
    if not must_exist:
        return f"the model of run {config.base_from_run}"
    earlier = find_run(config.base_from_run)
    registered = (earlier.result() or {}).get("registered_as")
    if registered is None:
        raise ValueError(f"This run starts from the model of run {earlier.id}, which is "
                         f"{earlier.status.state}, not finished: it has no model to start from.")
    return registered


def create_run(config: FinetuneConfig, owner: str | None = None) -> RunFolder:
    """A new run folder holding the config and its own copy of the data file. A folder that cannot be
    written whole (no permission, a full disk) is removed again: nothing half-written is left to look
    like a run, and the ValueError says what to fix."""
    run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)
    # the owner is written first: the run is never listed without it
    with owners.new_folder(settings.studio_home() / "runs" / run_id, owner, "a run folder") as path:
        run = RunFolder(path)
        copy = data.copy_into(Path(config.data_file), run.data_dir)
        config.with_changes(data_file=str(copy), dataset_name=config.effective_dataset_name).to_json(run.config_file)
        run.write_status("queued", queued_at=time.time())
    return run


def create_runs(configs: list[FinetuneConfig], owner: str | None = None) -> list[RunFolder]:
    """Runs created in order. A config whose base_from_run names the chain_role of an earlier config
    in the list starts from that run's model (a chain: adapt, then fine-tune the adapted model)."""
    created, by_role = [], {}
    for config in configs:
        if config.base_from_run in by_role:
            config = config.with_changes(base_from_run=by_role[config.base_from_run])
        created.append(create_run(config, owner))
        if config.chain_role:
            by_role[config.chain_role] = created[-1].id
    return created


def run_for_config_file(path: Path) -> RunFolder:
    """The run a config file belongs to: its own folder when it is a run's config.json (what start_run
    launches), else a new run for it."""
    path = Path(path).resolve()
    if path.name == "config.json" and path.parent.parent == settings.runs_dir():
        return RunFolder(path.parent)
    return create_run(FinetuneConfig.from_json(path))


def export_zip(run: RunFolder) -> Path:
    """A zip of the run's final model folder (weights, tokenizer, model card), for download."""
    if not (run.model_dir / "config.json").is_file():
        raise ValueError(f"Run {run.id} has no final model yet: it has to finish first.")
    name = (run.result() or {}).get("registered_as") or run.id
    target = run.path / f"{name}.zip"
    if not target.is_file():
        tmp = target.with_suffix(".partial")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(run.model_dir.rglob("*")):
                if file.is_file():
                    archive.write(file, f"{name}/{file.relative_to(run.model_dir)}")
        os.replace(tmp, target)
    return target
