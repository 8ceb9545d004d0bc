"""The Fine-tune tab through its handlers and its two public endpoints, on a tiny encoder.

The app runs in this process with a STUDIO_HOME of this module's own (the models it registers must not
become other tests' defaults); training runs in `accelerate launch` processes, as from the browser.
"""

from __future__ import annotations

import time

import gradio as gr
import pandas as pd
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from pipelines.models import catalog, kinds
from tests.helpers import tiny_models
from tests.helpers.app import served_app


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with tiny_models.finetune_home(tmp_path_factory.mktemp("finetune_tab_home")) as home:
        yield home


@pytest.fixture(scope="module")
def reviews_csv(tmp_path_factory):
    return tiny_models.write_keywords_csv(tmp_path_factory.mktemp("upload") / "reviews.csv",
                                          header=("id", "review", "sentiment"))


@pytest.fixture(scope="module")
def client(home):
    with served_app() as client:
        yield client


EPOCHS, STEPS_PER_EPOCH = 15, 6  # 48 training rows in batches of 8; a random tiny BERT needs ~50 steps


def settings(upload, epochs=EPOCHS, name="", logging_steps=1, eval_steps=0):
    """/start_finetune's inputs in order: task, data, columns, base, mode, k, lr, epochs, batch, max length,
    seed, precision, logging steps, model name, dataset name, eval steps (adapt_first keeps its default)."""
    return ["classification", upload, {"text": "review", "label": "sentiment"}, "tiny-encoder", "full", 2, 3e-3,
            epochs, 8, 32, 42, "no", logging_steps, name, "", eval_steps]


