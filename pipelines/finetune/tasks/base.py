"""What every fine-tuning task provides, so the run machinery (runs, queue, Accelerate loop, registry,
CLI, views) stays blind to what is being learned.

A task module defines a subclass of `FinetuneTask` and does five jobs:
1. name its columns' roles and check the rows (`read_rows`: a ValueError names the rows at fault);
2. split them into training and held-out rows, and encode both for its model (`prepare`);
3. build the model from the base checkpoint, with the head the task needs (inside `prepare`);
4. score a model on the held-out rows: metrics plus one output per example (`evaluate`);
5. describe the result for the model card and the pickers (`card_lines`, `picker_note`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import datasets

from pipelines.finetune.config import DEFAULT_BASE_MODEL, FinetuneConfig
from pipelines.models import kinds
from pipelines.text.columns import guess_by_name, guess_text_column

MAX_ROWS_NAMED = 10  # row numbers quoted in one message


@dataclass(frozen=True)
class Role:
    """A column the task reads: "text" and "label" for classification, "context", "question", ..."""

    name: str
    title: str  # what the column picker is called: "Text column"
    names: tuple[str, ...]  # usual column names for it, best first
    required: bool = True
    free_text: bool = False  # guessed by words per row when no name matches


@dataclass(frozen=True)
class ExampleOutput:
    """One held-out example as a model saw and answered it."""

    input: str
    reference: str
    prediction: str
    score: float  # this example's own score in [0, 1], higher is better: sorts the worst first
    # the example's share of the headline metric, which `FinetuneTask.row_statistic` pools over any subset
    # of rows: (correct,) for accuracy, (F1,) for SQuAD, (loss sum, tokens) for perplexity
    parts: tuple[float, ...] = ()


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, float]  # the task's metrics; its headline metric among them
    outputs: tuple[ExampleOutput, ...]  # one per held-out example, in a fixed order
    details: dict = field(default_factory=dict)  # task-specific tables (classification: per class, confusion)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Evaluation:
        outputs = tuple(ExampleOutput(**{**o, "parts": tuple(o.get("parts") or ())}) for o in values["outputs"])
        return cls(metrics=dict(values["metrics"]), outputs=outputs,
                   details=dict(values.get("details") or {}))


@dataclass
class Prepared:
    """What the loop needs from a task for one run, built once in each training process."""

    model: Any  # a transformers PreTrainedModel with the task's head, transfer mode not yet applied
    tokenizer: Any
    train: datasets.Dataset  # encoded training rows (features), with their labels
    train_lengths: list[int]  # tokens per training row, for length-grouped batches
    held_out: datasets.Dataset  # encoded held-out rows, in the order evaluation reads them
    collate: Callable  # list of encoded rows -> a padded batch the model takes
    eval_collate: Callable
    train_rows: int  # examples, before windowing: what the user counts
    held_out_rows: int
    context: Any = None  # what `evaluate` needs besides the encoded rows (texts, label names, ...)
    facts: dict = field(default_factory=dict)  # for the start entry, result and card: labels, ...
    warnings: list[str] = field(default_factory=list)  # what the data's guardrails found (finetune/guardrails.py)


class FinetuneTask:
    name: str = ""
    title: str = ""
    roles: tuple[Role, ...] = ()
    metric: str = ""  # the headline metric, a key of Evaluation.metrics
    higher_is_better: bool = True
    curve_metrics: tuple[str, ...] = ()  # the metrics the score plot draws, all on curve_range's scale
    curve_range: tuple[float, float] | None = (0.0, 1.0)  # None: the plot scales itself
    shows_up_in: str = ""  # where the registered model can be picked, in the user's words
    default_max_length: int = 128
    saved_kind: str = ""  # models.kinds kind of the model a run registers: which tab picks it up
    # the kinds of checkpoint a run can start from (an encoder takes a new head; a decoder-only LM cannot
    # be trained as seq2seq); a Hub model whose kind is unknown until it loads is let through
    base_kinds: tuple[str, ...] = (kinds.SENTENCE_ENCODER, kinds.CLASSIFIER, kinds.EXTRACTIVE_QA, kinds.MASKED_LM)
    default_base: str = DEFAULT_BASE_MODEL  # what the Fine-tune tab offers first
    summary_headers: tuple[str, str] = ("", "")  # the preview's small table

    def check_base(self, spec) -> None:
        """A ValueError when the base checkpoint's kind cannot be trained for this task."""
        if spec.kind is not None and spec.kind not in self.base_kinds:
            raise ValueError(f"'{spec.name}' is a {spec.kind} model; a {self.title.lower()} run starts from a "
                             f"{' or '.join(self.base_kinds)} model. Pick another base checkpoint or another task.")

    def check_compared(self, bases: list) -> None:
        """A ValueError when these models (finetune.model.BaseModel) cannot be scored side by side on this
        task's rows in an evaluation; any set can by default."""

    def guess_columns(self, table: datasets.Dataset) -> dict[str, str | None]:
        """Each role's likeliest column: by name, else (free text) by words per row."""
        sample = table.select(range(min(len(table), 200))).to_list()
        guesses: dict[str, str | None] = {}
        for role in self.roles:
            free = [c for c in table.column_names if c not in guesses.values()]
            found = guess_by_name(free, role.names)
            if found is None and role.free_text:
                strings = [c for c in free if _is_string(table.features[c])]
                try:
                    found = guess_text_column(strings, sample, role.names) if strings else None
                except ValueError:
                    found = None
            guesses[role.name] = found
        return guesses

    def columns_for(self, table: datasets.Dataset, chosen: dict[str, str], file_name: str) -> dict[str, str]:
        """The column of every role: the user's choice, else the guess; a ValueError for a role
        with neither, a column the file lacks, or one column chosen twice."""
        unknown = sorted(set(chosen) - {r.name for r in self.roles})
        if unknown:
            raise ValueError(f"The {self.title} task has no column role {', '.join(map(repr, unknown))}; its roles "
                             f"are: {', '.join(r.name for r in self.roles)}.")
        guessed, have = self.guess_columns(table), ", ".join(table.column_names)
        columns = {}
        for role in self.roles:
            column = chosen.get(role.name)
            if column is None and guessed[role.name] not in chosen.values():  # a guess never takes a chosen one
                column = guessed[role.name]
            if column is None:
                if role.required:
                    raise ValueError(f"Could not tell which column of '{file_name}' holds the {role.name} "
                                     f"(columns: {have}). Choose the {role.title.lower()}.")
                continue
            if column not in table.column_names:
                raise ValueError(f"'{file_name}' has no column '{column}'; its columns are: {have}.")
            if column in columns.values():
                raise ValueError(f"Column '{column}' is chosen for two roles; pick a different column for "
                                 f"the {role.name}.")
            columns[role.name] = column
        return columns

    def read_rows(self, table: datasets.Dataset, columns: dict[str, str], file_name: str) -> datasets.Dataset:
        """The rows as the task's own columns (role names), checked; ValueError naming the rows at fault."""
        raise NotImplementedError

    def summary(self, rows: datasets.Dataset) -> dict[str, int]:
        """A few counts the preview shows (classification: rows per label)."""
        return {"rows": len(rows)}

    def prepare(self, rows: datasets.Dataset, base, config: FinetuneConfig) -> Prepared:
        raise NotImplementedError

    def evaluate(self, model, loader, accelerator, prepared: Prepared) -> Evaluation:
        raise NotImplementedError

    def held_out_rows(self, rows: datasets.Dataset, config: FinetuneConfig, facts: dict) -> datasets.Dataset:
        """The rows (task columns, as read_rows gives them) a run with this config and these facts held out:
        what an evaluation scores other models on."""
        return random_split(rows, config)[1]

    def save(self, model, prepared: Prepared, folder) -> None:
        """Write the trained model as a save_pretrained folder."""
        model.save_pretrained(folder)
        prepared.tokenizer.save_pretrained(folder)

    def registered_tasks(self) -> tuple[str, ...] | None:
        """The app tasks whose pickers offer the trained model; None: every task its kind can do."""
        return None

    def picker_note(self, config: FinetuneConfig, result: dict) -> str:
        return (f"Fine-tuned here ({self.title.lower()}) from {result['base_model']} on {result['dataset']} "
                f"({result['train_rows']} rows): held-out {self.metric} {result['fine_tuned'][self.metric]:.3f}, "
                f"base {result['base'][self.metric]:.3f}. Run {result['run_id']}.")

    def card_lines(self, result: dict) -> list[str]:
        """Task-specific lines of the model card (after the metrics table)."""
        return []

    def headline(self, metrics: dict[str, float]) -> str:
        return f"{self.metric} {metrics[self.metric]:.3f}"

    # --- small-data guardrails (finetune/guardrails.py) ---------------------------------------------------

    input_words: str = "text"  # what a row's input is called in a warning

    def input_key(self, row: dict) -> str:
        """A row's input (what the model reads), to find repeated rows and rows on both sides of a split."""
        return str(row.get("text") or row.get("source") or "")

    # --- comparing models on the same rows (pipelines/evaluation) ---------------------------------------

    points_scale: float = 1.0  # turns a difference of the headline metric into points (accuracy: 100)

    def row_statistic(self, evaluation: Evaluation):
        """The headline metric on any rows of the held-out set (indices, with repeats): by default the mean
        of each example's single part."""
        from pipelines.evaluation.stats import mean_of

        return mean_of([o.parts[0] for o in evaluation.outputs])

    def example_values(self, evaluation: Evaluation) -> list[float]:
        """Per example, higher is better: what decides which model wins a row."""
        return [o.score for o in evaluation.outputs]


