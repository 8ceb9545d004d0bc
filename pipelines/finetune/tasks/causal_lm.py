"""Causal language modelling: a decoder-only LM (SmolLM2, Llama, GPT-2, ...) learns from one of two
kinds of rows.

- **Prompt/response pairs** (source and target columns): each source becomes a prompt (config.prompt
  with {source}, else the prompt the purpose's tab uses, so the tuned model is asked there exactly as
  it was trained), formatted with the model's chat template; the loss is on the response tokens only.
  This is how summarization and translation are adapted offline with the instruct LM.
- **Plain text** (a text column): the texts are tokenised, joined and cut into blocks of max_length
  tokens; the loss is on every token, and the held-out blocks' perplexity is the headline.

LoRA (config.lora) is the usual way on a CPU; the adapters are merged into the weights when the run
saves. A source too long for the window is cut, and counted.
"""

from __future__ import annotations

import datasets

from pipelines.finetune import guardrails
from pipelines.finetune.config import FinetuneConfig
from pipelines.finetune.tasks.base import Prepared, Role, random_split, require_text_cells
from pipelines.finetune.tasks.generative import (SOURCE_NAMES, TARGET_NAMES, GenerativeTask, PadCollator,
                                                 pair_summary, read_pairs)
from pipelines.models import kinds
from pipelines.text.columns import TEXT_NAMES

MIN_BLOCKS = 4


class CausalLM(GenerativeTask):
    name = "causal-lm"
    title = "Causal LM (prompt/response pairs, or plain text)"
    roles = (Role("source", "Prompt / source column", SOURCE_NAMES, required=False),
             Role("target", "Response / target column", TARGET_NAMES, required=False),
             Role("text", "Or: plain text column", TEXT_NAMES, required=False, free_text=True))
    purpose = "generation"
    peft_task_type = "CAUSAL_LM"
    model_words = "a causal LM"
    default_max_length = 256
    saved_kind = kinds.CAUSAL_LM
    base_kinds = (kinds.CAUSAL_LM,)
    default_base = "SmolLM2-135M-Instruct (packaged)"

    def guess_columns(self, table: datasets.Dataset) -> dict[str, str | None]:
        guesses = super().guess_columns(table)
        if guesses["source"] and guesses["target"]:
            guesses["text"] = None  # pairs: the text role stays empty
        else:
            guesses["source"] = guesses["target"] = None
        return guesses

    def read_rows(self, table: datasets.Dataset, columns: dict[str, str], file_name: str) -> datasets.Dataset:
        if "source" in columns and "target" in columns:
            return read_pairs(table, columns, file_name)
        if "text" not in columns:
            raise ValueError("Choose a prompt and a response column (pairs), or a text column (plain text).")
        texts = require_text_cells(table[columns["text"]], columns["text"], "text")
        return datasets.Dataset.from_dict({"text": texts})

    def summary(self, rows: datasets.Dataset) -> dict[str, int]:
        if "source" in rows.column_names:
            return pair_summary(rows)
        return {"texts": len(rows), "words": sum(len(t.split()) for t in rows["text"])}

    def prepare(self, rows: datasets.Dataset, base, config: FinetuneConfig) -> Prepared:
        from pipelines.finetune.model import load_with_head

        model, tokenizer = load_with_head(base, "AutoModelForCausalLM", "language modelling")
        if tokenizer.eos_token_id is None:
            raise ValueError(f"'{base.spec.name}' has no end-of-text token to end a response with; pick another LM.")
        max_length = min(config.max_length or self.default_max_length,
                         getattr(model.config, "max_position_embeddings", None) or 10**9)
        facts = {"max_length": max_length, "max_target_length": config.max_target_length, "purpose": self.purpose,
                 "max_new_tokens": config.max_new_tokens, "truncated_sources": 0, "truncated_targets": 0}
        train, held_out = random_split(rows, config)
        if "source" in rows.column_names:
            encode = _PairEncoder(tokenizer, config, self.purpose, max_length, facts)
            train_features, held, context = encode(train, False), encode(held_out, True), held_out
            facts["shape"] = "prompt/response pairs"
        else:
            train_features = _blocks(tokenizer, train["text"], max_length)
            held, context = _held_out_blocks(tokenizer, held_out["text"], max_length, config.max_new_tokens)
            facts.update(shape="plain text", max_new_tokens=min(config.max_new_tokens, max_length // 2))
            if len(train_features) < MIN_BLOCKS:
                raise ValueError(f"The training texts make {len(train_features)} blocks of {max_length} tokens; "
                                 f"at least {MIN_BLOCKS} are needed. Add text, or lower max_length.")
        order = sorted(range(len(held)), key=lambda i: len(held[i]["input_ids"]))
        collate = PadCollator(tokenizer.pad_token_id)
        return Prepared(model=model, tokenizer=tokenizer, train=train_features,
                        train_lengths=[len(ids) for ids in train_features["input_ids"]],
                        held_out=held.add_column("example", list(range(len(held)))).select(order),
                        collate=collate, eval_collate=collate, train_rows=len(train), held_out_rows=len(context),
                        context=context, facts=facts, warnings=guardrails.check(self, rows, train, held_out))

    def token_losses(self, model, batch):
        import torch

        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1].float()
        labels = batch["labels"][:, 1:]
        chosen = labels != -100
        losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels.clamp(min=0), reduction="none")
        return (losses * chosen).sum(1), chosen.sum(1)

    def generate(self, model, batch, prepared: Prepared):
        prompts = batch["prompt_ids"]
        out = model.generate(input_ids=prompts, attention_mask=batch["prompt_attention_mask"], do_sample=False,
                             max_new_tokens=prepared.facts["max_new_tokens"], num_beams=1,
                             pad_token_id=prepared.tokenizer.pad_token_id)
        return out[:, prompts.shape[1]:]


