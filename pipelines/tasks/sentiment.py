"""Sentiment: how positive or negative a text is, for one text or many lines at once (a CSV file:
`pipelines.tasks.sentiment_csv`).

Two kinds of model do it, and the result has the same shape for both:
- a sequence classifier (DistilBERT SST-2, a MiniLM fine-tuned in the fine-tune tab): texts run in
  batches, the labels and their order come from the checkpoint's ``config.id2label``;
- a causal LM (SmolLM2): asked for the sentiment in a prompt, each label is scored by how likely the
  model is to answer with it (`lm.label_probabilities_batch`), calibrated by its answers to texts
  with no content.

>>> classify_sentiment("I loved this film, it was wonderful",
...                    "SmolLM2-135M-Instruct (packaged)").to_dict()  # doctest: +SKIP
{'labels': [{'label': 'positive', 'score': 0.798...}, {'label': 'negative', 'score': 0.201...}], 'model': ...}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from pipelines.models import catalog, kinds, lm, loading
from pipelines.models.catalog import ModelSpec
from pipelines.runtime.microbatch import MicroBatcher
from pipelines.text.inputs import require_text

TASK = "sentiment"
# Single texts from concurrent requests that queue while their model is busy share its next forward
# pass, up to this many (pipelines.runtime.microbatch): about 1.4x the requests/s with 16 concurrent callers here.
MICRO_BATCH = 16
MAX_LINES = 1_000  # pasted lines; a bigger job belongs in a CSV upload, which reports progress
MAX_CSV_ROWS = 20_000  # a few minutes for a classifier on a CPU; much longer on an LM
# An LM answers the same two-way question the classifiers we offer and fine-tune were trained on
# (SST-2, Rotten Tomatoes), so the compare tab sets like against like. Offered "neutral" as well,
# SmolLM2-135M chose it for 1 of 200 Rotten Tomatoes snippets and accuracy stayed put (0.70).
LM_LABELS = ("positive", "negative")
LM_PROMPT = ("What is the sentiment of the following text? Answer with one word: positive or negative.\n\n"
             "Text: {text}")
# Contextual calibration (Zhao et al. 2021, "Calibrate before use"): SmolLM2 leans to "positive"
# whatever it reads (160 of those 200 snippets, 58% of them positive: accuracy 0.695). Dividing by
# its answer to texts with no content, then renormalising, lifted accuracy to 0.795.
CONTENT_FREE_TEXTS = ("N/A", "", "[MASK]")
LM_MAX_TEXT_TOKENS = 512  # the opening of a long text decides; the prompt must fit the context

# A request of a few words in all runs on float32 weights even where bf16 is fast: a MiniLM pass over
# under ~12 tokens is set by the fixed cost of each operation, not by its matmuls, and bf16 weights ran
# it 3-7% slower than float32 (0.90-0.97x transformers 4.57, against 0.95-1.03x in float32; from
# about 14 words bf16 is ahead, 1.3x on a review). docs/experiments.md has the measurements.
SMALL_REQUEST_WORDS = 8

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class LabelScore:
    label: str
    score: float


@dataclass(frozen=True)
class SentimentResult:
    text: str
    labels: tuple[LabelScore, ...]  # every label of the model, highest score first
    model: str
    precision: str = "float32"  # what the weights computed in: "bf16" or "float32" (loading.inference_precision)

    def to_dict(self) -> dict:
        return {"labels": [{"label": s.label, "score": s.score} for s in self.labels], "model": self.model,
                "precision": self.precision}


def classify_sentiment(text: str, model: str | ModelSpec | None = None) -> SentimentResult:
    """One text's label probabilities; concurrent calls for the same model are batched together."""
    key = model if isinstance(model, ModelSpec) else (model or "").strip() or None
    return _SINGLE_TEXTS(key, require_text(text, "text"))


def classify_lines(texts: list[str], model: str | ModelSpec | None = None, batch_size: int = 32) -> list[SentimentResult]:
    """One result per non-empty line, in the order given; empty lines are dropped."""
    lines = [require_text(t, "line") for t in texts if t and t.strip()]
    if not lines:
        raise ValueError("There is no text to classify: type or paste at least one line.")
    if len(lines) > MAX_LINES:
        raise ValueError(f"There are {len(lines):,} lines; at most {MAX_LINES:,} can be classified at once. "
                         f"Upload them as a CSV file instead (up to {MAX_CSV_ROWS:,} rows).")
    loaded = model_for(lines, model)
    labels, probs = probabilities(loaded, lines, batch_size)
    return [_result(text, labels, row, loaded) for text, row in zip(lines, probs)]


_SINGLE_TEXTS = MicroBatcher(lambda model, texts: classify_lines(texts, model), max_size=MICRO_BATCH)


def model_for(lines: list[str], model: str | ModelSpec | None) -> loading.LoadedModel:
    """The copy of the model these lines run on, loaded: a classifier's float32 copy for a request of
    fewer than SMALL_REQUEST_WORDS words where its default is bf16 (the result says so)."""
    loaded = load_model(model)
    if loaded.kind == kinds.CLASSIFIER and loaded.precision == "bf16" and \
            sum(len(line.split()) for line in lines) < SMALL_REQUEST_WORDS:
        return loading.load(loaded.spec, precision="float32")
    return loaded


def load_model(model: str | ModelSpec | None) -> loading.LoadedModel:
    loaded = loading.load(catalog.resolve(TASK, model))
    if loaded.kind not in (kinds.CLASSIFIER, kinds.CAUSAL_LM):
        raise ValueError(f"'{loaded.spec.name}' is a {loaded.kind} model: pick a text classifier or a "
                         "language model for sentiment.")
    return loaded


