"""The Evaluate tab: several models scored on the same labelled rows; transfer vs scratch is its second
sub-tab (curve_tab.py), built on the helpers here.

Both jobs run in their own process (pipelines/evaluation/jobs.py): Start writes the job's folder and
returns; a timer follows the folder, so a reload (the watched job is this browser's own state, kept in
localStorage) or another browser shows the same job.
"""

from __future__ import annotations

import gradio as gr

from pipelines.evaluation import jobs, scoring
from pipelines.finetune import presets, runs
from pipelines.models import catalog, kinds
from pipelines.text.inputs import whole_number
from ui import common, evaluate_view

TASK = "evaluate"
TITLE = "Evaluate"
POLL_S = 2.0
SOURCES = ["A past run's held-out rows", "A labelled file", "Built-in: 1,000 Rotten Tomatoes snippets"]
TASK_CHOICES = [("Text classification", "classification"), ("Extractive question answering", "extractive-qa"),
                ("Encoder-decoder (summarization or translation)", "seq2seq"),
                ("Causal LM (summarization, translation or plain text)", "causal-lm"),
                ("Masked LM (perplexity on masked tokens)", "masked-lm")]
PURPOSES = [("(not generative)", ""), ("summarization", "summarization"), ("translation", "translation"),
            ("plain text (perplexity)", "generation")]
WATCHED_KEY = "transfer-studio-evaluation"


# --- the API -----------------------------------------------------------------------------------------

@common.shows_errors
def start_evaluation(models: list[str] | str, from_run: str, data_file, task: str, columns: str, purpose: str,
                     max_rows: float, batch_size: float, request: gr.Request = None) -> dict:
    """Score 1-4 models on the same labelled rows in a background process: a past run's held-out rows
    (`from_run`, a run id), else an uploaded file of `task` (columns guessed, or "role=column, ..."). The
    first model is the one the others are compared with. A language model is asked zero-shot in a
    classification or QA evaluation. Returns {"evaluation_id", "status"} at once."""
    job = scoring.start_evaluation(
        models, from_run=(from_run or "").strip() or None,
        data_file=str(common.file_path(data_file)) if data_file else None, task=task or "classification",
        columns=parse_columns(columns), purpose=purpose or None,
        max_rows=whole_number(scoring.DEFAULT_MAX_ROWS if max_rows is None else max_rows, "Rows at most"),
        batch_size=whole_number(scoring.DEFAULT_BATCH_SIZE if batch_size is None else batch_size, "Batch size"),
        owner=common.owner_of(request))
    return {"evaluation_id": job.id, "status": job.status()["state"]}


@common.shows_errors
def evaluation_status(evaluation_id: str, request: gr.Request = None) -> dict:
    """Where an evaluation stands ({"state", "message", "done", "total"}), and its result once finished:
    per model the metrics with 95% intervals and throughput, paired comparisons with the first model,
    per-row outputs."""
    job = jobs.find_job("evaluation", evaluation_id, common.owner_of(request))
    return {"evaluation_id": job.id, **public_status(job.status()), "result": job.result()}


def public_status(status: dict) -> dict:
    return {k: status.get(k) for k in ("state", "message", "done", "total")}


def parse_columns(text: str | dict | None) -> dict[str, str]:
    """'text=review, label=stars' (or a dict) -> {"text": "review", "label": "stars"}."""
    if isinstance(text, dict):
        return {str(k): str(v) for k, v in text.items() if v}
    columns = {}
    for part in (text or "").replace(";", ",").split(","):
        if not part.strip():
            continue
        role, sep, column = part.partition("=")
        if not sep or not role.strip() or not column.strip():
            raise ValueError(f"Columns are written role=column, separated by commas (e.g. text=review, label=stars); "
                             f"got '{part.strip()}'.")
        columns[role.strip()] = column.strip()
    return columns


# --- the view ----------------------------------------------------------------------------------------

def model_choices() -> list[tuple[str, str]]:
    """Every model any task can run, and the ones fine-tuned here, once each."""
    seen, choices = set(), []
    for task in kinds.TASKS:
        for spec in catalog.entries(task):
            if spec.name not in seen:
                seen.add(spec.name)
                choices.append((common.model_label(spec), spec.name))
    return choices


def finished_runs(owner: str | None = None) -> list[tuple[str, str]]:
    return [(f"{r.id} · {r.task} · {r.dataset} · {r.model_name}", r.id) for r in runs.list_runs(owner)
            if r.state == "finished" and r.task in scoring.SCORED_TASKS]


def refresh_choices(request: gr.Request = None) -> tuple[dict, dict]:
    return gr.update(choices=model_choices()), gr.update(choices=finished_runs(common.owner_of(request)))


def proposed_models(run_id: str | None, owner: str | None = None) -> list[str]:
    """A run's base and its fine-tuned model: the comparison people ask for first."""
    try:
        result = runs.find_run(run_id, owner).result() or {} if run_id else {}
    except ValueError:
        return []
    return [m for m in (result.get("base_model"), result.get("registered_as")) if m]


