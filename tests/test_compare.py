"""Compare mode: 2-3 models on the same input, one after another, each timed, each failure in its own row.

First pipelines/tasks/compare.py on its own, then each tab's /compare_* endpoint through gradio_client
against the served app, on the tiny models, checked against the tab's single-model endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import pytest
from gradio_client.exceptions import AppError

from pipelines.models import loading
from pipelines.tasks import compare, sentiment
from tests.helpers.app import served_app

CONTEXT = ("Miguel de Cervantes was a Spanish writer born in 1547 in Alcala de Henares. "
           "He wrote Don Quixote, which many call the first modern novel.")
TEXT = "This movie was wonderful."


def top_label(result: sentiment.SentimentResult) -> str:
    return result.labels[0].label


def compare_sentiment(models, text=TEXT, **kwargs) -> compare.Comparison:
    return compare.compare_models("sentiment", models, {"text": text}, describe=top_label,
                                  run=kwargs.pop("run", partial(sentiment.classify_sentiment, text)), **kwargs)


# --- the helper ----------------------------------------------------------------------------------

def test_models_are_deduplicated_in_order():
    assert compare.chosen_models(["b", " a ", "b", "", "a"]) == ["b", "a"]


@pytest.mark.parametrize("models, expected", [
    ([], "Pick 2 or 3 different models to compare; none was picked."),
    (None, "none was picked"),
    (["tiny"], "only 'tiny' was picked"),
    (["tiny", " tiny"], "only 'tiny' was picked"),  # the same model twice is one model
    ("tiny", "only 'tiny' was picked"),  # a name, not a list of names
    (["a", "b", "c", "d"], r"Pick at most 3 models to compare; 4 were picked \(a, b, c, d\)."),
])
def test_fewer_than_two_or_more_than_three_models_are_refused(models, expected):
    with pytest.raises(ValueError, match=expected):
        compare.chosen_models(models)


def test_each_model_answers_in_order_with_its_own_timing(studio_home, tiny_classifier, sharp_classifier):
    comparison = compare_sentiment([sharp_classifier, tiny_classifier, sharp_classifier])
    assert [run.model for run in comparison.results] == [sharp_classifier, tiny_classifier]
    for run in comparison.results:
        direct = sentiment.classify_sentiment(TEXT, run.model).to_dict()
        assert run.error is None and run.seconds > 0
        assert run.output == pytest.approx(direct) and run.text == direct["labels"][0]["label"]
    assert comparison.to_dict() == {
        "task": "sentiment", "input": {"text": TEXT},
        "results": [{"model": run.model, "output": run.output, "text": run.text, "seconds": run.seconds,
                     "error": None} for run in comparison.results]}


def test_a_model_that_fails_gets_its_own_row(studio_home, tiny_classifier, sharp_classifier, tiny_bart):
    comparison = compare_sentiment([tiny_classifier, "no-such-model", tiny_bart])
    ok, unknown, wrong_kind = comparison.results
    assert ok.error is None and ok.output["model"] == tiny_classifier and ok.seconds > 0
    assert unknown.error.startswith("'no-such-model' is not in the local Hugging Face cache")
    assert "tiny-bart" in wrong_kind.error and "not Sentiment" in wrong_kind.error
    for failed in (unknown, wrong_kind):
        assert (failed.output, failed.text, failed.seconds) == (None, "", None)


def test_a_pipeline_error_or_a_crash_stays_in_its_row(studio_home, tiny_classifier, sharp_classifier, tiny_lm):
    def run(spec):
        if spec.name == sharp_classifier:
            raise ValueError("This model refuses the text.")
        if spec.name == tiny_lm:
            raise RuntimeError("index out of range\nmore detail")
        return sentiment.classify_sentiment(TEXT, spec)

    comparison = compare_sentiment([tiny_classifier, sharp_classifier, tiny_lm], run=run)
    first, refused, crashed = comparison.results
    assert first.error is None and first.text in {"NEGATIVE", "POSITIVE"}
    assert refused.error == "This model refuses the text."
    assert crashed.error == "The model failed on this input (RuntimeError: index out of range)."


def test_an_input_every_model_refuses_is_refused_once(studio_home, tiny_classifier, sharp_classifier):
    with pytest.raises(ValueError, match="text is empty"):
        compare_sentiment([tiny_classifier, sharp_classifier], text="   ")


def test_models_are_loaded_before_their_call_is_timed(studio_home, tiny_classifier, sharp_classifier):
    loading.CACHE.clear()
    announced, loaded_when_called = [], []

    def run(spec):
        loaded_when_called.append(loading.is_loaded(spec))
        return sentiment.classify_sentiment(TEXT, spec)

    compare_sentiment([tiny_classifier, sharp_classifier], run=run, on_load=lambda spec: announced.append(spec.name))
    assert announced == [tiny_classifier, sharp_classifier] and loaded_when_called == [True, True]
    announced.clear()
    compare_sentiment([tiny_classifier, sharp_classifier], on_load=lambda spec: announced.append(spec.name))
    assert announced == []  # both in the cache now: nothing to announce


# --- the endpoints -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Endpoint:
    """A tab's compare endpoint and its single-model twin: the inputs around the model argument, the
    fixtures of the two models to compare, and where the single endpoint puts its JSON result."""

    task: str
    compare: str
    single: str
    before: tuple
    after: tuple
    models: tuple[str, str]
    json_at: int = 1


ENDPOINTS = [
    Endpoint("qa", "/compare_answers", "/answer_question", ("When was Cervantes born?", CONTEXT), (3, False),
             ("tiny_qa", "tiny_encoder"), json_at=3),
    Endpoint("sentiment", "/compare_sentiment", "/classify_sentiment", (TEXT,), (),
             ("tiny_classifier", "sharp_classifier")),
    Endpoint("summarization", "/compare_summaries", "/summarize", (CONTEXT,), (12, 0, 2, False, 1.0, 1.0),
             ("tiny_bart", "tiny_t5")),
    Endpoint("translation", "/compare_translations", "/translate", ("The cat sat on the mat.",), ("en", "fr"),
             ("tiny_t5", "tiny_marian")),
    Endpoint("generation", "/compare_generations", "/generate", ("Call me Ishmael.",), (12, 0.0, 1.0, 0, 1.0, "", ""),
             ("tiny_lm", "tiny_lm_plain")),
]


@pytest.fixture(scope="module")
def client(studio_home, tiny_qa, tiny_encoder, tiny_classifier, sharp_classifier, tiny_bart, tiny_t5,
           tiny_marian, tiny_lm, tiny_lm_plain):
    with served_app() as client:
        yield client


def call_compare(client, endpoint: Endpoint, models: list[str]):
    return client.predict(*endpoint.before, models, *endpoint.after, api_name=endpoint.compare)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.compare)
def test_two_models_answer_as_their_single_endpoint_does(client, request, endpoint):
    models = [request.getfixturevalue(name) for name in endpoint.models]
    table, result = call_compare(client, endpoint, models)
    assert result["task"] == endpoint.task and set(result) == {"task", "input", "results"}
    assert [row[0] for row in table["data"]] == models  # one row per model, in order
    assert [run["model"] for run in result["results"]] == models
    for row, run in zip(table["data"], result["results"]):
        single = client.predict(*endpoint.before, run["model"], *endpoint.after, api_name=endpoint.single)
        assert run["error"] is None and run["output"] == pytest.approx(single[endpoint.json_at])
        assert row[1] == run["text"] and run["text"]
        assert run["seconds"] > 0 and row[2] == pytest.approx(run["seconds"], abs=1e-3)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.compare)
def test_an_unknown_model_gets_an_error_row(client, request, endpoint):
    model = request.getfixturevalue(endpoint.models[0])
    table, result = call_compare(client, endpoint, [model, "no-such-model"])
    answered, unknown = result["results"]
    assert answered["error"] is None and answered["output"]["model"] == model
    assert "no-such-model" in unknown["error"] and unknown["output"] is None and unknown["seconds"] is None
    assert table["data"][1][:2] == ["no-such-model", "⚠️ " + unknown["error"]]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.compare)
def test_one_model_alone_is_refused(client, request, endpoint):
    model = request.getfixturevalue(endpoint.models[0])
    with pytest.raises(AppError, match=f"Pick 2 or 3 different models to compare; only '{model}' was picked."):
        call_compare(client, endpoint, [model, model])
