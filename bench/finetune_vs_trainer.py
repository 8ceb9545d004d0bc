"""Our Accelerate fine-tuning loop vs the transformers Trainer: MiniLM (packaged) on Rotten Tomatoes.

Three variants, each in its own process (its own peak memory), alternating round by round, on the same
rows, model, seed and hyperparameters: "ours" is `pipelines.finetune.train.train` as the Fine-tune tab
runs it; "Trainer defaults" and "Trainer tuned" are bench/trainer_baseline.py. Whole-run time: ours
includes evaluations, checkpoints, saving and registering; the Trainer's, training and scoring.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial

from bench import common, trainer_baseline

VARIANTS = ("ours", "Trainer defaults", "Trainer tuned")
# Enough steps for a stable samples/s, too few for a trained model: the suite stays under 15 minutes.
SIZES = {True: dict(rows=128, eval_rows=64, epochs=1), False: dict(rows=384, eval_rows=256, epochs=1)}
ROUNDS = {True: 1, False: 2}  # by quick
SIZES_OVERRIDE: dict | None = None  # --finetune-rows / --finetune-epochs, for whichever preset runs
FLOAT32 = False  # --float32
JUDGED_SAMPLES = 4000 * 2  # the preset's size (4,000 rows, 2 epochs): below it accuracy is not judged
HOME = common.RESULTS_DIR / "finetune_home"  # runs and registered models land here and are removed
PRESET = "rotten-tomatoes"


def preset(rows: int, eval_rows: int, epochs: int, name: str = PRESET, float32: bool = False):
    """The preset's config at these sizes; `float32` (--float32) keeps every side in float32, as on a CPU
    without fast bf16, for a like-for-like comparison on bf16 hardware."""
    from pipelines.finetune import presets

    (config,) = presets.preset_configs(name, max_train_rows=rows, max_eval_rows=eval_rows, epochs=epochs, seed=42,
                                       mixed_precision="no" if float32 else "auto")
    return config


def child(variant: str, sizes: dict, name: str) -> None:
    """Train one variant, print its figures; peak RSS is sampled from here (ru_maxrss counts the imports)."""
    import psutil
    import torch

    process = psutil.Process()
    peak_mib = [process.memory_info().rss / 2**20]

    def sample() -> None:
        while True:
            time.sleep(0.05)
            peak_mib[0] = max(peak_mib[0], process.memory_info().rss / 2**20)

    threading.Thread(target=sample, daemon=True).start()
    config = preset(**sizes, name=name)
    if variant == "ours":  # as the Fine-tune tab runs it: train() reads the data and loads the model itself
        from pipelines.finetune import runs, train

        run, started = runs.create_run(config), time.perf_counter()
        if (state := train.train(run)) != "finished":
            raise RuntimeError(f"our run ended '{state}': {run.log_tail()}")
        found = run.result()
        result = {"samples_per_s": found["samples_per_s"], "train_s": found["training_time_s"],
                  "wall_s": time.perf_counter() - started, "score": found["fine_tuned"][found["metric"]],
                  "precision": found["mixed_precision"]}
    else:
        result = trainer_baseline.train(config, variant == "Trainer tuned")
    result["peak_rss_mib"] = max(peak_mib[0], process.memory_info().rss / 2**20)
    if torch.cuda.is_available():
        result["peak_cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(result))


def run_variant(variant: str, sizes: dict, name: str = PRESET) -> dict:
    from pipelines.finetune.launch import TRAINING_MALLOC_ENV

    env = common.environment_for_children(STUDIO_HOME=str(HOME))
    if variant == "ours":  # glibc's malloc settings, as the app launches training (a value set already wins)
        env = {**TRAINING_MALLOC_ENV, **env}
    done = subprocess.run([common.PYTHON, "-m", "bench.finetune_vs_trainer", variant, json.dumps(sizes), name],
                          env=env, cwd=common.REPO_ROOT, capture_output=True, text=True, timeout=1800)
    for leftover in ("runs", "models"):  # each run registers a 90 MB model: keep the disk clean
        shutil.rmtree(HOME / leftover, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(f"{variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def workload(sizes: dict, name: str = PRESET) -> tuple[float, dict]:
    """Training FLOPs on real tokens (3 x forward), and the token positions, padding included, each variant's
    data loader computes in an epoch: where the speed comes from, without the timing noise."""
    from transformers import Trainer, TrainingArguments

    from bench import checkpoints
    from pipelines.finetune.batching import make_loaders

    config = preset(**sizes, name=name)
    prepared = trainer_baseline.prepare(config)
    from pipelines.finetune.model import resolve_base

    base_folder = resolve_base(config.base_model).source
    flops = 3 * config.epochs * checkpoints.forward_flops(base_folder, prepared.train_lengths)
    loaders = {"ours": make_loaders(prepared, config.batch_size, config.seed)[0]}
    with tempfile.TemporaryDirectory() as out:
        for variant, strategy in (("Trainer defaults", "random"), ("Trainer tuned", "group_by_length")):
            args = TrainingArguments(output_dir=out, per_device_train_batch_size=config.batch_size, seed=config.seed,
                                     report_to="none", train_sampling_strategy=strategy, dataloader_pin_memory=False)
            loaders[variant] = Trainer(model=prepared.model, args=args, train_dataset=prepared.train,
                                       data_collator=prepared.collate).get_train_dataloader()
        positions = {}
        for variant, loader in loaders.items():
            masks = [batch["attention_mask"] for batch in loader]
            real, computed = sum(int(m.sum()) for m in masks), sum(m.numel() for m in masks)
            positions[variant] = {"real": real, "computed": computed, "padding_share": 1 - real / computed}
    return flops, positions


def run(quick: bool, name: str = PRESET, sizes: dict | None = None, judge=None) -> dict:
    """The comparison on the preset `name`, its targets by `judge(summary, sizes)` (default: `targets`)."""
    from bench import peak

    common.heading(f"Fine-tuning ({name}): our Accelerate loop vs the transformers Trainer")
    os.environ["STUDIO_HOME"] = str(HOME)  # the preset's sample is cached there for every variant
    sizes, rounds = {**(sizes or SIZES_OVERRIDE or SIZES[quick]), "float32": FLOAT32}, ROUNDS[quick]
    peaks = peak.measure(quick)["cpu"]
    flops, positions = workload(sizes, name)
    print(f"  {sizes['rows']} training rows, {sizes['eval_rows']} held out, {sizes['epochs']} epoch(s), "
          f"{rounds} round(s); {flops / 1e12:.3g} TFLOP of real-token training work", flush=True)
    results = common.interleaved({v: partial(run_variant, v, sizes, name) for v in VARIANTS}, rounds, warmup=0)
    summary = {}
    for variant, runs in results.items():
        med = {key: statistics.median(r[key] for r in runs)
               for key in ("samples_per_s", "train_s", "wall_s", "score", "peak_rss_mib")}
        precision = runs[-1]["precision"]
        peak_gflops = peaks["bfloat16" if precision == "bf16" else "float32"]["gflops"]
        med["fraction_of_peak"] = flops / med["train_s"] / 1e9 / peak_gflops
        med["samples_per_s_ratio_vs"] = {
            other: common.median_ratio([r["samples_per_s"] for r in runs],
                                       [r["samples_per_s"] for r in results[other]]) for other in VARIANTS}
        summary[variant] = {**med, "precision": precision, "runs": runs}
    return {"preset": name, "sizes": sizes, "rounds": rounds, "training_tflops": flops / 1e12,
            "token_positions": positions, "peak_gflops": {k: v["gflops"] for k, v in peaks.items()},
            "variants": summary, "targets": (judge or targets)(summary, sizes)}


def targets(summary: dict, sizes: dict) -> list[common.Target]:
    has_bf16, why = common.fast_bf16()
    judged = sizes["rows"] * sizes["epochs"] >= JUDGED_SAMPLES
    ours, defaults, tuned = (summary[v] for v in VARIANTS)
    vs_default, vs_tuned = (ours["samples_per_s_ratio_vs"][v] for v in VARIANTS[1:])
    return [
        common.check("fine-tuning vs Trainer defaults", ">= 2x samples/s", vs_default, 2.0,
                     f"{vs_default:.2f}x ({ours['samples_per_s']:.3g} vs {defaults['samples_per_s']:.3g} samples/s)",
                     "" if has_bf16 else "no fast bf16 here: the 2x was expected from bf16 plus length grouping"),
        common.Target("fine-tuning vs Trainer with bf16 + length grouping", ">= 1.1x samples/s",
                      (common.MET if vs_tuned >= 1.1 else common.NOT_MET) if has_bf16 else common.NOT_APPLICABLE,
                      f"{vs_tuned:.2f}x the Trainer with length grouping"
                      + ("" if has_bf16 else " in float32 (its bf16 would be emulated here)"), why),
        parity_target(summary, judged, "accuracy", "ours within 0.01 of each Trainer variant", 0.01, 3,
                      "--finetune-rows 4000 --finetune-epochs 2"),
        common.Target("training fraction of peak", "reported (float32 and bf16)", common.INFO,
                      ", ".join(f"{v} {s['fraction_of_peak']:.0%} of the "
                                f"{'bf16' if s['precision'] == 'bf16' else 'float32'} peak" for v, s in summary.items())),
    ]


def parity_target(summary: dict, judged: bool, metric: str, goal: str, tolerance: float, digits: int,
                  sizes_hint: str = "") -> common.Target:
    """Ours scores within `tolerance` of each Trainer variant; only reported where too little training ran."""
    ours, defaults, tuned = (summary[v] for v in VARIANTS)
    gap = max(abs(ours["score"] - other["score"]) for other in (defaults, tuned))
    not_judged = f"too little training to judge {metric}; the preset's size does" + (f": {sizes_hint}" if sizes_hint else "")
    return common.Target(f"held-out {metric} within one point", goal,
                         (common.MET if gap <= tolerance else common.NOT_MET) if judged else common.INFO,
                         f"ours {ours['score']:.{digits}f}, Trainer defaults {defaults['score']:.{digits}f}, "
                         f"tuned {tuned['score']:.{digits}f}", "" if judged else not_judged)


if __name__ == "__main__":
    child(sys.argv[1], json.loads(sys.argv[2]), sys.argv[3])
