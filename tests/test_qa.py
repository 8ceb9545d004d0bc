"""Question answering: span decoding across windows, sentence ranking, generative answers, input checks,
and the public-domain texts the examples read. Tiny models, except the tests marked slow."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipelines.runtime.settings import REPO_ROOT
from pipelines.tasks import qa
from pipelines.tasks.sentence_ranking import answer_sentences
from pipelines.text import corpora
from pipelines.text.inputs import MAX_INPUT_CHARS
from tests.helpers.models import loaded
from tests.helpers.tiny_models import CORPUS

EXAMPLES = json.loads((REPO_ROOT / "examples" / "qa.json").read_text())
CERVANTES = EXAMPLES[0]["context"]
SHORT = CORPUS[0] + " " + CORPUS[1]
# About 950 tokens for the tiny tokenizer: four 384-token windows that overlap by 128.
LONG = " ".join(CORPUS[:5] * 12)


# --- extractive ---------------------------------------------------------------------------------

def test_long_context_answers_slice_the_context_best_first(tiny_qa):
    windows = qa.preprocess_extractive(loaded("qa", tiny_qa), "Who wrote Don Quixote?", LONG, doc_stride=128)
    assert windows.inputs["input_ids"].shape[0] >= 3  # really several windows

    result = qa.answer_question("Who wrote Don Quixote?", LONG, tiny_qa, top_k=3)

    assert result.method == "extractive" and result.model == tiny_qa
    assert len(result.answers) == 3
    for answer in result.answers:
        assert LONG[answer.start:answer.end] == answer.text and answer.text.strip()
        assert 0 < answer.score <= 1
    scores = [a.score for a in result.answers]
    assert scores == sorted(scores, reverse=True)
    assert len({a.text.lower() for a in result.answers}) == 3  # distinct answers
    assert qa.answer_question("Who wrote Don Quixote?", LONG, tiny_qa, top_k=3).to_dict() == result.to_dict()


@pytest.mark.parametrize("top_k", [1, 5])
def test_top_k_is_respected(tiny_qa, top_k):
    result = qa.answer_question("Where was he born?", SHORT, tiny_qa, top_k=top_k)
    assert len(result.answers) == top_k


def test_answer_in_a_later_window_is_found(tiny_qa):
    """Real windows from the tokenizer, crafted logits: the span sits in a window after the first."""
    context = " ".join(CORPUS[:2] * 30) + " The ship sailed from Nantucket."
    question = "Where did the ship sail from?"
    windows = qa.preprocess_extractive(loaded("qa", tiny_qa), question, context, doc_stride=128)
    target = context.index("Nantucket")
    w, tokens = next((w, np.nonzero(windows.chars[w, :, 0] == target)[0])
                     for w in range(len(windows.chars)) if (windows.chars[w, :, 0] == target).any())
    assert w >= 1
    start = np.zeros(windows.scored.shape, dtype=np.float32)
    end = np.zeros_like(start)
    start[w, tokens[0]] = end[w, tokens[-1]] = 12.0

    answers, null_score = qa.postprocess_extractive(start, end, windows.scored, windows.chars, context,
                                                    top_k=3, max_answer_len=30)

    assert answers[0].text == "Nantucket" == context[answers[0].start:answers[0].end]
    assert answers[0].score > 0.9 > null_score
    assert [a.score for a in answers] == sorted((a.score for a in answers), reverse=True)


def _crafted(n_windows=1, n_tokens=8):
    """Hand-made windows over the context "a bb ccc dddd": [CLS] q [SEP] a bb ccc dddd [SEP]."""
    context = "a bb ccc dddd"
    scored = np.zeros((n_windows, n_tokens), dtype=bool)
    chars = np.full((n_windows, n_tokens, 2), -1)
    for w in range(n_windows):
        scored[w, [0, 3, 4, 5, 6]] = True
        chars[w, 3:7] = [(0, 1), (2, 4), (5, 8), (9, 13)]
    return context, scored, chars


def test_postprocess_scores_like_a_softmax_over_context_and_cls():
    context, scored, chars = _crafted()
    start = np.zeros((1, 8), dtype=np.float32)
    end = np.zeros_like(start)
    start[0, 4], end[0, 5] = 2.0, 3.0
    start[0, 1] = end[0, 1] = 50.0  # a question token: must not take part

    answers, null_score = qa.postprocess_extractive(start, end, scored, chars, context, 2, 30)

    p_start = np.exp(2.0) / (np.exp(2.0) + 4)  # 5 scored tokens: [CLS] and 4 context tokens
    p_end = np.exp(3.0) / (np.exp(3.0) + 4)
    assert answers[0].text == "bb ccc" and (answers[0].start, answers[0].end) == (2, 8)
    assert answers[0].score == pytest.approx(p_start * p_end, rel=1e-5)
    assert null_score == pytest.approx(1 / (np.exp(2.0) + 4) / (np.exp(3.0) + 4), rel=1e-5)
    assert len(answers) == 2


def test_postprocess_adds_up_the_same_text_found_in_two_windows():
    context, scored, chars = _crafted(n_windows=2)
    start = np.zeros((2, 8), dtype=np.float32)
    end = np.zeros_like(start)
    start[:, 6] = end[:, 6] = 4.0

    one_window, _ = qa.postprocess_extractive(start[:1], end[:1], scored[:1], chars[:1], context, 1, 30)
    two_windows, _ = qa.postprocess_extractive(start, end, scored, chars, context, 1, 30)

    assert one_window[0].text == two_windows[0].text == "dddd"
    assert two_windows[0].score == pytest.approx(2 * one_window[0].score)


def test_postprocess_never_returns_spans_longer_than_max_answer_len():
    context, scored, chars = _crafted()
    start = np.zeros((1, 8), dtype=np.float32)
    end = np.zeros_like(start)
    start[0, 3], end[0, 6] = 9.0, 9.0  # the whole context (4 tokens) is by far the likeliest span

    answers, _ = qa.postprocess_extractive(start, end, scored, chars, context, 20, max_answer_len=2)

    assert "a bb ccc dddd" not in [a.text for a in answers]
    assert all(len(a.text.split()) <= 2 for a in answers) and len(answers) == 7  # 4 + 3 spans


def test_no_answer_when_the_null_score_wins(tiny_qa, tiny_qa_abstaining):
    # a model that puts its mass on [CLS] in every window: the null answer
    result = qa.answer_question("Who wrote Don Quixote?", LONG, tiny_qa_abstaining)

    assert result.no_answer and result.to_dict()["no_answer"] is True
    assert len(result.answers) == 3  # still offered, as guesses
    assert all(LONG[a.start:a.end] == a.text for a in result.answers)
    # the same question for a model whose best span beats its null answer gets answered
    assert not qa.answer_question("Who wrote Don Quixote?", LONG, tiny_qa).no_answer


# --- sentence ranking ---------------------------------------------------------------------------

def test_split_sentences_keeps_offsets_abbreviations_and_verse():
    text = ("Mr. Smith met Dr. J. Watson in London. It rained. Was it late? Yes.\n\n"
            "Ham.\nO God! What a rogue and peasant\nslave am I.\n\n[Exit.]\n\n--")
    pieces = [text[a:b] for a, b in answer_sentences(text)]
    # Two-word fragments join the next sentence of their paragraph (a speaker's name, "It rained.");
    # a single newline (verse) ends nothing; "--" has no words.
    assert pieces == ["Mr. Smith met Dr. J. Watson in London.", "It rained. Was it late?", "Yes.",
                      "Ham.\nO God! What a rogue and peasant\nslave am I.", "[Exit.]"]


def test_sentence_ranking_returns_sentences_of_the_context(tiny_encoder):
    result = qa.answer_question("When was Cervantes born?", CERVANTES, tiny_encoder, top_k=4)

    assert result.method == "sentence-ranking" and len(result.answers) == 4
    assert result.generated is None
    spans = set(answer_sentences(CERVANTES))
    for answer in result.answers:
        assert CERVANTES[answer.start:answer.end] == answer.text
        assert (answer.start, answer.end) in spans
        assert 0 <= answer.score <= 1
    assert [a.score for a in result.answers] == sorted((a.score for a in result.answers), reverse=True)


def test_phrase_with_adds_the_lms_answer_from_the_best_sentences(tiny_encoder, tiny_lm):
    question = "When was Cervantes born?"
    result = qa.answer_question(question, CERVANTES, tiny_encoder, phrase_with=tiny_lm)
    # the ranked sentences are unchanged by phrasing
    assert result.to_dict()["answers"] == qa.answer_question(question, CERVANTES, tiny_encoder).to_dict()["answers"]
    # the phrasing is what the LM answers when it reads only those sentences, in the context's order
    best = "\n".join(a.text for a in sorted(result.answers, key=lambda a: a.start))
    alone = qa.answer_question(question, best, tiny_lm)
    assert alone.method == "generative"
    assert result.generated == (alone.answers[0].text if alone.answers else "")


# --- generative ---------------------------------------------------------------------------------

def test_generative_answer_is_located_when_it_occurs_in_the_context(tiny_lm):
    result = qa.answer_question("Who wrote Don Quixote?", SHORT, tiny_lm, top_k=3)

    assert result.method == "generative" and len(result.answers) <= 1
    for answer in result.answers:
        assert 0 <= answer.score <= 1
        if answer.start is not None:
            assert SHORT[answer.start:answer.end].lower() in answer.text.lower()
    assert qa.answer_question("Who wrote Don Quixote?", SHORT, tiny_lm).to_dict() == result.to_dict()


def test_locate_ignores_case_quotes_and_final_punctuation():
    context = "He wrote Don Quixote, which many call the first modern novel."
    assert qa.locate('"don quixote."', context) == (9, 20)
    assert qa.locate("Moby-Dick", context) is None
    assert qa.locate("", context) is None


def test_a_generated_answer_ends_at_its_first_line_break():
    class Pieces:  # a tokenizer whose token i is the text pieces[i]
        pieces = ["\n", "Alcal", "á", " de Henares", ".\n", "Next", " line"]

        def decode(self, ids, skip_special_tokens=True):
            return "".join(self.pieces[i] for i in ids)

    assert qa.tokens_before_line_break(Pieces(), [0, 1, 2, 3, 4, 5, 6]) == 4  # the leading break is kept
    assert qa.tokens_before_line_break(Pieces(), [1, 2, 3]) == 3


def test_seq2seq_model_answers_and_a_too_long_context_is_refused(tiny_t5, tiny_bart):
    result = qa.answer_question("Who wrote Don Quixote?", SHORT, tiny_t5)
    assert result.method == "generative" and len(result.answers) <= 1
    with pytest.raises(ValueError, match="reads at most"):  # the tiny BART has 128 positions
        qa.answer_question("Who wrote Don Quixote?", LONG, tiny_bart)


# --- inputs -------------------------------------------------------------------------------------

@pytest.mark.parametrize("question, context, top_k, message", [
    ("", SHORT, 3, "question is empty"),
    ("Who?", "  \n ", 3, "context is empty"),
    ("Who?", SHORT, 0, "between 1 and 20"),
    ("Who?", SHORT, 21, "between 1 and 20"),
    ("Who?", "x" * (MAX_INPUT_CHARS + 1), 3,
     f"{MAX_INPUT_CHARS + 1:,} characters; the limit is {MAX_INPUT_CHARS:,}"),
])
def test_bad_inputs_raise_value_error(tiny_qa, question, context, top_k, message):
    with pytest.raises(ValueError, match=message):
        qa.answer_question(question, context, tiny_qa, top_k=top_k)


def test_a_model_that_cannot_phrase_is_refused(tiny_encoder, tiny_qa):
    with pytest.raises(ValueError, match="cannot phrase"):
        qa.answer_question("Who?", SHORT, tiny_encoder, phrase_with=tiny_qa)


# --- example texts ------------------------------------------------------------------------------

def test_every_example_context_holds_its_answer():
    for example in EXAMPLES:
        context = corpora.load_example_context(example)
        assert example["answer"] in context, example["title"]


def test_shakespeare_scene_is_one_whole_long_scene():
    scene = corpora.shakespeare_scene("hamlet", act="I", scene=5)
    assert scene.startswith("Scene V. A more remote part of the Castle.")
    assert scene.endswith("[Exeunt.]") and "Scene VI" not in scene and "ACT II" not in scene.upper()
    assert len(scene) > 5000  # longer than one 384-token window
    assert corpora.shakespeare_scene("macbeth", 1, 7).startswith("SCENE VII.")
    with pytest.raises(ValueError, match="no act 9"):
        corpora.shakespeare_scene("hamlet", 9, 1)
    with pytest.raises(ValueError, match="no play named"):
        corpora.shakespeare_scene("hamlet_prince", 1, 1)


def test_a_missing_package_is_a_clear_error():
    with pytest.raises(ValueError, match="'no_such_package_here' package"):
        corpora.package_folder("no_such_package_here", "This corpus")


# --- real packaged models -----------------------------------------------------------------------

MINILM = "all-MiniLM-L6-v2 (packaged)"
SMOLLM = "SmolLM2-135M-Instruct (packaged)"


@pytest.mark.slow
@pytest.mark.parametrize("question, in_best_sentence", [
    ("Where was Miguel de Cervantes born?", "Alcalá de Henares"),
    ("How long was Cervantes held captive in Algiers?", "five years"),
    ("When did Cervantes die?", "22 April 1616"),
])
def test_minilm_ranks_the_answer_sentence_first(studio_home, question, in_best_sentence):
    result = qa.answer_question(question, CERVANTES, MINILM, top_k=3)
    assert in_best_sentence in result.answers[0].text


@pytest.mark.slow
def test_smollm2_answers_and_phrases(studio_home):
    question = EXAMPLES[0]["question"]
    generative = qa.answer_question(question, CERVANTES, SMOLLM)
    assert generative.method == "generative" and generative.answers[0].text
    assert 0 < generative.answers[0].score <= 1

    phrased = qa.answer_question(question, CERVANTES, MINILM, phrase_with=SMOLLM)
    assert phrased.generated
