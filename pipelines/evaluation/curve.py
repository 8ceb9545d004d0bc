"""Transfer vs scratch on the user's data: a learning curve.

The chosen pretrained checkpoint and the same architecture with random weights are fine-tuned on
growing subsets of the training rows (say 50, 100, 200, 500 and 1,000), with several seeds each, and
every point is scored on one held-out set, the same for all of them. What pretraining is worth shows as
the gap between the two curves, and how much data it saves as how far right the scratch curve must go
to reach the pretrained one.

Each point is a lean fine-tuning run (finetune/train.py with `scores_only`: no base score, no checkpoints,
no saved model), in a folder under the curve's points/; a curve that stopped or died continues where it
was when started again, since finished points are not trained twice. The job runs in its own process.
"""

from __future__ import annotations

import logging
import math
import os
import statistics
import time
from pathlib import Path

from pipelines.evaluation import jobs, zero_shot
from pipelines.finetune import guardrails, tasks
from pipelines.finetune.config import FinetuneConfig
from pipelines.finetune.data import load_rows
from pipelines.finetune.runs import RunFolder
from pipelines.runtime.errors import first_line

log = logging.getLogger(__name__)
DEFAULT_SIZES = (50, 100, 200, 500, 1000)
DEFAULT_SEEDS = (1, 2)
INITS = ("pretrained", "scratch")
MIN_STEPS = 80  # a point takes at least this many optimizer steps (more epochs over a small subset), so
MAX_EPOCHS = 50  # 50 rows get the steps to show what they can teach (24 steps left every model at chance)
PRESET = "rotten-tomatoes"
# the preset's curve: 1,000 training rows at most and 500 held out, 3 epochs (more on small subsets), and a
# step of 1e-4 (with the fine-tuning preset's 5e-5, 24 steps left even pretrained MiniLM at chance)
PRESET_SETTINGS = dict(max_train_rows=1000, max_eval_rows=500, epochs=3, learning_rate=1e-4)


def epochs_for(size: int, epochs: int, batch_size: int) -> int:
    """At least the config's epochs; more for a small subset (MIN_STEPS steps), up to MAX_EPOCHS."""
    return max(epochs, min(MAX_EPOCHS, math.ceil(MIN_STEPS / math.ceil(max(size, 1) / batch_size))))


def parse_sizes(sizes) -> list[int]:
    given = sizes
    if isinstance(sizes, str):
        sizes = [s for s in sizes.replace(",", " ").split() if s]
    try:
        values = sorted({int(s) for s in sizes})
    except (TypeError, ValueError):
        raise ValueError(f"Subset sizes must be whole numbers of rows, e.g. 50, 100, 200; got '{given}'.") from None
    if not values or values[0] < 8 or len(values) > 8:
        raise ValueError("Give between one and eight subset sizes of at least 8 rows each, e.g. 50, 100, 200, 500.")
    return values


def parse_seeds(seeds) -> list[int]:
    """One to five distinct whole numbers, in order, from a list or text such as "1, 2"."""
    given = seeds
    if isinstance(seeds, str):
        seeds = [s for s in seeds.replace(",", " ").split() if s]
    try:
        values = list(dict.fromkeys(int(s) for s in seeds))
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"Seeds must be whole numbers, e.g. 1, 2; got '{given}'.") from None
    if not 1 <= len(values) <= 5:
        raise ValueError(f"Give one to five seeds (two or more show the spread); got {len(values)}.")
    return values


def start_curve(config: FinetuneConfig, sizes=DEFAULT_SIZES, seeds=DEFAULT_SEEDS, upload: Path | None = None,
                preset: str | None = None, owner: str | None = None, reference: str | None = None) -> jobs.JobFolder:
    """Check the request, create the curve's folder and start its process; returns at once.

    `reference`: a model scored once on the same held-out rows and drawn across the curve, such as a
    language model asked zero-shot: how many labelled rows fine-tuning needs to pass it."""
    from pipelines.finetune.model import resolve_base  # imports transformers: only when starting

    sizes, seeds = parse_sizes(sizes), parse_seeds(seeds)
    if config.task not in ("classification", "extractive-qa", "seq2seq", "causal-lm"):
        raise ValueError(f"A learning curve needs a task scored on held-out rows; '{config.task}' is not one.")
    task = tasks.for_config(config)
    rows, _ = load_rows(Path(config.data_file), task, config.columns)
    largest = len(rows) - min(config.max_eval_rows, round(len(rows) * config.eval_fraction))
    if sizes[0] > largest:
        raise ValueError(f"The file has {len(rows):,} rows, about {largest:,} of them for training: every subset size "
                         "is larger. Choose smaller sizes or a larger file.")
    task.check_base(resolve_base(config.base_model).spec)
    reference = (reference or "").strip() or None
    if reference is not None:
        kind = resolve_base(reference).spec.kind
        if kind is not None and kind != task.saved_kind and not zero_shot.scores(task.name, kind):
            raise ValueError(f"'{reference}' is a {kind} model; a reference line is a model that does this task "
                             f"as it is: a {task.saved_kind} model, or a language model asked zero-shot.")
    job = jobs.create_job("learning-curve", {
        "task": config.task, "sizes": [s for s in sizes if s <= largest], "dropped_sizes": [s for s in sizes if s > largest],
        "seeds": seeds, "inits": list(INITS), "preset": preset, "reference": reference,
        "finetune_config": config.with_changes(lora=False).to_dict()}, data_file=upload, owner=owner)
    return jobs.launch(job)


