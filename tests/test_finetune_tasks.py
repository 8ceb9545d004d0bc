"""The extractive-QA and masked-LM fine-tuning tasks: their row checks, their encodings, and whole runs
on tiny models (a QA model the QA tab then answers with; an adapted encoder a classifier starts from)."""

from __future__ import annotations

import html
import json

import pytest

from pipelines.finetune import data, tasks
from pipelines.finetune.config import FinetuneConfig
from tests.helpers import tiny_models
from tests.helpers.finetune import check_comparison, run_cli, wait_until

QA = tasks.get("extractive-qa")
MLM = tasks.get("masked-lm")
def write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def qa_error(tmp_path, rows, **columns) -> str:
    with pytest.raises(ValueError) as err:
        data.load_rows(write_jsonl(tmp_path / "qa.jsonl", rows), QA, columns)
    return str(err.value)


# --- extractive QA: rows --------------------------------------------------------------------------

def test_qa_rows_get_their_answer_start_and_columns_are_guessed(tmp_path):
    rows = tiny_models.qa_rows(30)
    rows[0] = {"context": "on the mat, then on the mat again", "question": "where?", "answer": "mat"}
    rows[1] = dict(rows[0], answer_start=24)  # the second "mat", as given
    found, columns = data.load_rows(write_jsonl(tmp_path / "qa.jsonl", rows), QA)
    assert columns == {"context": "context", "question": "question", "answer": "answer", "answer_start": "answer_start"}
    assert (found["answer_start"][0], found["answer_start"][1]) == (7, 24)  # the first occurrence unless given
    assert QA.summary(found) == {"questions": 30, "contexts": len(set(found["context"])), "answerable": 30,
                                 "unanswerable (SQuAD v2)": 0}


def test_qa_bad_rows_are_named_by_row_number(tmp_path):
    rows = tiny_models.qa_rows(30)
    rows[2]["answer"] = "moon"
    rows[4]["context"] = " "
    rows[6] = dict(rows[6], answer_start=0)
    rows[7]["question"] = ""
    message = qa_error(tmp_path, rows)
    assert "1 row(s) have an empty context: rows 5." in message
    assert "1 row(s) have an empty question: rows 8." in message
    assert "have an answer that is not in its context: rows 3, 5." in message
    assert "1 row(s) have an answer_start that does not point at the answer: rows 7." in message
    assert "copied exactly from their context" in message


def test_qa_reads_squad_answer_cells_and_unanswerable_questions(tmp_path):
    rows = [{"context": r["context"], "question": r["question"],
             "answers": {"text": [r["answer"]], "answer_start": [r["context"].index(" on the ") + 8]}}
            for r in tiny_models.qa_rows(30)]
    rows[3]["answers"] = {"text": [], "answer_start": []}  # SQuAD v2: no answer in this context
    found, columns = data.load_rows(write_jsonl(tmp_path / "squad.jsonl", rows), QA)
    assert columns["answer"] == "answers"
    assert found["answer"][3] == "" and QA.summary(found)["unanswerable (SQuAD v2)"] == 1
    assert all(c[s:s + len(a)] == a for c, a, s in zip(found["context"], found["answer"], found["answer_start"]))


def test_a_question_too_long_for_the_window_names_its_row(tmp_path):
    from pipelines.finetune.model import resolve_base

    rows = tiny_models.qa_rows(30)
    rows[9]["question"] = "where " * 40
    found, _ = data.load_rows(write_jsonl(tmp_path / "qa.jsonl", rows), QA)
    with tiny_models.finetune_home(tmp_path / "home"):
        base = resolve_base("tiny-encoder")
        with pytest.raises(ValueError, match=r"longer than the 16 tokens .* rows 10\."):
            QA.prepare(found, base, FinetuneConfig(data_file="qa.jsonl", task="extractive-qa", max_length=64))


def test_held_out_questions_are_about_contexts_never_trained_on(tmp_path):
    from pipelines.finetune.tasks.extractive_qa import split_by_context

    found, _ = data.load_rows(write_jsonl(tmp_path / "qa.jsonl", tiny_models.qa_rows(60)), QA)
    train, held_out = split_by_context(found, FinetuneConfig(data_file="qa.jsonl", eval_fraction=0.25, seed=3))
    assert not set(train["context"]) & set(held_out["context"])
    assert len(train) + len(held_out) == 60 and 12 <= len(held_out) <= 24


