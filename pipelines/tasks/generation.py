"""Text generation: a causal LM continues a prompt, or answers it when it is an instruct model.

Instruct models (a chat template in their tokenizer, such as SmolLM2-Instruct) get the prompt as a
user message, with an optional system prompt; plain LMs continue the prompt text itself.
`stream_text` is what the tab shows while tokens arrive; `generate_text` is the same run, whole.

>>> result = generate_text("Name three colours.", "SmolLM2-135M-Instruct (packaged)",
...                        lm.GenerationSettings(max_new_tokens=20, temperature=0.0))  # doctest: +SKIP
>>> result.to_dict()  # doctest: +SKIP
{'text': "1. Red: This is the most obvious colour and it's also the most vibrant one.", 'model': ...}
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pipelines.models import catalog, kinds, lm, loading
from pipelines.models.catalog import ModelSpec
from pipelines.text.inputs import require_text

TASK = "generation"


@dataclass(frozen=True)
class GenerationResult:
    text: str
    model: str  # the name the picker shows
    precision: str = "float32"  # what the weights computed in: "bf16" or "float32" (loading.inference_precision)

    def to_dict(self) -> dict:
        return {"text": self.text, "model": self.model, "precision": self.precision}


class TextStream:
    """The texts of one generation as they grow (an iterator), and which model and precision write them."""

    def __init__(self, texts: Iterator[str], loaded: loading.LoadedModel):
        self._texts, self.model, self.precision = texts, loaded.spec.name, loaded.precision

    def __iter__(self) -> TextStream:
        return self

    def __next__(self) -> str:
        return next(self._texts)

    def close(self) -> None:
        self._texts.close()

    def result(self, text: str) -> GenerationResult:
        return GenerationResult(text, self.model, self.precision)


def stream_text(prompt: str, model: str | ModelSpec | None = None, settings: lm.GenerationSettings = lm.GenerationSettings(),
                system_prompt: str | None = None) -> TextStream:
    """The generated text so far, growing as tokens arrive, stripped of surrounding space.

    Inputs are checked and the model loaded when this is called, so a bad prompt raises here rather
    than on the first iteration. Closing the iterator early stops generation at the next token.
    """
    loaded, prompt, system_prompt = _prepare(prompt, model, settings, system_prompt)
    return TextStream(_stripped(lm.stream(loaded, prompt, settings, system_prompt)), loaded)


def generate_text(prompt: str, model: str | ModelSpec | None = None, settings: lm.GenerationSettings = lm.GenerationSettings(),
                  system_prompt: str | None = None) -> GenerationResult:
    """The whole generated text at once: the last, longest text `stream_text` would yield."""
    stream = stream_text(prompt, model, settings, system_prompt)
    text = ""
    for text in stream:
        pass
    return stream.result(text)


def _prepare(prompt: str, model: str | ModelSpec | None, settings: lm.GenerationSettings,
             system_prompt: str | None) -> tuple[loading.LoadedModel, str, str | None]:
    prompt = require_text(prompt, "prompt")
    # optional, but held to the same limit as every input: tokenizing megabytes holds a core for seconds
    system_prompt = require_text(system_prompt, "system prompt") if (system_prompt or "").strip() else None
    settings.validated()
    loaded = loading.load(catalog.resolve(TASK, model))
    if loaded.kind != kinds.CAUSAL_LM:  # a Hub id whose kind was only known after loading
        raise ValueError(f"'{loaded.spec.name}' is a {loaded.kind} model, not a language model: pick a "
                         "causal LM such as SmolLM2 for text generation.")
    _check_context(loaded, prompt, system_prompt, settings)
    return loaded, prompt, system_prompt


def _check_context(loaded: loading.LoadedModel, prompt: str, system_prompt: str | None,
                   settings: lm.GenerationSettings) -> None:
    """Refuse a prompt that, with the tokens asked for, does not fit the model's context window:
    past it a model either fails or writes nonsense, after a long wait on a CPU."""
    context = getattr(loaded.model.config, "max_position_embeddings", None)
    if not context:
        return
    prompt_tokens = lm.encode_prompt(loaded, prompt, system_prompt)["input_ids"].shape[1]
    if prompt_tokens + settings.max_new_tokens > context:
        raise ValueError(f"The prompt is {prompt_tokens:,} tokens and {settings.max_new_tokens:,} new tokens "
                         f"were asked for, but '{loaded.spec.name}' reads at most {context:,} tokens. "
                         "Shorten the prompt or lower Max new tokens.")


def _stripped(texts: Iterator[str]) -> Iterator[str]:
    """Each new text stripped of surrounding space, skipping repeats; still a growing prefix, since
    stripping the end of a longer text never removes what a shorter prefix of it kept."""
    shown = ""
    try:
        for text in texts:
            text = text.strip()
            if text != shown:
                shown = text
                yield text
    finally:
        texts.close()  # closing us must close lm.stream at once, which stops its worker thread