def points(spec: dict) -> list[tuple[int, str, int]]:
    """(size, init, seed) in the order they train: small subsets first, so the curve's start shows early."""
    return [(size, init, seed) for size in spec["sizes"] for init in spec["inits"] for seed in spec["seeds"]]


def point_folder(job: jobs.JobFolder, size: int, init: str, seed: int) -> RunFolder:
    return RunFolder(job.points_dir / f"{size:06d}-{init}-seed{seed}")


def run(job: jobs.JobFolder) -> str:
    """Train and score every point not yet done, then write result.json; returns the final state."""
    from pipelines.finetune import train

    spec = job.config
    config = FinetuneConfig.from_dict(spec["finetune_config"])
    todo = points(spec)
    job.write_status("running", "Starting.", pid=os.getpid(), done=0, total=len(todo))
    for k, (size, init, seed) in enumerate(todo):
        point = point_folder(job, size, init, seed)
        if point.result() is not None:
            continue
        if job.stop_requested():
            job.write_status("stopped", f"Stopped after {k} of {len(todo)} points; start it again to continue.")
            return "stopped"
        job.write_status("running", f"Point {k + 1} of {len(todo)}: {init}, {size:,} rows, seed {seed}.",
                         done=k, total=len(todo))
        point.path.mkdir(parents=True, exist_ok=True)
        config.with_changes(max_train_rows=size, seed=seed, split_seed=config.effective_split_seed, init=init,
                            scores_only=True, epochs=epochs_for(size, config.epochs, config.batch_size), name=None,
                            eval_steps=None).to_json(point.config_file)
        if train.train(point) == "stopped":
            job.write_status("stopped", f"Stopped during point {k + 1} of {len(todo)}; start it again to continue.")
            return "stopped"
    task = tasks.for_config(config)
    rows, _ = load_rows(Path(config.data_file), task, config.columns)
    reference, warnings = None, guardrails.data_warnings(task, rows)
    if spec.get("reference"):
        job.write_status("running", f"Scoring the reference, {spec['reference']}, on the held-out rows.",
                         done=len(todo), total=len(todo))
        try:
            reference = reference_score(job, spec, config, task, rows)
        except Exception as err:  # noqa: BLE001 - the curve's points stand without their reference line
            log.exception("Scoring the reference %s", spec["reference"])
            warnings.append(f"The reference, {spec['reference']}, could not be scored ({first_line(err)}); the curve "
                            "is drawn without it.")
    result = summarise(job, spec, config, warnings, reference)
    job.write_result(result)
    job.write_status("finished", result["summary"], done=len(todo), total=len(todo))
    return "finished"


def reference_score(job: jobs.JobFolder, spec: dict, config: FinetuneConfig, task, rows) -> dict:
    """The reference model on the held-out rows every point was scored on: its score with a 95% bootstrap
    interval, kept in reference.json so that a continued curve does not score it again."""
    import json

    from pipelines.evaluation import scoring, stats

    saved = job.path / "reference.json"
    if saved.is_file():
        return json.loads(saved.read_text())
    first = next((r for r in (point_folder(job, *p).result() for p in points(spec)) if r and "facts" in r), None)
    if first is None:
        raise ValueError("No point of this curve says how its rows were split (points trained before references "
                         "existed): start a new curve to draw a reference.")
    held = task.held_out_rows(rows, config, first["facts"])
    if len(held) != first["held_out_rows"]:
        raise RuntimeError(f"The reference would be scored on {len(held)} rows, the points on {first['held_out_rows']}.")
    scored = scoring.score_model(task, held, spec["reference"], config.with_changes(held_out_only=True),
                                 scoring.accelerator_for(config))
    interval = stats.bootstrap(task.row_statistic(scored.evaluation), len(held), seed=config.seed)
    reference = {"name": scored.name, "value": scored.evaluation.metrics[task.metric], "rows": len(held),
                 "interval": interval.to_dict(), "notes": scored.warnings}
    jobs.write_json(saved, reference)
    return reference


