"""Fine-tuning data for text classification: reading each format, guessing columns, every bad input's
message, the stratified split, the length-grouped sampler, the config file, and the rotten-tomatoes
preset's sample."""

from __future__ import annotations

import csv
import json
from collections import Counter

import pandas as pd
import pytest

from pipelines.finetune import data, tasks
from pipelines.finetune.batching import LengthGroupedSampler
from pipelines.finetune.config import FinetuneConfig
from pipelines.finetune.tasks.classification import MIN_ROWS, head_labels, split

CLASSIFICATION = tasks.get("classification")


def labelled(path, **columns):
    """(rows, the column of each role) as a classification run reads them."""
    return data.load_rows(path, CLASSIFICATION, columns)


def rows(n=40, labels=("positive", "negative")):
    return [{"id": i, "review": f"review number {i} says it was {labels[i % len(labels)]}",
             "sentiment": labels[i % len(labels)]} for i in range(n)]


def write_csv(path, records, delimiter=","):
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(records[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(records)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl", ".parquet"])
def test_every_format_loads_with_guessed_columns(tmp_path, suffix):
    records, path = rows(), tmp_path / f"reviews{suffix}"
    if suffix in (".csv", ".tsv"):
        write_csv(path, records, delimiter="\t" if suffix == ".tsv" else ",")
    elif suffix == ".json":
        path.write_text(json.dumps(records))
    elif suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    else:
        pd.DataFrame(records).to_parquet(path)
    found, columns = labelled(path)
    assert columns == {"text": "review", "label": "sentiment"}
    assert CLASSIFICATION.summary(found) == {"negative": 20, "positive": 20}
    assert found["text"][3] == records[3]["review"]


def test_preview_shows_first_rows_guesses_and_counts(tmp_path):
    path = write_csv(tmp_path / "d.csv", rows(25))
    shown = data.preview(path, CLASSIFICATION)
    assert shown.columns == ("id", "review", "sentiment")
    assert len(shown.rows) == data.PREVIEW_ROWS and shown.rows[0]["review"] == "review number 0 says it was positive"
    assert (shown.guesses, shown.n_rows) == ({"text": "review", "label": "sentiment"}, 25)
    assert json.loads(json.dumps(shown.to_dict()))["guesses"] == shown.guesses


def test_columns_are_guessed_by_content_when_names_say_nothing(tmp_path):
    records = [{"a": f"a long piece of text number {i} with many words in it", "b": "x" if i % 3 else "y",
                "c": f"{i}"} for i in range(30)]
    guesses = CLASSIFICATION.guess_columns(data.read_table(write_csv(tmp_path / "d.csv", records)))
    assert guesses == {"text": "a", "label": "b"}


def bad(tmp_path, records, **columns):
    with pytest.raises(ValueError) as err:
        labelled(write_csv(tmp_path / "bad.csv", records), **columns)
    return str(err.value)


def test_a_missing_column_is_named_with_the_columns_there_are(tmp_path):
    message = bad(tmp_path, rows(), text="review", label="stars")
    assert "no column 'stars'" in message and "id, review, sentiment" in message


def test_an_empty_text_column_is_refused(tmp_path):
    records = [dict(r, review="") for r in rows()]
    message = bad(tmp_path, records, text="review", label="sentiment")
    assert "Column 'review' is empty" in message


def test_blank_labels_name_their_rows(tmp_path):
    records = rows()
    for i in (2, 7):
        records[i]["sentiment"] = "  "
    message = bad(tmp_path, records)
    assert "2 row(s) have no label in column 'sentiment': 3, 8" in message
    assert "Fill them in or delete those rows" in message


def test_blank_texts_name_their_rows(tmp_path):
    records = rows()
    records[0]["review"] = ""
    assert "no text in column 'review': 1." in bad(tmp_path, records)


def test_a_single_class_is_refused(tmp_path):
    message = bad(tmp_path, rows(labels=("positive",)))
    assert "has the label 'positive'" in message and "at least two classes" in message


def test_a_class_with_one_row_cannot_be_split(tmp_path):
    records = rows()
    records[5]["sentiment"] = "neutral"
    message = bad(tmp_path, records)
    assert "'neutral'" in message and "at least 2 rows" in message


def test_too_few_rows(tmp_path):
    message = bad(tmp_path, rows(MIN_ROWS - 1))
    assert f"has {MIN_ROWS - 1} rows" in message and f"at least {MIN_ROWS}" in message


def test_non_utf8_text_names_the_line(tmp_path):
    path = write_csv(tmp_path / "latin.csv", rows())
    lines = path.read_bytes().split(b"\n")
    lines[4] = lines[4].replace(b"review", "révïew".encode("latin-1"))
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(ValueError, match=r"Line 5 of 'latin.csv' is not UTF-8 .*byte 0xe9.*UTF-8"):
        labelled(path)


def test_malformed_json_lines_name_the_line(tmp_path):
    path = tmp_path / "d.jsonl"
    lines = [json.dumps(r) for r in rows()]
    lines[2] = lines[2][:-1]  # the closing brace is missing
    path.write_text("\n".join(lines))
    with pytest.raises(ValueError, match=r"Line 3 of 'd.jsonl' is not valid JSON"):
        labelled(path)


def test_malformed_json_array_names_the_line(tmp_path):
    path = tmp_path / "d.json"
    path.write_text('[\n{"text": "a", "label": "x"},\n{"text": "b" "label": "y"}\n]')
    with pytest.raises(ValueError, match=r"Line 3 of 'd.json' is not valid JSON \(Expecting ',' delimiter\)"):
        data.read_table(path)


def test_a_json_object_that_is_not_records_is_refused(tmp_path):
    path = tmp_path / "d.json"
    path.write_text('{"text": ["a", "b"], "label": ["x", "y"]}')
    with pytest.raises(ValueError, match="must hold a list of records"):
        data.read_table(path)


def test_a_file_over_the_upload_limit_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:
        handle.truncate(data.MAX_UPLOAD_BYTES + 1)  # sparse: no 50 MB written
    with pytest.raises(ValueError, match=r"'huge.csv' is 50 MB; the limit is 50 MB"):
        data.read_table(path)


def test_an_unsupported_extension_is_refused(tmp_path):
    path = tmp_path / "sheet.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(ValueError, match=r"\.xlsx file; upload a CSV, TSV, JSON, JSONL or Parquet"):
        data.read_table(path)


def test_a_ragged_csv_says_what_the_parser_found(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("text,label\n" + "a,x\n" * 10 + "b,y,extra\n" + "c,y\n" * 10)
    with pytest.raises(ValueError, match=r"Could not read 'ragged.csv' as CSV: .*Expected 2 fields in line 12"):
        data.read_table(path)


def test_the_text_column_must_hold_text(tmp_path):
    assert "holds" in bad(tmp_path, rows(), text="id", label="sentiment")


def test_split_is_stratified_disjoint_and_fixed_by_the_seed(tmp_path):
    records = rows(100, labels=("a", "a", "a", "b"))  # 75 / 25
    found, _ = labelled(write_csv(tmp_path / "d.csv", records))
    config = FinetuneConfig(data_file="d.csv", eval_fraction=0.2, seed=1)
    train, held_out = split(found, ("a", "b"), config)
    again_train, again_held_out = split(found, ("a", "b"), config)
    assert len(held_out) == 20 and len(train) == 80
    assert Counter(held_out["label"]) == {0: 15, 1: 5}  # the 3:1 ratio, kept
    assert list(held_out["text"]) == list(again_held_out["text"])
    assert not set(held_out["text"]) & set(train["text"])
    capped_train, capped_held_out = split(found, ("a", "b"), config.with_changes(max_eval_rows=10, max_train_rows=40))
    assert (len(capped_held_out), len(capped_train)) == (10, 40)


def test_copy_into_leaves_the_upload_untouched(tmp_path):
    upload = write_csv(tmp_path / "upload.csv", rows())
    before = (upload.read_bytes(), upload.stat().st_mtime_ns)
    copy = data.copy_into(upload, tmp_path / "run" / "data")
    assert copy.read_bytes() == before[0] and copy != upload
    assert (upload.read_bytes(), upload.stat().st_mtime_ns) == before


def test_length_grouped_sampler_groups_lengths_and_replays_an_epoch():
    lengths = [(i * 37) % 101 for i in range(200)]
    sampler = LengthGroupedSampler(lengths, batch_size=4, seed=3, group_batches=5)
    sampler.set_epoch(0)
    first = list(sampler)
    assert sorted(first) == list(range(200))  # every row once
    for start in range(0, 200, 20):  # inside each mega-batch, longest first
        group = [lengths[i] for i in first[start:start + 20]]
        assert group == sorted(group, reverse=True)
    assert list(sampler) == first  # same epoch, same order: what resuming relies on
    sampler.set_epoch(1)
    assert list(sampler) != first


def test_config_round_trips_and_explains_bad_values(tmp_path):
    config = FinetuneConfig(data_file="d.csv", mode="top-k", epochs=2, name="my-model")
    config.to_json(tmp_path / "c.json")
    assert FinetuneConfig.from_json(tmp_path / "c.json") == config
    assert config.effective_learning_rate == 1e-4
    with pytest.raises(ValueError, match="mode must be one of full, feature-extraction, top-k"):
        FinetuneConfig(data_file="d.csv", mode="lora")
    with pytest.raises(ValueError, match="Unknown setting.*learning_rat\\b"):
        FinetuneConfig.from_dict({"data_file": "d.csv", "learning_rat": 0.1})
    with pytest.raises(ValueError, match="must be a folder name"):
        FinetuneConfig(data_file="d.csv", name="../escape")
    with pytest.raises(ValueError, match="task must be one of classification, extractive-qa, masked-lm"):
        FinetuneConfig(data_file="d.csv", task="translation")
    # a config written before runs had a task names its two columns directly
    old = FinetuneConfig.from_dict({"data_file": "d.csv", "text_column": "review", "label_column": None})
    assert (old.task, old.columns) == ("classification", {"text": "review"})


def test_a_classifier_keeps_its_head_only_for_the_same_labels():
    from transformers import BertConfig

    classifier = BertConfig(architectures=["BertForSequenceClassification"], id2label={0: "NEGATIVE", 1: "POSITIVE"})
    assert head_labels(classifier, ["positive", "negative"]) == (("negative", "positive"), True)
    assert head_labels(classifier, ["spam", "ham"]) == (("ham", "spam"), False)
    assert head_labels(BertConfig(architectures=["BertModel"]), ["b", "a"]) == (("a", "b"), False)


def test_rotten_tomatoes_sample_has_reviews_only(studio_home):
    from pipelines.finetune.presets import preset_configs, rotten_tomatoes_sample

    sample = pd.read_csv(rotten_tomatoes_sample(300, seed=0))
    assert len(sample) == 300 and list(sample.columns) == ["text", "label"]
    assert set(sample["label"]) == {"positive", "negative"}
    (config,) = preset_configs("rotten-tomatoes", max_train_rows=200, epochs=1)
    assert (config.max_train_rows, config.max_eval_rows, config.eval_fraction) == (200, 200, 0.5)
    assert pd.read_csv(config.data_file).shape == (400, 2)
    # `--preset rotten-tomatoes --name X` names the model (it once collided with the preset's own name)
    assert preset_configs("rotten-tomatoes", name="my-model", max_train_rows=200)[0].name == "my-model"


def test_the_preset_sample_built_by_concurrent_requests_is_whole(studio_home):
    # Two requests building the same sample at once once shared a partial file and left NUL bytes in it.
    import concurrent.futures

    import pandas as pd

    from pipelines.finetune.presets import rotten_tomatoes_sample

    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        paths = list(pool.map(lambda _: rotten_tomatoes_sample(300, 7), range(3)))
    assert len(set(paths)) == 1
    raw = paths[0].read_bytes()
    assert b"\x00" not in raw
    table = pd.read_csv(paths[0])
    assert len(table) == 300 and set(table["label"]) == {"positive", "negative"}
    assert not list(paths[0].parent.glob("*.partial"))