def test_training_windows_point_at_the_answer_or_at_cls(tmp_path):
    from pipelines.finetune.model import resolve_base

    # Contexts several 32-token windows long, each with the answer "mat" once, near its end.
    animals = ["cat", "whale", "film", "book"]  # one token each: every question fits the window's share
    rows = [{"context": "he wrote it . " * (8 + i) + f"the {animals[i % 4]} sat on the mat . the whale is large .",
             "question": f"where did the {animals[i % 4]} sit ?", "answer": "mat"} for i in range(20)]
    found, _ = data.load_rows(write_jsonl(tmp_path / "qa.jsonl", rows), QA)
    with tiny_models.finetune_home(tmp_path / "home"):
        config = FinetuneConfig(data_file="qa.jsonl", task="extractive-qa", max_length=32, doc_stride=8)
        prepared = QA.prepare(found, resolve_base("tiny-encoder"), config)
    windows, tokenizer = prepared.train, prepared.tokenizer
    assert max(len(ids) for ids in windows["input_ids"]) <= 32 and len(windows) > 2 * prepared.train_rows
    answered = [w for w in windows if w["start_positions"]]
    assert len(answered) >= prepared.train_rows  # every training row's answer lies in some window
    for w in answered:
        assert w["start_positions"] <= w["end_positions"]
        assert tokenizer.decode(w["input_ids"][w["start_positions"]:w["end_positions"] + 1]) == "mat"
    unanswered = [w for w in windows if not w["start_positions"]]
    assert unanswered and all(w["end_positions"] == 0 for w in unanswered)  # windows without it: [CLS]
    assert all(tokenizer.convert_ids_to_tokens(w["input_ids"][0]) == "[CLS]" for w in unanswered)


# --- extractive QA: a whole run -------------------------------------------------------------------

@pytest.mark.training
def test_a_qa_run_learns_and_the_qa_tab_answers_with_its_model(tmp_path):
    from pipelines.models import catalog, kinds
    from pipelines.tasks import qa

    with tiny_models.finetune_home(tmp_path / "home"):
        path = write_jsonl(tmp_path / "qa.jsonl", tiny_models.qa_rows(80))
        config = FinetuneConfig(data_file=str(path), task="extractive-qa", base_model="tiny-encoder", epochs=25,
                                batch_size=8, learning_rate=3e-3, max_length=64, logging_steps=5, name="tiny-qa-tuned")
        config.to_json(tmp_path / "config.json")
        run, stdout = run_cli(tmp_path / "config.json")
        result = run.result()
        assert (result["task"], result["metric"]) == ("extractive-qa", "f1")
        assert result["fine_tuned"]["f1"] > result["base"]["f1"] + 25, result["fine_tuned"]
        check_comparison(result, improved=True)
        assert {"input", "reference", "base", "fine_tuned"} <= set(result["examples"][0])
        assert "sit ?" in result["examples"][0]["input"]  # the question, with the context around the answer
        spec = catalog.resolve("qa", "tiny-qa-tuned")
        assert spec.kind == kinds.EXTRACTIVE_QA
        context = "the sea is deep . the dog sat on the table . the whale is large ."
        answer = qa.answer_question("where did the dog sit ?", context, "tiny-qa-tuned", top_k=1)
        assert answer.method == "extractive" and answer.answers[0].text == context[answer.answers[0].start:
                                                                                  answer.answers[0].end]
        card = (run.model_dir / "README.md").read_text()
        assert "pipeline_tag: question-answering" in card and "Headline metric: **f1**" in card


# --- masked LM ------------------------------------------------------------------------------------

def test_held_out_texts_are_masked_once_the_same_way(tmp_path):
    import datasets
    from transformers import AutoTokenizer

    from pipelines.finetune.tasks.masked_lm import mask_once

    tokenizer = AutoTokenizer.from_pretrained(tiny_models.build_encoder(tmp_path / "encoder"))
    texts = ["the cat sat on the mat", "he wrote it", "the whale is large and the sea is deep"] * 20
    encoded = datasets.Dataset.from_dict(dict(tokenizer(texts, return_special_tokens_mask=True)))
    first, again = mask_once(encoded, tokenizer, 0.15, seed=1), mask_once(encoded, tokenizer, 0.15, seed=1)
    assert first["input_ids"] == again["input_ids"] and first["labels"] == again["labels"]
    for ids, labels, original in zip(first["input_ids"], first["labels"], encoded["input_ids"]):
        masked = [i for i, label in enumerate(labels) if label != -100]
        assert masked and all(labels[i] == original[i] for i in masked)  # at least one, labelled with the truth
        assert labels[0] == labels[-1] == -100  # [CLS] and [SEP] are never chosen
    chosen = sum(sum(1 for label in labels if label != -100) for labels in first["labels"])
    shown_as_mask = sum(ids.count(tokenizer.mask_token_id) for ids in first["input_ids"])
    assert 0.1 < chosen / sum(len(ids) - 2 for ids in encoded["input_ids"]) < 0.3  # 15%, and one a text at least
    assert 0.6 < shown_as_mask / chosen < 0.95  # 80% of the chosen become [MASK]


