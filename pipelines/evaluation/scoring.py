"""An evaluation: one to four models scored on the same labelled rows, compared with the first.

The rows are an uploaded file (every row held out), a built-in example, or the rows a past fine-tuning
run held out (the same split, recomputed from the run's config). Each model is scored by its task's own
`evaluate` (finetune/tasks/), in batches, exactly as a run scores its base and fine-tuned models, so an
evaluation of a run's two models reproduces the run's numbers. The result (result.json of the job):

    models        per model: metrics, the headline metric's 95% bootstrap interval, time and throughput,
                  task details (classification: the confusion matrix)
    comparisons   per model after the first: the paired comparison with the first (evaluation/compare.py)
    examples      per row: input, reference, each model's output and its per-row value

`start_evaluation` checks everything it can and starts the job's process (jobs.py); `run` is what that
process does. torch and transformers are imported only there.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from pipelines.evaluation import jobs, zero_shot
from pipelines.finetune import guardrails, tasks
from pipelines.finetune.config import FinetuneConfig
from pipelines.finetune.data import load_rows
from pipelines.finetune.runs import find_run
from pipelines.models import kinds

MAX_MODELS = 4
DEFAULT_MAX_ROWS = 1000
DEFAULT_BATCH_SIZE = 64
SCORED_TASKS = ("classification", "extractive-qa", "seq2seq", "causal-lm", "masked-lm")
ERROR_BELOW = 0.5  # a row's value under this counts as an error (classification: wrong)
PACKAGES = ("torch", "transformers", "datasets", "accelerate", "evaluate", "scikit-learn", "sacrebleu", "rouge-score")


def model_list(models) -> list[str]:
    """The models as a list of 1 to 4 distinct names (a list, or one name per line or comma)."""
    if isinstance(models, str):
        models = models.replace(",", "\n").splitlines()
    names = list(dict.fromkeys(m.strip() for m in (models or []) if m and m.strip()))
    if not names:
        raise ValueError("Choose at least one model to evaluate (two or more to compare them).")
    if len(names) > MAX_MODELS:
        raise ValueError(f"{len(names)} models chosen; an evaluation compares at most {MAX_MODELS}.")
    return names


def start_evaluation(models, *, from_run: str | None = None, data_file: str | Path | None = None,
                     task: str = "classification", columns: dict[str, str] | None = None, purpose: str | None = None,
                     max_rows: int = DEFAULT_MAX_ROWS, batch_size: int = DEFAULT_BATCH_SIZE, seed: int = 42,
                     mixed_precision: str = "auto", dataset_name: str | None = None,
                     owner: str | None = None) -> jobs.JobFolder:
    """Check the request, create the job folder and start its process; returns at once."""
    from pipelines.finetune.model import resolve_base  # imports transformers: only when starting

    names = model_list(models)
    if not 1 <= int(max_rows) <= 100_000:
        raise ValueError(f"Rows to score must be between 1 and 100,000; got {max_rows}.")
    if not 1 <= int(batch_size) <= 1024:
        raise ValueError(f"Batch size must be between 1 and 1024; got {batch_size}.")
    if from_run:
        run = find_run(from_run, owner)  # another visitor's held-out rows are theirs
        result = run.result()
        if result is None:
            raise ValueError(f"Run {run.id} has not finished: its held-out rows are scored once it has.")
        config = run.config.with_changes(batch_size=int(batch_size), mixed_precision=mixed_precision)
        source, facts, upload = f"the {result['held_out_rows']:,} rows run {run.id} held out", result["facts"], None
    else:
        if not data_file:
            raise ValueError("Upload a labelled file, pick a built-in example, or pick a past run's held-out rows.")
        config = FinetuneConfig(task=task, data_file=str(data_file), columns=dict(columns or {}), purpose=purpose,
                                batch_size=int(batch_size), seed=int(seed), mixed_precision=mixed_precision,
                                dataset_name=dataset_name)
        source, facts, upload = f"'{Path(data_file).name}'", {}, Path(data_file)
    if config.task not in SCORED_TASKS:
        raise ValueError(f"Evaluations score {', '.join(SCORED_TASKS)} models, not {config.task} ones.")
    task_ = tasks.for_config(config)
    load_rows(Path(config.data_file), task_, config.columns)  # bad data is reported now, not in the job
    bases = [resolve_base(name) for name in names]
    for spec in (base.spec for base in bases):
        scored_by = tasks.for_model(task_, spec.kind)
        if spec.kind is not None and spec.kind not in scored_by.base_kinds and not zero_shot.scores(task_.name, spec.kind):
            raise ValueError(f"'{spec.name}' is a {spec.kind} model; a {task_.title.lower()} evaluation scores "
                             f"{' or '.join(task_.base_kinds)} models with the task's head. To put it beside them on "
                             "one input, use its tab's Compare mode.")
    task_.check_compared(bases)
    job = jobs.create_job("evaluation", {
        "task": config.task, "models": names, "from_run": from_run or None, "facts": facts, "source": source,
        "max_rows": int(max_rows), "finetune_config": config.to_dict()}, data_file=upload, owner=owner)
    return jobs.launch(job)


# --- in the job's process ---------------------------------------------------------------------------

@dataclass
class Scored:
    name: str
    evaluation: object  # finetune.tasks.base.Evaluation, outputs in canonical order
    seconds: float  # scoring only, without loading
    load_seconds: float
    warnings: list[str]


def run(job: jobs.JobFolder) -> str:
    """Score every model of the job, write result.json; returns the final state."""
    spec = job.config
    config = FinetuneConfig.from_dict(spec["finetune_config"])
    task = tasks.for_config(config)
    names = spec["models"]
    job.write_status("running", "Reading the rows.", pid=os.getpid(), done=0, total=len(names))
    rows = evaluation_rows(task, config, spec)
    accelerator = accelerator_for(config)
    scored = []
    for i, name in enumerate(names):
        if job.stop_requested():
            job.write_status("stopped", f"Stopped after {i} of {len(names)} models.")
            return "stopped"

        def on_rows(done: int, i=i, name=name) -> None:
            job.write_status("running", f"Model {i + 1} of {len(names)} ({name}): {done:,} of {len(rows):,} rows.",
                             done=i + done / max(len(rows), 1), total=len(names))

        job.write_status("running", f"Model {i + 1} of {len(names)} ({name}): loading.", done=i, total=len(names))
        scored.append(score_model(task, rows, name, config.with_changes(held_out_only=True), accelerator, on_rows))
    run_warnings = []
    if spec.get("from_run"):  # what the run's own split was warned about (rows on both sides, say) still holds
        run_warnings = (find_run(spec["from_run"]).result() or {}).get("warnings", [])
    result = summarise(task, scored, spec, config, run_warnings + guardrails.data_warnings(task, rows))
    job.write_result(result)
    job.write_status("finished", result["summary"], done=len(names), total=len(names))
    return "finished"


def evaluation_rows(task, config: FinetuneConfig, spec: dict):
    """The rows every model is scored on: a run's held-out split, or the file's rows (a random
    max_rows of them when it has more)."""
    rows, _ = load_rows(Path(config.data_file), task, config.columns)
    if spec.get("from_run"):
        return task.held_out_rows(rows, config, spec["facts"])
    if len(rows) > spec["max_rows"]:
        rows = rows.shuffle(seed=config.seed).select(range(spec["max_rows"]))
    return rows


def accelerator_for(config: FinetuneConfig):
    import torch
    from accelerate import Accelerator

    from pipelines.runtime import hardware

    # the same precision as a run's evaluations, so a run's models score here as they did there
    return Accelerator(mixed_precision=hardware.training_precision(config.mixed_precision),
                       cpu=not torch.cuda.is_available())


def score_model(task, rows, name: str, config: FinetuneConfig, accelerator, on_rows=None) -> Scored:
    """One model scored on the rows in batches of config.batch_size (1: one call per row)."""
    import torch
    from accelerate.utils import set_seed
    from torch.utils.data import DataLoader

    from pipelines.finetune.model import resolve_base

    started = time.perf_counter()
    set_seed(config.seed)  # a new head (a base encoder scored as a classifier) starts the same every time
    base = resolve_base(name)
    kind = base.spec.kind or kinds.kind_from_config(base.config.to_dict())
    if zero_shot.scores(task.name, kind):
        return _zero_shot(task, rows, base, config, accelerator, on_rows, started)
    asked_as = tasks.for_model(task, kind)
    prepared = asked_as.prepare(rows, base, config)
    loader = DataLoader(prepared.held_out, batch_size=config.batch_size, collate_fn=prepared.eval_collate)
    model, loader = accelerator.prepare(prepared.model, loader)
    model.eval()
    loaded = time.perf_counter()
    with torch.inference_mode():
        evaluation = asked_as.evaluate(model, Counted(loader, on_rows), accelerator, prepared)
    seconds = time.perf_counter() - loaded
    accelerator.free_memory()  # the next model must not sit beside this one
    # (the prepared split's own warnings are not this evaluation's: every row is held out here)
    notes = [f"{base.spec.name} has no head for this task's labels: it was scored with a new, untrained head (what "
             "fine-tuning starts from), so its score is chance level."] if prepared.facts.get("base_head") == "new" else []
    if asked_as is not task:
        notes.append(f"{base.spec.name} is {asked_as.model_words}: it was asked as a {asked_as.name} run asks it (its "
                     "own prompt or prefix, greedy, the same new-token limit). Its perplexity is over its own "
                     f"tokenizer and does not compare with the other models'; {task.metric} does.")
    if prepared.facts.get("head") == "new":  # masked LM: an encoder saved without its masked-LM head
        notes.append(f"{base.spec.name} has no masked-LM head: it was scored with a new, untrained one (what "
                     "adaptation starts from), so its perplexity is that of a random guess over its vocabulary.")
    return Scored(name=base.spec.name, evaluation=canonical(evaluation), seconds=seconds,
                  load_seconds=loaded - started, warnings=notes)


def _zero_shot(task, rows, base, config: FinetuneConfig, accelerator, on_rows, started: float) -> Scored:
    """A language model asked, not trained, in this task's evaluation (zero_shot.py)."""
    from pipelines.models import loading

    spec, precision = base.spec, "bf16" if accelerator.mixed_precision == "bf16" else "float32"
    loading.load(spec, precision=precision)  # timed as loading, like the other models
    loaded = time.perf_counter()
    evaluation = zero_shot.evaluate(task.name, rows, spec, config.batch_size, precision, on_rows)
    return Scored(name=spec.name, evaluation=canonical(evaluation), seconds=time.perf_counter() - loaded,
                  load_seconds=loaded - started, warnings=zero_shot.notes(task.name, spec.name, evaluation))


