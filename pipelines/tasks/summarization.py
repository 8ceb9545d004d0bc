"""Summarize a document with an encoder-decoder model (BART, T5, ...) or an instruct LM.

transformers 5 has no summarization pipeline any more; this is ours, on `AutoModelForSeq2SeqLM`.
Where 4.57's pipeline handed the model whatever it got (an over-long document overran the model's
position table, or was truncated when asked to be), we never cut text off: a document longer than
the model's input window is split at sentence ends into chunks that each fit, the chunks are
summarized in one batched generate call, and the chunk summaries, joined, are the summary. If that
joined text is itself longer than the window, it is summarized the same way again (map-reduce), at
most `MAX_ROUNDS` rounds in all.

>>> SummarySettings(min_new_tokens=50, max_new_tokens=20).validated()
Traceback (most recent call last):
ValueError: Min new tokens (50) must not exceed max new tokens (20).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from pipelines.models import catalog, kinds, lm, loading, seq2seq
from pipelines.models.catalog import ModelSpec
from pipelines.models.loading import LoadedModel
from pipelines.text.chunking import Counter, chunk_text, decoder_room, input_window, lm_input_window, token_counter
from pipelines.text.inputs import new_tokens_limit, require_range, require_text

MAX_ROUNDS = 3  # map-reduce rounds; each shrinks the text by about window / max_new_tokens
LM_PROMPT = ("Summarize the following text in a few sentences. Write only the summary.\n\n"
             "Text:\n{text}")


@dataclass(frozen=True)
class SummarySettings:
    max_new_tokens: int = 128
    min_new_tokens: int = 0
    num_beams: int = 4  # what 4.57's summarization pipeline used by default
    do_sample: bool = False
    temperature: float = 1.0  # used only when sampling
    top_p: float = 1.0

    def validated(self) -> SummarySettings:
        require_range(self.max_new_tokens, "Max new tokens", 1, new_tokens_limit(1024))
        require_range(self.min_new_tokens, "Min new tokens", 0, 1024)
        if self.min_new_tokens > self.max_new_tokens:
            raise ValueError(f"Min new tokens ({self.min_new_tokens}) must not exceed max new tokens "
                             f"({self.max_new_tokens}).")
        require_range(self.num_beams, "Number of beams", 1, 8)
        if self.do_sample:
            require_range(self.temperature, "Temperature", 0.01, 5.0)
            require_range(self.top_p, "Top-p", 0.01, 1.0)
        return self

    def seq2seq_kwargs(self) -> dict:
        """generate() arguments; a checkpoint's own knobs we do not expose (length penalty,
        no-repeat n-grams) stay as its generation_config sets them."""
        kwargs = dict(max_new_tokens=self.max_new_tokens, num_beams=self.num_beams, do_sample=self.do_sample)
        if self.min_new_tokens:
            kwargs["min_new_tokens"] = self.min_new_tokens
        if self.do_sample:
            kwargs.update(temperature=self.temperature, top_p=self.top_p)
        return kwargs

    def lm_settings(self) -> lm.GenerationSettings:
        """The LM route decodes one sequence per prompt (beams and the minimum length are for
        seq2seq models); greedy unless sampling is on, with the mild repetition penalty small LMs need."""
        return lm.GenerationSettings(max_new_tokens=self.max_new_tokens,
                                     temperature=self.temperature if self.do_sample else 0.0,
                                     top_p=self.top_p, repetition_penalty=1.1)


@dataclass(frozen=True)
class SummaryResult:
    summary: str
    chunks: int  # how many pieces the document was split into (1 if it fit the window)
    model: str
    precision: str = "float32"  # what the weights computed in: "bf16" or "float32" (loading.inference_precision)

    def to_dict(self) -> dict:
        return {"summary": self.summary, "chunks": self.chunks, "model": self.model, "precision": self.precision}


def summarize(text: str, model: str | ModelSpec | None = None,
              settings: SummarySettings = SummarySettings()) -> SummaryResult:
    """Summarize `text` with the model a user picked (a catalogue name, Hub id or local folder)."""
    text = require_text(text, "text to summarize")
    settings = settings.validated()
    loaded = loading.load(catalog.resolve("summarization", model))
    budget = document_budget(loaded, settings)
    count = token_counter(loaded.tokenizer)
    chunks = chunk_text(text, budget, count)
    summary = map_reduce(loaded, chunks, settings, budget, count)
    return SummaryResult(summary=summary, chunks=len(chunks), model=loaded.spec.name, precision=loaded.precision)


def map_reduce(loaded: LoadedModel, chunks: list[str], settings: SummarySettings, budget: int,
               count: Counter) -> str:
    """Summarize the chunks, join their summaries, and repeat while the joined text overflows the window."""
    for _ in range(MAX_ROUNDS):
        summary = " ".join(s for s in summarize_chunks(loaded, chunks, settings) if s)
        if len(chunks) == 1 or not summary:
            return summary
        previous, chunks = chunks, chunk_text(summary, budget, count)
        if len(chunks) == 1:
            return summary
        if sum(count(chunks)) >= sum(count(previous)):
            break  # the summaries are no shorter than what they summarize: another round cannot help
    raise ValueError("The summaries of this document's parts are still longer than the model's input "
                     "window. Lower 'Max new tokens' or shorten the text.")


def summarize_chunks(loaded: LoadedModel, chunks: list[str], settings: SummarySettings) -> list[str]:
    """One summary per chunk, all chunks in one batched generate call."""
    if loaded.kind == kinds.CAUSAL_LM:
        return lm.complete_batch(loaded, [LM_PROMPT.format(text=c) for c in chunks], settings.lm_settings())
    inputs = preprocess(loaded, chunks)
    output_ids = forward(loaded, inputs, settings)
    return seq2seq.decode(loaded, output_ids)


def preprocess(loaded: LoadedModel, chunks: list[str]) -> dict:
    prefix = task_prefix(loaded.model.config)
    batch = loaded.tokenizer([prefix + c for c in chunks], padding=True, return_tensors="pt")
    return {k: v.to(loaded.device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}


def forward(loaded: LoadedModel, inputs: dict, settings: SummarySettings) -> torch.Tensor:
    kwargs = {**seq2seq.checkpoint_params(loaded.model.config, "summarization"), **settings.seq2seq_kwargs()}
    kwargs["max_new_tokens"] = decoder_room(loaded.model.config, kwargs["max_new_tokens"])
    with torch.inference_mode():
        return loaded.model.generate(**inputs, **kwargs)


def task_prefix(config) -> str:
    """'summarize: ' for T5-style models, from the checkpoint's own task parameters when it has them."""
    params = (getattr(config, "task_specific_params", None) or {}).get("summarization") or {}
    if "prefix" in params:
        return params["prefix"]
    if getattr(config, "prefix", None):
        return config.prefix
    return "summarize: " if config.model_type == "t5" else ""


def document_budget(loaded: LoadedModel, settings: SummarySettings) -> int:
    """How many tokens of document one call may read: the window less the prompt, prefix and specials."""
    tok, config = loaded.tokenizer, loaded.model.config
    if loaded.kind == kinds.CAUSAL_LM:
        window = lm_input_window(config, settings.max_new_tokens)
        overhead = len(lm.encode_prompt(loaded, LM_PROMPT.format(text=""))["input_ids"][0])
    else:
        window = input_window(tok, config)
        prefix = tok(task_prefix(config), add_special_tokens=False)["input_ids"]
        overhead = tok.num_special_tokens_to_add() + len(prefix)
    budget = window - overhead - 2  # slack: a chunk's first token can merge with the prefix's last
    if budget < 8:
        raise ValueError(f"'{loaded.spec.name}' has an input window of {window} tokens, too small for "
                         "a summary this long. Lower 'Max new tokens' or pick another model.")
    return budget
