"""Question answering over a context the user gives, with whichever kind of model they pick.

- an extractive model (*ForQuestionAnswering) points at the answer's span. The context is cut into
  overlapping token windows, all run in batches, and spans are scored exactly as transformers 4.57's
  question-answering pipeline scores them (tests/test_qa_reference.py holds us to that);
- a sentence encoder ranks the context's sentences (pipelines/sentence_ranking.py), optionally followed
  by an instruct LM that phrases a short answer from the best sentences (`phrase_with`);
- a causal or seq2seq LM writes the answer from a task prompt (greedy, so it is repeatable).

>>> result = answer_question("Who wrote it?", "Don Quixote was written by Cervantes.")  # doctest: +SKIP
>>> result.to_dict()["answers"][0]["text"]                                             # doctest: +SKIP
'Cervantes'
"""

from __future__ import annotations

import inspect
import math
import re
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from pipelines.models import catalog, kinds, lm, loading
from pipelines.models.catalog import ModelSpec
from pipelines.models.loading import LoadedModel
from pipelines.tasks import sentence_ranking
from pipelines.text.inputs import require_range, require_text

MAX_TOP_K = 20
# transformers 4.57's default window (max_seq_len): longer windows cost more than they find.
MAX_WINDOW_TOKENS = 384
# Windows per forward pass: a book-length context makes a hundred windows; 16 at a time bounds memory.
WINDOW_BATCH = 16
# A generated answer is a phrase; the cap also bounds the CPU time of a rambling model. Greedy, so
# the same question gets the same answer.
ANSWER_TOKENS = 48
# Prompt length limit for models that declare none (tokenizers without a limit report about 1e30).
MAX_LM_TOKENS = 8192
_ANSWER_SETTINGS = replace(lm.GREEDY, max_new_tokens=ANSWER_TOKENS)
_SYSTEM = ("You answer questions about a text. Reply with the answer only: a short phrase taken from "
           "the text, not a full sentence.")


@dataclass(frozen=True)
class Answer:
    text: str
    score: float  # extractive: span probability; sentence ranking: cosine similarity clipped at 0;
    #               generative: the model's geometric-mean probability of its answer's tokens
    start: int | None  # character offsets into the context; None when a generated answer is not in it
    end: int | None


@dataclass(frozen=True)
class QAResult:
    answers: tuple[Answer, ...]  # best first, at most top_k
    method: str  # "extractive" | "sentence-ranking" | "generative"
    model: str  # the ModelSpec name used
    no_answer: bool = False  # the model's null answer ([CLS]) beats its best span; answers stay as guesses
    generated: str | None = None  # sentence ranking with phrase_with: the LM's short phrasing
    precision: str = "float32"  # what the weights computed in: "bf16" or "float32" (loading.inference_precision)

    def to_dict(self) -> dict:
        return {"answers": [{"text": a.text, "score": a.score, "start": a.start, "end": a.end}
                            for a in self.answers],
                "method": self.method, "model": self.model, "no_answer": self.no_answer,
                "generated": self.generated, "precision": self.precision}


def answer_question(question: str, context: str, model: str | ModelSpec | None = None, top_k: int = 3, *,
                    phrase_with: str | ModelSpec | None = None, max_answer_len: int = 30,
                    doc_stride: int = 128) -> QAResult:
    """Answer `question` from `context` with the model `model` names (the task's default if None).

    `max_answer_len` (tokens) and `doc_stride` (tokens two windows share) apply to extractive models;
    `phrase_with` (an instruct LM) to sentence ranking. Offsets index into `context` as given.
    """
    question = require_text(question, "question")
    require_text(context, "context")  # checked stripped, used as given so offsets index the caller's text
    require_range(top_k, "The number of answers (top_k)", 1, MAX_TOP_K)
    require_range(max_answer_len, "The longest answer (max_answer_len, in tokens)", 1, 512)
    require_range(doc_stride, "The window overlap (doc_stride, in tokens)", 0, 1024)
    spec = catalog.resolve("qa", model)
    loaded = loading.load(spec)
    if loaded.kind == kinds.EXTRACTIVE_QA:
        windows = preprocess_extractive(loaded, question, context, doc_stride)
        start_logits, end_logits = forward_extractive(loaded, windows)
        answers, null_score = postprocess_extractive(start_logits, end_logits, windows.scored,
                                                     windows.chars, context, top_k, max_answer_len)
        return QAResult(tuple(answers), "extractive", spec.name,
                        no_answer=not answers or null_score > answers[0].score, precision=loaded.precision)
    if loaded.kind == kinds.SENTENCE_ENCODER:
        ranked = sentence_ranking.rank_sentences(loaded, question, context, top_k)
        answers = tuple(Answer(context[s.start:s.end], s.score, s.start, s.end) for s in ranked)
        generated = None if phrase_with is None else _phrase(phrase_with, question, context, ranked)
        return QAResult(answers, "sentence-ranking", spec.name, generated=generated, precision=loaded.precision)
    if loaded.kind in (kinds.CAUSAL_LM, kinds.SEQ2SEQ):
        answer = generate_answer(loaded, question, context)
        return QAResult((answer,) if answer.text else (), "generative", spec.name, precision=loaded.precision)
    raise ValueError(f"'{spec.name}' is a {loaded.kind} model, which cannot answer questions.")


