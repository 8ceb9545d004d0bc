"""Extractive question answering: (context, question, answer) rows in, a model that points at the
answer's span in the context out (BERT reading a passage, as SQuAD trained it).

- Rows: SQuAD-style. `answer_start` is optional: without it the answer's first occurrence in the
  context is taken; an empty answer marks a question the context does not answer (SQuAD v2). A
  Hugging Face SQuAD answers cell ({"text": [...], "answer_start": [...]}) is read too.
- Long contexts are cut into overlapping windows exactly as the Question answering tab cuts them
  (`pipelines.tasks.qa.encode_windows`); a window without the answer learns "no answer" ([CLS]).
- Held out: whole contexts, so the model is scored on passages it never read.
- Evaluation decodes spans with the tab's own decoder (`qa.postprocess_extractive`) and scores them
  with SQuAD exact match and F1 (metrics/squad).
- The model lands in the Question answering tab's picker as an extractive model.

torch, transformers and the metrics are imported where they are used (see classification.py).
"""

from __future__ import annotations

import functools
import random

import datasets
import numpy as np

from pipelines.finetune import guardrails
from pipelines.finetune.config import FinetuneConfig
from pipelines.finetune.tasks.base import (ExampleOutput, Evaluation, FinetuneTask, Prepared, Role, cell_text,
                                           held_out_only, rows_list)
from pipelines.models import kinds

MIN_ROWS = 20
MAX_ANSWER_TOKENS = 30  # the tab's default max_answer_len
EXCERPT_CHARS = 60  # context shown around the reference answer in the examples table


