"""Sequence to sequence: (source, target) pairs in, an encoder-decoder (T5, BART, Marian, ...) that
writes the target out: summaries (purpose "summarization", the default) or translations ("translation").

- The source gets the prefix the Summarization or Translation tab gives the same checkpoint (T5's
  "summarize: ", "translate English to French: ", a multi-target Marian's ">>fr<<"), unless the
  config names one, so the tuned model is asked in its tab as it was trained.
- Sources longer than max_length and targets longer than max_target_length are cut, and counted.
- Evaluation generates greedily, max_new_tokens at most, and scores ROUGE (summarization) or
  sacreBLEU and chrF (translation), with the perplexity of the references beside them.
- Full fine-tuning, the transfer modes, or LoRA (config.lora).

Offline there is no packaged encoder-decoder checkpoint: the tests train tiny ones they build; with
the Hub, t5-small, distilbart-cnn and opus-mt from the catalogue.
"""

from __future__ import annotations

import datasets

from pipelines.finetune import guardrails
from pipelines.finetune.config import FinetuneConfig
from pipelines.finetune.tasks.base import Prepared, random_split
from pipelines.finetune.tasks.generative import (GenerativeTask, PadCollator, pair_summary, read_pairs,
                                                 source_target_roles)
from pipelines.models import kinds


class Seq2Seq(GenerativeTask):
    name = "seq2seq"
    title = "Sequence to sequence (summarization, translation)"
    roles = source_target_roles()
    purpose = "summarization"
    peft_task_type = "SEQ_2_SEQ_LM"
    model_words = "an encoder-decoder"
    default_max_length = 512
    saved_kind = kinds.SEQ2SEQ
    base_kinds = (kinds.SEQ2SEQ,)
    default_base = "t5-small"  # from the Hub: offline there is no packaged encoder-decoder

    def read_rows(self, table: datasets.Dataset, columns: dict[str, str], file_name: str) -> datasets.Dataset:
        return read_pairs(table, columns, file_name)

    def summary(self, rows: datasets.Dataset) -> dict[str, int]:
        return pair_summary(rows)

    def prepare(self, rows: datasets.Dataset, base, config: FinetuneConfig) -> Prepared:
        from pipelines.finetune.model import load_with_head

        train, held_out = random_split(rows, config)
        model, tokenizer = load_with_head(base, "AutoModelForSeq2SeqLM", self.purpose)
        prefix = config.source_prefix if config.source_prefix is not None else self._prefix(model, tokenizer, config)
        max_length = min(config.max_length or self.default_max_length, _window(tokenizer, model.config))
        facts = {"max_length": max_length, "max_target_length": config.max_target_length, "source_prefix": prefix,
                 "max_new_tokens": config.max_new_tokens, "purpose": self.purpose,
                 "truncated_sources": 0, "truncated_targets": 0}

        def encode(table: datasets.Dataset) -> datasets.Dataset:
            sources = tokenizer([prefix + s for s in table["source"]])["input_ids"]
            targets = tokenizer(text_target=list(table["target"]))["input_ids"]
            facts["truncated_sources"] += sum(len(ids) > max_length for ids in sources)
            facts["truncated_targets"] += sum(len(ids) > config.max_target_length for ids in targets)
            return datasets.Dataset.from_dict({"input_ids": [_cut(ids, max_length) for ids in sources],
                                               "labels": [_cut(ids, config.max_target_length) for ids in targets]})

        train_features = encode(train)
        held = encode(held_out)
        order = sorted(range(len(held)), key=lambda i: len(held[i]["input_ids"]))
        collate = PadCollator(tokenizer.pad_token_id)
        return Prepared(model=model, tokenizer=tokenizer, train=train_features,
                        train_lengths=[len(ids) for ids in train_features["input_ids"]],
                        held_out=held.add_column("example", list(range(len(held)))).select(order),
                        collate=collate, eval_collate=collate, train_rows=len(train), held_out_rows=len(held_out),
                        context=held_out, facts=facts, warnings=guardrails.check(self, rows, train, held_out))

    def token_losses(self, model, batch):
        import torch

        logits = model(**batch).logits.float()
        labels = batch["labels"]
        chosen = labels != -100
        losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels.clamp(min=0), reduction="none")
        return (losses * chosen).sum(1), chosen.sum(1)

    def generate(self, model, batch, prepared: Prepared):
        out = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                             max_new_tokens=prepared.facts["max_new_tokens"], num_beams=1, do_sample=False)
        return out[:, 1:]  # the decoder's start token is no output

    def _prefix(self, model, tokenizer, config: FinetuneConfig) -> str:
        if self.purpose == "translation":
            from pipelines.tasks.translation import source_prefix

            return source_prefix(model.config, tokenizer, config.source_lang, config.target_lang)
        if self.purpose == "summarization":
            from pipelines.tasks.summarization import task_prefix

            return task_prefix(model.config)
        return ""


def _cut(ids: list[int], limit: int) -> list[int]:
    """At most `limit` ids, the last one (the end-of-sequence token) kept."""
    return ids if len(ids) <= limit else ids[:limit - 1] + ids[-1:]


def _window(tokenizer, config) -> int:
    from pipelines.text.chunking import input_window

    return input_window(tokenizer, config)