@dataclass(frozen=True, eq=False)
class Windows:
    """A question and its context as overlapping token windows, ready for the model."""

    inputs: dict[str, torch.Tensor]  # (windows, tokens), padded to the longest window
    scored: np.ndarray  # (windows, tokens) bool: tokens in the start/end softmax: the context and [CLS]
    chars: np.ndarray = field(repr=False)  # (windows, tokens, 2): the word a context token is part of,
    #                                        as character offsets; -1 for every other token


def preprocess_extractive(loaded: LoadedModel, question: str, context: str, doc_stride: int) -> Windows:
    """[CLS] question [SEP] context-window [SEP], one row per window, windows sharing `doc_stride` tokens.

    The question always comes first (4.57 put it second for tokenizers that pad on the left, which
    no extractive checkpoint we know of does).
    """
    tok = loaded.tokenizer
    if not tok.is_fast:
        raise ValueError(f"'{loaded.spec.name}' has no fast tokenizer, which extractive QA needs for "
                         "character offsets. Pick another model.")
    window = min(int(tok.model_max_length), MAX_WINDOW_TOKENS)
    question_tokens = len(tok(question, add_special_tokens=False)["input_ids"])
    if question_tokens > max_question_tokens(window):
        raise ValueError(f"The question is {question_tokens} tokens long; this model reads questions "
                         f"of up to {max_question_tokens(window)} tokens. Shorten it.")
    enc = encode_windows(tok, [question], [context], window, doc_stride,
                         uses_token_types(loaded.model, tok), padding="longest")
    names = ("input_ids", "attention_mask", "token_type_ids")
    inputs = {k: torch.tensor(v, device=loaded.device) for k, v in enc.items() if k in names}
    scored, chars = scoring_positions(tok, enc)
    return Windows(inputs=inputs, scored=scored, chars=chars)


def max_question_tokens(window: int) -> int:
    """The rest of each window must hold context and the overlap with the next."""
    return window // 4


