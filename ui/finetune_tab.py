"""The Fine-tune tab: labelled data in, a better classifier out, with base vs fine-tuned side by side.

Training never runs in the web server: Train writes the run's config and starts `accelerate launch`
(pipelines.finetune.runs). The tab then follows the run folder with a timer, so a reload, another
browser or a restarted app shows the same run. Which run a browser watches is that browser's own
state (gr.BrowserState, kept in localStorage), never a module global.
"""

from __future__ import annotations

import gradio as gr

from pipelines.finetune import (
    DEFAULT_LEARNING_RATES,
    FinetuneConfig,
    RunFolder,
    export_zip,
    list_runs,
    request_stop,
    resume_run,
    start_run,
)
from pipelines.runtime import settings
from ui import common, finetune_data, finetune_view

TASK = "finetune"
TITLE = "Fine-tune"
POLL_S = 2.0
DEFAULTS = FinetuneConfig(data_file="")  # the settings' defaults, shown in the form
MODE_CHOICES = [("Full fine-tuning (every weight trains)", "full"),
                ("Feature extraction (backbone frozen, only the new head trains)", "feature-extraction"),
                ("Top-k layers (head and the top k layers train)", "top-k")]
PRECISION_CHOICES = ["auto", "no", "bf16"]
COMPARISON_HEADERS = ["Metric (held-out)", "Base", "Fine-tuned"]
MISTAKE_HEADERS = ["Text", "True label", "Predicted", "Confidence"]
# The watched run's id is not private; a fixed key and secret let it survive an app restart.
WATCHED_KEY = "transfer-studio-finetune-run"


def run_folder(run_id: str) -> RunFolder:
    """The run with this id, or a ValueError the user can act on."""
    run_id = (run_id or "").strip()
    run = RunFolder(settings.runs_dir() / run_id)
    if not run_id or "/" in run_id or run_id.startswith(".") or not run.config_file.is_file():
        raise ValueError(f"There is no fine-tuning run '{run_id}' in {settings.runs_dir()}; pick one under "
                         "Past runs.")
    return run


@common.shows_errors
def start_finetune(upload, text_column: str | None, label_column: str | None, base_model: str, mode: str,
                   top_k_layers: float, learning_rate: float, epochs: float, batch_size: float, max_length: float,
                   seed: float, mixed_precision: str, logging_steps: float, model_name: str,
                   dataset_name: str, eval_steps: float = 0) -> dict:
    """Validate the data and settings and start a training run in its own process."""
    if upload is None:
        raise ValueError("Give a dataset first: upload a file, or pick a built-in example.")
    config = FinetuneConfig(
        data_file=str(common.file_path(upload)), text_column=text_column or None, label_column=label_column or None,
        base_model=(base_model or "").strip() or DEFAULTS.base_model, mode=mode, top_k_layers=int(top_k_layers),
        learning_rate=float(learning_rate) if learning_rate else None, epochs=int(epochs),
        batch_size=int(batch_size), max_length=int(max_length), seed=int(seed), mixed_precision=mixed_precision,
        logging_steps=int(logging_steps), name=(model_name or "").strip() or None,
        dataset_name=(dataset_name or "").strip() or None, eval_steps=int(eval_steps) if eval_steps else None)
    run = start_run(config)
    return {"run_id": run.id, "status": run.status.state}


def watch_started(started: dict) -> tuple[str, str]:
    """The run just started becomes this browser's watched run."""
    return started["run_id"], started["run_id"]


@common.shows_errors
def finetune_status(run_id: str) -> dict:
    """Where a run stands: state, progress, held-out scores so far, and the result once finished."""
    return finetune_view.overview(run_folder(run_id))