def test_masked_lm_needs_texts(tmp_path):
    path = tmp_path / "texts.csv"
    path.write_text("text\n" + "a text\n" * 10)
    with pytest.raises(ValueError, match="at least 20 texts"):
        data.load_rows(path, MLM)
    path.write_text("text\n" + "a text\n" * 25 + "\n\"\"\n")
    with pytest.raises(ValueError, match=r"no text in column 'text': 26"):
        data.load_rows(path, MLM)


@pytest.mark.training
def test_adaptation_lowers_perplexity_and_a_classifier_starts_from_it(tmp_path):
    from pipelines.finetune import adaptation, runs, status
    from pipelines.finetune.__main__ import execute
    from pipelines.models import catalog, kinds

    with tiny_models.finetune_home(tmp_path / "home"):
        labelled = tiny_models.write_keywords_csv(tmp_path / "keywords.csv", n=80)
        classify = FinetuneConfig(data_file=str(labelled), base_model="tiny-encoder", batch_size=8, learning_rate=3e-3,
                                  max_length=32, epochs=12, logging_steps=5)
        configs = adaptation.adaptation_configs(classify, epochs=6)
        assert [c.chain_role for c in configs] == ["baseline", "adapt", "adapted"]
        assert len(set(c.chain for c in configs)) == 1
        adapt_texts = data.read_table(configs[1].data_file)["text"]
        assert len(adapt_texts) == 64  # the training rows' texts only: the 16 held out are never read
        chain = runs.create_runs([c.with_changes(learning_rate=c.learning_rate if c.task != "masked-lm" else 1e-3)
                                  for c in configs])
        assert chain[2].config.base_from_run == chain[1].id  # the role, linked to the run
        for run in chain:
            assert execute(run, resume=False) == 0, run.log_tail(30)
        adapted = chain[1].result()
        assert adapted["task"] == "masked-lm" and adapted["higher_is_better"] is False
        assert adapted["fine_tuned"]["perplexity"] < adapted["base"]["perplexity"]
        check_comparison(adapted, improved=False)
        assert adapted["facts"]["head"] == "new" and "[MASK]" in adapted["examples"][0]["input"]
        check_evaluation_repeats_the_adaptation(chain[1])
        spec = catalog.find(adapted["registered_as"])
        assert spec.kind == kinds.MASKED_LM and spec.tasks == ()  # a base to fine-tune, in no inference tab
        final = chain[2].result()
        assert final["base_model"] == adapted["registered_as"]
        assert final["fine_tuned"]["accuracy"] > final["base"]["accuracy"]
        overview = status.overview(chain[0])
        assert [m["role"] for m in overview["chain"]] == ["baseline", "adapt", "adapted"]
        table = adaptation.comparison(overview["chain"])
        assert table[0][0] == "accuracy" and None not in table[0]
        assert adaptation.verdict(overview["chain"]).startswith("Adaptation")


def check_evaluation_repeats_the_adaptation(run) -> None:
    """The base and the adapted model evaluated on the texts the adaptation held out: the same masked
    tokens, so the run's own perplexities and tally; a model with another vocabulary is refused."""
    from pipelines.evaluation import jobs, scoring
    from pipelines.evaluation.report import write_for

    adapted = run.result()
    names = [adapted["base_model"], adapted["registered_as"]]
    job = scoring.start_evaluation(names, from_run=run.id, batch_size=run.config.batch_size)
    wait_until(lambda: job.status()["state"] not in jobs.ACTIVE, 300, f"job {job.id}")
    assert job.status()["state"] == "finished", job.status()["message"] + "\n" + job.log_tail(40)
    result = job.result()
    base, tuned = result["models"]
    assert result["task"] == "masked-lm" and result["rows"] == adapted["held_out_rows"]
    assert base["metrics"]["perplexity"] == pytest.approx(adapted["base"]["perplexity"], rel=1e-3)
    assert tuned["metrics"]["perplexity"] == pytest.approx(adapted["fine_tuned"]["perplexity"], rel=1e-3)
    assert tuned["metrics"]["perplexity"] < base["metrics"]["perplexity"]
    (compared,) = result["comparisons"]
    assert compared["tally"] == adapted["comparison"]["tally"]
    assert any("no masked-LM head" in w for w in result["warnings"])  # tiny-encoder is a bare BertModel
    assert any("[MASK]" in e["input"] for e in result["examples"]) and all(e["reference"] for e in result["examples"])
    page = write_for(job.id)[0].read_text()
    assert "perplexity" in page and html.escape(compared["summary"], quote=False) in page
    with pytest.raises(ValueError, match="split text into different tokens"):
        scoring.start_evaluation([adapted["registered_as"], "all-MiniLM-L6-v2 (packaged)"], from_run=run.id)