def run_models(run_id: str | None, request: gr.Request = None) -> dict:
    """Choosing a run proposes its two models."""
    return gr.update(value=proposed_models(run_id, common.owner_of(request))) if run_id else gr.skip()


def on_page_load(request: gr.Request = None) -> tuple[dict, dict, list[list]]:
    """The newest finished run this visitor may see and its two models, ready to evaluate; their past
    evaluations."""
    owner = common.owner_of(request)
    choices = finished_runs(owner)
    first = choices[0][1] if choices else None
    return (gr.update(choices=choices, value=first),
            gr.update(choices=model_choices(), value=proposed_models(first, owner)), past_jobs("evaluation", owner))


def show_source(source: str) -> tuple[dict, dict]:
    return gr.update(visible=source == SOURCES[0]), gr.update(visible=source == SOURCES[1])


@common.shows_errors
def start_from_form(source: str, models, from_run, upload, task, columns, purpose, max_rows, batch_size,
                    request: gr.Request = None) -> dict:
    if source == SOURCES[0]:
        if not from_run:
            raise ValueError("Pick a finished run: its held-out rows are what the models are scored on.")
        return start_evaluation(models, from_run, None, task, "", "", max_rows, batch_size, request)
    if source == SOURCES[2]:
        return start_evaluation(models, "", str(presets.rotten_tomatoes_unseen()), "classification", "", "",
                                max_rows, batch_size, request)
    if upload is None:
        raise ValueError("Upload a labelled file (CSV, TSV, JSON, JSONL or Parquet) first.")
    return start_evaluation(models, "", upload, task, columns, purpose, max_rows, batch_size, request)


def watch(started: dict, key: str) -> tuple[str, str, None]:
    return started[key], started[key], None


def show_evaluation(job_id: str | None, shown, shown_filter: str, request: gr.Request = None):
    """The watched evaluation's view; skipped when nothing changed since this browser's last look."""
    if not job_id:
        return (gr.skip(),) * 9 + (None,)
    try:
        job = jobs.find_job("evaluation", job_id, common.owner_of(request))
    except ValueError:  # gone, or another visitor's
        return (gr.skip(),) * 9 + (None,)
    status = job.status()
    seen = [job.id, status.get("state"), status.get("message"), shown_filter]
    if seen == shown:
        return (gr.skip(),) * 10
    result = job.result()
    active = status.get("state") in jobs.ACTIVE
    return (evaluate_view.status_markdown(job.id, status), evaluate_view.progress_html(status),
            evaluate_view.summary_markdown(result), evaluate_view.model_rows(result),
            evaluate_view.comparison_rows(result), evaluate_view.confusion_markdown(result),
            evaluate_view.example_rows(result, shown_filter),
            gr.update(interactive=active), job.id, seen)


@common.shows_errors
def stop_evaluation(job_id: str, request: gr.Request = None) -> None:
    jobs.request_stop(jobs.find_job("evaluation", job_id, common.owner_of(request)))
    gr.Info("Stop requested.")


@common.shows_errors
def make_report(job_id: str, request: gr.Request = None) -> dict:
    """An evaluation's or a learning curve's report.html and report.md."""
    from pipelines.evaluation.report import write_for

    return gr.update(value=[str(path) for path in write_for(job_id, common.owner_of(request))], visible=True)


def past_jobs(kind: str, owner: str | None = None) -> list[list]:
    """The jobs of this kind this visitor may see, newest first."""
    rows = []
    for job in jobs.list_jobs(kind, owner)[:50]:
        status, config = job.status(), job.config
        what = ", ".join(config.get("models", [])) if kind == "evaluation" else config["finetune_config"]["base_model"]
        rows.append([job.id, status.get("state"), config.get("task"), what])
    return rows


def select_job(rows, evt: gr.SelectData) -> tuple[str, str, None]:
    job_id = rows.iloc[evt.index[0], 0] if hasattr(rows, "iloc") else rows[evt.index[0]][0]
    return job_id, job_id, None


def job_footer(prefix: str, past_title: str, past_headers: list[str]):
    """What both sub-tabs end with: a report button and its files, the past jobs to pick from, and the
    status as the API returns it. Returns (report, report_file, past, as_json, status_button)."""
    with gr.Row():
        report = gr.Button("Make a report (.html)", size="sm", elem_id=f"{prefix}-report")
        report_file = gr.File(label="Report (.html, opens offline) and its Markdown", visible=False,
                              interactive=False, file_count="multiple", elem_id=f"{prefix}-report-file")
    with gr.Accordion(f"{past_title} (click a row to watch it)", open=False):
        past = gr.Dataframe(headers=past_headers, interactive=False, max_height=240)
    with gr.Accordion("Status as JSON (what the API returns)", open=False):
        as_json = gr.JSON(label="Status")
        status_button = gr.Button("↻ Status", size="sm")
    return report, report_file, past, as_json, status_button


