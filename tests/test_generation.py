"""Text generation: streaming, stop texts, token limits, early close, errors; SmolLM2 (slow)."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from pipelines.models import lm
from pipelines.models.lm import GenerationSettings
from pipelines.tasks.generation import generate_text, stream_text
from tests.helpers.models import loaded

PROMPT = "The whale is large"
GREEDY = GenerationSettings(max_new_tokens=30, temperature=0.0)


def loaded_lm(reference: str):
    return loaded("generation", reference)


@pytest.fixture
def endless_lm(tiny_lm, monkeypatch):
    """The tiny LM with its end-of-text token switched off, so that only max_new_tokens or a stop text
    ends a run. Its random weights would end some runs early otherwise, and which ones changes from
    build to build (the tiny tokenizer's vocabulary is numbered differently each time it is trained)."""
    monkeypatch.setattr(loaded_lm(tiny_lm).model.generation_config, "eos_token_id", None)
    return tiny_lm


def forward_counter(model) -> tuple[list[int], object]:
    calls: list[int] = []
    return calls, model.register_forward_hook(lambda *args: calls.append(1))


def test_stream_grows_and_ends_where_generate_text_does(endless_lm):
    texts = list(stream_text(PROMPT, endless_lm, GREEDY))
    assert len(texts) > 3 and texts[0]
    for shorter, longer in zip(texts, texts[1:]):
        assert longer.startswith(shorter) and len(longer) > len(shorter)
    result = generate_text(PROMPT, endless_lm, GREEDY)
    assert result.to_dict() == {"text": texts[-1], "model": endless_lm, "precision": "float32"}
    # and both agree with one plain, unstreamed generate call
    assert result.text == lm.complete(loaded_lm(endless_lm), PROMPT, GREEDY)


def test_max_new_tokens_is_the_number_of_tokens_generated(endless_lm):
    calls, hook = forward_counter(loaded_lm(endless_lm).model)
    try:
        short = generate_text(PROMPT, endless_lm, replace(GREEDY, max_new_tokens=7)).text
    finally:
        hook.remove()
    assert len(calls) == 7  # one forward pass per new token
    longer = generate_text(PROMPT, endless_lm, replace(GREEDY, max_new_tokens=14)).text
    assert longer.startswith(short) and len(longer) > len(short)


@pytest.mark.parametrize("words", [1, 2])  # one word, and two words that arrive in separate pieces
def test_stop_text_cuts_the_output(endless_lm, words):
    settings = replace(GREEDY, max_new_tokens=40)
    full = generate_text(PROMPT, endless_lm, settings).text
    middle = len(full.split()) // 2
    assert middle >= 2
    stop = " " + " ".join(full.split()[middle: middle + words])
    expected = full[: full.index(stop)].strip()
    texts = list(stream_text(PROMPT, endless_lm, replace(settings, stop=(stop,))))
    assert texts[-1] == expected and len(expected) < len(full)
    for shorter, longer in zip(texts, texts[1:]):  # a partly arrived stop text is never shown
        assert longer.startswith(shorter)
    assert generate_text(PROMPT, endless_lm, replace(settings, stop=(stop,))).text == expected


def test_closing_the_stream_early_stops_generation(endless_lm):
    settings = replace(GREEDY, max_new_tokens=200)
    before = set(threading.enumerate())
    calls, hook = forward_counter(loaded_lm(endless_lm).model)
    try:
        stream = stream_text(PROMPT, endless_lm, settings)
        first = next(stream)
        stream.close()
        assert [t for t in threading.enumerate() if t not in before] == []  # the worker has ended
        assert len(calls) < 20
        calls.clear()
        assert generate_text(PROMPT, endless_lm, settings).text.startswith(first)
        assert len(calls) == 200  # left alone, the same run goes on to the limit
    finally:
        hook.remove()


def test_a_failing_generate_reaches_the_caller(tiny_lm, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(loaded_lm(tiny_lm).model, "generate", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        list(stream_text(PROMPT, tiny_lm, GREEDY))


def test_inputs_are_checked_when_called(tiny_lm, tiny_classifier):
    with pytest.raises(ValueError, match="prompt is empty"):
        stream_text("   ", tiny_lm)  # raises at the call, before any iteration
    with pytest.raises(ValueError, match="not Text generation"):
        generate_text(PROMPT, tiny_classifier)
    with pytest.raises(ValueError, match="Max new tokens"):
        stream_text(PROMPT, tiny_lm, replace(GREEDY, max_new_tokens=0))
    with pytest.raises(ValueError, match="reads at most 512 tokens"):
        generate_text("whale " * 600, tiny_lm, GREEDY)


def test_plain_lm_continues_the_prompt_with_a_system_prompt(tiny_lm_plain):
    plain = loaded_lm(tiny_lm_plain)
    assert not plain.is_instruct
    with_system = generate_text(PROMPT, tiny_lm_plain, GREEDY, system_prompt="Call me Ishmael.").text
    assert with_system == lm.complete(plain, "Call me Ishmael.\n\n" + PROMPT, GREEDY)


@pytest.mark.slow
def test_smollm2_streams_an_answer():
    texts = list(stream_text("Name three colours.", "SmolLM2-135M-Instruct (packaged)",
                             GenerationSettings(max_new_tokens=24, temperature=0.0),
                             system_prompt="You are a helpful assistant."))
    assert texts and texts[-1].strip()
    assert all(b.startswith(a) for a, b in zip(texts, texts[1:]))
