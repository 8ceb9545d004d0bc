"""Inference precision: bf16 autocast only where the hardware computes bf16 natively, float32 on request."""

from __future__ import annotations

import pytest
import torch

from pipelines.models import catalog, lm, loading
from pipelines.runtime import hardware


def test_auto_follows_the_hardware(monkeypatch):
    monkeypatch.delenv("STUDIO_PRECISION", raising=False)
    monkeypatch.setattr(hardware, "fast_bf16", lambda device: False)
    assert loading.inference_precision() == "float32"
    monkeypatch.setattr(hardware, "fast_bf16", lambda device: True)
    assert loading.inference_precision() == "bf16"
    monkeypatch.setenv("STUDIO_PRECISION", "float32")  # exact float32 even where bf16 is fast
    assert loading.inference_precision() == "float32"
    assert loading.inference_precision("bf16") == "bf16"  # a parameter beats the environment


def test_cpu_without_bf16_flags_is_not_fast(tmp_path):
    cpu = torch.device("cpu")
    assert not hardware.fast_bf16(cpu, flags=frozenset({"avx2", "fma"}))
    assert hardware.fast_bf16(cpu, flags=frozenset({"avx2", "avx512_bf16"}))
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 amx_bf16\n")
    assert hardware.cpu_flags(cpuinfo) == {"fpu", "sse", "avx2", "amx_bf16"}
    assert hardware.cpu_flags(tmp_path / "missing") == frozenset()


def test_an_unknown_precision_is_refused(monkeypatch):
    monkeypatch.setenv("STUDIO_PRECISION", "fp8")
    with pytest.raises(ValueError, match="STUDIO_PRECISION"):
        loading.inference_precision()


def test_bf16_is_a_separate_model_that_computes_in_bf16(tiny_classifier):
    spec = catalog.resolve("sentiment", tiny_classifier)
    exact, fast = loading.load(spec, precision="float32"), loading.load(spec, precision="bf16")
    assert (exact.precision, fast.precision) == ("float32", "bf16") and exact.model is not fast.model
    batch = exact.tokenizer(["This movie was wonderful.", "Dull and boring."], padding=True, return_tensors="pt")
    with torch.inference_mode():
        reference, approximate = exact.model(**batch).logits, fast.model(**batch).logits
    assert reference.dtype == torch.float32 and approximate.dtype == torch.bfloat16
    assert torch.allclose(reference, approximate.float(), atol=0.05)
    assert loading.is_loaded(spec, "bf16") and loading.is_loaded(spec, "float32")


def test_generation_runs_under_bf16(tiny_lm):
    loaded = loading.load(catalog.resolve("generation", tiny_lm), precision="bf16")
    steps = []  # the logits of the last position, at each forward pass of the run
    hook = loaded.model.register_forward_hook(lambda module, args, out: steps.append(out.logits[0, -1]))
    try:
        text = lm.complete(loaded, "The cat sat on the mat.",
                           lm.GenerationSettings(max_new_tokens=4, temperature=0.0, repetition_penalty=1.0))
    finally:
        hook.remove()
    assert 1 <= len(steps) <= 4 and all(logits.dtype == torch.bfloat16 for logits in steps)
    # greedy: the text is the tokens the bf16 logits ranked first, one a step
    chosen = [int(logits.argmax()) for logits in steps]
    assert text == loaded.tokenizer.decode(chosen, skip_special_tokens=True).strip()
    assert len(steps) == 4 or chosen[-1] == loaded.tokenizer.eos_token_id  # only the end token ends it early
