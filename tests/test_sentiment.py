"""Sentiment: result shape, batching, the LM route and CSV scoring on tiny models; SmolLM2 (slow)."""

from __future__ import annotations

import os
import random

import pandas as pd
import pytest

from pipelines.models import lm
from pipelines.tasks import sentiment
from pipelines.tasks.sentiment import classify_lines, classify_sentiment
from pipelines.tasks.sentiment_csv import MAX_CSV_ROWS, score_csv
from pipelines.text.columns import guess_text_column
from tests.helpers.models import loaded
from tests.helpers.tiny_models import SHARP_LABELS as LABELS

TEXTS = [
    "This movie was wonderful, moving and funny.",
    "That film was dull and boring.",
    "The cat sat on the mat.",
    "Who wrote the book?",
    "Call me Ishmael. Some years ago, never mind how long precisely, I went to sea.",
    "sea",
    "The whale is large and the sea is deep. The ship sailed from Nantucket.",
]


def scores(result) -> dict[str, float]:
    return {s.label: s.score for s in result.labels}


def test_result_has_every_config_label_sorted_summing_to_one(sharp_classifier):
    result = classify_sentiment("  This movie was wonderful.  ", sharp_classifier)
    values = [s.score for s in result.labels]
    assert sorted(s.label for s in result.labels) == sorted(LABELS)
    assert values == sorted(values, reverse=True)
    assert sum(values) == pytest.approx(1.0, abs=1e-6)
    assert result.text == "This movie was wonderful."
    assert result.to_dict() == {"labels": [{"label": s.label, "score": s.score} for s in result.labels],
                                "model": sharp_classifier, "precision": "float32"}


def test_default_two_label_classifier_keeps_its_names(tiny_classifier):
    result = classify_sentiment("dull and boring", tiny_classifier)
    assert {s.label for s in result.labels} == {"NEGATIVE", "POSITIVE"}


def test_batches_give_each_text_its_own_result(sharp_classifier):
    texts = TEXTS * 2
    random.Random(0).shuffle(texts)
    batched = classify_lines(texts, sharp_classifier, batch_size=3)  # several batches of mixed lengths
    alone = {t: scores(classify_sentiment(t, sharp_classifier)) for t in TEXTS}
    assert [r.text for r in batched] == texts
    for result in batched:
        expected = alone[result.text]
        assert scores(result) == pytest.approx(expected, abs=1e-5)
    # The texts really score differently, so a mix-up of results could not go unnoticed.
    top = [max(s.values()) for s in alone.values()]
    assert max(top) - min(top) > 0.05


def test_batched_lines_score_as_the_model_itself_does(sharp_classifier, studio_home):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = studio_home / "models" / sharp_classifier
    full, tokenizer = AutoModelForSequenceClassification.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
    with torch.inference_mode():
        expected = torch.softmax(full(**tokenizer(TEXTS, padding=True, return_tensors="pt")).logits, -1)
    for result, row in zip(classify_lines(TEXTS, sharp_classifier, batch_size=4), expected.tolist(), strict=True):
        assert scores(result) == pytest.approx(dict(zip(LABELS, row)), abs=1e-5)


def test_classify_lines_drops_empty_lines_and_checks_the_count(sharp_classifier):
    results = classify_lines(["", "  The cat sat on the mat.", "   ", "sea\n"], sharp_classifier)
    assert [r.text for r in results] == ["The cat sat on the mat.", "sea"]
    with pytest.raises(ValueError, match="no text"):
        classify_lines(["", "  "], sharp_classifier)
    with pytest.raises(ValueError, match="CSV"):
        classify_lines(["a line"] * (sentiment.MAX_LINES + 1), sharp_classifier)
    with pytest.raises(ValueError, match="empty"):
        classify_sentiment("   ", sharp_classifier)


def test_language_model_gives_positive_and_negative(tiny_lm):
    result = classify_sentiment("This movie was wonderful", tiny_lm)
    assert sorted(s.label for s in result.labels) == ["negative", "positive"]
    assert sum(s.score for s in result.labels) == pytest.approx(1.0, abs=1e-6)
    assert result.labels[0].score >= result.labels[1].score
    assert result.model == tiny_lm


def test_language_model_batches_give_each_text_its_own_result(tiny_lm):
    texts = TEXTS[:4]
    batched = classify_lines(texts[::-1], tiny_lm, batch_size=3)
    for result in batched:
        assert scores(result) == pytest.approx(scores(classify_sentiment(result.text, tiny_lm)), abs=1e-5)


