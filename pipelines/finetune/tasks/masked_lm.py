"""Masked-LM domain adaptation: unlabelled texts in, an encoder that knows their domain better out.

BERT's own pretraining task, continued on the user's texts (Gururangan et al. 2020, "Don't stop
pretraining"): 15% of the tokens are chosen, 80% of those replaced by [MASK], 10% by a random token,
10% left, and the model learns to restore them. The adapted encoder is then a base to fine-tune on
the labelled task (finetune/adaptation.py chains the two and compares).

- Held out: a random share of the texts, masked once with the run's seed, so the base and the
  adapted model predict the very same masked tokens.
- Metrics: perplexity on the masked tokens (the headline; lower is better) and masked-token accuracy.
- A base without a masked-LM head (a sentence-transformers encoder) gets a new one: its "base"
  perplexity is that of an untrained head, and the card says so.
- The saved model keeps the base's pooler (masked-LM training does not use it), so a classifier
  fine-tuned from it starts where one fine-tuned from the base starts, apart from the adaptation.

torch, transformers and the metrics are imported where they are used (see classification.py).
"""

from __future__ import annotations

import math
import statistics

import datasets
import numpy as np

from pipelines.finetune import guardrails
from pipelines.finetune.config import FinetuneConfig
from pipelines.finetune.tasks.base import (ExampleOutput, Evaluation, FinetuneTask, Prepared, Role,
                                           random_split, require_string_column, require_text_cells)
from pipelines.models import kinds
from pipelines.runtime.errors import first_line
from pipelines.text.columns import TEXT_NAMES

MIN_ROWS = 20
KEEP, RANDOM = 0.1, 0.1  # of the chosen tokens: left as they are, replaced by a random token


