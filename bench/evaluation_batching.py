"""Evaluations in batches vs one call per row: the Evaluate tab's scoring of 1,000 Rotten Tomatoes
snippets with MiniLM as a classifier (pipelines/evaluation/scoring.score_model), at the tab's batch size
and at batch size 1, in alternating rounds; rows per second and how often the two agree.
"""

from __future__ import annotations

from bench import common

BATCHED = 64  # scoring.DEFAULT_BATCH_SIZE


def run(quick: bool) -> dict:
    from pipelines.evaluation import scoring
    from pipelines.finetune import presets, tasks
    from pipelines.finetune.config import DEFAULT_BASE_MODEL, FinetuneConfig
    from pipelines.finetune.data import load_rows

    common.heading("Evaluation: batched vs one call per row")
    rows_n = 200 if quick else 1000
    data = presets.rotten_tomatoes_unseen()
    config = FinetuneConfig(data_file=str(data), held_out_only=True, max_length=64)
    task = tasks.for_config(config)
    rows = load_rows(data, task)[0].select(range(rows_n))
    accelerator = scoring._accelerator(config)
    score = {size: (lambda size=size: scoring.score_model(task, rows, DEFAULT_BASE_MODEL,
                                                          config.with_changes(batch_size=size), accelerator))
             for size in (BATCHED, 1)}
    found = common.interleaved({f"batch {size}": call for size, call in score.items()}, rounds=1 if quick else 2,
                               warmup=0)
    seconds = {name: [s.seconds for s in scored] for name, scored in found.items()}
    batched, single = found[f"batch {BATCHED}"][-1], found["batch 1"][-1]
    same = sum(a.prediction.split(" (")[0] == b.prediction.split(" (")[0]
               for a, b in zip(batched.evaluation.outputs, single.evaluation.outputs)) / rows_n
    ratio = common.median_ratio(seconds["batch 1"], seconds[f"batch {BATCHED}"])
    rates = {name: rows_n / min(s) for name, s in seconds.items()}
    targets = [common.check("batched vs one call per row", ">= 3x the rows per second", ratio, 3.0,
                            f"{ratio:.1f}x ({rates[f'batch {BATCHED}']:.0f} vs {rates['batch 1']:.0f} rows/s on "
                            f"{rows_n:,} rows; labels agree on {same:.1%})")]
    return {"rows": rows_n, "batch_size": BATCHED, "seconds": seconds, "rows_per_s": rates, "ratio": ratio,
            "label_agreement": same, "targets": targets}
