"""Starting, resuming and stopping training processes: a run's config checked up front, its folder
created (runs.py), and `accelerate launch -m pipelines.finetune` started detached from the web server.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

from pipelines.finetune import data, tasks
from pipelines.finetune.config import FinetuneConfig
from pipelines.finetune.runs import ACTIVE, RunFolder, create_runs
from pipelines.runtime import settings


def check_config(config: FinetuneConfig) -> None:
    """Everything that can be checked before training: the data file and the base model."""
    from pipelines.finetune.model import resolve_base  # imports transformers: only when starting

    task = tasks.for_config(config)
    data.load_rows(Path(config.data_file), task, config.columns)
    if config.base_from_run is None:
        task.check_base(resolve_base(config.base_model).spec)
    accelerate_config_file(config)


def start_run(config: FinetuneConfig, owner: str | None = None) -> RunFolder:
    """Validate, create the run folder, and launch training in its own process; returns at once."""
    return start_runs([config], owner)[0]


def start_runs(configs: list[FinetuneConfig], owner: str | None = None) -> list[RunFolder]:
    """`start_run` for several runs at once (a chain, see create_runs); they train in this order."""
    from pipelines.evaluation.jobs import check_job_limit

    check_job_limit(owner)  # the configs are one run, or one chain
    for config in configs:
        check_config(config)
    runs = create_runs(configs, owner)
    for run in runs:
        _launch(run, [str(run.config_file)])
    return runs


def resume_run(run: RunFolder) -> RunFolder:
    """Continue a stopped or failed run from its last checkpoint (or from the start if it has none)."""
    state = run.status.state
    if state in ("queued", "running", "stopping"):
        raise ValueError(f"Run {run.id} is {state}; it can be resumed once it has stopped.")
    if state == "finished":
        raise ValueError(f"Run {run.id} has finished; start a new run to train again.")
    run.stop_file.unlink(missing_ok=True)
    run.launcher_pid_file.unlink(missing_ok=True)  # the last launcher is dead: it must not mark this one failed
    run.write_status("queued", queued_at=time.time(), pid=None)
    _launch(run, ["--resume", str(run.path)])
    return run


def request_stop(run: RunFolder) -> None:
    """Ask the run to end cleanly: it saves a checkpoint after the current step (or leaves the queue)."""
    if run.status.state in ACTIVE:
        run.stop_file.touch()


def launch_command(args: list[str], accelerate_config: str | None = None) -> list[str]:
    """`accelerate launch` of this package with this interpreter; plain python if accelerate is missing.

    With an Accelerate config file (`accelerate config` writes one) the same run goes to several
    GPUs, FSDP or several CPU processes; without, one process on this machine.
    """
    if importlib.util.find_spec("accelerate") is None:
        return [sys.executable, "-m", "pipelines.finetune", *args]
    launch = [sys.executable, "-m", "accelerate.commands.accelerate_cli", "launch"]
    if accelerate_config:
        return [*launch, "--config_file", accelerate_config, "-m", "pipelines.finetune", *args]
    return [*launch, "--num_processes", "1", "--num_machines", "1", "--dynamo_backend", "no",
            "-m", "pipelines.finetune", *args]


def accelerate_config_file(config: FinetuneConfig) -> str | None:
    """The run's Accelerate config: its own setting, else STUDIO_ACCELERATE_CONFIG; checked to exist."""
    path = config.accelerate_config or os.environ.get("STUDIO_ACCELERATE_CONFIG") or None
    if path is not None and not Path(path).expanduser().is_file():
        raise ValueError(f"The Accelerate config file '{path}' does not exist. Write one with "
                         "`accelerate config`, or leave the setting empty for one process on this machine.")
    return str(Path(path).expanduser()) if path else None


# glibc's malloc maps every large block afresh and returns freed heap tops to the system, so each
# training step faults in and zeroes its activations' pages again (4,900-12,000 page faults a MiniLM
# step here). These settings of glibc's own keep freed memory for the next step: a step 1.04x as fast
# (docs/experiments.md). Other C libraries ignore them; a value the user set wins.
TRAINING_MALLOC_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}


def _launch(run: RunFolder, args: list[str]) -> None:
    env = {**TRAINING_MALLOC_ENV, **os.environ, "STUDIO_HOME": str(settings.studio_home()),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(settings.REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    command = launch_command(args, accelerate_config_file(run.config))
    with run.process_log.open("ab") as log:
        process = subprocess.Popen(command, cwd=settings.REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    run.launcher_pid_file.write_text(str(process.pid))
