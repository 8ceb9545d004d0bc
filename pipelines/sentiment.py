"""Sentiment: how positive or negative a text is, for one text, many lines at once, or a CSV file.

Two kinds of model do it, and the result has the same shape for both:
- a sequence classifier (DistilBERT SST-2, a MiniLM fine-tuned in the fine-tune tab): texts run in
  batches, the labels and their order come from the checkpoint's ``config.id2label``;
- a causal LM (SmolLM2): asked for the sentiment in a prompt, each label is scored by how likely the
  model is to answer with it (`lm.label_probabilities_batch`), calibrated by its answers to texts
  with no content.

>>> classify_sentiment("I loved this film, it was wonderful",
...                    "SmolLM2-135M-Instruct (packaged)").to_dict()  # doctest: +SKIP
{'labels': [{'label': 'positive', 'score': 0.798...}, {'label': 'negative', 'score': 0.201...}], 'model': ...}
"""

from __future__ import annotations

import codecs
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from pipelines import catalog, lm, loading
from pipelines.inputs import require_text
from pipelines.microbatch import MicroBatcher

TASK = "sentiment"
# Single texts from concurrent requests that queue while their model is busy share its next forward
# pass, up to this many (pipelines.microbatch): about 1.4x the requests/s with 16 concurrent callers here.
MICRO_BATCH = 16
MAX_LINES = 1_000  # pasted lines; a bigger job belongs in a CSV upload, which reports progress
MAX_CSV_ROWS = 20_000  # a few minutes for a classifier on a CPU; much longer on an LM
# An LM answers the same two-way question the classifiers we offer and fine-tune were trained on
# (SST-2, Rotten Tomatoes), so the compare tab sets like against like. Offered "neutral" as well,
# SmolLM2-135M chose it for 1 of 200 Rotten Tomatoes snippets and accuracy stayed put (0.70).
LM_LABELS = ("positive", "negative")
LM_PROMPT = ("What is the sentiment of the following text? Answer with one word: positive or negative.\n\n"
             "Text: {text}")
# Contextual calibration (Zhao et al. 2021, "Calibrate before use"): SmolLM2 leans to "positive"
# whatever it reads (160 of those 200 snippets, 58% of them positive: accuracy 0.695). Dividing by
# its answer to texts with no content, then renormalising, lifted accuracy to 0.795.
CONTENT_FREE_TEXTS = ("N/A", "", "[MASK]")
LM_MAX_TEXT_TOKENS = 512  # the opening of a long text decides; the prompt must fit the context
TEXT_COLUMN_NAMES = {"text", "review", "reviews", "sentence", "comment", "comments", "content", "body",
                     "message", "tweet", "description", "feedback", "snippet"}

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class LabelScore:
    label: str
    score: float


@dataclass(frozen=True)
class SentimentResult:
    text: str
    labels: tuple[LabelScore, ...]  # every label of the model, highest score first
    model: str

    def to_dict(self) -> dict:
        return {"labels": [{"label": s.label, "score": s.score} for s in self.labels], "model": self.model}


@dataclass(frozen=True)
class ScoredTable:
    path: Path  # the scored CSV: original columns + label + score + one p_<label> column per label
    rows: int
    text_column: str
    label_counts: dict[str, int]  # rows whose top label is this one; blank rows count nowhere


def classify_sentiment(text: str, model: str | None = None) -> SentimentResult:
    """One text's label probabilities; concurrent calls for the same model are batched together."""
    return _SINGLE_TEXTS((model or "").strip() or None, require_text(text, "text"))


def classify_lines(texts: list[str], model: str | None = None, batch_size: int = 32) -> list[SentimentResult]:
    """One result per non-empty line, in the order given; empty lines are dropped."""
    lines = [require_text(t, "line") for t in texts if t and t.strip()]
    if not lines:
        raise ValueError("There is no text to classify: type or paste at least one line.")
    if len(lines) > MAX_LINES:
        raise ValueError(f"There are {len(lines):,} lines; at most {MAX_LINES:,} can be classified at once. "
                         f"Upload them as a CSV file instead (up to {MAX_CSV_ROWS:,} rows).")
    loaded = _load(model)
    labels, probs = _probabilities(loaded, lines, batch_size)
    return [_result(text, labels, row, loaded.spec.name) for text, row in zip(lines, probs)]


