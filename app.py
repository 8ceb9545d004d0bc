"""Transfer Studio: try pretrained NLP models on your own text, fine-tune one, compare them.

`python app.py` serves the app; Gradio reads GRADIO_SERVER_NAME and GRADIO_SERVER_PORT itself, so
several copies (and the tests) can run side by side. `build_demo()` builds it without serving it.
Building loads no model: each one is loaded on its first use and then kept in a bounded cache.

Start-up is kept short by importing torch and transformers only after the UI is served: the tabs
import their `pipelines` task modules inside their handlers, and `serve()` imports them once the
server answers (a request that comes first simply waits for that import), so the first run of a tab
does not pay for it either.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import sys
import time

import gradio as gr

from pipelines.models import catalog, kinds
from pipelines.runtime import settings
from ui import (common, evaluate_tab, finetune_tab, generation_tab, qa_tab, sentiment_tab, summarization_tab,
                translation_tab)

# The tabs, in order. Each module has TASK, TITLE and build() -> its model picker (or None); a tab whose
# picker is not a task's model list (Fine-tune: base checkpoints) also has refresh_picker().
TABS = (qa_tab, sentiment_tab, summarization_tab, translation_tab, generation_tab, finetune_tab, evaluate_tab)
# A public demo (STUDIO_DEMO=1 or --demo) serves these only: the Fine-tune and Evaluate tabs and their
# endpoints (training, evaluation jobs, dataset uploads) do not exist in it, so no API call can reach them.
DEMO_TABS = (qa_tab, sentiment_tab, summarization_tab, translation_tab, generation_tab)

# Two requests run at once: a long generation does not block a quick classification, and more would
# only split the same CPU cores between them. Further requests wait in the queue.
CONCURRENCY_LIMIT = 2

# After every event, Gradio's queue rebuilds a pandas summary of the last 10,000 events for its
# monitoring dashboard: 1.7 ms of server CPU a request once it has served 100 events, about 10 ms
# at 10,000 (`python -m bench --only micro`), so a long-lived demo gets slower the more it has served.
# The dashboard is off here (enable_monitoring=False: its summary would be open to anyone with a
# public link), so the summary is never needed. The variable, if set, still wins.
MONITORING_SUMMARY_EVERY = 10**9  # events: never, in practice (read when build_demo() makes the queue)

# What `launch()` is given, by `serve()` and by the tests that serve the app in their own process.
LAUNCH_OPTIONS = {"enable_monitoring": False}


def launch_options() -> dict:
    """LAUNCH_OPTIONS, the upload limit, and the MCP server (every public endpoint as a tool for agents,
    described by its handler's docstring; STUDIO_MCP=0 turns it off), read when the app is served."""
    return {**LAUNCH_OPTIONS, "max_file_size": f"{settings.max_upload_mb()}mb",
            "mcp_server": settings.env_flag("STUDIO_MCP", default=True),
            "auth": settings.auth_pairs()}  # STUDIO_AUTH: a login page; set it before sharing a full-mode link

# Gradio breaks highlighted text anywhere, mid-word; answers in a context read better whole.
CSS = "#qa-highlight .textfield { word-break: normal; overflow-wrap: anywhere; }"


def header_text() -> str:
    """What the app is, whether the Hub is reachable, and which models can run right now."""
    online = settings.hub_reachable()
    hub = ("**Hub: online**, so the catalogue's Hub checkpoints download on first use." if online else
           "**Hub: offline**, so the packaged models and the folders under "
           f"`{settings.models_dir()}` are used.")
    tasks_by_model: dict[str, list[str]] = {}
    for task in kinds.TASKS:
        for spec in catalog.entries(task):
            if spec.available:
                tasks_by_model.setdefault(spec.name, []).append(kinds.TASK_TITLES[task])
    models = "; ".join(f"**{name}** ({', '.join(tasks)})" for name, tasks in tasks_by_model.items())
    demo = ("\n\n**This is a demo:** the inference tabs with the models listed in them. Fine-tuning, evaluation "
            "jobs and uploads are off; run the app yourself (README) for those.") if settings.demo_mode() else ""
    return ("# Transfer Studio\n"
            "Try pretrained NLP models on your own text: pick a model in a tab, click an example or "
            "type your own, and run. " + hub + "\n\n"
            "Available now: " + (models or "none; run the README's setup command.") + fine_tuned_defaults() + demo)


def fine_tuned_defaults() -> str:
    """Which tabs' default models were fine-tuned here, and on what (their picker notes)."""
    lines = []
    for task in kinds.TASKS:
        try:
            spec = catalog.default_spec(task)
        except ValueError:
            continue
        if spec.source == "local" and spec.note.startswith("Fine-tuned here"):
            lines.append(f"- {kinds.TASK_TITLES[task]}: **{spec.name}**. {spec.note}")
    return "\n\nDefaults fine-tuned here:\n" + "\n".join(lines) if lines else ""


def refresh_page(refreshers: tuple) -> tuple:
    """On each page load: the header and every picker reflect the models on disk now."""
    return (header_text(), *(refresh() for refresh in refreshers))


def picker_refresher(tab):
    return getattr(tab, "refresh_picker", None) or functools.partial(common.refresh_models, tab.TASK)


def build_demo(tabs=None) -> gr.Blocks:
    """The app with the given tabs (by default all, or the demo's; one alone is handy when working on a tab)."""
    tabs = tabs or (DEMO_TABS if settings.demo_mode() else TABS)
    # delete_cache: uploads and scored CSVs are kept an hour, then removed.
    with gr.Blocks(title="Transfer Studio", delete_cache=(3600, 3600)) as demo:
        header = gr.Markdown(header_text(), elem_id="header")
        pickers = {}
        for tab in tabs:
            with gr.Tab(tab.TITLE, id=tab.TASK, elem_id=f"tab-{tab.TASK}") as shown_tab:
                picker = tab.build()
            if picker is not None:
                pickers[picker] = picker_refresher(tab)
                # opening a tab lists the models on disk now: one fine-tuned a moment ago is there
                shown_tab.select(pickers[picker], outputs=picker, api_visibility="private", show_progress="hidden")
        demo.load(functools.partial(refresh_page, tuple(pickers.values())), outputs=[header, *pickers],
                  api_visibility="private")
        # this browser's own id, which runs and evaluations are filed under (ui/common.owner_of)
        demo.load(None, js=common.SET_OWNER_COOKIE, api_visibility="private")
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(MONITORING_SUMMARY_EVERY))
    demo.queue(default_concurrency_limit=CONCURRENCY_LIMIT, max_size=settings.queue_size())
    return demo


