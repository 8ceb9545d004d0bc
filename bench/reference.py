"""The client side of bench/ref_worker.py: transformers 4.57's pipelines in their own process."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

from bench import common


class Reference:
    """The transformers 4.57 worker: load a pipeline once, then time calls on request."""

    def __init__(self):
        if not common.REF_PYTHON.exists():
            raise RuntimeError(f"{common.REF_PYTHON} is missing: `make bench` builds the reference environment.")
        self.process = subprocess.Popen(
            [str(common.REF_PYTHON), str(common.REPO_ROOT / "bench" / "ref_worker.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=common.environment_for_children())
        self.info: dict = {}

    def ask(self, request: dict) -> dict:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline() or '{"error": "the reference worker exited"}')
        if "error" in answer:
            raise RuntimeError(f"transformers 4.57 failed on {request.get('key')}: {answer['error']}")
        return answer

    def load(self, key: str, task: str, folder) -> None:
        self.info = self.ask({"op": "load", "key": key, "task": task, "model": str(folder)})

    def side(self, key: str, kwargs: dict, batched: bool = False) -> Callable[[list], dict]:
        return lambda items: self.ask({"op": "run", "key": key, "inputs": items, "kwargs": kwargs,
                                       "batched": batched})

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)