class ExtractiveQA(FinetuneTask):
    name = "extractive-qa"
    title = "Extractive question answering"
    roles = (Role("context", "Context column", ("context", "passage", "paragraph", "document", "text"),
                  free_text=True),
             Role("question", "Question column", ("question", "query", "questions", "q")),
             Role("answer", "Answer column", ("answer", "answers", "answer_text", "answer text", "a")),
             Role("answer_start", "Answer start column (optional)",
                  ("answer_start", "answer start", "start", "answer_char_start"), required=False))
    metric = "f1"
    default_max_length = 384  # the QA tab's window
    curve_metrics = ("f1", "exact_match")
    curve_range = (0.0, 100.0)
    shows_up_in = "the **Question answering** tab's model picker (answers highlighted as spans)"
    saved_kind = kinds.EXTRACTIVE_QA
    summary_headers = ("", "Rows")

    def read_rows(self, table: datasets.Dataset, columns: dict[str, str], file_name: str) -> datasets.Dataset:
        contexts = [cell_text(v) for v in table[columns["context"]]]
        questions = [cell_text(v) for v in table[columns["question"]]]
        answers, given_starts = zip(*(_answer_cell(v) for v in table[columns["answer"]])) if len(table) else ((), ())
        if "answer_start" in columns:
            given_starts = [_start_cell(v) for v in table[columns["answer_start"]]]
        problems = {"an empty context": [], "an empty question": [], "an answer that is not in its context": [],
                    "an answer_start that does not point at the answer": []}
        starts = []
        for i, (context, question, answer, start) in enumerate(zip(contexts, questions, answers, given_starts)):
            row = i + 1
            if not context:
                problems["an empty context"].append(row)
            if not question:
                problems["an empty question"].append(row)
            found = _locate(answer, context, start)
            if found is None:
                key = ("an answer that is not in its context" if start is None or answer not in context
                       else "an answer_start that does not point at the answer")
                problems[key].append(row)
            starts.append(found if found is not None else -1)
        _raise_problems(problems, columns)
        if len(table) < MIN_ROWS:
            raise ValueError(f"'{file_name}' has {len(table)} rows; fine-tuning needs at least {MIN_ROWS} "
                             "question/answer rows (a few hundred give a model worth keeping).")
        return datasets.Dataset.from_dict({"context": contexts, "question": questions, "answer": list(answers),
                                           "answer_start": starts})

    def summary(self, rows: datasets.Dataset) -> dict[str, int]:
        unanswerable = sum(1 for a in rows["answer"] if not a)
        return {"questions": len(rows), "contexts": len(set(rows["context"])),
                "answerable": len(rows) - unanswerable, "unanswerable (SQuAD v2)": unanswerable}

    def prepare(self, rows: datasets.Dataset, base, config: FinetuneConfig) -> Prepared:
        from transformers import DataCollatorWithPadding

        from pipelines.finetune.model import load_with_head
        from pipelines.tasks import qa

        train, held_out = split_by_context(rows, config)
        model, tokenizer = load_with_head(base, "AutoModelForQuestionAnswering", "extractive QA")
        if not tokenizer.is_fast:
            raise ValueError(f"'{base.spec.name}' has no fast tokenizer, which extractive QA needs for "
                             "character offsets. Pick another base model.")
        window = min(int(tokenizer.model_max_length), config.max_length or self.default_max_length)
        _check_questions_fit(tokenizer, rows, window)
        token_types = qa.uses_token_types(model, tokenizer)
        train_features = _training_features(tokenizer, train, window, config.doc_stride, token_types)
        eval_features, scored, chars = _evaluation_features(tokenizer, held_out, window, config.doc_stride,
                                                            token_types)
        collate = DataCollatorWithPadding(tokenizer)
        unanswerable = sum(1 for a in rows["answer"] if not a)
        return Prepared(model=model, tokenizer=tokenizer, train=train_features,
                        train_lengths=[len(ids) for ids in train_features["input_ids"]], held_out=eval_features,
                        collate=collate, eval_collate=collate, train_rows=len(train), held_out_rows=len(held_out),
                        context=HeldOut(rows=held_out, scored=scored, chars=chars, window=window,
                                        with_no_answer=unanswerable > 0),
                        facts={"max_length": window, "doc_stride": config.doc_stride,
                               "training_windows": len(train_features), "held_out_windows": len(eval_features),
                               "unanswerable_rows": unanswerable},
                        warnings=guardrails.check(self, rows, train, held_out))

    input_words = "question and context"

    def input_key(self, row: dict) -> str:
        return f"{row['question']}\n{row['context']}"

    def held_out_rows(self, rows: datasets.Dataset, config: FinetuneConfig, facts: dict) -> datasets.Dataset:
        return split_by_context(rows, config)[1]

    def evaluate(self, model, loader, accelerator, prepared: Prepared) -> Evaluation:
        from pipelines.tasks import qa

        held: HeldOut = prepared.context
        start_logits, end_logits = _window_logits(model, loader, accelerator, held.window)
        windows_of = _group(prepared.held_out["example"])
        predictions = []
        for e, row in enumerate(held.rows):
            w = windows_of[e]
            answers, null_score = qa.postprocess_extractive(start_logits[w], end_logits[w], held.scored[w],
                                                            held.chars[w], row["context"], 1, MAX_ANSWER_TOKENS)
            abstains = not answers or (held.with_no_answer and null_score > answers[0].score)
            predictions.append("" if abstains else answers[0].text)
        return score_answers(held.rows, predictions)

    def headline(self, metrics: dict[str, float]) -> str:
        return f"F1 {metrics['f1']:.1f}, exact match {metrics['exact_match']:.1f}"

    def picker_note(self, config: FinetuneConfig, result: dict) -> str:
        return (f"Fine-tuned here (extractive QA) from {result['base_model']} on {result['dataset']} "
                f"({result['train_rows']} questions): held-out F1 {result['fine_tuned']['f1']:.1f}, base "
                f"{result['base']['f1']:.1f}. Run {result['run_id']}.")

    def card_lines(self, result: dict) -> list[str]:
        facts = result["facts"]
        return [f"Contexts are read in windows of {facts['max_length']} tokens that share {facts['doc_stride']} "
                f"tokens ({facts['training_windows']} training windows). Held-out questions are about contexts "
                "the model never saw in training. Exact match and F1 are SQuAD's, in percent.", "",
                "```python", "from pipelines.tasks.qa import answer_question", "",
                f'answer_question("Who wrote it?", "Don Quixote was written by Cervantes.", '
                f'"{result["registered_as"]}")', "```"]


TASK = ExtractiveQA()


