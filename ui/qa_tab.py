"""The Question answering tab: the answers highlighted inside the context, with their scores."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import gradio as gr

from pipelines.models import kinds
from pipelines.runtime import settings
from pipelines.text import corpora, inputs
from ui import common

if TYPE_CHECKING:
    from pipelines.tasks import qa

TASK = "qa"
TITLE = kinds.TASK_TITLES[TASK]
CONTEXT_FILE_TYPES = (".txt", ".md")
# A context longer than this is shown as excerpts around the answers: a whole play scene in the page
# buries the highlight the person came to see.
SHOWN_CONTEXT_CHARS = 4_000
CHARS_AROUND_ANSWER = 200
TOP_K_HEADERS = ["#", "Answer", "Score", "Start", "End"]


@common.shows_errors
def answer(question: str, context: str, model: str | None, top_k: float, phrase: bool):
    """Answer a question from a context: the top-k answers (extractive spans, or the context's best
    sentences for a sentence encoder) with scores and character offsets into the context."""
    from pipelines.tasks import qa  # deferred import, see app.py
    spec, loads = common.announce_loading(TASK, model)
    phrase_with = qa.default_phraser(spec) if phrase else None
    if phrase_with:
        common.announce_loading("generation", phrase_with)
    started = time.perf_counter()
    result = qa.answer_question(question, context, spec, inputs.whole_number(top_k, "Top-k"), phrase_with=phrase_with)
    return (highlight(context, result), answer_rows(result), result.generated or "", result.to_dict(),
            common.timing(started, result.model, loads, result.precision))


@common.shows_errors
def compare_answers(question: str, context: str, models: list[str], top_k: float, phrase: bool):
    """The same question and context for 2 or 3 models, one after another: a row and a result per model."""
    from pipelines.tasks import compare, qa  # deferred import, see app.py
    top_k = inputs.whole_number(top_k, "Top-k")

    def answer_with(spec):
        return qa.answer_question(question, context, spec, top_k,
                                  phrase_with=qa.default_phraser(spec) if phrase else None)

    comparison = compare.compare_models(
        TASK, models, {"question": question, "context": context, "top_k": top_k, "phrase": bool(phrase)},
        run=answer_with, describe=best_answer, on_load=common.note_loading)
    return common.comparison_rows(comparison), comparison.to_dict()


def best_answer(result: qa.QAResult) -> str:
    """The phrasing if there is one, else the best answer with its score."""
    if result.generated:
        return result.generated
    if not result.answers:
        return "(no answer)"
    best = result.answers[0]
    return f"{'no answer here; best guess: ' if result.no_answer else ''}{best.text} ({best.score:.2f})"


def answer_rows(result: qa.QAResult) -> list[list]:
    return [[rank, a.text, round(a.score, 4), a.start, a.end] for rank, a in enumerate(result.answers, 1)]


def highlight(context: str, result: qa.QAResult) -> list[tuple[str, str | None]]:
    """(text, label) pieces for gr.HighlightedText: each answer labelled with its rank and score."""
    spans = _answer_spans(context, result)
    if len(context) <= SHOWN_CONTEXT_CHARS or not spans:
        windows = [(0, min(len(context), SHOWN_CONTEXT_CHARS))]
    else:
        windows = _windows(spans, len(context))
    pieces: list[tuple[str, str | None]] = []
    for start, end in windows:
        if start > 0:
            pieces.append(("… ", None))
        position = start
        for s, e, label in spans:
            if start <= s and e <= end:
                pieces += [(context[position:s], None), (context[s:e], label)]
                position = e
        pieces.append((context[position:end], None))
        if end < len(context):
            pieces.append((" …", None))
    if result.no_answer:
        pieces.insert(0, ("no answer in this context", "no answer"))
    return pieces


def _answer_spans(context: str, result: qa.QAResult) -> list[tuple[int, int, str]]:
    """Answer spans in context order; a span overlapping a better-ranked one is left unmarked."""
    kept: list[tuple[int, int, str]] = []
    for rank, a in enumerate(result.answers, 1):
        if a.start is None or a.end is None or a.end > len(context):
            continue
        if all(a.end <= s or e <= a.start for s, e, _ in kept):
            kept.append((a.start, a.end, f"#{rank} · {a.score:.2f}"))
    return sorted(kept)


def _windows(spans: list[tuple[int, int, str]], length: int) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for s, e, _ in spans:
        start, end = max(0, s - CHARS_AROUND_ANSWER), min(length, e + CHARS_AROUND_ANSWER)
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


@common.shows_errors
def read_context_file(upload) -> str:
    """The text of an uploaded .txt/.md file, to become the context."""
    common.refuse_uploads_in_demo("Reading a context from a file")
    path = common.file_path(upload)
    if path.suffix.lower() not in CONTEXT_FILE_TYPES:
        raise ValueError(f"'{path.name}' is not a .txt or .md file: upload plain text as the context.")
    if path.stat().st_size > 4 * inputs.max_input_chars():  # UTF-8 takes at most 4 bytes a character
        raise ValueError(f"'{path.name}' is too large for a context ({path.stat().st_size:,} bytes).")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"'{path.name}' is not UTF-8 text.") from err
    return inputs.require_text(text, "uploaded file")


def show_phrasing(phrase: bool) -> dict:
    return gr.update(visible=phrase)


def example_rows() -> tuple[list[list], list[str]]:
    examples = common.read_examples(TASK)
    rows = [[ex["question"], corpora.load_example_context(ex)] for ex in examples]
    labels = common.example_labels(examples, "question")
    return rows, labels


def build() -> gr.Dropdown:
    picker = common.model_picker(TASK, elem_id="qa-model")
    with gr.Row():
        with gr.Column():
            question = gr.Textbox(label="Question", elem_id="qa-question")
            context = gr.Textbox(label="Context", lines=10, max_lines=20, elem_id="qa-context")
            with gr.Row():
                upload = gr.UploadButton("Context from a .txt / .md file",
                                         file_types=list(CONTEXT_FILE_TYPES), size="sm",
                                         visible=not settings.demo_mode())
                top_k = gr.Slider(1, 10, value=3, step=1, label="Answers to show (top-k)")
            phrase = gr.Checkbox(label="Also phrase the answer with an instruct LM (sentence ranking; "
                                       "the phrasing is generated and may be wrong)")
            run = gr.Button("Answer", variant="primary", elem_id="qa-run")
            rows, labels = example_rows()
            common.examples_table(rows, [question, context], labels, elem_id="qa-examples")
        with gr.Column():
            highlighted = gr.HighlightedText(label="Answers in the context", elem_id="qa-highlight",
                                             show_legend=False)
            phrasing = gr.Textbox(label="Generated phrasing (by an instruct LM, may be wrong)",
                                  visible=False)
            table = gr.Dataframe(headers=TOP_K_HEADERS, label="Top answers", interactive=False, wrap=True,
                                 column_widths=["8%", "56%", "12%", "12%", "12%"])
            took = gr.Markdown(elem_id="qa-timing")
            with gr.Accordion("Result as JSON (what the API returns)", open=False):
                as_json = gr.JSON(label="Result")
    compare = common.compare_controls(TASK, "the question, context and settings above")
    gr.on([run.click, question.submit], answer, [question, context, picker, top_k, phrase],
          [highlighted, table, phrasing, as_json, took], api_name="answer_question")
    compare.run.click(compare_answers, [question, context, compare.models, top_k, phrase], [compare.table, as_json],
                      api_name="compare_answers")
    upload.upload(read_context_file, upload, context, api_visibility="private")
    phrase.change(show_phrasing, phrase, phrasing, api_visibility="private")
    return picker
