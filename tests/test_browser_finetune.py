"""The Fine-tune tab in headless Chromium: upload a CSV, map its columns, train a tiny encoder, watch the
loss plot, reload the page mid-run and find the run again, then see base vs fine-tuned.

The app runs as `python app.py` in a subprocess with a STUDIO_HOME of its own holding a tiny encoder,
so training (an `accelerate launch` process of its own) takes seconds. Screenshots go to
tests/screenshots/finetune_*.png (git-ignored) to look at.
"""

from __future__ import annotations

import re
import urllib.parse

import pytest
from playwright.sync_api import expect

from tests.helpers import browser, tiny_models
from tests.helpers.browser import browser_page, open_tab, running_app
from tests.helpers.tiny_models import write_keywords_csv

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TRAIN_TIMEOUT_MS = 300_000
# A tiny encoder trains a 60-row epoch in a fraction of a second: this many epochs (6 steps each) keep
# it training for tens of seconds, time enough to reload the page mid-run.
EPOCHS = 200


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    home = tmp_path_factory.mktemp("browser_finetune_home")
    tiny_models.build_encoder(home / "models" / "tiny-encoder")
    tiny_models.build_causal_lm(home / "models" / "tiny-lm")
    with running_app(home, OMP_NUM_THREADS="1") as url:
        yield url


@pytest.fixture(scope="module")
def page(app_url):
    with browser_page(app_url) as page:
        open_finetune_tab(page)
        yield page


def open_finetune_tab(page) -> None:
    open_tab(page, "Fine-tune")
    page.wait_for_selector("#finetune-train")


def fill_number(page, elem_id: str, value) -> None:
    box = page.locator(f"#{elem_id} input")
    box.fill(str(value))
    box.press("Tab")


