"""What seq2seq and causal-LM fine-tuning share: source/target rows, a collator that pads every kind of
column the right way, and an evaluation that generates the held-out outputs in batches and scores
them with the purpose's metric, beside the perplexity of the references.

A purpose (summarization, translation, generation) decides the headline metric (ROUGE-L, chrF,
perplexity), the prompt or prefix, and the tab the model shows up in; `FinetuneTask.for_purpose`
gives the task bound to one. The base and the fine-tuned model are asked the same way: same prompt,
greedy decoding, the same `max_new_tokens`.
"""

from __future__ import annotations

import copy
import math

import datasets

from pipelines.finetune.config import FinetuneConfig
from pipelines.finetune.tasks.base import ExampleOutput, Evaluation, FinetuneTask, Prepared, Role, rows_list
from pipelines.text.columns import TEXT_NAMES

# purpose -> (local evaluate module, headline metric); "generation" is scored by perplexity alone
PURPOSE_METRICS = {"summarization": ("rouge", "rougeL"), "translation": ("sacrebleu", "chrf"),
                   "generation": (None, "perplexity")}
PURPOSE_TITLES = {"summarization": "Summarization", "translation": "Translation", "generation": "Text generation"}
SOURCE_NAMES = ("source", "input", "document", "article", "src", "en", "prompt", "instruction", "question")
TARGET_NAMES = ("target", "output", "summary", "headline", "translation", "tgt", "fr", "response", "answer",
                "completion")
SHOWN_CHARS = 400  # of a long source, in the examples table
MIN_ROWS = 20