def show_run(run_id: str | None, shown: tuple | None):
    """Everything the run view shows; skipped when nothing changed since this browser's last look."""
    if not run_id:
        return (gr.skip(),) * (VIEW_SIZE + 1) + (None,)
    try:
        run = run_folder(run_id)
    except ValueError:
        return (gr.skip(),) * VIEW_SIZE + ("", None)  # a deleted run: nothing left to show
    info, log = finetune_view.overview_and_log(run)
    seen = [run.id, info["status"], info["progress"]["step"], len(info["evaluations"]), info["result"] is not None]
    if seen == shown:
        return (gr.skip(),) * (VIEW_SIZE + 2)
    return (*run_view(run, info, log), run.id, seen)


VIEW_SIZE = 14  # the values run_view returns; show_run adds the run id and what it showed


def run_view(run: RunFolder, info: dict, log: list[dict]) -> tuple:
    result = info["result"]
    zip_path = str(export_zip(run)) if info["status"] == "finished" else None
    active = info["status"] in ("queued", "running")
    scores = finetune_view.metrics_frame(log)
    # None until the first score: a colored LinePlot whose first frame was empty never draws the lines
    # of later frames (Gradio 6.31), so a run watched from its start would show an empty score plot.
    return (finetune_view.status_markdown(info), finetune_view.progress_html(info),
            finetune_view.loss_frame(log), scores if len(scores) else None,
            finetune_view.comparison_rows(info),
            finetune_view.confusion_table((result or {}).get("base")),
            finetune_view.confusion_table((result or {}).get("finetuned")),
            finetune_view.misclassified_rows(result),
            gr.update(value=zip_path, visible=zip_path is not None), finetune_view.finished_note(result),
            gr.update(interactive=active), gr.update(interactive=info["can_resume"]), list_past_runs(), info)


@common.shows_errors
def stop_run(run_id: str) -> None:
    request_stop(run_folder(run_id))
    gr.Info("Stop requested: the run stops after the current step and keeps its checkpoint.")


@common.shows_errors
def continue_run(run_id: str) -> None:
    resume_run(run_folder(run_id))


def list_past_runs() -> list[list]:
    return finetune_view.run_rows(list_runs())


def select_run(rows, evt: gr.SelectData) -> tuple[str, str, None]:
    """A click on a row of Past runs: watch that run (the None makes the view redraw at once)."""
    run_id = rows.iloc[evt.index[0], 0] if hasattr(rows, "iloc") else rows[evt.index[0]][0]
    return run_id, run_id, None


def follow_run_id(run_id: str) -> tuple[str, None]:
    return (run_id or "").strip(), None


def mode_settings(mode: str) -> tuple[dict, dict]:
    """Each mode's own default learning rate; k only matters for top-k."""
    return gr.update(value=DEFAULT_LEARNING_RATES[mode]), gr.update(visible=mode == "top-k")


def build_data_step():
    base = finetune_data.base_picker()
    with gr.Row():
        with gr.Column(scale=2):
            upload = gr.File(label="Labelled data (CSV, TSV, JSON, JSONL or Parquet)",
                             file_types=finetune_data.FILE_TYPES, elem_id="finetune-file")
            example = gr.Dropdown(list(finetune_data.EXAMPLES), value=None, label="Or a built-in example",
                                  elem_id="finetune-example")
            with gr.Accordion("Or a Hub dataset (online only)", open=False):
                hub_name = gr.Textbox(label="Dataset name", placeholder="cornell-movie-review-data/rotten_tomatoes")
                hub_split = gr.Textbox("train", label="Split")
                hub_load = gr.Button("Load from the Hub", size="sm")
        with gr.Column(scale=3):
            summary = gr.Markdown("Upload a file or pick an example to see its first rows.", elem_id="finetune-summary")
            preview = gr.Dataframe(label="First rows", interactive=False, wrap=True, max_height=260,
                                   visible=False, elem_id="finetune-preview")
    with gr.Row():
        text_column = gr.Dropdown([], label="Text column", allow_custom_value=True, elem_id="finetune-text-column")
        label_column = gr.Dropdown([], label="Label column", allow_custom_value=True,
                                   elem_id="finetune-label-column")
        counts = gr.Dataframe(headers=finetune_data.COUNT_HEADERS, label="Label set and class counts",
                              interactive=False, elem_id="finetune-counts")
    return base, upload, example, (hub_name, hub_split, hub_load), summary, preview, text_column, label_column, counts


