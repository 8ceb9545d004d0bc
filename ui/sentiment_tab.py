"""The Sentiment tab: label probabilities as bars, several lines at once, or a whole CSV file."""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING

import gradio as gr

from pipelines.models import kinds, loading
from pipelines.runtime import settings
from ui import common

if TYPE_CHECKING:
    from pipelines.tasks import sentiment

TASK = "sentiment"
TITLE = kinds.TASK_TITLES[TASK]
LINE_HEADERS = ["Text", "Label", "Score"]
# Single-text requests that may be in the handler at once. More than the app's default, because the
# pipeline groups the ones that wait for the model into its next forward pass (pipelines.tasks.sentiment.
# MICRO_BATCH): a waiting request holds a thread, not a core.
CONCURRENT_SINGLE_TEXTS = 16


@common.shows_errors
def classify(text: str, model: str | None):
    """Classify the sentiment of one text: each label's probability, highest first."""
    from pipelines.tasks import sentiment  # deferred import, see app.py
    spec, loads = common.announce_loading(TASK, model)
    had_float32 = loading.is_loaded(spec, "float32")
    started = time.perf_counter()
    result = sentiment.classify_sentiment(text, spec)
    bars = {item.label: item.score for item in result.labels}
    loads = loads or _loaded_float32_copy(result.precision, had_float32)
    return bars, result.to_dict(), common.timing(started, result.model, loads, result.precision)


def _loaded_float32_copy(precision: str, had_float32: bool) -> bool:
    # A short request runs on the classifier's float32 copy (sentiment.model_for); its first one loads it.
    return precision == "float32" and not had_float32


@common.shows_errors
def compare_sentiment(text: str, models: list[str]):
    """One text through 2 or 3 models, one after another: a table row and a result per model."""
    from pipelines.tasks import compare, sentiment  # deferred import, see app.py
    comparison = compare.compare_models(TASK, models, {"text": text}, on_load=common.note_loading,
                                        run=functools.partial(sentiment.classify_sentiment, text),
                                        prepare=functools.partial(sentiment.model_for, [text]),
                                        describe=top_label)
    return common.comparison_rows(comparison), comparison.to_dict()


def top_label(result: sentiment.SentimentResult) -> str:
    return f"{result.labels[0].label} ({result.labels[0].score:.2f})"


@common.shows_errors
def classify_lines(lines: str, model: str | None):
    """Each non-empty line scored on its own, in batches: one table row per line."""
    from pipelines.tasks import sentiment  # deferred import, see app.py
    spec, loads = common.announce_loading(TASK, model)
    had_float32 = loading.is_loaded(spec, "float32")
    started = time.perf_counter()
    results = sentiment.classify_lines((lines or "").splitlines(), spec)
    loads = loads or _loaded_float32_copy(results[0].precision, had_float32)
    rows = [[r.text, r.labels[0].label, round(r.labels[0].score, 4)] for r in results]
    as_json = {"results": [r.to_dict() for r in results]}
    return rows, as_json, common.timing(started, results[0].model, loads, results[0].precision)


@common.shows_errors
def score_file(upload, text_column: str, model: str | None, progress=gr.Progress()):
    """A CSV scored in batches; the scored copy is offered back for download."""
    from pipelines.tasks import sentiment_csv  # deferred import, see app.py
    common.refuse_uploads_in_demo("Scoring an uploaded CSV file")
    if upload is None:
        raise ValueError("Upload a CSV file first.")
    path = common.file_path(upload)
    spec, loads = common.announce_loading(TASK, model)
    started = time.perf_counter()
    table = sentiment_csv.score_csv(path, path.parent, text_column.strip() or None, spec,
                                    progress=progress_reporter(progress))
    counts = ", ".join(f"{label} {count:,}" for label, count in table.label_counts.items())
    summary = f"Scored {table.rows:,} rows of column `{table.text_column}`: {counts}."
    # the file itself is the first output; a "path" key here would make clients take this for a file
    as_json = {"scored_file": table.path.name, "rows": table.rows, "text_column": table.text_column,
               "label_counts": dict(table.label_counts)}
    return str(table.path), summary, as_json, common.timing(started, spec.name, loads, table.precision)


def progress_reporter(progress: gr.Progress):
    """Adapt the pipeline's (rows done, rows in all) callback to Gradio's progress bar."""
    return lambda done, total: progress(done / max(total, 1), desc=f"{done:,} / {total:,} rows")


def example_rows(several_lines: bool) -> list[list]:
    """Single texts for the one-text tab, multi-line texts for the several-lines tab."""
    return [[ex["text"]] for ex in common.read_examples(TASK) if ("\n" in ex["text"]) == several_lines]


def example_files() -> list[list]:
    path = common.EXAMPLES_DIR / "sentiment.csv"
    return [[str(path)]] if path.is_file() else []


def build() -> gr.Dropdown:
    picker = common.model_picker(TASK, elem_id="sentiment-model")
    with gr.Tab("One text"):
        with gr.Row():
            with gr.Column():
                text = gr.Textbox(label="Text", lines=4, elem_id="sentiment-text")
                run = gr.Button("Classify", variant="primary", elem_id="sentiment-run")
                common.examples_table(example_rows(False), [text], elem_id="sentiment-examples")
            bars = gr.Label(label="Sentiment", elem_id="sentiment-label")
    with gr.Tab("Several lines"):
        with gr.Row():
            with gr.Column():
                lines = gr.Textbox(label="One text per line", lines=8)
                run_lines = gr.Button("Classify each line", variant="primary")
                common.examples_table(example_rows(True), [lines])
            line_table = gr.Dataframe(headers=LINE_HEADERS, label="One result per line",
                                      interactive=False, wrap=True, column_widths=["68%", "18%", "14%"])
    with gr.Tab("CSV file", visible=not settings.demo_mode()):
        with gr.Row():
            with gr.Column():
                csv_in = gr.File(label="CSV with a text column", file_types=[".csv"])
                column = gr.Textbox("", label="Text column", placeholder="found automatically if empty")
                run_csv = gr.Button("Score the file", variant="primary")
                common.examples_table(example_files(), [csv_in])
            with gr.Column():
                csv_out = gr.File(label="Scored CSV (download)")
                csv_summary = gr.Markdown()
    took = gr.Markdown(elem_id="sentiment-timing")
    with gr.Accordion("Result as JSON (what the API returns)", open=False):
        as_json = gr.JSON(label="Result")
    compare = common.compare_controls(TASK, "the text of the One text tab")
    gr.on([run.click, text.submit], classify, [text, picker], [bars, as_json, took],
          api_name="classify_sentiment", concurrency_limit=CONCURRENT_SINGLE_TEXTS)
    run_lines.click(classify_lines, [lines, picker], [line_table, as_json, took], api_name="classify_lines")
    run_csv.click(score_file, [csv_in, column, picker], [csv_out, csv_summary, as_json, took],
                  api_name="score_csv")
    compare.run.click(compare_sentiment, [text, compare.models], [compare.table, as_json],
                      api_name="compare_sentiment")
    return picker
