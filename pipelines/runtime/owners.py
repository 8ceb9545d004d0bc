"""Who a run, an evaluation or a learning curve belongs to, so that a public link does not show one
visitor's runs (their held-out rows are the uploader's data) to the next, or let them stop it.

The owner is a string the app derives from the request (ui/common.owner_of): the logged-in user
("user:NAME") when STUDIO_AUTH is set, else the browser's own random id ("browser:..."), else the API
client's session. It is written once into the folder as `owner`. Rules:

- `owner=None` is trusted code (the command line, the tests in-process): it sees everything;
- a folder without an owner (made from the command line: the presets) is the workspace's, seen by all;
- with STUDIO_SHARED_WORKSPACE=1 every visitor sees every folder (one person running the app alone).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from pipelines.runtime import settings
from pipelines.text.inputs import is_folder_id

OWNER_FILE = "owner"


def write_owner(folder: Path, owner: str | None) -> None:
    if owner:
        (folder / OWNER_FILE).write_text(owner, encoding="utf-8")


def read_owner(folder: Path) -> str | None:
    try:
        return (folder / OWNER_FILE).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def can_see(folder: Path, owner: str | None) -> bool:
    """Whether `owner` may see and control what is in `folder`."""
    return owner is None or settings.shared_workspace() or read_owner(folder) in (None, owner)


def visible_folder(parent: Path, folder_id: str, owner: str | None) -> Path | None:
    """parent/folder_id when the id names a folder the app made there (it has a config.json) that `owner`
    may see; None otherwise, for an id that is a path, a folder that is missing or another visitor's alike."""
    if not is_folder_id(folder_id):
        return None
    folder = parent / folder_id
    return folder if (folder / "config.json").is_file() and can_see(folder, owner) else None


def named_in_message(folder_id: str) -> str:
    """How a "there is no ..." message names the id: quoted when it is one, never echoing a path or control bytes."""
    return f"'{folder_id}'" if is_folder_id(folder_id) else "with that id"


@contextlib.contextmanager
def new_folder(path: Path, owner: str | None, what: str = "a folder") -> Iterator[Path]:
    """Create `path` (and its owner file, before anything else is written) for the block to fill. A folder
    that cannot be written whole (no permission, a full disk) is removed again, so nothing half-written
    looks like a run or a job, and a ValueError says what to fix."""
    try:
        path.mkdir(parents=True)
        write_owner(path, owner)
        yield path
    except OSError as err:
        shutil.rmtree(path, ignore_errors=True)
        raise ValueError(f"Could not write {what} under {path.parent} ({err.strerror or err}): make "
                         "STUDIO_HOME writable or free some disk space, then start again.") from err
