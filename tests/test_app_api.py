"""The app as scripts see it: every tab's endpoint called with gradio_client, on the tiny models.

The app runs in this process on a free port, with the test session's STUDIO_HOME, so the tiny models
are pickable by their folder names, exactly as a user would type them.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from pipelines.models import loading
from pipelines.tasks import translation
from tests.helpers.app import served_app

CONTEXT = ("Miguel de Cervantes was a Spanish writer born in 1547 in Alcala de Henares. "
           "He wrote Don Quixote, which many call the first modern novel.")
PUBLIC_ENDPOINTS = {"/answer_question", "/classify_sentiment", "/classify_lines", "/score_csv",
                    "/summarize", "/translate", "/generate", "/start_finetune", "/finetune_status",
                    "/make_report", "/compare_answers", "/compare_sentiment", "/compare_summaries",
                    "/compare_translations", "/compare_generations", "/start_evaluation", "/evaluation_status",
                    "/start_learning_curve", "/learning_curve_status"}


@pytest.fixture(scope="module")
def client(studio_home, tiny_qa, tiny_classifier, tiny_encoder, tiny_bart, tiny_t5, tiny_lm):
    with served_app() as client:
        yield client


def test_building_the_app_loads_no_model(studio_home, tiny_qa):
    import app

    loading.CACHE.clear()
    demo = app.build_demo()
    assert loading.CACHE.keys() == []  # every load goes through the cache: none happened
    assert {tab.TITLE for tab in app.TABS} == {"Question answering", "Sentiment", "Summarization",
                                              "Translation", "Text generation", "Fine-tune", "Evaluate"}
    assert "tiny-qa" in app.header_text()  # a model in the models folder is listed as available
    demo.close()


def test_building_the_app_imports_no_torch(studio_home, tiny_qa):
    """torch and transformers load after the UI is served (they took 1.9 s of a 5.7 s start-up)."""
    script = ("import sys, app; app.build_demo(); "
              "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          env={**os.environ, "STUDIO_HOME": str(studio_home)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_only_the_task_endpoints_are_public(client):
    # example loaders, picker refreshes, uploads and language updates are UI helpers, not API
    assert set(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == PUBLIC_ENDPOINTS


def test_answer_question_offsets_slice_the_context(client, tiny_qa):
    highlighted, table, _, result, took = client.predict(
        "When was Cervantes born?", CONTEXT, tiny_qa, 3, False, api_name="/answer_question")
    answers = result["answers"]
    assert 1 <= len(answers) <= 3 and result["method"] == "extractive" and result["model"] == tiny_qa
    for answer in answers:
        assert set(answer) == {"text", "score", "start", "end"}
        assert CONTEXT[answer["start"]:answer["end"]] == answer["text"]
    scores = [a["score"] for a in answers]
    assert scores == sorted(scores, reverse=True)
    assert [row[1] for row in table["data"]] == [a["text"] for a in answers]
    marked = [piece["token"] for piece in highlighted if piece["class_or_confidence"]]
    assert answers[0]["text"] in marked  # the best answer is highlighted in the context
    assert "".join(piece["token"] for piece in highlighted) == CONTEXT
    assert took.startswith("Took ") and tiny_qa in took and took.endswith("precision: float32")  # the tests run float32


def test_answer_question_by_sentence_ranking(client, tiny_encoder):
    _, _, _, result, _ = client.predict("Who wrote Don Quixote?", CONTEXT, tiny_encoder, 2, False,
                                        api_name="/answer_question")
    assert result["method"] == "sentence-ranking"
    sentences = {CONTEXT[a["start"]:a["end"]] for a in result["answers"]}
    assert sentences <= {CONTEXT[:75], CONTEXT[76:]}  # whole sentences of the context


def test_classify_sentiment_gives_sorted_label_probabilities(client, tiny_classifier):
    bars, result, _ = client.predict("This movie was wonderful.", tiny_classifier,
                                     api_name="/classify_sentiment")
    labels = result["labels"]
    assert {item["label"] for item in labels} == {"NEGATIVE", "POSITIVE"}
    scores = [item["score"] for item in labels]
    assert scores == sorted(scores, reverse=True) and sum(scores) == pytest.approx(1.0, abs=1e-4)
    assert bars["label"] == labels[0]["label"]  # the bars show the same top label


def test_concurrent_sentiment_requests_each_get_their_own_answer(client, tiny_classifier):
    """Requests in flight together are batched by the pipeline; each must still get its own text's scores."""
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"review number {i}: {'great fun' if i % 2 else 'a dull mess'}" + " really" * i for i in range(12)]
    alone = {t: client.predict(t, tiny_classifier, api_name="/classify_sentiment")[1] for t in texts[:3]}
    clients = [Client(client.src, verbose=False, ssl_verify=False) for _ in range(6)]
    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(lambda i: clients[i % 6].predict(texts[i], tiny_classifier,
                                                                  api_name="/classify_sentiment")[1],
                                 range(len(texts))))
    assert all(r["model"] == tiny_classifier for r in together)
    for text, result in zip(texts, together):
        if text in alone:
            assert [l["label"] for l in result["labels"]] == [l["label"] for l in alone[text]["labels"]]
            assert [l["score"] for l in result["labels"]] == pytest.approx(
                [l["score"] for l in alone[text]["labels"]], abs=1e-5)
    assert len({tuple(l["score"] for l in r["labels"]) for r in together}) > 1  # not one answer for all


