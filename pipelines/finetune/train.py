"""The fine-tuning loop, written with Accelerate: one function a run's process calls, `train(run)`.

Read top to bottom: set up (the task's data and model, batches, optimizer, all `accelerator.prepare`d),
score the base model, train epoch by epoch with an evaluation and a checkpoint after each, then save,
describe and register the model. What is learned is the task's business (finetune/tasks/); this loop
only needs a model that returns a loss. Progress goes to the run folder's log.jsonl.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from transformers import get_linear_schedule_with_warmup

from pipelines.evaluation.compare import compare
from pipelines.finetune import card, lora, registry, tasks
from pipelines.finetune.batching import make_loaders
from pipelines.finetune.config import FinetuneConfig
from pipelines.finetune.data import load_rows
from pipelines.finetune.evaluation import paired_examples
from pipelines.finetune.log import EvalEntry, StartEntry, StepEntry
from pipelines.finetune.model import BaseModel, apply_transfer_mode, parameter_counts, resolve_base
from pipelines.finetune.runs import RunFolder, base_reference
from pipelines.finetune.tasks.base import Evaluation, FinetuneTask, Prepared
from pipelines.runtime import hardware


@dataclass
class Progress:
    """Where training stands. It is saved inside every checkpoint (accelerate's
    `register_for_checkpointing`), so a resumed run continues at the same batch with the same totals."""

    step: int = 0  # optimizer steps done
    epoch: int = 0  # epochs completed
    batches_in_epoch: int = 0  # batches of the current epoch already trained
    train_time_s: float = 0.0  # time in the training loop itself, without evaluations and checkpoints
    samples: int = 0
    base: dict | None = None  # the base model's Evaluation, scored before the first step
    last: dict | None = None  # the latest epoch's Evaluation

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(state)


@dataclass
class Session:
    """Everything the loop works with, after `accelerator.prepare`."""

    task: FinetuneTask
    prepared: Prepared
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object
    train_loader: object
    eval_loader: object
    base: BaseModel
    columns: dict[str, str]  # role -> the file's column
    steps_per_epoch: int  # optimizer steps, on this process's share of the batches
    total_steps: int
    parameters: tuple[int, int]  # (trainable, total), counted before LoRA's adapters merge into the weights


def setup(run: RunFolder, config: FinetuneConfig, accelerator: Accelerator) -> Session:
    task = tasks.for_config(config)
    rows, columns = load_rows(config.data_file, task, config.columns)
    base = resolve_base(base_reference(config), scratch=config.init == "scratch")
    prepared = task.prepare(rows, base, config)
    if config.lora:  # adapters train beside the frozen weights; merged into them when the run saves
        model = lora.wrap(prepared.model, config, task.peft_task_type)
    else:
        model = prepared.model
        apply_transfer_mode(model, config.mode, config.top_k_layers)
    train_loader, eval_loader = make_loaders(prepared, config.batch_size, config.seed)
    trainable = [p for p in model.parameters() if p.requires_grad]
    parameters = parameter_counts(model)
    # Decay matrices only: decaying biases and LayerNorm gains towards zero only hurts.
    groups = [{"params": [p for p in trainable if p.ndim >= 2], "weight_decay": config.weight_decay},
              {"params": [p for p in trainable if p.ndim < 2], "weight_decay": 0.0}]
    # fused: one kernel for all parameters. On a 2-core CPU the default (foreach) AdamW step took
    # ~300 ms for MiniLM and the fused one ~40 ms. It is also the Trainer's default optimizer.
    optimizer = torch.optim.AdamW(groups, lr=config.effective_learning_rate, fused=True)
    # Counted on the unsharded loader: accelerate steps a prepared scheduler once per process.
    total_steps = math.ceil(len(train_loader) / config.gradient_accumulation_steps) * config.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    model, optimizer, train_loader, eval_loader, scheduler = accelerator.prepare(
        model, optimizer, train_loader, eval_loader, scheduler)
    steps_per_epoch = math.ceil(len(train_loader) / config.gradient_accumulation_steps)
    return Session(task=task, prepared=prepared, model=model, optimizer=optimizer, scheduler=scheduler,
                   train_loader=train_loader, eval_loader=eval_loader, base=base, columns=columns,
                   steps_per_epoch=steps_per_epoch, total_steps=steps_per_epoch * config.epochs,
                   parameters=parameters)


def train(run: RunFolder, resume: bool = False) -> str:
    """Train the run's config to the end, or until a stop is requested; returns "finished" or "stopped"."""
    config = run.config
    # cpu=True where there is no GPU: several processes launched on a CPU-only machine then join one
    # gloo group (Accelerate's MULTI_CPU) instead of each training alone.
    accelerator = Accelerator(mixed_precision=hardware.training_precision(config.mixed_precision),
                              gradient_accumulation_steps=config.gradient_accumulation_steps,
                              cpu=not torch.cuda.is_available())
    set_seed(config.seed)  # before the model is built: a new head's initial weights depend on it
    session = setup(run, config, accelerator)
    progress = Progress()
    accelerator.register_for_checkpointing(progress)
    if resume and run.has_checkpoint:
        accelerator.load_state(str(run.checkpoint_dir))
    if accelerator.is_main_process:
        run.write_status("running", pid=os.getpid())
        run.append_log(_start_entry(config, session, accelerator, progress))
    if progress.base is None and not config.scores_only:  # "base": the model as training starts, a new head untrained
        progress.base = _evaluate(run, session, accelerator, progress, "base")
    state = _run_epochs(run, config, session, progress, accelerator)
    if state == "finished":
        _finish(run, config, session, progress, accelerator)
    return state


