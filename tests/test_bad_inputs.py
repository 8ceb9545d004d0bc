"""Every public endpoint and upload path tried as a stranger would: empty and huge texts, right-to-left
text and emoji, NaN and infinite settings, path tricks for model names and ids, broken and mislabelled
uploads, formula cells.

Each case ends in one of two ways: a message (gradio_client's AppError holding one readable sentence,
never a traceback or a bare "Error"), or a correct result, which the case checks. After every case the
app still answers and no uploaded file has changed. The cases are one table, `CASES`; the last test
prints how many were tried and passed. Nothing here starts a job: every /start_* case is refused.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from tests.helpers.app import served_app

pytestmark = pytest.mark.training  # serves the app

NAN, INF = float("nan"), float("inf")
MB = 1_000_000
CONTEXT = ("Miguel de Cervantes was a Spanish writer born in 1547 in Alcala de Henares. "
           "He wrote Don Quixote, which many call the first modern novel.")
RTL_CONTEXT = "ميغيل دي ثيربانتس كاتب إسباني ولد عام 1547. כתב את דון קיחוטה, הרומן המודרני הראשון."
EMOJI_TEXT = "This movie was wonderful 😍🎬🍿 and funny 😂👍🏽 — 10/10 ❤️‍🔥"
EMOJI_SEA = "The whale 🐳 is large and the sea 🌊 is deep. The ship ⛵ sailed from Nantucket 🏝️."
FORMULA = "=cmd|' /C calc'!A0"
RESULTS: list[tuple[str, bool]] = []  # (case, passed), in the order tried; the last test reports them


@dataclass(frozen=True)
class Env:
    """What a case's inputs may name: the tiny models by role, and the prepared files."""

    models: dict[str, str]
    files: Path

    def upload(self, name: str):
        return handle_file(str(self.files / name))


@dataclass(frozen=True)
class Case:
    name: str
    endpoint: str  # an api_name, or "ui:<module>.<function>" for an upload path the page calls (not public)
    inputs: Callable[[Env], tuple]
    refused: str | None = None  # a regex the message must match; None: a correct result is expected
    check: Callable[[Env, Any], None] | None = None  # what a correct result is
    xfail: str | None = None  # a known defect too large to fix here

    def __str__(self) -> str:
        return self.name


# --- what "correct" means for the cases that answer ------------------------------------------------

def offsets_slice(context: str):
    def check(env: Env, outputs) -> None:
        result = outputs[3]
        assert result["answers"]
        for answer in result["answers"]:
            assert context[answer["start"]:answer["end"]] == answer["text"]
    return check


def same_as_direct_sentiment(text: str):
    def check(env: Env, outputs) -> None:
        from pipelines.tasks.sentiment import classify_sentiment

        result, direct = outputs[1], classify_sentiment(text, env.models["classifier"]).to_dict()
        assert [item["label"] for item in result["labels"]] == [item["label"] for item in direct["labels"]]
        assert [item["score"] for item in result["labels"]] == pytest.approx(
            [item["score"] for item in direct["labels"]], abs=1e-5)
        assert sum(item["score"] for item in result["labels"]) == pytest.approx(1.0, abs=1e-4)
    return check


def each_line_scored(lines: list[str]):
    def check(env: Env, outputs) -> None:
        from pipelines.tasks.sentiment import classify_sentiment

        table, result = outputs[0], outputs[1]
        assert [row[0] for row in table["data"]] == lines
        for line, row in zip(lines, table["data"]):
            assert row[1] == classify_sentiment(line, env.models["classifier"]).labels[0].label
        assert len(result["results"]) == len(lines)
    return check


def scored_rows(path: str) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def scored_like_typed(column: str, texts: list[str]):
    """The download keeps every cell as it was and labels each like the same text typed in the tab."""
    def check(env: Env, outputs) -> None:
        from pipelines.tasks.sentiment import classify_sentiment

        scored, _, result, _ = outputs
        rows = scored_rows(scored)
        assert result["rows"] == len(texts) and [r[column] for r in rows] == texts
        for text, row in zip(texts, rows):
            direct = classify_sentiment(text.strip(), env.models["classifier"]).labels[0]
            assert row["label"] == direct.label and float(row["score"]) == pytest.approx(direct.score, abs=1e-4)
    return check


def formulas_neutralised(env: Env, outputs) -> None:
    rows = scored_rows(outputs[0])
    assert [r["review"] for r in rows] == ["'" + FORMULA, "'@SUM(A1:A9)", "Wonderful film.", "'+1+1"]
    assert [r["note"] for r in rows] == ["-3.5", "'=HYPERLINK(\"http://x\")", "plain", "42"]


