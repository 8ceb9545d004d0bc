"""Cold start: from `python app.py` to the UI served, then to the first answer of each tab; memory.

A fresh STUDIO_HOME with no model folders (every tab uses its offline default), sharing the bench's
converted SmolLM2: the one-off GGUF conversion is not part of a start. Each tab is called once, in order.
"""

from __future__ import annotations

import os
import statistics
import time

from bench import checkpoints, common, inputs
from bench.app_load import AppProcess

HOME = common.RESULTS_DIR / "cold_home"
READY_TARGET_S = 5.0
CALLS = {  # tab -> (endpoint, arguments by name; the rest keep the UI's defaults)
    "qa": ("/answer_question", dict(question=inputs.SHORT_QA[0][0], context=inputs.SHORT_QA[0][1])),
    "sentiment": ("/classify_sentiment", dict(text="A warm, funny and moving film.")),
    "summarization": ("/summarize", dict(text=inputs.SHORT_QA[1][1], max_new_tokens=32)),
    "translation": ("/translate", dict(text="The weather is nice today.", source_lang="en", target_lang="fr")),
    "generation": ("/generate", dict(prompt="Name three colours.", max_new_tokens=32, temperature=0.0)),
}


def prepare_home() -> dict[str, str]:
    """The clean home and each tab's default model there."""
    from pipelines.models import catalog

    checkpoints.smollm2_dir()  # converted once, in the bench home
    for folder in ("models", "cache"):
        (HOME / folder).mkdir(parents=True, exist_ok=True)
    if not (link := HOME / "cache" / "packaged").exists():
        link.symlink_to(checkpoints.HOME / "cache" / "packaged", target_is_directory=True)
    os.environ["STUDIO_HOME"] = str(HOME)
    return {task: catalog.default_spec(task).name for task in CALLS}


def one_start(models: dict[str, str]) -> dict:
    from gradio_client import Client

    server = AppProcess(HOME, common.RESULTS_DIR / "logs" / "cold_start.log")
    try:
        found = {"ui_served_s": server.wait_until_served(), "rss_served_mib": server.rss_mib(), "tabs": {}}
        client = Client(server.url, verbose=False, ssl_verify=False)  # plain http: see app_load.py
        for task, (endpoint, arguments) in CALLS.items():
            elapsed, outputs = common.timed(lambda: client.predict(model=models[task], api_name=endpoint, **arguments))
            found["tabs"][task] = {"call_s": elapsed, "since_start_s": time.perf_counter() - server.started,
                                   "loaded_on_first_use": "including loading the model" in str(outputs[-1])}
        return {**found, "rss_all_loaded_mib": server.rss_mib()}
    finally:
        server.stop()


def run(quick: bool) -> dict:
    common.heading("Cold start: python app.py -> UI served -> first answer per tab")
    models = prepare_home()
    starts = [one_start(models) for _ in range(1 if quick else 2)]
    served, rss_served, rss_loaded = (statistics.median(s[key] for s in starts)
                                      for key in ("ui_served_s", "rss_served_mib", "rss_all_loaded_mib"))
    # A model serving several tabs is loaded by the first of them; the later ones find it loaded.
    first_users = {models[task]: task for task in reversed(CALLS)}.values()
    lazy = all(s["tabs"][task]["loaded_on_first_use"] for s in starts for task in first_users)
    targets = [
        common.Target("app ready (UI served)", f"<= {READY_TARGET_S:.0f} s after start",
                      common.MET if served <= READY_TARGET_S else common.NOT_MET,
                      f"{served:.1f} s (median of {len(starts)})"),
        common.Target("no model loaded before first use", "a model is loaded by the first call that uses it",
                      common.MET if lazy else common.NOT_MET,
                      f"{'every' if lazy else 'not every'} model's first call reported loading it; RSS "
                      f"{rss_served:.0f} MiB at UI served vs {rss_loaded:.0f} MiB with all loaded"),
        common.Target("resident memory with every tab's model loaded", "reported", common.INFO,
                      f"{rss_loaded:.0f} MiB ({', '.join(sorted(set(models.values())))})"),
    ]
    return {"models": models, "starts": starts, "ui_served_median_s": served,
            "rss_served_mib": rss_served, "rss_all_loaded_mib": rss_loaded, "targets": targets}
