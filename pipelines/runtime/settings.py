"""Where Transfer Studio keeps its files, and whether the Hugging Face Hub can be reached.

One setting decides the place: the environment variable ``STUDIO_HOME`` (default: ``.studio`` in the
checkout, which git ignores). Under it:

- ``models/``  one folder per model; a folder placed here shows up in the pickers of the tasks it can do
- ``runs/``    fine-tuning runs, one folder each
- ``cache/``   things we derive once and keep, such as the packaged SmolLM2 converted to safetensors
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def studio_home() -> Path:
    # Read on every call, not at import, so tests and scripts can point it elsewhere.
    return Path(os.environ.get("STUDIO_HOME") or REPO_ROOT / ".studio").expanduser().resolve()


def models_dir() -> Path:
    return _ensure(studio_home() / "models")


def runs_dir() -> Path:
    return _ensure(studio_home() / "runs")


def cache_dir() -> Path:
    return _ensure(studio_home() / "cache")


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def hf_cache_dir() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE).expanduser().resolve()


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_probe_lock = threading.Lock()
_probe: tuple[float, bool] | None = None
_PROBE_TTL_S = 60.0


def env_flag(name: str, default: bool) -> bool:
    """A yes/no environment setting: 1/true/yes/on or 0/false/no/off; `default` when unset or other."""
    value = os.environ.get(name, "").strip().lower()
    return True if value in _TRUE else False if value in _FALSE else default


def hub_reachable() -> bool:
    """False when HF_HUB_OFFLINE is set or huggingface.co does not answer within a second.

    The probe result is kept for a minute: the catalogue asks on every picker refresh, and a machine
    without network must not pay a timeout each time.
    """
    global _probe
    if env_flag("HF_HUB_OFFLINE", default=False):
        return False
    with _probe_lock:
        now = time.monotonic()
        if _probe is None or now - _probe[0] > _PROBE_TTL_S:
            _probe = (now, _can_connect("huggingface.co", 443, timeout_s=1.0))
        return _probe[1]


def _can_connect(host: str, port: int, timeout_s: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False