def a_summary_as_direct(text: str):
    def check(env: Env, outputs) -> None:
        from pipelines.tasks.summarization import SummarySettings, summarize

        direct = summarize(text, env.models["bart"], SummarySettings(max_new_tokens=8, num_beams=1))
        assert outputs[1] == direct.to_dict() and outputs[1]["chunks"] >= 1
    return check


def a_translation_as_direct(text: str):
    def check(env: Env, outputs) -> None:
        from pipelines.tasks import translation

        assert outputs[1] == translation.translate(text, env.models["t5"]).to_dict()
    return check


def generated_text(env: Env, outputs) -> None:
    text, result, _ = outputs
    assert result == {"text": text, "model": env.models["lm"], "precision": "float32"} and isinstance(text, str)


def one_row_fails_the_other_answers(bad: str):
    def check(env: Env, outputs) -> None:
        rows = {r["model"]: r for r in outputs[1]["results"]}
        assert rows[bad]["output"] is None and rows[bad]["error"]
        assert_readable(rows[bad]["error"])
        (good,) = [r for name, r in rows.items() if name != bad]
        assert good["error"] is None and good["output"]
    return check


def every_row_says(expected: str):
    """Each model refused for its own reason (a different sentence each): each row says why."""
    def check(env: Env, outputs) -> None:
        for row in outputs[1]["results"]:
            assert row["output"] is None
            assert_readable(row["error"], expected)
    return check


def context_text(expected: str):
    def check(env: Env, text) -> None:
        assert text == expected.strip()
    return check


# --- the cases ---------------------------------------------------------------------------------------

def qa(question, context, model="qa", top_k=3):
    return lambda env: (question, context, env.models.get(model, model), top_k, False)


def sentiment(text, model="classifier"):
    return lambda env: (text, env.models.get(model, model))


def lines(text, model="classifier"):
    return lambda env: (text, env.models.get(model, model))


def score(file, column="", model="classifier"):
    return lambda env: (env.upload(file) if file else None, column, env.models.get(model, model))


def summarize(text, model="bart", max_new=8, min_new=0, beams=1, sample=False, temperature=1.0, top_p=1.0):
    return lambda env: (text, env.models.get(model, model), max_new, min_new, beams, sample, temperature, top_p)


def translate(text, source="", target="", model="t5"):
    return lambda env: (text, env.models.get(model, model), source, target)


def generate(prompt="Call me Ishmael.", model="lm", max_new=4, temperature=0.0, top_p=1.0, top_k=0,
             penalty=1.0, stop="", system=""):
    return lambda env: (prompt, env.models.get(model, model), max_new, temperature, top_p, top_k, penalty, stop,
                        system)


def compare(endpoint_inputs: Callable[[Env], tuple], models: list[str], position: int = 1):
    """An endpoint's inputs with its model replaced by a list of models (the /compare_* signature)."""
    def inputs(env: Env) -> tuple:
        args = list(endpoint_inputs(env))
        args[position] = [env.models.get(m, m) for m in models]
        return tuple(args)
    return inputs


def finetune(file="train_ok.csv", columns=None, base="encoder", mode="full", lr=5e-5, epochs=1, batch=8,
             max_length=64, model_name="", more=None):
    return lambda env: ("classification", env.upload(file) if file else None, columns or {},
                        env.models.get(base, base), mode, 2, lr, epochs, batch, max_length, 42, "no", 10,
                        model_name, "", 0, False, more or {})


def evaluation(models=("classifier",), from_run="", file="train_ok.csv", task="classification", columns="",
               purpose="", max_rows=100, batch=8):
    return lambda env: ([env.models.get(m, m) for m in models], from_run, env.upload(file) if file else None,
                        task, columns, purpose, max_rows, batch)


def learning_curve(file="train_ok.csv", base="encoder", sizes="8", seeds="1", epochs=1, lr=1e-4, batch=8,
                   columns="", reference=""):
    return lambda env: (env.upload(file) if file else None, "classification", columns, env.models.get(base, base),
                        sizes, seeds, epochs, lr, batch, env.models.get(reference, reference))


def one(value):
    return lambda env: (value,)


BAD_MODEL_NAMES = [  # (case, name, what the message says)
    ("parent path", "../../etc/passwd", "outside|neither"),
    ("absolute path", "/etc", "outside"),
    ("home path", "~/.ssh", "outside|no model folder"),
    ("hub id with path revision", "org/model@../x", "Hub|cannot|not|neither"),
    ("NUL byte", "tiny-classifier\x00../../etc", "not a model name|neither|control"),
    ("NUL byte path", "/etc\x00", "not a model name|control|outside"),
    ("unknown", "no-such-model", "no-such-model"),
    ("1 MB name", "m" * MB, "not a model name|characters|long"),
]
BAD_IDS = [("parent", "../x"), ("absolute", "/etc/passwd"), ("dot", "."), ("empty", ""), ("NUL", "run\x00x"),
           ("long", "x" * 5000)]