_SINGLE_TEXTS = MicroBatcher(lambda model, texts: classify_lines(texts, model), max_size=MICRO_BATCH)


def _load(model: str | None) -> loading.LoadedModel:
    loaded = loading.load(catalog.resolve(TASK, model))
    if loaded.kind not in (catalog.CLASSIFIER, catalog.CAUSAL_LM):
        raise ValueError(f"'{loaded.spec.name}' is a {loaded.kind} model: pick a text classifier or a "
                         "language model for sentiment.")
    return loaded


def _result(text: str, labels: Sequence[str], probs: Sequence[float], model: str) -> SentimentResult:
    ranked = sorted(zip(labels, probs), key=lambda pair: pair[1], reverse=True)  # stable on ties
    return SentimentResult(text=text, labels=tuple(LabelScore(l, float(p)) for l, p in ranked), model=model)


def _probabilities(loaded: loading.LoadedModel, texts: list[str], batch_size: int,
                   progress: Progress | None = None) -> tuple[tuple[str, ...], list[list[float]]]:
    """The model's labels, and one probability per label for each text, in the texts' order."""
    if batch_size < 1:
        raise ValueError(f"Batch size must be at least 1; got {batch_size}.")
    if loaded.kind == catalog.CLASSIFIER:
        return _classifier_probabilities(loaded, texts, batch_size, progress)
    return LM_LABELS, _lm_probabilities(loaded, texts, batch_size, progress)


# --- sequence classifiers -------------------------------------------------------------------------

def _classifier_probabilities(loaded: loading.LoadedModel, texts: list[str], batch_size: int,
                               progress: Progress | None) -> tuple[tuple[str, ...], list[list[float]]]:
    config, tokenizer = loaded.model.config, loaded.tokenizer
    labels = tuple(str(config.id2label.get(i, f"LABEL_{i}")) for i in range(config.num_labels))
    encoded = _preprocess(loaded, texts)
    # Shortest first, so each batch pads to a length close to all of its members'.
    order = sorted(range(len(texts)), key=lambda i: len(encoded["input_ids"][i]))
    probs: list[list[float]] = [[] for _ in texts]
    for start in range(0, len(order), batch_size):
        members = order[start: start + batch_size]
        batch = tokenizer.pad({k: [v[i] for i in members] for k, v in encoded.items()},
                              padding="longest", return_tensors="pt")
        for i, row in zip(members, _postprocess(_forward(loaded, batch), config)):
            probs[i] = row
        if progress is not None:
            progress(min(start + batch_size, len(order)), len(order))
    return labels, probs


def _preprocess(loaded: loading.LoadedModel, texts: list[str]) -> dict[str, list[list[int]]]:
    """Token ids per text, unpadded, cut to what the model can read."""
    limit = min(loaded.tokenizer.model_max_length,
                getattr(loaded.model.config, "max_position_embeddings", None) or 10**9)
    return dict(loaded.tokenizer(texts, truncation=True, max_length=limit))


def _forward(loaded: loading.LoadedModel, batch) -> torch.Tensor:
    with torch.inference_mode():
        return loaded.model(**{k: v.to(loaded.device) for k, v in batch.items()}).logits.float()


def _postprocess(logits: torch.Tensor, config) -> list[list[float]]:
    # As the text-classification pipeline does: independent labels (multi-label, or a single score)
    # get a sigmoid each, so their scores need not sum to 1; exclusive labels share a softmax.
    if config.problem_type == "multi_label_classification" or config.num_labels == 1:
        return torch.sigmoid(logits).tolist()
    return torch.softmax(logits, dim=-1).tolist()


# --- causal LMs -------------------------------------------------------------------------------------

