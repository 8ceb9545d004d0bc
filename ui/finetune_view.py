"""What the Fine-tune tab shows of a run, read from its folder: status, progress, curves and results.

Plain functions from a RunFolder (or its log and result) to display values: tables as lists of rows,
curves as pandas frames for gr.LinePlot. Nothing here starts, stops or changes a run.
"""

from __future__ import annotations

import html
import time

import pandas as pd

from pipelines.finetune import RunFolder

STATE_TITLES = {"queued": "Queued", "running": "Training", "stopping": "Stopping", "finished": "✓ Finished",
                "failed": "✗ Failed", "stopped": "Stopped"}
LOSS_COLUMNS = ["step", "loss"]
METRIC_COLUMNS = ["epoch", "value", "metric"]
MODE_TITLES = {"full": "Full fine-tuning", "feature-extraction": "Feature extraction (backbone frozen)",
               "top-k": "Top-{k} layers"}
RUN_HEADERS = ["Run", "State", "Base model", "Dataset", "Mode", "Base acc.", "Fine-tuned acc.", "Macro-F1",
               "Model"]


def _last_start(log: list[dict]) -> dict:
    """The log's entry for the latest (re)start of the run; empty before training began."""
    return next((e for e in reversed(log) if e["type"] == "start"), {})


def progress(log: list[dict], now: float | None = None) -> dict:
    """Step, total steps, epoch, wall-clock time since (re)start and ETA from the log."""
    start = _last_start(log)
    step = next((e for e in reversed(log) if e["type"] == "step"), None)
    total = (step or start).get("total_steps")
    done = step["step"] if step else start.get("resumed_at_step", 0)
    # Wall-clock time, not the step entries' training time: evaluations and checkpoints between epochs
    # take real time too. A run that ended stops its clock at its last status change.
    ended = log[-1].get("state") in ("finished", "failed", "stopped") if log else False
    end = log[-1]["time"] if ended else (now or time.time())
    elapsed = max(0.0, end - start["time"]) if "time" in start else 0.0
    trained = done - start.get("resumed_at_step", 0)
    eta = elapsed / trained * (total - done) if trained > 0 and total and not ended else None
    return {"step": done, "total_steps": total, "epoch": step["epoch"] if step else 0.0,
            "epochs": start.get("epochs"), "elapsed_s": elapsed, "eta_s": eta,
            "samples_per_s": step["samples_per_s"] if step else None}


def run_settings(run: RunFolder, log: list[dict]) -> dict:
    """What the run was started with: after a reload the form shows the next run's settings, not these."""
    config, start = run.config, _last_start(log)
    return {"base_model": config.base_model, "dataset": config.effective_dataset_name, "mode": config.mode,
            "top_k_layers": config.top_k_layers if config.mode == "top-k" else None,
            "learning_rate": config.effective_learning_rate, "epochs": config.epochs, "batch_size": config.batch_size,
            "max_length": config.max_length, "seed": config.seed, "mixed_precision": config.mixed_precision,
            "mixed_precision_used": start.get("mixed_precision"), "logging_steps": config.logging_steps,
            "eval_steps": config.eval_steps, "train_rows": start.get("train_rows"),
            "held_out_rows": start.get("held_out_rows")}


def settings_markdown(settings: dict) -> str:
    """One line: how the watched run trains."""
    mode = MODE_TITLES[settings["mode"]].format(k=settings["top_k_layers"])
    rows = (f" ({settings['train_rows']} training rows, {settings['held_out_rows']} held out)"
            if settings["train_rows"] is not None else "")
    precision = settings["mixed_precision"]
    if settings["mixed_precision_used"] and settings["mixed_precision_used"] != precision:
        precision += f" (ran as {settings['mixed_precision_used']})"
    scored = (f"every {settings['eval_steps']} steps and after each epoch" if settings["eval_steps"]
              else "after each epoch")
    return (f"{mode} of `{settings['base_model']}` on {settings['dataset']}{rows}: learning rate "
            f"{settings['learning_rate']:g}, {settings['epochs']} epochs, batch {settings['batch_size']}, max length "
            f"{settings['max_length']}, seed {settings['seed']}, precision {precision}; held-out rows scored {scored}.")


def evaluations(log: list[dict]) -> list[dict]:
    """Held-out scores as training went: the base model first, then one per epoch."""
    return [{"model": e["model"], "epoch": e["epoch"], "step": e["step"], "accuracy": e["accuracy"],
             "macro_f1": e["f1"]} for e in log if e["type"] == "eval"]


def overview(run: RunFolder) -> dict:
    """Everything about a run that a script or the tab needs, as plain JSON (the /finetune_status API)."""
    return overview_and_log(run)[0]


def overview_and_log(run: RunFolder) -> tuple[dict, list[dict]]:
    """The overview and the log it was read from, for a view that also draws the log's curves: the log
    grows with every logged step and is read once a look, not twice."""
    status, log = run.status, run.read_log()
    result = run.result()
    info = {"run_id": run.id, "status": status.state, "message": status.message, "queue_position": status.position,
            "settings": run_settings(run, log), "progress": progress(log), "evaluations": evaluations(log),
            "result": result,
            "can_resume": status.state in ("stopped", "failed"), "model_name": (result or {}).get("registered_as")}
    return info, log


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}" if minutes >= 60 else f"{minutes}:{secs:02d}"


