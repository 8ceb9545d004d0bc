"""The Fine-tune tab: your data in, a better model out, with base vs fine-tuned side by side.

Training never runs in the web server: Train writes the run's config and starts `accelerate launch`
(pipelines.finetune.runs). The tab then follows the run folder with a timer, so a reload, another
browser or a restarted app shows the same run. Which run a browser watches is that browser's own
state (gr.BrowserState, kept in localStorage), never a module global.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import gradio as gr

from pipelines.finetune import adaptation, launch, runs, status, tasks
from pipelines.finetune.config import DEFAULT_LEARNING_RATES, FinetuneConfig
from pipelines.text.inputs import whole_number
from ui import common, finetune_data, finetune_generation, finetune_view

TASK = "finetune"
TITLE = "Fine-tune"
POLL_S = 2.0
DEFAULTS = FinetuneConfig(data_file="")  # the settings' defaults, shown in the form
MODE_CHOICES = [("Full fine-tuning (every weight trains)", "full"),
                ("Feature extraction (backbone frozen, only the new head trains)", "feature-extraction"),
                ("Top-k layers (head and the top k layers train)", "top-k")]
PRECISION_CHOICES = ["auto", "no", "bf16"]
COMPARISON_HEADERS = ["Metric (held-out)", "Base", "Fine-tuned"]
# The watched run's id is not private; a fixed key and secret let it survive an app restart.
WATCHED_KEY = "transfer-studio-finetune-run"


@common.shows_errors
def start_finetune(task: str, data_file, columns: dict | None, base_model: str, mode: str, top_k_layers: float,
                   learning_rate: float, epochs: float, batch_size: float, max_length: float, seed: float,
                   mixed_precision: str, logging_steps: float, model_name: str, dataset_name: str,
                   eval_steps: float = 0, adapt_first: bool = False, more: dict | None = None,
                   request: gr.Request = None) -> dict:
    """Check the data and settings and start a training run in its own process (three runs when
    `adapt_first`: see pipelines/finetune/adaptation.py). `columns` maps the task's roles to the
    file's columns ({"text": "review", "label": "stars"}); a role left out is guessed. `more` holds
    further settings by their config names ({"purpose": "translation", "lora": true, ...})."""
    if data_file is None:
        raise ValueError("Give a dataset first: upload a file, or pick a built-in example.")
    for name, given in (("columns", columns), ("more", more)):
        if not isinstance(given or {}, dict):
            raise ValueError(f"`{name}` must be a JSON object, such as {{\"text\": \"review\"}}; "
                             f"got {type(given).__name__}.")
    values = dict(
        data_file=str(common.file_path(data_file)), task=task or DEFAULTS.task,
        columns={role: column for role, column in (columns or {}).items() if column},
        base_model=(base_model or "").strip() or DEFAULTS.base_model, mode=mode,
        top_k_layers=whole_number(top_k_layers, "k (layers to train)"),
        learning_rate=float(learning_rate) if learning_rate else None, epochs=whole_number(epochs, "Epochs"),
        batch_size=whole_number(batch_size, "Batch size"),
        max_length=whole_number(max_length, "Max length") if max_length else None, seed=whole_number(seed, "Seed"),
        mixed_precision=mixed_precision, logging_steps=whole_number(logging_steps, "Logging steps"),
        name=(model_name or "").strip() or None, dataset_name=(dataset_name or "").strip() or None,
        eval_steps=whole_number(eval_steps, "Eval steps") if eval_steps else None)
    # `more` adds settings; it must not replace the ones above (data_file: a path on the server, not an upload)
    overlapping = sorted(set(more or {}) & set(values))
    if overlapping:
        raise ValueError(f"`more` cannot set {', '.join(overlapping)}: give each as its own argument of "
                         "/start_finetune.")
    config = FinetuneConfig.from_dict({**values, **(more or {})})
    started = launch.start_runs(adaptation.adaptation_configs(config) if adapt_first else [config],
                                common.owner_of(request))
    return {"run_id": started[0].id, "status": started[0].status.state,
            "runs": [{"run_id": run.id, "role": run.config.chain_role, "task": run.config.task} for run in started]}


@common.shows_errors
def finetune_status(run_id: str, request: gr.Request = None) -> dict:
    """Where a run stands: state, progress, held-out scores so far, and the result once finished."""
    return status.overview(runs.find_run(run_id, common.owner_of(request)))


@common.shows_errors
def make_report(run_id: str, request: gr.Request = None) -> dict:
    """A finished run, evaluation ("eval-...") or learning curve ("curve-...") as one self-contained HTML
    file (opens offline): the result with its interval in words, plots, examples, settings and versions.
    Returns the files: report.html, then its Markdown (a run's model card, report.md otherwise)."""
    from pipelines.evaluation.report import write_for

    return gr.update(value=[str(path) for path in write_for(run_id, common.owner_of(request))], visible=True)


def collect_columns(task: str, *columns: str | None) -> dict:
    return finetune_data.chosen_columns(task, *columns)


def watch_started(started: dict) -> tuple[str, str]:
    """The run just started becomes this browser's watched run."""
    return started["run_id"], started["run_id"]


@dataclass(frozen=True)
class SettingsForm:
    """The training settings, in /start_finetune's order after the data and base model."""

    mode: gr.Radio
    top_k: gr.Slider
    lr: gr.Number
    epochs: gr.Number
    batch: gr.Number
    max_length: gr.Number
    seed: gr.Number
    precision: gr.Dropdown
    logging_steps: gr.Number
    model_name: gr.Textbox
    dataset_name: gr.Textbox
    eval_steps: gr.Number


@dataclass(frozen=True)
class RunView:
    """What shows a run; `shown` lists them in `run_view`'s order."""

    status: gr.Markdown
    bar: gr.HTML
    loss: gr.LinePlot
    scores: gr.LinePlot
    comparison: gr.Dataframe
    chain_note: gr.Markdown
    chain: gr.Dataframe
    confusion_base: gr.Dataframe
    confusion_tuned: gr.Dataframe
    examples: gr.Dataframe
    download: gr.DownloadButton
    note: gr.Markdown
    stop: gr.Button
    resume: gr.Button
    past_runs: gr.Dataframe
    as_json: gr.JSON


VIEW_SIZE = len(fields(RunView))


def components(group) -> list:
    """A dataclass of components as a list, in field order (dataclasses.astuple would copy them)."""
    return [getattr(group, f.name) for f in fields(group)]


def show_run(run_id: str | None, shown: tuple | None, request: gr.Request = None):
    """Everything the run view shows, then the run id and what was shown; skipped when nothing changed
    since this browser's last look."""
    if not run_id:
        return (gr.skip(),) * (VIEW_SIZE + 1) + (None,)
    try:
        run = runs.find_run(run_id, common.owner_of(request))
    except ValueError:
        return (gr.skip(),) * VIEW_SIZE + ("", None)  # a deleted run, or another visitor's: nothing to show
    log = run.read_log()
    info = status.overview(run, log)
    seen = [run.id, info["status"], info["progress"]["step"], len(info["evaluations"]), info["result"] is not None,
            [m["state"] for m in info["chain"]]]
    if seen == shown:
        return (gr.skip(),) * (VIEW_SIZE + 2)
    return (*run_view(run, info, log, request), run.id, seen)


def run_view(run: runs.RunFolder, info: dict, log: list, request: gr.Request | None = None) -> tuple:
    result = info["result"]
    zip_path = str(runs.export_zip(run)) if info["status"] == "finished" else None
    active = info["status"] in ("queued", "running")
    scores = finetune_view.metrics_frame(info)
    details = (result or {}).get("details", {})
    has_confusion = "confusion_matrix" in details.get("fine_tuned", {})
    # None until the first score: a colored LinePlot whose first frame was empty never draws the lines
    # of later frames (Gradio 6.31), so a run watched from its start would show an empty score plot.
    return (finetune_view.status_markdown(info), finetune_view.progress_html(info), finetune_view.loss_frame(log),
            gr.update(value=scores if len(scores) else None, y_lim=info["curve_range"],
                      title=f"Held-out {', '.join(info['curve_metrics']) or 'scores'} (epoch 0: base)"),
            finetune_view.comparison_rows(info), finetune_view.chain_markdown(info),
            gr.update(value=finetune_view.chain_rows(info), visible=bool(info["chain"])),
            gr.update(value=finetune_view.confusion_table(details.get("base")), visible=has_confusion),
            gr.update(value=finetune_view.confusion_table(details.get("fine_tuned")), visible=has_confusion),
            finetune_view.example_rows(result), gr.update(value=zip_path, visible=zip_path is not None),
            finetune_view.finished_note(info), gr.update(interactive=active), gr.update(interactive=info["can_resume"]),
            list_past_runs(request), info)


@common.shows_errors
def stop_run(run_id: str, request: gr.Request = None) -> None:
    launch.request_stop(runs.find_run(run_id, common.owner_of(request)))
    gr.Info("Stop requested: the run stops after the current step and keeps its checkpoint.")


@common.shows_errors
def continue_run(run_id: str, request: gr.Request = None) -> None:
    launch.resume_run(runs.find_run(run_id, common.owner_of(request)))


def list_past_runs(request: gr.Request = None) -> list[list]:
    """The runs this visitor may see (all of them in a shared workspace)."""
    return finetune_view.run_rows(runs.list_runs(common.owner_of(request)))


def select_run(rows, evt: gr.SelectData) -> tuple[str, str, None]:
    """A click on a row of Past runs: watch that run (the None makes the view redraw at once)."""
    run_id = rows.iloc[evt.index[0], 0] if hasattr(rows, "iloc") else rows[evt.index[0]][0]
    return run_id, run_id, None


def follow_run_id(run_id: str) -> tuple[str, None]:
    return (run_id or "").strip(), None


def mode_settings(mode: str) -> tuple[dict, dict]:
    """Each mode's own default learning rate; k only matters for top-k."""
    return gr.update(value=DEFAULT_LEARNING_RATES[mode]), gr.update(visible=mode == "top-k")


def task_settings(task: str) -> dict:
    """The task's own window: 128 tokens a text, 384 a QA window (a whole passage)."""
    return gr.update(value=tasks.get(task).default_max_length)


def build_settings() -> SettingsForm:
    with gr.Accordion("How to transfer", open=True):
        with gr.Row():
            mode = gr.Radio(MODE_CHOICES, value=DEFAULTS.mode, label="Transfer mode", scale=3, elem_id="finetune-mode")
            top_k = gr.Slider(1, 24, value=DEFAULTS.top_k_layers, step=1, label="k (layers to train)",
                              visible=DEFAULTS.mode == "top-k", scale=1)
        with gr.Row():
            lr = gr.Number(DEFAULTS.effective_learning_rate, label="Learning rate", elem_id="finetune-lr",
                           info="Each mode has its own default: a frozen backbone's new head needs a larger step.")
            epochs = gr.Number(DEFAULTS.epochs, label="Epochs", precision=None, minimum=1, elem_id="finetune-epochs")
            batch = gr.Number(DEFAULTS.batch_size, label="Batch size", precision=None, minimum=1, elem_id="finetune-batch")
            max_length = gr.Number(tasks.get(DEFAULTS.task).default_max_length, label="Max length (tokens)",
                                   precision=None, minimum=8, elem_id="finetune-max-length",
                                   info="Per text; for QA per window of a long context.")
            seed = gr.Number(DEFAULTS.seed, label="Seed", precision=None, elem_id="finetune-seed")
            precision = gr.Dropdown(PRECISION_CHOICES, value=DEFAULTS.mixed_precision, label="Mixed precision",
                                    info="auto picks bf16 only where the hardware computes it fast (AMX / "
                                         "AVX-512 BF16 CPUs, recent GPUs); elsewhere float32.")
    with gr.Accordion("More settings", open=False):
        with gr.Row():
            logging_steps = gr.Number(DEFAULTS.logging_steps, label="Log the loss every N steps", precision=None,
                                      minimum=1, elem_id="finetune-logging-steps")
            eval_steps = gr.Number(0, label="Also score the held-out rows every N steps", precision=None, minimum=0,
                                   info="0: after each epoch only. More points on the score plot; training "
                                        "pauses while it scores.", elem_id="finetune-eval-steps")
            model_name = gr.Textbox(label="Name of the new model", placeholder="<base>-<dataset>-<run id>",
                                    elem_id="finetune-model-name")
            dataset_name = gr.Textbox(label="Dataset name (model card)", placeholder="the file name")
    mode.change(mode_settings, mode, [lr, top_k], api_visibility="private")
    return SettingsForm(mode, top_k, lr, epochs, batch, max_length, seed, precision, logging_steps, model_name,
                        dataset_name, eval_steps)


def build_run_view() -> tuple[gr.Textbox, gr.Button, RunView]:
    with gr.Row():
        run_id = gr.Textbox(label="Run being watched", scale=3, elem_id="finetune-run-id",
                            info="Kept in this browser: a reload comes back to it.")
        stop = gr.Button("Stop", variant="stop", interactive=False, scale=1, elem_id="finetune-stop")
        resume = gr.Button("Resume", interactive=False, scale=1, elem_id="finetune-resume")
    state = gr.Markdown(elem_id="finetune-status")
    bar = gr.HTML(elem_id="finetune-progress")
    with gr.Row():
        loss = gr.LinePlot(x="step", y="loss", title="Training loss", height=260, elem_id="finetune-loss-plot")
        scores = gr.LinePlot(x="epoch", y="value", color="metric", title="Held-out scores (epoch 0: base)",
                             y_lim=[0, 1], height=260, elem_id="finetune-metrics-plot")
    chain_note = gr.Markdown(elem_id="finetune-chain-note")
    chain = gr.Dataframe(headers=finetune_view.CHAIN_HEADERS, label="Domain adaptation: same held-out rows",
                         interactive=False, visible=False, elem_id="finetune-chain")
    with gr.Row():
        comparison = gr.Dataframe(headers=COMPARISON_HEADERS, label="Base vs fine-tuned, same held-out rows",
                                  interactive=False, elem_id="finetune-comparison")
        confusion_base = gr.Dataframe(label="Confusion matrix: base (before fine-tuning)", interactive=False,
                                      visible=False, elem_id="finetune-confusion-base")
        confusion_tuned = gr.Dataframe(label="Confusion matrix: fine-tuned", interactive=False, visible=False,
                                       elem_id="finetune-confusion-tuned")
    examples = gr.Dataframe(headers=finetune_view.EXAMPLE_HEADERS, interactive=False, wrap=True, max_height=320,
                            label="Held-out examples side by side, the fine-tuned model's worst first",
                            column_widths=["46%", "18%", "18%", "18%"], elem_id="finetune-examples")
    with gr.Row():
        with gr.Column(scale=1, min_width=220):
            download = gr.DownloadButton("Download the model (.zip)", visible=False, elem_id="finetune-download")
            report = gr.Button("Make a report (.html)", size="sm", elem_id="finetune-report")
            report_file = gr.File(label="Report (.html, opens offline) and model card (.md)", visible=False,
                                  interactive=False, file_count="multiple", elem_id="finetune-report-file")
        note = gr.Markdown(elem_id="finetune-note")
    report.click(make_report, run_id, report_file, api_name="make_report")
    with gr.Accordion("Past runs (click a row to watch it)", open=True):
        past_runs = gr.Dataframe(headers=finetune_view.RUN_HEADERS, interactive=False, max_height=260,
                                 elem_id="finetune-runs")
    with gr.Accordion("Status as JSON (what the API returns)", open=False):
        as_json = gr.JSON(label="Status")
        refresh = gr.Button("↻ Status", size="sm")
    view = RunView(state, bar, loss, scores, comparison, chain_note, chain, confusion_base, confusion_tuned, examples,
                   download, note, stop, resume, past_runs, as_json)
    return run_id, refresh, view


def build() -> gr.Dropdown:
    step = finetune_data.build()
    form = build_settings()
    generation = finetune_generation.build()
    train = gr.Button("Train", variant="primary", elem_id="finetune-train")
    columns = gr.JSON(visible=False)  # the role pickers' choice, as /start_finetune takes it
    more = gr.JSON(visible=False)  # the generation and LoRA settings, likewise
    run_id, refresh, view = build_run_view()
    watched = gr.BrowserState(None, storage_key=WATCHED_KEY, secret=WATCHED_KEY)
    shown = gr.State(None)  # what this browser's view last showed, so unchanged ticks send nothing
    outputs = [*components(view), run_id, shown]  # in show_run's return order
    private = dict(api_visibility="private")

    step.task.change(finetune_data.change_task, step.task,
                     [*step.roles, step.counts, step.example, step.adapt, step.base],
                     **private).then(task_settings, step.task, form.max_length, **private).then(
        finetune_generation.show_for_task, step.task, generation.box, **private).then(
        finetune_data.show_preview, [step.task, step.upload], [step.preview, step.summary, *step.roles, step.counts],
        **private)
    step.upload.change(finetune_data.show_preview, [step.task, step.upload],
                       [step.preview, step.summary, *step.roles, step.counts], **private)
    step.upload.upload(lambda: (None, ""), outputs=[step.example, form.dataset_name], **private)
    gr.on([role.input for role in step.roles], finetune_data.check_columns, [step.task, step.upload, *step.roles],
          step.counts, **private)
    step.example.input(finetune_data.choose_example, [step.task, step.example],
                       [step.upload, form.epochs, form.batch, form.max_length, form.lr, form.dataset_name,
                        *generation.settings()], **private)
    step.hub_load.click(finetune_data.load_hub_dataset, [step.hub_name, step.hub_split], step.upload, **private)

    settings = [step.task, step.upload, columns, step.base, *components(form), step.adapt, more]
    train.click(collect_columns, [step.task, *step.roles], columns, **private).success(
        finetune_generation.collect, [step.task, *generation.settings()], more, **private).success(
        start_finetune, settings, view.as_json, api_name="start_finetune").success(
        watch_started, view.as_json, [watched, run_id], **private).then(show_run, [watched, shown], outputs, **private)
    refresh.click(finetune_status, run_id, view.as_json, api_name="finetune_status")
    gr.on(None, list_past_runs, None, view.past_runs, show_progress="hidden", **private)  # on page load
    gr.Timer(POLL_S).tick(show_run, [watched, shown], outputs, show_progress="hidden", **private)
    run_id.submit(follow_run_id, run_id, [watched, shown], **private)
    view.past_runs.select(select_run, view.past_runs, [watched, run_id, shown], **private)
    view.stop.click(stop_run, run_id, **private)
    view.resume.click(continue_run, run_id, **private).success(lambda: None, outputs=shown, **private)
    return step.base


def refresh_picker() -> dict:
    """On page load: the base picker lists the models on disk now (app.py calls this)."""
    return finetune_data.refresh_bases()