def wait_for(client, run_id, states, timeout_s=300.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = client.predict(run_id, api_name="/finetune_status")
        if status["status"] in states:
            return status
        time.sleep(0.5)
    pytest.fail(f"run {run_id} did not reach {states}; last status: {status}")


# --- the data step, handlers alone --------------------------------------------------------------

def test_preview_shows_rows_columns_guesses_and_counts(reviews_csv):
    from ui import finetune_data

    with pytest.warns(UserWarning, match="repeat an earlier row's text exactly"):  # the fixture repeats its texts
        shown, summary, text, label, _, _, counts = finetune_data.show_preview("classification", str(reviews_csv))
    rows = shown["value"]
    assert shown["visible"] and list(rows.columns) == ["id", "review", "sentiment"]
    # the file's first ten rows, as written
    assert rows.astype(str).values.tolist() == pd.read_csv(reviews_csv, dtype=str).head(10).values.tolist()
    assert "60 rows" in summary and "`review`" in summary
    assert (text["value"], label["value"]) == ("review", "sentiment")
    assert text["choices"] == label["choices"]
    assert counts[:2] == [["negative", 30], ["positive", 30]]
    assert counts[2][0] == "⚠️ warning" and counts[2][1].startswith("55 row(s) repeat an earlier row's text")


def test_changing_a_column_rechecks_and_warns_with_the_backends_message(reviews_csv):
    from ui import finetune_data

    counts = finetune_data.check_columns("classification", str(reviews_csv), "review", "sentiment", None, None)
    assert sorted(counts)[0] == ["negative", 30]
    with pytest.warns(UserWarning, match="not a label column"):  # 60 distinct ids
        assert finetune_data.check_columns("classification", str(reviews_csv), "review", "id", None, None) == []


def test_a_bad_upload_gets_the_backends_message(tmp_path):
    from ui import finetune_data

    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("text,label\ncaf\xe9,positive\n".encode("latin-1"))
    with pytest.raises(gr.Error, match="not UTF-8"):
        finetune_data.show_preview("classification", str(latin1))
    assert latin1.read_bytes().startswith(b"text,label")  # the upload itself is left as it was


def test_examples_and_the_offline_hub(home):
    from ui import finetune_data

    csv_example = next(k for k, v in finetune_data.EXAMPLES["classification"].items() if v.endswith(".csv"))
    path, *unchanged = finetune_data.choose_example("classification", csv_example)
    _, _, text, label, _, _, counts = finetune_data.show_preview("classification", path)
    assert (text["value"], label["value"]) == ("text", "label") and len(counts) == 2
    assert sum(n for _, n in counts) >= 60
    with pytest.raises(gr.Error, match="offline"):
        finetune_data.load_hub_dataset("cornell-movie-review-data/rotten_tomatoes", "train")
    assert any(name == "all-MiniLM-L6-v2 (packaged)" for _, name in finetune_data.base_choices())


# --- a run through the public API ----------------------------------------------------------------

@pytest.fixture(scope="module")
def finished_run(client, reviews_csv, home):
    started = client.predict(*settings(handle_file(str(reviews_csv)), name="tab-tuned"), api_name="/start_finetune")
    assert set(started) == {"run_id", "status", "runs"} and started["status"] in ("queued", "running")
    return wait_for(client, started["run_id"], ("finished", "failed"))


@pytest.mark.training
def test_a_run_started_through_the_api_trains_and_reports_metrics(finished_run):
    status = finished_run
    assert status["status"] == "finished", status["message"]
    progress = status["progress"]
    assert progress["step"] == progress["total_steps"] == EPOCHS * STEPS_PER_EPOCH and progress["elapsed_s"] > 0
    assert [e["model"] for e in status["evaluations"]] == ["base"] + ["fine_tuned"] * EPOCHS
    result = status["result"]
    assert (status["task"], status["metric"]) == ("classification", "accuracy")
    assert result["fine_tuned"]["accuracy"] > result["base"]["accuracy"]
    assert status["model_name"] == "tab-tuned" and not status["can_resume"]
    # what the run was started with, which the form no longer shows after a reload
    settings_used = status["settings"]
    assert {k: settings_used[k] for k in ("base_model", "mode", "learning_rate", "epochs", "batch_size", "max_length",
                                          "seed", "mixed_precision", "eval_steps")} == {
        "base_model": "tiny-encoder", "mode": "full", "learning_rate": 3e-3, "epochs": EPOCHS, "batch_size": 8,
        "max_length": 32, "seed": 42, "mixed_precision": "no", "eval_steps": None}
    assert settings_used["train_rows"] == 48 and settings_used["held_out_rows"] == result["held_out_rows"] == 12


@pytest.mark.training
def test_the_new_model_is_in_the_sentiment_picker(finished_run):
    from ui import common

    assert "tab-tuned" in [value for _, value in common.model_choices("sentiment")]
    assert catalog.resolve("sentiment", "tab-tuned").kind == kinds.CLASSIFIER


@pytest.mark.training
def test_the_run_view_shows_curves_results_and_the_zip(finished_run, home):
    from ui import finetune_tab

    values = finetune_tab.show_run(finished_run["run_id"], None)
    (status, bar, loss, scores, comparison, chain_note, chain, confusion_base, confusion_tuned, examples, download,
     note, stop, resume, runs, as_json, run_id, seen) = values
    total = EPOCHS * STEPS_PER_EPOCH
    assert "Finished" in status and f"step {total} / {total}" in bar
    assert (f"Text classification: full fine-tuning of `tiny-encoder` on reviews (48 training rows, 12 held out): "
            f"learning rate 0.003, "
            f"{EPOCHS} epochs, batch 8, max length 32, seed 42, precision no; held-out rows scored after each "
            "epoch.") in status
    assert list(loss["step"]) == list(range(1, total + 1)) and loss["loss"].notna().all()
    plotted = scores["value"]
    assert set(plotted["metric"]) == {"accuracy", "macro_f1"} and scores["y_lim"] == [0.0, 1.0]
    assert sorted(set(plotted["epoch"])) == list(range(EPOCHS + 1))
    assert comparison[0][0] == "accuracy" and comparison[0][2] > comparison[0][1]
    assert [row[0] for row in comparison[2:]] == ["precision · negative", "recall · negative",
                                                  "precision · positive", "recall · positive"]
    held_out = finished_run["result"]["held_out_rows"]
    for table in (confusion_base, confusion_tuned):
        assert table["visible"]
        assert table["value"]["headers"] == ["true \\ predicted", "negative", "positive"]
        assert sum(sum(row[1:]) for row in table["value"]["data"]) == held_out
    assert len(examples) == held_out and all(len(row) == 4 for row in examples)
    wrong = [row for row in examples if not row[3].startswith(row[1])]
    assert examples[:len(wrong)] == wrong  # the fine-tuned model's mistakes come first
    assert not chain["visible"] and chain_note == ""  # a run of its own
    assert download["visible"] and download["value"].endswith("tab-tuned.zip")
    assert "tab-tuned" in note and "Sentiment" in note
    assert "new, untrained head" in note  # a sentence encoder gets a new head
    assert not stop["interactive"] and not resume["interactive"]
    assert runs[0][0] == run_id == finished_run["run_id"] and runs[0][1] == "finished"
    # A second look with nothing new sends nothing: the timer's ticks stay cheap.
    assert finetune_tab.show_run(run_id, seen) == (gr.skip(),) * len(values)


@pytest.mark.training
def test_stop_then_resume_from_the_tab(client, reviews_csv, finished_run):
    from ui import finetune_tab

    started = client.predict(*settings(handle_file(str(reviews_csv)), epochs=30), api_name="/start_finetune")
    run_id = started["run_id"]
    deadline = time.monotonic() + 300
    while not client.predict(run_id, api_name="/finetune_status")["progress"]["step"]:
        assert time.monotonic() < deadline, "no training step within 300 s"
        time.sleep(0.2)
    finetune_tab.stop_run(run_id)
    stopped = wait_for(client, run_id, ("stopped", "finished", "failed"))
    assert stopped["status"] == "stopped" and stopped["can_resume"], stopped["message"]
    assert finetune_tab.show_run(run_id, None)[13]["interactive"]  # Resume is offered
    finetune_tab.continue_run(run_id)
    done = wait_for(client, run_id, ("finished", "failed"))
    assert done["status"] == "finished" and done["progress"]["step"] == 30 * STEPS_PER_EPOCH


@pytest.mark.training
def test_scoring_every_n_steps_puts_points_between_epochs(client, reviews_csv, finished_run):
    from ui import finetune_view

    started = client.predict(*settings(handle_file(str(reviews_csv)), epochs=2, eval_steps=4), api_name="/start_finetune")
    done = wait_for(client, started["run_id"], ("finished", "failed"))
    assert done["status"] == "finished", done["message"]
    # 6 steps an epoch, scored every 4 steps: steps 4 and 8 between epochs, 6 and 12 at their ends
    assert [(e["model"], e["step"]) for e in done["evaluations"]] == [
        ("base", 0), ("fine_tuned", 4), ("fine_tuned", 6), ("fine_tuned", 8), ("fine_tuned", 12)]
    assert [e["epoch"] for e in done["evaluations"]] == pytest.approx([0, 4 / 6, 1, 8 / 6, 2], abs=1e-3)
    plotted = finetune_view.metrics_frame(done)
    assert sorted(set(plotted["epoch"])) == pytest.approx([0, 4 / 6, 1, 8 / 6, 2], abs=1e-3)
    assert "held-out rows scored every 4 steps and after each epoch" in finetune_view.status_markdown(done)


@pytest.mark.training
def test_further_settings_go_by_name_and_unknown_ones_are_refused(client, reviews_csv):
    upload = handle_file(str(reviews_csv))
    with pytest.raises(AppError, match="Unknown setting.*lora_rank.*Known settings"):
        client.predict(*settings(upload), False, {"lora_rank": 8}, api_name="/start_finetune")
    with pytest.raises(AppError, match="LoRA is offered for seq2seq and causal-lm"):
        client.predict(*settings(upload), False, {"lora": True}, api_name="/start_finetune")


@pytest.mark.training
def test_bad_requests_get_messages(client, tmp_path):
    with pytest.raises(AppError, match="no fine-tuning run"):
        client.predict("no-such-run", api_name="/finetune_status")
    one_class = tmp_path / "one_class.csv"
    one_class.write_text("review,sentiment\n" + "some text,positive\n" * 30)
    with pytest.raises(AppError, match="at least two classes"):
        client.predict(*settings(handle_file(str(one_class))), api_name="/start_finetune")


def test_curves_are_numeric_before_the_first_step():
    # The plot keeps the axis types of its first frame: an untyped empty frame would draw categories.
    from ui import finetune_view

    plot = gr.LinePlot(x="step", y="loss")
    assert set(plot.postprocess(finetune_view.loss_frame([])).datatypes.values()) == {"quantitative"}
    scores = gr.LinePlot(x="epoch", y="value", color="metric")
    empty = {"task": "classification", "curve_metrics": ["accuracy", "macro_f1"], "evaluations": []}
    assert scores.postprocess(finetune_view.metrics_frame(empty)).datatypes["value"] == "quantitative"