def _run_epochs(run: RunFolder, config: FinetuneConfig, session: Session, progress: Progress,
                accelerator: Accelerator) -> str:
    model, optimizer, scheduler = session.model, session.optimizer, session.scheduler
    model.train()
    for epoch in range(progress.epoch, config.epochs):
        loader = session.train_loader
        if progress.batches_in_epoch:  # resumed mid-epoch: the same batch order, minus what was trained
            loader = accelerator.skip_first_batches(loader, progress.batches_in_epoch)
        loader.set_epoch(epoch)  # the sampler's order depends on (seed, epoch) only
        clock, loss_sum, loss_batches = time.perf_counter(), torch.zeros((), device=accelerator.device), 0
        for batch in loader:
            with accelerator.accumulate(model):
                loss = model(**batch).loss
                accelerator.backward(loss)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            loss_sum += loss.detach()  # stays on the device: no host sync per step
            loss_batches += 1
            progress.batches_in_epoch += 1
            progress.samples += batch["input_ids"].shape[0] * accelerator.num_processes
            if not accelerator.sync_gradients:
                continue
            progress.step += 1
            if progress.step % config.logging_steps == 0 and accelerator.is_main_process:
                elapsed = progress.train_time_s + time.perf_counter() - clock
                run.append_log(_step_entry(session, progress, loss_sum.item() / loss_batches, elapsed))
                loss_sum.zero_()
                loss_batches = 0
            if (config.eval_steps and progress.step % config.eval_steps == 0
                    and progress.step % session.steps_per_epoch):  # an epoch's end is scored below anyway
                progress.train_time_s += time.perf_counter() - clock  # the clock stops while it scores
                _evaluate(run, session, accelerator, progress, "fine_tuned")
                clock = time.perf_counter()
            if run.stop_requested():
                progress.train_time_s += time.perf_counter() - clock
                if not config.scores_only:
                    _save_checkpoint(run, accelerator, progress)
                if accelerator.is_main_process:
                    run.write_status("stopped", f"Stopped at step {progress.step}; resume continues from there.")
                return "stopped"
        progress.train_time_s += time.perf_counter() - clock
        progress.epoch, progress.batches_in_epoch = epoch + 1, 0
        if config.scores_only and progress.epoch < config.epochs:
            continue
        progress.last = _evaluate(run, session, accelerator, progress, "fine_tuned")
        if not config.scores_only:
            _save_checkpoint(run, accelerator, progress)
    return "finished"


def _start_entry(config: FinetuneConfig, session: Session, accelerator: Accelerator,
                 progress: Progress) -> StartEntry:
    trainable, total = session.parameters
    return StartEntry(task=session.task.name, metric=session.task.metric,
                      higher_is_better=session.task.higher_is_better, resumed_at_step=progress.step,
                      total_steps=session.total_steps, epochs=config.epochs, train_rows=session.prepared.train_rows,
                      held_out_rows=session.prepared.held_out_rows, mixed_precision=accelerator.mixed_precision,
                      trainable_parameters=trainable, total_parameters=total, processes=accelerator.num_processes,
                      time=time.time(), facts=session.prepared.facts, warnings=session.prepared.warnings)


def _step_entry(session: Session, progress: Progress, loss: float, elapsed: float) -> StepEntry:
    return StepEntry(step=progress.step, total_steps=session.total_steps,
                     epoch=round(progress.step / session.steps_per_epoch, 3), loss=round(loss, 5),
                     lr=session.scheduler.get_last_lr()[0], elapsed_s=round(elapsed, 2),
                     samples_per_s=round(progress.samples / max(elapsed, 1e-9), 1))