def encode_windows(tokenizer, questions: list[str], contexts: list[str], window: int, doc_stride: int,
                   token_types: bool, padding: str | bool = False):
    """Each (question, context) pair as windows of at most `window` tokens; a long context gives several,
    which share min(doc_stride, window / 2) tokens (4.57's rule: 128 for a 384-token window).
    `overflow_to_sample_mapping` says which pair each window belongs to. Fine-tuning encodes its
    examples the same way, so it trains on the windows this tab reads."""
    return tokenizer(questions, contexts, truncation="only_second", max_length=window,
                     stride=min(doc_stride, window // 2), return_overflowing_tokens=True,
                     return_offsets_mapping=True, padding=padding, return_token_type_ids=token_types)


def scoring_positions(tokenizer, enc) -> tuple[np.ndarray, np.ndarray]:
    """For windows from `encode_windows` (padded to one length): which tokens take part in the
    start/end softmax (the context and [CLS], not padding), and the character span of the word each
    context token is part of (-1 elsewhere), (windows, tokens) and (windows, tokens, 2)."""
    input_ids = np.array(enc["input_ids"])
    n_windows, n_tokens = input_ids.shape
    in_context = np.array([[sid == 1 for sid in enc.sequence_ids(w)] for w in range(n_windows)])
    # [CLS] takes part in the softmax: models trained with unanswerable questions put the null answer there.
    is_cls = input_ids == tokenizer.cls_token_id if tokenizer.cls_token_id is not None else False
    scored = (in_context | is_cls) & np.array(enc["attention_mask"]).astype(bool)
    chars = np.full((n_windows, n_tokens, 2), -1, dtype=np.int64)
    for w, t in zip(*np.nonzero(in_context)):
        word = enc.token_to_word(int(w), int(t))
        # Whole words, as 4.57 aligns answers, so a span never starts or ends inside a word.
        chars[w, t] = (enc.word_to_chars(int(w), word, sequence_index=1) if word is not None
                       else enc["offset_mapping"][w][t])
    return scored, chars


def uses_token_types(model, tokenizer) -> bool:
    """BERT-style models were trained with segment ids telling question from context; RoBERTa-style
    ones accept the argument but have a single segment embedding, so they must not get it."""
    accepts = "token_type_ids" in inspect.signature(model.forward).parameters
    return accepts and ("token_type_ids" in tokenizer.model_input_names
                        or getattr(model.config, "type_vocab_size", 1) > 1)


def forward_extractive(loaded: LoadedModel, windows: Windows) -> tuple[np.ndarray, np.ndarray]:
    """Start and end logits, (windows, tokens) float32."""
    starts, ends = [], []
    n_windows = windows.inputs["input_ids"].shape[0]
    with torch.inference_mode():
        for first in range(0, n_windows, WINDOW_BATCH):
            out = loaded.model(**{k: v[first:first + WINDOW_BATCH] for k, v in windows.inputs.items()})
            starts.append(out.start_logits.float().cpu())
            ends.append(out.end_logits.float().cpu())
    return torch.cat(starts).numpy(), torch.cat(ends).numpy()


def postprocess_extractive(start_logits: np.ndarray, end_logits: np.ndarray, scored: np.ndarray,
                           chars: np.ndarray, context: str, top_k: int,
                           max_answer_len: int) -> tuple[list[Answer], float]:
    """The `top_k` best answers across all windows, and the null (no answer) score.

    As in 4.57: softmax over each window's scored tokens; a span scores p(start) * p(end); each
    window offers its best 2 * top_k + 10 spans (several token spans can make the same text); the
    same text found again (ignoring case; in another window or as another token span) adds its
    score to the first one's; the null score is the lowest p(start=[CLS]) * p(end=[CLS]) of any window.
    """
    per_window = 2 * top_k + 10
    found: dict[str, list] = {}  # lower-cased text -> [text, start, end, score], in the order first seen
    null_score = math.inf
    for w in range(start_logits.shape[0]):
        p_start, p_end = _softmax(start_logits[w], scored[w]), _softmax(end_logits[w], scored[w])
        null_score = min(null_score, float(p_start[0] * p_end[0]))
        p_start[0] = p_end[0] = 0.0  # position 0 ([CLS]) is the null answer, never part of a span
        for s, e, score in _best_spans(p_start, p_end, chars[w, :, 0] >= 0, per_window, max_answer_len):
            begin, end = int(chars[w, s, 0]), int(chars[w, e, 1])
            text = context[begin:end]
            if text.lower() in found:
                found[text.lower()][3] += score
            else:
                found[text.lower()] = [text, begin, end, score]
    ranked = sorted(found.values(), key=lambda item: -item[3])[:top_k]
    return [Answer(text, score, begin, end) for text, begin, end, score in ranked], null_score


def _softmax(logits: np.ndarray, scored: np.ndarray) -> np.ndarray:
    # -10000 rather than -inf for the tokens left out, as 4.57 does: both give them probability 0.
    x = np.where(scored, logits, -10000.0).astype(np.float32)
    p = np.exp(x - x.max())
    return p / p.sum()


def _best_spans(p_start: np.ndarray, p_end: np.ndarray, in_context: np.ndarray, k: int,
                max_answer_len: int) -> list[tuple[int, int, float]]:
    """The k most probable (start, end, score) token spans inside the context, best first."""
    scores = np.tril(np.triu(np.outer(p_start, p_end)), max_answer_len - 1)  # start <= end < start + len
    scores[~in_context, :] = 0.0
    scores[:, ~in_context] = 0.0
    flat = scores.ravel()
    if k < flat.size:
        picked = np.argpartition(-flat, k)[:k]
        picked = picked[np.argsort(-flat[picked])]
    else:
        picked = np.argsort(-flat)
    starts, ends = np.unravel_index(picked, scores.shape)
    # Zero-probability spans are no candidates (4.57 can pad its list with them, even empty ones).
    return [(int(s), int(e), float(flat[i])) for s, e, i in zip(starts, ends, picked) if flat[i] > 0]


def generate_answer(loaded: LoadedModel, question: str, context: str) -> Answer:
    """A language model's answer, located in the context when it occurs there (ignoring case)."""
    if loaded.kind == kinds.SEQ2SEQ:
        # The format T5 was trained on for SQuAD; other seq2seq models read it as plain instructions.
        inputs = loaded.tokenizer(f"question: {question} context: {context}", return_tensors="pt")
        inputs = {k: v.to(loaded.device) for k, v in inputs.items() if k in ("input_ids", "attention_mask")}
        _require_fits(loaded, inputs["input_ids"].shape[1])
    else:
        inputs = lm.encode_prompt(loaded, f"Text:\n{context}\n\nQuestion: {question}\nAnswer:", _SYSTEM)
        _require_fits(loaded, inputs["input_ids"].shape[1] + ANSWER_TOKENS)
    text, score = _generate_first_line(loaded, inputs)
    span = locate(text, context)
    return Answer(text, score, *(span or (None, None)))


def _generate_first_line(loaded: LoadedModel, inputs: dict[str, torch.Tensor]) -> tuple[str, float]:
    """Greedy generation cut at its first line break, and exp(mean log p) of the tokens kept.

    Like `lm.complete`, with the same prompt and settings, but the token probabilities come from the
    same generate call: scoring the answer in a second forward pass added 60% to the CPU time.
    """
    with torch.inference_mode():
        out = loaded.model.generate(**inputs, **_ANSWER_SETTINGS.generate_kwargs(), num_beams=1,
                                    pad_token_id=loaded.tokenizer.pad_token_id, output_scores=True,
                                    return_dict_in_generate=True)
        logp = loaded.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)[0]
    tokens = out.sequences[0, -len(out.scores):].tolist()  # the generated tokens, one per score
    kept = tokens_before_line_break(loaded.tokenizer, tokens)
    text = loaded.tokenizer.decode(tokens[:kept], skip_special_tokens=True).strip()
    return text, float(logp[:kept].mean().exp()) if text else 0.0


