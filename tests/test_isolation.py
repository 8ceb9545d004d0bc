"""Runs and evaluations belong to whoever started them, through the API as well as the UI: two browsers
(each with its own `studio_owner` cookie, as the page sets it) do not see, open, report on, evaluate, stop
or resume each other's runs; runs made from the command line are the workspace's and seen by all;
STUDIO_SHARED_WORKSPACE=1 shows everything to everyone; STUDIO_AUTH puts a login in front."""

from __future__ import annotations

import os
import time

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

import gradio as gr
from pipelines.evaluation import jobs
from pipelines.finetune.runs import find_run
from pipelines.runtime import owners, settings
from tests.helpers import tiny_models
from tests.helpers.app import served_app
from ui import common, evaluate_tab, finetune_tab

pytestmark = pytest.mark.training  # trains a tiny run and serves the app

ALICE, BOB = "0a1b2c3d-0000-4000-8000-00000000a11c", "0a1b2c3d-0000-4000-8000-000000000b0b"


def browser(cookie: str) -> gr.Request:
    """A request as a browser with this owner cookie sends it."""
    return gr.Request(cookies={common.OWNER_COOKIE: cookie}, session_hash=f"page-of-{cookie[-4:]}")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with tiny_models.finetune_home(tmp_path_factory.mktemp("isolation_home")) as home:
        yield home


@pytest.fixture(scope="module")
def app(home):
    with served_app() as client:
        yield client.src


def client_of(url: str, cookie: str) -> Client:
    return Client(url, verbose=False, headers={"Cookie": f"{common.OWNER_COOKIE}={cookie}"})


@pytest.fixture(scope="module")
def alices_run(app, home):
    data = tiny_models.write_keywords_csv(home / "alice.csv")
    started = client_of(app, ALICE).predict(
        "classification", handle_file(str(data)), {}, "tiny-encoder", "full", 2, 3e-3, 3, 8, 32, 42, "no", 1,
        "alices-model", "", 0, api_name="/start_finetune")
    run = find_run(started["run_id"])
    deadline = time.monotonic() + 300
    while run.status.state in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert run.status.state == "finished", run.log_tail(30)
    return run


def test_the_run_is_filed_under_the_browser_that_started_it(alices_run):
    assert owners.read_owner(alices_run.path) == f"browser:{ALICE}"


def test_another_browser_cannot_see_open_report_evaluate_stop_or_resume_it(app, alices_run):
    bob = client_of(app, BOB)
    for endpoint in ("/finetune_status", "/make_report"):
        with pytest.raises(AppError, match="There is no fine-tuning run"):
            bob.predict(alices_run.id, api_name=endpoint)
    with pytest.raises(AppError, match="There is no fine-tuning run"):
        bob.predict(["tiny-encoder"], alices_run.id, None, "classification", "", "", 100, 8,
                    api_name="/start_evaluation")
    for action in (finetune_tab.stop_run, finetune_tab.continue_run):
        with pytest.raises(gr.Error, match="There is no fine-tuning run"):
            action(alices_run.id, request=browser(BOB))
    assert alices_run.id not in str(finetune_tab.list_past_runs(browser(BOB)))
    assert alices_run.id not in str(evaluate_tab.on_page_load(browser(BOB))[0])
    shown = finetune_tab.show_run(alices_run.id, None, request=browser(BOB))
    assert shown[-2] == ""  # the watched id is cleared: nothing of the run is drawn

    alice = client_of(app, ALICE)
    assert alice.predict(alices_run.id, api_name="/finetune_status")["status"] == "finished"
    assert alices_run.id in str(finetune_tab.list_past_runs(browser(ALICE)))


def test_evaluations_belong_to_their_browser_too(app, alices_run):
    started = client_of(app, ALICE).predict(["tiny-encoder", "alices-model"], alices_run.id, None, "classification",
                                            "", "", 100, 8, api_name="/start_evaluation")
    evaluation = started["evaluation_id"]
    assert owners.read_owner(jobs.find_job("evaluation", evaluation).path) == f"browser:{ALICE}"
    with pytest.raises(AppError, match="There is no evaluation"):
        client_of(app, BOB).predict(evaluation, api_name="/evaluation_status")
    assert evaluation not in str(evaluate_tab.past_jobs("evaluation", f"browser:{BOB}"))
    assert evaluation in str(evaluate_tab.past_jobs("evaluation", f"browser:{ALICE}"))
    jobs.request_stop(jobs.find_job("evaluation", evaluation))  # no need to finish it here


def test_a_shared_workspace_and_command_line_runs_are_seen_by_all(app, alices_run, monkeypatch):
    os.remove(alices_run.path / owners.OWNER_FILE)  # as if made from the command line
    try:
        assert client_of(app, BOB).predict(alices_run.id, api_name="/finetune_status")["status"] == "finished"
    finally:
        owners.write_owner(alices_run.path, f"browser:{ALICE}")
    monkeypatch.setenv("STUDIO_SHARED_WORKSPACE", "1")
    assert client_of(app, BOB).predict(alices_run.id, api_name="/finetune_status")["status"] == "finished"


def test_the_owner_is_the_logged_in_user_then_the_cookie_then_the_session():
    assert common.owner_of(gr.Request(username="alice", cookies={common.OWNER_COOKIE: ALICE})) == "user:alice"
    assert common.owner_of(browser(ALICE)) == f"browser:{ALICE}"
    assert common.owner_of(gr.Request(cookies={common.OWNER_COOKIE: "../x"}, session_hash="s1")) == "session:s1"
    assert common.owner_of(None) is None  # Python calling the handler itself: trusted


def test_studio_auth_is_read_from_the_environment_or_a_file(monkeypatch, tmp_path):
    monkeypatch.setenv("STUDIO_AUTH", "alice:wonderland, bob:builder")
    assert settings.auth_pairs() == [("alice", "wonderland"), ("bob", "builder")]
    secrets = tmp_path / "users.txt"
    secrets.write_text("carol:pass-word\n")
    monkeypatch.setenv("STUDIO_AUTH", str(secrets))
    assert settings.auth_pairs() == [("carol", "pass-word")]
    monkeypatch.setenv("STUDIO_AUTH", "alice")
    with pytest.raises(ValueError, match="no password|cannot be read"):
        settings.auth_pairs()
    monkeypatch.delenv("STUDIO_AUTH")
    assert settings.auth_pairs() is None


def test_with_studio_auth_the_app_and_its_api_need_a_login(home, monkeypatch):
    import app as studio

    from tests.helpers.app import free_port

    monkeypatch.setenv("STUDIO_AUTH", "alice:wonderland")
    demo = studio.build_demo()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
                **studio.launch_options())
    try:
        with pytest.raises(Exception):  # no credentials: not even the API description is served
            Client(demo.local_url, verbose=False).predict("x", api_name="/finetune_status")
        logged_in = Client(demo.local_url, verbose=False, auth=("alice", "wonderland"))
        with pytest.raises(AppError, match="There is no fine-tuning run"):  # in, and answered
            logged_in.predict("20000101-000000-none", api_name="/finetune_status")
    finally:
        demo.close()
