"""Small measurements behind six code changes, kept in the suite so their figures can be re-run.

1. Resolving a model reference on every request: `catalog.resolve` with a models-folder name (the
   short path) vs listing every model the way it used to (`catalog.entries`, which reads each
   config.json and looks up each packaged model).
2. The fine-tuning optimizer step: AdamW's default (foreach) implementation vs the fused one, on the
   packaged MiniLM with a new head, alone and as part of a whole training step (forward, backward,
   step) on a batch of 32 real review snippets, the two alternating step by step.
3. Gradio's queue after each event: with Gradio's default it rebuilds a pandas summary of every
   event it has recorded (up to 10,000) for its monitoring dashboard; the app turns that off
   (`app.py`). Measured with Gradio's own `Queue`, fed events the way it records them, at several
   numbers of events already served, as the default and as the app sets it.
4. The top layer computing only the position a classifier reads (`pipelines/first_position.py`) vs
   every position: two identical copies of the packaged MiniLM with a new head, one with it, stepping
   in turns (a whole training step with fused AdamW, on batches of 32 real review snippets), then
   classifying batches of 64 snippets in turns; the logits of the two are compared too.
5. Fine-tuning's dropout masks drawn four elements a 64-bit draw (`pipelines/finetune/dropout.py`) vs
   stock dropout (`bernoulli_`, one draw an element): two identical copies of the packaged MiniLM with
   a new head, both with the top layer on the read position only (as fine-tuning runs), one with the
   cheaper dropout, stepping in turns (a whole training step with fused AdamW) on batches of 32 real
   review snippets grouped by length as fine-tuning groups them (so short and long batches alike).
6. Freed memory kept for reuse (`pipelines/heap.py`) vs glibc's defaults, in pairs of fresh processes
   (`bench/heap_cost.py`): training steps as fine-tuning runs them (where it is used), and sentiment
   requests (the measurement that keeps it out of the app's server).
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from unittest import mock

import torch

from bench import checkpoints, common, heap_cost, inputs


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
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoints.minilm_dir())
    batch = checkpoints.minilm_training_batch(tokenizer, inputs.reviews(32, offset=2000))
    models = checkpoints.minilm_training_copies(("foreach", "fused"))
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


def paired_training_steps(models: dict, batches: list[dict], rounds: int) -> dict[str, list[float]]:
    """Whole training steps (forward, backward, fused AdamW) of each model in turns, after a warm-up
    step, each copy stepping through the same batches; milliseconds a step, by model name."""
    optimizers = {kind: torch.optim.AdamW(m.parameters(), lr=5e-5, fused=True) for kind, m in models.items()}
    steps = dict.fromkeys(models, 0)

    def train_step(kind: str) -> float:
        batch = batches[steps[kind] % len(batches)]
        steps[kind] += 1
        return common.timed(lambda: checkpoints.training_step(models[kind], optimizers[kind], batch))[0] * 1000

    for model in models.values():
        model.train()
    return common.interleaved({k: lambda k=k: train_step(k) for k in models}, rounds, warmup=1)


def first_position_cost(quick: bool) -> dict:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoints.minilm_dir())
    batches = [checkpoints.minilm_training_batch(tokenizer, inputs.reviews(32, offset=2000 + 32 * i)) for i in range(4)]
    models = checkpoints.minilm_training_copies(("every position", "first only"))
    checkpoints.with_speedups(models["first only"], tokenizer, cheaper_dropout=False)
    # Inference first, while the two copies still hold the same weights (training draws different
    # dropout masks, so the copies drift apart).
    for model in models.values():
        model.eval()
    texts = inputs.reviews(64, offset=3000)
    encoded = dict(tokenizer(texts, truncation=True, max_length=128, padding=True, return_tensors="pt"))

    def classify(kind: str) -> float:
        with torch.inference_mode():
            return common.timed(lambda: models[kind](**encoded))[0] * 1000

    inference = common.interleaved({k: lambda k=k: classify(k) for k in models}, 3 if quick else 12, warmup=1)
    with torch.inference_mode():
        logits = {k: m(**encoded).logits for k, m in models.items()}

    training = paired_training_steps(models, batches, 3 if quick else 10)
    return {"training step ms": {k: statistics.median(v) for k, v in training.items()},
            "training step every / first only (median of pairs)": common.median_ratio(
                training["every position"], training["first only"]),
            "classification batch of 64 ms": {k: statistics.median(v) for k, v in inference.items()},
            "classification batch every / first only (median of pairs)": common.median_ratio(
                inference["every position"], inference["first only"]),
            "largest logit difference": float((logits["every position"] - logits["first only"]).abs().max())}


def dropout_cost(quick: bool) -> dict:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoints.minilm_dir())
    batches = checkpoints.minilm_length_grouped_batches(tokenizer, 320)  # 15 to 56 tokens
    models = checkpoints.minilm_training_copies(("stock", "four a draw"))
    for kind, model in models.items():
        checkpoints.with_speedups(model, tokenizer, cheaper_dropout=kind == "four a draw")
    training = paired_training_steps(models, batches, 4 if quick else 20)
    return {"training step ms": {k: statistics.median(v) for k, v in training.items()},
            "training step stock / four a draw (median of pairs)": common.median_ratio(
                training["stock"], training["four a draw"])}


ANALYTICS_SETTING = "GRADIO_ANALYTICS_CACHE_FREQUENCY"
GRADIO_DEFAULT, THE_APP = "Gradio's default", "the app"


def gradio_queue(recompute_every: str):
    """A Gradio queue as `Blocks.queue()` builds it, with the summary recomputed every N events."""
    import gradio as gr

    with mock.patch.dict(os.environ, {ANALYTICS_SETTING: recompute_every}):
        with gr.Blocks() as demo:
            gr.Markdown()
        return demo.queue()._queue


def after_event_ms(queue, served: int, events: int) -> float:
    """What the queue does after each finished event (`compute_analytics_summary`), once it holds
    `served` recorded events, as each new one is recorded the way `Queue.push` records it."""
    def record() -> None:
        queue.event_analytics[uuid.uuid4().hex] = {"time": time.time(), "status": "success", "process_time": 0.02,
                                                   "function": "classify_sentiment", "session_hash": uuid.uuid4().hex}
        queue.events_recorded += 1
        queue.events_recorded_per_fn["classify_sentiment"] += 1

    queue.event_analytics.clear()
    for _ in range(served):
        record()
    total = 0.0
    for _ in range(events):
        record()
        started = time.perf_counter()
        queue.compute_analytics_summary(list(queue.event_analytics.values()))
        total += time.perf_counter() - started
    return total / events * 1000


def analytics_cost(quick: bool) -> dict:
    import app

    queues = {GRADIO_DEFAULT: gradio_queue("1"), THE_APP: gradio_queue(str(app.MONITORING_SUMMARY_EVERY))}
    events = 10 if quick else 40
    cost = {}
    for served in (100, 1000, 10_000):
        rounds = common.interleaved({side: lambda q=q: after_event_ms(q, served, events) for side, q in queues.items()},
                                    rounds=3, warmup=1)
        cost[served] = {side: statistics.median(values) for side, values in rounds.items()}
    return cost


def run(quick: bool) -> dict:
    common.heading("Micro-measurements behind code changes")
    checkpoints.use_bench_home()
    resolve = resolve_cost(quick)
    optimizer = optimizer_cost(quick)
    analytics = analytics_cost(quick)
    first = first_position_cost(quick)
    masks = dropout_cost(quick)
    kept = heap_cost.run(quick)
    for name, ms in resolve.items():
        print(f"  {name}: {ms:.2f} ms a call")
    for name, values in optimizer.items():
        print(f"  {name}: " + (", ".join(f"{k} {v:.0f}" for k, v in values.items()) if isinstance(values, dict)
                               else f"{values:.2f}x"))
    for served, sides in analytics.items():
        print(f"  Gradio's queue after each event, {served:,} events served: "
              + ", ".join(f"{side} {ms:.3f} ms" for side, ms in sides.items()))
    for prefix, figures in (("top layer", first), ("dropout", masks)):
        for name, values in figures.items():
            print(f"  {prefix}, {name}: {common.shown(values)}")
    print(f"  freed memory: {heap_cost.described(kept)}")
    saved = resolve["entries(task), the listing resolve used to start with"] - resolve["resolve(folder name)"]
    targets = [
        common.Target("no wasted work on the request path", "reported", common.INFO,
                      f"resolving a models-folder name costs {resolve['resolve(folder name)']:.2f} ms; listing "
                      f"every model cost {saved + resolve['resolve(folder name)']:.2f} ms"),
        common.Target("fused AdamW in our loop", "reported", common.INFO,
                      f"a training step takes {optimizer['training step foreach / fused (median of pairs)']:.2f}x "
                      "as long with the default (foreach) AdamW as with the fused one"),
        common.Target("no monitoring summary after each event", "reported", common.INFO,
                      "server CPU after each event, with Gradio's default / as the app sets it: " + "; ".join(
                          f"{sides[GRADIO_DEFAULT]:.2f} / {sides[THE_APP]:.3f} ms at {served:,} events served"
                          for served, sides in analytics.items())),
        common.Target("top layer on the read position only", "reported", common.INFO,
                      f"a MiniLM training step takes {first['training step every / first only (median of pairs)']:.2f}x "
                      f"and a classification batch {first['classification batch every / first only (median of pairs)']:.2f}x "
                      f"as long computing every position of the top layer; logits differ by at most "
                      f"{first['largest logit difference']:.1e}"),
        common.Target("dropout masks four elements a draw", "reported", common.INFO,
                      f"a MiniLM training step takes {masks['training step stock / four a draw (median of pairs)']:.2f}x "
                      "as long with stock dropout"),
        common.Target("freed memory kept for reuse", "reported", common.INFO, heap_cost.described(kept)),
    ]
    return {"resolve_ms": resolve, "optimizer": optimizer, "analytics_ms": analytics, "first_position": first,
            "dropout": masks, "freed_memory": kept, "targets": targets}
