"""`python -m bench.report [DIR ...]`: results as Markdown tables, for BENCHMARKS.md.

With no argument, the latest bench/results/*.json. With folders (copies of bench/results from
several runs of the suite), the first folder's tables plus the key figures of every run side by side
with their median. Every number printed is read from a results file: the document quotes what runs
measured.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from bench import common, heap_cost, time_to_accuracy


def load(name: str, folder: Path = common.RESULTS_DIR) -> dict | None:
    path = folder / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value).replace("|", "\\|")  # a bar inside a cell would end it


def source(result: dict) -> str:
    return (f"Command: `{result['command']}` (this part alone: `{result['rerun_alone']}`); finished "
            f"{result['finished_at']} after {result['seconds']:.0f} s; load average at the end "
            f"{result['load_average_at_end']} on {result['cpu']['logical_cpus']} CPUs.")


def pipelines(result: dict) -> str:
    rows = []
    for case in result["cases"]:
        for name, side in case["sides"].items():
            lat = side["latency_s"]
            low, high = side["ratio_quartiles"]
            ratio = "baseline" if name == "4.57" else f"{side['ratio_vs_4.57']:.2f}x ({low:.2f}-{high:.2f})"
            rows.append([case["case"], name, side["items_per_s"], lat["p50"] * 1000, lat["p95"] * 1000, ratio,
                         f"{side['agreement']:.0%}" if "agreement" in side else ""])
    return table(["case", "side", "items/s (median)", "p50 ms", "p95 ms",
                  "speed vs 4.57: median of pairs (quartiles)", "agreement"], rows)


def app_load(result: dict) -> str:
    rows = [[r["clients"], r["sides"]["app"]["rps"], r["sides"]["direct"]["rps"], f"{r['ratio_app_vs_direct']:.0%}",
             r["sides"]["app"]["latency_s"]["p50"] * 1000, r["sides"]["app"]["latency_s"]["p95"] * 1000,
             r["sides"]["direct"]["latency_s"]["p50"] * 1000, r["overhead_p50_ms"],
             *(r.get(key, "") for key in ("direct_cpu_ms", "web_cpu_ms", "client_cpu_ms")),
             f"{r['batching_gain']:.2f}x" if r["batching_gain"] else "", f"{r['same_labels']:.0%}"]
            for r in result["results"]]
    return table(["clients", "app req/s", "direct req/s", "app / direct", "app p50 ms", "app p95 ms",
                  "direct p50 ms", "overhead p50 ms", "model CPU ms/req", "web layer CPU ms/req",
                  "client CPU ms/req", "batched / one at a time", "same labels"], rows)


def cold_start(result: dict) -> str:
    rows = [["UI served", "", result["ui_served_median_s"], ""]]
    for task, model in result["models"].items():
        since = sorted(s["tabs"][task]["since_start_s"] for s in result["starts"])
        call = sorted(s["tabs"][task]["call_s"] for s in result["starts"])
        rows.append([f"first answer: {task}", model, since[len(since) // 2], call[len(call) // 2]])
    breakdown = ", ".join(f"{k} {v:.1f} s" for k, v in result["import_breakdown_s"].items())
    return (table(["step", "model", "s since `python app.py`", "the call itself, s"], rows)
            + f"\n\nRSS {result['rss_served_mib']:.0f} MiB when the UI is served, {result['rss_all_loaded_mib']:.0f} MiB "
            f"with every tab's model loaded.\nWhere a start goes (one fresh process): {breakdown}.")


def finetune(result: dict) -> str:
    rows = [[v, s["precision"], s["samples_per_s"], s["train_s"], s.get("to_final_s", "-"), s.get("to_common_s", "-"),
             s["wall_s"], s["accuracy"], s["peak_rss_mib"],
             f"{s['fraction_of_peak']:.0%}", f"{s['samples_per_s_ratio_vs']['Trainer defaults']:.2f}x",
             f"{s['samples_per_s_ratio_vs']['Trainer tuned']:.2f}x"] for v, s in result["variants"].items()]
    ours = result["variants"]["ours"]
    sizes = result["sizes"]
    head = (f"{sizes['rows']} training rows, {sizes['eval_rows']} held out, {sizes['epochs']} epoch(s), "
            f"{result['rounds']} round(s) of the three variants; medians over rounds.\n\n")
    positions = result.get("token_positions")
    tail = "" if not positions else "\n\nToken positions computed per epoch (padding included): " + ", ".join(
        f"{v} {p['computed']:,} ({p['padding_share']:.0%} padding)" for v, p in positions.items()) + "."
    if ours["runs"][-1].get("first_position_only"):
        tail += (f"\n\nOurs computes its top layer for the first position only, the one the head reads: "
                 f"{result['skipped_tflops'] / result['training_tflops']:.1%} of the counted work is not done. "
                 f"\"Of float32 peak\" counts the model's work, the same for every variant; on the arithmetic "
                 f"it did, ours reached {ours['fraction_of_peak_done']:.0%}.")
    if "common_target" in ours:
        tail += (f"\n\nTime to accuracy, in training seconds: \"to final\" until the run first came within "
                 f"{time_to_accuracy.WITHIN_FINAL} of its own final accuracy, \"to common\" until it reached "
                 f"{ours['common_target']:.3f}, the lowest final accuracy of the three in its round (median over "
                 f"rounds). The held-out rows are scored {time_to_accuracy.EVALS_PER_RUN} times a run (and at the "
                 f"end; ours also at each epoch's end), so a time is that of the first scoring at or past the "
                 f"accuracy.")
    return head + table(["variant", "precision", "samples/s", "train s", "to final accuracy s", "to common accuracy s",
                         "whole run s", "held-out accuracy", "peak RSS MiB", "of float32 peak", "vs Trainer defaults",
                         "vs Trainer tuned"], rows) + tail


def precision(result: dict) -> str:
    rows = [[task, p["items"], f"{p['agreement']:.0%}", f"{p['bf16_speed_vs_float32']:.2f}x"]
            for task, p in result["tasks"].items()]
    return table(["task", "items", "bf16 agrees with float32", "bf16 speed vs float32"], rows)


def peak(result: dict) -> str:
    rows = [[device, dtype, found["gflops"], found["size"]]
            for device in ("cpu", "cuda") for dtype, found in result["peak"].get(device, {}).items()]
    return table(["device", "dtype", "peak GFLOP/s (median)", "at n"], rows)


def targets(result: dict) -> str:
    return table(["target", "goal", "status", "measured"],
                 [[t["name"], t["goal"], t["status"], t["measured"]] for t in result.get("targets", [])])


def micro(result: dict) -> str:
    rows = [[name, f"{ms:.2f} ms"] for name, ms in result["resolve_ms"].items()]
    for name, values in result["optimizer"].items():
        shown = (", ".join(f"{k} {v:.0f}" for k, v in values.items()) if isinstance(values, dict) else f"{values:.2f}x")
        rows.append([name, shown])
    for served, sides in result.get("analytics_ms", {}).items():
        rows.append([f"Gradio's queue after each event, {int(served):,} events served, ms",
                     ", ".join(f"{side} {ms:.3f}" for side, ms in sides.items())])
    for prefix, key in (("top layer", "first_position"), ("dropout", "dropout")):
        rows += [[f"{prefix}: {name}", common.shown(values)] for name, values in result.get(key, {}).items()]
    if "freed_memory" in result:
        rows.append(["freed memory kept (pairs of processes)", heap_cost.described(result["freed_memory"])])
    return table(["measurement", "median"], rows)


def compiled(result: dict) -> str:
    steps = result["step_s"]
    rows = [["eager", statistics.median(steps["eager"]), "1.00x", ""],
            ["torch.compile (dynamic)", statistics.median(steps["compiled"]), f"{result['speed_vs_eager']:.2f}x",
             ", ".join(f"{s:.1f}" for s in result["first_steps_s"])]]
    return (f"Batches of {result['batch']}, lengths {result['lengths']}.\n\n"
            + table(["copy", "median step s", "speed vs eager (median of pairs)", "first steps s"], rows))


SECTIONS = {"peak": peak, "pipelines_vs_ref": pipelines, "precision": precision, "micro": micro,
            "app_load": app_load, "cold_start": cold_start, "finetune_vs_trainer": finetune, "compiled": compiled}


def key_figures(folder: Path) -> dict[str, float]:
    """The figures the targets are judged on, from one run's results."""
    found: dict[str, float] = {}
    if (result := load("peak", folder)) is not None:
        found["float32 peak, GFLOP/s"] = result["peak"]["cpu"]["float32"]["gflops"]
    if (result := load("pipelines_vs_ref", folder)) is not None:
        for case in result["cases"]:
            name, side = next((n, s) for n, s in case["sides"].items() if n.startswith("ours"))
            found[f"{case['case']}: ours / 4.57 speed"] = side["ratio_vs_4.57"]
    if (result := load("app_load", folder)) is not None:
        by_clients = {r["clients"]: r for r in result["results"]}
        found["app / direct req/s, 16 clients"] = by_clients[16]["ratio_app_vs_direct"]
        found["web overhead p50 ms, 1 client"] = by_clients[1]["overhead_p50_ms"]
        found["web layer CPU ms/req, 16 clients"] = by_clients[16]["web_cpu_ms"]
        found["client CPU ms/req, 16 clients"] = by_clients[16]["client_cpu_ms"]
        if "ceiling_app_vs_direct" in result:
            found["app / direct if the web layer were free (the clients' CPU alone), 16 clients"] = \
                result["ceiling_app_vs_direct"]
        found["batched / one-at-a-time req/s, 16 clients (direct)"] = by_clients[16]["batching_gain"]
    if (result := load("cold_start", folder)) is not None:
        found["UI served, s after start"] = result["ui_served_median_s"]
    if (result := load("finetune_vs_trainer", folder)) is not None:
        ours = result["variants"]["ours"]["samples_per_s_ratio_vs"]
        found["fine-tuning: ours / Trainer defaults samples/s"] = ours["Trainer defaults"]
        found["fine-tuning: ours / Trainer tuned samples/s"] = ours["Trainer tuned"]
    if (result := load("micro", folder)) is not None:
        found["training step, foreach / fused AdamW"] = result["optimizer"]["training step foreach / fused (median of pairs)"]
        if "first_position" in result:
            first = result["first_position"]
            found["training step, top layer every position / first only"] = \
                first["training step every / first only (median of pairs)"]
            found["classification batch, top layer every position / first only"] = \
                first["classification batch every / first only (median of pairs)"]
        if "dropout" in result:
            found["training step, stock dropout / masks four a draw"] = \
                result["dropout"]["training step stock / four a draw (median of pairs)"]
        for name, figures in result.get("freed_memory", {}).items():
            found[f"{name}, glibc defaults / freed memory kept"] = figures["ratio"]
        if "analytics_ms" in result:
            sides = result["analytics_ms"]["10000"]
            found["Gradio's queue after each event at 10,000 served, ms: default"] = sides["Gradio's default"]
            found["Gradio's queue after each event at 10,000 served, ms: the app"] = sides["the app"]
    return found


def across_runs(folders: list[Path]) -> str:
    runs = [key_figures(folder) for folder in folders]
    names = list(dict.fromkeys(name for run in runs for name in run))  # a figure new in later runs too
    rows = []
    for name in names:
        values = [run[name] for run in runs if name in run]
        rows.append([name, statistics.median(values),
                     " / ".join(_cell(run[name]) if name in run else "-" for run in runs)])
    return table(["figure", "median of runs", "each run (" + ", ".join(f.name for f in folders) + ")"], rows)


def main(folders: list[Path]) -> None:
    detail = folders[0] if folders else common.RESULTS_DIR
    if len(folders) > 1:
        print(f"### Key figures across {len(folders)} runs\n\n{across_runs(folders)}\n")
    for name, render in SECTIONS.items():
        result = load(name, detail)
        if result is None:
            continue
        print(f"### {name}\n\n{source(result)}\n\n{render(result)}\n\n{targets(result)}\n")


if __name__ == "__main__":
    main([Path(arg) for arg in sys.argv[1:]])
