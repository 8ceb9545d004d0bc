"""Our summarize and translate against transformers 4.57's summarization and translation pipelines:
the same checkpoint, the same short input and generation settings must give the same text."""

from __future__ import annotations

import pytest
import torch

from pipelines.tasks.summarization import SummarySettings, summarize
from pipelines.tasks.translation import translate
from tests.helpers.reference import run_reference

pytestmark = pytest.mark.reference

TEXT = "Call me Ishmael. Some years ago, never mind how long precisely, I went to sea."
MAX_NEW_TOKENS = 12
SENTENCES = ["The cat sat on the mat.", "Call me Ishmael.",
             "He wrote Don Quixote, which many call the first modern novel."]

# Runs under transformers 4.57. The tiny models' tokenizer_config names v5's "TokenizersBackend"
# class, unknown to 4.57, so a plain fast tokenizer reads their tokenizer.json instead. The tiny T5
# has no task_specific_params, which is where t5-small keeps its "summarize: " prefix for the
# pipeline, so the job passes the prefix our code derives from model_type == "t5".
REFERENCE_SCRIPT = """
import json, sys
from transformers import AutoTokenizer, PreTrainedTokenizerFast, pipeline
out = []
for job in json.load(sys.stdin)["jobs"]:
    try:
        tok = AutoTokenizer.from_pretrained(job["folder"])
    except ValueError:
        tok = PreTrainedTokenizerFast.from_pretrained(job["folder"])
    pipe = pipeline(job["task"], model=job["folder"], tokenizer=tok)
    if job.get("prefix"):
        pipe.prefix = job["prefix"]
    results = pipe(job["inputs"], max_new_tokens=job["max_new_tokens"], num_beams=job["num_beams"],
                   do_sample=False)
    key = "summary_text" if job["task"] == "summarization" else "translation_text"
    out.append([r[key].strip() for r in results])
print(json.dumps({"outputs": out}))
"""


@pytest.fixture(scope="module")
def sharp(studio_home, tiny_bart, tiny_t5):
    """Copies of the tiny BART and T5 with weights ten times larger. At the usual scale a random
    model writes next to nothing whatever it reads, and two empty outputs agreeing would prove little."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    names = {}
    for name in (tiny_bart, tiny_t5):
        source, target = studio_home / "models" / name, studio_home / "models" / f"{name}-sharp"
        if not target.exists():
            model = AutoModelForSeq2SeqLM.from_pretrained(source)
            torch.manual_seed(0)
            with torch.no_grad():
                for weight in (p for p in model.parameters() if p.dim() > 1):
                    weight.normal_(0.0, 0.2)
            model.save_pretrained(target)
            AutoTokenizer.from_pretrained(source).save_pretrained(target)
        names[name] = target.name
    return names


@pytest.fixture(scope="module")
def theirs(studio_home, sharp, tiny_bart, tiny_t5, tiny_marian) -> dict[str, list[str]]:
    """Every 4.57 output these tests compare with, from one run of the reference environment."""
    bart, t5 = sharp[tiny_bart], sharp[tiny_t5]
    jobs = {
        "bart-greedy": dict(task="summarization", model=bart, inputs=[TEXT, SENTENCES[2]], num_beams=1),
        "bart-beams": dict(task="summarization", model=bart, inputs=[TEXT, SENTENCES[2]], num_beams=4),
        "t5-greedy": dict(task="summarization", model=t5, inputs=[TEXT], num_beams=1, prefix="summarize: "),
        "t5-beams": dict(task="summarization", model=t5, inputs=[TEXT], num_beams=4, prefix="summarize: "),
        "marian": dict(task="translation", model=tiny_marian, inputs=SENTENCES, num_beams=1),
        "t5-fr": dict(task="translation", model=t5, inputs=[SENTENCES[0]], num_beams=1,
                      prefix="translate English to French: "),
    }
    for job in jobs.values():
        job.update(folder=str(studio_home / "models" / job.pop("model")), max_new_tokens=MAX_NEW_TOKENS)
    outputs = run_reference(REFERENCE_SCRIPT, {"jobs": list(jobs.values())})["outputs"]
    return dict(zip(jobs, outputs))


@pytest.mark.parametrize("num_beams, decoding", [(1, "greedy"), (4, "beams")])
def test_summaries_match_the_4_57_pipeline(theirs, sharp, tiny_bart, tiny_t5, num_beams, decoding):
    settings = SummarySettings(max_new_tokens=MAX_NEW_TOKENS, num_beams=num_beams)
    bart = [summarize(text, sharp[tiny_bart], settings).summary for text in (TEXT, SENTENCES[2])]
    t5 = summarize(TEXT, sharp[tiny_t5], settings).summary
    assert bart == theirs[f"bart-{decoding}"]
    assert t5 == theirs[f"t5-{decoding}"][0]
    assert bart[0] != bart[1]  # the output depends on the input: agreeing means something


def test_translations_match_the_4_57_pipeline(theirs, sharp, tiny_marian, tiny_t5):
    marian = translate(" ".join(SENTENCES), tiny_marian, "en", "fr", num_beams=1,
                       max_new_tokens=MAX_NEW_TOKENS)
    t5 = translate(SENTENCES[0], sharp[tiny_t5], "en", "fr", num_beams=1, max_new_tokens=MAX_NEW_TOKENS)
    # 4.57 translates the sentences one by one; we batch them, padded, and join them with the spaces
    assert marian.translation == " ".join(theirs["marian"])
    assert t5.translation == theirs["t5-fr"][0]
    assert len(set(theirs["marian"])) > 1
