"""`python -m bench [--quick] [--only NAME ...]`: run the benchmarks, print ratios and targets.

Each module's `run(quick)` returns raw figures and targets, written to bench/results/<name>.json.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback

from bench import common, report  # imports nothing that reads the environment

# Offline and quiet before transformers is imported. Spinning OpenMP waits make 2-thread matmuls 15-50x
# slower when other processes hold the cores; every measured process, ours and the baselines', inherits this.
for _name, _value in dict(common.QUIET, OMP_WAIT_POLICY="PASSIVE").items():
    os.environ.setdefault(_name, _value)

# In running order: the peak first, since the others report fractions of it.
BENCHMARKS = ("peak", "pipelines_vs_ref", "precision", "app_load", "cold_start", "finetune_vs_trainer",
              "qa_finetune_vs_trainer", "lora_finetune_vs_trainer", "evaluation_batching")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer inputs and rounds: checks the suite runs")
    parser.add_argument("--only", action="append", choices=BENCHMARKS, metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    parser.add_argument("--finetune-rows", type=int, metavar="N",
                        help="fine-tuning: train on N rows (held out: N/2, at most 1,000); the preset's size "
                             "is 4000 with --finetune-epochs 2")
    parser.add_argument("--finetune-epochs", type=int, default=1, metavar="E")
    parser.add_argument("--finetune-rounds", type=int, metavar="R", help="fine-tuning: rounds of the three variants")
    parser.add_argument("--float32", action="store_true",
                        help="fine-tuning: every side in float32, as without fast bf16")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    from transformers.utils import logging

    from bench import finetune_vs_trainer

    logging.disable_progress_bar()  # "Loading weights" bars would bury the figures
    finetune_vs_trainer.FLOAT32 = args.float32
    if args.finetune_rows:
        finetune_vs_trainer.SIZES_OVERRIDE = dict(rows=args.finetune_rows, epochs=args.finetune_epochs,
                                                  eval_rows=min(1000, args.finetune_rows // 2))
    if args.finetune_rounds:
        finetune_vs_trainer.ROUNDS[args.quick] = args.finetune_rounds
    has_bf16, why = common.fast_bf16()
    cpu = common.machine()["cpu"]
    print(f"CPU: {cpu['model']}, {cpu['logical_cpus']} logical CPUs, torch threads {cpu['torch_threads']}, "
          f"flags {' '.join(cpu['flags'])}; fast bf16: {has_bf16} ({why}); load {common.load_average()}")
    started_all = time.perf_counter()
    all_targets, failed = [], []
    for name in (n for n in BENCHMARKS if n in (args.only or BENCHMARKS)):
        started = time.perf_counter()
        try:
            payload = importlib.import_module(f"bench.{name}").run(args.quick)
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
            continue
        path = common.write_result(name, payload, args.quick, started, " ".join(["python -m bench", *argv]))
        print(report.SECTIONS[name](json.loads(path.read_text())))  # the tables BENCHMARKS.md quotes
        print("Targets:", *(t.line() for t in payload["targets"]), sep="\n")
        print(f"  ({time.perf_counter() - started:.0f} s; raw figures in {path.relative_to(common.REPO_ROOT)})")
        all_targets += [(name, t) for t in payload["targets"]]
    common.heading(f"Summary ({time.perf_counter() - started_all:.0f} s)")
    for name, target in all_targets:
        print(f"{name:>20}{target.line()}")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