def summarise(job: jobs.JobFolder, spec: dict, config: FinetuneConfig, warnings: list[str],
              reference: dict | None = None) -> dict:
    """Per init and size: each seed's held-out score, their mean, lowest and highest; the gap in words."""
    task = tasks.for_config(config)
    scale = task.points_scale
    found = [(size, init, seed, point_folder(job, size, init, seed).result()) for size, init, seed in points(spec)]
    curves = {init: [] for init in spec["inits"]}
    for size in spec["sizes"]:
        for init in spec["inits"]:
            values = [r["fine_tuned"][task.metric] for s, i, _, r in found if s == size and i == init and r]
            if values:
                curves[init].append({"size": size, "values": values, "mean": statistics.fmean(values),
                                     "low": min(values), "high": max(values)})
    gaps = []
    for p, s in zip(curves.get("pretrained", []), curves.get("scratch", [])):
        gap = (p["mean"] - s["mean"]) * (1 if task.higher_is_better else -1)
        gaps.append({"size": p["size"], "gap": gap, "ahead": p["low"] > s["high"] if task.higher_is_better
                     else p["high"] < s["low"]})
    first = next((r for *_, r in found if r), {})
    return {"kind": "learning-curve", "task": task.name, "title": task.title, "metric": task.metric,
            "higher_is_better": task.higher_is_better, "points_scale": scale, "base_model": config.base_model,
            "dataset": config.effective_dataset_name, "held_out_rows": first.get("held_out_rows"),
            "sizes": spec["sizes"], "dropped_sizes": spec.get("dropped_sizes", []), "seeds": spec["seeds"],
            "curves": curves, "gaps": gaps, "reference": reference,
            "summary": " ".join(filter(None, [gap_in_words(task, config.base_model, gaps, scale),
                                              reference_in_words(task, config.base_model, curves, reference, scale)])),
            "points": [{"size": s, "init": i, "seed": seed, **({k: r[k] for k in ("epochs", "steps", "training_time_s",
                        "train_rows")} if r else {}), "score": r["fine_tuned"][task.metric] if r else None}
                       for s, i, seed, r in found],
            "settings": {"epochs": config.epochs, "learning_rate": config.effective_learning_rate,
                         "batch_size": config.batch_size, "max_length": config.max_length,
                         "split_seed": config.effective_split_seed, "min_steps_per_point": MIN_STEPS},
            "warnings": warnings + (reference["notes"] if reference else []), "finished_at": time.time()}


def gap_in_words(task, base_model: str, gaps: list[dict], scale: float) -> str:
    """'Pretrained X is ahead ... at every size, by 16.8 points of accuracy at 50 rows and 18.6 at 1,000; ...'"""
    if not gaps:
        return "No point of the curve has been scored."
    unit = f"points of {task.metric}" if scale != 1 else f"in {task.metric}"
    first, last = gaps[0], gaps[-1]
    told = (f"{first['gap'] * scale:+.1f} {unit} at {first['size']:,} rows" +
            (f" and {last['gap'] * scale:+.1f} at {last['size']:,}" if len(gaps) > 1 else ""))
    ahead = [g for g in gaps if g["gap"] > 0]
    clear = [g for g in gaps if g["ahead"]]
    who = f"Pretrained {base_model}"
    if not ahead:
        return f"{who} was not ahead of the same architecture trained from scratch at any size: the gap is {told}."
    where = "at every size" if len(ahead) == len(gaps) else f"at {len(ahead)} of {len(gaps)} sizes"
    spread = ("every seed of the pretrained model beat every seed from scratch" if len(clear) == len(gaps)
              else f"all its seeds were above all of scratch's at {len(clear)} of {len(gaps)} sizes")
    return f"{who} is ahead of the same architecture trained from scratch {where}: the gap is {told}; {spread}."


def reference_in_words(task, base_model: str, curves: dict, reference: dict | None, scale: float) -> str:
    """'The reference, SmolLM2 ..., scored 77.6 (95% CI 73.6 to 81.2). The mean of pretrained X's seeds is
    better than it at 1 of 5 sizes, first at 1,000 training rows; inside its 95% interval there.'"""
    if not reference:
        return ""
    low, high = (reference["interval"][k] for k in ("low", "high"))
    said = (f"The reference, {reference['name']}, scored {reference['value'] * scale:.1f} (95% CI {low * scale:.1f} "
            f"to {high * scale:.1f}).")
    better = (lambda a, b: a > b) if task.higher_is_better else (lambda a, b: a < b)
    means = curves.get("pretrained", [])
    passing = [p for p in means if better(p["mean"], reference["value"])]
    if not passing:
        return f"{said} The mean of pretrained {base_model}'s seeds was not better than it at any size tried."
    where = "every size" if len(passing) == len(means) else f"{len(passing)} of {len(means)} sizes"
    clear = sum(better(p["mean"], high if task.higher_is_better else low) for p in passing)
    beyond = ("beyond its 95% interval at all of them" if clear == len(passing) else
              "inside its 95% interval at all of them" if not clear else f"beyond its 95% interval at {clear} of them")
    return (f"{said} The mean of pretrained {base_model}'s seeds is better than it at {where}, first at "
            f"{passing[0]['size']:,} training rows; {beyond}.")
