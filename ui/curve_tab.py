"""The Evaluate tab's second sub-tab: transfer vs scratch, a learning curve with an optional reference line.

The curve runs in its own process (pipelines/evaluation/curve.py); like an evaluation, a timer follows its
folder, so a reload or another browser shows the same curve. Shared helpers live in evaluate_tab.py.
"""

from __future__ import annotations

import gradio as gr

from pipelines.evaluation import curve, jobs
from pipelines.finetune import presets
from pipelines.finetune.config import DEFAULT_BASE_MODEL, FinetuneConfig
from pipelines.text.inputs import whole_number
from ui import common, evaluate_tab, evaluate_view

CURVE_SOURCES = ["Built-in: Rotten Tomatoes (1,000 training rows, 500 held out)", "A labelled file"]
CURVE_KEY = "transfer-studio-learning-curve"


@common.shows_errors
def start_learning_curve(data_file, task: str, columns: str, base_model: str, sizes: str, seeds: str,
                         epochs: float, learning_rate: float, batch_size: float, reference: str | None = None,
                         request: gr.Request = None) -> dict:
    """Fine-tune `base_model` and the same architecture from random weights on growing subsets (`sizes`,
    e.g. "50, 100, 200, 500, 1000"), each with every seed, all scored on one held-out set, in a background
    process. No file: the built-in Rotten Tomatoes curve. `reference` (optional): a model scored once on the
    same held-out rows and drawn across the curve, such as a language model asked zero-shot. Returns
    {"curve_id", "status"} at once."""
    seed_list = curve.parse_seeds(seeds or "1, 2")
    if data_file:
        config = FinetuneConfig(task=task or "classification", data_file=str(common.file_path(data_file)),
                                columns=evaluate_tab.parse_columns(columns),
                                base_model=(base_model or DEFAULT_BASE_MODEL).strip(), max_eval_rows=500)
        upload, preset = common.file_path(data_file), None
    else:
        (config,) = presets.preset_configs(curve.PRESET, **curve.PRESET_SETTINGS)
        config = config.with_changes(base_model=(base_model or DEFAULT_BASE_MODEL).strip())
        upload, preset = None, curve.PRESET
    config = config.with_changes(epochs=whole_number(config.epochs if epochs is None else epochs, "Epochs"),
                                 batch_size=whole_number(config.batch_size if batch_size is None else batch_size,
                                                         "Batch size"),
                                 learning_rate=float(learning_rate) if learning_rate else config.learning_rate)
    job = curve.start_curve(config, sizes or curve.DEFAULT_SIZES, seed_list, upload=upload, preset=preset,
                            owner=common.owner_of(request), reference=reference)
    return {"curve_id": job.id, "status": job.status()["state"]}


@common.shows_errors
def learning_curve_status(curve_id: str, request: gr.Request = None) -> dict:
    """Where a learning curve stands ({"state", "message", "done", "total"} points), and its result once
    finished: per init and size each seed's score, their mean and spread, the gap in words."""
    job = jobs.find_job("learning-curve", curve_id, common.owner_of(request))
    return {"curve_id": job.id, **evaluate_tab.public_status(job.status()), "result": job.result()}


def show_curve(job_id: str | None, shown, request: gr.Request = None):
    if not job_id:
        return (gr.skip(),) * 6 + (None,)
    try:
        job = jobs.find_job("learning-curve", job_id, common.owner_of(request))
    except ValueError:
        return (gr.skip(),) * 6 + (None,)
    from pipelines.evaluation.report import curve_chart

    status = job.status()
    seen = [job.id, status.get("state"), status.get("message")]
    if seen == shown:
        return (gr.skip(),) * 7
    result = job.result() or _partial_curve(job)
    active = status.get("state") in jobs.ACTIVE
    summary = f"**{result['summary']}**" if result and job.result() else ""
    return (evaluate_view.status_markdown(job.id, status, "Learning curve"), evaluate_view.progress_html(status),
            curve_chart(result), evaluate_view.curve_rows(result), summary, gr.update(interactive=active), job.id, seen)


def _partial_curve(job: jobs.JobFolder) -> dict | None:
    """The points scored so far, drawn while the curve trains."""
    spec = job.config
    config = FinetuneConfig.from_dict(spec["finetune_config"])
    result = curve.summarise(job, spec, config, [])
    return result if any(result["curves"].values()) else None


@common.shows_errors
def stop_curve(job_id: str, request: gr.Request = None) -> None:
    jobs.request_stop(jobs.find_job("learning-curve", job_id, common.owner_of(request)))
    gr.Info("Stop requested: the curve stops after the current step and keeps the points it finished.")


@common.shows_errors
def continue_curve(job_id: str, request: gr.Request = None) -> None:
    jobs.continue_job(jobs.find_job("learning-curve", job_id, common.owner_of(request)))


