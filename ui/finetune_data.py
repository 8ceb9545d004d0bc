"""The Fine-tune tab's first step: the task, the base checkpoint and the data, previewed and checked.

Every data source ends in the same place, the tab's file component: an upload lands there, and a
built-in example or a Hub dataset is written to a file and put there. So what is previewed is exactly
what trains, and an upload is never replaced by anything but the user's own choice. The task decides
which columns are asked for (its roles) and what the small counts table shows.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pandas as pd

from pipelines.finetune import data, guardrails, presets, tasks
from pipelines.finetune.config import DEFAULT_BASE_MODEL
from pipelines.models import catalog
from pipelines.runtime import settings
from ui import common, finetune_generation

FILE_TYPES = [".csv", ".tsv", ".json", ".jsonl", ".parquet", ".txt"]
MAX_ROLES = 4  # column pickers on the page; a task uses the first len(task.roles)
GENERATIVE = finetune_generation.GENERATIVE_TASKS
TASK_CHOICES = [(task.title, task.name) for task in tasks.TASKS.values()]
# Built-in examples per task: (what the dropdown shows, a preset name or a file under examples/)
EXAMPLES = {
    "classification": {"Rotten Tomatoes reviews (preset: 5,000 snippets, positive/negative)": "rotten-tomatoes",
                       "Movie reviews (examples/sentiment_train.csv: 80 rows, positive/negative)":
                           "sentiment_train.csv"},
    "extractive-qa": {"Shakespeare scenes and written passages (preset: 460 questions)": "shakespeare-qa"},
    "masked-lm": {"Rotten Tomatoes review texts (preset: 5,000 snippets; the labels are not used)":
                      "rotten-tomatoes-texts"},
    # seq2seq: the same data as the causal-LM presets, for an encoder-decoder base from the Hub
    "seq2seq": {"BBC News articles and their headlines (400 pairs)": "bbc-headlines",
                "World English Bible to Louis Segond 1910, English to French (750 verses)": "bible-en-fr"},
    "causal-lm": {"BBC News headlines (preset: SmolLM2 + LoRA, summarization)": "bbc-headlines",
                  "English to French Bible verses (preset: SmolLM2 + LoRA, translation)": "bible-en-fr",
                  "Shakespeare's plays as plain text (preset: SmolLM2 + LoRA)": "shakespeare-lm"},
}


@dataclass(frozen=True)
class DataStep:
    """The components of the data step, for the tab to wire."""

    task: gr.Radio
    base: gr.Dropdown
    upload: gr.File
    example: gr.Dropdown
    hub_name: gr.Textbox
    hub_split: gr.Textbox
    hub_load: gr.Button
    summary: gr.Markdown
    preview: gr.Dataframe
    roles: tuple[gr.Dropdown, ...]
    counts: gr.Dataframe
    adapt: gr.Checkbox


def base_choices(task_name: str = "classification") -> list[tuple[str, str]]:
    """Checkpoints the task can start from, labelled like every other picker; a typed Hub id of any
    kind is accepted too."""
    kinds_wanted = tasks.get(task_name).base_kinds
    specs = {s.name: s for s in catalog.local_specs() + catalog.packaged_specs() + list(catalog.HUB_MODELS)
             if s.kind in kinds_wanted}
    return [(common.model_label(s), name) for name, s in specs.items()]


def refresh_bases(task_name: str = "classification") -> dict:
    return gr.update(choices=base_choices(task_name))


def build() -> DataStep:
    first = tasks.get("classification")
    task = gr.Radio(TASK_CHOICES, value=first.name, label="What should the model learn?", elem_id="finetune-task")
    with gr.Row():
        base = gr.Dropdown(
            base_choices(), value=DEFAULT_BASE_MODEL, label="Base checkpoint", allow_custom_value=True,
            info=("The pretrained model to start from. Or type a Hub id (org/name) or the name of a folder "
                  f"under {settings.models_dir()}."), scale=8, elem_id="finetune-base")
        refresh = gr.Button("↻ Refresh list", size="sm", scale=0, min_width=120)
    refresh.click(refresh_bases, task, outputs=base, api_visibility="private")
    with gr.Row():
        with gr.Column(scale=2):
            upload = gr.File(label="Data (CSV, TSV, JSON, JSONL or Parquet; plain text as .txt)", file_types=FILE_TYPES,
                             elem_id="finetune-file")
            example = gr.Dropdown(list(EXAMPLES[first.name]), value=None, label="Or a built-in example",
                                  elem_id="finetune-example")
            with gr.Accordion("Or a Hub dataset (online only)", open=False):
                hub_name = gr.Textbox(label="Dataset name", placeholder="cornell-movie-review-data/rotten_tomatoes")
                hub_split = gr.Textbox("train", label="Split")
                hub_load = gr.Button("Load from the Hub", size="sm")
        with gr.Column(scale=3):
            summary = gr.Markdown("Upload a file or pick an example to see its first rows.", elem_id="finetune-summary")
            preview = gr.Dataframe(label="First rows", interactive=False, wrap=True, max_height=260,
                                   visible=False, elem_id="finetune-preview")
    with gr.Row():
        with gr.Column(scale=3):
            with gr.Row():
                roles = tuple(gr.Dropdown([], label=_role_label(first, i), allow_custom_value=True,
                                          visible=i < len(first.roles), elem_id=f"finetune-column-{i + 1}")
                              for i in range(MAX_ROLES))
        counts = gr.Dataframe(headers=list(first.summary_headers), label="What the data holds", interactive=False,
                              scale=2, elem_id="finetune-counts")
    adapt = gr.Checkbox(label="First adapt the base to these texts (masked LM), and compare: three runs "
                              "(fine-tuned from the base; adapted, then fine-tuned; the untrained head)",
                        elem_id="finetune-adapt")
    return DataStep(task, base, upload, example, hub_name, hub_split, hub_load, summary, preview, roles, counts, adapt)


def _role_label(task, i: int) -> str:
    return task.roles[i].title if i < len(task.roles) else "Column"


def change_task(task_name: str):
    """The column pickers, counts table, examples and adaptation option of the chosen task."""
    task = tasks.get(task_name)
    roles = [gr.update(label=_role_label(task, i), visible=i < len(task.roles), value=None)
             for i in range(MAX_ROLES)]
    return (*roles, gr.update(value=None, headers=list(task.summary_headers)),
            gr.update(choices=list(EXAMPLES[task.name]), value=None),
            gr.update(visible=task.name == "classification", value=False),
            gr.update(choices=base_choices(task.name), value=task.default_base))


@common.shows_errors
def show_preview(task_name: str, upload):
    """The first rows, each role's guessed column, and the task's counts."""
    task = tasks.get(task_name)
    if upload is None:
        empty = gr.update(choices=[], value=None)
        return (gr.update(value=None, visible=False), "", *(empty,) * MAX_ROLES, [])
    path = common.file_path(upload)
    found = data.preview(path, task)
    columns = list(found.columns)
    summary = (f"**{path.name}**: {found.n_rows:,} rows; columns: " + ", ".join(f"`{c}`" for c in columns)
               + ". The columns for each role are guessed below; change them if the guess is wrong.")
    guesses = [found.guesses.get(role.name) for role in task.roles] + [None] * (MAX_ROLES - len(task.roles))
    counts = warn_if_unusable(path, task, {r.name: g for r, g in zip(task.roles, guesses) if g})
    return (gr.update(value=pd.DataFrame(found.rows, columns=columns), visible=True), summary,
            *(gr.update(choices=columns, value=guess) for guess in guesses), counts)


def chosen_columns(task_name: str, *columns: str | None) -> dict[str, str]:
    """The role pickers' values as {role: column}; empty pickers are left to the guess."""
    task = tasks.get(task_name)
    return {role.name: column for role, column in zip(task.roles, columns) if column}


