"""The Translation tab: the language pickers offer only what the chosen model can do."""

from __future__ import annotations

import time

import gradio as gr

from pipelines.models import catalog, kinds, languages
from ui import common

TASK = "translation"
TITLE = kinds.TASK_TITLES[TASK]


@common.shows_errors
def translate(text: str, model: str | None, source_lang: str | None, target_lang: str | None):
    """Translate between the chosen languages (language codes, as the pickers give them)."""
    from pipelines.tasks import translation  # deferred import, see app.py
    spec, loads = common.announce_loading(TASK, model)
    started = time.perf_counter()
    result = translation.translate(text, spec, source_lang or None, target_lang or None)
    return result.translation, result.to_dict(), common.timing(started, result.model, loads, result.precision)


@common.shows_errors
def compare_translations(text: str, models: list[str], source_lang: str | None, target_lang: str | None):
    """The same text and languages for 2 or 3 models, one after another: a row and a result per model.
    Empty pickers leave each model its own default direction."""
    from pipelines.tasks import compare, translation  # deferred import, see app.py
    source, target = source_lang or None, target_lang or None
    comparison = compare.compare_models(
        TASK, models, {"text": text, "source_lang": source, "target_lang": target}, on_load=common.note_loading,
        run=lambda spec: translation.translate(text, spec, source, target),
        describe=lambda result: result.translation)
    return common.comparison_rows(comparison), comparison.to_dict()


@common.shows_errors
def update_languages(model: str | None) -> tuple[dict, dict]:
    """New source and target choices for the model just picked."""
    from pipelines.tasks import translation  # deferred import, see app.py
    choices = translation.language_choices(model or None)
    return (gr.update(choices=list(choices.sources), value=choices.default_source),
            gr.update(choices=list(choices.targets), value=choices.default_target))


@common.shows_errors
def fill_languages(model: str | None, source_lang: str | None, target_lang: str | None):
    """After a run with empty pickers (see `initial_languages`), offer what the model turned out to do."""
    if source_lang and target_lang:
        return gr.update(), gr.update()
    return update_languages(model)


def initial_languages(model: str | None) -> languages.LanguageChoices | None:
    """The pickers' first choices, when known without loading a model: starting the app loads none.

    Catalogue entries and instruct LMs list their languages; a local seq2seq model has to be loaded
    to tell, so its pickers stay empty (the model's own direction) until it is picked or run.
    """
    try:
        spec = catalog.resolve(TASK, model)
    except ValueError:  # no model can translate right now: the pickers stay empty until one is chosen
        return None
    route = languages.catalogue_route(spec)
    return route.choices() if route else None


def example_rows() -> tuple[list[list], list[str]]:
    examples = common.read_examples(TASK)
    rows = [[ex["text"], ex.get("source_lang"), ex.get("target_lang")] for ex in examples]
    labels = [f"{ex.get('source_lang', '?')} → {ex.get('target_lang', '?')}: {label}"
              for ex, label in zip(examples, common.example_labels(examples, "text", limit=60))]
    return rows, labels


def build() -> gr.Dropdown:
    picker = common.model_picker(TASK, elem_id="translation-model")
    offered = initial_languages(picker.value)
    with gr.Row():
        source = gr.Dropdown(list(offered.sources) if offered else [], label="From",
                             value=offered.default_source if offered else None,
                             elem_id="translation-source", allow_custom_value=True,
                             info="Only what the chosen model can do (a local model's: after its first run)")
        target = gr.Dropdown(list(offered.targets) if offered else [], label="To",
                             value=offered.default_target if offered else None,
                             elem_id="translation-target", allow_custom_value=True)
    with gr.Row():
        with gr.Column():
            text = gr.Textbox(label="Text", lines=8, max_lines=20, elem_id="translation-text")
            run = gr.Button("Translate", variant="primary", elem_id="translation-run")
            rows, labels = example_rows()
            common.examples_table(rows, [text, source, target], labels, elem_id="translation-examples")
        with gr.Column():
            translated = gr.Textbox(label="Translation", lines=8, elem_id="translation-output")
            took = gr.Markdown(elem_id="translation-timing")
            with gr.Accordion("Result as JSON (what the API returns)", open=False):
                as_json = gr.JSON(label="Result")
    compare = common.compare_controls(TASK, "the text and the languages above")
    picker.input(update_languages, picker, [source, target], api_visibility="private")
    running = run.click(translate, [text, picker, source, target], [translated, as_json, took],
                        api_name="translate")
    running.success(fill_languages, [picker, source, target], [source, target], api_visibility="private")
    compare.run.click(compare_translations, [text, compare.models, source, target], [compare.table, as_json],
                      api_name="compare_translations")
    return picker