def tokens_before_line_break(tokenizer, tokens: list[int]) -> int:
    """How many tokens come before the one whose text first reaches a line break (leading ones aside)."""
    for n in range(1, len(tokens) + 1):
        if "\n" in tokenizer.decode(tokens[:n], skip_special_tokens=True).lstrip():
            return n - 1
    return len(tokens)


def locate(answer: str, context: str) -> tuple[int, int] | None:
    """Where `answer` first occurs in `context`, ignoring case, quotes and final punctuation."""
    needle = answer.strip().strip("\"'“”").rstrip(".!?,;:").strip()
    found = re.search(re.escape(needle), context, re.IGNORECASE) if needle else None
    return None if found is None else found.span()


def _require_fits(loaded: LoadedModel, tokens: int) -> None:
    # T5 has no position table, but its attention still grows with the square of the input.
    window = (getattr(loaded.model.config, "max_position_embeddings", None)
              or min(int(loaded.tokenizer.model_max_length), MAX_LM_TOKENS))
    if tokens > window:
        raise ValueError(f"The question and context make about {tokens:,} tokens; '{loaded.spec.name}' "
                         f"reads at most {window:,}. Shorten the context, or pick an extractive or "
                         "sentence-ranking model, which read texts of any length.")


def default_phraser(spec: ModelSpec) -> ModelSpec | None:
    """The instruct LM that phrases a sentence ranker's best sentences as a short answer (the text
    generation default); None for models that answer by themselves."""
    return catalog.default_spec("generation") if spec.kind == kinds.SENTENCE_ENCODER else None


def _phrase(reference: str | ModelSpec, question: str, context: str, ranked: list[sentence_ranking.RankedSentence]) -> str:
    """A short answer written by an instruct LM from the best sentences, kept in the context's order."""
    phraser = loading.load(catalog.resolve("qa", reference))
    if phraser.kind not in (kinds.CAUSAL_LM, kinds.SEQ2SEQ):
        raise ValueError(f"'{reference}' cannot phrase answers: pick an instruct language model.")
    best = "\n".join(context[s.start:s.end] for s in sorted(ranked, key=lambda s: s.start))
    return generate_answer(phraser, question, best).text