class MaskedLM(FinetuneTask):
    name = "masked-lm"
    title = "Masked-LM domain adaptation"
    roles = (Role("text", "Text column", TEXT_NAMES, free_text=True),)
    metric = "perplexity"
    higher_is_better = False
    curve_metrics = ("masked_accuracy",)
    shows_up_in = "the Fine-tune tab's base checkpoints (a base to fine-tune)"
    saved_kind = kinds.MASKED_LM
    summary_headers = ("", "Value")

    def read_rows(self, table: datasets.Dataset, columns: dict[str, str], file_name: str) -> datasets.Dataset:
        texts = require_text_cells(table[columns["text"]], columns["text"], "text")
        require_string_column(table, columns["text"], "texts")
        if len(table) < MIN_ROWS:
            raise ValueError(f"'{file_name}' has {len(table)} rows; domain adaptation needs at least {MIN_ROWS} "
                             "texts (thousands adapt an encoder noticeably).")
        return datasets.Dataset.from_dict({"text": texts})

    def summary(self, rows: datasets.Dataset) -> dict[str, int]:
        return {"texts": len(rows), "words per text (mean)": round(statistics.mean(len(t.split()) for t in rows["text"]))}

    def prepare(self, rows: datasets.Dataset, base, config: FinetuneConfig) -> Prepared:
        from transformers import DataCollatorForLanguageModeling, DataCollatorForTokenClassification

        from pipelines.finetune.model import load_with_head

        train, held_out = random_split(rows, config)
        model, tokenizer = load_with_head(base, "AutoModelForMaskedLM", "masked-LM adaptation")
        if tokenizer.mask_token_id is None:
            raise ValueError(f"'{base.spec.name}' has no [MASK] token, so it cannot learn masked-LM: pick an "
                             "encoder such as BERT, MiniLM or RoBERTa.")
        max_length = config.max_length or self.default_max_length

        def encode(table: datasets.Dataset) -> datasets.Dataset:
            return table.map(lambda b: tokenizer(b["text"], truncation=True, max_length=max_length,
                                                 return_special_tokens_mask=True),
                             batched=True, remove_columns=["text"])

        train_tokens = encode(train)
        held = mask_once(encode(held_out), tokenizer, config.mlm_probability, config.seed)
        order = sorted(range(len(held)), key=lambda i: len(held[i]["input_ids"]))
        architectures = base.config.architectures or ()
        head = "kept" if any(a.endswith(("ForMaskedLM", "ForPreTraining")) for a in architectures) else "new"
        return Prepared(model=model, tokenizer=tokenizer, train=train_tokens,
                        train_lengths=[len(ids) for ids in train_tokens["input_ids"]],
                        held_out=held.select(order).add_column("example", list(range(len(held)))),
                        collate=DataCollatorForLanguageModeling(tokenizer, mlm_probability=config.mlm_probability),
                        eval_collate=DataCollatorForTokenClassification(tokenizer),
                        train_rows=len(train), held_out_rows=len(held),
                        context=_kept_pooler(base, model),
                        facts={"max_length": max_length, "mlm_probability": config.mlm_probability, "head": head,
                               "masked_tokens": sum(sum(1 for v in labels if v != -100) for labels in held["labels"])},
                        warnings=guardrails.check(self, rows, train, held_out))

    def evaluate(self, model, loader, accelerator, prepared: Prepared) -> Evaluation:
        import torch

        width, gathered = prepared.facts["max_length"], []
        for batch in loader:
            examples, labels = batch.pop("example"), batch.pop("labels")
            logits = model(**batch).logits.float()
            chosen = labels != -100
            losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels.clamp(min=0), reduction="none")
            # predicted ids at the masked positions, -100 elsewhere, padded to one width for the gather
            predicted = torch.where(chosen, logits.argmax(-1), -100)
            predicted = torch.nn.functional.pad(predicted, (0, width - predicted.shape[1]), value=-100)
            gathered.append(accelerator.gather_for_metrics((examples, (losses * chosen).sum(1), chosen.sum(1),
                                                            predicted)))
        examples, loss_sums, counts, predicted = (torch.cat(part) for part in zip(*gathered))
        order = examples.argsort()
        predicted, counts, loss_sums = predicted[order].tolist(), counts[order], loss_sums[order]
        rows = prepared.held_out.sort("example")
        correct = [sum(p == label for p, label in zip(row_predicted, row["labels"]) if label != -100)
                   for row_predicted, row in zip(predicted, rows)]
        total = counts.sum().item()
        metrics = {"perplexity": round(math.exp(loss_sums.sum().item() / max(total, 1)), 4),
                   "masked_accuracy": round(sum(correct) / max(total, 1), 4)}
        outputs = tuple(_output(row, row_predicted, hits, prepared.tokenizer, (loss, n))
                        for row, row_predicted, hits, loss, n in zip(rows, predicted, correct, loss_sums.tolist(),
                                                                     counts.tolist()))
        return Evaluation(metrics=metrics, outputs=outputs)

    def headline(self, metrics: dict[str, float]) -> str:
        return f"perplexity {metrics['perplexity']:.2f}, masked-token accuracy {metrics['masked_accuracy']:.3f}"

    def row_statistic(self, evaluation: Evaluation):
        from pipelines.evaluation.stats import perplexity_of

        return perplexity_of(*zip(*(o.parts for o in evaluation.outputs)))

    def check_compared(self, bases: list) -> None:
        """The held-out texts are masked token by token: only models that split text into the same tokens
        see the same masked rows (a base and the models adapted from it), and only their perplexities,
        over one vocabulary, compare."""
        from transformers import AutoTokenizer

        vocabularies = {}
        for base in bases:
            try:
                tokenizer = AutoTokenizer.from_pretrained(base.source, revision=base.revision, trust_remote_code=False)
            except (OSError, ValueError) as err:
                raise ValueError(f"Could not load the tokenizer of '{base.spec.name}': {first_line(err)}") from err
            if tokenizer.mask_token_id is None:
                raise ValueError(f"'{base.spec.name}' has no [MASK] token, so it cannot be scored as a masked LM: "
                                 "pick an encoder such as BERT, MiniLM or RoBERTa.")
            vocabularies[base.spec.name] = (tokenizer.get_vocab(), tokenizer.mask_token_id)
        first, *others = vocabularies
        differ = [name for name in others if vocabularies[name] != vocabularies[first]]
        if differ:
            raise ValueError(f"{', '.join(differ)} and {first} split text into different tokens, so they would not "
                             "be scored on the same masked tokens, and perplexities over different vocabularies do "
                             "not compare. Evaluate a masked LM beside its base and the models adapted from it.")

    def save(self, model, prepared: Prepared, folder) -> None:
        state = {**model.state_dict(), **prepared.context}  # the base's pooler, kept for classifiers
        model.save_pretrained(folder, state_dict=state)
        prepared.tokenizer.save_pretrained(folder)

    def picker_note(self, config: FinetuneConfig, result: dict) -> str:
        return (f"Adapted here (masked LM) from {result['base_model']} on {result['dataset']} "
                f"({result['train_rows']} texts): held-out perplexity {result['fine_tuned']['perplexity']:.2f}, "
                f"base {result['base']['perplexity']:.2f}. A base to fine-tune. Run {result['run_id']}.")

    def card_lines(self, result: dict) -> list[str]:
        facts = result["facts"]
        head = ("The base had no masked-LM head: a new one was initialised, so the base perplexity is that of an "
                "untrained head." if facts["head"] == "new" else "The base's own masked-LM head was kept.")
        return [head, f"{facts['masked_tokens']} held-out tokens were masked once (seed {result['seed']}, "
                f"{facts['mlm_probability']:.0%} of the tokens) and predicted by both models.", "",
                "Use it as the base of a fine-tuning run: the Fine-tune tab lists it among the base checkpoints."]


