"""What the Fine-tune tab shows of a run: display values from `pipelines.finetune.status.overview`.

Plain functions from the overview (and the run's log) to what the components take: markdown, tables
as lists of rows, curves as pandas frames for gr.LinePlot. The numbers come from the pipelines.
"""

from __future__ import annotations

import html

import pandas as pd

from pipelines.evaluation.compare import interval_text
from pipelines.finetune import adaptation, status
from pipelines.finetune.tasks.generative import truncation_note

STATE_TITLES = {"queued": "Queued", "running": "Training", "stopping": "Stopping", "finished": "✓ Finished",
                "failed": "✗ Failed", "stopped": "Stopped",
                "interrupted": "⚠ Interrupted"}
LOSS_COLUMNS = ["step", "loss"]
METRIC_COLUMNS = ["epoch", "value", "metric"]
MODE_TITLES = {"full": "Full fine-tuning", "feature-extraction": "Feature extraction (backbone frozen)",
               "top-k": "Top-{k} layers"}
RUN_HEADERS = ["Run", "State", "Task", "Base model", "Dataset", "Mode", "Metric", "Base", "Fine-tuned", "Model"]
EXAMPLE_HEADERS = ["Input", "Reference", "Base", "Fine-tuned"]
CHAIN_HEADERS = ["Metric (held-out)", "Base, untrained head", "Fine-tuned from the base", "Adapted, then fine-tuned"]
BASE_NOTES = {
    "new": "The **Base** column is the base checkpoint with a new, untrained head: what the model does before "
           "any training on your data. ",
    "kept": "The **Base** column is the base checkpoint with its own trained head (it already predicted exactly "
            "your labels): how well it did on your data before fine-tuning. ",
}


def settings_markdown(settings: dict) -> str:
    """One line: how the watched run trains."""
    mode = MODE_TITLES[settings["mode"]].format(k=settings["top_k_layers"]).lower()
    if settings["lora"]:
        mode = f"LoRA (rank {settings['lora']['r']}, alpha {settings['lora']['alpha']})"
    rows = (f" ({settings['train_rows']} training rows, {settings['held_out_rows']} held out)"
            if settings["train_rows"] is not None else "")
    precision = settings["mixed_precision"]
    if settings["mixed_precision_used"] and settings["mixed_precision_used"] != precision:
        precision += f" (ran as {settings['mixed_precision_used']})"
    scored = (f"every {settings['eval_steps']} steps and after each epoch" if settings["eval_steps"]
              else "after each epoch")
    processes = f", {settings['processes']} processes" if (settings["processes"] or 1) > 1 else ""
    return (f"{settings['title']}: {mode} of `{settings['base_model']}` on "
            f"{settings['dataset']}{rows}: learning rate {settings['learning_rate']:g}, {settings['epochs']} epochs, "
            f"batch {settings['batch_size']}, max length {settings['max_length'] or 'the task default'}, seed "
            f"{settings['seed']}, precision {precision}{processes}; held-out rows scored {scored}.")


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}" if minutes >= 60 else f"{minutes}:{secs:02d}"


def status_markdown(info: dict) -> str:
    title = STATE_TITLES.get(info["status"], info["status"])
    message = info["message"].strip()
    if info["status"] in ("failed", "interrupted") and "\n" in message:  # the log tail reads better as code
        first, _, tail = message.partition("\n")
        message = f"{first}\n```\n{tail}\n```"
    warnings = "".join(f"\n\n⚠️ {w}" for w in info["warnings"])
    return f"**Run `{info['run_id']}`: {title}.** {message}{warnings}\n\n{settings_markdown(info['settings'])}"


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


def loss_frame(log: list) -> pd.DataFrame:
    # Typed even when empty: the plot keeps the axis types of its first frame, and an empty frame's
    # columns would otherwise be objects, drawn as categories.
    return pd.DataFrame(status.losses(log), columns=LOSS_COLUMNS).astype({"step": "int64", "loss": "float64"})


def metrics_frame(info: dict) -> pd.DataFrame:
    """The task's curve metrics per epoch (fractions of an epoch where the run also scored between
    epochs, `eval_steps`); the base model's scores at epoch 0."""
    names = info["curve_metrics"]
    rows = [[e["epoch"], e["metrics"][name], name] for e in info["evaluations"] for name in names
            if name in e["metrics"]]
    return pd.DataFrame(rows, columns=METRIC_COLUMNS).astype({"epoch": "float64", "value": "float64", "metric": "str"})


