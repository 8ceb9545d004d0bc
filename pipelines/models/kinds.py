"""The tasks, and the kinds of model that can serve them: what a checkpoint's config says it is.

A kind decides the code path that runs a model (span extraction, sentence ranking, classification,
seq2seq or causal generation); `kind_from_config` reads it from a config.json without importing
transformers.
"""

from __future__ import annotations

import json
from pathlib import Path

TASKS = ("qa", "sentiment", "summarization", "translation", "generation")
TASK_TITLES = {
    "qa": "Question answering",
    "sentiment": "Sentiment",
    "summarization": "Summarization",
    "translation": "Translation",
    "generation": "Text generation",
}

# What a checkpoint's architecture is, which decides the code path that runs it.
EXTRACTIVE_QA = "extractive-qa"  # *ForQuestionAnswering: span start/end logits
SENTENCE_ENCODER = "sentence-encoder"  # a bare encoder: ranks sentences by embedding similarity
CLASSIFIER = "classifier"  # *ForSequenceClassification
SEQ2SEQ = "seq2seq"  # encoder-decoder LM: BART, T5, Marian, NLLB/M2M
CAUSAL_LM = "causal-lm"  # decoder-only LM; with a chat template it is an instruct model
MASKED_LM = "masked-lm"  # an encoder with its masked-LM head: a domain-adapted base to fine-tune further

# Which kinds of model can serve which task. A causal LM serves every task through a task prompt,
# the route transformers 5 itself recommends now that the task pipelines are gone.
TASKS_BY_KIND = {
    EXTRACTIVE_QA: ("qa",),
    SENTENCE_ENCODER: ("qa",),
    CLASSIFIER: ("sentiment",),
    SEQ2SEQ: ("summarization", "translation", "qa"),
    CAUSAL_LM: ("qa", "sentiment", "summarization", "translation", "generation"),
    MASKED_LM: (),  # no tab runs it: it is a base for fine-tuning (finetune/tasks/masked_lm.py)
}

# Among models on disk, a task-specific model beats a general one: a fine-tuned classifier is the
# better sentiment default than an instruct LM, and offline the sentence ranker is the QA default
# (its top sentence held the answer for 83% of held-out SQuAD-style questions, while SmolLM2-135M
# answering directly reached a token F1 of 0.09).
KIND_PREFERENCE = (EXTRACTIVE_QA, CLASSIFIER, SENTENCE_ENCODER, SEQ2SEQ, CAUSAL_LM, MASKED_LM)


def kind_from_config(config: dict, folder: Path | None = None) -> str | None:
    """The kind of model a config.json describes, or None if the app cannot run it."""
    architectures = config.get("architectures") or []
    arch = architectures[0] if architectures else ""
    if arch.endswith("ForQuestionAnswering"):
        return EXTRACTIVE_QA
    if arch.endswith("ForSequenceClassification"):
        return CLASSIFIER
    if config.get("is_encoder_decoder") or arch.endswith(("ForConditionalGeneration", "MTModel")):
        return SEQ2SEQ
    if arch.endswith(("ForCausalLM", "LMHeadModel")):
        return CAUSAL_LM
    if arch.endswith("ForMaskedLM"):
        return MASKED_LM
    if folder is not None and (folder / "modules.json").is_file():
        return SENTENCE_ENCODER  # a sentence-transformers folder
    if arch.endswith("Model") and config.get("model_type") in {"bert", "roberta", "mpnet", "xlm-roberta",
                                                               "distilbert", "deberta-v2", "electra"}:
        return SENTENCE_ENCODER
    return None


def kind_from_folder(folder: Path) -> str | None:
    config_file = folder / "config.json"
    if not config_file.is_file():
        return None
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError):
        return None
    return kind_from_config(config, folder)
