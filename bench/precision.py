"""Inference precision at scale: our pipelines on bf16 weights vs float32 weights on more inputs than the
speed cases hold, each forced in turn with STUDIO_PRECISION as a user would; how often the outputs agree,
and the speed ratio. Float32 is 4.57's precision and ours gives 4.57's outputs exactly in it
(pipelines_vs_ref checks that), so agreement with float32 here is agreement with 4.57.
"""

from __future__ import annotations

import os
from functools import partial
from unittest import mock

from bench import checkpoints, common, inputs
from bench.pipelines_vs_ref import classify_many, qa_answer, same_label, same_span, same_text


def generate_all(prompts: list[str], new_tokens: int) -> list[str]:
    from pipelines.models import lm
    from pipelines.tasks import generation

    settings = lm.GenerationSettings(max_new_tokens=new_tokens, temperature=0.0, repetition_penalty=1.0)
    return [generation.generate_text(prompt, checkpoints.GENERATOR, settings).text for prompt in prompts]


def run(quick: bool) -> dict:
    from pipelines.models import loading

    common.heading("Inference precision: bf16 weights vs float32 weights")
    checkpoints.build_all()
    texts = inputs.reviews(64 if quick else 500, offset=1000)
    context = inputs.long_context(1000)
    questions = ([{"question": q, "context": c} for q, c in inputs.SHORT_QA[: 2 if quick else 6]]
                 + [{"question": q, "context": context} for q in inputs.LONG_QA_QUESTIONS[: 1 if quick else 2]])
    prompts = [f"In one sentence, what does this review think of the film? {review}"
               for review in inputs.reviews(2 if quick else 8, offset=2000)]
    tasks = {"classification labels (trained head)": (classify_many, texts, same_label),
             "QA answer spans (seeded head)": (lambda items: [qa_answer(item) for item in items], questions, same_span),
             "generated texts (SmolLM2, greedy, 24 tokens)": (partial(generate_all, new_tokens=24), prompts, same_text)}
    found = {}
    for task, (call, items, same) in tasks.items():
        outputs, seconds = {}, {}
        for precision in ("float32", "bf16"):
            with mock.patch.dict(os.environ, STUDIO_PRECISION=precision):  # as a user sets it
                call(items[:1])  # warm-up, and the load
                seconds[precision], outputs[precision] = common.timed(partial(call, items))
        pairs = list(zip(outputs["bf16"], outputs["float32"]))
        agreed = sum(same(b, f) for b, f in pairs)
        found[task] = {"agreed": agreed, "items": len(pairs), "agreement": agreed / len(pairs),
                       "bf16_speed_vs_float32": seconds["float32"] / seconds["bf16"], "seconds": seconds}
    auto = loading.inference_precision("auto")
    has_bf16, why = common.fast_bf16()
    targets = [common.Target("bf16 inference only where it is fast", "detected; float32 elsewhere, switchable off",
                             common.MET if (auto == "bf16") == has_bf16 else common.NOT_MET,
                             f"STUDIO_PRECISION=auto resolves to {auto}", why)]
    for task, figures in found.items():
        measured = (f"{figures['agreed']} of {figures['items']} agree ({figures['agreement']:.1%}); bf16 "
                    f"{figures['bf16_speed_vs_float32']:.2g}x float32's speed")
        if task.startswith("classification"):
            targets.append(common.check(f"bf16 vs float32: {task}", ">= 97% agree", figures["agreement"], 0.97,
                                        measured, "" if has_bf16 else "bf16 is emulated here: its speed is no guide"))
        else:
            targets.append(common.Target(f"bf16 vs float32: {task}", "reported", common.INFO, measured,
                                         "" if has_bf16 else "bf16 is emulated here: its speed is no guide"))
    return {"auto_resolves_to": auto, "tasks": found, "targets": targets}
