"""Fine-tuning end to end on a tiny encoder built by the tests.

The command line trains a run to the end and registers a model that the sentiment pipeline uses; a
run started through `accelerate launch` (start_run), stopped on request and resumed from its checkpoint
repeats that run exactly; run folders report dead processes and queue positions.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from pipelines.finetune import run_queue
from pipelines.finetune.config import FinetuneConfig
from pipelines.finetune.runs import (
    RunFolder,
    export_zip,
    launch_command,
    list_run_folders,
    list_runs,
    request_stop,
    resume_run,
    start_run,
)
from pipelines.models import catalog, kinds
from pipelines.runtime import settings
from pipelines.tasks.sentiment import classify_sentiment
from tests import tiny_models

REPO = settings.REPO_ROOT
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


def run_cli(*args, env: dict | None = None) -> tuple[RunFolder, str]:
    done = subprocess.run([sys.executable, "-m", "pipelines.finetune", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    folder = next(line for line in done.stdout.splitlines() if line.startswith("Run folder: "))
    return RunFolder(Path(folder.split(": ", 1)[1])), done.stdout


@pytest.fixture(scope="module")
def cli_run(home, keywords_csv, tmp_path_factory):
    """One uninterrupted run through the command line: checked below, and the reference that a stopped
    and resumed run must repeat."""
    config_file = tmp_path_factory.mktemp("config") / "config.json"
    keyword_config(keywords_csv, name="tiny-keyword-sentiment").to_json(config_file)
    run, stdout = run_cli(config_file)
    assert "Finished: held-out accuracy" in stdout
    return run


def wait_until(condition, timeout_s=300.0, what="condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


def losses(run) -> dict[int, float]:
    return {entry["step"]: entry["loss"] for entry in run.read_log() if entry["type"] == "step"}


def test_the_cli_run_folder_holds_config_data_log_model_and_result(cli_run, keywords_csv):
    total = EPOCHS * STEPS_PER_EPOCH
    assert cli_run.status.state == "finished"
    assert (cli_run.data_dir / "keywords.csv").read_bytes() == keywords_csv.read_bytes()  # a copy; upload kept
    assert cli_run.config.data_file == str(cli_run.data_dir / "keywords.csv")
    assert not cli_run.checkpoint_dir.exists()  # a finished run is not resumed: its checkpoint is dropped
    log = cli_run.read_log()
    step = next(e for e in log if e["type"] == "step")
    assert set(step) == {"type", "step", "total_steps", "epoch", "loss", "lr", "elapsed_s", "samples_per_s"}
    assert sorted(losses(cli_run)) == list(range(1, total + 1))
    evals = [e for e in log if e["type"] == "eval"]
    assert [e["model"] for e in evals] == ["base"] + ["finetuned"] * EPOCHS and evals[-1]["step"] == total
    assert [e["state"] for e in log if e["type"] == "status"][-1] == "finished"

    result = cli_run.result()
    base, tuned = result["base"], result["finetuned"]
    assert tuned["accuracy"] >= 0.9 > base["accuracy"]
    assert tuned["labels"] == ["negative", "positive"] and result["held_out_rows"] == 12
    assert sum(map(sum, tuned["confusion_matrix"])) == 12 == tuned["n_examples"]
    assert [c["label"] for c in tuned["per_class"]] == ["negative", "positive"]
    assert len(base["misclassified"]) == round(12 * (1 - base["accuracy"]))
    assert result["training_time_s"] > 0 and result["samples_per_s"] > 0 and result["steps"] == total
    card = (cli_run.model_dir / "README.md").read_text()
    assert "pipeline_tag: text-classification" in card and f"{tuned['accuracy']:.4f}" in card
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
    assert run.result()["finetuned"] == cli_run.result()["finetuned"]
    assert next(r for r in list_runs() if r.id == run.id).accuracy == run.result()["finetuned"]["accuracy"]
    with zipfile.ZipFile(export_zip(run)) as archive:
        names = set(archive.namelist())
    assert {"tiny-resumed/config.json", "tiny-resumed/model.safetensors", "tiny-resumed/README.md"} <= names


def test_scoring_between_epochs_leaves_training_as_it_was(home, keywords_csv, cli_run, tmp_path):
    """eval_steps adds held-out scores between epochs (the benchmark's time-to-accuracy curve): at the
    steps asked for, placed at fractions of an epoch, on a training clock that stops while it scores,
    and without changing a single loss of the run."""
    config_file = tmp_path / "config.json"
    keyword_config(keywords_csv, name="tiny-scored-often", eval_steps=4).to_json(config_file)
    run, _ = run_cli(config_file)
    assert losses(run) == losses(cli_run)
    assert run.result()["finetuned"] == cli_run.result()["finetuned"]
    evals = [e for e in run.read_log() if e["type"] == "eval"]
    total = EPOCHS * STEPS_PER_EPOCH
    between = [s for s in range(1, total + 1) if s % 4 == 0 and s % STEPS_PER_EPOCH]
    assert sorted(e["step"] for e in evals) == sorted([0, *between, *range(STEPS_PER_EPOCH, total + 1, STEPS_PER_EPOCH)])
    assert [e["epoch"] for e in evals if e["step"] == 4] == [round(4 / STEPS_PER_EPOCH, 3)]
    clock = [e["train_time_s"] for e in evals]
    assert clock == sorted(clock) and clock[-1] == pytest.approx(run.result()["training_time_s"], abs=0.01)
    with pytest.raises(ValueError, match="eval_steps must be at least 1"):
        keyword_config(keywords_csv, eval_steps=0)


def test_bf16_and_top_k_layers_from_the_command_line(home, keywords_csv, tmp_path):
    keyword_config(keywords_csv).to_json(tmp_path / "config.json")
    run, _ = run_cli(tmp_path / "config.json", "--mode", "top-k", "--mixed-precision", "bf16")
    result = run.result()
    assert (result["mode"], result["mixed_precision"]) == ("top-k", "bf16")
    assert result["trainable_parameters"] < result["total_parameters"]  # the embeddings stayed frozen
    assert result["finetuned"]["accuracy"] > result["base"]["accuracy"]


def test_bad_data_is_refused_before_any_process_starts(tmp_path, home):
    path = tmp_path / "one_class.csv"
    path.write_text("text,label\n" + "some text,positive\n" * 30)
    before = set(settings.runs_dir().iterdir())
    with pytest.raises(ValueError, match="at least two classes"):
        start_run(FinetuneConfig(data_file=str(path), base_model="tiny-encoder"))
    assert set(settings.runs_dir().iterdir()) == before


@pytest.fixture
def own_home(tmp_path, monkeypatch):
    """Fake runs get a runs folder of their own: they must not sit in the real runs' queue."""
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "own_home"))
    return tmp_path / "own_home"