def test_serving_a_request_builds_no_monitoring_summary(client, tiny_classifier, monkeypatch):
    """By default Gradio's queue rebuilds a pandas table of its last 10,000 events after every event,
    for a monitoring dashboard: server CPU that grows with each request served. Here it is off."""
    import httpx
    from gradio import queueing

    summaries = []  # (events the queue had recorded, the summary it answered with) after each event
    compute = queueing.Queue.compute_analytics_summary

    def recorded(queue, records):
        summaries.append((len(records), compute(queue, records)))
        return summaries[-1][1]

    monkeypatch.setattr(queueing.Queue, "compute_analytics_summary", recorded)
    for text in ("Wonderful.", "Dull.", "Fine."):
        assert client.predict(text, tiny_classifier, api_name="/classify_sentiment")[1]["model"] == tiny_classifier
    assert len(summaries) >= 3 and summaries[-1][0] >= 3  # the queue asked after each event, with its records
    assert all(summary == {"functions": {}} for _, summary in summaries)  # and never built one
    # nor are the dashboard's figures (endpoints, timings, counts) served to whoever has the link
    assert httpx.get(client.src.rstrip("/") + "/monitoring/summary").status_code == 403


def test_classify_lines_scores_each_line(client, tiny_classifier):
    table, result, _ = client.predict("I loved it.\n\nDull and boring.\nFunny!", tiny_classifier,
                                      api_name="/classify_lines")
    from pipelines.tasks.sentiment import classify_lines

    lines = ["I loved it.", "Dull and boring.", "Funny!"]
    direct = classify_lines(lines, tiny_classifier)
    assert [row[0] for row in table["data"]] == lines
    assert [row[1] for row in table["data"]] == [r.labels[0].label for r in direct]  # each line's top label
    assert result == {"results": [pytest.approx(r.to_dict()) for r in direct]}


def test_score_csv_returns_a_scored_file(client, tiny_classifier, tmp_path):
    source = tmp_path / "reviews.csv"
    with source.open("w", newline="") as f:
        csv.writer(f).writerows([["id", "review"], [1, "Wonderful film."], [2, "Boring."], [3, "Funny."]])
    scored, summary, result, _ = client.predict(handle_file(str(source)), "review", tiny_classifier,
                                                api_name="/score_csv")
    assert result["rows"] == 3 and result["text_column"] == "review"
    with open(scored, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["review"] for r in rows] == ["Wonderful film.", "Boring.", "Funny."]
    labels = [r["label"] for r in rows]
    assert set(labels) <= {"NEGATIVE", "POSITIVE"}
    assert result["label_counts"] == {label: labels.count(label) for label in ("NEGATIVE", "POSITIVE")}
    assert "Scored 3 rows of column `review`" in summary


def test_summarize_returns_a_summary(client, tiny_bart):
    from pipelines.tasks.summarization import SummarySettings, summarize

    summary, result, took = client.predict(CONTEXT, tiny_bart, 12, 0, 2, False, 1.0, 1.0,
                                           api_name="/summarize")
    # what the pipeline itself writes with the settings the endpoint was given, in order
    direct = summarize(CONTEXT, tiny_bart, SummarySettings(max_new_tokens=12, min_new_tokens=0, num_beams=2))
    assert result == direct.to_dict() and summary == direct.summary
    assert took.endswith(f" · {direct.chunks} chunk" + ("s" if direct.chunks != 1 else ""))


