"""Sentiment and generation against transformers 4.57's own pipelines, on the same tiny checkpoints."""

from __future__ import annotations

import pytest

from pipelines.models.lm import GenerationSettings
from pipelines.tasks.generation import generate_text
from pipelines.tasks.sentiment import classify_lines
from tests.helpers.reference import run_reference

pytestmark = pytest.mark.reference

# transformers 4.57 does not know the tokenizer class name that 5 writes ("TokenizersBackend"), so
# the scripts load the tokenizer as the generic fast tokenizer it is.
CLASSIFY = """
import json, sys
from transformers import PreTrainedTokenizerFast, pipeline
p = json.load(sys.stdin)
classify = pipeline("text-classification", model=p["folder"], top_k=None, device="cpu",
                    tokenizer=PreTrainedTokenizerFast.from_pretrained(p["folder"]))
print(json.dumps([[[d["label"], d["score"]] for d in row] for row in classify(p["texts"])]))
"""

GENERATE = """
import json, sys
from transformers import PreTrainedTokenizerFast, pipeline
p = json.load(sys.stdin)
generate = pipeline("text-generation", model=p["folder"], device="cpu",
                    tokenizer=PreTrainedTokenizerFast.from_pretrained(p["folder"]))
print(json.dumps([generate(prompt, do_sample=False, max_new_tokens=p["max_new_tokens"],
                           repetition_penalty=p["repetition_penalty"], return_full_text=False)[0]["generated_text"]
                  for prompt in p["prompts"]]))
"""

TEXTS = [
    "This movie was wonderful, moving and funny.",
    "That film was dull and boring.",
    "Call me Ishmael. Some years ago, never mind how long precisely, I went to sea.",
    "sea",
    "Who wrote the book? When was he born?",
]


@pytest.mark.parametrize("which", ["tiny_classifier", "sharp_classifier"])
def test_classify_lines_matches_the_text_classification_pipeline(which, request, studio_home):
    model = request.getfixturevalue(which)
    ours = classify_lines(TEXTS, model, batch_size=2)  # padded batches against 4.57's one text at a time
    theirs = run_reference(CLASSIFY, {"folder": str(studio_home / "models" / model), "texts": TEXTS})
    for result, expected in zip(ours, theirs, strict=True):
        assert [s.label for s in result.labels] == [label for label, _ in expected]
        assert [s.score for s in result.labels] == pytest.approx([score for _, score in expected], abs=1e-5)


def test_greedy_generation_matches_the_text_generation_pipeline(studio_home, tiny_lm_plain):
    folder = studio_home / "models" / tiny_lm_plain  # no chat template: both sides read the same text
    prompts = ["The whale is large", "This movie was wonderful", "Call me Ishmael.", "He wrote Don Quixote"]
    for penalty in (1.0, 1.3):
        settings = GenerationSettings(max_new_tokens=20, temperature=0.0, repetition_penalty=penalty)
        ours = [generate_text(prompt, folder.name, settings).text for prompt in prompts]
        theirs = run_reference(GENERATE, {"folder": str(folder), "prompts": prompts, "max_new_tokens": 20,
                                          "repetition_penalty": penalty})
        assert [as_4_57_shows(text) for text in ours] == [text.strip() for text in theirs]
        assert sum(len(text.split()) for text in ours) >= 20  # real continuations, not early ends


def as_4_57_shows(text: str) -> str:
    """An answer that starts mid-word, as the pipeline writes it. WordPiece decodes a first piece
    '##ely' with its '##' when the answer is decoded alone (as a stream is); 4.57 decodes prompt and
    answer together and cuts the prompt's text off, which loses the '##'. Byte-level BPE models such
    as SmolLM2 and GPT-2 decode the same both ways."""
    return text.removeprefix("##")
