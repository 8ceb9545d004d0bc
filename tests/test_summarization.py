"""Summarization on tiny models: chunking on sentence ends, one batched call per round, prefixes,
settings checks; and, marked slow, a real summary from the packaged SmolLM2."""

from __future__ import annotations

import json

import pytest

from pipelines.models import catalog, loading
from pipelines.runtime.settings import REPO_ROOT
from pipelines.tasks.summarization import SummaryResult, SummarySettings, summarize, task_prefix
from pipelines.text.chunking import chunk_text, pack
from tests.helpers.tiny_models import CORPUS

LONG_TEXT = " ".join(CORPUS * 4)  # about 600 tokens: ten windows of the tiny models' 64
FAST = SummarySettings(max_new_tokens=4, num_beams=1)


def words(texts):
    return [len(t.split()) for t in texts]


def test_pack_keeps_order_and_budget():
    assert pack([3, 2, 4, 1, 1, 9, 2], budget=5) == [range(0, 2), range(2, 4), range(4, 5), range(5, 6),
                                                     range(6, 7)]  # 9 > budget: alone
    assert pack([], budget=5) == []


def test_chunk_text_cuts_at_sentence_ends_and_drops_nothing():
    text = ("One two three. Four five six seven. Eight nine.\n\nTen eleven twelve thirteen fourteen "
            "fifteen sixteen seventeen eighteen nineteen twenty. End here.")
    chunks = chunk_text(text, budget=5, count=words)
    assert all(n <= 5 for n in words(chunks))
    assert " ".join(chunks).split() == text.split()  # every word, in order
    # sentences that fit stay whole: the first chunk is one sentence, not a cut through the second
    assert chunks[:3] == ["One two three.", "Four five six seven.", "Eight nine."]
    assert chunks[-1] == "twenty. End here."  # the over-long sentence was cut at words, then packed


def test_chunk_text_cuts_a_single_overlong_word():
    chunks = chunk_text("a" * 50, budget=10, count=lambda ts: [len(t) for t in ts])
    assert "".join(chunks) == "a" * 50 and all(len(c) <= 10 for c in chunks)


