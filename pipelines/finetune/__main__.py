"""Fine-tune a model from the command line, with the same config file the UI writes.

    python -m pipelines.finetune CONFIG.json [--epochs 3 ...]
    python -m pipelines.finetune --preset NAME [--max-train 4000 --epochs 2 ...]
    python -m pipelines.finetune --list-presets
    python -m pipelines.finetune --all-presets        (every preset, one after another)
    python -m pipelines.finetune --resume RUN_DIR

The run goes to ``$STUDIO_HOME/runs/<run id>/`` and the model, once trained, to ``$STUDIO_HOME/models``
where the pickers of its task find it. Runs wait their turn: one trains at a time per machine. The UI
starts this same command through `accelerate launch` (launch.start_run).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# Options that override a config value; argparse dest -> FinetuneConfig field.
OVERRIDES = {"max_train": "max_train_rows", "epochs": "epochs", "batch_size": "batch_size",
             "max_length": "max_length", "lr": "learning_rate", "mode": "mode", "seed": "seed",
             "mixed_precision": "mixed_precision", "base_model": "base_model", "name": "name"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipelines.finetune", description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("config", nargs="?", type=Path, help="a FinetuneConfig JSON file")
    source.add_argument("--preset", help="a built-in example (see --list-presets)")
    source.add_argument("--list-presets", action="store_true", help="print each preset as NAME<TAB>TASK")
    source.add_argument("--all-presets", action="store_true", help="train every preset, one after another")
    source.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a run from its last checkpoint")
    parser.add_argument("--max-train", type=int, help="at most this many training rows")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--max-length", type=int, help="tokens per row (per window for QA)")
    parser.add_argument("--lr", type=float, help="learning rate")
    parser.add_argument("--mode", choices=("full", "feature-extraction", "top-k"))
    parser.add_argument("--mixed-precision", choices=("auto", "no", "bf16", "fp16"))
    parser.add_argument("--seed", type=int)
    parser.add_argument("--base-model", help="catalogue name, Hub id or models-folder name")
    parser.add_argument("--name", help="folder name of the registered model")
    return parser.parse_args(argv)


def runs_for_args(args: argparse.Namespace) -> list:
    """The runs to train, in order: one, or a preset's chain (adapt, then fine-tune)."""
    from pipelines.finetune import presets, runs

    overrides = {field: getattr(args, dest) for dest, field in OVERRIDES.items() if getattr(args, dest) is not None}
    if args.resume is not None:
        if overrides:
            raise ValueError("A resumed run keeps its own settings; leave out the other options.")
        run = runs.RunFolder(args.resume.resolve())
        if not run.config_file.is_file():
            raise ValueError(f"'{args.resume}' is not a run folder (it has no config.json).")
        if run.live_state() in ("running", "stopping", "finished"):
            raise ValueError(f"Run {run.id} is {run.live_state()}; only a stopped, failed or interrupted run can be "
                             "resumed.")
        run.stop_file.unlink(missing_ok=True)
        return [run]
    if args.preset is not None:
        return runs.create_runs(presets.preset_configs(args.preset, **overrides))
    if overrides:
        from pipelines.finetune.config import FinetuneConfig

        return [runs.create_run(FinetuneConfig.from_json(args.config).with_changes(**overrides))]
    return [runs.run_for_config_file(args.config)]


def is_main_process() -> bool:
    """Under `accelerate launch` with several processes each runs this module; one queues for the run."""
    return int(os.environ.get("RANK", "0")) == 0


def execute(run, resume: bool) -> int:
    """Wait for this run's turn in the queue, train, and leave the outcome in the run's status."""
    from pipelines.finetune import run_queue, runs
    from pipelines.finetune.train import train

    if not is_main_process():  # the main process holds the queue's lock; this one joins it in training
        return _train_reporting(run, resume, train)
    recorded = run.read_status()  # start_run and resume_run queued it already: keep its place in line
    queued_at = recorded.get("queued_at") if recorded.get("state") == "queued" else None
    run.write_status("queued", pid=os.getpid(), queued_at=queued_at or time.time())
    lock = run_queue.wait_for_turn(run, runs.list_run_folders)
    if lock is None:
        run.write_status("stopped", "Stopped while waiting in the queue.")
        return 0
    with lock:  # held while training; the operating system releases it if this process dies
        code = _train_reporting(run, resume, train)
    if code == 0:
        print(_outcome(run), flush=True)
    return code


def _train_reporting(run, resume: bool, train) -> int:
    main = is_main_process()
    try:
        train(run, resume=resume)
    except ValueError as err:  # a problem the user can fix: say it plainly, no traceback
        if main:
            run.write_status("failed", str(err))
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as err:  # torch.OutOfMemoryError is a RuntimeError
        if main:
            out_of_memory = isinstance(err, MemoryError) or "out of memory" in str(err).lower()
            hint = (" Out of memory: try a smaller batch size or max length (or LoRA for a large model), then "
                    "resume or start again." if out_of_memory else " The end of process.log has the details.")
            run.write_status("failed", f"{type(err).__name__}: {str(err)[:300]}.{hint}")
        raise
    except BaseException as err:
        if main:
            run.write_status("failed", f"{type(err).__name__}: {err}. The end of process.log has the details.")
        raise
    return 0


def _outcome(run) -> str:
    status = run.status
    if status.state != "finished":
        return f"{status.state.capitalize()}. Resume with: python -m pipelines.finetune --resume {run.path}"
    result = run.result()
    return (f"Finished: {status.message} {result['training_time_s']:.0f} s, {result['samples_per_s']:.0f} "
            f"samples/s. Model registered as '{result['registered_as']}'. Result: {run.result_file}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list_presets:
        from pipelines.finetune.presets import PRESETS

        print("\n".join(f"{preset.name}\t{preset.task}" for preset in PRESETS.values()))
        return 0
    import datasets

    datasets.disable_progress_bars()  # a progress bar per map() would flood process.log
    if args.all_presets:
        return all_presets()
    try:
        runs = runs_for_args(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for run in runs:
        print(f"Run folder: {run.path}", flush=True)
        code = execute(run, resume=args.resume is not None)
        if code != 0 or run.status.state != "finished":
            return code
    return 0


def all_presets() -> int:
    """Every preset in turn, a progress line before and after each: the offline demo `make presets` builds."""
    from pipelines.finetune import presets, runs

    failed = []
    for i, name in enumerate(presets.PRESETS, 1):
        started = time.monotonic()
        print(f"[{i}/{len(presets.PRESETS)}] {name}: training ...", flush=True)
        for run in runs.create_runs(presets.preset_configs(name)):
            code = execute(run, resume=False)
            if code != 0 or run.status.state != "finished":
                failed.append(name)
                print(f"[{i}/{len(presets.PRESETS)}] {name}: {run.status.state}: {run.status.message}", flush=True)
                break
        else:
            print(f"[{i}/{len(presets.PRESETS)}] {name}: done in {(time.monotonic() - started) / 60:.1f} min", flush=True)
    print("Every preset trained." if not failed else f"Failed: {', '.join(failed)}.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
