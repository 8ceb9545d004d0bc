"""Where a run stands, as plain JSON: what /finetune_status returns and the Fine-tune tab draws.

Read from the run folder alone (status, typed log, config, result), so any browser, script or
restarted app gets the same answer. Nothing here starts, stops or changes a run.
"""

from __future__ import annotations

import time

from pipelines.finetune import tasks
from pipelines.finetune.adaptation import ROLES
from pipelines.finetune.log import Entry, EvalEntry, StartEntry, StatusEntry, StepEntry, last_start
from pipelines.finetune.runs import RunFolder, base_reference, list_run_folders

ENDED = ("finished", "failed", "stopped")


def overview(run: RunFolder, log: list[Entry] | None = None) -> dict:
    """Everything about a run a script or the tab needs: state, settings, progress, scores so far,
    the result once finished, and the other runs of its chain (domain adaptation)."""
    log = run.read_log() if log is None else log
    status, result, config = run.status, run.result(), run.config
    task = tasks.for_config(config)
    return {"run_id": run.id, "task": config.task, "title": task.title, "purpose": getattr(task, "purpose", None),
            "metric": task.metric, "higher_is_better": task.higher_is_better,
            "curve_metrics": list(task.curve_metrics),
            "curve_range": list(task.curve_range) if task.curve_range else None,
            "shows_up_in": task.shows_up_in,
            "status": status.state, "message": status.message, "queue_position": status.position,
            "settings": settings(run, log), "progress": progress(log), "evaluations": evaluations(log),
            "warnings": start.warnings if (start := last_start(log)) else [],
            "result": result, "can_resume": status.state in ("stopped", "failed", "interrupted"),
            "model_name": (result or {}).get("registered_as"), "chain": chain(run)}


def progress(log: list[Entry], now: float | None = None) -> dict:
    """Step, total steps, epoch, wall-clock time since the (re)start and the ETA."""
    start = last_start(log)
    step = next((e for e in reversed(log) if isinstance(e, StepEntry)), None)
    total = step.total_steps if step else start.total_steps if start else None
    resumed_at = start.resumed_at_step if start else 0
    done = step.step if step else resumed_at
    # Wall-clock time, not the step entries' training time: evaluations and checkpoints between epochs
    # take real time too. A run that ended stops its clock at its last status change.
    ended = bool(log) and isinstance(log[-1], StatusEntry) and log[-1].state in ENDED
    end = log[-1].time if ended else (now or time.time())
    elapsed = max(0.0, end - start.time) if start else 0.0
    trained = done - resumed_at
    eta = elapsed / trained * (total - done) if trained > 0 and total and not ended else None
    return {"step": done, "total_steps": total, "epoch": step.epoch if step else 0.0,
            "epochs": start.epochs if start else None, "elapsed_s": elapsed, "eta_s": eta,
            "samples_per_s": step.samples_per_s if step else None}


def settings(run: RunFolder, log: list[Entry]) -> dict:
    """What the run was started with: after a reload the form shows the next run's settings, not these."""
    config, start = run.config, last_start(log)
    return {"task": config.task, "title": tasks.for_config(config).title, "purpose": config.purpose,
            "base_model": base_reference(config, must_exist=False),
            "dataset": config.effective_dataset_name, "columns": config.columns, "mode": config.mode,
            "lora": {"r": config.lora_r, "alpha": config.lora_alpha, "dropout": config.lora_dropout,
                     "target_modules": config.lora_target_modules} if config.lora else None,
            "top_k_layers": config.top_k_layers if config.mode == "top-k" else None,
            "learning_rate": config.effective_learning_rate, "epochs": config.epochs,
            "batch_size": config.batch_size, "max_length": _max_length(config, start), "seed": config.seed,
            "mixed_precision": config.mixed_precision,
            "mixed_precision_used": start.mixed_precision if start else None,
            "processes": start.processes if start else None, "logging_steps": config.logging_steps,
            "eval_steps": config.eval_steps, "train_rows": start.train_rows if start else None,
            "held_out_rows": start.held_out_rows if start else None}


def _max_length(config, start: StartEntry | None) -> int | None:
    """What the run reads: the task's default when the config leaves it open, once training started."""
    return (start.facts.get("max_length") if start else None) or config.max_length


def evaluations(log: list[Entry]) -> list[dict]:
    """Held-out scores as training went: the base model first, then the model being fine-tuned."""
    return [{"model": e.model, "epoch": e.epoch, "step": e.step, "metrics": e.metrics}
            for e in log if isinstance(e, EvalEntry)]


def losses(log: list[Entry]) -> list[tuple[int, float]]:
    return [(e.step, e.loss) for e in log if isinstance(e, StepEntry)]


def chain(run: RunFolder) -> list[dict]:
    """The runs started together with this one (adapt, adapted then fine-tuned, fine-tuned from the
    base), each with its role, state and headline scores; empty for a run of its own."""
    chain_id = run.config.chain
    if chain_id is None:
        return []
    members = [r for r in list_run_folders() if _chain_of(r) == chain_id]
    order = {role: i for i, role in enumerate(ROLES)}
    rows = []
    for member in sorted(members, key=lambda r: (order.get(r.config.chain_role, len(order)), r.id)):
        result, config = member.result() or {}, member.config
        metric = tasks.for_config(config).metric
        rows.append({"run_id": member.id, "role": config.chain_role, "task": config.task,
                     "state": member.status.state, "metric": metric,
                     "base": (result.get("base") or {}).get(metric),
                     "fine_tuned": (result.get("fine_tuned") or {}).get(metric),
                     "model_name": result.get("registered_as")})
    return rows


def _chain_of(run: RunFolder) -> str | None:
    try:
        return run.config.chain
    except ValueError:
        return None
