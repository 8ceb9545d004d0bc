"""From an uploaded file to a validated, stratified train / held-out split of (text, label) rows.

Every check runs before any training and raises ValueError with a sentence that names the rows or
columns at fault and what to do. The uploaded file is only ever read; a run keeps its own copy.
Rows are numbered from 1 at the first row of data (the line after a CSV header).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import datasets

from pipelines.runtime.errors import first_line
from pipelines.text.columns import guess_label_column, guess_text_column

# extension -> (datasets builder, extra builder arguments)
FORMATS = {".csv": ("csv", {}), ".tsv": ("csv", {"delimiter": "\t"}), ".json": ("json", {}),
           ".jsonl": ("json", {}), ".parquet": ("parquet", {})}
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # a few hundred thousand labelled texts; more will not train in minutes
MIN_ROWS = 20  # below this the held-out split says nothing about whether training helped
PREVIEW_ROWS = 10


@dataclass(frozen=True)
class DatasetPreview:
    """What the Fine-tune tab shows before training: the first rows and the columns it would use."""

    columns: tuple[str, ...]
    rows: list[dict]  # the first PREVIEW_ROWS rows
    text_column: str | None  # guesses; the user can pick others
    label_column: str | None
    label_counts: dict[str, int]  # of the guessed label column
    n_rows: int

    def to_dict(self) -> dict:
        return {"columns": list(self.columns), "rows": self.rows, "text_column": self.text_column,
                "label_column": self.label_column, "label_counts": self.label_counts, "n_rows": self.n_rows}


@dataclass(frozen=True)
class LabelledData:
    """A validated table of texts and their labels (as strings, in file order)."""

    texts: list[str]
    labels: list[str]
    text_column: str
    label_column: str

    @property
    def label_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.labels).items()))


@dataclass(frozen=True)
class Split:
    train: datasets.Dataset  # columns: text, label (ClassLabel with label_names)
    held_out: datasets.Dataset
    label_names: tuple[str, ...]


def read_table(path: Path) -> datasets.Dataset:
    """The file as a Dataset, after the checks that need the raw bytes (size, encoding, JSON syntax)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"'{path.name}' is a {suffix or 'extensionless'} file; upload a CSV, TSV, JSON, "
                         "JSONL or Parquet file.")
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
    builder, options = FORMATS[suffix]
    try:
        with tempfile.TemporaryDirectory() as tmp:  # keep_in_memory: nothing left behind per upload
            return datasets.load_dataset(builder, data_files=str(path), split="train", cache_dir=tmp,
                                         keep_in_memory=True, **options)
    except Exception as err:  # datasets wraps the parser's error; show the parser's own words
        cause = err.__cause__ or err
        reason = first_line(cause)
        hint = ("Check that every row has the same columns as the header." if builder == "csv" else
                "Check that every record has the same fields, each holding one type of value.")
        raise ValueError(f"Could not read '{path.name}' as {suffix[1:].upper()}: {reason}. {hint}") from err


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


def guess_columns(table: datasets.Dataset) -> tuple[str | None, str | None]:
    """The likeliest text and label columns (text.columns decides), or None where nothing fits."""
    sample = table.select(range(min(len(table), 500))).to_list()
    strings = [c for c in table.column_names if _is_string(table.features[c])]
    try:
        text = guess_text_column(strings, sample) if strings else None
    except ValueError:
        text = None
    label = guess_label_column([c for c in table.column_names if c != text], sample)
    return text, label


def _is_string(feature) -> bool:
    return isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string")


def preview(path: Path) -> DatasetPreview:
    table = read_table(path)
    text, label = guess_columns(table)
    counts = dict(Counter(_label_text(v) for v in table[label]).most_common()) if label else {}
    return DatasetPreview(columns=tuple(table.column_names), rows=table.select(range(min(len(table),
                          PREVIEW_ROWS))).to_list(), text_column=text, label_column=label,
                          label_counts=counts, n_rows=len(table))


