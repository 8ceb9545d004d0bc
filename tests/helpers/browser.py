"""Starting the app as a user does (`python app.py` in a subprocess) and driving it in Debian's
headless Chromium through Playwright. Playwright's own browser download cannot work offline."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

from tests.helpers.app import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "tests" / "screenshots"
# Without the background-networking flags Chromium keeps dialling Google's hosts on a closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def wait_for_port(port: int, process: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with code {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"the app did not listen on port {port} within {timeout_s} s")


@contextlib.contextmanager
def running_app(home: Path, **extra_env: str):
    """`python app.py` with STUDIO_HOME=home on a free port; yields its URL, stops it afterwards."""
    port = free_port()
    env = {**os.environ, "STUDIO_HOME": str(home), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), **extra_env}
    with (home / "app.log").open("w") as log:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=REPO_ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, process)
            yield f"http://127.0.0.1:{port}/"
        finally:
            process.terminate()
            process.wait(timeout=30)


def open_tab(page, title: str) -> None:
    page.get_by_role("tab", name=title, exact=True).click()


def screenshot(page, name: str) -> None:
    """The whole page as tests/screenshots/NAME.png, once notes are closed and outputs settled."""
    for close in page.locator("[data-testid=toast-close]").all():  # notes and warnings cover the output
        try:
            if close.is_visible():
                close.click(timeout=5_000)
        except PlaywrightError:  # it closed itself meanwhile (detached, or inert while fading out)
            pass
    page.wait_for_timeout(1_000)  # outputs fade back in from their pending look
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


@contextlib.contextmanager
def browser_page(url: str):
    """A Chromium page at `url`, 1280x1000, with a 30 s default timeout."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("needs Debian's chromium: `make test` installs it (apt-get install chromium)")
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(30_000)
        page.goto(url)
        try:
            yield page
        finally:
            browser.close()
