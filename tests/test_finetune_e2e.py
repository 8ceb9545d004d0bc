"""Fine-tuning end to end on a tiny encoder built by the tests.

The command line trains a run to the end and registers a model that the sentiment pipeline uses; a
run started through `accelerate launch` (start_run), stopped on request and resumed from its checkpoint
repeats that run exactly; run folders report dead processes and queue positions.
"""

from __future__ import annotations

import json
import os
import signal
import zipfile

import pytest

from pipelines.finetune.config import FinetuneConfig
from pipelines.finetune.log import EvalEntry, StatusEntry, StepEntry
from pipelines.finetune.launch import launch_command, request_stop, resume_run, start_run
from pipelines.finetune.runs import export_zip, list_runs
from pipelines.models import catalog, kinds
from pipelines.runtime import settings
from pipelines.tasks.sentiment import classify_sentiment
from tests.helpers import tiny_models
from tests.helpers.finetune import check_comparison, losses, run_cli, wait_until

REPO = settings.REPO_ROOT
pytestmark = pytest.mark.training  # every test here trains, or waits for a training process
EPOCHS, STEPS_PER_EPOCH = 30, 6  # 48 training rows in batches of 8: long enough to stop half-way


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A STUDIO_HOME of this module's own, with a tiny encoder: the models these tests register must not
    become another test's default sentiment model. Module-wide, so that runs can be compared."""
    with tiny_models.finetune_home(tmp_path_factory.mktemp("finetune_home")) as home:
        yield home


@pytest.fixture(scope="module")
def keywords_csv(tmp_path_factory):
    return tiny_models.write_keywords_csv(tmp_path_factory.mktemp("upload") / "keywords.csv")


def keyword_config(data_file, **changes) -> FinetuneConfig:
    # A random tiny BERT needs a large step and a few dozen steps to pick up the keyword.
    values = dict(data_file=str(data_file), base_model="tiny-encoder", batch_size=8, learning_rate=3e-3,
                  max_length=32, epochs=EPOCHS, logging_steps=1)
    return FinetuneConfig(**{**values, **changes})


@pytest.fixture(scope="module")
def cli_run(home, keywords_csv, tmp_path_factory):
    """One uninterrupted run through the command line: checked below, and the reference that a stopped
    and resumed run must repeat."""
    config_file = tmp_path_factory.mktemp("config") / "config.json"
    keyword_config(keywords_csv, name="tiny-keyword-sentiment").to_json(config_file)
    run, stdout = run_cli(config_file)
    assert "Finished: Held-out accuracy" in stdout
    return run


