"""Seq2seq and causal-LM fine-tuning: their row checks, LoRA's merge, and whole runs on tiny models
(a seq2seq translator, a LoRA-tuned instruct LM for summaries, plain-text language modelling)."""

from __future__ import annotations

import random

import pytest

from pipelines.finetune import data, tasks
from pipelines.finetune.config import FinetuneConfig
from tests.helpers import tiny_models
from tests.helpers.finetune import check_comparison, run_cli

WORDS = ["cat", "whale", "dog", "ship", "film", "book", "sea", "novel", "mat", "table", "deep", "large"]


def write_pairs(path, n=80, seed=0, transform=lambda words: words):
    """source -> target rows over words the tiny tokenizer knows; the target is `transform(source words)`."""
    return tiny_models.write_pairs(path, WORDS, n, seed, transform)


def error(path, task: str, **columns) -> str:
    with pytest.raises(ValueError) as err:
        data.load_rows(path, tasks.get(task), columns)
    return str(err.value)


# --- rows and settings ------------------------------------------------------------------------------

def test_empty_sources_and_targets_are_named_by_row(tmp_path):
    path = write_pairs(tmp_path / "pairs.csv", n=30)
    lines = path.read_text().splitlines()
    lines[3] = ",the cat"  # row 3: no source
    lines[8] = "the cat,"  # row 8: no target
    path.write_text("\n".join(lines) + "\n")
    for task in ("seq2seq", "causal-lm"):
        message = error(path, task)
        assert "1 row(s) have an empty source (column 'source'): rows 3." in message
        assert "1 row(s) have an empty target (column 'target'): rows 8." in message


def test_causal_lm_reads_pairs_or_plain_text(tmp_path):
    task = tasks.get("causal-lm")
    pairs, columns = data.load_rows(write_pairs(tmp_path / "pairs.csv", n=30), task)
    assert columns == {"source": "source", "target": "target"} and pairs.column_names == ["source", "target"]
    text_file = tmp_path / "plays.csv"
    text_file.write_text("passage\n" + "\n".join(f"the {w} is deep and the sea is large" for w in WORDS) + "\n")
    plain, columns = data.load_rows(text_file, task)
    assert columns == {"text": "passage"} and task.summary(plain) == {"texts": 12, "words": 12 * 9}


def test_plain_text_comes_as_a_txt_file_of_paragraphs(tmp_path):
    path = tmp_path / "sonnets.txt"
    path.write_text("Shall I compare thee\nto a summer's day?\n\n\nThou art more lovely\n\n  \nand more temperate.\n")
    rows, columns = data.load_rows(path, tasks.get("causal-lm"))
    assert columns == {"text": "text"}
    assert list(rows["text"]) == ["Shall I compare thee\nto a summer's day?", "Thou art more lovely", "and more temperate."]
    path.write_bytes("first line\nsecond line caf\xe9\n".encode("latin-1"))
    assert "Line 2 of 'sonnets.txt' is not UTF-8" in error(path, "causal-lm")


def test_translation_runs_name_languages_the_app_knows():
    for source, target, message in (("en", "xx", "Unknown language code"), ("fr", "fr", "are the same")):
        with pytest.raises(ValueError, match=message):
            tasks.for_config(FinetuneConfig(data_file="d.csv", task="causal-lm", purpose="translation",
                                            source_lang=source, target_lang=target))


def test_a_purpose_decides_the_metric_and_the_tab():
    for task, purpose, metric, tab in (("seq2seq", None, "rougeL", "summarization"),
                                       ("seq2seq", "translation", "chrf", "translation"),
                                       ("causal-lm", None, "perplexity", "generation"),
                                       ("causal-lm", "summarization", "rougeL", "summarization")):
        bound = tasks.for_config(FinetuneConfig(data_file="d.csv", task=task, purpose=purpose))
        assert (bound.metric, bound.registered_tasks()) == (metric, (tab,))
        assert bound.higher_is_better == (metric != "perplexity")
    with pytest.raises(ValueError, match="LoRA is offered for seq2seq and causal-lm"):
        tasks.for_config(FinetuneConfig(data_file="d.csv", lora=True))
    with pytest.raises(ValueError, match="put {source} in it"):
        FinetuneConfig(data_file="d.csv", task="causal-lm", prompt="Summarize this.")