def status_markdown(info: dict) -> str:
    title = STATE_TITLES.get(info["status"], info["status"])
    message = info["message"].strip()
    if info["status"] == "failed" and "\n" in message:  # the log tail reads better as code
        first, _, tail = message.partition("\n")
        message = f"{first}\n```\n{tail}\n```"
    return f"**Run `{info['run_id']}`: {title}.** {message}\n\n{settings_markdown(info['settings'])}"


def progress_html(info: dict) -> str:
    """A progress bar with steps, epoch, elapsed time and ETA."""
    p = info["progress"]
    total, step = p["total_steps"], p["step"]
    if info["status"] == "finished" and total:
        step = total
    text = (f"step {step} / {total if total else '?'} · epoch {p['epoch']:.2f} / {p['epochs'] or '?'} · "
            f"elapsed {_clock(p['elapsed_s'])} · ETA {_clock(p['eta_s']) if info['status'] == 'running' else '–'}")
    if p["samples_per_s"]:
        text += f" · {p['samples_per_s']:.0f} samples/s"
    bar = f'<progress value="{step}" max="{total or 1}" style="width:100%;height:14px"></progress>'
    return f'<div id="finetune-progress-text">{bar}<div>{html.escape(text)}</div></div>'


def loss_frame(log: list[dict]) -> pd.DataFrame:
    rows = [[e["step"], e["loss"]] for e in log if e["type"] == "step"]
    # Typed even when empty: the plot keeps the axis types of its first frame, and an empty frame's
    # columns would otherwise be objects, drawn as categories.
    return pd.DataFrame(rows, columns=LOSS_COLUMNS).astype({"step": "int64", "loss": "float64"})


def metrics_frame(log: list[dict]) -> pd.DataFrame:
    """Held-out accuracy and macro-F1 per epoch (fractions of an epoch where the run also scored between
    epochs, `eval_steps`); the base model's scores at epoch 0."""
    rows = []
    for e in evaluations(log):
        rows += [[e["epoch"], e["accuracy"], "accuracy"], [e["epoch"], e["macro_f1"], "macro-F1"]]
    return pd.DataFrame(rows, columns=METRIC_COLUMNS).astype({"epoch": "float64", "value": "float64", "metric": "str"})


def comparison_rows(info: dict) -> list[list]:
    """Base vs fine-tuned on the same held-out rows; while training, the latest epoch's scores."""
    result = info["result"]
    if result and result.get("finetuned"):
        base, tuned = result["base"], result["finetuned"]
        rows = [["accuracy", base["accuracy"], tuned["accuracy"]], ["macro-F1", base["macro_f1"], tuned["macro_f1"]]]
        for b, t in zip(base["per_class"], tuned["per_class"]):
            rows += [[f"precision · {t['label']}", b["precision"], t["precision"]],
                     [f"recall · {t['label']}", b["recall"], t["recall"]]]
        return [[name, round(b, 4), round(t, 4)] for name, b, t in rows]
    evals = info["evaluations"]
    base = next((e for e in evals if e["model"] == "base"), None)
    tuned = next((e for e in reversed(evals) if e["model"] == "finetuned"), None)
    pick = lambda e, key: round(e[key], 4) if e else None  # noqa: E731
    return [["accuracy", pick(base, "accuracy"), pick(tuned, "accuracy")],
            ["macro-F1", pick(base, "macro_f1"), pick(tuned, "macro_f1")]] if base else []


def confusion_table(evaluation: dict | None) -> dict:
    """A confusion matrix as a small table: one row per true label, one column per predicted label."""
    if not evaluation:
        return {"headers": ["true \\ predicted"], "data": []}
    labels = evaluation["labels"]
    return {"headers": ["true \\ predicted", *labels],
            "data": [[label, *row] for label, row in zip(labels, evaluation["confusion_matrix"])]}


def misclassified_rows(result: dict | None) -> list[list]:
    tuned = (result or {}).get("finetuned") or {}
    return [[m["text"], m["label"], m["predicted"], m["confidence"]] for m in tuned.get("misclassified", [])]


BASE_HEAD_NOTES = {
    "new": "The **Base** column is the base checkpoint with a new, untrained classification head over your "
           "labels: it shows what the model knows before any training on your data (about chance). ",
    "kept": "The **Base** column is the base checkpoint with its own trained head (it already predicted "
            "exactly your labels): it shows how well it did on your data before fine-tuning. ",
}


def mistakes_note(result: dict) -> str:
    tuned = result.get("finetuned") or {}
    if "misclassified" not in tuned:
        return ""
    if not tuned["misclassified"]:
        return "It gets every held-out row right, so the table of mistakes is empty. "
    return "The table lists its held-out mistakes, the most confident first. "


def finished_note(result: dict | None) -> str:
    if not result:
        return ""
    saved = (f"The fine-tuned model is saved as **{result['registered_as']}** "
             f"({result['train_rows']:,} training rows, {result['held_out_rows']:,} held out, "
             f"{result['training_time_s']:.0f} s, {result['samples_per_s']:.0f} samples/s, "
             f"precision {result['mixed_precision']}). It is now in the **Sentiment** tab's model picker under "
             "that name (opening the tab refreshes its list); the download button holds the same "
             "`save_pretrained` folder with its model card.")
    return BASE_HEAD_NOTES.get(result.get("base_head"), "") + mistakes_note(result) + saved


def run_rows(summaries) -> list[list]:
    fmt = lambda v: round(v, 4) if v is not None else None  # noqa: E731
    return [[s.id, s.state, s.base_model, s.dataset, s.mode, fmt(s.base_accuracy), fmt(s.accuracy),
             fmt(s.macro_f1), s.model_name or ""] for s in summaries]
