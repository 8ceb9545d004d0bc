"""Run folders without training: refusing bad data up front, reporting dead processes and queue
positions, freezing what a transfer mode promises, and choosing mixed precision from the CPU's flags."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys

import pytest

from pipelines.finetune import run_queue
from pipelines.finetune.config import FinetuneConfig
from pipelines.finetune.launch import start_run
from pipelines.finetune.runs import RunFolder, list_run_folders
from pipelines.runtime import settings
from tests.helpers import tiny_models


@pytest.fixture
def home(tmp_path):
    with tiny_models.finetune_home(tmp_path / "home") as home:
        yield home


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


def test_a_crashed_process_shows_as_interrupted_with_the_end_of_its_log(own_home, tmp_path):
    run = fake_run("20000101-000000-dead", "running", tmp_path)
    with run.process_log.open("w") as log:
        crashed = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit('CUDA out of memory')"],
                                   stdout=log, stderr=subprocess.STDOUT)
    os.waitid(os.P_PID, crashed.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    run.write_status("running", pid=crashed.pid)
    status = run.status
    assert status.state == "interrupted" and "CUDA out of memory" in status.message
    assert "resume starts it again" in status.message  # it had no checkpoint
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


def test_a_runs_folder_that_cannot_be_written_leaves_nothing_behind(own_home, tmp_path, monkeypatch):
    from pipelines.evaluation import jobs
    from pipelines.finetune import data, runs

    config = FinetuneConfig(data_file=str(tiny_models.write_keywords_csv(tmp_path / "k.csv")))
    runs_dir = settings.runs_dir()
    assert runs_dir == own_home / "runs"  # never the developer's own runs: this test breaks the folder
    before = set(runs_dir.iterdir())

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(data, "copy_into", disk_full)
        with pytest.raises(ValueError, match="No space left on device.*free some disk space"):
            runs.create_run(config)
        assert set(runs_dir.iterdir()) == before  # no half-written folder to list as a run
        with pytest.raises(ValueError, match="No space left on device"):
            jobs.create_job("evaluation", {"finetune_config": config.to_dict()}, data_file=tmp_path / "k.csv")
        assert list(jobs.jobs_dir("evaluation").iterdir()) == []

    shutil.rmtree(runs_dir)
    runs_dir.write_text("not a folder")  # an unusable runs directory
    with pytest.raises(ValueError, match="Could not write a run folder"):
        runs.create_run(config)


def test_out_of_memory_in_training_fails_the_run_with_what_to_change(own_home, tmp_path):
    import torch

    from pipelines.finetune.__main__ import _train_reporting

    run = fake_run("20000101-000000-oom", "running", tmp_path, pid=os.getpid())

    def out_of_memory(run, resume):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    with pytest.raises(torch.OutOfMemoryError):  # the process ends; the app that started it does not
        _train_reporting(run, False, out_of_memory)
    status = run.status
    assert status.state == "failed" and "smaller batch size or max length" in status.message