def held_out_only(rows: datasets.Dataset) -> tuple[datasets.Dataset, datasets.Dataset]:
    """(train, held out) of an evaluation job: every row held out. The training side keeps the first row
    only so that each task's encoding runs as it does for a run (an empty table maps to no columns); nothing
    trains on it."""
    return rows.select(range(min(1, len(rows)))), rows


def random_split(rows: datasets.Dataset, config: FinetuneConfig) -> tuple[datasets.Dataset, datasets.Dataset]:
    """(train, held out): a random share with the run's split seed (at most config.max_eval_rows held out),
    the training rows cut to config.max_train_rows; every row held out for an evaluation job."""
    if config.held_out_only:
        return held_out_only(rows)
    n_eval = max(1, min(config.max_eval_rows, round(len(rows) * config.eval_fraction)))
    parts = rows.train_test_split(test_size=n_eval, seed=config.effective_split_seed)
    train = parts["train"]
    if config.max_train_rows is not None and config.max_train_rows < len(train):
        if config.split_seed is not None:  # a held-out set of its own: the training rows drawn with the seed
            train = train.shuffle(seed=config.seed)
        train = train.select(range(config.max_train_rows))
    return train, parts["test"]


def rows_list(numbers: list[int], shown: int = MAX_ROWS_NAMED) -> str:
    """'3, 7, 12 and 5 more': row numbers counted from 1 at the first row of data."""
    listed = ", ".join(str(n) for n in numbers[:shown])
    return listed + (f" and {len(numbers) - shown} more" if len(numbers) > shown else "")


def cell_text(value) -> str:
    """A cell as text: '' for a blank cell (None, or NaN where pandas typed a blank column as float)."""
    if value is None or isinstance(value, float) and value != value:
        return ""
    return str(value).strip()


def require_text_cells(values: list, column: str, what: str) -> list[str]:
    """The cells as text; a ValueError naming the rows with none."""
    texts = [cell_text(v) for v in values]
    if all(not t for t in texts):
        raise ValueError(f"Column '{column}' is empty: no row has a {what}. Choose the column that holds them.")
    blank = [i + 1 for i, t in enumerate(texts) if not t]
    if blank:
        raise ValueError(f"{len(blank)} row(s) have no {what} in column '{column}': {rows_list(blank)}. Fill "
                         "them in or delete those rows, then upload the file again.")
    return texts


def require_string_column(table: datasets.Dataset, column: str, what: str) -> None:
    if not _is_string(table.features[column]):
        raise ValueError(f"Column '{column}' holds {table.features[column]} values, not text; choose the column "
                         f"with the {what}.")


def _is_string(feature) -> bool:
    return isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string")