def _evaluate(run: RunFolder, session: Session, accelerator: Accelerator, progress: Progress, which: str) -> dict:
    model = session.model
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        evaluation = session.task.evaluate(model, session.eval_loader, accelerator, session.prepared)
    model.train(was_training)
    if accelerator.is_main_process:
        # between epochs (eval_steps): the epoch as a fraction, so the curve puts the point where it was taken
        epoch = round(progress.step / session.steps_per_epoch, 3) if progress.batches_in_epoch else progress.epoch
        run.append_log(EvalEntry(model=which, epoch=epoch, step=progress.step,
                                 train_time_s=round(progress.train_time_s, 2), metrics=evaluation.metrics))
    return evaluation.to_dict()


def _save_checkpoint(run: RunFolder, accelerator: Accelerator, progress: Progress) -> None:
    """Write the checkpoint beside the last one and swap it in, so a crash mid-save loses nothing."""
    partial = run.checkpoint_dir.with_name("last.partial")
    if accelerator.is_main_process:
        shutil.rmtree(partial, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))  # model, optimizer, scheduler, RNG states, and Progress
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        marker = {"step": progress.step, "epoch": progress.epoch, "saved_at": time.time()}
        (partial / "progress.json").write_text(json.dumps(marker))  # written last: marks it complete
        shutil.rmtree(run.checkpoint_dir, ignore_errors=True)
        os.replace(partial, run.checkpoint_dir)
    accelerator.wait_for_everyone()


def _finish(run: RunFolder, config: FinetuneConfig, session: Session, progress: Progress,
            accelerator: Accelerator) -> None:
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        return
    if config.scores_only:  # a learning-curve point: its held-out score is all that is kept
        _write_result(run, _point_result(config, session, progress))
        run.write_status("finished", f"Held-out {session.task.headline(progress.last['metrics'])}.")
        return
    session.task.save(lora.merged(accelerator.unwrap_model(session.model)), session.prepared, run.model_dir)
    result = _result(run, config, session, progress, accelerator)
    card.write_model_card(run.model_dir, config, result, session.task)
    registry.register_model(run.model_dir, result["registered_as"], session.task.picker_note(config, result),
                            session.task.registered_tasks())
    _write_result(run, result)
    # A finished run is not resumed, and its checkpoint (optimizer state included) is three times the model.
    shutil.rmtree(run.checkpoint_dir.parent, ignore_errors=True)
    task = session.task
    run.write_status("finished", f"Held-out {task.headline(result['fine_tuned'])} (base {task.headline(result['base'])}).")


def _point_result(config: FinetuneConfig, session: Session, progress: Progress) -> dict:
    return {"task": session.task.name, "metric": session.task.metric, "higher_is_better": session.task.higher_is_better,
            "fine_tuned": progress.last["metrics"], "init": config.init, "seed": config.seed,
            "train_rows": session.prepared.train_rows, "held_out_rows": session.prepared.held_out_rows,
            "epochs": progress.epoch, "steps": progress.step, "training_time_s": round(progress.train_time_s, 2),
            "facts": session.prepared.facts}  # how its rows were split (a curve's reference is scored on the same)


def _write_result(run: RunFolder, result: dict) -> None:
    tmp = run.result_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, run.result_file)


def _result(run: RunFolder, config: FinetuneConfig, session: Session, progress: Progress,
            accelerator: Accelerator) -> dict:
    """result.json: the same top-level shape for every task (task, metric, base, fine_tuned, examples)."""
    base, tuned = Evaluation.from_dict(progress.base), Evaluation.from_dict(progress.last)
    trainable, total = session.parameters
    task = session.task
    return {
        "task": task.name, "purpose": getattr(task, "purpose", None), "metric": task.metric,
        "higher_is_better": task.higher_is_better,
        "base": base.metrics, "fine_tuned": tuned.metrics, "examples": paired_examples(base, tuned),
        "comparison": compare(task, base, tuned, seed=config.seed),
        "details": {"base": base.details, "fine_tuned": tuned.details}, "facts": session.prepared.facts,
        "run_id": run.id, "base_model": session.base.spec.name, "dataset": config.effective_dataset_name,
        "columns": session.columns, "train_rows": session.prepared.train_rows,
        "held_out_rows": session.prepared.held_out_rows, "warnings": session.prepared.warnings, "mode": "lora" if config.lora else config.mode,
        "mixed_precision": accelerator.mixed_precision, "processes": accelerator.num_processes,
        "trainable_parameters": trainable, "total_parameters": total, "steps": progress.step,
        "epochs": progress.epoch, "seed": config.seed, "training_time_s": round(progress.train_time_s, 2),
        "samples_per_s": round(progress.samples / max(progress.train_time_s, 1e-9), 1),
        "registered_as": registry.model_name(config, run.id, session.base.spec.name),
        "model_dir": str(run.model_dir),
    }
