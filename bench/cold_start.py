"""Cold start: from `python app.py` to the UI served, then to the first answer of each tab; memory.

The app starts in a fresh STUDIO_HOME with no model folders, so every tab uses its offline default
(the packaged MiniLM ranks sentences for QA, the packaged SmolLM2 serves the other tabs). The one-off
GGUF conversion of SmolLM2 (about 15 s, once per machine) is not part of a start: the home's
converted-model cache points at the bench's. Each tab is then called once through gradio_client, in
tab order, with a short input; the answer's timing line says whether that call loaded its model,
which is how "no model loaded before first use" is checked. Resident memory (RSS) of the app process
is read when the UI is served and again with every tab's model loaded.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time

from bench import checkpoints, common, inputs
from bench.app_process import AppProcess

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
    """The clean home, sharing the bench's converted SmolLM2, and each tab's default model there."""
    checkpoints.smollm2_dir()  # converted once, in the bench home
    (HOME / "models").mkdir(parents=True, exist_ok=True)
    (HOME / "cache").mkdir(parents=True, exist_ok=True)
    link = HOME / "cache" / "packaged"
    if not link.exists():
        link.symlink_to(checkpoints.HOME / "cache" / "packaged", target_is_directory=True)
    os.environ["STUDIO_HOME"] = str(HOME)
    from pipelines.models import catalog

    return {task: catalog.default_spec(task).name for task in CALLS}


# Run with `python -c` in a fresh process that has imported nothing: what `python app.py` goes through,
# up to the UI served; then the imports `app.serve()` makes after that (torch, transformers and the
# task modules), which a start no longer waits for.
BREAKDOWN = """
import importlib, json, time, urllib.request
steps, started = {}, time.perf_counter()
for module in ("gradio", "app"):
    t = time.perf_counter(); importlib.import_module(module); steps["import " + module] = time.perf_counter() - t
app = importlib.import_module("app")
t = time.perf_counter(); demo = app.build_demo(); steps["build_demo()"] = time.perf_counter() - t
t = time.perf_counter(); demo.launch(prevent_thread_lock=True, quiet=True); steps["launch()"] = time.perf_counter() - t
t = time.perf_counter(); urllib.request.urlopen(demo.local_url, timeout=60).read(); steps["first GET /"] = time.perf_counter() - t
steps["UI served, in Python"] = time.perf_counter() - started
t = time.perf_counter()
for module in app.DEFERRED_MODULES:
    importlib.import_module(module)
steps["then, serving: torch, transformers, task modules"] = time.perf_counter() - t
demo.close()
print(json.dumps(steps))
"""


def measure_imports() -> dict:
    """Where a start's time goes: each heavy import, building the UI, launching, the first page."""
    from bench.app_process import free_port

    env = dict(common.environment_for_children(), STUDIO_HOME=str(HOME), GRADIO_SERVER_NAME="127.0.0.1",
               GRADIO_SERVER_PORT=str(free_port()), GRADIO_ANALYTICS_ENABLED="False")
    done = subprocess.run([common.python(), "-c", BREAKDOWN], env=env, cwd=common.REPO_ROOT,
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"the start-up breakdown failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def one_start(models: dict[str, str]) -> dict:
    from gradio_client import Client

    server = AppProcess(HOME, common.RESULTS_DIR / "logs" / "cold_start.log")
    try:
        served = server.wait_until_served()
        rss_served = server.rss_mib()
        client = Client(server.url, verbose=False, ssl_verify=False)  # plain http: see app_load.py
        tabs = {}
        for task, (endpoint, arguments) in CALLS.items():
            elapsed, outputs = common.timed(lambda: client.predict(model=models[task], api_name=endpoint, **arguments))
            tabs[task] = {"call_s": elapsed, "since_start_s": time.perf_counter() - server.started,
                          "loaded_on_first_use": "including loading the model" in str(outputs[-1])}
        return {"ui_served_s": served, "rss_served_mib": rss_served, "rss_all_loaded_mib": server.rss_mib(),
                "tabs": tabs}
    finally:
        server.stop()


def run(quick: bool) -> dict:
    common.heading("Cold start: python app.py -> UI served -> first answer per tab")
    models = prepare_home()
    starts = [one_start(models) for _ in range(1 if quick else 2)]
    imports = measure_imports()
    served = statistics.median(s["ui_served_s"] for s in starts)
    rows = [["UI served", "", served, "", ""]]
    for task in CALLS:
        rows.append([task, models[task], statistics.median(s["tabs"][task]["since_start_s"] for s in starts),
                     statistics.median(s["tabs"][task]["call_s"] for s in starts),
                     all(s["tabs"][task]["loaded_on_first_use"] for s in starts)])
    common.print_table(["step", "model", "s since start", "call s", "loaded on first use"], rows)
    rss_served = statistics.median(s["rss_served_mib"] for s in starts)
    rss_loaded = statistics.median(s["rss_all_loaded_mib"] for s in starts)
    print(f"  RSS: {rss_served:.0f} MiB when the UI is served, {rss_loaded:.0f} MiB with every tab's model loaded "
          f"({len(set(models.values()))} distinct models); medians of {len(starts)} start(s)")
    # A model serving several tabs is loaded by the first of them; the later ones find it loaded.
    first_users = {models[task]: task for task in reversed(CALLS)}.values()
    print("  where the start goes (a fresh process): " + ", ".join(f"{k} {v:.1f} s" for k, v in imports.items()))
    lazy = all(s["tabs"][task]["loaded_on_first_use"] for s in starts for task in first_users)
    targets = [
        common.Target("app ready (UI served)", f"<= {READY_TARGET_S:.0f} s after start",
                      common.MET if served <= READY_TARGET_S else common.NOT_MET,
                      f"{served:.1f} s (median of {len(starts)})"),
        common.Target("no model loaded before first use", "a model is loaded by the first call that uses it",
                      common.MET if lazy else common.NOT_MET,
                      f"{'every' if lazy else 'not every'} model's first call reported loading it; RSS {rss_served:.0f} MiB "
                      f"at UI served vs {rss_loaded:.0f} MiB with all loaded"),
        common.Target("resident memory with every tab's model loaded", "reported", common.INFO,
                      f"{rss_loaded:.0f} MiB ({', '.join(sorted(set(models.values())))})"),
    ]
    return {"models": models, "starts": starts, "import_breakdown_s": imports, "ui_served_median_s": served, "rss_served_mib": rss_served,
            "rss_all_loaded_mib": rss_loaded, "targets": targets}

