"""Registering a fine-tuned model where the catalogue finds it: a folder under ``$STUDIO_HOME/models``.

`catalog.local_specs()` lists every model folder there by name, with the note from its studio.json,
so a registered model shows up in the pickers of the tasks it can do as soon as the folder appears.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from pipelines.finetune.config import FinetuneConfig
from pipelines.runtime import settings


def model_name(config: FinetuneConfig, run_id: str, base_name: str) -> str:
    """The folder name to register under: the config's name, else "<base>-<dataset>-<run id>"; a name
    already taken gets the run id appended rather than replacing another model."""
    if config.name:
        name = config.name
    else:
        base = re.sub(r"\s*\(.*\)$", "", base_name).rstrip("/").split("/")[-1]  # drop "(packaged)"
        base = _RUN_ID.sub("", base)  # a model trained here: its run id is in our name already
        name = f"{_slug(base)}-{_slug(config.effective_dataset_name)}-{run_id}"
    if (settings.models_dir() / name).exists():
        name = f"{name}-{run_id}"
    return name


_RUN_ID = re.compile(r"-\d{8}-\d{6}-[0-9a-f]{4}$")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "model"


def register_model(model_dir: Path, name: str, note: str, tasks: tuple[str, ...] | None = None) -> Path:
    """Copy a save_pretrained folder into the models folder with its picker note (and, when it is for
    some tasks only, their names); returns the new folder.

    The copy is assembled beside the run and moved in whole, so a picker refreshing meanwhile never
    lists a half-copied model.
    """
    target = settings.models_dir() / name
    if target.exists():
        raise ValueError(f"A model named '{name}' already exists in {settings.models_dir()}; choose another name.")
    partial = model_dir.with_name(model_dir.name + ".registering")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(model_dir, partial)
    info = {"note": note, **({"tasks": list(tasks)} if tasks else {})}
    (partial / "studio.json").write_text(json.dumps(info, indent=2) + "\n")
    try:
        os.replace(partial, target)
    except OSError:  # runs and models on different file systems
        shutil.move(str(partial), str(target))
    return target
