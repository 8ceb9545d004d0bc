"""Our Accelerate fine-tuning loop vs the transformers Trainer: MiniLM (packaged) on Rotten Tomatoes
(classification); bench/qa_finetune_vs_trainer.py runs the same comparison on extractive QA.

Three variants, each in its own process (so peak memory is its own), alternating round by round, on the
same rows and stratified split, the same model and new head (same seed), and the same hyperparameters
(batch 32, max length 64, lr 5e-5, 10% warm-up, weight decay 0.01): "ours" is
`pipelines.finetune.train.train` on a run folder, as the Fine-tune tab starts it; "Trainer defaults"
and "Trainer tuned" are bench/trainer_baseline.py. Whole-run time is, for ours, training plus base and
epoch evaluations, checkpoints, saving and registering; for the Trainer, train plus predict.
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
# Small enough for the whole suite to finish in 15 minutes on the shared 2-core machine: enough steps
# for a stable samples/s, too few for a trained model (accuracies stay near the majority class).
SIZES = {True: dict(rows=128, eval_rows=64, epochs=1), False: dict(rows=384, eval_rows=256, epochs=1)}
ROUNDS = {True: 1, False: 2}  # by quick
SIZES_OVERRIDE: dict | None = None  # --finetune-rows / --finetune-epochs, for whichever preset runs
# Accuracy is judged from the rotten-tomatoes preset's size on (4,000 rows, 2 epochs, about 0.8
# accuracy): below it every variant stays near the majority class.
JUDGED_SAMPLES = 4000 * 2
HOME = common.RESULTS_DIR / "finetune_home"  # runs and registered models land here and are removed


PRESET = "rotten-tomatoes"


def preset(rows: int, eval_rows: int, epochs: int, name: str = PRESET):
    from pipelines.finetune import presets

    (config,) = presets.preset_configs(name, max_train_rows=rows, max_eval_rows=eval_rows, epochs=epochs, seed=42)
    return config


def child(variant: str, rows: int, eval_rows: int, epochs: int, name: str = PRESET) -> None:
    """Train one variant and print its figures, with the peak RSS sampled from reading the data and
    loading the model to the end (ru_maxrss would include the imports)."""
    import psutil
    import torch

    process = psutil.Process()
    peak_mib = [process.memory_info().rss / 2**20]

    def sample() -> None:
        while True:
            time.sleep(0.05)
            peak_mib[0] = max(peak_mib[0], process.memory_info().rss / 2**20)

    threading.Thread(target=sample, daemon=True).start()
    config = preset(rows, eval_rows, epochs, name)
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
    from pipelines.finetune.runs import TRAINING_MALLOC_ENV

    env = common.environment_for_children(STUDIO_HOME=str(HOME))
    if variant == "ours":  # glibc's malloc settings, as the app launches training (a value set already wins)
        env = {**TRAINING_MALLOC_ENV, **env}
    # The Trainer variants run with this process's environment as is.
    done = subprocess.run([common.PYTHON, "-m", "bench.finetune_vs_trainer", variant, str(sizes["rows"]),
                           str(sizes["eval_rows"]), str(sizes["epochs"]), name], env=env, cwd=common.REPO_ROOT,
                          capture_output=True, text=True, timeout=1800)
    for leftover in ("runs", "models"):  # each run registers a 90 MB model: keep the disk clean
        shutil.rmtree(HOME / leftover, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(f"{variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def workload(sizes: dict, name: str = PRESET) -> tuple[float, dict]:
    """The model's training FLOPs on real tokens, the same for every variant: 6 x non-embedding parameters
    per token plus 3 x attention's 4 x layers x width x length^2 per text, per epoch. And the token
    positions each variant's own data loader computes in an epoch, padding included: where the speed
    comes from, without the timing noise."""
    from transformers import Trainer, TrainingArguments

    from bench import checkpoints
    from pipelines.finetune.batching import make_loaders

    config = preset(**sizes, name=name)
    prepared = trainer_baseline.prepare(config)
    params = checkpoints.parameters(checkpoints.minilm_dir())["non_embedding"]
    layers, width = prepared.model.config.num_hidden_layers, prepared.model.config.hidden_size
    flops = config.epochs * sum(6 * params * n + 12 * layers * width * n * n for n in prepared.train_lengths)
    loaders = {"ours": make_loaders(prepared, config.batch_size, config.seed)[0]}
    with tempfile.TemporaryDirectory() as out:
        for variant, strategy in (("Trainer defaults", "random"), ("Trainer tuned", "group_by_length")):
            args = TrainingArguments(output_dir=out, per_device_train_batch_size=config.batch_size, seed=config.seed,
                                     report_to="none", train_sampling_strategy=strategy, dataloader_pin_memory=False)
            loaders[variant] = Trainer(model=prepared.model, args=args, train_dataset=prepared.train,
                                       processing_class=prepared.tokenizer).get_train_dataloader()
        positions = {}
        for variant, loader in loaders.items():
            masks = [batch["attention_mask"] for batch in loader]
            real, computed = sum(int(m.sum()) for m in masks), sum(m.numel() for m in masks)
            positions[variant] = {"real": real, "computed": computed, "padding_share": 1 - real / computed}
    return flops, positions


def run(quick: bool, name: str = PRESET, sizes: dict | None = None, rounds: int | None = None) -> dict:
    from bench import peak

    common.heading(f"Fine-tuning ({name}): our Accelerate loop vs the transformers Trainer")
    os.environ["STUDIO_HOME"] = str(HOME)  # the preset's sample is cached there for every variant
    sizes, rounds = sizes or SIZES_OVERRIDE or SIZES[quick], rounds or ROUNDS[quick]
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
            "variants": summary, "targets": targets(summary, sizes)}


def targets(summary: dict, sizes: dict) -> list[common.Target]:
    has_bf16, why = common.fast_bf16()
    judged = sizes["rows"] * sizes["epochs"] >= JUDGED_SAMPLES
    ours, defaults, tuned = (summary[v] for v in VARIANTS)
    vs_default = ours["samples_per_s_ratio_vs"]["Trainer defaults"]
    vs_tuned = ours["samples_per_s_ratio_vs"]["Trainer tuned"]
    accuracy_gap = max(abs(ours["score"] - other["score"]) for other in (defaults, tuned))
    return [
        common.check("fine-tuning vs Trainer defaults", ">= 2x samples/s", vs_default, 2.0,
                     f"{vs_default:.2f}x ({ours['samples_per_s']:.3g} vs {defaults['samples_per_s']:.3g} samples/s)",
                     "" if has_bf16 else "no fast bf16 here: the 2x was expected from bf16 plus length grouping"),
        common.Target("fine-tuning vs Trainer with bf16 + length grouping", ">= 1.1x samples/s",
                      (common.MET if vs_tuned >= 1.1 else common.NOT_MET) if has_bf16 else common.NOT_APPLICABLE,
                      f"{vs_tuned:.2f}x the Trainer with length grouping"
                      + ("" if has_bf16 else " in float32 (its bf16 would be emulated here)"), why),
        common.Target("held-out accuracy within one point", "ours within 0.01 of each Trainer variant",
                      (common.MET if accuracy_gap <= 0.01 else common.NOT_MET) if judged else common.INFO,
                      f"ours {ours['score']:.3f}, Trainer defaults {defaults['score']:.3f}, "
                      f"tuned {tuned['score']:.3f}",
                      "" if judged else "too little training to judge accuracy; the preset's size does: "
                      "--finetune-rows 4000 --finetune-epochs 2"),
        common.Target("training fraction of peak", "reported (float32 and bf16)", common.INFO,
                      ", ".join(f"{v} {s['fraction_of_peak']:.0%} of the "
                                f"{'bf16' if s['precision'] == 'bf16' else 'float32'} peak" for v, s in summary.items())),
    ]


if __name__ == "__main__":
    child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