def fake_run(name, state, tmp_path, **status):
    run = RunFolder(settings.runs_dir() / name)
    run.path.mkdir()
    FinetuneConfig(data_file=str(tiny_models.write_keywords_csv(tmp_path / f"{name}.csv"))).to_json(run.config_file)
    run.write_status(state, **status)
    return run


def test_a_crashed_process_shows_as_failed_with_the_end_of_its_log(own_home, tmp_path):
    run = fake_run("20000101-000000-dead", "running", tmp_path)
    with run.process_log.open("w") as log:
        crashed = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit('CUDA out of memory')"],
                                   stdout=log, stderr=subprocess.STDOUT)
    os.waitid(os.P_PID, crashed.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    run.write_status("running", pid=crashed.pid)
    status = run.status
    assert status.state == "failed" and "CUDA out of memory" in status.message
    alive = fake_run("20000101-000001-live", "running", tmp_path, pid=os.getpid())
    assert alive.status.state == "running"
    alive.stop_file.touch()
    assert alive.status.state == "stopping"


def test_queued_runs_know_their_place_and_start_in_order(own_home, tmp_path):
    me = os.getpid()
    fake_run("20000101-000000-train", "running", tmp_path, pid=me)
    first = fake_run("20000101-000002-first", "queued", tmp_path, pid=me, queued_at=1.0)
    second = fake_run("20000101-000001-second", "queued", tmp_path, pid=me, queued_at=2.0)
    assert (first.status.position, second.status.position) == (1, 2)
    assert "Waiting for 2 run(s)" in second.status.message

    second.stop_file.touch()  # a stop request while waiting: leave the queue without training
    assert run_queue.wait_for_turn(second, list_run_folders, poll_s=0.01) is None
    lock = run_queue.wait_for_turn(first, list_run_folders, poll_s=0.01)  # first in line, and the lock is free
    with lock, (settings.runs_dir() / ".train.lock").open("a") as other:
        with pytest.raises(BlockingIOError):  # while it trains, nobody else gets the lock
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_transfer_modes_freeze_what_they_promise(tmp_path):
    from transformers import AutoModelForSequenceClassification

    from pipelines.finetune.model import apply_transfer_mode, parameter_counts

    folder = tiny_models.build_encoder(tmp_path / "encoder")

    def trainable(mode):
        model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3)
        apply_transfer_mode(model, mode, top_k_layers=1)
        names = {n.split(".")[0] if n.startswith("classifier") else ".".join(n.split(".")[:4])
                 for n, p in model.named_parameters() if p.requires_grad}
        return names, parameter_counts(model)

    full, (n_full, total) = trainable("full")
    assert n_full == total and "bert.embeddings.word_embeddings.weight" in full
    head, (n_head, _) = trainable("feature-extraction")
    assert head == {"classifier"} and n_head == 32 * 3 + 3
    top, _ = trainable("top-k")
    assert top == {"classifier", "bert.encoder.layer.1", "bert.pooler.dense.weight", "bert.pooler.dense.bias"}


def test_auto_mixed_precision_uses_bf16_only_where_the_cpu_has_it():
    from pipelines.runtime.hardware import training_precision

    if __import__("torch").cuda.is_available():
        pytest.skip("a GPU decides by itself")
    assert training_precision("auto", flags=frozenset({"sse", "avx2", "avx512f"})) == "no"
    assert training_precision("auto", flags=frozenset({"avx512f", "avx512_bf16", "amx_bf16"})) == "bf16"
    assert training_precision("no", flags=frozenset({"avx512_bf16"})) == "no"
    assert training_precision("auto", flags=frozenset()) == "no"