# What the tabs' handlers import on first use; imported in the background once the UI is served.
DEFERRED_MODULES = ("pipelines.tasks.qa", "pipelines.tasks.sentiment", "pipelines.tasks.sentiment_csv", "pipelines.tasks.summarization",
                    "pipelines.tasks.translation", "pipelines.tasks.generation")


def serve() -> None:
    """Serve the app until interrupted: the UI first, then the heavy imports its tabs will need."""
    demo = build_demo()
    demo.launch(css=CSS, prevent_thread_lock=True, **launch_options())
    for module in DEFERRED_MODULES:
        preload(module)
    demo.block_thread()


def preload(module: str, attempts: int = 3) -> None:
    """Import a tab's module ahead of its first use. A request that arrives first imports transformers in
    its own thread at the same moment, and transformers' lazy module can then refuse a name that is half
    set up ("cannot import name ..."); so a failure here is retried, and never stops the server: the
    handler imports the module itself when it needs it."""
    for attempt in range(attempts):
        try:
            importlib.import_module(module)
            return
        except Exception:  # noqa: BLE001 - logged; serving matters more than preloading
            logging.getLogger(__name__).warning("Preloading %s failed (attempt %d of %d)", module, attempt + 1,
                                                attempts, exc_info=attempt == attempts - 1)
            sys.modules.pop(module, None)
            time.sleep(1.0)


if __name__ == "__main__":
    if "--demo" in sys.argv[1:]:
        os.environ["STUDIO_DEMO"] = "1"  # read by the pipelines too, on every request
    serve()
