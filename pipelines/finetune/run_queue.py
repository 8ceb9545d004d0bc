"""One training run at a time per machine: a first-come queue over a lock file.

The training process holds an exclusive `flock` on ``$STUDIO_HOME/runs/.train.lock`` for as long as it
trains. The operating system drops the lock when the process exits, however it exits, so a crashed
run can never block the queue. Waiting runs poll, and only the one queued first takes the lock, so
runs start in the order they were queued.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import IO

from pipelines.runtime import settings

POLL_S = 1.0


def process_alive(pid: int) -> bool:
    """Whether the process is still running (a zombie, exited but not yet reaped, is not)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)  # our own child (the web server's launcher): reap it
        return done == 0
    except ChildProcessError:
        pass  # not our child
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return False  # no /proc (macOS): os.kill's answer stands


def queued_in_order(runs) -> list:
    """The runs waiting in the queue, first come first; runs whose process died are not waiting."""
    waiting = [run for run in runs if run.live_state() == "queued"]
    return sorted(waiting, key=lambda run: (run.read_status().get("queued_at") or 0.0, run.id))


def runs_ahead(run, runs) -> int:
    """How many runs will train before this queued one: the one training now, and earlier arrivals."""
    training = sum(1 for other in runs if other.id != run.id and other.live_state() in ("running", "stopping"))
    order = [other.id for other in queued_in_order(runs)]
    return training + (order.index(run.id) if run.id in order else 0)


def wait_for_turn(run, list_runs, poll_s: float = POLL_S) -> IO | None:
    """Block until this run may train; the returned open lock file must stay open while it trains.

    Returns None when a stop is requested while waiting. `list_runs` lists every run folder.
    """
    lock = (settings.runs_dir() / ".train.lock").open("a")
    while True:
        if run.stop_requested():
            lock.close()
            return None
        first = next(iter(queued_in_order(list_runs())), None)
        if first is None or first.id == run.id:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return lock
            except BlockingIOError:
                pass  # the run before us still trains
        time.sleep(poll_s)