def test_batched_label_scores_match_one_prompt_at_a_time(tiny_lm):
    model = loaded("sentiment", tiny_lm)
    labels = ["sea", "film", "the"]  # one token each: the batched path proper, not its fallback
    assert all(len(model.tokenizer(label, add_special_tokens=False)["input_ids"]) == 1 for label in labels)
    prompts = ["The whale is large", TEXTS[4], "sea"]  # different lengths: left padding in play
    batched = lm.label_probabilities_batch(model, prompts, labels)
    alone = [lm.label_probabilities(model, prompt, labels) for prompt in prompts]
    assert batched == [pytest.approx(row, abs=1e-5) for row in alone]
    assert max(abs(a[0] - b[0]) for a, b in zip(alone, alone[1:])) > 1e-3  # prompts really differ


def test_any_label_set_is_asked_in_a_prompt_that_lists_it(tiny_lm, tiny_lm_plain, monkeypatch):
    asked = []
    real = lm.label_probabilities_batch
    monkeypatch.setattr(lm, "label_probabilities_batch",
                        lambda model, prompts, labels: asked.append((prompts, labels)) or real(model, prompts, labels))
    for name, candidates in ((tiny_lm, ["{sad}", "meh", "glad"]), (tiny_lm_plain, [" {sad}", " meh", " glad"])):
        asked.clear()
        rows = sentiment.lm_label_probabilities(loaded("sentiment", name), TEXTS[:3], ["{sad}", "meh", "glad"], 2)
        assert len(rows) == 3 and all(len(row) == 3 and sum(row) == pytest.approx(1.0) for row in rows)
        (content_free, labels), *batches = asked
        assert labels == candidates and len(content_free) == len(sentiment.CONTENT_FREE_TEXTS)
        prompts = [p for batch, _ in batches for p in batch]
        assert sorted(prompts) == sorted(p for p in prompts if "Answer with one of: {sad}, meh, glad." in p)
        assert {p.split("Text: ", 1)[1].removesuffix("\n\nLabel:") for p in prompts} == set(TEXTS[:3])
        assert all(p.endswith("\n\nLabel:") == (name == tiny_lm_plain) for p in prompts)


def test_positive_and_negative_in_any_order_are_the_sentiment_tabs_answer(tiny_lm):
    model = loaded("sentiment", tiny_lm)
    tab = {r.text: scores(r) for r in classify_lines(TEXTS[:4], tiny_lm)}
    for text, (negative, positive) in zip(TEXTS[:4], sentiment.lm_label_probabilities(
            model, TEXTS[:4], ["negative", "positive"])):
        assert (negative, positive) == pytest.approx((tab[text]["negative"], tab[text]["positive"]), abs=1e-6)


# --- CSV files ---------------------------------------------------------------------------------------

