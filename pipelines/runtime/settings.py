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


def env_int(name: str, default: int, low: int = 1) -> int:
    """A whole-number environment setting; `default` when unset or not a number, at least `low`."""
    try:
        return max(low, int(os.environ.get(name, "").strip() or default))
    except ValueError:
        return default


def max_upload_mb() -> int:
    """The largest file a visitor may upload, in MB (STUDIO_MAX_UPLOAD_MB, default 50): Gradio refuses
    a larger one before it reaches a handler."""
    return env_int("STUDIO_MAX_UPLOAD_MB", 50)


def max_jobs_per_owner() -> int:
    """Runs, evaluations and learning curves one visitor may have queued or running at once
    (STUDIO_MAX_JOBS, default 2): on a small machine one visitor must not queue hours of work ahead of
    everyone else."""
    return env_int("STUDIO_MAX_JOBS", 2)


def max_dataset_rows() -> int:
    """Rows an uploaded dataset may have (STUDIO_MAX_ROWS, default 200,000)."""
    return env_int("STUDIO_MAX_ROWS", 200_000)


def queue_size() -> int:
    """Requests that may wait in the queue (STUDIO_QUEUE_SIZE, default 64); one more is turned away at once
    with Gradio's "queue is full" message instead of waiting for minutes."""
    return env_int("STUDIO_QUEUE_SIZE", 64)


def shared_workspace() -> bool:
    """STUDIO_SHARED_WORKSPACE=1: every visitor sees and controls every run and evaluation (one person
    running the app alone). Off by default: each belongs to the browser or logged-in user that made it."""
    return env_flag("STUDIO_SHARED_WORKSPACE", default=False)


def auth_pairs() -> list[tuple[str, str]] | None:
    """STUDIO_AUTH as Gradio's login list: 'user:password' pairs separated by commas or spaces, or the path
    of a file with one pair a line (kept out of the repository); None when unset. A ValueError for a pair
    without a password or a file that cannot be read."""
    value = os.environ.get("STUDIO_AUTH", "").strip()
    if not value:
        return None
    if ":" not in value.split()[0].split(",")[0] or os.path.isfile(value):
        try:
            value = Path(value).expanduser().read_text(encoding="utf-8")
        except OSError as err:
            raise ValueError(f"STUDIO_AUTH names the file '{value}', which cannot be read ({err.strerror}).") from err
    pairs = []
    for item in value.replace(",", "\n").split():
        user, _, password = item.partition(":")
        if not user or not password:
            raise ValueError("STUDIO_AUTH holds user:password pairs (or a file of them, one a line); one entry "
                             "has no password.")
        pairs.append((user, password))
    return pairs


def demo_mode() -> bool:
    """STUDIO_DEMO=1 (or `python app.py --demo`), for a public link: the inference tabs only, the listed
    models only (the catalogue, packaged models, models fine-tuned here), no uploads, no training or
    evaluation jobs. Read on every request, so nothing cached can outlive the setting."""
    return env_flag("STUDIO_DEMO", default=False)


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
