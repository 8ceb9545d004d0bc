"""Demo mode (STUDIO_DEMO=1, `python app.py --demo`) as a stranger with the public link meets it, through
gradio_client: the training and evaluation paths do not exist, a typed Hub id or path is refused with a
sentence, uploads are refused, and the listed models still answer."""

from __future__ import annotations

import json
import os
import urllib.request

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from pipelines.models import catalog
from tests.helpers.app import served_app

pytestmark = pytest.mark.training  # serves the app

INFERENCE_ENDPOINTS = {"/answer_question", "/classify_sentiment", "/classify_lines", "/score_csv", "/summarize",
                       "/translate", "/generate", "/compare_answers", "/compare_sentiment", "/compare_summaries",
                       "/compare_translations", "/compare_generations"}
JOB_ENDPOINTS = ("/start_finetune", "/finetune_status", "/make_report", "/start_evaluation", "/evaluation_status",
                 "/start_learning_curve", "/learning_curve_status")


@pytest.fixture(scope="module")
def demo(studio_home):
    os.environ["STUDIO_DEMO"] = "1"
    try:
        yield
    finally:
        os.environ.pop("STUDIO_DEMO", None)


@pytest.fixture(scope="module")
def client(demo, tiny_classifier, tiny_qa):
    with served_app() as client:
        yield client


def test_only_the_inference_endpoints_exist(client):
    assert set(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == INFERENCE_ENDPOINTS
    for endpoint in JOB_ENDPOINTS:  # training, evaluation jobs, reports: nothing answers
        with pytest.raises(ValueError, match=endpoint):
            client.predict("anything", api_name=endpoint)


def test_the_mcp_tools_are_the_inference_ones(client):
    """Agents see the same surface as the API: in a demo, no tool trains, evaluates or reports."""
    tools = json.loads(urllib.request.urlopen(client.src.rstrip("/") + "/gradio_api/mcp/schema").read())
    names = {tool["name"] for tool in tools}
    assert names == {"answer", "classify", "classify_lines", "score_file", "summarize", "translate", "generate",
                     "compare_answers", "compare_sentiment", "compare_summaries", "compare_translations",
                     "compare_generations"}
    assert all(tool["description"].strip() for tool in tools)


@pytest.mark.parametrize("typed", ["distilbert/distilbert-base-uncased", "/etc", "../models/tiny-classifier",
                                   "~/.cache/huggingface", "org/model@main", "tiny-classifier/../../x"])
def test_a_typed_model_is_refused_and_a_listed_one_answers(client, tiny_classifier, typed):
    # the picker takes no typed value in a demo (Gradio refuses it), and the catalogue would refuse it too
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict("A fine film.", typed, api_name="/classify_sentiment")
    _, result, _ = client.predict("A fine film.", tiny_classifier, api_name="/classify_sentiment")
    assert result["model"] == tiny_classifier


def test_a_comparison_refuses_a_typed_model(client, tiny_classifier):
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict("A fine film.", [tiny_classifier, "org/model"], api_name="/compare_sentiment")


def test_uploads_are_refused(client, tiny_classifier, tmp_path):
    upload = tmp_path / "reviews.csv"
    upload.write_text("text\nA fine film.\n")
    with pytest.raises(AppError, match="off in this demo"):
        client.predict(handle_file(str(upload)), "", tiny_classifier, api_name="/score_csv")


def test_the_catalogue_refuses_outside_the_list_in_demo_mode(demo, tiny_classifier):
    assert catalog.resolve("sentiment", tiny_classifier).name == tiny_classifier
    with pytest.raises(ValueError, match="only the models in its list"):
        catalog.resolve("sentiment", "HuggingFaceTB/SmolLM2-135M-Instruct")


def test_the_header_says_it_is_a_demo(demo):
    import app

    assert "This is a demo" in app.header_text()
    assert app.DEMO_TABS == tuple(t for t in app.TABS if t.TITLE not in ("Fine-tune", "Evaluate"))
