"""The limits a public link needs, set from the environment: an upload over STUDIO_MAX_UPLOAD_MB is turned
away before any handler reads it, an input over STUDIO_MAX_CHARS gets a sentence naming the limit, and the
queue holds STUDIO_QUEUE_SIZE requests."""

from __future__ import annotations

import os
import shutil

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from tests.helpers.app import served_app

pytestmark = pytest.mark.training  # serves the app

LIMITS = {"STUDIO_MAX_UPLOAD_MB": "1", "STUDIO_MAX_CHARS": "50", "STUDIO_QUEUE_SIZE": "7"}


@pytest.fixture(scope="module")
def client(studio_home, tiny_classifier):
    saved = {k: os.environ.get(k) for k in LIMITS}
    os.environ.update(LIMITS)
    try:
        with served_app() as client:
            yield client
    finally:
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)


def test_an_upload_over_the_limit_is_refused_and_one_under_it_is_scored(client, tiny_classifier, tmp_path):
    big = tmp_path / "big.csv"
    big.write_text("text\n" + "A fine film.\n" * 120_000)  # about 1.6 MB
    with pytest.raises(Exception, match="(?i)size|large|exceed"):
        client.predict(handle_file(str(big)), "", tiny_classifier, api_name="/score_csv")
    small = tmp_path / "small.csv"
    small.write_text("text\nA fine film.\n")
    _, summary, result, _ = client.predict(handle_file(str(small)), "", tiny_classifier, api_name="/score_csv")
    assert result["rows"] == 1


def test_an_input_over_the_character_limit_names_it(client, tiny_classifier):
    with pytest.raises(AppError, match="the limit is 50"):
        client.predict("x" * 51, tiny_classifier, api_name="/classify_sentiment")
    client.predict("x" * 50, tiny_classifier, api_name="/classify_sentiment")


def test_the_queue_size_comes_from_the_environment(client):
    import app

    assert app.build_demo()._queue.max_size == 7


def test_one_visitor_may_not_queue_more_than_the_job_limit(studio_home, monkeypatch, tmp_path):
    """STUDIO_MAX_JOBS: with two active (a chain of runs counts once) a third run or evaluation of the same
    visitor is refused; the command line (no owner) and other visitors are not held back by it."""
    from pipelines.evaluation import jobs
    from pipelines.finetune.config import FinetuneConfig
    from pipelines.finetune.runs import RunFolder
    from pipelines.runtime import owners, settings

    monkeypatch.setenv("STUDIO_MAX_JOBS", "2")
    made = []

    def active_run(name, chain=None):
        run = RunFolder(settings.runs_dir() / name)
        run.path.mkdir()
        owners.write_owner(run.path, "browser:busy")
        FinetuneConfig(data_file=str(tmp_path / "x.csv"), chain=chain).to_json(run.config_file)
        run.write_status("running", pid=os.getpid())  # alive: this test process
        made.append(run.path)

    try:
        active_run("20000101-000000-adapt", chain="c1")  # adapt, then fine-tune: one click, one job
        active_run("20000101-000001-tune", chain="c1")
        jobs.check_job_limit("browser:busy")
        active_run("20000101-000002-other")
        with pytest.raises(ValueError, match="limit is 2 at a time"):
            jobs.check_job_limit("browser:busy")
        with pytest.raises(ValueError, match="limit is 2 at a time"):
            jobs.create_job("evaluation", {"finetune_config": {}}, owner="browser:busy")
        jobs.check_job_limit("browser:someone-else")
        jobs.check_job_limit(None)
    finally:
        for path in made:
            shutil.rmtree(path)


def test_a_dataset_over_the_row_limit_is_refused(monkeypatch, tmp_path):
    from pipelines.finetune.data import read_table

    monkeypatch.setenv("STUDIO_MAX_ROWS", "10")
    path = tmp_path / "rows.csv"
    path.write_text("text,label\n" + "a fine film,positive\n" * 11)
    with pytest.raises(ValueError, match="11 rows; the limit is 10"):
        read_table(path)


def test_max_new_tokens_comes_from_the_environment(monkeypatch):
    from pipelines.models.lm import GenerationSettings
    from pipelines.tasks.summarization import SummarySettings

    assert GenerationSettings(max_new_tokens=2048).validated()  # the default ceiling
    monkeypatch.setenv("STUDIO_MAX_NEW_TOKENS", "64")
    with pytest.raises(ValueError, match="Max new tokens must be between 1 and 64"):
        GenerationSettings(max_new_tokens=65).validated()
    with pytest.raises(ValueError, match="Max new tokens must be between 1 and 64"):
        SummarySettings(max_new_tokens=100).validated()