TASK = MaskedLM()


def mask_once(encoded: datasets.Dataset, tokenizer, probability: float, seed: int) -> datasets.Dataset:
    """The held-out texts masked BERT's way, once, with `seed`: each text gets at least one masked
    token, and `labels` holds the original id at a masked position and -100 elsewhere."""
    rng = np.random.default_rng(seed)
    special_ids = set(tokenizer.all_special_ids)
    vocabulary = [i for i in range(len(tokenizer)) if i not in special_ids]
    inputs, labels = [], []
    for ids, special in zip(encoded["input_ids"], encoded["special_tokens_mask"]):
        ids = list(ids)
        candidates = [i for i, s in enumerate(special) if not s]
        chosen = [i for i in candidates if rng.random() < probability] or (
            [int(rng.choice(candidates))] if candidates else [])
        row_labels = [-100] * len(ids)
        for i in chosen:
            row_labels[i] = ids[i]
            draw = rng.random()
            if draw < 1 - KEEP - RANDOM:
                ids[i] = tokenizer.mask_token_id
            elif draw < 1 - KEEP:
                ids[i] = int(rng.choice(vocabulary))
        inputs.append(ids)
        labels.append(row_labels)
    columns = {"input_ids": inputs, "attention_mask": encoded["attention_mask"], "labels": labels}
    if "token_type_ids" in encoded.column_names:
        columns["token_type_ids"] = encoded["token_type_ids"]
    return datasets.Dataset.from_dict(columns)


def _output(row: dict, predicted: list[int], hits: int, tokenizer, parts: tuple[float, float]) -> ExampleOutput:
    """A held-out text with its masked tokens shown as [MASK], the true and the predicted tokens."""
    ids, labels = row["input_ids"], row["labels"]
    masked = [i for i, label in enumerate(labels) if label != -100]
    shown = [tokenizer.mask_token_id if i in masked else token for i, token in enumerate(ids)]
    return ExampleOutput(input=tokenizer.decode(shown[1:-1] if len(shown) > 2 else shown),
                         reference=", ".join(tokenizer.convert_ids_to_tokens([labels[i] for i in masked])),
                         prediction=", ".join(tokenizer.convert_ids_to_tokens([predicted[i] for i in masked])),
                         score=hits / max(len(masked), 1), parts=parts)


def _kept_pooler(base, model) -> dict:
    """The base's pooler weights under the names a sequence classifier loads them by; empty when the
    base has none (or the masked-LM model carries its own)."""
    import torch
    from transformers import AutoModel

    if any("pooler" in name for name in model.state_dict()):
        return {}
    encoder = AutoModel.from_pretrained(base.source, revision=base.revision, trust_remote_code=False,
                                        dtype=torch.float32)
    pooler = getattr(encoder, "pooler", None)
    if pooler is None:
        return {}
    return {f"{model.base_model_prefix}.pooler.{name}": tensor for name, tensor in pooler.state_dict().items()}
