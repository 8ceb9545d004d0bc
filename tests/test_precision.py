"""Inference precision: bf16 weights (converted once at load) only where the hardware computes bf16
natively, float32 on request and wherever the checkpoint was saved in another dtype; the benchmark's
hardware detection with faked CPU flags."""

from __future__ import annotations

import json
from functools import partial

import pytest
import torch
import transformers

from bench import common as common_bench
from bench import pipelines_vs_ref, trainer_baseline
from pipelines.finetune.config import FinetuneConfig
from pipelines.finetune.model import load_with_head, resolve_base
from pipelines.models import catalog, lm, loading
from pipelines.runtime import hardware
from pipelines.tasks import compare, generation, sentiment
from tests.helpers import tiny_models
from ui import common, sentiment_tab


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


def test_bf16_is_a_separate_model_whose_weights_are_bf16(tiny_classifier):
    spec = catalog.resolve("sentiment", tiny_classifier)
    exact, fast = loading.load(spec, precision="float32"), loading.load(spec, precision="bf16")
    assert (exact.precision, fast.precision) == ("float32", "bf16") and exact.model is not fast.model
    # converted once, at load: no autocast wrapper recasting float32 weights at every call
    assert {p.dtype for p in exact.model.parameters()} == {torch.float32}
    assert {p.dtype for p in fast.model.parameters()} == {torch.bfloat16}
    assert "forward_in_bf16" not in getattr(fast.model.forward, "__name__", "")
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


@pytest.fixture
def bf16_checkpoint(studio_home):
    """A classifier saved in bf16, as many Hub checkpoints are: transformers 5 would load it as bf16."""
    folder = studio_home / "models" / "tiny-classifier-saved-bf16"
    if not folder.exists():
        tiny_models.build_classifier(folder, initializer_range=0.2)
        model = transformers.AutoModelForSequenceClassification.from_pretrained(folder)
        model.to(torch.bfloat16).save_pretrained(folder)
    assert json.loads((folder / "config.json").read_text())["dtype"] == "bfloat16"
    return folder.name


def test_float32_means_float32_whatever_the_checkpoint_was_saved_in(bf16_checkpoint):
    spec = catalog.resolve("sentiment", bf16_checkpoint)
    assert {p.dtype for p in loading.load(spec, precision="float32").model.parameters()} == {torch.float32}
    assert {p.dtype for p in loading.load(spec, precision="bf16").model.parameters()} == {torch.bfloat16}
    # fine-tuning trains float32 master weights (its bf16 is autocast over them), also from a bf16 checkpoint
    model, _ = load_with_head(resolve_base(bf16_checkpoint), "AutoModelForSequenceClassification", "a test",
                              num_labels=2)
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_every_result_says_which_precision_answered(tiny_classifier, tiny_lm, monkeypatch):
    for precision in ("float32", "bf16"):
        monkeypatch.setenv("STUDIO_PRECISION", precision)
        review = "A fine film, with a cast that makes the most of a clever and often very funny script."
        assert sentiment.classify_sentiment(review, tiny_classifier).to_dict()["precision"] == precision
        assert {r.precision for r in sentiment.classify_lines([review, review], tiny_classifier)} == {precision}
        settings = lm.GenerationSettings(max_new_tokens=2, temperature=0.0)
        assert generation.generate_text("Hi", tiny_lm, settings).precision == precision
        stream = generation.stream_text("Hi", tiny_lm, settings)
        text = ""
        for text in stream:
            pass
        assert stream.precision == precision and stream.result(text).to_dict()["precision"] == precision


def test_the_info_line_names_the_precision():
    assert common.timing(0.0, "m", precision="bf16").endswith("model: `m` · precision: bf16")
    assert common.timing(0.0, "m", precision="float32").endswith("· precision: float32")


# --- the benchmark's hardware detection, on CPUs faked by their flags ---------------------------------

WITH_BF16, WITHOUT_BF16 = frozenset({"avx2", "avx512f", "avx512_bf16"}), frozenset({"avx2", "fma"})


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU answers for itself; these fake a CPU")
def test_the_benchmark_tells_a_cpu_with_fast_bf16_by_its_flags():
    assert common_bench.fast_bf16(WITH_BF16) == (True, "CPU flags avx512_bf16")
    assert common_bench.fast_bf16(frozenset({"amx_bf16", "amx_tile"})) == (True, "CPU flags amx_bf16")
    has, why = common_bench.fast_bf16(WITHOUT_BF16)
    assert not has and "emulated" in why


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU answers for itself; these fake a CPU")
def test_the_trainer_baselines_take_bf16_on_a_cpu_with_fast_bf16(tmp_path):
    config = FinetuneConfig(base_model="m", data_file="d.csv")
    fast = trainer_baseline.training_arguments(config, tuned=True, out=str(tmp_path), warmup=0, flags=WITH_BF16)
    assert fast.bf16 and fast.use_cpu  # without use_cpu the Trainer refuses bf16 on a CPU
    slow = trainer_baseline.training_arguments(config, tuned=True, out=str(tmp_path), warmup=0, flags=WITHOUT_BF16)
    assert not slow.bf16 and slow.use_cpu
    defaults = trainer_baseline.training_arguments(config, tuned=False, out=str(tmp_path), warmup=0, flags=WITH_BF16)
    assert not defaults.bf16  # "Trainer defaults" stays float32


