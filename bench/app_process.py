"""Start `python app.py` as a user does, on a free local port, and wait for its page to be served."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench import common

READY_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppProcess:
    """The app in its own process; `started` is the moment just before the process was created."""

    def __init__(self, studio_home: Path, log: Path, extra_env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = dict(common.environment_for_children(), STUDIO_HOME=str(studio_home), GRADIO_SERVER_NAME="127.0.0.1",
                   GRADIO_SERVER_PORT=str(self.port), GRADIO_ANALYTICS_ENABLED="False", **(extra_env or {}))
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log.open("wb")
        self.started = time.perf_counter()
        self.process = subprocess.Popen([common.python(), "app.py"], cwd=common.REPO_ROOT, env=env,
                                        stdout=self.log, stderr=subprocess.STDOUT)

    def wait_until_served(self) -> float:
        """Seconds from the start until GET / answers 200 (the UI is served)."""
        deadline = self.started + READY_TIMEOUT_S
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"app.py exited with code {self.process.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - self.started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"app.py did not serve {self.url} within {READY_TIMEOUT_S} s; see {self.log.name}")

    def rss_mib(self) -> float:
        import psutil

        return psutil.Process(self.process.pid).memory_info().rss / 2**20

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
