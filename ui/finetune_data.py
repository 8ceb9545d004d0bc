"""The Fine-tune tab's first step: the base checkpoint and the labelled data, previewed and checked.

Every data source ends in the same place, the tab's file component: an upload lands there, and a
built-in example or a Hub dataset is written to a file and put there. So what is previewed is exactly
what trains, and an upload is never replaced by anything but the user's own choice.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr
import pandas as pd

from pipelines.finetune import data, preset_config
from pipelines.finetune.config import DEFAULT_BASE_MODEL
from pipelines.models import catalog, kinds
from pipelines.runtime import settings
from ui import common

FILE_TYPES = [".csv", ".tsv", ".json", ".jsonl", ".parquet"]
# Kinds of checkpoint that take a sequence-classification head; a typed Hub id of any kind is accepted.
BASE_KINDS = (kinds.SENTENCE_ENCODER, kinds.CLASSIFIER, kinds.EXTRACTIVE_QA)
PRESET_EXAMPLE = "Rotten Tomatoes reviews (preset: 5,000 snippets, positive/negative)"
CSV_EXAMPLE = "Movie reviews (examples/sentiment_train.csv: 80 rows, positive/negative)"
EXAMPLES = (PRESET_EXAMPLE, CSV_EXAMPLE)
COUNT_HEADERS = ["Label", "Rows"]


def base_choices() -> list[tuple[str, str]]:
    """Checkpoints that can be fine-tuned into a classifier, labelled like every other picker."""
    specs = {s.name: s for task in ("sentiment", "qa") for s in catalog.entries(task) if s.kind in BASE_KINDS}
    return [(common.model_label(s), name) for name, s in specs.items()]


def refresh_bases() -> dict:
    return gr.update(choices=base_choices())


def base_picker() -> gr.Dropdown:
    with gr.Row():
        picker = gr.Dropdown(
            base_choices(), value=DEFAULT_BASE_MODEL, label="Base checkpoint", allow_custom_value=True,
            info=("The pretrained model to start from. Or type a Hub id (org/name) or the name of a folder "
                  f"under {settings.models_dir()}."), scale=8, elem_id="finetune-base")
        refresh = gr.Button("↻ Refresh list", size="sm", scale=0, min_width=120)
    refresh.click(refresh_bases, outputs=picker, api_visibility="private")
    return picker


@common.shows_errors
def show_preview(upload):
    """The first rows, the columns with the guessed text and label columns, and the class counts."""
    if upload is None:
        empty = gr.update(choices=[], value=None)
        return gr.update(value=None, visible=False), "", empty, empty, []
    path = common.file_path(upload)
    found = data.preview(path)
    columns = list(found.columns)
    summary = (f"**{path.name}**: {found.n_rows:,} rows; columns: " + ", ".join(f"`{c}`" for c in columns)
               + ". Text and label columns are guessed below; change them if the guess is wrong.")
    warn_if_unusable(path, found.text_column, found.label_column)
    return (gr.update(value=pd.DataFrame(found.rows, columns=columns), visible=True), summary,
            gr.update(choices=columns, value=found.text_column), gr.update(choices=columns, value=found.label_column),
            count_rows(found.label_counts))


def count_rows(counts: dict[str, int]) -> list[list]:
    return [[label, n] for label, n in counts.items()]


def warn_if_unusable(path: Path, text_column: str | None, label_column: str | None) -> dict[str, int]:
    """The class counts of the chosen columns; a warning (not an error: the user can fix the choice)
    with the backend's message when the data would not train."""
    try:
        return data.load_labelled(path, text_column, label_column).label_counts
    except ValueError as err:
        gr.Warning(str(err))
        return {}


@common.shows_errors
def check_columns(upload, text_column: str | None, label_column: str | None) -> list[list]:
    """Class counts for the chosen columns, after the same checks that training makes."""
    if upload is None or not text_column or not label_column:
        return []
    return count_rows(warn_if_unusable(common.file_path(upload), text_column, label_column))


@common.shows_errors
def choose_example(example: str | None):
    """A built-in example's file (into the file component) and, for the preset, its settings."""
    if not example:
        return (gr.skip(),) * 6
    if example == PRESET_EXAMPLE:
        config = preset_config("rotten-tomatoes")
        return (config.data_file, config.epochs, config.batch_size, config.max_length, config.learning_rate,
                "rotten-tomatoes")
    return str(common.EXAMPLES_DIR / "sentiment_train.csv"), gr.skip(), gr.skip(), gr.skip(), gr.skip(), ""


@common.shows_errors
def load_hub_dataset(name: str, split: str) -> str:
    """A Hub dataset's split as a Parquet file for the file component (online only)."""
    folder = Path(tempfile.mkdtemp(prefix="hub-dataset-", dir=settings.cache_dir()))
    return str(data.hub_dataset_file(name, split, folder))