def _side(ratio, agreed, items):
    return {"ratio_vs_4.57": ratio, "ratio_quartiles": [ratio, ratio], "agreed": agreed, "compared": items,
            "agreement": agreed / items}


def test_the_benchmark_holds_bf16_runs_to_the_bf16_goals():
    results = [{"case": "generation", "items": 2, "sides": {"ours": _side(1.4, 1, 2), "ours float32": _side(1.0, 2, 2)}},
               {"case": "classification-batch", "items": 64, "sides": {"ours": _side(4.0, 63, 64),  # 62 would be under 97%
                                                                      "ours float32": _side(1.4, 63, 64)}}]
    found = {t.name: t.status for t in pipelines_vs_ref.speed_and_agreement_targets(results, "bf16", True, "")}
    assert found == {"generation speed": "met", "generation speed in bf16": "not met",
                     "generation outputs in bf16": "reported", "generation float32 mode": "met",
                     "classification-batch speed": "met", "classification-batch labels in bf16": "met",
                     "classification-batch float32 mode": "not met"}
    # without fast bf16, ours is float32: exact agreement asked, the bf16 speed goals do not apply
    float32 = [{"case": "generation", "items": 2, "sides": {"ours": _side(0.97, 2, 2)}}]
    found = {t.name: t.status for t in pipelines_vs_ref.speed_and_agreement_targets(float32, "float32", False, "")}
    assert found == {"generation speed": "met", "generation speed in bf16": "not applicable here",
                     "generation agreement": "met"}


def test_a_request_of_a_few_words_runs_in_float32_where_bf16_is_slower(tiny_classifier, monkeypatch):
    monkeypatch.setenv("STUDIO_PRECISION", "bf16")
    assert sentiment.classify_sentiment("Loved it.", tiny_classifier).precision == "float32"
    tiny = sentiment.classify_lines(["Dull.", "Great fun"], tiny_classifier)
    assert {r.precision for r in tiny} == {"float32"}
    review = "A slow start, but the second half is funny, warm and sharper than anything else this year."
    assert sentiment.classify_sentiment(review, tiny_classifier).precision == "bf16"
    # the same words one by one are small requests; together they are not
    assert {r.precision for r in sentiment.classify_lines(review.split(), tiny_classifier)} == {"bf16"}


def test_compare_loads_the_copy_a_short_text_runs_on_before_the_clock_starts(tiny_classifier, sharp_classifier,
                                                                               monkeypatch):
    monkeypatch.setenv("STUDIO_PRECISION", "bf16")
    models = [tiny_classifier, sharp_classifier]
    loading.CACHE.clear()
    timed_on_a_loaded_copy = []

    def run(spec):
        timed_on_a_loaded_copy.append(loading.is_loaded(spec, "float32"))
        return sentiment.classify_sentiment("Loved it.", spec)

    comparison = compare.compare_models("sentiment", models, {"text": "Loved it."}, run=run,
                                        describe=str, prepare=partial(sentiment.model_for, ["Loved it."]))
    assert timed_on_a_loaded_copy == [True, True]
    assert [r.output["precision"] for r in comparison.results] == ["float32", "float32"]


def test_the_sentiment_tab_says_when_a_short_text_loaded_the_float32_copy(tiny_classifier, monkeypatch):
    monkeypatch.setenv("STUDIO_PRECISION", "bf16")
    spec = catalog.resolve("sentiment", tiny_classifier)
    loading.CACHE.clear()
    loading.load(spec)  # the bf16 copy is in the cache, the float32 one is not
    monkeypatch.setattr(common, "note_loading", lambda spec: None)  # gr.Info needs a request
    first = sentiment_tab.classify("Loved it.", tiny_classifier)[2]
    again = sentiment_tab.classify("Loved it.", tiny_classifier)[2]
    long = sentiment_tab.classify("A slow start, but the second half is funny, warm and sharp.", tiny_classifier)[2]
    assert "(including loading the model)" in first and "precision: float32" in first
    assert "(including loading" not in again and "(including loading" not in long and "precision: bf16" in long