def warn_if_unusable(path: Path, task, columns: dict[str, str]) -> list[list]:
    """The task's counts for these columns; a warning (not an error: the user can fix the choice)
    with the backend's message when the data would not train."""
    try:
        rows, _ = data.load_rows(path, task, columns)
    except ValueError as err:
        gr.Warning(str(err))
        return []
    warnings = guardrails.data_warnings(task, rows)
    for warning in warnings:
        gr.Warning(warning)
    return [[name, value] for name, value in task.summary(rows).items()] + [["⚠️ warning", w] for w in warnings]


@common.shows_errors
def check_columns(task_name: str, upload, *columns: str | None) -> list[list]:
    """The counts for the chosen columns, after the same checks that training makes."""
    if upload is None:
        return []
    return warn_if_unusable(common.file_path(upload), tasks.get(task_name), chosen_columns(task_name, *columns))


@common.shows_errors
def choose_example(task_name: str, example: str | None):
    """A built-in example's file (into the file component) and, for a preset, its settings."""
    source = EXAMPLES[task_name].get(example or "")
    untouched = (gr.skip(),) * len(finetune_generation.SETTING_NAMES)
    if source is None:
        return (gr.skip(),) * 6 + untouched
    if source.endswith(".csv"):
        return (str(common.EXAMPLES_DIR / source), gr.skip(), gr.skip(), gr.skip(), gr.skip(), "", *untouched)
    (config,) = presets.preset_configs(source)
    generative = finetune_generation.preset_settings(config) if config.task in GENERATIVE else untouched
    if task_name == "seq2seq":  # the causal-LM preset's data and purpose; full fine-tuning of a seq2seq base
        generative = (*generative[:6], False, *generative[7:])
    return (config.data_file, config.epochs, config.batch_size, config.max_length, config.learning_rate,
            config.dataset_name, *generative)


@common.shows_errors
def load_hub_dataset(name: str, split: str) -> str:
    """A Hub dataset's split as a Parquet file for the file component (online only)."""
    folder = Path(tempfile.mkdtemp(prefix="hub-dataset-", dir=settings.cache_dir()))
    return str(data.hub_dataset_file(name, split, folder))
