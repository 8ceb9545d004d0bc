"""torch.compile for our training step, measured before deciding (opt-in: `python -m bench --only compiled`).

The question: would compiling the model (Inductor fusing dropout, GELU, layer norm and the adds that
sit between the matmuls) pay for itself in a fine-tuning run of the size people run here? Two copies
of the packaged MiniLM with the same new head and fused AdamW, one eager, one `torch.compile`d with
dynamic shapes (our batches are length-grouped, so their lengths vary). Reported: the compiled copy's
first steps (where it compiles, and recompiles when a shape guard fails), then its steady speed against
eager over the same batches in alternating order, and how many steps it would take to earn back the
compile time. Not in the default suite: compiling takes minutes on 2 cores.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time

import torch

from bench import checkpoints, common, inputs

BATCH = 32
FIRST_STEPS = 3  # the compiled copy's first steps, timed one by one: where its compile time shows


def length_grouped_batches(count: int) -> list[dict]:
    """`count` batches of real review snippets, shortest first, each padded to its longest (as
    pipelines.finetune.batching groups them), so their sequence lengths differ."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoints.minilm_dir())
    texts = sorted(inputs.reviews(BATCH * count, offset=2000), key=len)
    return [checkpoints.minilm_training_batch(tokenizer, texts[start:start + BATCH])
            for start in range(0, len(texts), BATCH)]


def run(quick: bool) -> dict:
    common.heading("torch.compile vs eager: a MiniLM training step (opt-in)")
    batches = length_grouped_batches(6 if quick else 12)
    lengths = [b["input_ids"].shape[1] for b in batches]
    models = checkpoints.minilm_training_copies(("eager", "compiled"))
    optimizers = {name: torch.optim.AdamW(model.parameters(), lr=5e-5, fused=True) for name, model in models.items()}
    # An empty compile cache, as on a user's first fine-tune: Inductor keeps compiled graphs on disk, and a
    # warm cache (a second run of this benchmark) cut the first steps here from about 145 s to 37 s.
    cache = tempfile.mkdtemp(prefix="inductor-")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache
    callables = {"eager": models["eager"], "compiled": torch.compile(models["compiled"], dynamic=True)}

    def step(name: str, batch: dict) -> float:
        started = time.perf_counter()
        callables[name](**batch).loss.backward()
        optimizers[name].step()
        optimizers[name].zero_grad(set_to_none=True)
        return time.perf_counter() - started

    first = [step("compiled", batches[i % len(batches)]) for i in range(FIRST_STEPS)]
    print(f"  compiled copy, first {FIRST_STEPS} steps: " + ", ".join(f"{s:.1f} s" for s in first), flush=True)
    step("eager", batches[0])  # the eager copy's warm-up
    rounds = 1 if quick else 2
    # every batch is one pair: both copies step on it back to back, in alternating order
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(rounds):
        for batch in batches:
            pair = common.interleaved({name: (lambda n=name, b=batch: step(n, b)) for name in times}, 1, warmup=0)
            for name in times:
                times[name] += pair[name]
    shutil.rmtree(cache, ignore_errors=True)
    speed = common.median_ratio(times["eager"], times["compiled"])  # eager time / compiled time
    eager_step, compiled_step = (statistics.median(times[n]) for n in ("eager", "compiled"))
    compile_s = sum(first) - FIRST_STEPS * compiled_step
    saved_per_step = eager_step * (1 - 1 / speed)  # from the paired ratio, not from two separate medians
    break_even = compile_s / saved_per_step if saved_per_step > 0 else None
    common.print_table(["copy", "median step s", "speed vs eager (median of pairs)"],
                       [["eager", eager_step, 1.0], ["compiled", compiled_step, speed]])
    verdict = (f"earns back its {compile_s:.0f} s of compiling after {break_even:.0f} steps" if break_even
               else f"never earns back its {compile_s:.0f} s of compiling (no faster per step)")
    print(f"  batch lengths {lengths}; {verdict}")
    targets = [common.Target("torch.compile for training", "measured before adopting", common.INFO,
                             f"{speed:.2f}x eager's speed per step after {compile_s:.0f} s of compiling; {verdict}")]
    return {"batch": BATCH, "lengths": lengths, "first_steps_s": first, "step_s": times, "speed_vs_eager": speed,
            "compile_s": compile_s, "break_even_steps": break_even, "targets": targets}
