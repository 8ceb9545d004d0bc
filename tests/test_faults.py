"""The app killed mid-run: training runs in a session of its own, so it keeps going, and an app started
again on the same STUDIO_HOME finds the run by its folder and follows it to the end (SIGKILL: the app
gets no chance to hand anything over)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from gradio_client import Client, handle_file

from pipelines.finetune import run_queue
from pipelines.finetune.runs import RunFolder
from tests.helpers import tiny_models
from tests.helpers.app import free_port
from tests.helpers.browser import wait_for_port
from tests.helpers.finetune import losses, wait_until

pytestmark = pytest.mark.training
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BROWSER = {"Cookie": "studio_owner=5f0c9a1e-0000-4000-8000-0000000000aa"}  # its runs are filed under its id


def start_app(home) -> tuple[subprocess.Popen, str]:
    """`python app.py` on a free port, as a user starts it."""
    port = free_port()
    env = {**os.environ, "STUDIO_HOME": str(home), "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    log = (home / f"app-{port}.log").open("w")
    process = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    wait_for_port(port, process)
    return process, f"http://127.0.0.1:{port}/"


def test_the_app_killed_mid_run_leaves_training_going_and_a_new_app_reattaches(tmp_path_factory):
    with tiny_models.finetune_home(tmp_path_factory.mktemp("faults_home")) as home:
        data = tiny_models.write_keywords_csv(home / "keywords.csv")
        first, url = start_app(home)
        try:
            started = Client(url, verbose=False, headers=BROWSER).predict(
                "classification", handle_file(str(data)), {}, "tiny-encoder", "full", 2, 3e-3, 40, 8, 32, 42, "no", 1,
                "tiny-survivor", "", 0, api_name="/start_finetune")
            run = RunFolder(home / "runs" / started["run_id"])
            wait_until(lambda: losses(run), what="the first training step")
        finally:
            first.kill()  # SIGKILL: no shutdown handlers run
            first.wait(timeout=30)
        trainer = run.read_status()["pid"]
        assert run_queue.process_alive(trainer) and run.status.state == "running"
        step_when_killed = max(losses(run))

        second, url = start_app(home)
        try:
            client = Client(url, verbose=False, headers=BROWSER)  # the same browser, after the restart
            seen = client.predict(run.id, api_name="/finetune_status")
            assert seen["status"] in ("running", "finished") and seen["progress"]["step"] >= step_when_killed
            deadline = time.monotonic() + 300
            while seen["status"] == "running":
                assert time.monotonic() < deadline, "the run did not finish within 300 s"
                time.sleep(0.5)
                seen = client.predict(run.id, api_name="/finetune_status")
            assert seen["status"] == "finished", seen["message"]
            assert seen["result"]["registered_as"] == "tiny-survivor"
        finally:
            second.kill()
            second.wait(timeout=30)
