"""From an uploaded file to the checked rows of a task: reading, previewing, copying into a run.

Every check runs before any training and raises ValueError with a sentence that names the rows or
columns at fault and what to do (the task checks its own columns: finetune/tasks/). The uploaded
file is only ever read; a run keeps its own copy. Rows are numbered from 1 at the first row of data
(the line after a CSV header).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import datasets

from pipelines.finetune.tasks.base import FinetuneTask
from pipelines.runtime import settings
from pipelines.runtime.errors import first_line

# extension -> (datasets builder, extra builder arguments)
FORMATS = {".csv": ("csv", {}), ".tsv": ("csv", {"delimiter": "\t"}), ".json": ("json", {}),
           ".jsonl": ("json", {}), ".parquet": ("parquet", {})}
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # a few hundred thousand labelled texts; more will not train in minutes
PREVIEW_ROWS = 10


@dataclass(frozen=True)
class DatasetPreview:
    """What the Fine-tune tab shows before training: the first rows and the columns it would use."""

    columns: tuple[str, ...]
    rows: list[dict]  # the first PREVIEW_ROWS rows
    guesses: dict[str, str | None]  # the task's role -> the column guessed for it; the user can pick others
    n_rows: int

    def to_dict(self) -> dict:
        return {"columns": list(self.columns), "rows": self.rows, "guesses": self.guesses, "n_rows": self.n_rows}


def preview(path: Path, task: FinetuneTask) -> DatasetPreview:
    table = read_table(path)
    rows = table.select(range(min(len(table), PREVIEW_ROWS))).to_list()
    return DatasetPreview(columns=tuple(table.column_names), rows=rows, guesses=task.guess_columns(table),
                          n_rows=len(table))


def load_rows(path: Path, task: FinetuneTask, chosen: dict[str, str] | None = None
              ) -> tuple[datasets.Dataset, dict[str, str]]:
    """The file's rows as the task reads them, checked, and the column used for each role."""
    table = read_table(path)
    columns = task.columns_for(table, chosen or {}, Path(path).name)
    return task.read_rows(table, columns, Path(path).name), columns


def read_table(path: Path) -> datasets.Dataset:
    """The file as a Dataset, after the checks that need the raw bytes (size, encoding, JSON syntax)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS and suffix != ".txt":
        raise ValueError(f"'{path.name}' is a {suffix or 'extensionless'} file; upload a CSV, TSV, JSON, "
                         "JSONL or Parquet file (or plain text as .txt, for language modelling).")
    if not path.is_file():
        raise ValueError(f"There is no file at '{path}'.")
    size = path.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise ValueError(f"'{path.name}' is {size / 2**20:.0f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} "
                         "MB. Upload a sample of the rows.")
    if suffix != ".parquet":
        _check_utf8(path)
    if suffix in (".json", ".jsonl"):
        _check_json(path)
    if suffix == ".txt":
        return _within_row_limit(_paragraphs(path), path)
    builder, options = FORMATS[suffix]
    try:
        table = _load(builder, path, options)
    except Exception as err:  # datasets wraps the parser's error; show the parser's own words
        cause = err.__cause__ or err
        reason = first_line(cause)
        hint = ("Check that every row has the same columns as the header." if builder == "csv" else
                "Check that every record has the same fields, each holding one type of value.")
        raise ValueError(f"Could not read '{path.name}' as {suffix[1:].upper()}: {reason}. {hint}") from err
    return _within_row_limit(table, path)


def _load(builder: str, path: Path, options: dict, attempts: int = 3) -> datasets.Dataset:
    """datasets' reader, in memory (nothing left behind per upload). Its data-file lookup runs tqdm's
    thread_map, which now and then fails with "type object 'tqdm' has no attribute '_lock'" when another
    thread's progress bar closes at that moment (seen in the tests, 1 run in 3 at worst): that one error is
    retried."""
    for attempt in range(attempts):
        try:
            with tempfile.TemporaryDirectory() as tmp:
                return datasets.load_dataset(builder, data_files=str(path), split="train", cache_dir=tmp,
                                             keep_in_memory=True, **options)
        except AttributeError as err:
            if "_lock" not in str(err) or attempt == attempts - 1:
                raise


def _within_row_limit(table: datasets.Dataset, path: Path) -> datasets.Dataset:
    limit = settings.max_dataset_rows()
    if len(table) > limit:
        raise ValueError(f"'{path.name}' has {len(table):,} rows; the limit is {limit:,} (STUDIO_MAX_ROWS). Upload "
                         "a sample of the rows.")
    return table


def _paragraphs(path: Path) -> datasets.Dataset:
    """Plain text as one row per paragraph (text between blank lines), in a column named "text"."""
    text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    paragraphs = [p.strip() for p in re.split(r"\n[ \t]*\n", text) if p.strip()]
    if not paragraphs:
        raise ValueError(f"'{path.name}' holds no text.")
    return datasets.Dataset.from_dict({"text": paragraphs})


def _check_utf8(path: Path) -> None:
    with path.open("rb") as handle:
        for line_number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as err:
                raise ValueError(f"Line {line_number} of '{path.name}' is not UTF-8 text (byte "
                                 f"0x{line[err.start]:02x} at position {err.start + 1}). Save the file "
                                 "with UTF-8 encoding (Excel: 'CSV UTF-8') and upload it again.") from None


def _check_json(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    try:
        whole = json.loads(text)
    except json.JSONDecodeError as err:
        if err.msg != "Extra data":  # "Extra data" after one record: JSON Lines, checked line by line
            raise _json_error(path, err.lineno, err.msg) from None
        whole = None
    if whole is not None:
        if not (isinstance(whole, list) and all(isinstance(row, dict) for row in whole)):
            raise ValueError(f"'{path.name}' must hold a list of records like [{{\"text\": \"...\", "
                             "\"label\": \"...\"}, ...] or one such record per line (JSON Lines).")
        return
    for line_number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise _json_error(path, line_number, err.msg) from None
            if not isinstance(record, dict):
                raise _json_error(path, line_number, "the line is not a JSON object")


def _json_error(path: Path, line_number: int, reason: str) -> ValueError:
    return ValueError(f"Line {line_number} of '{path.name}' is not valid JSON ({reason}). Each record must "
                      "be an object like {\"text\": \"...\", \"label\": \"...\"}; fix that line.")


def copy_into(path: Path, folder: Path) -> Path:
    """A copy of the user's file inside `folder` (the run's data/), leaving the original untouched."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / Path(path).name
    shutil.copyfile(path, target)
    return target


def hub_dataset_file(name: str, split: str, folder: Path) -> Path:
    """A split of a Hub dataset written as Parquet in `folder`, so it is previewed, validated and copied
    into a run exactly like an upload."""
    from pipelines.runtime import settings

    name, split = (name or "").strip(), (split or "").strip() or "train"
    if not name:
        raise ValueError("Type a Hub dataset name such as 'cornell-movie-review-data/rotten_tomatoes'.")
    if not settings.hub_reachable():
        raise ValueError("The Hugging Face Hub cannot be reached (offline), so Hub datasets cannot be loaded. "
                         "Upload the data as a file, or pick a built-in example.")
    try:
        table = datasets.load_dataset(name, split=split)
    except Exception as err:  # not found, no such split, gated: the library's own first line says which
        reason = first_line(err)
        raise ValueError(f"Could not load split '{split}' of the Hub dataset '{name}': {reason}") from err
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name.replace('/', '__')}-{split}.parquet"
    table.to_parquet(str(target))
    return target
