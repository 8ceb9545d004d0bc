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

from pathlib import Path

from pipelines.runtime import settings

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