def pick(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def screenshot(page, name: str) -> None:
    browser.screenshot(page, f"finetune_{name}")


def test_upload_map_and_preview(page, tmp_path):
    upload = write_keywords_csv(tmp_path / "reviews.csv", header=("id", "review", "sentiment"))
    page.locator("#finetune-file input[type=file]").set_input_files(str(upload))
    expect(page.locator("#finetune-summary")).to_contain_text("60 rows", timeout=60_000)
    expect(page.locator("#finetune-preview")).to_contain_text("the film was")
    expect(page.locator("#finetune-column-1 input")).to_have_value("review")
    pick(page, "finetune-column-2", "id")  # a wrong choice gets the backend's message
    expect(page.get_by_text("not a label column").first).to_be_visible()
    pick(page, "finetune-column-2", "sentiment")
    expect(page.locator("#finetune-counts")).to_contain_text("positive")
    expect(page.locator("#finetune-counts")).to_contain_text("30")
    screenshot(page, "data")


def test_the_task_decides_the_columns_asked_for(page):
    page.locator("#finetune-task").get_by_text("Extractive question answering").click()
    expect(page.locator("#finetune-column-1")).to_contain_text("Context column")
    expect(page.locator("#finetune-column-3")).to_contain_text("Answer column")
    expect(page.locator("#finetune-adapt")).to_be_hidden()  # adaptation is offered for classification
    pick(page, "finetune-example", "Shakespeare scenes and written passages (preset: 460 questions)")
    expect(page.locator("#finetune-counts")).to_contain_text("460", timeout=60_000)
    expect(page.locator("#finetune-column-2 input")).to_have_value("question")
    expect(page.locator("#finetune-max-length input")).to_have_value("384")
    screenshot(page, "qa_data")
    page.locator("#finetune-task").get_by_text("Text classification").click()
    expect(page.locator("#finetune-column-1")).to_contain_text("Text column")
    expect(page.locator("#finetune-column-3")).to_be_hidden()


def test_train_reload_mid_run_and_see_results(page, tmp_path):
    upload = write_keywords_csv(tmp_path / "reviews.csv", header=("id", "review", "sentiment"))
    page.locator("#finetune-file button[aria-label='Clear']").click()  # the example of the last test
    page.locator("#finetune-file input[type=file]").set_input_files(str(upload))
    expect(page.locator("#finetune-counts")).to_contain_text("30", timeout=60_000)
    base = page.locator("#finetune-base input")
    base.fill("tiny-encoder")
    base.press("Enter")
    fill_number(page, "finetune-lr", 0.003)  # a random tiny BERT learns the keyword with a large step
    fill_number(page, "finetune-epochs", EPOCHS)
    fill_number(page, "finetune-batch", 8)
    fill_number(page, "finetune-max-length", 32)
    page.get_by_text("More settings").click()
    fill_number(page, "finetune-logging-steps", 1)
    fill_number(page, "finetune-eval-steps", 100)  # held-out scores between epochs too, on the score plot
    page.click("#finetune-train")

    run_box = page.locator("#finetune-run-id textarea")
    expect(run_box).not_to_have_value("", timeout=60_000)
    run_id = run_box.input_value()
    total = EPOCHS * 6
    expect(page.locator("#finetune-progress")).to_contain_text(re.compile(rf"step [1-9]\d* / {total}"),
                                                               timeout=TRAIN_TIMEOUT_MS)
    expect(page.locator("#finetune-status")).to_contain_text("Training")
    expect(page.locator("#finetune-loss-plot canvas, #finetune-loss-plot svg").first).to_be_visible()
    expect(page.locator("#finetune-comparison")).to_contain_text("accuracy")  # base scores, before the end
    expect(page.locator("#finetune-metrics-plot")).to_contain_text("macro_f1")  # its curves drawn, mid-run
    screenshot(page, "running")

    page.reload()
    open_finetune_tab(page)
    expect(run_box).to_have_value(run_id)  # this browser's watched run, from localStorage
    expect(page.locator("#finetune-status")).to_contain_text(run_id)
    expect(page.locator("#finetune-status")).to_contain_text("Training")  # still mid-run
    expect(page.locator("#finetune-progress")).to_contain_text(re.compile(rf"step [1-9]\d* / {total}"))
    expect(page.locator("#finetune-runs")).to_contain_text(run_id)
    screenshot(page, "reloaded")

    expect(page.locator("#finetune-status")).to_contain_text("Finished", timeout=TRAIN_TIMEOUT_MS)
    comparison = page.locator("#finetune-comparison")
    expect(comparison).to_contain_text("recall · positive")
    expect(page.locator("#finetune-confusion-base")).to_contain_text("negative")
    expect(page.locator("#finetune-confusion-tuned")).to_contain_text("positive")
    expect(page.locator("#finetune-download")).to_be_visible()
    expect(page.locator("#finetune-note")).to_contain_text("Sentiment", timeout=30_000)
    expect(page.locator("#finetune-examples")).to_contain_text("the film was")  # held-out rows side by side
    expect(page.locator("#finetune-progress")).to_contain_text(f"step {total} / {total}")
    # the paired comparison in words, with its interval, above the saved model's note
    expect(page.locator("#finetune-note")).to_contain_text(re.compile(r"95% CI|includes 0"))
    screenshot(page, "finished")

    page.click("#finetune-report")
    report_link = page.locator("#finetune-report-file a").first
    expect(report_link).to_be_visible(timeout=30_000)
    served = urllib.parse.unquote(report_link.get_attribute("href")).split("file=", 1)[1]
    assert served.endswith("/report.html"), served  # Gradio's copy of the run folder's report
    report = page.context.browser.new_page()  # the file a stakeholder opens from disk, no server behind it
    report.goto(f"file://{served}")
    expect(report.locator("h1")).to_contain_text("Text classification")
    expect(report.locator("p.lead")).to_contain_text(re.compile("fine-tuned", re.IGNORECASE))
    expect(report.locator("svg").first).to_be_visible()  # the curves, drawn inline
    browser.screenshot(report, "finetune_report")
    report.close()

    # the page was loaded mid-run, so the Sentiment picker's first list lacked the new model; opening
    # the tab re-reads it
    registered = re.search(r"saved as (\S+) \(", page.locator("#finetune-note").inner_text()).group(1)
    open_tab(page, "Sentiment")
    page.locator("#sentiment-model input").click()
    expect(page.get_by_role("option").filter(has_text=registered).first).to_be_visible()
    page.keyboard.press("Escape")


def fresh_form(page) -> None:
    """A reload: the form back to its defaults (the watched run stays, in localStorage)."""
    page.reload()
    open_finetune_tab(page)


def train_and_wait(page) -> str:
    """Click Train and wait until the run it starts (not the one watched before) has finished."""
    run_box = page.locator("#finetune-run-id textarea")
    before = run_box.input_value()
    page.click("#finetune-train")
    expect(run_box).not_to_have_value(re.compile(rf"^({re.escape(before)})?$"), timeout=60_000)  # a new id
    run_id = run_box.input_value()
    # the new run's id and its end in one text: a tick that began before the click can still draw the
    # run watched before, for a moment
    expect(page.locator("#finetune-status")).to_contain_text(re.compile(f"{run_id}.*Finished"),
                                                              timeout=TRAIN_TIMEOUT_MS)
    return run_id


def fill_tiny_training(page, upload, epochs: int, max_length: int) -> None:
    page.locator("#finetune-file input[type=file]").set_input_files(str(upload))
    base = page.locator("#finetune-base input")
    base.fill("tiny-encoder")
    base.press("Enter")
    fill_number(page, "finetune-lr", 0.003)
    fill_number(page, "finetune-epochs", epochs)
    fill_number(page, "finetune-batch", 8)
    fill_number(page, "finetune-max-length", max_length)


def test_a_qa_run_from_the_browser_answers_in_the_qa_tab(page, tmp_path):
    fresh_form(page)
    page.locator("#finetune-task").get_by_text("Extractive question answering").click()
    expect(page.locator("#finetune-column-1")).to_contain_text("Context column")
    fill_tiny_training(page, tiny_models.write_qa_jsonl(tmp_path / "qa.jsonl", n=80), epochs=25, max_length=64)
    expect(page.locator("#finetune-counts")).to_contain_text("80", timeout=60_000)
    page.get_by_text("More settings").click()
    page.locator("#finetune-model-name textarea, #finetune-model-name input").first.fill("tiny-qa-browser")
    train_and_wait(page)
    expect(page.locator("#finetune-status")).to_contain_text("Extractive question answering")
    expect(page.locator("#finetune-comparison")).to_contain_text("exact_match", timeout=30_000)
    expect(page.locator("#finetune-examples")).to_contain_text("sit ?")  # question and context, side by side
    expect(page.locator("#finetune-note")).to_contain_text("Question answering", timeout=30_000)
    screenshot(page, "qa_finished")

    open_tab(page, "Question answering")
    model = page.locator("#qa-model input")
    model.fill("tiny-qa-browser")
    model.press("Enter")
    page.locator("#qa-question textarea").fill("where did the dog sit ?")
    page.locator("#qa-context textarea").fill("the sea is deep . the dog sat on the table . the whale is large .")
    page.click("#qa-run")
    expect(page.locator("#qa-timing")).to_contain_text("tiny-qa-browser", timeout=60_000)
    expect(page.locator("#qa-highlight")).to_contain_text("#1")  # an extractive span, highlighted
    browser.screenshot(page, "finetune_qa_model_answers")
    open_finetune_tab(page)


def test_domain_adaptation_from_the_browser_compares_three_runs(page, tmp_path):
    fresh_form(page)
    fill_tiny_training(page, write_keywords_csv(tmp_path / "reviews.csv", n=80), epochs=12, max_length=32)
    expect(page.locator("#finetune-counts")).to_contain_text("40", timeout=60_000)
    page.locator("#finetune-adapt input").check()
    run_box = page.locator("#finetune-run-id textarea")
    before = run_box.input_value()
    page.click("#finetune-train")
    expect(run_box).not_to_have_value(re.compile(rf"^({re.escape(before)})?$"), timeout=60_000)  # a new id
    note = page.locator("#finetune-chain-note")
    expect(note).to_contain_text("Domain adaptation, three runs", timeout=TRAIN_TIMEOUT_MS)
    expect(note).to_contain_text(re.compile(r"Adaptation (helped|did not help|made no difference)"),
                                 timeout=TRAIN_TIMEOUT_MS)
    expect(page.locator("#finetune-chain")).to_contain_text("accuracy")
    expect(page.locator("#finetune-runs")).to_contain_text("masked-lm")
    screenshot(page, "adaptation")


def test_a_lora_summarizer_from_the_browser_answers_in_the_summarization_tab(page, tmp_path):
    fresh_form(page)
    page.locator("#finetune-task").get_by_text("Causal LM (prompt/response pairs, or plain text)").click()
    expect(page.locator("#finetune-generation")).to_be_visible()
    upload = tiny_models.write_summary_pairs(tmp_path / "summaries.csv", n=96)
    page.locator("#finetune-file input[type=file]").set_input_files(str(upload))
    expect(page.locator("#finetune-counts")).to_contain_text("96", timeout=60_000)
    base = page.locator("#finetune-base input")
    base.fill("tiny-lm")
    base.press("Enter")
    fill_number(page, "finetune-lr", 0.01)
    fill_number(page, "finetune-epochs", 50)
    fill_number(page, "finetune-batch", 8)
    fill_number(page, "finetune-max-length", 96)
    fill_number(page, "finetune-max-new-tokens", 6)
    page.locator("#finetune-generation").get_by_text("Summarization (ROUGE-L)").click()
    page.locator("#finetune-lora input").check()
    page.get_by_text("More settings").click()
    page.locator("#finetune-model-name textarea, #finetune-model-name input").first.fill("tiny-summarizer-browser")
    train_and_wait(page)
    expect(page.locator("#finetune-status")).to_contain_text("Summarization by a causal LM: LoRA (rank 16, alpha 32) of tiny-lm")
    # the table is drawn in the same update as the status, but a loaded browser can draw it later
    expect(page.locator("#finetune-comparison")).to_contain_text("rougeL", timeout=30_000)
    expect(page.locator("#finetune-note")).to_contain_text("Summarization", timeout=30_000)
    screenshot(page, "lora_finished")

    open_tab(page, "Summarization")
    model = page.locator("#summarization-model input")
    model.fill("tiny-summarizer-browser")
    model.press("Enter")
    page.locator("#summarization-text textarea").fill("whale table cat sea")
    page.click("#summarization-run")
    expect(page.locator("#summarization-timing")).to_contain_text("tiny-summarizer-browser", timeout=60_000)
    expect(page.locator("#summarization-summary textarea")).to_have_value(re.compile("is deep"))
    browser.screenshot(page, "finetune_lora_model_summarizes")
    open_finetune_tab(page)
