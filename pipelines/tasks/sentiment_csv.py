"""Sentiment for a whole CSV file: the text column found or chosen, every row scored in batches
with progress, and a new CSV written beside the scores (the uploaded file is only read).

The scoring itself is `pipelines.tasks.sentiment`'s, so a file gets the same labels and probabilities as
the same texts typed into the tab.
"""

from __future__ import annotations

import codecs
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipelines.models.catalog import ModelSpec
from pipelines.runtime.errors import first_line
from pipelines.tasks.sentiment import MAX_CSV_ROWS, Progress, load_model, probabilities
from pipelines.text.columns import guess_text_column
from pipelines.text.spreadsheet import neutralised_table


@dataclass(frozen=True)
class ScoredTable:
    path: Path  # the scored CSV: original columns + label + score + one p_<label> column per label
    rows: int
    text_column: str
    label_counts: dict[str, int]  # rows whose top label is this one; blank rows count nowhere
    precision: str = "float32"  # what the weights computed in: "bf16" or "float32" (loading.inference_precision)


def score_csv(path: str | Path, out_dir: str | Path, text_column: str | None = None,
              model: str | ModelSpec | None = None, batch_size: int = 32, progress: Progress | None = None) -> ScoredTable:
    """Classify the text column of every row and write a new CSV with the scores; the input is only read."""
    source = Path(path)
    table = _read_csv(source)
    column = text_column or guess_text_column(list(table.columns), table.head(20).to_dict("records"))
    if column not in table.columns:
        raise ValueError(f"'{source.name}' has no column '{column}'. Its columns are: "
                         f"{', '.join(map(str, table.columns))}. Pick one of them.")
    cells = table[column].str.strip()
    filled = [i for i, cell in enumerate(cells) if cell]
    if not filled:
        raise ValueError(f"The column '{column}' is empty in every row: pick the column that holds the texts.")
    loaded = load_model(model)
    labels, probs = probabilities(loaded, [cells.iat[i] for i in filled], batch_size, progress)
    scored = _with_scores(table, filled, labels, probs)
    target = _unique_path(Path(out_dir), source.stem)
    neutralised_table(scored).to_csv(target, index=False)  # a formula cell must not run when the file is opened
    tops = [labels[max(range(len(row)), key=row.__getitem__)] for row in probs]
    return ScoredTable(path=target, rows=len(table), text_column=column,
                       label_counts={label: tops.count(label) for label in labels}, precision=loaded.precision)


def _read_csv(path: Path) -> pd.DataFrame:
    """Every cell as a string ('' where blank), at most MAX_CSV_ROWS rows, or a ValueError saying why not."""
    try:
        with path.open("rb") as f:
            head = f.read(65_536)
    except OSError as err:
        raise ValueError(f"Could not open '{path.name}' ({err.strerror}): upload the file again.") from err
    if b"\x00" in head:
        raise ValueError(f"'{path.name}' is not a text file: export the table as CSV (UTF-8) and upload that.")
    try:  # Excel on Windows saves "CSV" in cp1252 unless asked for UTF-8
        first = codecs.getincrementaldecoder("utf-8")().decode(head).splitlines()[:1]
        encoding = "utf-8-sig"
    except UnicodeDecodeError:
        first, encoding = head.decode("cp1252", errors="replace").splitlines()[:1], "cp1252"
    header = first[0] if first else ""
    sep = max([",", ";", "\t"], key=header.count)  # European spreadsheets write ';'; ties go to ','
    try:
        table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding=encoding,
                            nrows=MAX_CSV_ROWS + 1)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"'{path.name}' could not be read as CSV ({first_line(err)}). Check that it is "
                         "comma-separated with a header row, or export it again as CSV (UTF-8).") from err
    if len(table) == 0:
        raise ValueError(f"'{path.name}' has no rows below its header: add rows of text to score.")
    if len(table) > MAX_CSV_ROWS:
        raise ValueError(f"'{path.name}' has more than {MAX_CSV_ROWS:,} rows: split it into smaller files "
                         "and score them one at a time.")
    return table


def _with_scores(table: pd.DataFrame, filled: list[int], labels: Sequence[str],
                 probs: list[list[float]]) -> pd.DataFrame:
    """A copy of the table with label, score and p_<label> columns; blank rows keep them empty."""
    out = table.copy()
    names = _new_column_names(list(out.columns), ["label", "score"] + [f"p_{label}" for label in labels])
    top = [max(range(len(row)), key=row.__getitem__) for row in probs]
    out[names[0]] = ""
    out.loc[filled, names[0]] = [labels[k] for k in top]
    out[names[1]] = pd.Series([row[k] for row, k in zip(probs, top)], index=filled, dtype=float)
    for j, name in enumerate(names[2:]):
        out[name] = pd.Series([row[j] for row in probs], index=filled, dtype=float)
    return out  # missing floats are written as empty cells


def _new_column_names(existing: list[str], wanted: list[str]) -> list[str]:
    """`wanted`, except that a name the file already uses gets a 'predicted_' prefix (never overwrite
    the user's own columns: a labelled dataset often has a 'label' column already)."""
    taken, names = set(map(str, existing)), []
    for name in wanted:
        while name in taken:
            name = "predicted_" + name
        taken.add(name)
        names.append(name)
    return names


def _unique_path(out_dir: Path, stem: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^\w.-]+", "_", stem)[:60] or "table"
    return out_dir / f"{safe}-scored-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}.csv"