def load_labelled(path: Path, text_column: str | None = None, label_column: str | None = None) -> LabelledData:
    """Read and validate the file: every row has a text and a label, at least two classes, enough rows."""
    table = read_table(path)
    guessed_text, guessed_label = guess_columns(table)
    text_column, label_column = text_column or guessed_text, label_column or guessed_label
    _check_columns(table, text_column, label_column, Path(path).name)
    if len(table) < MIN_ROWS:
        raise ValueError(f"'{Path(path).name}' has {len(table)} rows; fine-tuning needs at least {MIN_ROWS} "
                         "labelled rows (a few hundred give a model worth keeping).")
    texts, labels = table[text_column], [_label_text(v) for v in table[label_column]]
    _check_blanks([t if isinstance(t, str) else "" for t in texts], text_column, "text")
    _check_blanks(labels, label_column, "label")
    _check_classes(Counter(labels), label_column, len(labels))
    return LabelledData(texts=list(texts), labels=labels, text_column=text_column, label_column=label_column)


def _check_columns(table: datasets.Dataset, text_column: str | None, label_column: str | None,
                   name: str) -> None:
    have = ", ".join(table.column_names)
    if text_column is None or label_column is None:
        missing = "text" if text_column is None else "label"
        raise ValueError(f"Could not tell which column holds the {missing}s in '{name}' (columns: {have}). "
                         f"Choose the {missing} column.")
    for column in (text_column, label_column):
        if column not in table.column_names:
            raise ValueError(f"'{name}' has no column '{column}'; its columns are: {have}.")
    if text_column == label_column:
        raise ValueError(f"Column '{text_column}' is chosen as both text and label; pick two different columns.")
    for column, what in ((text_column, "text"), (label_column, "label")):
        if all(_label_text(v) == "" for v in table[column]):  # pandas types an all-blank column as float
            raise ValueError(f"Column '{column}' is empty: no row has a {what}. Choose the column that holds them.")
    if not _is_string(table.features[text_column]):
        raise ValueError(f"Column '{text_column}' holds {table.features[text_column]} values, not text; "
                         "choose the column with the texts.")


def _label_text(value) -> str:
    if value is None or isinstance(value, float) and value != value:  # None or NaN: a blank cell
        return ""
    return str(value).strip()


def _check_blanks(values: list[str], column: str, what: str) -> None:
    blank = [i + 1 for i, v in enumerate(values) if not v.strip()]
    if blank:
        raise ValueError(f"{len(blank)} row(s) have no {what} in column '{column}': {_rows(blank)}. Fill "
                         "them in or delete those rows, then upload the file again.")


def _rows(numbers: list[int], shown: int = 10) -> str:
    listed = ", ".join(str(n) for n in numbers[:shown])
    return listed + (f" and {len(numbers) - shown} more" if len(numbers) > shown else "")


def _check_classes(counts: Counter, column: str, n_rows: int) -> None:
    if len(counts) < 2:
        (only,) = counts
        raise ValueError(f"Every row of column '{column}' has the label '{only}'; a classifier needs at "
                         "least two classes. Add rows of another class, or choose another label column.")
    if len(counts) > max(2, n_rows // 2):
        raise ValueError(f"Column '{column}' has {len(counts)} different values in {n_rows} rows: that is "
                         "not a label column. Choose the column with the class of each row.")
    rare = sorted(label for label, n in counts.items() if n < 2)
    if rare:
        raise ValueError(f"Label(s) {', '.join(repr(r) for r in rare[:10])} in column '{column}' occur in only "
                         "one row; each class needs at least 2 rows (one to train, one to test). Add rows "
                         "or remove those labels.")


def split(data: LabelledData, label_names: tuple[str, ...], eval_fraction: float, max_eval_rows: int,
          max_train_rows: int | None, seed: int) -> Split:
    """A stratified held-out split with a fixed seed, so base and fine-tuned are scored on the same rows."""
    index = {name: i for i, name in enumerate(label_names)}
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=list(label_names))})
    table = datasets.Dataset.from_dict({"text": data.texts, "label": [index[v] for v in data.labels]},
                                       features=features)
    n_eval = max(len(label_names), min(max_eval_rows, round(len(table) * eval_fraction)))
    parts = table.train_test_split(test_size=n_eval, stratify_by_column="label", seed=seed)
    train = parts["train"]
    if max_train_rows is not None and max_train_rows < len(train):
        if max_train_rows < 2 * len(label_names):
            raise ValueError(f"max_train_rows={max_train_rows} is too few for {len(label_names)} classes.")
        train = train.train_test_split(train_size=max_train_rows, stratify_by_column="label", seed=seed)["train"]
    return Split(train=train, held_out=parts["test"], label_names=tuple(label_names))


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
