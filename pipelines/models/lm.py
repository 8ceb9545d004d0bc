"""Running a causal language model: chat formatting, streamed generation, and label scoring.

The text-generation tab uses this directly, and every other task uses it to run on an instruct model
with a task prompt (what transformers 5 recommends now that its task pipelines are gone).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

from pipelines.models.loading import LoadedModel
from pipelines.text.inputs import new_tokens_limit, require_range


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 128
    temperature: float = 0.7  # 0 means greedy decoding: the same output every time
    top_p: float = 0.9
    top_k: int = 50
    repetition_penalty: float = 1.1  # small models loop without it
    stop: tuple[str, ...] = ()  # generation ends at the first of these; it is not included

    def validated(self) -> GenerationSettings:
        require_range(self.max_new_tokens, "Max new tokens", 1, new_tokens_limit(2048))
        require_range(self.temperature, "Temperature", 0.0, 5.0)
        require_range(self.top_p, "Top-p", 0.01, 1.0)
        require_range(self.top_k, "Top-k", 0, 1000)
        require_range(self.repetition_penalty, "Repetition penalty", 0.5, 3.0)
        return self

    def generate_kwargs(self) -> dict:
        sampling = self.temperature > 0
        kwargs = dict(max_new_tokens=int(self.max_new_tokens), do_sample=sampling,
                      repetition_penalty=float(self.repetition_penalty), use_cache=True)
        if sampling:
            kwargs.update(temperature=float(self.temperature), top_p=float(self.top_p),
                          top_k=int(self.top_k))
        else:  # unset the sampling knobs a checkpoint's generation_config may carry
            kwargs.update(temperature=None, top_p=None, top_k=None)
        return kwargs


GREEDY = GenerationSettings(temperature=0.0, repetition_penalty=1.0)


def encode_prompt(lm: LoadedModel, prompt: str, system: str | None = None) -> dict:
    """Token ids for a prompt: through the chat template for instruct models, as plain text otherwise."""
    ids = torch.tensor([prompt_ids(lm.tokenizer, prompt, system)], device=lm.device)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def prompt_ids(tokenizer, prompt: str, system: str | None = None) -> list[int]:
    """The ids an LM reads before it answers `prompt`: the chat template's user turn and the start of
    the assistant's for instruct models, the text itself otherwise. Fine-tuning formats its prompts
    with this too, so a tuned model is asked in the tabs exactly as it was trained."""
    if getattr(tokenizer, "chat_template", None):
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": prompt}]
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return tokenizer(text, add_special_tokens=False)["input_ids"]
    return tokenizer((system + "\n\n" + prompt) if system else prompt)["input_ids"]


class _StopWhenSet(StoppingCriteria):
    """Lets the reading side end generation: a stop text was seen, or the client went away."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs) -> bool:
        return self.event.is_set()


def stream(lm: LoadedModel, prompt: str, settings: GenerationSettings = GenerationSettings(),
           system: str | None = None) -> Iterator[str]:
    """Yield the generated text so far, growing as tokens arrive; ends at max tokens, EOS or a stop text."""
    settings = settings.validated()
    inputs = encode_prompt(lm, prompt, system)
    streamer = TextIteratorStreamer(lm.tokenizer, skip_prompt=True, skip_special_tokens=True)
    stop = threading.Event()
    kwargs = dict(**inputs, **settings.generate_kwargs(), streamer=streamer,
                  pad_token_id=lm.tokenizer.pad_token_id,
                  stopping_criteria=StoppingCriteriaList([_StopWhenSet(stop)]))
    errors: list[Exception] = []
    worker = threading.Thread(target=_generate_quietly, args=(lm, kwargs, streamer, errors), daemon=True)
    worker.start()
    text = shown = ""
    try:
        for piece in streamer:
            text += piece
            cut = _cut_at_stop(text, settings.stop)
            # Hold back a tail that could be the start of a stop text, so what we show only ever grows.
            visible = cut if cut is not None else text[: len(text) - _stop_prefix_len(text, settings.stop)]
            if len(visible) > len(shown):
                shown = visible
                yield shown
            if cut is not None:
                return
    finally:
        stop.set()  # also reached when the consumer closes us early
        worker.join()
    if errors:  # a failed generate must reach the caller, not end the stream looking complete
        raise errors[0]
    if len(text) > len(shown):
        yield text  # the held-back tail was not a stop text after all


def _generate_quietly(lm: LoadedModel, kwargs: dict, streamer: TextIteratorStreamer,
                      errors: list[Exception]) -> None:
    try:
        with torch.inference_mode():
            lm.model.generate(**kwargs)
    except Exception as err:  # noqa: BLE001 (handed to the reading thread, which re-raises it)
        errors.append(err)
    finally:
        streamer.end()  # never leave the reader waiting, even if generate raised


def _stop_prefix_len(text: str, stops: tuple[str, ...]) -> int:
    """Length of the longest end of `text` that is the beginning of a stop text (0 if none)."""
    ends = [n for s in stops for n in range(min(len(s) - 1, len(text)), 0, -1) if text.endswith(s[:n])]
    return max(ends, default=0)