def test_translate_returns_a_translation(client, tiny_t5):
    choices = translation.language_choices(tiny_t5)
    translated, result, _ = client.predict("The cat sat on the mat.", tiny_t5, choices.default_source,
                                           choices.default_target, api_name="/translate")
    direct = translation.translate("The cat sat on the mat.", tiny_t5, choices.default_source, choices.default_target)
    assert result == direct.to_dict() and translated == direct.translation
    assert (result["model"], result["source_lang"], result["target_lang"]) == (tiny_t5, "en", choices.default_target)


def test_generate_streams_growing_text(client, tiny_lm):
    job = client.submit("Call me Ishmael.", tiny_lm, 24, 0.0, 1.0, 0, 1.0, "", "", api_name="/generate")
    final_text, final_json, _ = job.result()
    texts = [output[0] for output in job.outputs()]
    assert len(texts) >= 3  # several updates, not one answer at the end
    assert all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:]))
    assert final_json == {"text": final_text, "model": tiny_lm, "precision": "float32"} and final_text == texts[-1]


@pytest.mark.parametrize("question, context, model, expected", [
    ("", CONTEXT, None, "question is empty"),
    ("Who?", "x" * 1_000_000, None, "limit is"),
    ("Who?", CONTEXT, "no-such-model", "no-such-model"),
    ("Who?", CONTEXT, "/etc", "outside"),
])
def test_bad_input_gets_a_message_and_the_app_stays_up(client, tiny_qa, question, context, model, expected):
    with pytest.raises(AppError, match=expected):
        client.predict(question, context, model or tiny_qa, 1, False, api_name="/answer_question")
    *_, result, _ = client.predict("Who wrote Don Quixote?", CONTEXT, tiny_qa, 1, False,
                                   api_name="/answer_question")
    assert result["answers"]


def test_bad_input_in_a_stream_gets_a_message(client, tiny_lm):
    with pytest.raises(AppError, match="prompt is empty"):
        client.submit("  ", tiny_lm, 8, 0.0, 1.0, 0, 1.0, "", "", api_name="/generate").result()


# --- handlers on their own, no server ---------------------------------------------------------

def test_context_upload_takes_text_files_only(tmp_path):
    import gradio as gr

    from ui import qa_tab

    notes = tmp_path / "notes.md"
    notes.write_text("# Cervantes\nHe was born in 1547.\n", encoding="utf-8")
    assert qa_tab.read_context_file(str(notes)).startswith("# Cervantes")
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    with pytest.raises(gr.Error, match="not a .txt or .md file"):
        qa_tab.read_context_file(str(pdf))
    huge = tmp_path / "huge.txt"
    huge.write_text("word " * 200_000)
    with pytest.raises(gr.Error, match="too large|limit"):
        qa_tab.read_context_file(str(huge))


def test_long_contexts_are_shown_as_excerpts_around_the_answers():
    from pipelines.tasks.qa import Answer, QAResult
    from ui import qa_tab

    context = "filler text. " * 1000 + "The answer is here." + " more filler." * 1000
    start = context.index("The answer")
    result = QAResult((Answer("The answer is here.", 0.9, start, start + 19),), "extractive", "m")
    pieces = qa_tab.highlight(context, result)
    assert ("The answer is here.", "#1 · 0.90") in pieces
    shown = "".join(text for text, _ in pieces)
    assert len(shown) < 2 * qa_tab.CHARS_AROUND_ANSWER + 100 and shown.startswith("… ")


def test_every_public_endpoint_is_an_mcp_tool_described_by_its_docstring(client):
    import json
    import urllib.request

    tools = json.loads(urllib.request.urlopen(client.src.rstrip("/") + "/gradio_api/mcp/schema").read())
    assert len(tools) == len(PUBLIC_ENDPOINTS)  # the private UI events are not tools
    by_name = {tool["name"]: tool for tool in tools}
    assert {"answer", "classify", "start_finetune", "start_evaluation", "start_learning_curve"} <= set(by_name)
    assert "Classify the sentiment of one text" in by_name["classify"]["description"]

