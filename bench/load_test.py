"""A bounded load test of a public link, on this machine only: N simulated users mixing every inference tab
for a few minutes while a fine-tuning run trains, then the same run trained alone.

    .venv/bin/python -m bench.load_test                      # 16 users, 3 minutes (the README's figures)
    .venv/bin/python -m bench.load_test --users 4 --minutes 1

The app is `python app.py` on a free loopback port with a STUDIO_HOME of its own (the packaged models),
so nothing leaves the machine and nothing of yours is touched; it stops by itself. Each user calls a tab
through gradio_client, waits a moment, and calls another; one call in twenty sends a text over the input
limit on purpose, which must come back as the limit's message. Printed: requests served per tab, errors
(anything else that failed), p50/p95 latency per tab, and whether the run trained under load ended with
the same held-out scores as the same run alone (same seed and data: it should, to the last digit).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import common
from bench.app_load import AppProcess

EXAMPLE_QA = ("Where was Cervantes born?", "Miguel de Cervantes was born in 1547 in Alcala de Henares, a university "
              "town near Madrid. He wrote Don Quixote, published in 1605 and 1615.")
TEXT = "A quietly moving film, though the last act drags and the jokes fall flat."
LONG = "x" * 100_001  # one character over the default limit


def calls(models: dict[str, str]) -> dict[str, tuple[str, tuple]]:
    """What a user may do: tab -> (endpoint, inputs), short generations so one call takes seconds."""
    lm = models["lm"]
    return {
        "qa": ("/answer_question", (*EXAMPLE_QA, models["encoder"], 3, False)),
        "sentiment": ("/classify_sentiment", (TEXT, models["classifier"])),
        "summarization": ("/summarize", (TEXT * 3, lm, 24, 0, 1, False, 1.0, 1.0)),
        "translation": ("/translate", ("The film was long but beautiful.", lm, None, None)),  # its default pair
        "generation": ("/generate", ("Write one sentence about the sea.", lm, 16, 0.0, 0.9, 50, 1.1, "", "")),
    }


def user(url: str, plan: dict, until: float, seed: int, records: list, lock: threading.Lock) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    rng = random.Random(seed)
    client = Client(url, verbose=False)
    while time.monotonic() < until:
        tab = rng.choice(list(plan))
        endpoint, inputs = plan[tab]
        over_limit = rng.random() < 0.05
        if over_limit:  # on purpose: the answer must be the limit's message
            tab, (endpoint, inputs) = "sentiment, over the limit", ("/classify_sentiment", (LONG, plan["sentiment"][1][1]))
        started = time.perf_counter()
        try:
            client.predict(*inputs, api_name=endpoint)
            outcome = "error: an over-limit text was accepted" if over_limit else "ok"
        except AppError as err:
            outcome = "limit" if over_limit and "the limit is" in str(err) else f"error: {str(err)[:120]}"
        except Exception as err:  # noqa: BLE001 - every failure is counted and shown
            outcome = f"error: {type(err).__name__}: {str(err)[:120]}"
        with lock:
            records.append((tab, time.perf_counter() - started, outcome))
        time.sleep(rng.uniform(0.5, 2.0))


def train_preset(home: Path) -> dict:
    """A small rotten-tomatoes run (1,000 rows, 2 epochs) in its own process: its held-out metrics and every
    logged training loss (a run that trained differently under load would show it in both)."""
    import json
    import subprocess

    env = common.environment_for_children(STUDIO_HOME=str(home))
    done = subprocess.run([common.PYTHON, "-m", "pipelines.finetune", "--preset", "rotten-tomatoes", "--max-train",
                           "1000", "--epochs", "2", "--name", f"load-{int(time.time())}"],
                          cwd=common.REPO_ROOT, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-1500:] + done.stderr[-1500:])
    folder = [line.split(": ", 1)[1] for line in done.stdout.splitlines() if line.startswith("Run folder: ")][-1]
    losses = [json.loads(line)["loss"] for line in (Path(folder) / "log.jsonl").read_text().splitlines()
              if '"type": "step"' in line]
    return {"held_out": json.loads((Path(folder) / "result.json").read_text())["fine_tuned"], "losses": losses}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load_test", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--minutes", type=float, default=3.0)
    args = parser.parse_args(argv)
    models = {"encoder": "all-MiniLM-L6-v2 (packaged)", "lm": "SmolLM2-135M-Instruct (packaged)",
              "classifier": "SmolLM2-135M-Instruct (packaged)"}
    with tempfile.TemporaryDirectory(prefix="load-test-") as tmp:
        home = Path(tmp)
        app = AppProcess(home, home / "app.log")
        try:
            app.wait_until_served()
            plan = calls(models)
            from gradio_client import Client

            warm = Client(app.url, verbose=False)
            for endpoint, inputs in plan.values():  # first loads (SmolLM2's conversion) are not the load
                warm.predict(*inputs, api_name=endpoint)
            records, lock = [], threading.Lock()
            result: dict = {}
            trainer = threading.Thread(target=lambda: result.update(loaded=train_preset(home)))
            until = time.monotonic() + args.minutes * 60
            trainer.start()
            users = [threading.Thread(target=user, args=(app.url, plan, until, seed, records, lock))
                     for seed in range(args.users)]
            for thread in users:
                thread.start()
            for thread in users:
                thread.join()
            trainer.join()
            served = app.process.poll() is None
        finally:
            app.process.terminate()
            app.process.wait(timeout=60)
        alone = train_preset(home)
    report(records, args, served, result.get("loaded"), alone)
    errors = [r for r in records if r[2].startswith("error")]
    return 0 if served and not errors and result.get("loaded") == alone else 1


def report(records: list, args, served: bool, loaded: dict | None, alone: dict) -> None:
    print(f"Load test: {args.users} users for {args.minutes:g} min, a fine-tuning run training alongside; "
          f"load average {common.load_average()}")
    print("| tab | requests | errors | limit messages | p50 s | p95 s |\n|---|---|---|---|---|---|")
    for tab in sorted({r[0] for r in records}):
        rows = [r for r in records if r[0] == tab]
        times = sorted(r[1] for r in rows if r[2] in ("ok", "limit"))
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))] if times else float("nan")
        print(f"| {tab} | {len(rows)} | {sum(r[2].startswith('error') for r in rows)} | "
              f"{sum(r[2] == 'limit' for r in rows)} | {statistics.median(times) if times else float('nan'):.2f} | "
              f"{p95:.2f} |")
    for record in [r for r in records if r[2].startswith("error")][:10]:
        print("  error:", record)
    print(f"Requests served: {sum(r[2] in ('ok', 'limit') for r in records)} of {len(records)}; "
          f"the app {'kept serving' if served else 'had stopped'}.")
    print(f"Held-out scores of the run trained under load: {(loaded or {}).get('held_out')}; alone: "
          f"{alone['held_out']}; {len(alone['losses'])} logged losses; "
          f"{'the same, every loss too' if loaded == alone else 'DIFFERENT'}.")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