def _result(text: str, labels: Sequence[str], probs: Sequence[float], loaded: loading.LoadedModel) -> SentimentResult:
    ranked = sorted(zip(labels, probs), key=lambda pair: pair[1], reverse=True)  # stable on ties
    return SentimentResult(text=text, labels=tuple(LabelScore(l, float(p)) for l, p in ranked),
                           model=loaded.spec.name, precision=loaded.precision)


def probabilities(loaded: loading.LoadedModel, texts: list[str], batch_size: int,
                   progress: Progress | None = None) -> tuple[tuple[str, ...], list[list[float]]]:
    """The model's labels, and one probability per label for each text, in the texts' order."""
    if batch_size < 1:
        raise ValueError(f"Batch size must be at least 1; got {batch_size}.")
    if loaded.kind == kinds.CLASSIFIER:
        return _classifier_probabilities(loaded, texts, batch_size, progress)
    return LM_LABELS, _lm_probabilities(loaded, texts, batch_size, progress)


# --- sequence classifiers -------------------------------------------------------------------------

def _classifier_probabilities(loaded: loading.LoadedModel, texts: list[str], batch_size: int,
                               progress: Progress | None) -> tuple[tuple[str, ...], list[list[float]]]:
    config, tokenizer = loaded.model.config, loaded.tokenizer
    labels = tuple(str(config.id2label.get(i, f"LABEL_{i}")) for i in range(config.num_labels))
    encoded = _preprocess(loaded, texts)
    # Shortest first, so each batch pads to a length close to all of its members'.
    order = sorted(range(len(texts)), key=lambda i: len(encoded["input_ids"][i]))
    probs: list[list[float]] = [[] for _ in texts]
    for start in range(0, len(order), batch_size):
        members = order[start: start + batch_size]
        batch = tokenizer.pad({k: [v[i] for i in members] for k, v in encoded.items()},
                              padding="longest", return_tensors="pt")
        for i, row in zip(members, _postprocess(_forward(loaded, batch), config)):
            probs[i] = row
        if progress is not None:
            progress(min(start + batch_size, len(order)), len(order))
    return labels, probs


def _preprocess(loaded: loading.LoadedModel, texts: list[str]) -> dict[str, list[list[int]]]:
    """Token ids per text, unpadded, cut to what the model can read."""
    limit = min(loaded.tokenizer.model_max_length,
                getattr(loaded.model.config, "max_position_embeddings", None) or 10**9)
    return dict(loaded.tokenizer(texts, truncation=True, max_length=limit))


def _forward(loaded: loading.LoadedModel, batch) -> torch.Tensor:
    with torch.inference_mode():
        return loaded.model(**{k: v.to(loaded.device) for k, v in batch.items()}).logits.float()


def _postprocess(logits: torch.Tensor, config) -> list[list[float]]:
    # As the text-classification pipeline does: independent labels (multi-label, or a single score)
    # get a sigmoid each, so their scores need not sum to 1; exclusive labels share a softmax.
    if config.problem_type == "multi_label_classification" or config.num_labels == 1:
        return torch.sigmoid(logits).tolist()
    return torch.softmax(logits, dim=-1).tolist()


# --- causal LMs -------------------------------------------------------------------------------------

def _lm_probabilities(loaded: loading.LoadedModel, texts: list[str], batch_size: int,
                      progress: Progress | None) -> list[list[float]]:
    return lm_label_probabilities(loaded, texts, LM_LABELS, batch_size, progress)


def lm_label_probabilities(loaded: loading.LoadedModel, texts: list[str], labels: Sequence[str], batch_size: int = 32,
                           progress: Progress | None = None) -> list[list[float]]:
    """A causal LM as a zero-shot classifier: per text, one calibrated probability per label, in the labels'
    order. Positive/negative gets the sentiment prompt (what the Sentiment tab answers); any other label
    set is listed in a prompt of its own."""
    if set(labels) == set(LM_LABELS):
        question, answer = LM_PROMPT.removesuffix("Text: {text}"), "Sentiment:"
    else:
        question, answer = ("Which of these labels fits the following text best? Answer with one of: "
                            f"{', '.join(labels)}.\n\n"), "Label:"
    # An instruct model starts its reply with the label; a plain LM writes it after "Sentiment:" (or
    # "Label:"), so the word it would write carries a leading space (one token, where the bare word is
    # often two).
    suffix = "" if loaded.is_instruct else "\n\n" + answer
    candidates = list(labels) if loaded.is_instruct else [" " + label for label in labels]

    def prompt(text: str) -> str:  # concatenated, not str.format: labels and texts may hold braces
        return f"{question}Text: {text}{suffix}"

    prompts = [prompt(_clip(loaded.tokenizer, text)) for text in texts]
    bias = torch.tensor(lm.label_probabilities_batch(loaded, [prompt(t) for t in CONTENT_FREE_TEXTS],
                                                     candidates)).mean(0)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths pad less
    probs: list[list[float]] = [[] for _ in texts]
    for start in range(0, len(order), batch_size):
        members = order[start: start + batch_size]
        rows = torch.tensor(lm.label_probabilities_batch(loaded, [prompts[i] for i in members], candidates))
        calibrated = rows / bias
        for i, row in zip(members, (calibrated / calibrated.sum(-1, keepdim=True)).tolist()):
            probs[i] = row
        if progress is not None:
            progress(min(start + batch_size, len(order)), len(order))
    return probs


def _clip(tokenizer, text: str) -> str:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return text if len(ids) <= LM_MAX_TEXT_TOKENS else tokenizer.decode(ids[:LM_MAX_TEXT_TOKENS])