def _cut_at_stop(text: str, stops: tuple[str, ...]) -> str | None:
    hits = [text.index(s) for s in stops if s and s in text]
    return text[: min(hits)] if hits else None


def complete(lm: LoadedModel, prompt: str, settings: GenerationSettings = GREEDY,
             system: str | None = None) -> str:
    """The whole generated text at once (no streaming), stripped."""
    settings = settings.validated()
    inputs = encode_prompt(lm, prompt, system)
    with torch.inference_mode():
        out = lm.model.generate(**inputs, **settings.generate_kwargs(),
                                pad_token_id=lm.tokenizer.pad_token_id)
    text = lm.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    return (_cut_at_stop(text, settings.stop) or text).strip()


def complete_batch(lm: LoadedModel, prompts: list[str], settings: GenerationSettings = GREEDY,
                   system: str | None = None) -> list[str]:
    """`complete` for several prompts in one generate call (left-padded), answers in prompt order.

    Each answer is cut at the first stop text that follows its first non-blank character: a model
    that opens with a blank line has not finished yet."""
    settings = settings.validated()
    rows = [encode_prompt(lm, prompt, system)["input_ids"][0] for prompt in prompts]
    # left padding: every prompt ends where its answer starts
    input_ids, attention = padded(rows, lm.tokenizer.pad_token_id or 0, left=True)
    width = input_ids.shape[1]
    with torch.inference_mode():
        out = lm.model.generate(input_ids=input_ids, attention_mask=attention,
                                **settings.generate_kwargs(), pad_token_id=lm.tokenizer.pad_token_id or 0)
    texts = [t.strip() for t in lm.tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)]
    return [(text if (cut := _cut_at_stop(text, settings.stop)) is None else cut).strip() for text in texts]


def padded(rows: list[torch.Tensor], pad_id: int, left: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows of different lengths as one (rows, longest) batch and its attention mask, padded
    on the left (prompts whose continuations must all start at the last position) or the right."""
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, device=rows[0].device)
    attention = torch.zeros_like(input_ids)
    for i, row in enumerate(rows):
        place = slice(width - len(row), width) if left else slice(0, len(row))
        input_ids[i, place] = row
        attention[i, place] = 1
    return input_ids, attention


def label_probabilities(lm: LoadedModel, prompt: str, labels: list[str],
                        system: str | None = None) -> list[float]:
    """P(label | prompt) for each label, from the model's own likelihood of writing that label next.

    Each label is scored as the sum of its tokens' log-probabilities after the (chat-formatted)
    prompt, then the scores are normalised over the labels. One batched forward pass covers all labels.
    """
    prefix = encode_prompt(lm, prompt, system)["input_ids"][0]
    label_ids = [lm.tokenizer(label, add_special_tokens=False)["input_ids"] for label in labels]
    rows = [torch.cat([prefix, torch.tensor(ids, device=prefix.device)]) for ids in label_ids]
    # right padding: the prefix sits at the same positions in every row
    input_ids, attention = padded(rows, lm.tokenizer.pad_token_id or 0, left=False)
    with torch.inference_mode():
        logits = lm.model(input_ids=input_ids, attention_mask=attention).logits.float()
    logprobs = torch.log_softmax(logits, dim=-1)
    scores = []
    for i, ids in enumerate(label_ids):
        positions = torch.arange(len(prefix) - 1, len(prefix) - 1 + len(ids), device=prefix.device)
        targets = torch.tensor(ids, device=prefix.device)
        scores.append(logprobs[i, positions, targets].sum())
    return torch.softmax(torch.stack(scores), dim=0).tolist()


def label_probabilities_batch(lm: LoadedModel, prompts: list[str], labels: list[str],
                              system: str | None = None) -> list[list[float]]:
    """`label_probabilities` for several prompts, in prompt order.

    When every label is one token (the usual case: "positive", "negative"), one left-padded forward
    pass over the prompts alone scores them all, keeping only the last position's logits: half the
    work of writing each label out, and no (prompts, length, vocabulary) tensor in memory. Labels of
    several tokens go through `label_probabilities` prompt by prompt.
    """
    label_ids = [lm.tokenizer(label, add_special_tokens=False)["input_ids"] for label in labels]
    if any(len(ids) != 1 for ids in label_ids):
        return [label_probabilities(lm, prompt, labels, system) for prompt in prompts]
    rows = [encode_prompt(lm, prompt, system)["input_ids"][0] for prompt in prompts]
    # left padding: every prompt's next token is read at the last position
    input_ids, attention = padded(rows, lm.tokenizer.pad_token_id or 0, left=True)
    # Positions count from each prompt's first real token, as if it were alone (what generate does too).
    kwargs = dict(position_ids=(attention.cumsum(-1) - 1).clamp(min=0))
    if lm.model._supports_logits_to_keep():
        kwargs["logits_to_keep"] = 1
    with torch.inference_mode():
        logits = lm.model(input_ids=input_ids, attention_mask=attention, **kwargs).logits[:, -1].float()
    scores = torch.log_softmax(logits, dim=-1)[:, [ids[0] for ids in label_ids]]
    return torch.softmax(scores, dim=-1).tolist()
