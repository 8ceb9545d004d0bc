"""The model card (README.md) of a fine-tuned model.

The card records what a reader needs to trust or repeat the result: base model, data, settings, seed,
and base vs fine-tuned metrics on the same held-out rows; the task adds its own lines.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.evaluation.compare import interval_text
from pipelines.finetune.config import FinetuneConfig

PIPELINE_TAGS = {"classification": "text-classification", "extractive-qa": "question-answering",
                 "masked-lm": "fill-mask", "summarization": "summarization", "translation": "translation",
                 "generation": "text-generation"}


def write_model_card(folder: Path, config: FinetuneConfig, result: dict, task) -> Path:
    path = Path(folder) / "README.md"
    path.write_text(model_card(config, result, task))
    return path


def model_card(config: FinetuneConfig, result: dict, task) -> str:
    base, tuned = result["base"], result["fine_tuned"]
    better = "higher" if result["higher_is_better"] else "lower"
    columns = ", ".join(f"{role} `{column}`" for role, column in result["columns"].items())
    lines = [
        "---", "library_name: transformers", f"pipeline_tag: {PIPELINE_TAGS[result.get('purpose') or result['task']]}",
        f"tags: [{result['task']}, transfer-studio]", f"metrics: [{', '.join(tuned)}]", "---", "",
        f"# {result['registered_as']}", "",
        f"A {task.title.lower()} model fine-tuned with Transfer Studio from **{result['base_model']}** on "
        f"**{result['dataset']}** (run `{result['run_id']}`).", "",
        "## Data", "",
        f"- file: `{Path(config.data_file).name}`; columns: {columns}",
        f"- {result['train_rows']} training rows; {result['held_out_rows']} held-out rows, split with seed "
        f"{result['seed']}", "",
        "## Settings", "", "| setting | value |", "|---|---|",
        *(f"| {name} | {value} |" for name, value in _settings(config, result)),
        f"| trainable parameters | {result['trainable_parameters']:,} of {result['total_parameters']:,} |", "",
        "## Results on the held-out rows", "",
        f"Headline metric: **{result['metric']}** ({better} is better).", "",
        "| metric | base | fine-tuned |", "|---|---|---|",
        *(f"| {name} | {base.get(name, float('nan')):.4f} | {value:.4f} |" for name, value in tuned.items()), "",
        *_comparison_lines(result.get("comparison")),
        *(line for w in result.get("warnings", []) for line in (f"Warning about the data: {w}", "")),
        *task.card_lines(result), "",
        f"Training took {result['training_time_s']:.0f} s ({result['steps']} steps, "
        f"{result['samples_per_s']:.0f} samples/s).", "",
        "## Reproduce", "",
        f"`python -m pipelines.finetune config.json` with the settings above and seed {result['seed']} "
        "(the run folder keeps the exact config and a copy of the data).", "",
    ]
    return "\n".join(lines)


def _comparison_lines(comparison: dict | None) -> list[str]:
    """The paired comparison of base and fine-tuned on the same rows, in words, with its intervals."""
    if not comparison:
        return []
    (first, a), (second, b) = comparison["intervals"].items()
    scale, tally = comparison["points_scale"], comparison["tally"]
    return [comparison["summary"], "",
            f"{comparison['metric']} with {a['confidence']:.0%} bootstrap intervals ({comparison['resamples']} "
            f"resamples of the {comparison['rows']} rows): {first} {interval_text(a, scale)}, {second} "
            f"{interval_text(b, scale)}. Per row, {second} is better on {tally['wins']}, worse on "
            f"{tally['losses']} and the same on {tally['ties']}.", ""]


def _settings(config: FinetuneConfig, result: dict) -> list[tuple[str, object]]:
    mode = f"top-k ({config.top_k_layers} layers)" if config.mode == "top-k" else config.mode
    return [("task", config.task), ("mode", mode), ("learning_rate", config.effective_learning_rate),
            ("epochs", config.epochs), ("batch_size", config.batch_size),
            ("gradient_accumulation_steps", config.gradient_accumulation_steps),
            ("max_length", result["facts"].get("max_length", config.max_length)),
            ("warmup_ratio", config.warmup_ratio), ("weight_decay", config.weight_decay),
            ("mixed_precision", result["mixed_precision"]), ("processes", result["processes"]), ("seed", config.seed)]
