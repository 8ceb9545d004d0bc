"""Cutting text into pieces that fit a model's input window, at sentence ends where it can.

Summarization packs sentences into chunks; translation cuts over-long sentences. The cutting knows
nothing about models: the size of a piece is measured by a `count` function (a tokenizer's, from
`token_counter`, or words in the tests) that takes a list of texts and returns their lengths, so
each step costs one batched call. `input_window` and `lm_input_window` say how big a piece may be.

>>> words = lambda texts: [len(t.split()) for t in texts]
>>> chunk_text("One two three. Four five. Six.", budget=3, count=words)
['One two three.', 'Four five. Six.']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from pipelines.text.sentences import split_sentences

Counter = Callable[[Sequence[str]], Sequence[int]]
_NO_LIMIT = 100_000  # tokenizers without a known limit report about 1e30
# Tokens of text per call to a decoder-only LM: a page of text, and still quick on a CPU. Its prompt
# and answer share one context, so the window also leaves room for the answer.
LM_WINDOW = 1536


def pack(lengths: Sequence[int], budget: int) -> list[range]:
    """Group consecutive items into runs whose lengths add up to at most `budget`.

    Greedy and in order, so the runs read as the text did; an item longer than the budget on its own
    forms a run by itself (the caller cuts such items first).
    """
    runs, start, used = [], 0, 0
    for i, length in enumerate(lengths):
        if i > start and used + length > budget:
            runs.append(range(start, i))
            start, used = i, 0
        used += length
    if len(lengths) > start:
        runs.append(range(start, len(lengths)))
    return runs


def fit_pieces(texts: Sequence[str], budget: int, count: Counter) -> list[list[str]]:
    """Each text as a list of pieces that fit the budget: itself if it fits, else cut at words."""
    if budget < 1:
        raise ValueError("The model's input window leaves no room for text.")
    out = []
    for text, length in zip(texts, count(texts)):
        if length <= budget:
            out.append([text])
            continue
        words = text.split()
        runs = pack(count(words), budget)
        out.append(halve_until_fit([" ".join(words[i] for i in run) for run in runs], budget, count))
    return out


def chunk_text(text: str, budget: int, count: Counter) -> list[str]:
    """The text as consecutive chunks of at most `budget` (by `count`), cut at sentence ends.

    A sentence longer than the budget is cut at word boundaries; nothing is dropped.
    """
    units = [piece for pieces in fit_pieces(split_sentences(text).sentences, budget, count)
             for piece in pieces]
    chunks = [" ".join(units[i] for i in run) for run in pack(count(units), budget)]
    # Token counts are not quite additive (a word joined to the next can merge into other tokens),
    # so measure each chunk as it will really be read and cut the rare one that came out too long.
    return halve_until_fit(chunks, budget, count)


def halve_until_fit(pieces: Sequence[str], budget: int, count: Counter) -> list[str]:
    """The pieces, each one still over the budget cut in two, and again, until all fit."""
    out = []
    for piece, length in zip(pieces, count(pieces)):
        if length <= budget or len(piece) < 2:
            out.append(piece)
        else:
            out.extend(halve_until_fit(_halves(piece), budget, count))
    return out


def _halves(piece: str) -> list[str]:
    """Two halves of a piece, cut at the space nearest its middle (or mid-word if it has none)."""
    piece = piece.strip()
    middle = len(piece) // 2
    spaces = [m.start() for m in re.finditer(r"\s", piece)]
    cut = min(spaces, key=lambda s: abs(s - middle)) if spaces else middle
    return [piece[:cut].strip(), piece[cut:].strip()]


def token_counter(tokenizer) -> Counter:
    """Counts the tokens of many texts in one tokenizer call, special tokens left out."""
    def count(texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]
    return count


def input_window(tokenizer, config) -> int:
    """The longest input an encoder reads: the tokenizer's limit or the position table's, the lesser."""
    limits = [tokenizer.model_max_length, getattr(config, "max_position_embeddings", None)]
    sane = [n for n in limits if isinstance(n, int) and 0 < n < _NO_LIMIT]
    return min(sane) if sane else 512


def decoder_room(config, max_new_tokens: int) -> int:
    """`max_new_tokens` capped at what the decoder can address: BART and Marian have learned position
    tables (a tiny one has 128 rows) and index past them with an error, not a truncation."""
    positions = getattr(config, "max_position_embeddings", None)
    if config.is_encoder_decoder and isinstance(positions, int) and positions > 2:
        return min(max_new_tokens, positions - 2)
    return max_new_tokens


def lm_input_window(config, max_new_tokens: int) -> int:
    """How much prompt a decoder-only LM reads per call, leaving `max_new_tokens` of room to answer."""
    positions = getattr(config, "max_position_embeddings", None) or LM_WINDOW + max_new_tokens
    return min(LM_WINDOW, positions - max_new_tokens)
