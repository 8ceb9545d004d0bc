"""The model card (README.md) of a fine-tuned model, and the one-line note the model pickers show.

The card records what a reader needs to trust or repeat the result: base model, data, settings, seed,
and base vs fine-tuned metrics on the same held-out rows.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.finetune.config import FinetuneConfig

_BASE_NOTE = {"new": "The base model is scored as training starts, with its new classification head untrained.",
              "kept": "The base model already classified these labels: it is scored with its own head."}



def picker_note(config: FinetuneConfig, result: dict) -> str:
    return (f"Fine-tuned here from {config.base_model} on {result['dataset']} ({result['train_rows']} rows; "
            f"labels: {', '.join(result['labels'])}): held-out accuracy {result['finetuned']['accuracy']:.3f}, "
            f"base {result['base']['accuracy']:.3f}. Run {result['run_id']}.")


def write_model_card(folder: Path, config: FinetuneConfig, result: dict) -> Path:
    path = Path(folder) / "README.md"
    path.write_text(model_card(config, result))
    return path


def model_card(config: FinetuneConfig, result: dict) -> str:
    base, tuned = result["base"], result["finetuned"]
    lines = [
        "---", "library_name: transformers", "pipeline_tag: text-classification",
        "tags: [text-classification, transfer-studio]", "metrics: [accuracy, f1]", "---", "",
        f"# {result['registered_as']}", "",
        f"A text classifier fine-tuned with Transfer Studio from **{config.base_model}** on "
        f"**{result['dataset']}** (run `{result['run_id']}`). It predicts one of: "
        f"{', '.join(f'`{label}`' for label in result['labels'])}.", "",
        "## Data", "",
        f"- file: `{Path(config.data_file).name}`, text column `{result['text_column']}`, "
        f"label column `{result['label_column']}`",
        f"- {result['train_rows']} training rows; {result['held_out_rows']} held-out rows, a stratified split "
        f"with seed {result['seed']}", "",
        "## Settings", "", "| setting | value |", "|---|---|",
        *(f"| {name} | {value} |" for name, value in _settings(config, result)),
        f"| trainable parameters | {result['trainable_parameters']:,} of {result['total_parameters']:,} |", "",
        "## Results on the held-out rows", "",
        _BASE_NOTE[result.get("base_head", "new")], "",
        "| metric | base | fine-tuned |", "|---|---|---|",
        f"| accuracy | {base['accuracy']:.4f} | {tuned['accuracy']:.4f} |",
        f"| macro-F1 | {base['macro_f1']:.4f} | {tuned['macro_f1']:.4f} |", "",
        "| label | precision | recall | F1 | held-out rows |", "|---|---|---|---|---|",
        *(f"| {c['label']} | {c['precision']:.4f} | {c['recall']:.4f} | {c['f1']:.4f} | {c['support']} |"
          for c in tuned["per_class"]), "",
        f"Training took {result['training_time_s']:.0f} s ({result['steps']} steps, "
        f"{result['samples_per_s']:.0f} samples/s).", "",
        "## Use", "", "```python", "from transformers import pipeline", "",
        f'classifier = pipeline("text-classification", model="path/to/{result["registered_as"]}")',
        'classifier("A quietly moving film.")', "```", "",
        "## Reproduce", "",
        f"`python -m pipelines.finetune config.json` with the settings above and seed {result['seed']} "
        "(the run folder keeps the exact config and a copy of the data).", "",
    ]
    return "\n".join(lines)


def _settings(config: FinetuneConfig, result: dict) -> list[tuple[str, object]]:
    mode = f"top-k ({config.top_k_layers} layers)" if config.mode == "top-k" else config.mode
    return [("mode", mode), ("learning_rate", config.effective_learning_rate), ("epochs", config.epochs),
            ("batch_size", config.batch_size), ("gradient_accumulation_steps", config.gradient_accumulation_steps),
            ("max_length", config.max_length), ("warmup_ratio", config.warmup_ratio),
            ("weight_decay", config.weight_decay), ("mixed_precision", result["mixed_precision"]),
            ("seed", config.seed)]
