"""Small measurements behind two code changes, kept in the suite so their figures can be re-run.

1. Resolving a model reference on every request: `catalog.resolve` with a models-folder name (the
   short path) vs listing every model the way it used to (`catalog.entries`, which reads each
   config.json and looks up each packaged model).
2. The fine-tuning optimizer step: AdamW's default (foreach) implementation vs the fused one, on the
   packaged MiniLM with a new head, alone and as part of a whole training step (forward, backward,
   step) on a batch of 32 real review snippets, the two alternating step by step.
"""

from __future__ import annotations

import copy
import statistics
import time

import torch

from bench import checkpoints, common, inputs


def per_call_ms(call, calls: int) -> float:
    call()
    started = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - started) / calls * 1000


def resolve_cost(quick: bool) -> dict:
    from pipelines import catalog

    checkpoints.build_all()
    calls = 50 if quick else 200
    rounds = common.interleaved({
        "resolve(folder name)": lambda: per_call_ms(lambda: catalog.resolve("sentiment", checkpoints.CLASSIFIER), calls),
        "entries(task), the listing resolve used to start with": lambda: per_call_ms(
            lambda: catalog.entries("sentiment"), calls)}, rounds=3, warmup=0)
    return {name: statistics.median(values) for name, values in rounds.items()}


def optimizer_cost(quick: bool) -> dict:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = checkpoints.minilm_dir()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    batch = tokenizer(inputs.reviews(32, offset=2000), truncation=True, max_length=64, padding=True,
                      return_tensors="pt")
    batch["labels"] = torch.arange(32) % 2
    torch.manual_seed(0)
    base = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2)
    models = {kind: copy.deepcopy(base).train() for kind in ("foreach", "fused")}
    optimizers = {kind: torch.optim.AdamW(m.parameters(), lr=5e-5, fused=kind == "fused") for kind, m in models.items()}

    def step(kind: str, only_optimizer: bool) -> float:
        model, optimizer = models[kind], optimizers[kind]
        if only_optimizer:
            return common.timed(optimizer.step)[0] * 1000
        started = time.perf_counter()
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)  # keep gradients allocated: the next optimizer-only step uses them
        return (time.perf_counter() - started) * 1000

    steps = 2 if quick else 4
    whole = common.interleaved({k: lambda k=k: step(k, False) for k in models}, steps, warmup=1)
    alone = common.interleaved({k: lambda k=k: step(k, True) for k in models}, 3 * steps, warmup=1)
    return {"optimizer step ms": {k: statistics.median(v) for k, v in alone.items()},
            "training step ms": {k: statistics.median(v) for k, v in whole.items()},
            "training step foreach / fused (median of pairs)": common.median_ratio(whole["foreach"], whole["fused"])}


def run(quick: bool) -> dict:
    common.heading("Micro-measurements behind code changes")
    checkpoints.use_bench_home()
    resolve = resolve_cost(quick)
    optimizer = optimizer_cost(quick)
    for name, ms in resolve.items():
        print(f"  {name}: {ms:.2f} ms a call")
    for name, values in optimizer.items():
        print(f"  {name}: " + (", ".join(f"{k} {v:.0f}" for k, v in values.items()) if isinstance(values, dict)
                               else f"{values:.2f}x"))
    saved = resolve["entries(task), the listing resolve used to start with"] - resolve["resolve(folder name)"]
    targets = [
        common.Target("no wasted work on the request path", "reported", common.INFO,
                      f"resolving a models-folder name costs {resolve['resolve(folder name)']:.2f} ms; listing "
                      f"every model cost {saved + resolve['resolve(folder name)']:.2f} ms"),
        common.Target("fused AdamW in our loop", "reported", common.INFO,
                      f"a training step takes {optimizer['training step foreach / fused (median of pairs)']:.2f}x "
                      "as long with the default (foreach) AdamW as with the fused one"),
    ]
    return {"resolve_ms": resolve, "optimizer": optimizer, "targets": targets}
