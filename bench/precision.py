"""Inference precision: our pipelines in bf16 autocast vs float32 on the same inputs, each forced in turn
with STUDIO_PRECISION as a user would; how often the outputs agree, and the speed ratio.
"""

from __future__ import annotations

import os
from functools import partial
from unittest import mock

from bench import checkpoints, common, inputs
from bench.pipelines_vs_ref import classify_many, qa_answer, same_label, same_span


def run(quick: bool) -> dict:
    from pipelines.models import loading

    common.heading("Inference precision: bf16 autocast vs float32")
    checkpoints.build_all()
    texts = inputs.reviews(8 if quick else 24, offset=500)
    questions = [{"question": q, "context": c} for q, c in inputs.SHORT_QA[: 2 if quick else 4]]
    tasks = {"classification": (partial(classify_many, texts), same_label),
             "qa-short": (lambda: [qa_answer(item) for item in questions], same_span)}
    found = {}
    for task, (call, same) in tasks.items():
        outputs, seconds = {}, {}
        for precision in ("float32", "bf16"):
            with mock.patch.dict(os.environ, STUDIO_PRECISION=precision):  # as a user sets it; a bf16 copy loads
                call()  # warm-up, and the load
                seconds[precision], outputs[precision] = common.timed(call)
        pairs = list(zip(outputs["bf16"], outputs["float32"]))
        found[task] = {"agreement": sum(same(b, f) for b, f in pairs) / len(pairs), "items": len(pairs),
                       "bf16_speed_vs_float32": seconds["float32"] / seconds["bf16"], "seconds": seconds}
    auto = loading.inference_precision("auto")
    has_bf16, why = common.fast_bf16()
    agreement = ", ".join(f"{task} {p['agreement']:.0%}" for task, p in found.items())
    speed = ", ".join(f"{task} {p['bf16_speed_vs_float32']:.2g}x" for task, p in found.items())
    targets = [
        common.Target("bf16 inference only where it is fast", "detected; float32 elsewhere, switchable off",
                      common.MET if (auto == "bf16") == has_bf16 else common.NOT_MET,
                      f"STUDIO_PRECISION=auto resolves to {auto}", why),
        common.Target("bf16 vs float32 agreement", "measured", common.INFO,
                      f"agreement {agreement}; bf16 speed vs float32 {speed}",
                      "" if has_bf16 else "bf16 is emulated here, so only the agreement is of interest"),
    ]
    return {"auto_resolves_to": auto, "tasks": found, "targets": targets}