def record_generate(monkeypatch, loaded):
    """Wrap the model's generate so a test sees every batch it was given (and still generates)."""
    calls = []
    original = loaded.model.generate

    def generate(**kwargs):
        calls.append(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(loaded.model, "generate", generate)
    return calls


def loaded_model(reference):
    return loading.load(catalog.resolve("summarization", reference))


def test_long_document_is_chunked_into_one_batched_call(tiny_bart, monkeypatch):
    loaded = loaded_model(tiny_bart)
    calls = record_generate(monkeypatch, loaded)
    result = summarize(LONG_TEXT, tiny_bart, FAST)

    assert result.chunks > 1
    ids, mask = calls[0]["input_ids"], calls[0]["attention_mask"]
    assert ids.shape[0] == result.chunks  # all chunks in the first call
    window = loaded.tokenizer.model_max_length
    assert window == 64 and ids.shape[1] <= window  # every chunk fits the window
    assert mask.sum(dim=1).max() == ids.shape[1]  # padded to the longest chunk, not to a fixed size
    # nothing was truncated: the chunks' tokens, in order, are the document's tokens
    specials = set(loaded.tokenizer.all_special_ids)
    read = [t for row in ids.tolist() for t in row if t not in specials]
    assert read == loaded.tokenizer(LONG_TEXT, add_special_tokens=False)["input_ids"]


def test_joined_summaries_longer_than_the_window_are_summarized_again(tiny_bart, monkeypatch):
    calls = record_generate(monkeypatch, loaded_model(tiny_bart))
    # every chunk summary is forced to 12 tokens: ten of them overflow the 64-token window
    forced = SummarySettings(max_new_tokens=12, min_new_tokens=12, num_beams=1)
    result = summarize(LONG_TEXT, tiny_bart, forced)
    assert len(calls) >= 2
    sizes = [c["input_ids"].shape[0] for c in calls]
    assert sizes[0] == result.chunks and sizes[1] < sizes[0]
    assert result.summary


def test_short_text_is_one_chunk_and_result_has_declared_keys(tiny_bart):
    result = summarize("The whale is large and the sea is deep.", tiny_bart, FAST)
    assert isinstance(result, SummaryResult)
    assert result.to_dict() == {"summary": result.summary, "chunks": 1, "model": "tiny-bart"}


def test_t5_gets_the_summarize_prefix_and_bart_does_not(tiny_t5, tiny_bart, monkeypatch):
    text = "The whale is large and the sea is deep."
    for reference, prefix in ((tiny_t5, "summarize: "), (tiny_bart, "")):
        loaded = loaded_model(reference)
        calls = record_generate(monkeypatch, loaded)
        summarize(text, reference, FAST)
        expected = loaded.tokenizer(prefix + text)["input_ids"]
        assert calls[-1]["input_ids"][0].tolist() == expected


def test_prefix_comes_from_the_checkpoint_task_parameters_when_present():
    from transformers import BartConfig, T5Config

    assert task_prefix(T5Config()) == "summarize: "
    assert task_prefix(BartConfig()) == ""
    custom = BartConfig(task_specific_params={"summarization": {"prefix": "tl;dr: "}})
    assert task_prefix(custom) == "tl;dr: "


@pytest.mark.parametrize("settings, message", [
    (SummarySettings(min_new_tokens=50, max_new_tokens=20), "Min new tokens"),
    (SummarySettings(num_beams=0), "Number of beams"),
    (SummarySettings(num_beams=9), "Number of beams"),
    (SummarySettings(max_new_tokens=0), "Max new tokens"),
    (SummarySettings(do_sample=True, temperature=0.0), "Temperature"),
    (SummarySettings(do_sample=True, top_p=0.0), "Top-p"),
])
def test_bad_settings_raise_value_error(settings, message, tiny_bart):
    with pytest.raises(ValueError, match=message):
        summarize("Some text to summarize.", tiny_bart, settings)


def test_empty_text_raises_value_error(tiny_bart):
    with pytest.raises(ValueError, match="empty"):
        summarize("   ", tiny_bart)


def test_sampling_settings_run(tiny_bart):
    settings = SummarySettings(max_new_tokens=4, num_beams=2, do_sample=True, temperature=0.8, top_p=0.9)
    assert summarize("The whale is large.", tiny_bart, settings).chunks == 1


def test_instruct_lm_summarizes_chunks_in_one_left_padded_call(tiny_lm, monkeypatch):
    loaded = loaded_model(tiny_lm)
    calls = record_generate(monkeypatch, loaded)
    result = summarize(" ".join(CORPUS * 10), tiny_lm, FAST)  # more than tiny-lm's 384-token window
    assert result.chunks > 1
    ids, mask = calls[0]["input_ids"], calls[0]["attention_mask"]
    assert ids.shape[0] == result.chunks
    assert mask[:, -1].all()  # left padding: every prompt ends where its summary starts
    assert ids.shape[1] <= 512 - FAST.max_new_tokens


@pytest.mark.slow
def test_smollm2_summarizes_a_paragraph():
    paragraph = (
        "The city council voted on Tuesday to turn the old railway yard into a public park. The plan, "
        "which took three years to prepare, includes a playground, a community garden and a cycling "
        "path that links the river to the train station. Construction will begin next spring and is "
        "expected to cost 12 million euros, most of it paid by a regional grant. Some shop owners "
        "worry about parking during the works, but most residents who spoke at the meeting welcomed "
        "the project, saying the neighbourhood has lacked green space for decades.")
    result = summarize(paragraph, "SmolLM2-135M-Instruct (packaged)", SummarySettings(max_new_tokens=80))
    assert result.summary.strip()
    assert len(result.summary) < len(paragraph)
    assert result.chunks == 1


def test_examples_are_texts_and_the_long_one_needs_chunks(tiny_bart):
    examples = json.loads((REPO_ROOT / "examples" / "summarization.json").read_text())
    assert len(examples) >= 2 and all(set(e) == {"text"} and e["text"].strip() for e in examples)
    longest = max(examples, key=lambda e: len(e["text"]))["text"]
    assert "\n\n" in longest
    assert summarize(longest, tiny_bart, FAST).chunks > 1


def test_batched_lm_answers_equal_one_at_a_time(tiny_lm):
    from pipelines.models import lm

    loaded = loaded_model(tiny_lm)
    prompts = ["Call me Ishmael.", "The whale is large and the sea is deep. The ship sailed from Nantucket."]
    settings = lm.GenerationSettings(max_new_tokens=8, temperature=0.0, repetition_penalty=1.0)
    alone = [lm.complete(loaded, p, settings) for p in prompts]
    assert lm.complete_batch(loaded, prompts, settings) == alone  # left padding changes nothing
    assert alone[0] != alone[1]
