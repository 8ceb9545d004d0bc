"""Our Accelerate fine-tuning loop vs the transformers Trainer: MiniLM (packaged) on Rotten Tomatoes.

Three variants, each in a process of its own (so peak memory is its own), in alternating order round
by round, on the same rows (the same stratified split), the same model and new head (same seed), and
the same hyperparameters (batch 32, max length 64, lr 5e-5, 10% warm-up, weight decay 0.01):
- "ours": `pipelines.finetune.train.train` on a run folder, as the Fine-tune tab starts it;
- "Trainer defaults": `Trainer` with default settings (float32, random batches padded to the longest
  by its default collator);
- "Trainer tuned": the Trainer with its own length grouping, and bf16 where the hardware has fast bf16.

Figures: samples/s in the training loop, training time, whole-run time (ours: base and epoch
evaluations, checkpoints, saving, registering; Trainer: train + predict), held-out accuracy, peak
resident memory from loading the model to the end (sampled), and the fraction of the measured peak
FLOP rate on real (non-padding) tokens.

Time to accuracy, from held-out curves scored during training: see bench/time_to_accuracy.py. The
Trainer's side is bench/trainer_baseline.py.
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
from contextlib import contextmanager
from functools import partial

from bench import common, trainer_baseline
from bench.time_to_accuracy import EVALS_PER_RUN, WITHIN_FINAL, add_time_to_accuracy, eval_steps, judged

VARIANTS = ("ours", "Trainer defaults", "Trainer tuned")
# Small enough for the whole suite to finish in 15 minutes on the shared 2-core machine: enough steps
# for a stable samples/s, too few for a trained model (accuracies stay near the majority class).
SIZES = {True: dict(rows=128, eval_rows=64, epochs=1), False: dict(rows=384, eval_rows=256, epochs=1)}
ROUNDS = {True: 1, False: 2}  # by quick
HOME = common.RESULTS_DIR / "finetune_home"  # runs and registered models land here and are removed


def preset(rows: int, eval_rows: int, epochs: int):
    from pipelines.finetune import presets

    return presets.preset_config("rotten-tomatoes", max_train_rows=rows, max_eval_rows=eval_rows,
                                 epochs=epochs, seed=42)


def preset_data(config):
    """The config's rows split as our loop splits them, the base model, its head labels, and whether its
    own head is kept: (data, base, label_names, keep_head)."""
    from pipelines.finetune.data import load_labelled, split
    from pipelines.finetune.model import head_labels, resolve_base

    labelled = load_labelled(config.data_file, config.text_column, config.label_column)
    base = resolve_base(config.base_model)
    label_names, keep_head = head_labels(base.config, sorted(labelled.label_counts))
    data = split(labelled, label_names, config.eval_fraction, config.max_eval_rows, config.max_train_rows, config.seed)
    return data, base, label_names, keep_head


# --- the child process: one variant, one JSON line -------------------------------------------------

@contextmanager
def resident_memory(found: dict, interval_s: float = 0.05):
    """Sample this process's RSS while the block runs: found["before_mib"] and found["peak_mib"].
    (ru_maxrss would report the peak of the whole process, set by imports and loading alike.)"""
    import psutil

    process, done = psutil.Process(), threading.Event()
    found["before_mib"] = found["peak_mib"] = process.memory_info().rss / 2**20

    def sample() -> None:
        while not done.wait(interval_s):
            found["peak_mib"] = max(found["peak_mib"], process.memory_info().rss / 2**20)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield found
    finally:
        done.set()
        sampler.join()


def train_ours(config) -> dict:
    from pipelines.finetune import runs, train

    run = runs.create_run(config)
    started = time.perf_counter()
    state = train.train(run)
    wall = time.perf_counter() - started
    result = run.result() or {}
    if state != "finished":
        raise RuntimeError(f"our run ended '{state}': {run.log_tail()}")
    # (training seconds, step, held-out accuracy) at every scoring during training (not the base model's:
    # the Trainer's curve has none either); the last one is the final model's
    log = run.read_log()
    curve = [(e["train_time_s"], e["step"], e["accuracy"]) for e in log
             if e["type"] == "eval" and e["model"] == "finetuned"]
    start = next(e for e in log if e["type"] == "start")
    return {"samples_per_s": result["samples_per_s"], "train_s": result["training_time_s"], "wall_s": wall,
            "accuracy": result["finetuned"]["accuracy"], "precision": result["mixed_precision"], "curve": curve,
            "first_position_only": start["first_position_only"], "fast_dropout": start.get("fast_dropout", False)}


def child(variant: str, rows: int, eval_rows: int, epochs: int) -> None:
    import torch

    config = preset(rows, eval_rows, epochs)
    config = config.with_changes(eval_steps=eval_steps(config))
    memory: dict = {}
    with resident_memory(memory):  # from reading the data and loading the model to the end, on both sides
        if variant == "ours":
            result = train_ours(config)  # train() reads the data and loads the model itself
        else:
            result = trainer_baseline.train(config, variant == "Trainer tuned", *preset_data(config))
    result["peak_rss_mib"] = memory["peak_mib"]
    if torch.cuda.is_available():
        result["peak_cuda_mib"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(result))


# --- the parent: rounds of the three variants ---------------------------------------------------

def run_variant(variant: str, sizes: dict) -> dict:
    env = dict(common.environment_for_children(), STUDIO_HOME=str(HOME))
    done = subprocess.run([common.python(), "-m", "bench.finetune_vs_trainer", variant, str(sizes["rows"]),
                           str(sizes["eval_rows"]), str(sizes["epochs"])], env=env, cwd=common.REPO_ROOT,
                          capture_output=True, text=True, timeout=1800)
    for leftover in ("runs", "models"):  # each run registers a 90 MB model: keep the disk clean
        shutil.rmtree(HOME / leftover, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(f"{variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def training_flops(sizes: dict) -> tuple[float, float]:
    """FLOPs of the training run on real tokens: 6 x non-embedding parameters per token (forward and
    backward) plus 3 x attention's 4 x layers x width x length^2 per text, times the epochs. This is
    the model's work, the same count for every variant. Also returns the part of it that a top layer
    computing only the first position (pipelines/first_position.py) skips: for every other
    position its query, attention output and feed-forward matrices, and its rows of attention."""
    from transformers import AutoConfig, AutoTokenizer

    from bench import checkpoints

    config = preset(**sizes)
    data = preset_data(config)[0]
    folder = checkpoints.minilm_dir()
    model_config, tok = AutoConfig.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    params = checkpoints.parameters(folder)["non_embedding"]
    width, inner = model_config.hidden_size, model_config.intermediate_size
    lengths = [len(ids) for ids in tok(list(data.train["text"]), truncation=True, max_length=config.max_length)["input_ids"]]
    per_epoch = sum(6 * params * n + 12 * model_config.num_hidden_layers * width * n * n for n in lengths)
    skipped = sum(6 * (2 * width * width + 2 * width * inner) * (n - 1) + 12 * width * (n * n - n) for n in lengths)
    return per_epoch * config.epochs, skipped * config.epochs


def token_positions(sizes: dict) -> dict:
    """Token positions each variant computes in one epoch, padding included, from its own data loader
    (our batching; the Trainer's default and length-grouped samplers with its default collator).
    Deterministic, so it shows where the speed comes from without the timing noise."""
    from transformers import Trainer, TrainingArguments

    from pipelines.finetune.batching import make_batches
    from pipelines.finetune.model import load_for_training

    config = preset(**sizes)
    data, base, label_names, keep_head = preset_data(config)
    model, tokenizer = load_for_training(base, label_names, keep_head)
    found = {"ours": _positions(make_batches(data, tokenizer, config.max_length, config.batch_size, config.seed).train)}
    encoded = data.train.map(lambda b: tokenizer(b["text"], truncation=True, max_length=config.max_length),
                             batched=True, remove_columns=["text"])
    for variant, strategy in (("Trainer defaults", "random"), ("Trainer tuned", "group_by_length")):
        with tempfile.TemporaryDirectory() as out:
            args = TrainingArguments(output_dir=out, per_device_train_batch_size=config.batch_size, seed=config.seed,
                                     report_to="none", train_sampling_strategy=strategy, dataloader_pin_memory=False)
            trainer = Trainer(model=model, args=args, train_dataset=encoded, processing_class=tokenizer)
            found[variant] = _positions(trainer.get_train_dataloader())
    return found


def _positions(loader) -> dict:
    real = computed = 0
    for batch in loader:
        real += int(batch["attention_mask"].sum())
        computed += batch["attention_mask"].numel()
    return {"real": real, "computed": computed, "padding_share": 1 - real / computed}


def run(quick: bool) -> dict:
    from bench import peak

    common.heading("Fine-tuning: our Accelerate loop vs the transformers Trainer")
    os.environ["STUDIO_HOME"] = str(HOME)  # the preset's sample CSV is cached there for every variant
    sizes, rounds = SIZES[quick], ROUNDS[quick]
    peaks = peak.measure(quick)["cpu"]
    flops, skipped = training_flops(sizes)
    positions = token_positions(sizes)
    print(f"  {sizes['rows']} training rows, {sizes['eval_rows']} held out, {sizes['epochs']} epoch(s), "
          f"{rounds} round(s); {flops / 1e12:.3g} TFLOP of real-token training work", flush=True)
    print("  token positions computed per epoch, padding included: " + ", ".join(
        f"{v} {p['computed']:,} ({p['padding_share']:.0%} padding)" for v, p in positions.items()), flush=True)
    results = common.interleaved({v: partial(run_variant, v, sizes) for v in VARIANTS}, rounds, warmup=0)
    timed_to_accuracy = judged(sizes["rows"], sizes["epochs"])
    if timed_to_accuracy:
        add_time_to_accuracy(results)
    summary = {}
    for variant, runs in results.items():
        med = {key: statistics.median(r[key] for r in runs)
               for key in ("samples_per_s", "train_s", "wall_s", "accuracy", "peak_rss_mib")
               + (("to_final_s", "to_common_s", "common_target") if timed_to_accuracy else ())}
        precision = runs[-1]["precision"]
        peak_gflops = peaks["bfloat16" if precision == "bf16" else "float32"]["gflops"]
        med["fraction_of_peak"] = flops / med["train_s"] / 1e9 / peak_gflops
        # of the arithmetic it did: ours skips part of the counted work where its top layer reads one position
        done = flops - skipped if runs[-1].get("first_position_only") else flops
        med["fraction_of_peak_done"] = done / med["train_s"] / 1e9 / peak_gflops
        summary[variant] = {**med, "precision": precision, "runs": runs}
    for variant, values in summary.items():
        values["samples_per_s_ratio_vs"] = {
            other: common.median_ratio([r["samples_per_s"] for r in summary[variant]["runs"]],
                                       [r["samples_per_s"] for r in summary[other]["runs"]]) for other in VARIANTS}
    rows = [[v, s["precision"], s["samples_per_s"], s["train_s"], s.get("to_final_s", "-"), s.get("to_common_s", "-"),
             s["wall_s"],
             s["accuracy"], s["peak_rss_mib"], s["fraction_of_peak"], s["samples_per_s_ratio_vs"]["Trainer defaults"]]
            for v, s in summary.items()]
    common.print_table(["variant", "precision", "samples/s", "train s", "to final acc. s", "to common acc. s",
                        "whole run s", "accuracy", "peak RSS MiB", "of peak", "x Trainer defaults"], rows)
    if timed_to_accuracy:
        print(f"  time to accuracy: training seconds until within {WITHIN_FINAL} of the run's final accuracy, and "
              f"until the round's lowest final accuracy ({summary['ours']['common_target']:.3f}, median), scored "
              f"every {EVALS_PER_RUN}th of a run")
    else:
        print("  time to accuracy: measured from the preset's size on (--finetune-rows 4000 --finetune-epochs 2); "
              "at this size accuracy does not move")
    if summary["ours"]["runs"][-1].get("first_position_only"):
        print(f"  ours computes its top layer for the first position only: {skipped / flops:.1%} of the counted "
              f"work is not done; on the arithmetic it does, ours reached "
              f"{summary['ours']['fraction_of_peak_done']:.0%} of the peak ('of peak' counts the model's work, "
              f"the same for every variant)")
    return {"sizes": sizes, "rounds": rounds, "training_tflops": flops / 1e12,
            "skipped_tflops": skipped / 1e12, "token_positions": positions,
            "peak_gflops": {
        k: v["gflops"] for k, v in peaks.items()}, "variants": summary, "targets": targets(summary, sizes)}


def targets(summary: dict, sizes: dict) -> list[common.Target]:
    has_bf16, why = common.fast_bf16()
    judged_here = judged(sizes["rows"], sizes["epochs"])
    ours = summary["ours"]
    vs_default = ours["samples_per_s_ratio_vs"]["Trainer defaults"]
    vs_tuned = ours["samples_per_s_ratio_vs"]["Trainer tuned"]
    accuracy_gap = max(abs(ours["accuracy"] - summary[v]["accuracy"]) for v in VARIANTS[1:])
    found = [
        common.check("fine-tuning vs Trainer defaults", ">= 2x samples/s", vs_default, 2.0,
                     f"{vs_default:.2f}x ({ours['samples_per_s']:.3g} vs "
                     f"{summary['Trainer defaults']['samples_per_s']:.3g} samples/s)",
                     "" if has_bf16 else "no fast bf16 here: the 2x was expected from bf16 plus length grouping"),
        common.Target("fine-tuning vs Trainer with bf16 + length grouping", ">= 1.1x samples/s",
                      (common.MET if vs_tuned >= 1.1 else common.NOT_MET) if has_bf16 else common.NOT_APPLICABLE,
                      f"{vs_tuned:.2f}x the Trainer with length grouping"
                      + ("" if has_bf16 else " in float32 (its bf16 would be emulated here)"), why),
        common.Target("held-out accuracy within one point", "ours within 0.01 of each Trainer variant",
                      (common.MET if accuracy_gap <= 0.01 else common.NOT_MET) if judged_here else common.INFO,
                      f"ours {ours['accuracy']:.3f}, Trainer defaults {summary['Trainer defaults']['accuracy']:.3f}, "
                      f"tuned {summary['Trainer tuned']['accuracy']:.3f}",
                      "" if judged_here else "too little training to judge accuracy; the preset's size does: "
                      "--finetune-rows 4000 --finetune-epochs 2"),
        common.Target("training fraction of peak", "reported (float32 and bf16)", common.INFO,
                      ", ".join(f"{v} {s['fraction_of_peak']:.0%} of the {s['precision'] if s['precision'] == 'bf16' else 'float32'} peak"
                                for v, s in summary.items())),
    ]
    return found


if __name__ == "__main__":
    child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
