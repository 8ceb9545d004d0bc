"""The Summarization tab: length and decoding controls; long documents are summarized in chunks."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

import gradio as gr

from pipelines.models import kinds
from pipelines.text.inputs import whole_number
from ui import common

if TYPE_CHECKING:
    from pipelines.tasks import summarization

TASK = "summarization"
TITLE = kinds.TASK_TITLES[TASK]


@common.shows_errors
def summarize(text: str, model: str | None, max_new_tokens: float, min_new_tokens: float,
              num_beams: float, do_sample: bool, temperature: float, top_p: float):
    """Summarize a text (long ones in chunks) with the chosen length and decoding settings."""
    from pipelines.tasks import summarization  # deferred import, see app.py
    spec, loads = common.announce_loading(TASK, model)
    settings = summary_settings(max_new_tokens, min_new_tokens, num_beams, do_sample, temperature, top_p)
    started = time.perf_counter()
    result = summarization.summarize(text, spec, settings)
    chunks = f" · {result.chunks} chunk{'s' if result.chunks != 1 else ''}"
    return result.summary, result.to_dict(), common.timing(started, result.model, loads, result.precision) + chunks


@common.shows_errors
def compare_summaries(text: str, models: list[str], max_new_tokens: float, min_new_tokens: float,
                      num_beams: float, do_sample: bool, temperature: float, top_p: float):
    """The same text and settings for 2 or 3 models, one after another: a row and a result per model."""
    from pipelines.tasks import compare, summarization  # deferred import, see app.py
    settings = summary_settings(max_new_tokens, min_new_tokens, num_beams, do_sample, temperature, top_p)
    comparison = compare.compare_models(
        TASK, models, {"text": text, **dataclasses.asdict(settings)}, on_load=common.note_loading,
        run=lambda spec: summarization.summarize(text, spec, settings), describe=lambda result: result.summary)
    return common.comparison_rows(comparison), comparison.to_dict()


def summary_settings(max_new_tokens: float, min_new_tokens: float, num_beams: float, do_sample: bool,
                     temperature: float, top_p: float) -> summarization.SummarySettings:
    """The sliders' values (floats from the UI) as the pipeline's settings."""
    from pipelines.tasks import summarization  # deferred import, see app.py
    return summarization.SummarySettings(
        max_new_tokens=whole_number(max_new_tokens, "Max new tokens"),
        min_new_tokens=whole_number(min_new_tokens, "Min new tokens"), num_beams=whole_number(num_beams, "Beams"),
        do_sample=bool(do_sample), temperature=float(temperature), top_p=float(top_p))


def example_rows() -> tuple[list[list], list[str]]:
    examples = common.read_examples(TASK)
    rows = [[ex["text"]] for ex in examples]
    labels = common.example_labels(examples, "text")
    return rows, labels


def build() -> gr.Dropdown:
    picker = common.model_picker(TASK, elem_id="summarization-model")
    with gr.Row():
        with gr.Column():
            text = gr.Textbox(label="Text to summarize", lines=12, max_lines=24,
                              elem_id="summarization-text")
            with gr.Accordion("Length and decoding", open=False):
                with gr.Row():
                    min_new = gr.Slider(0, 256, value=0, step=1, label="Min new tokens")
                    max_new = gr.Slider(8, 512, value=128, step=1, label="Max new tokens",
                                        elem_id="summarization-max-new-tokens")
                beams = gr.Slider(1, 8, value=4, step=1, label="Beams (beam search when sampling is off)")
                sample = gr.Checkbox(label="Sample instead of beam search")
                with gr.Row():
                    temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Temperature")
                    top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="Top-p")
            run = gr.Button("Summarize", variant="primary", elem_id="summarization-run")
            rows, labels = example_rows()
            common.examples_table(rows, [text], labels, elem_id="summarization-examples")
        with gr.Column():
            summary = gr.Textbox(label="Summary", lines=8, elem_id="summarization-summary")
            took = gr.Markdown(elem_id="summarization-timing")
            with gr.Accordion("Result as JSON (what the API returns)", open=False):
                as_json = gr.JSON(label="Result")
    compare = common.compare_controls(TASK, "the text and the length and decoding settings above")
    run.click(summarize, [text, picker, max_new, min_new, beams, sample, temperature, top_p],
              [summary, as_json, took], api_name="summarize")
    compare.run.click(compare_summaries, [text, compare.models, max_new, min_new, beams, sample, temperature, top_p],
                      [compare.table, as_json], api_name="compare_summaries")
    return picker