def comparison_rows(info: dict) -> list[list]:
    """Base vs fine-tuned on the same held-out rows, every metric; while training, the latest scores."""
    result = info["result"]
    if result and result.get("fine_tuned"):
        base, tuned = result["base"], result["fine_tuned"]
        rows = [[name, base.get(name), value] for name, value in tuned.items()]
        per_class = zip(result["details"]["base"].get("per_class", []),
                        result["details"]["fine_tuned"].get("per_class", []))
        for b, t in per_class:
            rows += [[f"precision · {t['label']}", b["precision"], t["precision"]],
                     [f"recall · {t['label']}", b["recall"], t["recall"]]]
        return [[name, _round(b), _round(t)] for name, b, t in rows]
    evals = info["evaluations"]
    base = next((e for e in evals if e["model"] == "base"), None)
    tuned = next((e for e in reversed(evals) if e["model"] == "fine_tuned"), None)
    if base is None:
        return []
    return [[name, _round(value), _round((tuned or {}).get("metrics", {}).get(name))]
            for name, value in base["metrics"].items()]


def _round(value):
    return round(value, 4) if isinstance(value, (int, float)) else value


def confusion_table(details: dict | None) -> dict:
    """A confusion matrix as a small table (classification): one row per true label, one column per prediction."""
    if not details or "confusion_matrix" not in details:
        return {"headers": ["true \\ predicted"], "data": []}
    labels = details["labels"]
    return {"headers": ["true \\ predicted", *labels],
            "data": [[label, *row] for label, row in zip(labels, details["confusion_matrix"])]}


def example_rows(result: dict | None) -> list[list]:
    """Held-out examples side by side, the fine-tuned model's worst first."""
    return [[e["input"], e["reference"], e["base"], e["fine_tuned"]] for e in (result or {}).get("examples", [])]


def chain_rows(info: dict) -> list[list]:
    """The three-way table of a domain-adaptation chain; empty for a run of its own."""
    if not info["chain"]:
        return []
    return [[name, *map(_round, values)] for name, *values in adaptation.comparison(info["chain"])]


def chain_markdown(info: dict) -> str:
    if not info["chain"]:
        return ""
    parts = ", ".join(f"`{m['run_id']}` ({m['role']}: {m['state']})" for m in info["chain"])
    return f"**Domain adaptation, three runs:** {parts}. " + adaptation.verdict(info["chain"])


def finished_note(info: dict) -> str:
    result = info["result"]
    if not result:
        return ""
    saved = (f"The fine-tuned model is saved as **{result['registered_as']}** "
             f"({result['train_rows']:,} training rows, {result['held_out_rows']:,} held out, "
             f"{result['training_time_s']:.0f} s, {result['samples_per_s']:.0f} samples/s, "
             f"precision {result['mixed_precision']}). It is now in {info['shows_up_in']} under that name (opening "
             "the tab refreshes its list); the download button holds the same `save_pretrained` folder with its "
             "model card.")
    head = result["facts"].get("base_head") or result["facts"].get("head") or "new"
    worst = "The examples table lists the held-out examples side by side, the fine-tuned model's worst first. "
    cut = truncation_note(result["facts"])
    evidence = _evidence(result.get("comparison"))
    return evidence + BASE_NOTES.get(head, "") + worst + saved + (f" {cut}" if cut else "")


def _evidence(comparison: dict | None) -> str:
    """The paired comparison in words, each model's metric with its interval, rows won and lost."""
    if not comparison:
        return ""
    first, second = comparison["names"]
    intervals, tally = comparison["intervals"], comparison["tally"]
    scale = comparison["points_scale"]
    return (f"**{comparison['summary']}** On the same {comparison['rows']:,} held-out rows: {first} "
            f"{interval_text(intervals[first], scale)}, {second} {interval_text(intervals[second], scale)}; "
            f"{second} does better on {tally['wins']:,} rows, worse on {tally['losses']:,}, the same on "
            f"{tally['ties']:,} (intervals: {comparison['resamples']:,} bootstrap resamples of the rows).\n\n")


def run_rows(summaries) -> list[list]:
    return [[s.id, s.state, s.task, s.base_model, s.dataset, s.mode, s.metric, _round(s.base_score),
             _round(s.score), s.model_name or ""] for s in summaries]