def score_answers(rows, predictions: list[str]) -> Evaluation:
    """SQuAD's exact match and F1 of one predicted answer per row ("" abstains), and each row's F1."""
    from pipelines.finetune.metrics import load_metric

    references = [[row["answer"]] if row["answer"] else [] for row in rows]
    metrics = load_metric("squad").compute(predictions=predictions, references=references)
    squad, outputs = _squad_module(), []
    for row, predicted, reference in zip(rows, predictions, references):
        f1 = squad.best(squad.f1, predicted, reference)
        outputs.append(ExampleOutput(input=_shown(row), reference=row["answer"] or "(no answer)",
                                     prediction=predicted or "(no answer)", score=f1, parts=(100.0 * f1,)))
    return Evaluation(metrics={k: round(v, 4) for k, v in metrics.items()}, outputs=tuple(outputs))


class HeldOut:
    """The held-out examples and what decoding their windows needs."""

    def __init__(self, rows, scored, chars, window, with_no_answer):
        self.rows, self.scored, self.chars, self.window = rows, scored, chars, window
        self.with_no_answer = with_no_answer  # trained with unanswerable questions: it may abstain


def _answer_cell(value) -> tuple[str, int | None]:
    """(answer text, start or None) from a plain cell or a Hugging Face SQuAD answers dict."""
    if isinstance(value, dict):
        texts, starts = value.get("text") or [], value.get("answer_start") or []
        return (cell_text(texts[0]) if texts else "", int(starts[0]) if starts else None)
    return cell_text(value), None


def _start_cell(value) -> int | None:
    text = cell_text(value)
    try:
        return int(float(text)) if text else None
    except ValueError:
        return -2  # not a number: reported as a start that does not point at the answer


def _locate(answer: str, context: str, start: int | None) -> int | None:
    """Where the answer starts in the context: the given start if the answer is there, else (no start
    given) its first occurrence; 0 for "no answer"; None when it cannot be found."""
    if not answer:
        return 0
    if start is not None:
        return start if start >= 0 and context[start:start + len(answer)] == answer else None
    found = context.find(answer)
    return found if found >= 0 else None


def _raise_problems(problems: dict[str, list[int]], columns: dict[str, str]) -> None:
    found = [(what, rows) for what, rows in problems.items() if rows]
    if not found:
        return
    lines = [f"{len(rows)} row(s) have {what}: rows {rows_list(rows)}." for what, rows in found]
    raise ValueError(" ".join(lines) + f" Fix those rows (context column '{columns['context']}', question "
                     f"column '{columns['question']}', answer column '{columns['answer']}'; answers must be copied "
                     "exactly from their context) and upload the file again.")


def split_by_context(rows: datasets.Dataset, config: FinetuneConfig) -> tuple[datasets.Dataset, datasets.Dataset]:
    """(train, held out) with every question of a context on the same side, contexts drawn with the
    run's seed until the held-out side has its share of the questions."""
    if config.held_out_only:
        return held_out_only(rows)
    by_context: dict[str, list[int]] = {}
    for i, context in enumerate(rows["context"]):
        by_context.setdefault(context, []).append(i)
    if len(by_context) < 2:
        raise ValueError("Every row has the same context; held-out questions must be about other contexts. "
                         "Add rows with at least one more context.")
    contexts = list(by_context)
    random.Random(config.effective_split_seed).shuffle(contexts)
    wanted = max(1, min(config.max_eval_rows, round(len(rows) * config.eval_fraction)))
    held, train = [], []
    for context in contexts:
        (held if len(held) < wanted else train).extend(by_context[context])
    if not train:
        raise ValueError("Holding out a share of the questions leaves no other context to train on; add rows.")
    if config.max_train_rows is not None:
        train = train[:config.max_train_rows]
    return rows.select(sorted(train)), rows.select(sorted(held))


def _check_questions_fit(tokenizer, rows: datasets.Dataset, window: int) -> None:
    from pipelines.tasks import qa

    limit = qa.max_question_tokens(window)
    lengths = [len(ids) for ids in tokenizer(list(rows["question"]), add_special_tokens=False)["input_ids"]]
    long = [i + 1 for i, n in enumerate(lengths) if n > limit]
    if long:
        raise ValueError(f"{len(long)} question(s) are longer than the {limit} tokens a window of {window} leaves "
                         f"for them: rows {rows_list(long)}. Shorten them, or raise max_length.")


