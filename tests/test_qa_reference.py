"""Our extractive QA against transformers 4.57's question-answering pipeline on the same checkpoint
and input: the same answers at the same offsets, in the same order, with the same scores."""

from __future__ import annotations

import pytest

from pipelines.tasks import qa
from pipelines.text import corpora
from tests.helpers.models import loaded
from tests.helpers.reference import run_reference
from tests.helpers.tiny_models import CORPUS

pytestmark = pytest.mark.reference

TOP_K, MAX_ANSWER_LEN, DOC_STRIDE = 3, 30, 128
CASES = [
    ("Who wrote Don Quixote?", CORPUS[0] + " " + CORPUS[1]),
    # Five 384-token windows; the repeated sentences also exercise the adding up of an answer found
    # in several windows. The Hamlet scene below makes 21.
    ("Where did the ship sail from?", " ".join(CORPUS * 10)),
]

# Runs under transformers 4.57. The tiny model's tokenizer_config names v5's "TokenizersBackend",
# unknown to 4.57, so a plain fast tokenizer reads its tokenizer.json.
REFERENCE_SCRIPT = """
import json, sys
from transformers import AutoModelForQuestionAnswering, PreTrainedTokenizerFast, pipeline
job = json.load(sys.stdin)
tok = PreTrainedTokenizerFast.from_pretrained(job["folder"])
pipe = pipeline("question-answering", model=AutoModelForQuestionAnswering.from_pretrained(job["folder"]),
                tokenizer=tok, device="cpu")
out = []
for question, context in job["cases"]:
    kwargs = dict(question=question, context=context, max_answer_len=job["max_answer_len"],
                  doc_stride=job["doc_stride"])
    answers = pipe(top_k=job["top_k"], **kwargs)
    best_or_null = pipe(top_k=1, handle_impossible_answer=True, **kwargs)
    out.append({"answers": answers, "null_wins": best_or_null["answer"] == ""})
print(json.dumps(out))
"""


def test_extractive_answers_match_transformers_4_57(tiny_qa, studio_home):
    cases = CASES + [("Where was the king sleeping?", corpora.shakespeare_scene("hamlet", 1, 5))]
    windows = qa.preprocess_extractive(loaded("qa", tiny_qa), *cases[1], doc_stride=DOC_STRIDE)
    assert windows.inputs["input_ids"].shape[0] > 3

    expected = run_reference(REFERENCE_SCRIPT, {
        "folder": str(studio_home / "models" / tiny_qa), "cases": cases, "top_k": TOP_K,
        "max_answer_len": MAX_ANSWER_LEN, "doc_stride": DOC_STRIDE})

    for (question, context), reference in zip(cases, expected):
        ours = qa.answer_question(question, context, tiny_qa, top_k=TOP_K, max_answer_len=MAX_ANSWER_LEN,
                                  doc_stride=DOC_STRIDE)
        assert [(a.text, a.start, a.end) for a in ours.answers] == [
            (r["answer"], r["start"], r["end"]) for r in reference["answers"]]
        for answer, r in zip(ours.answers, reference["answers"]):
            # Both bounds: the tiny model's scores are about 1e-4 themselves.
            assert abs(answer.score - r["score"]) <= 1e-4
            assert answer.score == pytest.approx(r["score"], rel=1e-4)
        assert ours.no_answer == reference["null_wins"]
