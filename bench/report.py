"""`python -m bench.report [DIR]`: the results in bench/results (or DIR) as Markdown tables, for BENCHMARKS.md.
Every number printed is read from a results file."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from bench import common


def load(name: str, folder: Path = common.RESULTS_DIR) -> dict | None:
    path = folder / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows])


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value).replace("|", "\\|")  # a bar inside a cell would end it


def source(result: dict) -> str:
    return (f"Command: `{result['command']}` (this part alone: `{result['rerun_alone']}`); finished "
            f"{result['finished_at']} after {result['seconds']:.0f} s; load average at the end "
            f"{result['load_average_at_end']} on {result['cpu']['logical_cpus']} CPUs.")


def pipelines(result: dict) -> str:
    rows = [[case["case"], name, side["items_per_s"], side["latency_s"]["p50"] * 1000, side["latency_s"]["p95"] * 1000,
             "baseline" if name == "4.57" else "{:.2f}x ({:.2f}-{:.2f})".format(side["ratio_vs_4.57"],
                                                                                *side["ratio_quartiles"]),
             f"{side['agreed']}/{side['compared']}" if "agreed" in side else ""]
            for case in result["cases"] for name, side in case["sides"].items()]
    return table(["case", "side", "items/s (median)", "p50 ms", "p95 ms",
                  "speed vs 4.57: median of pairs (quartiles)", "agreement"], rows)


def app_load(result: dict) -> str:
    rows = [[r["clients"], r["sides"]["app"]["rps"], r["sides"]["direct"]["rps"], f"{r['ratio_app_vs_direct']:.0%}",
             r["sides"]["app"]["latency_s"]["p50"] * 1000, r["sides"]["app"]["latency_s"]["p95"] * 1000,
             r["sides"]["direct"]["latency_s"]["p50"] * 1000, r["overhead_p50_ms"], r["direct_cpu_ms"],
             r["web_cpu_ms"], r["client_cpu_ms"], f"{r['batching_gain']:.2f}x", f"{r['same_labels']:.0%}"]
            for r in result["results"]]
    return table(["clients", "app req/s", "direct req/s", "app / direct", "app p50 ms", "app p95 ms",
                  "direct p50 ms", "overhead p50 ms", "model CPU ms/req", "web layer CPU ms/req",
                  "client CPU ms/req", "batched / one at a time", "same labels"], rows)


def cold_start(result: dict) -> str:
    rows = [["UI served", "", result["ui_served_median_s"], ""]]
    for task, model in result["models"].items():
        rows.append([f"first answer: {task}", model,
                     statistics.median(s["tabs"][task]["since_start_s"] for s in result["starts"]),
                     statistics.median(s["tabs"][task]["call_s"] for s in result["starts"])])
    return (table(["step", "model", "s since `python app.py`", "the call itself, s"], rows)
            + f"\n\nRSS {result['rss_served_mib']:.0f} MiB when the UI is served, {result['rss_all_loaded_mib']:.0f} "
            "MiB with every tab's model loaded.")


def finetune(result: dict) -> str:
    sizes, variants = result["sizes"], result["variants"]
    rows = [[v, s["precision"], s["samples_per_s"], s["train_s"], s["wall_s"], s["score"], s["peak_rss_mib"],
             f"{s['fraction_of_peak']:.0%}", f"{s['samples_per_s_ratio_vs']['Trainer defaults']:.2f}x",
             f"{s['samples_per_s_ratio_vs']['Trainer tuned']:.2f}x"] for v, s in variants.items()]
    positions = ", ".join(f"{v} {p['computed']:,} ({p['padding_share']:.0%} padding)"
                          for v, p in result.get("token_positions", {}).items())
    metric = {"shakespeare-qa": "held-out F1", "bible-en-fr": "held-out chrF"}.get(result.get("preset"),
                                                                                 "held-out accuracy")
    return (f"{result.get('preset', 'rotten-tomatoes')}: {sizes['rows']} training rows, {sizes['eval_rows']} held "
            f"out at most, {sizes['epochs']} epoch(s), {result['rounds']} round(s) of the three variants; medians "
            "over rounds.\n\n"
            + table(["variant", "precision", "samples/s", "train s", "whole run s", metric,
                     "peak RSS MiB", "of peak (its precision)", "vs Trainer defaults", "vs Trainer tuned"], rows)
            + f"\n\nToken positions computed per epoch (padding included): {positions}."
            + (f"\n\nHeld-out generation (base model, {g['examples']} verses): {g['batched']:.2f} examples/s in batches "
               f"of 8, {g['single']:.2f} one at a time: {g['ratio']:.2f}x." if (g := result.get("generation")) else ""))


def precision(result: dict) -> str:
    return table(["task", "items", "bf16 agrees with float32", "bf16 speed vs float32"],
                 [[task, p["items"], f"{p['agreed']} ({p['agreement']:.1%})" if "agreed" in p else f"{p['agreement']:.0%}",
                   f"{p['bf16_speed_vs_float32']:.2f}x"]
                  for task, p in result["tasks"].items()])


def evaluation_batching(result: dict) -> str:
    rates = result["rows_per_s"]
    return table(["rows", "batch", "rows/s", "one call per row: rows/s", "speed-up", "labels agree"],
                 [[result["rows"], result["batch_size"], f"{rates['batch ' + str(result['batch_size'])]:.0f}",
                   f"{rates['batch 1']:.0f}", f"{result['ratio']:.1f}x", f"{result['label_agreement']:.1%}"]])


def peak(result: dict) -> str:
    return table(["device", "dtype", "peak GFLOP/s (median)", "at n"],
                 [[device, dtype, found["gflops"], found["size"]]
                  for device in ("cpu", "cuda") for dtype, found in result["peak"].get(device, {}).items()])


def targets(result: dict) -> str:
    return table(["target", "goal", "status", "measured"],
                 [[t["name"], t["goal"], t["status"], t["measured"]] for t in result.get("targets", [])])


SECTIONS = {"peak": peak, "pipelines_vs_ref": pipelines, "precision": precision, "app_load": app_load,
            "cold_start": cold_start, "finetune_vs_trainer": finetune, "qa_finetune_vs_trainer": finetune, "lora_finetune_vs_trainer": finetune,
            "evaluation_batching": evaluation_batching}


def main(folder: Path) -> None:
    for name, render in SECTIONS.items():
        if (result := load(name, folder)) is not None:
            print(f"### {name}\n\n{source(result)}\n\n{render(result)}\n\n{targets(result)}\n")


if __name__ == "__main__":
    if len(sys.argv) > 2:
        sys.exit("usage: python -m bench.report [DIR]")
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else common.RESULTS_DIR)
