"""finetune_vs_trainer on extractive QA (the shakespeare-qa preset), both sides scored by SQuAD F1."""

from __future__ import annotations

from bench import common, finetune_vs_trainer

PRESET = "shakespeare-qa"
# Too few steps to judge F1; the preset's size does: --finetune-rows 366 --finetune-epochs 6.
SIZES = {True: dict(rows=48, eval_rows=1000, epochs=1), False: dict(rows=128, eval_rows=1000, epochs=1)}
JUDGED_SAMPLES = 366 * 6


def run(quick: bool) -> dict:
    return finetune_vs_trainer.run(quick, PRESET, finetune_vs_trainer.SIZES_OVERRIDE or SIZES[quick], targets)


def targets(summary: dict, sizes: dict) -> list[common.Target]:
    has_bf16, why = common.fast_bf16()
    ours, defaults, tuned = (summary[v] for v in finetune_vs_trainer.VARIANTS)
    vs_tuned = ours["samples_per_s_ratio_vs"]["Trainer tuned"]
    wanted = 1.5 if has_bf16 else 1.3
    judged = sizes["rows"] * sizes["epochs"] >= JUDGED_SAMPLES
    return [
        common.check("QA fine-tuning vs the tuned Trainer", f">= {wanted}x samples/s", vs_tuned, wanted,
                     f"{vs_tuned:.2f}x ({ours['samples_per_s']:.3g} vs {tuned['samples_per_s']:.3g} samples/s); "
                     f"{ours['samples_per_s_ratio_vs']['Trainer defaults']:.2f}x the Trainer's defaults", why),
        finetune_vs_trainer.parity_target(summary, judged, "F1", "ours within 1 F1 point of each Trainer variant",
                                          1.0, 1),
    ]