class Counted:
    """A loader that reports the rows it has handed out (at most once a second)."""

    def __init__(self, loader, on_rows=None):
        self.loader, self.on_rows = loader, on_rows

    def __len__(self):
        return len(self.loader)

    def __getattr__(self, name):
        return getattr(self.loader, name)

    def __iter__(self):
        done, reported = 0, time.monotonic()
        for batch in self.loader:
            yield batch
            done += len(next(iter(batch.values())))
            if self.on_rows is not None and time.monotonic() - reported >= 1.0:
                self.on_rows(done)
                reported = time.monotonic()


def canonical(evaluation):
    """The outputs in one order for every model (by input, then reference): tasks read their rows in an
    order of their own (shortest first, by each model's tokenizer), and a paired comparison needs them
    row for row."""
    from dataclasses import replace

    return replace(evaluation, outputs=tuple(sorted(evaluation.outputs, key=lambda o: (o.input, o.reference))))


def summarise(task, scored: list[Scored], spec: dict, config: FinetuneConfig, warnings: list[str]) -> dict:
    from pipelines.evaluation import stats
    from pipelines.evaluation.compare import compare

    first = scored[0]
    n = len(first.evaluation.outputs)
    models = []
    for s in scored:
        rows = len(s.evaluation.outputs)
        interval = stats.bootstrap(task.row_statistic(s.evaluation), rows, seed=config.seed)
        models.append({"name": s.name, "metrics": s.evaluation.metrics, "interval": interval.to_dict(),
                       "rows": rows, "seconds": round(s.seconds, 3), "load_seconds": round(s.load_seconds, 2),
                       "rows_per_s": round(rows / max(s.seconds, 1e-9), 1),
                       "ms_per_row": round(1000 * s.seconds / max(rows, 1), 2), "details": s.evaluation.details})
    aligned = all([o.input for o in s.evaluation.outputs] == [o.input for o in first.evaluation.outputs]
                  for s in scored)
    comparisons = [compare(task, first.evaluation, s.evaluation, names=(first.name, s.name), seed=config.seed)
                   for s in scored[1:]] if aligned else []
    values = [task.example_values(s.evaluation) for s in scored]
    examples = [{"input": o.input, "reference": o.reference,
                 "outputs": [s.evaluation.outputs[i].prediction for s in scored],
                 "values": [round(v[i], 4) for v in values],
                 "disagree": max(v[i] for v in values) - min(v[i] for v in values) > 1e-9,
                 "error": any(v[i] < ERROR_BELOW for v in values)}
                for i, o in enumerate(first.evaluation.outputs)] if aligned else []
    notes = [] if aligned else ["The models read the rows differently (their tokenizers split them into different "
                                "examples), so they are not compared row by row."]
    return {
        "kind": "evaluation", "task": task.name, "title": task.title, "metric": task.metric,
        "higher_is_better": task.higher_is_better, "points_scale": task.points_scale, "rows": n,
        "source": spec["source"], "dataset": config.effective_dataset_name, "from_run": spec.get("from_run"),
        "models": models, "comparisons": comparisons, "examples": examples,
        "summary": " ".join(c["summary"] for c in comparisons) or _single(task, models[0]),
        "warnings": list(dict.fromkeys(warnings + [w for s in scored for w in s.warnings])) + notes,
        "settings": {"batch_size": config.batch_size, "seed": config.seed, "mixed_precision": config.mixed_precision,
                     "max_rows": spec["max_rows"]},
        "versions": versions(), "finished_at": time.time(),
    }


def _single(task, model: dict) -> str:
    from pipelines.evaluation.compare import interval_text

    return f"{model['name']}: {task.metric} {interval_text(model['interval'], task.points_scale)} on {model['rows']:,} rows."


def versions() -> dict:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found
