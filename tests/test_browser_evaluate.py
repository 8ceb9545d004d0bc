"""The Evaluate tab in headless Chromium: a finished run's base and fine-tuned models scored on its held-out
rows (the run and its two models are proposed when the page loads), the paired comparison in words, the
rows where they differ, a reload that comes back to the evaluation, a report; then a learning curve on an
uploaded file. Screenshots: tests/screenshots/evaluate_*.png.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from pipelines.finetune.config import FinetuneConfig
from tests.helpers import browser, tiny_models
from tests.helpers.browser import browser_page, open_tab, running_app
from tests.helpers.finetune import run_cli

pytestmark = [pytest.mark.browser, pytest.mark.slow]
JOB_TIMEOUT_MS = 300_000


@pytest.fixture(scope="module")
def keywords_csv(tmp_path_factory):
    return tiny_models.write_keywords_csv(tmp_path_factory.mktemp("upload") / "keywords.csv")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, keywords_csv):
    home = tmp_path_factory.mktemp("browser_evaluate_home")
    with tiny_models.finetune_home(home):  # a tiny encoder, and STUDIO_HOME for the run below
        config_file = home / "config.json"
        FinetuneConfig(data_file=str(keywords_csv), base_model="tiny-encoder", batch_size=8, learning_rate=3e-3,
                       max_length=32, epochs=12, mixed_precision="no", name="tiny-keywords").to_json(config_file)
        run_cli(config_file)
        with running_app(home, OMP_NUM_THREADS="1") as url:
            yield url


def test_evaluate_a_runs_two_models_and_come_back_after_a_reload(app_url):
    with browser_page(app_url) as page:
        open_tab(page, "Evaluate")
        expect(page.locator("#evaluate-models")).to_contain_text("tiny-keywords", timeout=30_000)
        expect(page.locator("#evaluate-models")).to_contain_text("tiny-encoder")
        page.locator("#evaluate-start").click()
        summary = page.locator("#evaluate-summary")
        expect(summary).to_contain_text("tiny-keywords is better than tiny-encoder by", timeout=JOB_TIMEOUT_MS)
        expect(summary).to_contain_text("95% CI")
        expect(page.locator("#evaluate-models-table")).to_contain_text("accuracy")
        expect(page.locator("#evaluate-comparison")).to_contain_text("tiny-keywords vs tiny-encoder")
        page.get_by_text("Rows where the models differ").click()
        expect(page.locator("#evaluate-examples")).to_contain_text("the film was")
        browser.screenshot(page, "evaluate_finished")
        watched = page.locator("#evaluate-id input, #evaluate-id textarea").first.input_value()
        assert watched.startswith("eval-")

        page.reload()
        open_tab(page, "Evaluate")
        expect(page.locator("#evaluate-id input, #evaluate-id textarea").first).to_have_value(watched, timeout=30_000)
        expect(page.locator("#evaluate-summary")).to_contain_text("better than", timeout=30_000)
        page.locator("#evaluate-report").click()
        links = page.locator("#evaluate-report-file a")
        expect(links.first).to_have_attribute("href", re.compile(r"report\.html$"), timeout=30_000)
        expect(links.nth(1)).to_have_attribute("href", re.compile(r"report\.md$"))


def test_a_learning_curve_on_an_uploaded_file(app_url, keywords_csv):
    with browser_page(app_url) as page:
        open_tab(page, "Evaluate")
        page.get_by_role("tab", name="Transfer vs scratch (learning curve)").click()
        page.locator("#curve-source").get_by_text("A labelled file").click()
        page.locator("#curve-file input[type=file]").set_input_files(str(keywords_csv))
        base = page.locator("#curve-base input")
        base.fill("tiny-encoder")
        base.press("Enter")
        for elem_id, value in (("curve-sizes", "12, 24"), ("curve-seeds", "1, 2"), ("curve-epochs", "1"),
                               ("curve-lr", "0.003"), ("curve-batch", "8")):
            box = page.locator(f"#{elem_id} input, #{elem_id} textarea").first
            box.fill(value)
            box.press("Tab")
        page.locator("#curve-start").click()
        expect(page.locator("#curve-summary")).to_contain_text("trained from scratch", timeout=JOB_TIMEOUT_MS)
        expect(page.locator("#curve-table")).to_contain_text("24")
        expect(page.locator("#curve-plot svg")).to_be_visible()
        browser.screenshot(page, "evaluate_learning_curve")