def write_csv(path, text: str, encoding: str = "utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_score_csv_writes_a_new_scored_file(sharp_classifier, tmp_path):
    source = write_csv(tmp_path / "reviews.csv",
                       'id,review,stars\n1,"This movie was wonderful, moving and funny.",5\n2,,3\n'
                       '3,That film was dull and boring.,1\n4,   ,2\n5,Call me Ishmael.,4\n')
    before, mtime = source.read_bytes(), os.stat(source).st_mtime_ns
    seen = []
    table = score_csv(source, tmp_path / "out", model=sharp_classifier, batch_size=2,
                      progress=lambda done, total: seen.append((done, total)))

    assert source.read_bytes() == before and os.stat(source).st_mtime_ns == mtime
    assert table.path.parent == tmp_path / "out" and table.path.is_file()
    assert table.rows == 5 and table.text_column == "review"
    out = pd.read_csv(table.path, dtype={"review": str}, keep_default_na=False)
    assert list(out.columns) == ["id", "review", "stars", "label", "score"] + [f"p_{l}" for l in LABELS]
    assert list(out["id"]) == [1, 2, 3, 4, 5]
    blank = out["review"].str.strip() == ""
    assert list(blank) == [False, True, False, True, False]
    assert (out.loc[blank, ["label", "score", "p_sad"]] == "").all().all()  # kept, with empty scores
    filled = out.loc[~blank]
    probs = filled[[f"p_{l}" for l in LABELS]].astype(float)
    assert probs.sum(axis=1).tolist() == pytest.approx([1.0] * 3, abs=1e-6)
    assert filled["score"].astype(float).tolist() == pytest.approx(probs.max(axis=1).tolist())
    assert filled["label"].tolist() == [c.removeprefix("p_") for c in probs.idxmax(axis=1)]
    direct = classify_lines(filled["review"].tolist(), sharp_classifier)
    assert probs.to_dict("records") == [pytest.approx({f"p_{k}": v for k, v in scores(r).items()}, abs=1e-6)
                                        for r in direct]
    assert table.label_counts == {l: filled["label"].tolist().count(l) for l in LABELS}
    assert seen[-1] == (3, 3)

    again = score_csv(source, tmp_path / "out", model=sharp_classifier)
    assert again.path != table.path and table.path.is_file()  # a new name each time


def test_score_csv_never_overwrites_the_users_columns(sharp_classifier, tmp_path):
    source = write_csv(tmp_path / "labelled.csv", "text;label\nThe cat sat on the mat.;pos\nsea;neg\n")
    table = score_csv(source, tmp_path, model=sharp_classifier)  # ';' separated, written beside the input
    out = pd.read_csv(table.path)
    assert list(out["label"]) == ["pos", "neg"]
    direct = classify_lines(["The cat sat on the mat.", "sea"], sharp_classifier)
    assert list(out["predicted_label"]) == [r.labels[0].label for r in direct]  # the model's, beside the user's
    assert table.text_column == "text"


def test_score_csv_reads_windows_encoded_files(sharp_classifier, tmp_path):
    source = write_csv(tmp_path / "excel.csv", "comment,n\nCafé crème was dull,1\n", encoding="cp1252")
    table = score_csv(source, tmp_path / "out", model=sharp_classifier)
    assert pd.read_csv(table.path)["comment"].tolist() == ["Café crème was dull"]


@pytest.mark.parametrize("content, column, message", [
    (b"", None, "could not be read"),
    (b"text,label\n", None, "no rows"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", None, "not a text file"),
    (b'a,b\n1,2\n3,4,5,6\n', None, "could not be read"),
    (b"text,label\nhello there,1\n", "review", "no column 'review'"),
    (b"id,score\n1,2\n3,4\n", None, "No column looks like text"),
    (b"id,text\n1,\n2,  \n", "text", "empty in every row"),
])
def test_score_csv_rejects_bad_files_with_a_reason(sharp_classifier, tmp_path, content, column, message):
    source = tmp_path / "bad.csv"
    source.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        score_csv(source, tmp_path / "out", text_column=column, model=sharp_classifier)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_score_csv_refuses_missing_and_oversized_files(sharp_classifier, tmp_path):
    with pytest.raises(ValueError, match="Could not open"):
        score_csv(tmp_path / "nowhere.csv", tmp_path, model=sharp_classifier)
    big = tmp_path / "big.csv"
    big.write_text("text\n" + "a review\n" * (MAX_CSV_ROWS + 1))
    with pytest.raises(ValueError, match="split it"):
        score_csv(big, tmp_path, model=sharp_classifier)


def test_guess_text_column_picks_the_free_text():
    columns = ["id", "title", "review", "label"]
    rows = [{"id": "1", "title": "Jaws", "review": "A shark, a town, and a summer of fear.", "label": "pos"},
            {"id": "2", "title": "Cats", "review": "", "label": "neg"},
            {"id": "3", "title": "Heat", "review": "Long but gripping.", "label": "pos"}]
    assert guess_text_column(columns, rows) == "review"
    assert guess_text_column(columns, [list(r.values()) for r in rows]) == "review"  # rows as lists
    # Without text to look at, a usual name still decides; numbers never count as text.
    assert guess_text_column(["n", "sentence"], [{"n": "12", "sentence": ""}]) == "sentence"
    with pytest.raises(ValueError, match="No column looks like text"):
        guess_text_column(["a", "b"], [["1", "2.5"], ["3", "-4"]])


# --- the packaged SmolLM2 ----------------------------------------------------------------------------

SMOL = "SmolLM2-135M-Instruct (packaged)"


@pytest.mark.slow
def test_smollm2_tells_positive_from_negative():
    good, bad = classify_lines(["I loved this film, it was wonderful",
                                "I hated this film, it was a boring waste of time"], SMOL)
    assert scores(good)["positive"] > scores(good)["negative"]
    assert scores(bad)["negative"] > scores(bad)["positive"]


def test_score_csv_hands_back_no_live_formulas(sharp_classifier, tmp_path):
    """CSV injection: cells a spreadsheet would run come back with a leading apostrophe, numbers untouched."""
    source = write_csv(tmp_path / "attack.csv",
                       "text,note,=HYPERLINK(\"x\")\n"
                       "\"=cmd|' /C calc'!A0\",+44 20,1\n"
                       "A wonderful film.,@SUM(A1:A9),-3.5\n"
                       "That film was dull.,\"\tleading tab\",-x\n")
    table = score_csv(source, tmp_path / "out", model=sharp_classifier)
    out = pd.read_csv(table.path, dtype=str, keep_default_na=False)
    assert list(out.columns)[:3] == ["text", "note", "'=HYPERLINK(\"x\")"]
    assert out["text"].tolist()[0] == "'=cmd|' /C calc'!A0"
    assert out["note"].tolist() == ["'+44 20", "'@SUM(A1:A9)", "'\tleading tab"]  # not a plain number
    assert out.iloc[:, 2].tolist() == ["1", "-3.5", "'-x"]
    assert not any(str(cell).startswith(("=", "@", "\t", "\r")) for row in out.itertuples(index=False)
                   for cell in row)