MISSING = "There is no|no fine-tuning run|no evaluation|no learning curve|not a|pick one"

CASES: list[Case] = [
    # /answer_question
    Case("qa: empty question", "/answer_question", qa("", CONTEXT), "question is empty"),
    Case("qa: whitespace-only context", "/answer_question", qa("Who?", " \n\t \u2003 "), "context is empty"),
    Case("qa: 1 MB context", "/answer_question", qa("Who?", "word " * (MB // 5)), "limit is 100,000"),
    Case("qa: 10 MB context", "/answer_question", qa("Who?", "x" * (10 * MB)), "limit is 100,000"),
    Case("qa: right-to-left context", "/answer_question", qa("متى ولد؟", RTL_CONTEXT), check=offsets_slice(RTL_CONTEXT)),
    Case("qa: emoji in the context", "/answer_question", qa("Who wrote it? 🤔", EMOJI_TEXT + " " + CONTEXT),
         check=offsets_slice(EMOJI_TEXT + " " + CONTEXT)),
    Case("qa: sentence ranking with emoji", "/answer_question", qa("Where did the ship 🚢 sail from?", EMOJI_SEA,
                                                                    model="encoder"), check=offsets_slice(EMOJI_SEA)),
    Case("qa: top_k NaN", "/answer_question", qa("Who?", CONTEXT, top_k=NAN), "Top-k must be a whole number"),
    Case("qa: top_k inf", "/answer_question", qa("Who?", CONTEXT, top_k=INF), "greater than maximum value 10"),
    Case("qa: top_k -inf", "/answer_question", qa("Who?", CONTEXT, top_k=-INF), "top_k|answers|minimum"),
    Case("qa: top_k negative", "/answer_question", qa("Who?", CONTEXT, top_k=-3), "top_k|answers|minimum"),
    Case("qa: top_k zero", "/answer_question", qa("Who?", CONTEXT, top_k=0), "top_k|answers|minimum"),
    Case("qa: top_k huge", "/answer_question", qa("Who?", CONTEXT, top_k=1e30), "top_k|answers|maximum"),
    *[Case(f"qa: model name, {what}", "/answer_question", qa("Who?", CONTEXT, model=name), expected)
      for what, name, expected in BAD_MODEL_NAMES],
    Case("qa: a sentiment model", "/answer_question", qa("Who?", CONTEXT, model="classifier"), "model"),
    # /classify_sentiment
    Case("sentiment: empty", "/classify_sentiment", sentiment(""), "empty"),
    Case("sentiment: whitespace only", "/classify_sentiment", sentiment("  \n\t\u00a0 "), "empty"),
    Case("sentiment: 1 MB", "/classify_sentiment", sentiment("good " * (MB // 5)), "limit is 100,000"),
    Case("sentiment: right-to-left", "/classify_sentiment", sentiment(RTL_CONTEXT),
         check=same_as_direct_sentiment(RTL_CONTEXT)),
    Case("sentiment: emoji", "/classify_sentiment", sentiment(EMOJI_TEXT), check=same_as_direct_sentiment(EMOJI_TEXT)),
    Case("sentiment: only emoji", "/classify_sentiment", sentiment("😀🎉👍"), check=same_as_direct_sentiment("😀🎉👍")),
    Case("sentiment: model name, parent path", "/classify_sentiment", sentiment(model="../../etc/passwd", text="Hi"),
         "outside|neither"),
    Case("sentiment: model name, NUL byte", "/classify_sentiment", sentiment("Hi", model="a\x00b"),
         "not a model name|neither|control"),
    # /classify_lines
    Case("lines: only blank lines", "/classify_lines", lines("\n \n\t\n"), "no text to classify"),
    Case("lines: 10 MB", "/classify_lines", lines(("good film\n" * (MB // 10)) * 10), "limit|lines"),
    Case("lines: one 1 MB line", "/classify_lines", lines("ok\n" + "x" * MB), "limit is 100,000"),
    Case("lines: right-to-left and emoji", "/classify_lines", lines(f"{RTL_CONTEXT}\n\n{EMOJI_TEXT}\n😀"),
         check=each_line_scored([RTL_CONTEXT, EMOJI_TEXT, "😀"])),
    # /score_csv
    Case("csv: no file", "/score_csv", score(None), "Upload a CSV"),
    Case("csv: empty file", "/score_csv", score("empty.csv"), "empty|no rows|could not be read"),
    Case("csv: header only", "/score_csv", score("header_only.csv"), "no rows below its header"),
    Case("csv: truncated", "/score_csv", score("truncated.csv"), "could not be read as CSV"),
    Case("csv: cp1252 bytes (not UTF-8)", "/score_csv", score("cp1252.csv"),
         check=scored_like_typed("review", ["Café crème, wonderful", "Naïve and dull"])),
    Case("csv: bytes no encoding maps", "/score_csv", score("bad_bytes.csv"), "could not be read|not a text|UTF-8"),
    Case("csv: newlines and quotes in cells", "/score_csv", score("quoted.csv"),
         check=scored_like_typed("review", ['He said "wonderful",\nthen "funny".', "Line one\r\nline two, dull",
                                            '""', "  spaced  "])),
    Case("csv: a PNG named .csv", "/score_csv", score("png.csv"), "not a text file"),
    Case("csv: Parquet named .csv", "/score_csv", score("parquet.csv"), "not a text file"),
    Case("csv: formula cells", "/score_csv", score("formula.csv", column="review"), check=formulas_neutralised),
    Case("csv: unknown column", "/score_csv", score("quoted.csv", column="nope"), "has no column 'nope'"),
    Case("csv: path-trick column", "/score_csv", score("quoted.csv", column="../../etc/passwd"), "has no column"),
    Case("csv: over 20,000 rows", "/score_csv", score("many_rows.csv"), "more than 20,000 rows"),
    Case("csv: model name, absolute path", "/score_csv", score("quoted.csv", model="/etc"), "outside"),
    # context uploads (the QA tab's upload button; not public, so the page's handler is called)
    Case("context: invalid UTF-8 .txt", "ui:qa_tab.read_context_file", lambda env: (str(env.files / "bad.txt"),),
         "not UTF-8"),
    Case("context: invalid UTF-8 .md", "ui:qa_tab.read_context_file", lambda env: (str(env.files / "bad.md"),),
         "not UTF-8"),
    Case("context: empty .txt", "ui:qa_tab.read_context_file", lambda env: (str(env.files / "empty.txt"),),
         "empty"),
    Case("context: right-to-left .md", "ui:qa_tab.read_context_file", lambda env: (str(env.files / "rtl.md"),),
         check=context_text(RTL_CONTEXT)),
    Case("finetune preview: a PNG named .csv", "ui:finetune_data.show_preview",
         lambda env: ("classification", str(env.files / "png.csv")), "not UTF-8"),
    # /summarize
    Case("summarize: empty", "/summarize", summarize(""), "empty"),
    Case("summarize: 1 MB", "/summarize", summarize("word " * (MB // 5)), "limit is 100,000"),
    Case("summarize: right-to-left", "/summarize", summarize(RTL_CONTEXT), check=a_summary_as_direct(RTL_CONTEXT)),
    Case("summarize: max_new_tokens NaN", "/summarize", summarize(CONTEXT, max_new=NAN), "Max new tokens"),
    Case("summarize: max_new_tokens inf", "/summarize", summarize(CONTEXT, max_new=INF), "Max new tokens|maximum"),
    Case("summarize: max_new_tokens zero", "/summarize", summarize(CONTEXT, max_new=0), "Max new tokens|minimum"),
    Case("summarize: beams negative", "/summarize", summarize(CONTEXT, beams=-1), "beams|minimum"),
    Case("summarize: min above max", "/summarize", summarize(CONTEXT, max_new=8, min_new=200), "must not exceed"),
    Case("summarize: temperature NaN", "/summarize", summarize(CONTEXT, sample=True, temperature=NAN), "Temperature"),
    Case("summarize: top_p -inf", "/summarize", summarize(CONTEXT, sample=True, top_p=-INF), "Top-p|minimum"),
    Case("summarize: a classifier", "/summarize", summarize(CONTEXT, model="classifier"), "model"),
    # /translate
    Case("translate: empty", "/translate", translate("  "), "empty"),
    Case("translate: target language that does not exist", "/translate", translate("Hello.", "en", "xx-nowhere"),
         "xx-nowhere"),
    Case("translate: source language that does not exist", "/translate", translate("Hello.", "klingon", "fr"),
         "klingon"),
    Case("translate: path-trick language", "/translate", translate("Hello.", "en", "../../etc/passwd"),
         "etc/passwd|language"),
    Case("translate: emoji", "/translate", translate("The cat 🐈 sat."), check=a_translation_as_direct("The cat 🐈 sat.")),
    Case("translate: 10 MB", "/translate", translate("a" * (10 * MB)), "limit is 100,000"),
    # /generate
    Case("generate: whitespace prompt", "/generate", generate(" \n "), "prompt is empty"),
    Case("generate: 10 MB prompt", "/generate", generate("x" * (10 * MB)), "limit is 100,000"),
    Case("generate: 1 MB system prompt", "/generate", generate(system="be nice " * (MB // 8)),
         "system prompt has .* the limit is 100,000"),
    Case("generate: emoji prompt", "/generate", generate("🐳 Call me Ishmael 🌊"), check=generated_text),
    Case("generate: max_new_tokens NaN", "/generate", generate(max_new=NAN), "Max new tokens"),
    Case("generate: max_new_tokens inf", "/generate", generate(max_new=INF), "Max new tokens|maximum"),
    Case("generate: max_new_tokens negative", "/generate", generate(max_new=-5), "Max new tokens|minimum"),
    Case("generate: max_new_tokens huge", "/generate", generate(max_new=1e12), "Max new tokens|maximum"),
    Case("generate: temperature NaN", "/generate", generate(temperature=NAN), "Temperature"),
    Case("generate: temperature inf", "/generate", generate(temperature=INF), "Temperature|maximum"),
    Case("generate: temperature negative", "/generate", generate(temperature=-1), "Temperature|minimum"),
    Case("generate: top_p zero", "/generate", generate(temperature=0.7, top_p=0), "Top-p|minimum"),
    Case("generate: top_p NaN", "/generate", generate(temperature=0.7, top_p=NAN), "Top-p"),
    Case("generate: top_k NaN", "/generate", generate(top_k=NAN), "Top-k"),
    Case("generate: top_k -inf", "/generate", generate(top_k=-INF), "Top-k|minimum"),
    Case("generate: repetition penalty NaN", "/generate", generate(penalty=NAN), "Repetition penalty"),
    Case("generate: model name, home path", "/generate", generate(model="~/.ssh"), "outside|no model folder"),
    # /compare_*
    Case("compare answers: one model", "/compare_answers", compare(qa("Who?", CONTEXT), ["qa"], 2), "Pick 2 or 3"),
    Case("compare answers: four models", "/compare_answers",
         compare(qa("Who?", CONTEXT), ["qa", "encoder", "a", "b"], 2), "at most 3"),
    Case("compare answers: one path-trick model", "/compare_answers",
         compare(qa("Who?", CONTEXT), ["qa", "../../etc/passwd"], 2), check=one_row_fails_the_other_answers(
             "../../etc/passwd")),
    Case("compare sentiment: empty text", "/compare_sentiment", compare(sentiment(""), ["classifier", "lm"]),
         "empty"),
    Case("compare sentiment: NUL model names", "/compare_sentiment",
         compare(sentiment("Fine."), ["a\x00", "b\x00"]), "not a model name|neither|control|NUL"),
    Case("compare summaries: max_new_tokens NaN", "/compare_summaries",
         compare(summarize(CONTEXT, max_new=NAN), ["bart", "t5"]), "Max new tokens"),
    Case("compare translations: language that does not exist", "/compare_translations",
         compare(translate("Hello.", "en", "xx-nowhere"), ["t5", "bart"]), check=every_row_says("cannot translate")),
    Case("compare generations: temperature inf", "/compare_generations",
         compare(generate(temperature=INF), ["lm", "lm-plain"]), "Temperature|maximum"),
    Case("compare generations: 1 MB prompt", "/compare_generations",
         compare(generate("x" * MB), ["lm", "lm-plain"]), "limit is 100,000"),
    # /start_finetune (every one refused: none may start a run)
    Case("finetune: no file", "/start_finetune", finetune(file=None), "Give a dataset first"),
    Case("finetune: empty file", "/start_finetune", finetune(file="empty.csv"), "empty|no rows|Could not read"),
    Case("finetune: too few rows", "/start_finetune", finetune(file="train_few.csv"), "at least 20"),
    Case("finetune: one class", "/start_finetune", finetune(file="train_one_class.csv"), "class|label"),
    Case("finetune: a PNG named .csv", "/start_finetune", finetune(file="png.csv"), "not UTF-8"),
    Case("finetune: Parquet named .csv", "/start_finetune", finetune(file="parquet.csv"), "not UTF-8"),
    Case("finetune: invalid UTF-8 CSV", "/start_finetune", finetune(file="bad_bytes.csv"), "not UTF-8"),
    Case("finetune: .json that is not a list", "/start_finetune", finetune(file="not_list.json"), "list of records"),
    Case("finetune: .jsonl with one bad line", "/start_finetune", finetune(file="one_bad_line.jsonl"),
         "Line 7 .* not valid JSON"),
    Case("finetune: .parquet with the wrong columns", "/start_finetune", finetune(file="wrong_columns.parquet"),
         "column"),
    Case("finetune: epochs NaN", "/start_finetune", finetune(epochs=NAN), "[Ee]pochs"),
    Case("finetune: epochs inf", "/start_finetune", finetune(epochs=INF), "[Ee]pochs"),
    Case("finetune: epochs zero", "/start_finetune", finetune(epochs=0), "[Ee]pochs|minimum"),
    Case("finetune: batch size -inf", "/start_finetune", finetune(batch=-INF), "[Bb]atch|minimum"),
    Case("finetune: batch size huge", "/start_finetune", finetune(batch=1e300, file="train_few.csv"),
         "[Bb]atch|at least 20"),
    Case("finetune: learning rate NaN", "/start_finetune", finetune(lr=NAN), "learning_rate|[Ll]earning rate"),
    Case("finetune: learning rate negative", "/start_finetune", finetune(lr=-1e-3), "learning_rate"),
    Case("finetune: model name a path", "/start_finetune", finetune(model_name="../../etc/passwd"), "folder name"),
    Case("finetune: base model a path", "/start_finetune", finetune(base="../../etc/passwd"), "outside"),
    Case("finetune: base model with a NUL byte", "/start_finetune", finetune(base="/etc\x00"),
         "not a model name|control|outside"),
    Case("finetune: path-trick column", "/start_finetune", finetune(columns={"text": "../../etc/passwd"}),
         "no column"),
    Case("finetune: unknown mode", "/start_finetune", finetune(mode="rm -rf"), "not in the list of choices"),
    Case("finetune: more overrides the data file", "/start_finetune",
         finetune(more={"data_file": "/etc/hostname.csv"}), "cannot set data_file"),
    Case("finetune: epochs null", "/start_finetune", finetune(epochs=None), "Epochs must be a whole number"),
    Case("finetune: columns a list", "/start_finetune", finetune(columns=["text", "label"]), "`columns` must be"),
    Case("finetune: more a list", "/start_finetune", finetune(more=["lora"]), "`more` must be"),
    # /finetune_status, /make_report, /evaluation_status, /learning_curve_status: ids are folder names only
    *[Case(f"finetune status: id {what}", "/finetune_status", one(value), MISSING) for what, value in BAD_IDS],
    *[Case(f"report: id {what}", "/make_report", one(value), MISSING)
      for what, value in [*BAD_IDS, ("eval parent", "eval-../x"), ("curve absolute", "curve-/etc")]],
    *[Case(f"evaluation status: id {what}", "/evaluation_status", one(value), MISSING)
      for what, value in BAD_IDS],
    *[Case(f"curve status: id {what}", "/learning_curve_status", one(value), MISSING)
      for what, value in BAD_IDS],
    # /start_evaluation (every one refused)
    Case("evaluation: no models", "/start_evaluation", evaluation(models=()), "at least one model"),
    Case("evaluation: five models", "/start_evaluation", evaluation(models=("a", "b", "c", "d", "e")), "at most 4"),
    Case("evaluation: path-trick run", "/start_evaluation", evaluation(from_run="../x", file=None), MISSING),
    Case("evaluation: max_rows NaN", "/start_evaluation", evaluation(max_rows=NAN), "[Rr]ows"),
    Case("evaluation: max_rows inf", "/start_evaluation", evaluation(max_rows=INF), "[Rr]ows"),
    Case("evaluation: max_rows negative", "/start_evaluation", evaluation(max_rows=-1), "[Rr]ows|minimum"),
    Case("evaluation: max_rows huge", "/start_evaluation", evaluation(max_rows=1e12), "[Rr]ows"),
    Case("evaluation: batch size NaN", "/start_evaluation", evaluation(batch=NAN), "[Bb]atch"),
    Case("evaluation: columns without =", "/start_evaluation", evaluation(columns="text; label"), "role=column"),
    Case("evaluation: unknown task", "/start_evaluation", evaluation(task="../../x"), "not in the list of choices"),
    Case("evaluation: path-trick model", "/start_evaluation", evaluation(models=("../../etc/passwd",)), "outside"),
    Case("evaluation: .json that is not a list", "/start_evaluation", evaluation(file="not_list.json"),
         "list of records"),
    # /start_learning_curve (every one refused)
    Case("curve: seeds not numbers", "/start_learning_curve", learning_curve(seeds="1, x"), "[Ss]eed"),
    Case("curve: sizes negative", "/start_learning_curve", learning_curve(sizes="-5"), "at least 8 rows"),
    Case("curve: sizes not numbers", "/start_learning_curve", learning_curve(sizes="a lot"), "whole numbers"),
    Case("curve: epochs NaN", "/start_learning_curve", learning_curve(epochs=NAN), "[Ee]pochs"),
    Case("curve: learning rate inf", "/start_learning_curve", learning_curve(lr=INF), "learning_rate"),
    Case("curve: batch size negative", "/start_learning_curve", learning_curve(batch=-1), "batch_size|minimum"),
    Case("curve: too few rows", "/start_learning_curve", learning_curve(file="train_few.csv"), "at least 20"),
    Case("curve: base model a path", "/start_learning_curve", learning_curve(base="/etc"), "outside"),
    Case("curve: reference unknown", "/start_learning_curve", learning_curve(reference="no-such-model"),
         "not in the local Hugging Face cache"),
    Case("curve: reference a bare encoder", "/start_learning_curve", learning_curve(reference="encoder"),
         "a reference line is a model that does this task"),
]


# --- running them ------------------------------------------------------------------------------------

def write_files(folder: Path) -> None:
    """Every upload the cases make, written fresh for the session."""
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.csv").write_bytes(b"")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "header_only.csv").write_text("id,review\n")
    (folder / "truncated.csv").write_text('id,review\n1,"Wonderful film."\n2,"Bor')  # cut inside a quoted cell
    (folder / "cp1252.csv").write_bytes("id,review\n1,\"Café crème, wonderful\"\n2,Naïve and dull\n".encode("cp1252"))
    (folder / "bad_bytes.csv").write_bytes(b"id,review\n1,good \x81\x8d\x90 film\n2,bad \xff\xfe film\n")
    with (folder / "quoted.csv").open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["id", "review"], [1, 'He said "wonderful",\nthen "funny".'],
                                 [2, "Line one\r\nline two, dull"], [3, '""'], [4, "  spaced  "]])
    with (folder / "formula.csv").open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["review", "note"], [FORMULA, "-3.5"], ["@SUM(A1:A9)", '=HYPERLINK("http://x")'],
                                 ["Wonderful film.", "plain"], ["+1+1", "42"]])
    png = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
           b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7V\xa1\xb1\x00\x00\x00\x00IEND\xaeB`\x82")
    (folder / "png.csv").write_bytes(png)
    buffer = io.BytesIO()
    pd.DataFrame({"review": ["Wonderful.", "Dull."], "label": ["pos", "neg"]}).to_parquet(buffer)
    (folder / "parquet.csv").write_bytes(buffer.getvalue())
    pd.DataFrame({"x": list(range(30)), "y": [i % 2 for i in range(30)]}).to_parquet(folder / "wrong_columns.parquet")
    (folder / "many_rows.csv").write_text("review\n" + "fine\n" * 20_001)
    texts = [f"review number {i}: {'wonderful and funny' if i % 2 else 'dull and boring'}" for i in range(30)]
    with (folder / "train_ok.csv").open("w", newline="") as f:
        csv.writer(f).writerows([["text", "label"], *[[t, "pos" if i % 2 else "neg"] for i, t in enumerate(texts)]])
    with (folder / "train_few.csv").open("w", newline="") as f:
        csv.writer(f).writerows([["text", "label"], *[[t, "pos" if i % 2 else "neg"] for i, t in enumerate(texts[:5])]])
    with (folder / "train_one_class.csv").open("w", newline="") as f:
        csv.writer(f).writerows([["text", "label"], *[[t, "pos"] for t in texts]])
    (folder / "not_list.json").write_text(json.dumps({"text": "Wonderful.", "label": "pos"}))
    records = [json.dumps({"text": t, "label": "pos" if i % 2 else "neg"}) for i, t in enumerate(texts)]
    records[6] = '{"text": "cut off here, "label": '
    (folder / "one_bad_line.jsonl").write_text("\n".join(records) + "\n")
    (folder / "bad.txt").write_bytes(b"Cervantes was born in 1547 \xff\xfe in Alcala.\n")
    (folder / "bad.md").write_bytes(b"# Notes\n\x80\x81 Don Quixote\n")
    (folder / "rtl.md").write_text(RTL_CONTEXT + "\n", encoding="utf-8")


def fingerprints(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def env(studio_home, tmp_path_factory, tiny_qa, tiny_classifier, tiny_encoder, tiny_bart, tiny_t5, tiny_lm,
        tiny_lm_plain) -> Env:
    folder = tmp_path_factory.mktemp("uploads")
    write_files(folder)
    return Env(models={"qa": tiny_qa, "classifier": tiny_classifier, "encoder": tiny_encoder, "bart": tiny_bart,
                       "t5": tiny_t5, "lm": tiny_lm, "lm-plain": tiny_lm_plain}, files=folder)


@pytest.fixture(scope="module")
def client(env):
    with served_app() as client:
        yield client


@pytest.fixture(scope="module")
def before(env) -> dict[str, str]:
    return fingerprints(env.files)


def existing_jobs() -> set[str]:
    from pipelines.evaluation import jobs
    from pipelines.finetune import runs

    return {folder.id for folder in [*runs.list_run_folders(), *jobs.list_jobs("evaluation"),
                                     *jobs.list_jobs("learning-curve")]}


@pytest.fixture(scope="module")
def jobs_before(studio_home) -> set[str]:
    return existing_jobs()


def assert_readable(message: str, expected: str | None = None) -> None:
    """One readable sentence: not Gradio's bare "Error", no traceback, not the catch-all for bugs."""
    assert message and message.strip() not in ("Error", "None"), f"bare message: {message!r}"
    assert "Traceback" not in message and 'File "' not in message, message
    assert not message.startswith("The model failed on this input"), f"an unexpected exception: {message}"
    assert "\n" not in message.strip() and len(message) < 1000, f"not one short line: {message[:300]!r}"
    assert not re.search(r"[\x00-\x08\x0b-\x1f]", message), f"control characters: {message!r}"
    if expected:
        assert re.search(expected, message), f"{message!r} does not say /{expected}/"


def call(client, case: Case, env: Env):
    """(outputs, None) for a result, (None, message) for a refusal."""
    args = case.inputs(env)
    if case.endpoint.startswith("ui:"):
        import importlib

        import gradio as gr

        module, function = case.endpoint[3:].split(".")
        handler = getattr(importlib.import_module(f"ui.{module}"), function)
        try:
            return handler(*args), None
        except gr.Error as err:
            return None, err.message
    if any(isinstance(a, float) and not math.isfinite(a) for a in args):
        return call_over_http(client, case.endpoint, args)
    try:
        if case.endpoint == "/generate":  # a stream: its last update is the result
            return client.submit(*args, api_name=case.endpoint).result(), None
        return client.predict(*args, api_name=case.endpoint), None
    except AppError as err:
        return None, str(err)


def call_over_http(client, endpoint: str, args: tuple):
    """The call as a script of a stranger's makes it with NaN or Infinity (JSON as Python writes it, which
    gradio_client refuses to send): uploads first, then Gradio's two-step /call API. (outputs, None) or
    (None, message)."""
    import httpx

    base = client.src.rstrip("/") + "/gradio_api"
    sent = []
    for arg in args:
        if isinstance(arg, dict) and arg.get("meta", {}).get("_type") == "gradio.FileData":
            with open(arg["path"], "rb") as f:
                (path,) = httpx.post(f"{base}/upload", files={"files": (Path(arg["path"]).name, f)}).json()
            arg = {"path": path, "orig_name": Path(arg["path"]).name, "meta": {"_type": "gradio.FileData"}}
        sent.append(arg)
    started = httpx.post(f"{base}/call{endpoint}", content=json.dumps({"data": sent}),
                         headers={"Content-Type": "application/json"})
    assert started.status_code == 200, started.text
    event, outcome = None, None
    with httpx.stream("GET", f"{base}/call{endpoint}/{started.json()['event_id']}", timeout=120) as events:
        for line in events.iter_lines():
            if line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: ") and event in ("complete", "error"):
                outcome = (event, json.loads(line[len("data: "):]))
    assert outcome is not None, "the stream ended without a result"
    event, data = outcome
    if event == "complete":
        return data, None
    return None, str(data.get("error") if isinstance(data, dict) else data)  # None: Gradio's bare "Error"


def still_serving(client, env: Env) -> None:
    _, result, _ = client.predict("A fine film.", env.models["classifier"], api_name="/classify_sentiment")
    assert result["model"] == env.models["classifier"] and len(result["labels"]) == 2


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=pytest.mark.xfail(strict=True, reason=c.xfail))
                                  if c.xfail else pytest.param(c, id=c.name) for c in CASES])
def test_a_stranger_gets_a_message_or_a_correct_result(client, env, before, jobs_before, case):
    RESULTS.append((case.name, False))
    outputs, message = call(client, case, env)
    if case.refused is not None:
        assert message is not None, f"accepted, with outputs {str(outputs)[:300]}"
        assert_readable(message, case.refused)
    else:
        assert message is None, f"refused: {message}"
        case.check(env, outputs)
    still_serving(client, env)
    assert fingerprints(env.files) == before  # no upload changed or went missing
    RESULTS[-1] = (case.name, True)


def test_no_case_started_a_job(jobs_before):
    assert existing_jobs() == jobs_before


def test_every_public_endpoint_was_tried(client):
    named = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert named == {case.endpoint for case in CASES if not case.endpoint.startswith("ui:")}


def test_report_the_count(capsys):
    """Last in the file, so it runs last: how many cases were tried and how many passed."""
    assert len(CASES) >= 60
    with capsys.disabled():
        print(f"\nbad-input suite: {len(RESULTS)} cases tried, {sum(ok for _, ok in RESULTS)} passed")
