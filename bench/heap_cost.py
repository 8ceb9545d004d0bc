"""What keeping freed memory (`pipelines/heap.py`) saves: glibc's defaults vs the setting, process by process.

The setting belongs to a whole process and cannot be undone in it, so the two sides cannot step in
turns inside one process as the other paired measurements do. Instead, pairs of fresh processes, one
with glibc's defaults (``STUDIO_KEEP_FREED_MEMORY=0``) and one with the setting, run back to back,
the order alternating from pair to pair, and each pair gives one ratio. Two workloads, each in
processes of its own, since what one leaves in the heap changes the other:

- training: MiniLM training steps as fine-tuning runs them (top layer on the read position only,
  cheaper dropout masks, fused AdamW) on batches of 32 real review snippets grouped by length, the
  groups in a shuffled order;
- classifying: requests of 1 to 64 snippets through the sentiment pipeline, as the app serves them.

Each call is made once untimed, then all again timed: the mean ms and page faults of a call.

    python -m bench.heap_cost child training|classifying [quick]   # one process's figures, as JSON
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time

from bench import common

SIDES = {"glibc defaults": "0", "freed memory kept": "1"}
WORKLOADS = {"training": "training step", "classifying": "sentiment request"}


def run(quick: bool) -> dict:
    """Each workload's figures, pair by pair, and the median ratio (defaults / kept) of its pairs' ms."""
    figures = {}
    for workload, name in WORKLOADS.items():
        pairs = []
        for number in range(1 if quick else 3):
            order = list(SIDES) if number % 2 == 0 else list(reversed(SIDES))
            pairs.append({side: _child(workload, SIDES[side], quick) for side in order})
        default, kept = list(SIDES)
        figures[name] = {"pairs": pairs, "ratio": common.median_ratio([p[default][name]["ms"] for p in pairs],
                                                                      [p[kept][name]["ms"] for p in pairs])}
    return figures


def described(figures: dict) -> str:
    """One line for the report: each workload's ratio and its page faults a call on each side."""
    default, kept = SIDES
    return "; ".join(
        f"a {name} takes {f['ratio']:.2f}x as long with glibc's defaults (page faults a call: "
        f"{statistics.median(p[default][name]['page_faults'] for p in f['pairs']):,.0f} against "
        f"{statistics.median(p[kept][name]['page_faults'] for p in f['pairs']):,.0f})" for name, f in figures.items())


def _child(workload: str, keep: str, quick: bool) -> dict:
    done = subprocess.run([common.python(), "-m", "bench.heap_cost", "child", workload, "quick" if quick else "full"],
                          env=dict(common.environment_for_children(), STUDIO_KEEP_FREED_MEMORY=keep),
                          capture_output=True, text=True, timeout=600, cwd=common.REPO_ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"heap_cost child failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def child(workload: str, quick: bool) -> dict:
    """One fresh process's figures for one workload, with or without the setting (as the environment says)."""
    from pipelines import heap

    kept = heap.keep_freed_memory()
    return {"kept": kept, **(_training(quick) if workload == "training" else _classifying(quick))}


def _training(quick: bool) -> dict:
    import random

    import torch
    from transformers import AutoTokenizer

    from bench import checkpoints

    tokenizer = AutoTokenizer.from_pretrained(checkpoints.minilm_dir())
    batches = checkpoints.minilm_length_grouped_batches(tokenizer, 96 if quick else 192)
    random.Random(0).shuffle(batches)  # length groups in a shuffled order, as fine-tuning draws them
    model = checkpoints.with_speedups(checkpoints.minilm_training_copies(["one"])["one"], tokenizer, cheaper_dropout=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, fused=True)
    return {"training step": _timed_pass(batches, lambda batch: checkpoints.training_step(model, optimizer, batch))}


def _classifying(quick: bool) -> dict:
    from bench import checkpoints, inputs
    from pipelines import sentiment

    checkpoints.use_bench_home()
    # Requests of several sizes through the sentiment pipeline, as the app's users send them.
    requests = [inputs.reviews(size, offset=3000 + 64 * i) for i, size in enumerate((64, 8, 64, 16, 32, 1, 64, 4))]
    return {"sentiment request": _timed_pass(requests[:4] if quick else requests,
                                             lambda texts: sentiment.classify_lines(texts, checkpoints.CLASSIFIER))}


def _timed_pass(batches: list, step) -> dict:
    """Every batch once untimed (the first sight of each size), then all again timed: the mean ms and
    page faults of a call (a mean, not a median: the calls differ in size, and the pass is the workload)."""
    for batch in batches:
        step(batch)
    faults_before, started = _page_faults(), time.perf_counter()
    for batch in batches:
        step(batch)
    return {"ms": (time.perf_counter() - started) * 1000 / len(batches),
            "page_faults": (_page_faults() - faults_before) / len(batches)}


def _page_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


if __name__ == "__main__":
    if sys.argv[1:2] != ["child"]:
        sys.exit(__doc__)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    print(json.dumps(child(sys.argv[2], quick=sys.argv[3:4] == ["quick"])))