class GenerativeTask(FinetuneTask):
    purpose = "generation"
    peft_task_type = ""  # peft's name for the model type: "CAUSAL_LM", "SEQ_2_SEQ_LM"
    model_words = ""  # "a causal LM": what a run's title says trains
    curve_range = (0.0, 100.0)
    summary_headers = ("", "Value")

    def check_languages(self, config: FinetuneConfig) -> None:
        """A translation run names languages the app knows (their names go into prompts and cards)."""
        from pipelines.models.languages import NAMES

        unknown = [code for code in (config.source_lang, config.target_lang) if code not in NAMES]
        if self.purpose == "translation" and unknown:
            known = ", ".join(code for code in NAMES if len(code) == 2)
            raise ValueError(f"Unknown language code(s) {', '.join(unknown)}: use ISO 639-1 codes such as {known}.")
        if self.purpose == "translation" and config.source_lang == config.target_lang:
            raise ValueError("The source and target languages are the same: pick another target.")

    def for_purpose(self, purpose: str | None) -> GenerativeTask:
        bound = copy.copy(self)
        bound.purpose = purpose or self.purpose
        bound.title = f"{PURPOSE_TITLES[bound.purpose]} by {self.model_words}"
        module, bound.metric = PURPOSE_METRICS[bound.purpose]
        bound.higher_is_better = module is not None
        bound.curve_metrics = (bound.metric,)
        bound.curve_range = (0.0, 100.0) if module is not None else None  # perplexity: no fixed scale
        bound.shows_up_in = f"the **{PURPOSE_TITLES[bound.purpose]}** tab's model picker"
        return bound

    def registered_tasks(self) -> tuple[str, ...]:
        """The app tasks whose pickers offer the model: its purpose's tab only (a headline writer would
        be a poor default translator)."""
        return (self.purpose,)

    def picker_note(self, config: FinetuneConfig, result: dict) -> str:
        how = f"{self.purpose}, {'LoRA' if config.lora else config.mode}"
        return (f"Fine-tuned here ({how}) from {result['base_model']} on {result['dataset']} ({result['train_rows']} "
                f"rows): held-out {self.metric} {result['fine_tuned'][self.metric]:.2f}, base "
                f"{result['base'][self.metric]:.2f}. Run {result['run_id']}.")

    def card_lines(self, result: dict) -> list[str]:
        facts = result["facts"]
        prompt = facts.get("source_prefix") or "the chat template, with the prompt of the purpose's tab"
        lines = [f"Purpose: {self.purpose}. Held-out outputs were generated greedily, at most "
                 f"{facts['max_new_tokens']} new tokens, by the base and by the fine-tuned model alike; sources "
                 f"were read through {prompt}. Perplexity is that of the held-out references (lower is better)."]
        note = truncation_note(facts)
        return lines + ([note] if note else [])

    def headline(self, metrics: dict[str, float]) -> str:
        extra = f", perplexity {metrics['perplexity']:.2f}" if self.metric != "perplexity" else ""
        return f"{self.metric} {metrics[self.metric]:.2f}{extra}"

    # --- evaluation ---------------------------------------------------------------------------------

    def token_losses(self, model, batch):
        """(sum of the references' token losses, tokens) per example of a batch."""
        raise NotImplementedError

    def generate(self, model, batch, prepared: Prepared):
        """Generated token ids per example of a batch, (examples, tokens): the new tokens only."""
        raise NotImplementedError

    def evaluate(self, model, loader, accelerator, prepared: Prepared) -> Evaluation:
        import torch

        from pipelines.evaluation import chrf

        generator, width, pad = accelerator.unwrap_model(model), prepared.facts["max_new_tokens"], _pad_id(prepared)
        gathered = []
        for batch in loader:
            examples = batch.pop("example")
            losses, tokens = self.token_losses(model, batch)
            new = self.generate(generator, batch, prepared)[:, :width]
            new = torch.nn.functional.pad(new, (0, width - new.shape[1]), value=pad)  # one width for the gather
            gathered.append(accelerator.gather_for_metrics((examples, losses, tokens, new)))
        examples, losses, tokens, new = (torch.cat(part) for part in zip(*gathered))
        order = examples.argsort()
        losses, tokens, new = losses[order].tolist(), tokens[order].tolist(), new[order]
        texts = [t.strip() for t in prepared.tokenizer.batch_decode(new, skip_special_tokens=True)]
        rows = prepared.context  # the held-out examples: source, target, in the order of "example"
        metrics = {"perplexity": round(math.exp(sum(losses) / max(sum(tokens), 1)), 4)}
        module, _ = PURPOSE_METRICS[self.purpose]
        if module is not None:
            from pipelines.finetune.metrics import load_metric

            scores = load_metric(module).compute(predictions=texts, references=list(rows["target"]))
            metrics.update({name: round(value, 4) for name, value in scores.items()})
        outputs = []
        for row, text, loss, n in zip(rows, texts, losses, tokens):
            score = _example_score(module, text, row["target"], loss, n)
            # what row_statistic pools over any subset of rows: token losses (perplexity), each example's
            # F in percent (ROUGE-L is their mean), character n-gram counts (chrF)
            parts = {None: lambda: (loss, n), "rouge": lambda: (100.0 * score,),
                     "sacrebleu": lambda: chrf.row_counts(text, row["target"])}[module]()
            outputs.append(ExampleOutput(input=_shown(row["source"]), reference=row["target"], prediction=text,
                                         score=score, parts=parts))
        return Evaluation(metrics=metrics, outputs=tuple(outputs))

    def row_statistic(self, evaluation: Evaluation):
        from pipelines.evaluation import chrf, stats

        if self.metric == "perplexity":
            return stats.perplexity_of(*zip(*(o.parts for o in evaluation.outputs)))
        if self.metric == "chrf":
            import numpy as np

            counts = np.array([o.parts for o in evaluation.outputs], dtype=float)
            return lambda rows: chrf.score(counts[rows].sum(axis=0))
        return super().row_statistic(evaluation)


def _pad_id(prepared: Prepared) -> int:
    tokenizer = prepared.tokenizer
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)