def test_the_cli_run_folder_holds_config_data_log_model_and_result(cli_run, keywords_csv):
    total = EPOCHS * STEPS_PER_EPOCH
    assert cli_run.status.state == "finished"
    assert (cli_run.data_dir / "keywords.csv").read_bytes() == keywords_csv.read_bytes()  # a copy; upload kept
    assert cli_run.config.data_file == str(cli_run.data_dir / "keywords.csv")
    assert not cli_run.checkpoint_dir.exists()  # a finished run is not resumed: its checkpoint is dropped
    log = cli_run.read_log()
    step = next(e for e in log if isinstance(e, StepEntry))
    assert step.loss > 0 and step.total_steps == total and step.samples_per_s > 0
    assert sorted(losses(cli_run)) == list(range(1, total + 1))
    evals = [e for e in log if isinstance(e, EvalEntry)]
    assert [e.model for e in evals] == ["base"] + ["fine_tuned"] * EPOCHS and evals[-1].step == total
    assert [e.state for e in log if isinstance(e, StatusEntry)][-1] == "finished"

    result = cli_run.result()
    assert (result["task"], result["metric"], result["higher_is_better"]) == ("classification", "accuracy", True)
    base, tuned = result["base"], result["fine_tuned"]
    assert tuned["accuracy"] >= 0.9 > base["accuracy"] and set(tuned) == {"accuracy", "macro_f1"}
    assert result["facts"]["labels"] == ["negative", "positive"] and result["held_out_rows"] == 12
    details = result["details"]["fine_tuned"]
    assert sum(map(sum, details["confusion_matrix"])) == 12
    assert [c["label"] for c in details["per_class"]] == ["negative", "positive"]
    examples = result["examples"]
    assert len(examples) == 12 and set(examples[0]) == {"input", "reference", "base", "fine_tuned", "base_score",
                                                        "fine_tuned_score"}
    assert [e["fine_tuned_score"] for e in examples] == sorted(e["fine_tuned_score"] for e in examples)
    assert result["training_time_s"] > 0 and result["samples_per_s"] > 0 and result["steps"] == total
    comparison = check_comparison(result, improved=False)  # 12 held-out rows: too few to promise an interval
    disagreements = comparison["mcnemar"]["first_only"] + comparison["mcnemar"]["second_only"]
    assert disagreements == sum(1 for e in examples if (e["base"].split()[0] == e["reference"]) !=
                                (e["fine_tuned"].split()[0] == e["reference"]))
    card = (cli_run.model_dir / "README.md").read_text()
    assert "pipeline_tag: text-classification" in card and f"{tuned['accuracy']:.4f}" in card
    assert comparison["summary"] in card
    config = json.loads((cli_run.model_dir / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}


def test_the_registered_model_serves_the_sentiment_pipeline(cli_run):
    spec = next(s for s in catalog.local_specs() if s.name == "tiny-keyword-sentiment")
    assert spec.kind == kinds.CLASSIFIER and "sentiment" in spec.tasks
    assert spec.note.startswith("Fine-tuned here from tiny-encoder on keywords") and "accuracy" in spec.note
    name = spec.name
    assert classify_sentiment("the film was wonderful and the cat sat", model=name).labels[0].label == "positive"
    assert classify_sentiment("the film was dull and the cat sat", model=name).labels[0].label == "negative"


def test_a_launched_run_stopped_and_resumed_repeats_the_uninterrupted_run(home, keywords_csv, cli_run):
    assert launch_command(["x.json"])[1:4] == ["-m", "accelerate.commands.accelerate_cli", "launch"]
    run = start_run(keyword_config(keywords_csv, name="tiny-resumed"))
    assert run.status.state in ("queued", "running")
    wait_until(lambda: losses(run), what="the first training step")
    request_stop(run)
    wait_until(lambda: run.status.state not in ("running", "stopping"), what="the run to stop")
    assert run.status.state == "stopped", run.log_tail(40)
    assert run.has_checkpoint and not run.model_dir.exists()
    stopped_at = max(losses(run))
    assert stopped_at < EPOCHS * STEPS_PER_EPOCH, "the run finished before the stop request reached it"

    resume_run(run)
    wait_until(lambda: run.status.state not in ("queued", "running"), what="the resumed run to end")
    assert run.status.state == "finished", run.log_tail(40)
    # Same batches, dropout masks and optimizer state from the checkpoint on: the very same losses.
    assert losses(run) == losses(cli_run)
    assert run.result()["fine_tuned"] == cli_run.result()["fine_tuned"]
    assert next(r for r in list_runs() if r.id == run.id).score == run.result()["fine_tuned"]["accuracy"]
    with zipfile.ZipFile(export_zip(run)) as archive:
        names = set(archive.namelist())
    assert {"tiny-resumed/config.json", "tiny-resumed/model.safetensors", "tiny-resumed/README.md"} <= names


def test_a_killed_run_shows_as_interrupted_and_resumes_to_the_uninterrupted_result(home, keywords_csv, cli_run):
    """SIGKILL the training (launcher and trainer, no chance to clean up) after its first checkpoint: the
    folder says interrupted, not running; resume continues from the last epoch's checkpoint to the same
    losses and held-out scores as the run that was never interrupted (same seed and data order)."""
    run = start_run(keyword_config(keywords_csv, name="tiny-killed"))
    wait_until(lambda: run.has_checkpoint and max(losses(run), default=0) > 2 * STEPS_PER_EPOCH,
               what="a checkpoint and a few more steps")
    os.killpg(int(run.launcher_pid_file.read_text()), signal.SIGKILL)  # its own session: the whole group
    wait_until(lambda: run.status.state == "interrupted", what="the run to show as interrupted")
    killed_at = max(losses(run))
    assert killed_at < EPOCHS * STEPS_PER_EPOCH and not run.result_file.exists()
    assert "resume continues from its last checkpoint" in run.status.message
    assert next(r for r in list_runs() if r.id == run.id).state == "interrupted"

    resume_run(run)
    wait_until(lambda: run.status.state not in ("queued", "running"), what="the resumed run to end")
    assert run.status.state == "finished", run.log_tail(40)
    assert losses(run) == losses(cli_run)  # the steps after the checkpoint were trained again, identically
    assert run.result()["fine_tuned"] == cli_run.result()["fine_tuned"]


def test_scoring_between_epochs_leaves_training_as_it_was(home, keywords_csv, cli_run, tmp_path):
    """eval_steps adds held-out scores between epochs (the benchmark's time-to-accuracy curve): at the
    steps asked for, placed at fractions of an epoch, on a training clock that stops while it scores,
    and without changing a single loss of the run."""
    config_file = tmp_path / "config.json"
    keyword_config(keywords_csv, name="tiny-scored-often", eval_steps=4).to_json(config_file)
    run, _ = run_cli(config_file)
    assert losses(run) == losses(cli_run)
    assert run.result()["fine_tuned"] == cli_run.result()["fine_tuned"]
    evals = [e for e in run.read_log() if isinstance(e, EvalEntry)]
    total = EPOCHS * STEPS_PER_EPOCH
    between = [s for s in range(1, total + 1) if s % 4 == 0 and s % STEPS_PER_EPOCH]
    assert sorted(e.step for e in evals) == sorted([0, *between, *range(STEPS_PER_EPOCH, total + 1, STEPS_PER_EPOCH)])
    assert [e.epoch for e in evals if e.step == 4] == [round(4 / STEPS_PER_EPOCH, 3)]
    clock = [e.train_time_s for e in evals]
    assert clock == sorted(clock) and clock[-1] == pytest.approx(run.result()["training_time_s"], abs=0.01)
    with pytest.raises(ValueError, match="eval_steps must be at least 1"):
        keyword_config(keywords_csv, eval_steps=0)


def test_bf16_and_top_k_layers_from_the_command_line(home, keywords_csv, tmp_path):
    keyword_config(keywords_csv).to_json(tmp_path / "config.json")
    run, _ = run_cli(tmp_path / "config.json", "--mode", "top-k", "--mixed-precision", "bf16")
    result = run.result()
    assert (result["mode"], result["mixed_precision"]) == ("top-k", "bf16")
    assert result["trainable_parameters"] < result["total_parameters"]  # the embeddings stayed frozen
    assert result["fine_tuned"]["accuracy"] > result["base"]["accuracy"]


def test_the_report_states_the_runs_own_numbers_and_fetches_nothing(cli_run):
    import html
    from html.parser import HTMLParser

    from pipelines.evaluation.report import render, write_report
    from pipelines.finetune import status

    class Collect(HTMLParser):
        def __init__(self):
            super().__init__()
            self.links, self.text = [], []

        def handle_starttag(self, tag, attrs):
            self.links += [value for name, value in attrs if name in ("src", "href") and value]

        def handle_data(self, data):
            self.text.append(data)

    path = write_report(cli_run)
    assert path == cli_run.path / "report.html"
    parsed = Collect()
    parsed.feed(path.read_text())
    text = " ".join(parsed.text)
    assert parsed.links == []  # inline CSS and SVG: nothing to fetch, opens from disk
    result = cli_run.result()
    assert result["comparison"]["summary"] in text and result["registered_as"] in text
    for name, value in result["fine_tuned"].items():
        assert f"{value:.4g}" in text and f"{result['base'][name]:.4g}" in text, name
    matrix = result["details"]["fine_tuned"]["confusion_matrix"]
    assert "Fine-tuned: true label (rows) against prediction (columns)" in text and str(matrix[0][0]) in text
    assert result["examples"][0]["input"] in text and "transformers" in text
    # text from the user's data is escaped, never markup
    info = status.overview(cli_run)
    tampered = {**result, "examples": [{**result["examples"][0], "input": "<script>alert(1)</script>"}]}
    page = render(info, tampered, [])
    assert "<script>alert" not in page and html.escape("<script>alert(1)</script>") in page