def build_evaluation() -> None:
    private = dict(api_visibility="private")
    with gr.Row():
        with gr.Column(scale=3):
            source = gr.Radio(SOURCES, value=SOURCES[0], label="Rows to score", elem_id="evaluate-source")
            with gr.Group(visible=True) as run_box:
                from_run = gr.Dropdown([], value=None, label="Finished run (its held-out rows, the same "
                                       "split it was scored on)", elem_id="evaluate-run")
            with gr.Group(visible=False) as file_box:
                upload = gr.File(label="Labelled file", file_types=[".csv", ".tsv", ".json", ".jsonl", ".parquet"])
                with gr.Row():
                    task = gr.Dropdown(TASK_CHOICES, value="classification", label="Task")
                    purpose = gr.Dropdown(PURPOSES, value="", label="Generative purpose")
                columns = gr.Textbox("", label="Columns (optional)", placeholder="text=review, label=stars")
            models = gr.Dropdown(model_choices(), multiselect=True, allow_custom_value=True, max_choices=4,
                                 label="Models (1 to 4; the others are compared with the first)",
                                 info="Classification and QA: a language model (SmolLM2, say) is asked "
                                      "zero-shot beside the fine-tuned models. Summarization and translation: "
                                      "encoder-decoders and causal LMs side by side, each asked its own way.",
                                 elem_id="evaluate-models")
            with gr.Row():
                max_rows = gr.Number(scoring.DEFAULT_MAX_ROWS, label="Rows at most", precision=None, minimum=1)
                batch = gr.Number(scoring.DEFAULT_BATCH_SIZE, label="Batch size", precision=None, minimum=1)
            with gr.Row():
                start = gr.Button("Evaluate", variant="primary", elem_id="evaluate-start")
                refresh = gr.Button("↻ Runs and models", size="sm")
        with gr.Column(scale=4):
            job_id = gr.Textbox(label="Evaluation being watched", elem_id="evaluate-id",
                                info="Kept in this browser: a reload comes back to it.")
            state = gr.Markdown(elem_id="evaluate-status")
            bar = gr.HTML()
            stop = gr.Button("Stop", variant="stop", interactive=False, size="sm")
    summary = gr.Markdown(elem_id="evaluate-summary")
    model_table = gr.Dataframe(headers=evaluate_view.MODEL_HEADERS, label="Each model on the same rows",
                               interactive=False, wrap=True, elem_id="evaluate-models-table")
    comparison = gr.Dataframe(headers=evaluate_view.COMPARISON_HEADERS, interactive=False, wrap=True,
                              label="Paired comparison with the first model (same rows)", elem_id="evaluate-comparison")
    confusion = gr.Markdown(elem_id="evaluate-confusion")
    shown_filter = gr.Radio(evaluate_view.FILTERS, value=evaluate_view.FILTERS[0], label="Examples to show")
    examples = gr.Dataframe(headers=evaluate_view.example_headers(None), interactive=False, wrap=True, max_height=360,
                            label="Per-row outputs beside the reference", elem_id="evaluate-examples")
    report, report_file, past, as_json, status_button = job_footer(
        "evaluate", "Past evaluations", ["Evaluation", "State", "Task", "Models"])

    watched = gr.BrowserState(None, storage_key=WATCHED_KEY, secret=WATCHED_KEY)
    shown = gr.State(None)
    outputs = [state, bar, summary, model_table, comparison, confusion, examples, stop, job_id, shown]
    source.change(show_source, source, [run_box, file_box], **private)
    from_run.change(run_models, from_run, models, **private)
    refresh.click(refresh_choices, outputs=[models, from_run], **private)
    # the public endpoint takes the API's arguments; the form's own click maps the source radio onto them
    hidden_run, hidden_file = gr.Textbox(visible=False), gr.File(visible=False)
    hidden_start = gr.Button(visible=False)
    hidden_start.click(start_evaluation, [models, hidden_run, hidden_file, task, columns, purpose, max_rows, batch],
                       as_json, api_name="start_evaluation")
    start.click(start_from_form, [source, models, from_run, upload, task, columns, purpose, max_rows, batch], as_json,
                **private).success(lambda s: watch(s, "evaluation_id"), as_json, [watched, job_id, shown], **private)
    status_button.click(evaluation_status, job_id, as_json, api_name="evaluation_status")
    gr.Timer(POLL_S).tick(show_evaluation, [watched, shown, shown_filter], outputs, show_progress="hidden", **private)
    shown_filter.change(show_evaluation, [watched, gr.State(None), shown_filter], outputs, **private)
    job_id.submit(lambda j: ((j or "").strip(), None), job_id, [watched, shown], **private)
    stop.click(stop_evaluation, job_id, **private)
    report.click(make_report, job_id, report_file, **private)
    gr.on(None, on_page_load, None, [from_run, models, past], show_progress="hidden", **private)
    past.select(select_job, past, [watched, job_id, shown], **private)


def build() -> None:
    gr.Markdown("Score models on labelled rows with 95% confidence intervals and paired comparisons, or measure "
                "what pretraining is worth on your data. Both run in the background: leave and come back.")
    with gr.Tab("Compare models on labelled rows"):
        build_evaluation()
    with gr.Tab("Transfer vs scratch (learning curve)"):
        from ui import curve_tab  # built on this module's helpers, so imported once they exist

        curve_tab.build_curve()
    return None