def test_lora_merged_into_the_weights_gives_the_adapter_models_logits(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from pipelines.finetune import lora

    folder = tiny_models.build_causal_lm(tmp_path / "lm")
    wrapped = lora.wrap(AutoModelForCausalLM.from_pretrained(folder), FinetuneConfig(data_file="d", lora=True),
                        "CAUSAL_LM")
    trainable = [name for name, p in wrapped.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)  # only the adapters train
    torch.manual_seed(1)
    with torch.no_grad():
        for name, parameter in wrapped.named_parameters():
            if "lora_B" in name:  # B starts at zero: give the adapters something to merge
                parameter.normal_(std=0.5)
    ids = torch.tensor([[5, 9, 14, 3, 20, 7]])
    wrapped.eval()  # peft leaves the model in training mode: LoRA's dropout would draw
    with torch.inference_mode():
        adapted = wrapped(input_ids=ids).logits
    lora.merged(wrapped).save_pretrained(tmp_path / "merged")
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    assert not any("lora" in name for name, _ in reloaded.named_parameters())  # a plain model, no peft needed
    with torch.inference_mode():
        plain = reloaded(input_ids=ids).logits
    base = AutoModelForCausalLM.from_pretrained(folder)
    with torch.inference_mode():
        assert not torch.allclose(base(input_ids=ids).logits, adapted, atol=1e-3)  # the adapters changed it
    assert torch.allclose(plain, adapted, atol=1e-4)


# --- whole runs -------------------------------------------------------------------------------------

@pytest.mark.training
def test_a_seq2seq_translator_learns_and_the_translation_tab_offers_it(tmp_path):
    from pipelines.models import catalog, kinds

    with tiny_models.finetune_home(tmp_path / "home") as home:
        tiny_models.build_seq2seq(home / "models" / "tiny-bart")
        path = write_pairs(tmp_path / "copy.csv", n=96)  # "translation" here: the target repeats the source
        FinetuneConfig(data_file=str(path), task="seq2seq", purpose="translation", base_model="tiny-bart", epochs=120,
                       batch_size=8, learning_rate=3e-3, max_length=32, max_target_length=16, max_new_tokens=12,
                       logging_steps=10, name="tiny-copier").to_json(tmp_path / "config.json")
        run, _ = run_cli(tmp_path / "config.json")
        result = run.result()
        assert (result["task"], result["purpose"], result["metric"]) == ("seq2seq", "translation", "chrf")
        assert set(result["fine_tuned"]) == {"chrf", "bleu", "perplexity"}
        assert result["fine_tuned"]["chrf"] > result["base"]["chrf"] + 20, result["fine_tuned"]
        check_comparison(result, improved=True)  # chrF recomputed from the texts on every resample
        assert result["fine_tuned"]["perplexity"] < result["base"]["perplexity"]
        worst = result["examples"][0]
        assert worst["input"] and worst["reference"] and "fine_tuned" in worst
        spec = catalog.resolve("translation", "tiny-copier")
        assert spec.kind == kinds.SEQ2SEQ and spec.tasks == ("translation",)  # not offered for summaries
        assert "tiny-copier" not in [s.name for s in catalog.entries("summarization")]


@pytest.mark.training
def test_an_instruct_lm_learns_summaries_with_lora_and_saves_a_plain_model(tmp_path):
    from transformers import AutoModelForCausalLM

    from pipelines.models import catalog
    from pipelines.tasks.summarization import summarize

    with tiny_models.finetune_home(tmp_path / "home") as home:
        tiny_models.build_causal_lm(home / "models" / "tiny-lm")
        path = tiny_models.write_summary_pairs(tmp_path / "summaries.csv", n=96)
        FinetuneConfig(data_file=str(path), task="causal-lm", purpose="summarization", base_model="tiny-lm",
                       lora=True, lora_r=8, lora_alpha=16, epochs=50, batch_size=8, learning_rate=1e-2,
                       max_length=96, max_target_length=8, max_new_tokens=6, logging_steps=10,
                       name="tiny-summarizer").to_json(tmp_path / "config.json")
        run, _ = run_cli(tmp_path / "config.json")
        result = run.result()
        assert (result["task"], result["metric"], result["mode"]) == ("causal-lm", "rougeL", "lora")
        assert result["trainable_parameters"] < result["total_parameters"] / 2  # the adapters only
        assert result["fine_tuned"]["rougeL"] > result["base"]["rougeL"] + 20, result["fine_tuned"]
        check_comparison(result, improved=True)
        assert result["facts"]["shape"] == "prompt/response pairs"
        model_dir = run.model_dir
        assert not (model_dir / "adapter_config.json").exists()  # merged: a plain save_pretrained folder
        AutoModelForCausalLM.from_pretrained(model_dir)
        assert catalog.resolve("summarization", "tiny-summarizer").tasks == ("summarization",)
        # the summarization default now, before the general tiny LM beside it; the header says so
        assert catalog.default_spec("summarization").name == "tiny-summarizer"
        assert catalog.default_spec("translation").name == "tiny-lm"
        import app

        assert "- Summarization: **tiny-summarizer**. Fine-tuned here (summarization, LoRA) from tiny-lm" in (
            app.header_text())
        # the Summarization tab asks it with the prompt it was trained with
        summary = summarize("whale table cat sea", "tiny-summarizer").summary
        assert "is deep" in summary, summary


@pytest.mark.training
def test_plain_text_language_modelling_lowers_perplexity(tmp_path):
    with tiny_models.finetune_home(tmp_path / "home") as home:
        tiny_models.build_causal_lm(home / "models" / "tiny-lm", chat=False)
        rng = random.Random(0)
        path = tmp_path / "verse.csv"
        verses = [" ".join(["the", w, "is", "deep", "and", "the", "sea", "is", "large"]) for w in WORDS] * 6
        rng.shuffle(verses)
        path.write_text("text\n" + "\n".join(verses) + "\n")
        FinetuneConfig(data_file=str(path), task="causal-lm", base_model="tiny-lm", epochs=8, batch_size=4,
                       learning_rate=3e-3, max_length=32, max_new_tokens=8, logging_steps=5,
                       name="tiny-verse").to_json(tmp_path / "config.json")
        run, _ = run_cli(tmp_path / "config.json")
        result = run.result()
        assert (result["metric"], result["higher_is_better"], result["facts"]["shape"]) == (
            "perplexity", False, "plain text")
        assert result["fine_tuned"]["perplexity"] < 0.8 * result["base"]["perplexity"]
        assert "better than base" in check_comparison(result, improved=False)["summary"]  # lower is better
        assert set(result["examples"][0]) >= {"input", "reference", "base", "fine_tuned"}