def _training_features(tokenizer, rows: datasets.Dataset, window: int, stride: int,
                       token_types: bool) -> datasets.Dataset:
    """Windows with the answer's token positions; [CLS] (position 0) where a window lacks the answer."""
    from pipelines.tasks import qa

    enc = qa.encode_windows(tokenizer, list(rows["question"]), list(rows["context"]), window, stride, token_types)
    starts, ends = [], []
    for w, example in enumerate(enc["overflow_to_sample_mapping"]):
        answer, first = rows[example]["answer"], rows[example]["answer_start"]
        span = _token_span(enc.sequence_ids(w), enc["offset_mapping"][w], first, first + len(answer)) if answer else None
        starts.append(span[0] if span else 0)
        ends.append(span[1] if span else 0)
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if token_types else [])
    return datasets.Dataset.from_dict({**{n: enc[n] for n in names}, "start_positions": starts,
                                       "end_positions": ends})


def _token_span(sequence_ids: list, offsets: list, begin: int, end: int) -> tuple[int, int] | None:
    """The first and last context tokens covering characters [begin, end); None if the window does
    not hold the whole answer."""
    context = [t for t, sid in enumerate(sequence_ids) if sid == 1]
    if not context or offsets[context[0]][0] > begin or offsets[context[-1]][1] < end:
        return None
    first = next(t for t in context if offsets[t][1] > begin)
    last = next(t for t in reversed(context) if offsets[t][0] < end)
    return first, last


def _evaluation_features(tokenizer, rows: datasets.Dataset, window: int, stride: int, token_types: bool):
    """Held-out windows (each with its example's index), and what decoding needs: the scored tokens
    and character spans of each window, padded to `window` positions."""
    from pipelines.tasks import qa

    enc = qa.encode_windows(tokenizer, list(rows["question"]), list(rows["context"]), window, stride, token_types,
                            padding="max_length")
    scored, chars = qa.scoring_positions(tokenizer, enc)
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if token_types else [])
    unpadded = {n: [ids[:sum(mask)] for ids, mask in zip(enc[n], enc["attention_mask"])] for n in names}
    features = datasets.Dataset.from_dict({**unpadded, "example": list(enc["overflow_to_sample_mapping"]),
                                           "window": list(range(len(enc["input_ids"])))})
    return features, scored, chars


def _window_logits(model, loader, accelerator, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and end logits of every held-out window, (windows, window) in window order: padded to
    the window's length so every process's batches gather into one array."""
    import torch

    gathered = []
    for batch in loader:
        order = batch.pop("window")
        batch.pop("example")
        out = model(**batch)
        pad = window - out.start_logits.shape[1]
        starts = torch.nn.functional.pad(out.start_logits.float(), (0, pad), value=-10000.0)
        ends = torch.nn.functional.pad(out.end_logits.float(), (0, pad), value=-10000.0)
        gathered.append(accelerator.gather_for_metrics((order, starts, ends)))
    order, starts, ends = (torch.cat(part) for part in zip(*gathered))
    ranks = order.argsort()
    return starts[ranks].cpu().numpy(), ends[ranks].cpu().numpy()


def _group(examples: list[int]) -> dict[int, list[int]]:
    windows: dict[int, list[int]] = {}
    for w, e in enumerate(examples):
        windows.setdefault(e, []).append(w)
    return windows


def _shown(row: dict) -> str:
    """The question, and the context around the reference answer."""
    context, start = row["context"], max(row["answer_start"], 0)
    begin, end = max(0, start - EXCERPT_CHARS), min(len(context), start + len(row["answer"]) + EXCERPT_CHARS)
    excerpt = ("…" if begin else "") + " ".join(context[begin:end].split()) + ("…" if end < len(context) else "")
    return f"{row['question']} — {excerpt}"


@functools.cache
def _squad_module():
    """The metric module's own per-example scoring (normalisation, best over references)."""
    import importlib.util

    from pipelines.finetune.metrics import METRICS_DIR

    spec = importlib.util.spec_from_file_location("squad_metric", METRICS_DIR / "squad" / "squad.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