def build_settings():
    with gr.Accordion("How to transfer", open=True):
        with gr.Row():
            mode = gr.Radio(MODE_CHOICES, value=DEFAULTS.mode, label="Transfer mode", scale=3, elem_id="finetune-mode")
            top_k = gr.Slider(1, 24, value=DEFAULTS.top_k_layers, step=1, label="k (layers to train)",
                              visible=DEFAULTS.mode == "top-k", scale=1)
        with gr.Row():
            lr = gr.Number(DEFAULTS.effective_learning_rate, label="Learning rate", elem_id="finetune-lr",
                           info="Each mode has its own default: a frozen backbone's new head needs a larger step.")
            epochs = gr.Number(DEFAULTS.epochs, label="Epochs", precision=0, minimum=1, elem_id="finetune-epochs")
            batch = gr.Number(DEFAULTS.batch_size, label="Batch size", precision=0, minimum=1, elem_id="finetune-batch")
            max_length = gr.Number(DEFAULTS.max_length, label="Max length (tokens)", precision=0, minimum=8,
                                   elem_id="finetune-max-length")
            seed = gr.Number(DEFAULTS.seed, label="Seed", precision=0, elem_id="finetune-seed")
            precision = gr.Dropdown(PRECISION_CHOICES, value=DEFAULTS.mixed_precision, label="Mixed precision",
                                    info="auto picks bf16 only where the hardware computes it fast (AMX / "
                                         "AVX-512 BF16 CPUs, recent GPUs); elsewhere float32.")
    with gr.Accordion("More settings", open=False):
        with gr.Row():
            logging_steps = gr.Number(DEFAULTS.logging_steps, label="Log the loss every N steps", precision=0,
                                      minimum=1, elem_id="finetune-logging-steps")
            eval_steps = gr.Number(0, label="Also score the held-out rows every N steps", precision=0, minimum=0,
                                   info="0: after each epoch only. More points on the score plot; training "
                                        "pauses while it scores.", elem_id="finetune-eval-steps")
            model_name = gr.Textbox(label="Name of the new model", placeholder="<base>-<dataset>-<run id>")
            dataset_name = gr.Textbox(label="Dataset name (model card)", placeholder="the file name")
    mode.change(mode_settings, mode, [lr, top_k], api_visibility="private")
    return (mode, top_k, lr, epochs, batch, max_length, seed, precision, logging_steps, model_name, dataset_name,
            eval_steps)


