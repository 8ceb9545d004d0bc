"""What every tab shares: the model picker, user-facing errors, the loading note, timing, examples,
and the side-by-side comparison of models.

Handlers stay plain functions of their inputs; the only state they touch is the model cache in
`pipelines.models.loading`, which is shared on purpose and bounded.
"""

from __future__ import annotations

import functools
import inspect
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr

from pipelines.models import catalog, loading
from pipelines.runtime import settings

if TYPE_CHECKING:
    from pipelines.tasks import compare

EXAMPLES_DIR = settings.REPO_ROOT / "examples"
COMPARE_HEADERS = ["Model", "Output", "Seconds"]


# --- the model picker ---------------------------------------------------------------------------

def model_label(spec: catalog.ModelSpec) -> str:
    """'✓ name · where' for a model that can run now, '✗ name · what it needs' for one that cannot."""
    ok, _ = catalog.availability(spec)
    return f"{'✓' if ok else '✗'} {spec.name} · {_where(spec, ok)}"


def _where(spec: catalog.ModelSpec, ok: bool) -> str:
    if spec.source == "packaged":
        return "packaged" if ok else "needs its package"
    if spec.source == "local":
        return "local folder"
    if settings.hub_reachable():
        return "Hub"
    return "cached from the Hub" if ok else "needs the Hub"


def model_choices(task: str) -> list[tuple[str, str]]:
    return [(model_label(spec), spec.name) for spec in catalog.entries(task)]


def default_model(task: str) -> str | None:
    """The first model of the task that can run now; None leaves the choice to the user."""
    try:
        return catalog.default_spec(task).name
    except ValueError:
        return None


def refresh_models(task: str) -> dict:
    """New choices for a picker (a model fine-tuned or copied in since the page loaded shows up)."""
    return gr.update(choices=model_choices(task))


def model_picker(task: str, elem_id: str | None = None) -> gr.Dropdown:
    """A dropdown of the task's catalogue entries that also takes a typed Hub id or folder name."""
    demo = settings.demo_mode()
    with gr.Row():
        picker = gr.Dropdown(
            model_choices(task), value=default_model(task), label="Model", allow_custom_value=not demo,
            info="✓ runs now, ✗ needs the Hub or a package." + ("" if demo else (
                f" Or type a Hub id (org/name) or the name of a folder under {settings.models_dir()}.")),
            scale=8, elem_id=elem_id)
        refresh = gr.Button("↻ Refresh list", size="sm", scale=0, min_width=120)
    refresh.click(functools.partial(refresh_models, task), outputs=picker, api_visibility="private")
    return picker


# --- running a handler --------------------------------------------------------------------------