def _lm_probabilities(loaded: loading.LoadedModel, texts: list[str], batch_size: int,
                      progress: Progress | None) -> list[list[float]]:
    # An instruct model starts its reply with the word; a plain LM writes it after "Sentiment:", so
    # the word it would write carries a leading space (one token, where the bare word is often two).
    suffix = "" if loaded.is_instruct else "\n\nSentiment:"
    candidates = list(LM_LABELS) if loaded.is_instruct else [" " + label for label in LM_LABELS]
    prompts = [LM_PROMPT.format(text=_clip(loaded.tokenizer, text)) + suffix for text in texts]
    bias = torch.tensor(lm.label_probabilities_batch(
        loaded, [LM_PROMPT.format(text=t) + suffix for t in CONTENT_FREE_TEXTS], candidates)).mean(0)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths pad less
    probs: list[list[float]] = [[] for _ in texts]
    for start in range(0, len(order), batch_size):
        members = order[start: start + batch_size]
        rows = torch.tensor(lm.label_probabilities_batch(loaded, [prompts[i] for i in members], candidates))
        calibrated = rows / bias
        for i, row in zip(members, (calibrated / calibrated.sum(-1, keepdim=True)).tolist()):
            probs[i] = row
        if progress is not None:
            progress(min(start + batch_size, len(order)), len(order))
    return probs


def _clip(tokenizer, text: str) -> str:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return text if len(ids) <= LM_MAX_TEXT_TOKENS else tokenizer.decode(ids[:LM_MAX_TEXT_TOKENS])


# --- CSV files -------------------------------------------------------------------------------------

def score_csv(path: str | Path, out_dir: str | Path, text_column: str | None = None, model: str | None = None,
              batch_size: int = 32, progress: Progress | None = None) -> ScoredTable:
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
    loaded = _load(model)
    labels, probs = _probabilities(loaded, [cells.iat[i] for i in filled], batch_size, progress)
    scored = _with_scores(table, filled, labels, probs)
    target = _unique_path(Path(out_dir), source.stem)
    scored.to_csv(target, index=False)
    tops = [labels[max(range(len(row)), key=row.__getitem__)] for row in probs]
    return ScoredTable(path=target, rows=len(table), text_column=column,
                       label_counts={label: tops.count(label) for label in labels})


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
        raise ValueError(f"'{path.name}' could not be read as CSV ({_first_line(err)}). Check that it is "
                         "comma-separated with a header row, or export it again as CSV (UTF-8).") from err
    if len(table) == 0:
        raise ValueError(f"'{path.name}' has no rows below its header: add rows of text to score.")
    if len(table) > MAX_CSV_ROWS:
        raise ValueError(f"'{path.name}' has more than {MAX_CSV_ROWS:,} rows: split it into smaller files "
                         "and score them one at a time.")
    return table


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


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


def guess_text_column(columns: Sequence[str], sample_rows: Sequence[Mapping | Sequence]) -> str:
    """The column that looks most like free text: the most words per row, numbers not counting,
    a usual name ('text', 'review', ...) worth two words more. Rows are dicts or lists in column order."""
    columns = [str(c) for c in columns]
    if not columns:
        raise ValueError("The table has no columns: upload a CSV file with a header row.")
    rows = [r if isinstance(r, Mapping) else dict(zip(columns, r)) for r in sample_rows]

    def looks_like_text(column: str) -> float:
        cells = [c for c in (str(r.get(column) or "").strip() for r in rows) if c]
        if cells and all(_is_number(c) for c in cells):
            return -1.0  # ids, ratings, prices: never the text, whatever the column is called
        words = sum(len(c.split()) for c in cells if not _is_number(c))
        return words / max(len(rows), 1) + (2.0 if column.strip().lower() in TEXT_COLUMN_NAMES else 0.0)

    best = max(columns, key=looks_like_text)  # the first of equals wins
    if looks_like_text(best) <= 0:
        raise ValueError(f"No column looks like text (columns: {', '.join(columns)}): "
                         "choose the text column yourself.")
    return best


def _is_number(cell: str) -> bool:
    try:
        float(cell.replace(",", ""))
        return True
    except ValueError:
        return False
