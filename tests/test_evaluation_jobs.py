"""Evaluations and learning curves end to end on a tiny encoder, each in its own process.

An evaluation of a run's base and fine-tuned models on the run's held-out rows repeats the run's own
scores and paired tally; an uploaded file is scored whole; a learning curve trains pretrained and
from-scratch points on growing subsets, stops, continues without retraining what it finished, and ends
in a result and a report that match its points' own files.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from pipelines.evaluation import curve, jobs, scoring, zero_shot
from pipelines.evaluation.report import write_for
from pipelines.finetune.config import FinetuneConfig
from tests.helpers import tiny_models
from tests.helpers.finetune import run_cli, wait_until

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
pytestmark = pytest.mark.training  # every test here trains, or waits for a job's process


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with tiny_models.finetune_home(tmp_path_factory.mktemp("evaluation_home")) as home:
        yield home


@pytest.fixture(scope="module")
def keywords_csv(tmp_path_factory):
    return tiny_models.write_keywords_csv(tmp_path_factory.mktemp("upload") / "keywords.csv")


def keyword_config(data_file, **changes) -> FinetuneConfig:
    values = dict(data_file=str(data_file), base_model="tiny-encoder", batch_size=8, learning_rate=3e-3,
                  max_length=32, epochs=12, logging_steps=5, mixed_precision="no")
    return FinetuneConfig(**{**values, **changes})


@pytest.fixture(scope="module")
def trained(home, keywords_csv, tmp_path_factory):
    config_file = tmp_path_factory.mktemp("config") / "config.json"
    keyword_config(keywords_csv, name="tiny-evaluated").to_json(config_file)
    run, _ = run_cli(config_file)
    assert run.result()["fine_tuned"]["accuracy"] > run.result()["base"]["accuracy"]
    return run


def finished(job: jobs.JobFolder, timeout_s: float = 300) -> dict:
    wait_until(lambda: job.status()["state"] not in jobs.ACTIVE, timeout_s, f"job {job.id}")
    status = job.status()
    assert status["state"] == "finished", status["message"] + "\n" + job.log_tail(40)
    return job.result()


def test_an_evaluation_of_a_runs_models_repeats_the_runs_scores(trained):
    run_result = trained.result()
    job = scoring.start_evaluation([run_result["base_model"], run_result["registered_as"]], from_run=trained.id,
                                   batch_size=5)
    assert job.path.parent.name == "evaluations" and job.id.startswith("eval-")
    result = finished(job)
    assert result["rows"] == run_result["held_out_rows"] == 12
    base, tuned = result["models"]
    # the same rows, the same precision and the same untrained head (same seed): the run's own numbers
    assert base["metrics"]["accuracy"] == pytest.approx(run_result["base"]["accuracy"])
    assert tuned["metrics"]["accuracy"] == pytest.approx(run_result["fine_tuned"]["accuracy"])
    (compared,) = result["comparisons"]
    assert compared["tally"] == run_result["comparison"]["tally"]
    assert compared["difference"]["value"] == pytest.approx(run_result["comparison"]["difference"]["value"])
    assert compared["names"] == [base["name"], tuned["name"]] and "mcnemar" in compared
    assert compared["summary"] in result["summary"]
    for model in result["models"]:
        matrix = model["details"]["confusion_matrix"]
        assert sum(map(sum, matrix)) == 12
        assert sum(matrix[i][i] for i in range(len(matrix))) / 12 == pytest.approx(model["metrics"]["accuracy"])
        assert model["interval"]["low"] <= model["interval"]["value"] <= model["interval"]["high"]
        assert model["rows_per_s"] > 0 and model["seconds"] > 0
    examples = result["examples"]
    assert len(examples) == 12 and all(len(e["outputs"]) == 2 for e in examples)
    # a row the models disagree on is one the tally counts as won or lost
    assert sum(e["disagree"] for e in examples) == compared["tally"]["wins"] + compared["tally"]["losses"]
    assert any("untrained head" in w for w in result["warnings"])  # the base encoder's head is new

    report, markdown = write_for(job.id)
    page = report.read_text()
    assert html.escape(compared["summary"], quote=False) in page or html.escape(compared["summary"]) in page
    text = markdown.read_text()
    assert markdown.name == "report.md" and compared["summary"] in text and "| model | accuracy (95% CI)" in text
    for model in result["models"]:
        assert html.escape(model["name"]) in page
    assert "<script" not in page and "http" not in re.sub(r"xmlns='http://www.w3.org/2000/svg'", "", page)


def test_an_uploaded_file_is_scored_whole_and_bad_requests_are_refused(trained, keywords_csv):
    name = trained.result()["registered_as"]
    job = scoring.start_evaluation([name], data_file=keywords_csv, task="classification", max_rows=40)
    result = finished(job)
    assert result["rows"] == 40 and result["comparisons"] == [] and result["source"] == "'keywords.csv'"
    assert (job.data_dir / "keywords.csv").read_bytes() == keywords_csv.read_bytes()  # a copy; the upload is kept
    assert name in result["summary"] and "95% CI" in result["summary"]

    with pytest.raises(ValueError, match="at most 4"):
        scoring.start_evaluation(["a", "b", "c", "d", "e"], data_file=keywords_csv)
    with pytest.raises(ValueError, match="at least one model"):
        scoring.start_evaluation([" "], data_file=keywords_csv)
    with pytest.raises(ValueError, match="no fine-tuning run"):
        scoring.start_evaluation([name], from_run="../etc")
    with pytest.raises(ValueError, match="Upload a labelled file"):
        scoring.start_evaluation([name])
    with pytest.raises(ValueError, match="causal-lm model; a masked-lm domain adaptation evaluation scores"):
        scoring.start_evaluation([name, "SmolLM2-135M-Instruct (packaged)"], data_file=keywords_csv, task="masked-lm")
    with pytest.raises(ValueError, match="no evaluation"):
        jobs.find_job("evaluation", "eval-nope")


def test_a_language_model_is_asked_zero_shot_beside_the_classifier(trained, home):
    from pipelines.models import catalog, loading
    from pipelines.tasks.sentiment import lm_label_probabilities

    tiny_models.build_causal_lm(home / "models" / "tiny-lm")
    tuned = trained.result()["registered_as"]
    result = finished(scoring.start_evaluation([tuned, "tiny-lm"], from_run=trained.id, mixed_precision="no"))
    classifier, lm = result["models"]
    assert lm["name"] == "tiny-lm" and lm["rows"] == classifier["rows"] == 12
    assert sum(map(sum, lm["details"]["confusion_matrix"])) == 12 and lm["details"]["labels"] == ["negative", "positive"]
    (compared,) = result["comparisons"]
    assert compared["names"] == [tuned, "tiny-lm"] and "mcnemar" in compared
    assert any("tiny-lm is a language model: it was asked zero-shot" in w for w in result["warnings"])
    # each row's answer is the LM asked directly, with the labels in the same order
    texts = [e["input"] for e in result["examples"]]
    asked = lm_label_probabilities(loading.load(catalog.find("tiny-lm"), precision="float32"), texts,
                                   ["negative", "positive"])
    expected = [f"{['negative', 'positive'][row.index(max(row))]} ({max(row):.2f})" for row in asked]
    assert [e["outputs"][1] for e in result["examples"]] == expected
    correct = sum(e["values"][1] == 1.0 for e in result["examples"])
    assert lm["metrics"]["accuracy"] == pytest.approx(correct / 12)

    numbered = SimpleNamespace(details={"labels": ["0", "1"]})
    assert zero_shot.notes("classification", "lm", numbered)[1].startswith("Zero-shot: the labels are numbers (0, 1)")
    assert len(zero_shot.notes("classification", "lm", SimpleNamespace(details={"labels": ["-1", "1"]}))) == 2
    assert len(zero_shot.notes("classification", "lm", SimpleNamespace(details={"labels": ["no", "yes"]}))) == 1


def test_an_encoder_decoder_and_a_causal_lm_are_compared_on_the_same_summaries(home, tmp_path):
    for name, build in (("tiny-bart", tiny_models.build_seq2seq), ("tiny-lm", tiny_models.build_causal_lm)):
        if not (home / "models" / name).is_dir():
            build(home / "models" / name)
    pairs = tiny_models.write_summary_pairs(tmp_path / "summaries.csv", n=24)
    common = dict(data_file=pairs, purpose="summarization", max_rows=12, batch_size=4, mixed_precision="no")
    mixed = finished(scoring.start_evaluation(["tiny-bart", "tiny-lm"], task="seq2seq", **common))
    alone = finished(scoring.start_evaluation(["tiny-lm"], task="causal-lm", **common))
    bart, lm = mixed["models"]
    assert mixed["metric"] == "rougeL" and mixed["rows"] == 12 and bart["rows"] == lm["rows"] == 12
    # the LM is asked exactly as an evaluation of causal LMs asks it: the same outputs and scores
    assert lm["metrics"] == alone["models"][0]["metrics"]
    assert [e["outputs"][1] for e in mixed["examples"]] == [e["outputs"][0] for e in alone["examples"]]
    (compared,) = mixed["comparisons"]
    assert compared["names"] == ["tiny-bart", "tiny-lm"] and len(mixed["examples"]) == 12
    assert any(w.startswith("tiny-lm is a causal LM: it was asked as a causal-lm run asks it") for w in mixed["warnings"])
    assert not any("asked as" in w for w in alone["warnings"])
    # plain-text perplexity is per tokenizer: no crossing there
    with pytest.raises(ValueError, match="'tiny-bart' is a seq2seq model; a text generation by a causal lm evaluation"):
        scoring.start_evaluation(["tiny-lm", "tiny-bart"], data_file=pairs, task="causal-lm", purpose="generation")


def test_a_language_model_answers_questions_in_its_own_words_beside_an_extractive_model(home, tmp_path):
    from pipelines.models import catalog, loading
    from pipelines.tasks import qa

    if not (home / "models" / "tiny-lm").is_dir():
        tiny_models.build_causal_lm(home / "models" / "tiny-lm")
    questions = tiny_models.write_qa_jsonl(tmp_path / "questions.jsonl", n=20)
    result = finished(scoring.start_evaluation(["tiny-encoder", "tiny-lm"], data_file=questions, task="extractive-qa",
                                               mixed_precision="no"))
    extractive, lm = result["models"]
    assert result["metric"] == "f1" and extractive["rows"] == lm["rows"] == 20
    assert set(lm["metrics"]) == {"exact_match", "f1"} and len(result["comparisons"]) == 1
    assert any(w.startswith("tiny-lm is a language model: it answered each question in its own words")
               for w in result["warnings"])
    # the answers are the Question answering tab's generative answers to the 20 questions
    model = loading.load(catalog.find("tiny-lm"), precision="float32")
    asked = [qa.generate_answer(model, row["question"], row["context"]).text or "(no answer)"
             for row in map(json.loads, questions.read_text().splitlines())]
    assert sorted(e["outputs"][1] for e in result["examples"]) == sorted(asked)
    assert lm["metrics"]["f1"] == pytest.approx(sum(e["values"][1] for e in result["examples"]) / 20 * 100, abs=1e-3)


@pytest.mark.slow
def test_smollm2_zero_shot_gives_the_sentiment_tabs_answers(home):
    from pipelines.finetune import data
    from pipelines.tasks.sentiment import classify_lines

    smol = "SmolLM2-135M-Instruct (packaged)"
    reviews = data.read_table(EXAMPLES / "sentiment_train.csv")
    result = finished(scoring.start_evaluation([smol], data_file=EXAMPLES / "sentiment_train.csv", max_rows=40,
                                               mixed_precision="no"), timeout_s=600)
    (lm,) = result["models"]
    assert result["rows"] == 40 and lm["metrics"]["accuracy"] > 0.7  # 0.8 on film reviews it never trained on
    tab = {r.text: r.labels[0].label for r in classify_lines([e["input"] for e in result["examples"]], smol)}
    assert [e["outputs"][0].split(" (")[0] for e in result["examples"]] == [tab[e["input"]] for e in result["examples"]]
    assert set(tab) <= set(reviews["text"])


def test_a_scratch_base_has_the_architecture_and_not_the_weights(home):
    from pipelines.finetune.model import load_with_head, resolve_base

    pretrained, _ = load_with_head(resolve_base("tiny-encoder"), "AutoModelForSequenceClassification", "test",
                                   num_labels=2)
    scratch, _ = load_with_head(resolve_base("tiny-encoder", scratch=True), "AutoModelForSequenceClassification",
                                "test", num_labels=2, ignore_mismatched_sizes=True)
    shapes = lambda m: {k: v.shape for k, v in m.state_dict().items()}  # noqa: E731
    assert shapes(pretrained) == shapes(scratch)
    name = "bert.embeddings.word_embeddings.weight"
    assert not torch.equal(pretrained.state_dict()[name], scratch.state_dict()[name])


def test_a_learning_curve_stops_continues_and_reports(home, keywords_csv):
    config = keyword_config(keywords_csv, epochs=1, max_eval_rows=12)
    with pytest.raises(ValueError, match="Subset sizes"):
        curve.start_curve(config, sizes="ten", seeds=[1])
    with pytest.raises(ValueError, match="every subset size"):
        curve.start_curve(config, sizes=[500], seeds=[1])
    job = curve.start_curve(config, sizes=[12, 24, 500], seeds=[1, 2])
    spec = job.config
    assert spec["sizes"] == [12, 24] and spec["dropped_sizes"] == [500]  # 48 rows to train on at most
    wait_until(lambda: len(list(job.points_dir.glob("*/result.json"))) >= 2 or job.status()["state"] not in jobs.ACTIVE,
               300, "two points")
    jobs.request_stop(job)
    wait_until(lambda: job.status()["state"] not in jobs.ACTIVE + ("stopping",), 300, "the curve to stop")
    assert job.status()["state"] == "stopped", job.status()
    done_before = {p.parent.name: p.stat().st_mtime for p in job.points_dir.glob("*/result.json")}
    assert 2 <= len(done_before) < 8

    jobs.continue_job(job)
    result = finished(job)
    for name, mtime in done_before.items():  # finished points are not trained again
        assert (job.points_dir / name / "result.json").stat().st_mtime == mtime
    assert result["sizes"] == [12, 24] and result["seeds"] == [1, 2] and result["held_out_rows"] == 12
    assert set(result["curves"]) == {"pretrained", "scratch"}
    for init, points in result["curves"].items():
        assert [p["size"] for p in points] == [12, 24]
        for p in points:
            folders = [curve.point_folder(job, p["size"], init, seed) for seed in (1, 2)]
            scores = [f.result()["fine_tuned"]["accuracy"] for f in folders]
            assert p["values"] == scores and p["low"] == min(scores) and p["high"] == max(scores)
            assert all(f.result()["train_rows"] == p["size"] and f.result()["init"] == init for f in folders)
            assert not any((f.path / "model").exists() or (f.path / "checkpoints").exists() for f in folders)
    assert [g["size"] for g in result["gaps"]] == [12, 24]
    assert "trained from scratch" in result["summary"]
    # small subsets train for more epochs: at least MIN_STEPS optimizer steps each (12 rows: 2 batches of 8)
    assert {p["size"]: p["epochs"] for p in result["points"]}[12] == curve.epochs_for(12, 1, 8) == 40
    assert all(p["steps"] >= curve.MIN_STEPS for p in result["points"])

    page, markdown = (path.read_text() for path in write_for(job.id))
    assert result["summary"] in markdown and "| 24 |" in markdown
    assert "<svg" in page and html.escape(result["summary"], quote=False) in page
    assert f"{result['curves']['pretrained'][0]['mean'] * result['points_scale']:.1f}" in page  # accuracy in points


def test_a_learning_curve_draws_a_reference_scored_on_its_held_out_rows(trained, home, keywords_csv):
    if not (home / "models" / "tiny-lm").is_dir():
        tiny_models.build_causal_lm(home / "models" / "tiny-lm")
    config = keyword_config(keywords_csv, epochs=1)
    with pytest.raises(ValueError, match="a reference line is a model that does this task"):
        curve.start_curve(config, sizes=[12], seeds=[1], reference="tiny-encoder")  # a bare encoder: chance
    job = curve.start_curve(config, sizes=[12, 24], seeds=[1], reference="tiny-lm")
    result = finished(job)
    reference = result["reference"]
    assert reference["name"] == "tiny-lm" and reference["rows"] == result["held_out_rows"] == 12
    interval = reference["interval"]
    assert interval["low"] <= reference["value"] == interval["value"] <= interval["high"]
    # the curve's held-out rows are the run's (same file, same split): the same zero-shot score
    asked = finished(scoring.start_evaluation(["tiny-lm"], from_run=trained.id, mixed_precision="no"))
    assert reference["value"] == pytest.approx(asked["models"][0]["metrics"]["accuracy"])
    assert f"The reference, tiny-lm, scored {reference['value'] * 100:.1f}" in result["summary"]
    said = lambda means: curve.reference_in_words(scoring.tasks.get("classification"), "enc", {"pretrained": [  # noqa: E731
        {"size": size, "mean": mean} for size, mean in zip((50, 100, 200), means)]}, {
        "name": "lm", "value": 0.776, "interval": {"low": 0.736, "high": 0.812}}, 100.0)
    assert said([0.70, 0.79, 0.90]).endswith("is better than it at 2 of 3 sizes, first at 100 training rows; "
                                             "beyond its 95% interval at 1 of them.")
    assert said([0.90, 0.95, 0.99]).endswith("at every size, first at 50 training rows; beyond its 95% interval at "
                                             "all of them.")
    assert said([0.70, 0.70, 0.78]).endswith("at 1 of 3 sizes, first at 200 training rows; inside its 95% interval "
                                             "at all of them.")
    assert said([0.5, 0.6, 0.7]).endswith("The mean of pretrained enc's seeds was not better than it at any size tried.")
    assert any("tiny-lm is a language model: it was asked zero-shot" in w for w in result["warnings"])
    page = write_for(job.id)[0].read_text()
    assert "stroke-dasharray" in page and f"tiny-lm: {reference['value'] * 100:.1f}" in page
    # kept beside the points, so that a stopped curve continued later does not score it again
    assert json.loads((job.path / "reference.json").read_text()) == reference


def test_the_api_starts_and_follows_an_evaluation_and_reports_it(trained):
    from gradio_client.exceptions import AppError

    from tests.helpers.app import served_app

    result = trained.result()
    models = [result["base_model"], result["registered_as"]]
    with served_app() as client:
        started = client.predict(models, trained.id, None, "classification", "", "", 1000, 8,
                                 api_name="/start_evaluation")
        evaluation_id = started["evaluation_id"]

        def done():
            return client.predict(evaluation_id, api_name="/evaluation_status")["state"] not in jobs.ACTIVE

        wait_until(done, 300, "the evaluation")
        status = client.predict(evaluation_id, api_name="/evaluation_status")
        assert status["state"] == "finished", status
        assert [m["name"] for m in status["result"]["models"]] == models
        assert status["result"]["comparisons"][0]["tally"] == result["comparison"]["tally"]
        report = client.predict(evaluation_id, api_name="/make_report")  # the file component's update
        files = report["value"] if isinstance(report, dict) else report
        assert [f.rsplit("/", 1)[-1] for f in files] == ["report.html", "report.md"]
        page = open(files[0]).read()
        assert "Paired comparison with the first model" in page and html.escape(models[1]) in page
        with pytest.raises(AppError, match="at most 4"):
            client.predict(["a", "b", "c", "d", "e"], trained.id, None, "classification", "", "", 100, 8,
                           api_name="/start_evaluation")
        with pytest.raises(AppError, match="no learning curve"):
            client.predict("curve-../x", api_name="/learning_curve_status")
        with pytest.raises(AppError, match="Subset sizes"):
            client.predict(None, "classification", "", "tiny-encoder", "fifty", "1, 2", 1, 0.001, 8,
                           api_name="/start_learning_curve")