class _PairEncoder:
    """(source, target) rows as prompt + response token ids, the loss on the response only."""

    def __init__(self, tokenizer, config: FinetuneConfig, purpose: str, max_length: int, facts: dict):
        self.tokenizer, self.config, self.purpose, self.max_length, self.facts = (
            tokenizer, config, purpose, max_length, facts)
        self.overhead = len(self.prompt_ids(""))

    def prompt_text(self, source: str) -> str:
        if self.config.prompt is not None:
            return self.config.prompt.replace("{source}", source)
        if self.purpose == "summarization":
            from pipelines.tasks.summarization import LM_PROMPT

            return LM_PROMPT.format(text=source)
        if self.purpose == "translation":
            from pipelines.tasks.translation import lm_prompt

            return lm_prompt(source, self.config.source_lang, self.config.target_lang)
        return source

    def prompt_ids(self, source: str) -> list[int]:
        from pipelines.models.lm import prompt_ids

        return prompt_ids(self.tokenizer, self.prompt_text(source))

    def __call__(self, table: datasets.Dataset, with_prompts: bool) -> datasets.Dataset:
        tok, eos = self.tokenizer, self.tokenizer.eos_token_id
        columns = {"input_ids": [], "labels": [], **({"prompt_ids": []} if with_prompts else {})}
        for source, target in zip(table["source"], table["target"]):
            response = tok(target, add_special_tokens=False)["input_ids"]
            if len(response) + 1 > self.config.max_target_length:
                self.facts["truncated_targets"] += 1
                response = response[:self.config.max_target_length - 1]
            response.append(eos)
            room = self.max_length - self.overhead - len(response)
            source_ids = tok(source, add_special_tokens=False)["input_ids"]
            if len(source_ids) > room:  # cut the source, not the instructions or the answer
                self.facts["truncated_sources"] += 1
                source = tok.decode(source_ids[:max(room, 1)])
            prompt = self.prompt_ids(source)
            columns["input_ids"].append(prompt + response)
            columns["labels"].append([-100] * len(prompt) + response)
            if with_prompts:
                columns["prompt_ids"].append(prompt)
        return datasets.Dataset.from_dict(columns)


def _token_stream(tokenizer, texts) -> list[int]:
    ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    return [token for doc in ids for token in [*doc, tokenizer.eos_token_id]]


def _blocks(tokenizer, texts, max_length: int) -> datasets.Dataset:
    """The texts as one token stream, each text ended by the end-of-text token, cut into full blocks."""
    stream = _token_stream(tokenizer, texts)
    blocks = [stream[i:i + max_length] for i in range(0, len(stream) - max_length + 1, max_length)]
    return datasets.Dataset.from_dict({"input_ids": blocks, "labels": blocks})


def _held_out_blocks(tokenizer, texts, max_length: int, max_new_tokens: int):
    """Held-out blocks, each also split in two for the examples table: the model continues the first
    half, the second half is the reference."""
    blocks = _blocks(tokenizer, texts, max_length)
    if len(blocks) == 0:
        raise ValueError(f"The held-out texts make no block of {max_length} tokens; add text or lower max_length.")
    half = max_length // 2
    reference_end = half + min(max_new_tokens, half)
    features = blocks.add_column("prompt_ids", [ids[:half] for ids in blocks["input_ids"]])
    context = datasets.Dataset.from_dict({
        "source": tokenizer.batch_decode([ids[:half] for ids in blocks["input_ids"]]),
        "target": tokenizer.batch_decode([ids[half:reference_end] for ids in blocks["input_ids"]])})
    return features, context
