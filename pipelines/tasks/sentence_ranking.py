"""Answer-sentence selection: rank the context's sentences by how close they are to the question.

Offline there is no trained extractive-QA checkpoint, but there is a real sentence encoder
(all-MiniLM-L6-v2). It cannot point at a span, yet it finds the sentence that holds the answer
well: embed the question and every sentence as all-MiniLM-L6-v2 does (mean of the token vectors over
the attention mask, then L2-normalised) and rank the sentences by cosine similarity.

>>> context = "Mr. Smith wrote novels. He was born in Spain."
>>> answer_sentences(context)
[(0, 23), (24, 45)]
>>> [(s.start, s.end) for s in rank_sentences(encoder, "Where was he born?", context, 1)]  # doctest: +SKIP
[(24, 45)]
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import torch

from pipelines.models.loading import LoadedModel
from pipelines.text.sentences import sentence_spans

# Sentences embedded per forward pass. Batches hold sentences of similar length, and small ones
# waste little on padding: on Hamlet's act 1 scene 5 (102 sentences), 16 took a third of the CPU
# time that 64 did, with the same ranking.
BATCH_SIZE = 16

# Shorter fragments join the next sentence (see answer_sentences).
MIN_WORDS = 3
_WORDS = re.compile(r"\w\w+")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


@dataclass(frozen=True)
class RankedSentence:
    start: int  # character offsets into the context
    end: int
    score: float  # cosine similarity to the question, clipped at 0 (it is rarely negative)


def answer_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the sentences to rank, in order.

    A single line break ends no sentence (verse, hard-wrapped prose), and a fragment of one or two
    words ("Ham.", "Yes.", a play's speaker name) joins the sentence after it in its paragraph:
    alone it would match any question that names it, and answer none.
    """
    spans, start = [], None
    pieces = sentence_spans(text, line_breaks=False)
    for i, (a, b) in enumerate(pieces):
        start = a if start is None else start
        paragraph_ends = i == len(pieces) - 1 or _BLANK_LINE.search(text, b, pieces[i + 1][0]) is not None
        if len(_WORDS.findall(text[start:b])) >= MIN_WORDS or paragraph_ends:
            spans.append((start, b))
            start = None
    # Lines such as "--" or "*" say nothing a question could ask about.
    return [(a, b) for a, b in spans if _WORDS.search(text[a:b])]


def preprocess(encoder: LoadedModel, texts: list[str]) -> dict[str, torch.Tensor]:
    """One batch of texts as model inputs, padded to the longest and cut at the encoder's limit."""
    batch = encoder.tokenizer(texts, padding=True, truncation=True, max_length=max_length(encoder),
                              return_tensors="pt")
    names = ("input_ids", "attention_mask", "token_type_ids")
    return {k: v.to(encoder.device) for k, v in batch.items() if k in names}


def forward(encoder: LoadedModel, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """The token vectors of the last layer, (batch, tokens, hidden)."""
    with torch.inference_mode():
        return encoder.model(**inputs).last_hidden_state


def postprocess(token_vectors: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Sentence embeddings: the mean over real (not padding) tokens, L2-normalised."""
    mask = attention_mask.unsqueeze(-1).to(token_vectors.dtype)
    summed = (token_vectors * mask).sum(dim=1)
    mean = summed / mask.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(mean.float(), p=2, dim=1)


def embed(encoder: LoadedModel, texts: list[str]) -> torch.Tensor:
    """Unit-length embeddings of `texts`, (len(texts), hidden), in the order given."""
    # Batching texts of similar length together keeps the padding (wasted work) small.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    vectors = [None] * len(texts)
    for first in range(0, len(order), BATCH_SIZE):
        chunk = order[first:first + BATCH_SIZE]
        inputs = preprocess(encoder, [texts[i] for i in chunk])
        for i, vector in zip(chunk, postprocess(forward(encoder, inputs), inputs["attention_mask"])):
            vectors[i] = vector
    return torch.stack(vectors)


def rank_sentences(encoder: LoadedModel, question: str, context: str, top_k: int) -> list[RankedSentence]:
    """The `top_k` sentences of `context` closest to `question`, closest first."""
    spans = answer_sentences(context)
    if not spans:
        raise ValueError("The context has no sentence with words in it.")
    vectors = embed(encoder, [question] + [context[a:b] for a, b in spans])
    similarity = (vectors[1:] @ vectors[0]).clamp(min=0.0)
    order = torch.sort(similarity, descending=True, stable=True).indices[:top_k]  # ties: earlier first
    return [RankedSentence(*spans[i], score=float(similarity[i])) for i in order.tolist()]


def max_length(encoder: LoadedModel) -> int:
    """Tokens per sentence: the sentence-transformers setting when the folder has one (256 for
    all-MiniLM-L6-v2, which was trained at that length), else the tokenizer's limit up to 512."""
    folder = encoder.spec.path
    config = folder / "sentence_bert_config.json" if folder is not None else None
    if config is not None and config.is_file():
        limit = json.loads(config.read_text()).get("max_seq_length")
        if limit:
            return int(limit)
    return min(int(encoder.tokenizer.model_max_length), 512)