def past_curves(request: gr.Request = None) -> list[list]:
    return evaluate_tab.past_jobs("learning-curve", common.owner_of(request))


def build_curve() -> None:
    private = dict(api_visibility="private")
    gr.Markdown("Does pretraining help on **your** data, and by how much? The chosen checkpoint and the same "
                "architecture with random weights are fine-tuned on growing subsets, with two seeds each, and "
                "scored on one held-out set. The gap between the curves is what transfer learning buys.")
    with gr.Row():
        with gr.Column(scale=3):
            source = gr.Radio(CURVE_SOURCES, value=CURVE_SOURCES[0], label="Data", elem_id="curve-source")
            with gr.Group(visible=False) as file_box:
                upload = gr.File(label="Labelled file", file_types=[".csv", ".tsv", ".json", ".jsonl", ".parquet"],
                                 elem_id="curve-file")
                task = gr.Dropdown(evaluate_tab.TASK_CHOICES[:2], value="classification", label="Task")
                columns = gr.Textbox("", label="Columns (optional)", placeholder="text=review, label=stars")
            base = gr.Dropdown(evaluate_tab.model_choices(), value=DEFAULT_BASE_MODEL, allow_custom_value=True,
                               label="Pretrained checkpoint", elem_id="curve-base")
            sizes = gr.Textbox(", ".join(map(str, curve.DEFAULT_SIZES)), label="Training rows per point",
                               elem_id="curve-sizes")
            seeds = gr.Textbox("1, 2", label="Seeds", elem_id="curve-seeds")
            with gr.Row():
                epochs = gr.Number(3, label="Epochs (more on small subsets)", precision=None, minimum=1,
                                   elem_id="curve-epochs")
                lr = gr.Number(curve.PRESET_SETTINGS["learning_rate"], label="Learning rate", elem_id="curve-lr")
                batch = gr.Number(32, label="Batch size", precision=None, minimum=1, elem_id="curve-batch")
            reference = gr.Dropdown([("(none)", "")] + evaluate_tab.model_choices(), value="",
                                    allow_custom_value=True, label="Reference line (optional)",
                                    elem_id="curve-reference",
                                    info="A model scored once on the same held-out rows, such as SmolLM2 asked "
                                         "zero-shot: how many labelled rows it takes to pass it.")
            start = gr.Button("Run the learning curve", variant="primary", elem_id="curve-start")
        with gr.Column(scale=4):
            job_id = gr.Textbox(label="Learning curve being watched", elem_id="curve-id",
                                info="Kept in this browser: a reload comes back to it.")
            state = gr.Markdown(elem_id="curve-status")
            bar = gr.HTML()
            with gr.Row():
                stop = gr.Button("Stop", variant="stop", interactive=False, size="sm")
                again = gr.Button("Continue a stopped curve", size="sm")
    plot = gr.HTML(elem_id="curve-plot")
    summary = gr.Markdown(elem_id="curve-summary")
    table = gr.Dataframe(headers=evaluate_view.CURVE_HEADERS, interactive=False, label="Held-out score per size",
                         elem_id="curve-table")
    report, report_file, past, as_json, status_button = evaluate_tab.job_footer(
        "curve", "Past learning curves", ["Curve", "State", "Task", "Checkpoint"])

    watched = gr.BrowserState(None, storage_key=CURVE_KEY, secret=CURVE_KEY)
    shown = gr.State(None)
    outputs = [state, bar, plot, table, summary, stop, job_id, shown]
    source.change(lambda s: gr.update(visible=s == CURVE_SOURCES[1]), source, file_box, **private)
    file_in = gr.File(visible=False)
    source.change(lambda s, u: u if s == CURVE_SOURCES[1] else None, [source, upload], file_in, **private)
    upload.change(lambda s, u: u if s == CURVE_SOURCES[1] else None, [source, upload], file_in, **private)
    form = [file_in, task, columns, base, sizes, seeds, epochs, lr, batch, reference]
    start.click(start_learning_curve, form, as_json, api_name="start_learning_curve").success(
        lambda s: evaluate_tab.watch(s, "curve_id"), as_json, [watched, job_id, shown], **private)
    status_button.click(learning_curve_status, job_id, as_json, api_name="learning_curve_status")
    gr.Timer(evaluate_tab.POLL_S).tick(show_curve, [watched, shown], outputs, show_progress="hidden", **private)
    job_id.submit(lambda j: ((j or "").strip(), None), job_id, [watched, shown], **private)
    stop.click(stop_curve, job_id, **private)
    again.click(continue_curve, job_id, **private).success(lambda: None, outputs=shown, **private)
    report.click(evaluate_tab.make_report, job_id, report_file, **private)
    gr.on(None, past_curves, None, past, show_progress="hidden", **private)
    past.select(evaluate_tab.select_job, past, [watched, job_id, shown], **private)
