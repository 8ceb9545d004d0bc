"""Evaluations in batches vs one call per row: the Evaluate tab's scoring of 1,000 Rotten Tomatoes
snippets with MiniLM as a classifier (pipelines/evaluation/scoring.score_model), at the tab's batch size
and at batch size 1, in alternating rounds; rows per second and how often the two agree.

It runs in a process of its own, as an evaluation does in the app: Accelerate keeps one precision per
process, and the suite's earlier parts have set theirs.
"""

from __future__ import annotations

import json
import subprocess
import sys

from bench import common

BATCHED = 64  # scoring.DEFAULT_BATCH_SIZE


def run(quick: bool) -> dict:
    common.heading("Evaluation: batched vs one call per row")
    done = subprocess.run([common.PYTHON, "-m", "bench.evaluation_batching", json.dumps(quick)],
                          env=common.environment_for_children(), cwd=common.REPO_ROOT, capture_output=True,
                          text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"the evaluation benchmark failed:\n{done.stderr[-3000:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    rates, rows_n = found["rows_per_s"], found["rows"]
    targets = [common.check("batched vs one call per row", ">= 3x the rows per second", found["ratio"], 3.0,
                            f"{found['ratio']:.1f}x ({rates[f'batch {BATCHED}']:.0f} vs {rates['batch 1']:.0f} rows/s "
                            f"on {rows_n:,} rows; labels agree on {found['label_agreement']:.1%})")]
    return {**found, "targets": targets}


def measure(quick: bool) -> dict:
    from pipelines.evaluation import scoring
    from pipelines.finetune import presets, tasks
    from pipelines.finetune.config import DEFAULT_BASE_MODEL, FinetuneConfig
    from pipelines.finetune.data import load_rows

    rows_n = 200 if quick else 1000
    data = presets.rotten_tomatoes_unseen()
    config = FinetuneConfig(data_file=str(data), held_out_only=True, max_length=64)
    task = tasks.for_config(config)
    rows = load_rows(data, task)[0].select(range(rows_n))
    accelerator = scoring.accelerator_for(config)
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
    return {"rows": rows_n, "batch_size": BATCHED, "seconds": seconds, "rows_per_s": rates, "ratio": ratio,
            "label_agreement": same, "precision": accelerator.mixed_precision}


if __name__ == "__main__":  # the child: python -m bench.evaluation_batching <quick as JSON>
    print(json.dumps(measure(json.loads(sys.argv[1]))))
