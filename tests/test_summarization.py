"""Summarization on tiny models: chunking on sentence ends, one batched call per round, prefixes,
settings checks; and, marked slow, a real summary from the packaged SmolLM2."""

from __future__ import annotations

import json

import pytest

from pipelines.runtime.settings import REPO_ROOT
from pipelines.tasks.summarization import SummarySettings, summarize, task_prefix
from pipelines.text.chunking import chunk_text, pack
from tests.helpers.models import loaded, record_generate
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


def loaded_model(reference):
    return loaded("summarization", reference)


def written(model, call) -> list[str]:
    """The texts one recorded generate call wrote, one per row, as the pipeline reads them."""
    texts = model.tokenizer.batch_decode(call["output"], skip_special_tokens=True, clean_up_tokenization_spaces=False)
    return [text.strip() for text in texts]


def test_long_document_is_chunked_into_one_batched_call(tiny_bart, monkeypatch):
    model = loaded_model(tiny_bart)
    calls = record_generate(monkeypatch, model)
    result = summarize(LONG_TEXT, tiny_bart, FAST)

    assert result.chunks > 1
    ids, mask = calls[0]["input_ids"], calls[0]["attention_mask"]
    assert ids.shape[0] == result.chunks  # all chunks in the first call
    window = model.tokenizer.model_max_length
    assert window == 64 and ids.shape[1] <= window  # every chunk fits the window
    assert mask.sum(dim=1).max() == ids.shape[1]  # padded to the longest chunk, not to a fixed size
    # nothing was truncated: the chunks' tokens, in order, are the document's tokens
    specials = set(model.tokenizer.all_special_ids)
    read = [t for row in ids.tolist() for t in row if t not in specials]
    assert read == model.tokenizer(LONG_TEXT, add_special_tokens=False)["input_ids"]


def test_joined_summaries_longer_than_the_window_are_summarized_again(tiny_bart, monkeypatch):
    model = loaded_model(tiny_bart)
    calls = record_generate(monkeypatch, model)
    # every chunk summary is forced to 12 tokens: ten of them overflow the 64-token window
    forced = SummarySettings(max_new_tokens=12, min_new_tokens=12, num_beams=1)
    result = summarize(LONG_TEXT, tiny_bart, forced)
    assert len(calls) >= 2
    sizes = [c["input_ids"].shape[0] for c in calls]
    assert sizes[0] == result.chunks and sizes[1] < sizes[0]
    # the second round reads the first round's summaries, joined, and the last round's are the summary
    first_round = " ".join(s for s in written(model, calls[0]) if s)
    specials = set(model.tokenizer.all_special_ids)
    second_round_read = [t for row in calls[1]["input_ids"].tolist() for t in row if t not in specials]
    assert second_round_read == [t for t in model.tokenizer(first_round, add_special_tokens=False)["input_ids"]
                                 if t not in specials]
    assert result.summary == " ".join(s for s in written(model, calls[-1]) if s) != ""


def test_short_text_is_one_chunk_summarized_whole(tiny_bart):
    text = "The whale is large and the sea is deep."
    result = summarize(text, tiny_bart, FAST)
    # one chunk: the summary is the model's own greedy output for the whole text
    model = loaded_model(tiny_bart)
    inputs = model.tokenizer(text, return_tensors="pt")
    output = model.model.generate(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                                  max_new_tokens=FAST.max_new_tokens, num_beams=1, do_sample=False)
    assert result.to_dict() == {"summary": written(model, {"output": output})[0], "chunks": 1, "model": "tiny-bart",
                                "precision": "float32"}


def test_t5_gets_the_summarize_prefix_and_bart_does_not(tiny_t5, tiny_bart, monkeypatch):
    text = "The whale is large and the sea is deep."
    for reference, prefix in ((tiny_t5, "summarize: "), (tiny_bart, "")):
        model = loaded_model(reference)
        calls = record_generate(monkeypatch, model)
        summarize(text, reference, FAST)
        expected = model.tokenizer(prefix + text)["input_ids"]
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


def test_sampling_settings_reach_the_model(tiny_bart, monkeypatch):
    model = loaded_model(tiny_bart)
    calls = record_generate(monkeypatch, model)
    settings = SummarySettings(max_new_tokens=4, num_beams=2, do_sample=True, temperature=0.8, top_p=0.9)
    result = summarize("The whale is large.", tiny_bart, settings)
    (call,) = calls
    assert {k: call[k] for k in ("max_new_tokens", "num_beams", "do_sample", "temperature", "top_p")} == {
        "max_new_tokens": 4, "num_beams": 2, "do_sample": True, "temperature": 0.8, "top_p": 0.9}
    assert result.chunks == 1 and result.summary == written(model, call)[0]


def test_instruct_lm_summarizes_chunks_in_one_left_padded_call(tiny_lm, monkeypatch):
    calls = record_generate(monkeypatch, loaded_model(tiny_lm))
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

    model = loaded_model(tiny_lm)
    prompts = ["Call me Ishmael.", "The whale is large and the sea is deep. The ship sailed from Nantucket."]
    settings = lm.GenerationSettings(max_new_tokens=8, temperature=0.0, repetition_penalty=1.0)
    alone = [lm.complete(model, p, settings) for p in prompts]
    assert lm.complete_batch(model, prompts, settings) == alone  # left padding changes nothing
    assert alone[0] != alone[1]
