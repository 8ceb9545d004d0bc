"""LoRA fine-tuning of SmolLM2-135M (packaged) on the bible-en-fr preset: our Accelerate loop vs the
Trainer with peft's same adapters; both sides scored by the task's own batched generation and chrF.
Also measures what batching buys evaluation: held-out outputs generated 8 prompts at a time (left
padding, KV cache) against one prompt at a time."""

from __future__ import annotations

import time

from bench import common, finetune_vs_trainer

PRESET = "bible-en-fr"
# The suite's size: enough steps for a stable samples/s, far too few to judge chrF.
SIZES = {True: dict(rows=32, eval_rows=8, epochs=1), False: dict(rows=96, eval_rows=16, epochs=1)}
JUDGED_SAMPLES = 600


def run(quick: bool) -> dict:
    result = finetune_vs_trainer.run(quick, PRESET, finetune_vs_trainer.SIZES_OVERRIDE or SIZES[quick], targets)
    result["generation"] = batched_generation(8 if quick else 16)
    result["targets"].append(common.check(
        "held-out generation, batched vs one prompt at a time", ">= 3x examples/s",
        result["generation"]["ratio"], 3.0, f"{result['generation']['ratio']:.2f}x "
        f"({result['generation']['batched']:.2f} vs {result['generation']['single']:.2f} examples/s)"))
    return result


def batched_generation(examples: int) -> dict:
    """Examples/s of the task's evaluation of the base model on `examples` held-out verses, in batches
    of 8 and one at a time (same prompts, greedy, same max_new_tokens)."""
    import torch
    from accelerate import Accelerator
    from torch.utils.data import DataLoader

    from bench import trainer_baseline
    from pipelines.finetune import tasks

    config = finetune_vs_trainer.preset(rows=16, eval_rows=examples, epochs=1, name=PRESET)
    prepared, task = trainer_baseline.prepare(config), tasks.for_config(config)
    prepared.model.eval()
    rates = {}
    for name, batch_size in (("single", 1), ("batched", 8)):
        accelerator = Accelerator(cpu=not torch.cuda.is_available())
        loader = accelerator.prepare(DataLoader(prepared.held_out, batch_size=batch_size,
                                                collate_fn=prepared.eval_collate))
        started = time.perf_counter()
        with torch.inference_mode():
            task.evaluate(prepared.model, loader, accelerator, prepared)
        rates[name] = len(prepared.held_out) / (time.perf_counter() - started)
    return {**rates, "ratio": rates["batched"] / rates["single"], "examples": len(prepared.held_out)}


def targets(summary: dict, sizes: dict) -> list[common.Target]:
    has_bf16, why = common.fast_bf16()
    ours, defaults, tuned = (summary[v] for v in finetune_vs_trainer.VARIANTS)
    vs_tuned = ours["samples_per_s_ratio_vs"]["Trainer tuned"]
    judged = sizes["rows"] * sizes["epochs"] >= JUDGED_SAMPLES
    return [
        common.check("LoRA fine-tuning vs the tuned Trainer + peft", ">= 1.3x samples/s", vs_tuned, 1.3,
                     f"{vs_tuned:.2f}x ({ours['samples_per_s']:.3g} vs {tuned['samples_per_s']:.3g} samples/s); "
                     f"{ours['samples_per_s_ratio_vs']['Trainer defaults']:.2f}x its defaults", why),
        finetune_vs_trainer.parity_target(summary, judged, "chrF", "ours within 1 chrF point of each Trainer variant",
                                          1.0, 1),
    ]
