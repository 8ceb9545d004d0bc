"""The Text generation tab: sampling controls, a stop text, and tokens streamed as they come."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

import gradio as gr

from pipelines.models import kinds
from pipelines.text.inputs import whole_number
from ui import common

if TYPE_CHECKING:
    from pipelines.models import lm

TASK = "generation"
TITLE = kinds.TASK_TITLES[TASK]


@common.shows_errors
def generate(prompt: str, model: str | None, max_new_tokens: float, temperature: float, top_p: float,
             top_k: float, repetition_penalty: float, stop: str, system_prompt: str):
    """Generate text from a prompt (an instruct model follows it as a chat message); streamed: each yield
    carries the text so far."""
    from pipelines.tasks import generation  # deferred import, see app.py
    spec, loads = common.announce_loading(TASK, model)
    settings = generation_settings(max_new_tokens, temperature, top_p, top_k, repetition_penalty, stop)
    started = time.perf_counter()
    text = ""
    stream = generation.stream_text(prompt, spec, settings, system_prompt or None)
    for text in stream:
        yield text, stream.result(text).to_dict(), f"Generating… {_since(started)}"
    yield text, stream.result(text).to_dict(), common.timing(started, spec.name, loads, stream.precision)


@common.shows_errors
def compare_generations(prompt: str, models: list[str], max_new_tokens: float, temperature: float, top_p: float,
                        top_k: float, repetition_penalty: float, stop: str, system_prompt: str):
    """The same prompt and settings for 2 or 3 models, one after another: each one's whole text (not
    streamed) and its seconds. With temperature 0 each model's text is the same every time."""
    from pipelines.tasks import compare, generation  # deferred import, see app.py
    settings = generation_settings(max_new_tokens, temperature, top_p, top_k, repetition_penalty, stop)
    inputs = {"prompt": prompt, "system_prompt": system_prompt or None, **dataclasses.asdict(settings)}
    comparison = compare.compare_models(
        TASK, models, inputs, on_load=common.note_loading, describe=lambda result: result.text,
        run=lambda spec: generation.generate_text(prompt, spec, settings, system_prompt or None))
    return common.comparison_rows(comparison), comparison.to_dict()


def generation_settings(max_new_tokens: float, temperature: float, top_p: float, top_k: float,
                        repetition_penalty: float, stop: str) -> lm.GenerationSettings:
    """The sliders' values (floats from the UI) as the pipeline's settings."""
    from pipelines.models import lm  # deferred import, see app.py
    return lm.GenerationSettings(
        max_new_tokens=whole_number(max_new_tokens, "Max new tokens"), temperature=float(temperature),
        top_p=float(top_p), top_k=whole_number(top_k, "Top-k"), repetition_penalty=float(repetition_penalty),
        stop=stop_texts(stop))


def _since(started: float) -> str:
    return f"{time.perf_counter() - started:.1f} s"


def stop_texts(stop: str) -> tuple[str, ...]:
    """The stop field as stop texts: typed `\\n` means a line break, so 'stop at the first newline' works."""
    stop = (stop or "").replace("\\n", "\n")
    return (stop,) if stop else ()


def example_rows() -> tuple[list[list], list[str]]:
    examples = common.read_examples(TASK)
    rows = [[ex["prompt"], ex.get("system_prompt", "")] for ex in examples]
    labels = common.example_labels(examples, "prompt")
    return rows, labels


def build() -> gr.Dropdown:
    picker = common.model_picker(TASK, elem_id="generation-model")
    with gr.Row():
        with gr.Column():
            prompt = gr.Textbox(label="Prompt", lines=6, elem_id="generation-prompt")
            system_prompt = gr.Textbox("", label="System prompt (optional; instruct models)", lines=2)
            with gr.Accordion("Sampling", open=False):
                with gr.Row():
                    max_new = gr.Slider(1, 1024, value=128, step=1, label="Max new tokens",
                                        elem_id="generation-max-new-tokens")
                    temperature = gr.Slider(0.0, 2.0, value=0.7, step=0.05,
                                            label="Temperature (0 = greedy, same output every time)")
                with gr.Row():
                    top_p = gr.Slider(0.05, 1.0, value=0.9, step=0.05, label="Top-p")
                    top_k = gr.Slider(0, 200, value=50, step=1, label="Top-k (0 = off)")
                with gr.Row():
                    penalty = gr.Slider(1.0, 2.0, value=1.1, step=0.05, label="Repetition penalty")
                    stop = gr.Textbox("", label="Stop text", placeholder=r"e.g. \n or ###")
            with gr.Row():
                run = gr.Button("Generate", variant="primary", elem_id="generation-run")
                halt = gr.Button("Stop", variant="stop")
            rows, labels = example_rows()
            common.examples_table(rows, [prompt, system_prompt], labels, elem_id="generation-examples")
        with gr.Column():
            output = gr.Textbox(label="Generated text", lines=12, elem_id="generation-output")
            took = gr.Markdown(elem_id="generation-timing")
            with gr.Accordion("Result as JSON (what the API returns)", open=False):
                as_json = gr.JSON(label="Result")
    compare = common.compare_controls(TASK, "the prompt, system prompt and sampling settings above")
    running = run.click(generate, [prompt, picker, max_new, temperature, top_p, top_k, penalty, stop,
                                   system_prompt], [output, as_json, took], api_name="generate")
    halt.click(None, cancels=[running], api_visibility="private")
    compare.run.click(compare_generations, [prompt, compare.models, max_new, temperature, top_p, top_k, penalty,
                                            stop, system_prompt], [compare.table, as_json],
                      api_name="compare_generations")
    return picker