def build_run_view():
    with gr.Row():
        run_id = gr.Textbox(label="Run being watched", scale=3, elem_id="finetune-run-id",
                            info="Kept in this browser: a reload comes back to it.")
        stop = gr.Button("Stop", variant="stop", interactive=False, scale=1, elem_id="finetune-stop")
        resume = gr.Button("Resume", interactive=False, scale=1, elem_id="finetune-resume")
    status = gr.Markdown(elem_id="finetune-status")
    bar = gr.HTML(elem_id="finetune-progress")
    with gr.Row():
        loss = gr.LinePlot(x="step", y="loss", title="Training loss", height=260, elem_id="finetune-loss-plot")
        scores = gr.LinePlot(x="epoch", y="value", color="metric", title="Held-out scores (epoch 0: base)",
                             y_lim=[0, 1], height=260, elem_id="finetune-metrics-plot")
    with gr.Row():
        comparison = gr.Dataframe(headers=COMPARISON_HEADERS, label="Base vs fine-tuned, same held-out rows",
                                  interactive=False, elem_id="finetune-comparison")
        confusion_base = gr.Dataframe(label="Confusion matrix: base (before fine-tuning)", interactive=False,
                                      elem_id="finetune-confusion-base")
        confusion_tuned = gr.Dataframe(label="Confusion matrix: fine-tuned", interactive=False,
                                       elem_id="finetune-confusion-tuned")
    mistakes = gr.Dataframe(headers=MISTAKE_HEADERS, label="Held-out examples the fine-tuned model gets wrong",
                            interactive=False, wrap=True, max_height=300, column_widths=["64%", "12%", "12%", "12%"],
                            elem_id="finetune-mistakes")
    with gr.Row():
        download = gr.DownloadButton("Download the model (.zip)", visible=False, elem_id="finetune-download")
        note = gr.Markdown(elem_id="finetune-note")
    with gr.Accordion("Past runs (click a row to watch it)", open=True):
        runs = gr.Dataframe(headers=finetune_view.RUN_HEADERS, interactive=False,
                            max_height=260, elem_id="finetune-runs")
    with gr.Accordion("Status as JSON (what the API returns)", open=False):
        as_json = gr.JSON(label="Status")
        refresh = gr.Button("↻ Status", size="sm")
    return run_id, stop, resume, (status, bar, loss, scores, comparison, confusion_base, confusion_tuned, mistakes,
                                  download, note), runs, as_json, refresh


def build() -> gr.Dropdown:
    base, upload, example, hub, summary, preview, text_column, label_column, counts = build_data_step()
    mode, top_k, lr, epochs, batch, max_length, seed, precision, logging_steps, model_name, dataset_name, \
        eval_steps = build_settings()
    train = gr.Button("Train", variant="primary", elem_id="finetune-train")
    run_id, stop, resume, shown_parts, runs, as_json, refresh = build_run_view()
    watched = gr.BrowserState(None, storage_key=WATCHED_KEY, secret=WATCHED_KEY)
    shown = gr.State(None)  # what this browser's view last showed, so unchanged ticks send nothing
    view = [*shown_parts, stop, resume, runs, as_json, run_id, shown]  # in show_run's return order
    timer = gr.Timer(POLL_S)

    upload.change(finetune_data.show_preview, upload, [preview, summary, text_column, label_column, counts],
                  api_visibility="private")
    upload.upload(lambda: (None, ""), outputs=[example, dataset_name], api_visibility="private")
    gr.on([text_column.input, label_column.input], finetune_data.check_columns, [upload, text_column, label_column],
          counts, api_visibility="private")
    example.input(finetune_data.choose_example, example, [upload, epochs, batch, max_length, lr, dataset_name],
                  api_visibility="private")
    hub[2].click(finetune_data.load_hub_dataset, hub[:2], upload, api_visibility="private")

    settings_inputs = [upload, text_column, label_column, base, mode, top_k, lr, epochs, batch, max_length, seed,
                       precision, logging_steps, model_name, dataset_name, eval_steps]
    train.click(start_finetune, settings_inputs, as_json, api_name="start_finetune").success(
        watch_started, as_json, [watched, run_id], api_visibility="private").then(
        show_run, [watched, shown], view, api_visibility="private")
    refresh.click(finetune_status, run_id, as_json, api_name="finetune_status")
    gr.on(None, list_past_runs, None, runs, api_visibility="private", show_progress="hidden")  # on page load
    timer.tick(show_run, [watched, shown], view, api_visibility="private", show_progress="hidden")
    run_id.submit(follow_run_id, run_id, [watched, shown], api_visibility="private")
    runs.select(select_run, runs, [watched, run_id, shown], api_visibility="private")
    stop.click(stop_run, run_id, api_visibility="private")
    resume.click(continue_run, run_id, api_visibility="private").success(
        lambda: None, outputs=shown, api_visibility="private")
    return base


def refresh_picker() -> dict:
    """On page load: the base picker lists the models on disk now (app.py calls this)."""
    return finetune_data.refresh_bases()