def _shown(source: str) -> str:
    source = " ".join(source.split())
    return source if len(source) <= SHOWN_CHARS else source[:SHOWN_CHARS - 1] + "…"


def _example_score(module: str | None, prediction: str, reference: str, loss: float, tokens: int) -> float:
    """An example's own score in [0, 1]: sentence chrF or ROUGE-L, else the reference's mean token
    probability (exp of minus its mean loss)."""
    if module == "sacrebleu":
        import sacrebleu

        return sacrebleu.sentence_chrf(prediction, [reference]).score / 100
    if module == "rouge":
        from rouge_score import rouge_scorer

        return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True).score(reference, prediction)["rougeL"].fmeasure
    return math.exp(-loss / max(tokens, 1))


# --- rows -------------------------------------------------------------------------------------------

def source_target_roles(source_title: str = "Source column", target_title: str = "Target column"):
    return (Role("source", source_title, SOURCE_NAMES, free_text=True), Role("target", target_title, TARGET_NAMES))


def read_pairs(table: datasets.Dataset, columns: dict[str, str], file_name: str) -> datasets.Dataset:
    """(source, target) rows; a ValueError names the rows with an empty source or target."""
    from pipelines.finetune.tasks.base import cell_text

    sources = [cell_text(v) for v in table[columns["source"]]]
    targets = [cell_text(v) for v in table[columns["target"]]]
    empty = [(what, [i + 1 for i, v in enumerate(values) if not v]) for what, values in
             (("source", sources), ("target", targets))]
    problems = [f"{len(rows)} row(s) have an empty {what} (column '{columns[what]}'): rows {rows_list(rows)}."
                for what, rows in empty if rows]
    if problems:
        raise ValueError(" ".join(problems) + " Fill them in or delete those rows, then upload the file again.")
    if len(table) < MIN_ROWS:
        raise ValueError(f"'{file_name}' has {len(table)} rows; fine-tuning needs at least {MIN_ROWS} pairs "
                         "(a few hundred give a model worth keeping).")
    return datasets.Dataset.from_dict({"source": sources, "target": targets})


def pair_summary(rows: datasets.Dataset) -> dict[str, int]:
    words = lambda texts: round(sum(len(t.split()) for t in texts) / max(len(texts), 1))  # noqa: E731
    return {"pairs": len(rows), "source words (mean)": words(rows["source"]),
            "target words (mean)": words(rows["target"])}


class PadCollator:
    """Pads each column of a batch its own way: `labels` with -100 (ignored by the loss), attention
    masks with 0, `prompt_ids` on the left (so every prompt ends where its answer starts, with its own
    `prompt_attention_mask`), everything else with the pad id on the right."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, features: list[dict]):
        import torch

        batch = {}
        for key in features[0]:
            values = [f[key] for f in features]
            if not isinstance(values[0], list):
                batch[key] = torch.tensor(values)
                continue
            width = max(len(v) for v in values)
            left = key == "prompt_ids"
            fill = -100 if key == "labels" else 0 if key.endswith("attention_mask") else self.pad_id
            padded = [([fill] * (width - len(v)) + v) if left else (v + [fill] * (width - len(v))) for v in values]
            batch[key] = torch.tensor(padded)
            if left:
                batch["prompt_attention_mask"] = torch.tensor([[0] * (width - len(v)) + [1] * len(v) for v in values])
            if key == "input_ids" and "attention_mask" not in features[0]:
                batch["attention_mask"] = torch.tensor([[1] * len(v) + [0] * (width - len(v)) for v in values])
        return batch


def truncation_note(facts: dict) -> str:
    cut = [f"{facts[key]} {what}" for key, what in (("truncated_sources", "sources"),
                                                    ("truncated_targets", "targets")) if facts.get(key)]
    return ("Cut to fit the window: " + " and ".join(cut) + ".") if cut else ""


def text_role():
    return Role("text", "Text column", TEXT_NAMES, free_text=True)