def shows_errors(handler):
    """Turn a ValueError from the pipelines (a sentence a user can act on) into a gr.Error message.

    The message appears in the page (and as AppError in gradio_client), the inputs stay as they were,
    and the app keeps serving. Any other failure is a bug: it is logged with its traceback, and the
    user still gets a line saying what failed rather than Gradio's bare "Error".
    Works for plain and for streaming (generator) handlers.
    """
    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def streaming(*args, **kwargs):
            try:
                yield from handler(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as err:
                raise user_error(err) from err
        return streaming

    @functools.wraps(handler)
    def plain(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as err:
            raise user_error(err) from err
    return plain


def user_error(err: Exception) -> gr.Error:
    if isinstance(err, ValueError):
        return gr.Error(str(err), print_exception=False)
    return gr.Error(f"The model failed on this input ({type(err).__name__}: {err}). Try a shorter "
                    "text, other settings or another model.", print_exception=True)


def announce_loading(task: str, reference: str | catalog.ModelSpec | None) -> tuple[catalog.ModelSpec, bool]:
    """The chosen model, resolved once for the whole request, and whether this call loads it (then
    the user is told so first). Resolving here also reports an unknown or unavailable model before
    any other work starts."""
    spec = catalog.resolve(task, reference)
    if loading.is_loaded(spec):
        return spec, False
    note_loading(spec)
    return spec, True


def note_loading(spec: catalog.ModelSpec) -> None:
    gr.Info(f"Loading {spec.name}: first use takes a few seconds.")


def timing(started: float, model: str, loaded: bool = False, precision: str | None = None) -> str:
    """The line shown under each output: how long the call took, which model answered and in which
    precision its weights computed (bf16 where the hardware is fast at it; STUDIO_PRECISION=float32 for
    exact float32)."""
    elapsed = time.perf_counter() - started
    note = " (including loading the model)" if loaded else ""
    weights = f" · precision: {precision}" if precision else ""
    return f"Took {elapsed:.2f} s{note} · model: `{model}`{weights}"


# --- comparing models side by side -------------------------------------------------------------

@dataclass(frozen=True)
class CompareControls:
    models: gr.Dropdown
    run: gr.Button
    table: gr.Dataframe


def compare_controls(task: str, uses: str) -> CompareControls:
    """A closed accordion with a 2-3 model picker, a Compare button and the table of their outputs;
    the tab wires the button to its own inputs, which `uses` names for the user."""
    with gr.Accordion("Compare models side by side", open=False) as accordion:
        models = gr.Dropdown(
            model_choices(task), value=default_pair(task), multiselect=True, allow_custom_value=not settings.demo_mode(),
            max_choices=3, label="Models to compare (2 or 3)", elem_id=f"{task}-compare-models",
            info=f"Each runs on {uses}, one after another; a model's first load is not timed.")
        run = gr.Button("Compare", elem_id=f"{task}-compare-run")
        table = gr.Dataframe(headers=COMPARE_HEADERS, datatype=["str", "str", "number"], label="Side by side",
                             interactive=False, wrap=True, column_widths=["25%", "63%", "12%"],
                             elem_id=f"{task}-compare-table")
    # opening it lists the models on disk now, as opening the tab does for the main picker
    accordion.expand(functools.partial(refresh_models, task), outputs=models, api_visibility="private",
                     show_progress="hidden")
    return CompareControls(models, run, table)


def default_pair(task: str) -> list[str]:
    """The task's first two models that can run now, if there are two; else nothing is preselected."""
    available = [spec.name for spec in catalog.entries(task) if spec.available]
    return available[:2] if len(available) >= 2 else []


def comparison_rows(comparison: compare.Comparison) -> list[list]:
    """One row per model: its output in a few words (or ⚠️ and why it has none) and its seconds."""
    return [[run.model, run.text if run.error is None else f"⚠️ {run.error}",
             None if run.seconds is None else round(run.seconds, 3)] for run in comparison.results]


# --- examples -----------------------------------------------------------------------------------

def read_examples(task: str) -> list[dict]:
    """The examples in examples/<task>.json (a list of objects); none if the file is missing."""
    path = EXAMPLES_DIR / f"{task}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []


def example_labels(examples: list[dict], text_key: str, limit: int = 70) -> list[str]:
    """What the examples table shows: an example's title, else the start of its text."""
    return [_shortened(ex.get("title") or ex.get("label") or ex[text_key], limit) for ex in examples]


def _shortened(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def examples_table(rows: list[list], inputs: list, labels: list[str] | None = None,
                   elem_id: str | None = None) -> gr.Examples | None:
    """Clickable examples that fill the inputs (UI only: not part of the public API)."""
    if not rows:
        return None
    return gr.Examples(rows, inputs=inputs, example_labels=labels, api_visibility="private",
                       examples_per_page=8, elem_id=elem_id)


OWNER_COOKIE = "studio_owner"
# Run on every page load: a random id of this browser's own, kept a year, so a reload, a new tab or a
# restarted app still knows whose runs are whose (no login needed; with STUDIO_AUTH the user name wins).
SET_OWNER_COOKIE = f"""() => {{
  if (!document.cookie.split('; ').some(c => c.startsWith('{OWNER_COOKIE}='))) {{
    document.cookie = '{OWNER_COOKIE}=' + crypto.randomUUID() + '; path=/; max-age=31536000; SameSite=Lax';
  }}
}}"""


def owner_of(request: gr.Request | None) -> str | None:
    """Whose request this is (pipelines/runtime/owners.py): the logged-in user, else this browser's id
    (its cookie), else the API client's session. None: called from Python, not through a request."""
    if request is None:
        return None
    if getattr(request, "username", None):
        return f"user:{request.username}"
    cookie = dict(getattr(request, "cookies", None) or {}).get(OWNER_COOKIE, "")
    if cookie and len(cookie) <= 64 and cookie.replace("-", "").isalnum():
        return f"browser:{cookie}"
    return f"session:{request.session_hash}"


def refuse_uploads_in_demo(what: str) -> None:
    """A public demo takes no files: a ValueError (shown as the tab's error) names what is off."""
    if settings.demo_mode():
        raise ValueError(f"{what} is off in this demo; run the app yourself (see its README) to use it.")


def file_path(upload) -> Path:
    """The local path of an uploaded file, whichever form Gradio handed it in."""
    return Path(upload if isinstance(upload, str) else upload.name)
