"""Where sentences end: the one sentence splitter every task uses.

`sentence_spans` gives (start, end) character offsets of each sentence. Translation and
summarization cut at line breaks too (a line is a unit of a poem or a list); QA's sentence ranking
reads verse and hard-wrapped prose, where a single line break ends nothing, so it asks for
`line_breaks=False` (a blank line still ends a sentence there). `split_sentences` wraps the spans
with the exact separators between them, so a text can be put back together after each sentence
was replaced (translated).

>>> split = split_sentences("Dr. Smith arrived. He sat down.\\n\\nThe end!")
>>> split.sentences
('Dr. Smith arrived.', 'He sat down.', 'The end!')
>>> split.join(["A.", "B.", "C!"])
'A. B.\\n\\nC!'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# A full stop after these is part of the sentence, not its end ("Dr. Smith", "e.g. this").
ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st jr sr vs etc e.g i.e inc ltd co corp fig approx dept est gen gov sen rep "
    "u.s u.k a.m p.m jan feb mar apr jun jul aug sep sept oct nov dec mt ave no vol col capt lt sgt "
    "rev hon fr".split())
# Sentence-final punctuation (with the quotes or brackets that close it) and the whitespace after
# it; CJK full stops need no space after them; whitespace holding a line break.
_BOUNDARY = re.compile(r"([.!?…]+[\"'”’»)\]]*)(\s+)|([。！？]+[”’」』）]*)(\s*)|(\s*\n\s*)")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_WORD_BEFORE = re.compile(r"[\w.]+$")


def sentence_spans(text: str, line_breaks: bool = True) -> list[tuple[int, int]]:
    """(start, end) of each sentence in order; `text[start:end]` has no surrounding space.

    With `line_breaks` every line break ends a sentence; without, only a blank line does.
    """
    spans, start = [], len(text) - len(text.lstrip())
    for match in _BOUNDARY.finditer(text, start):
        end, gap_end = _sentence_end(text, match, line_breaks)
        if end is None or end <= start:
            continue
        spans.append((start, end))
        start = gap_end
    body = text[start:].rstrip()
    if body:
        spans.append((start, start + len(body)))
    return spans


def _sentence_end(text: str, match: re.Match, line_breaks: bool) -> tuple[int | None, int]:
    """Where the sentence before `match` ends and its separator ends; None if this is no boundary."""
    gap = match.group(2) if match.group(2) is not None else match.group(0)
    breaks_line = "\n" in gap and (line_breaks or _BLANK_LINE.search(gap) is not None)
    if match.group(5) is not None:  # whitespace with a line break, no punctuation before it
        return (match.start(), match.end()) if breaks_line else (None, match.end())
    if match.group(3) is not None:  # CJK punctuation
        return match.end(3), match.end()
    if not breaks_line:
        following = text[match.end(): match.end() + 1]
        if following.islower():  # "e.g. this", "approx. ten": the sentence goes on
            return None, match.end()
        word = _WORD_BEFORE.search(text, 0, match.start(1))
        word = word.group(0).lower() if word else ""
        if match.group(1).startswith(".") and (word in ABBREVIATIONS or _is_initial(word)):
            return None, match.end()
    return match.end(1), match.end()


def _is_initial(word: str) -> bool:
    """"J" in "J. R. R. Tolkien" (but not "I", which ends sentences often enough)."""
    return len(word) == 1 and word.isalpha() and word != "i"


@dataclass(frozen=True)
class SplitText:
    """A text as sentences and the exact separators around them.

    ``separators[i]`` comes before ``sentences[i]`` and the last separator trails the text, so
    ``join(sentences)`` gives the original text back character for character.
    """

    sentences: tuple[str, ...]
    separators: tuple[str, ...]

    def join(self, replacements: Sequence[str]) -> str:
        """The text with each sentence replaced, in order, keeping the original separators."""
        if len(replacements) != len(self.sentences):
            raise ValueError(f"Expected {len(self.sentences)} sentences, got {len(replacements)}.")
        parts = [self.separators[0]]
        for sentence, separator in zip(replacements, self.separators[1:]):
            parts += [sentence, separator]
        return "".join(parts)


def split_sentences(text: str) -> SplitText:
    """The sentences of a text (line breaks end one too) and the separators between them."""
    spans = sentence_spans(text)
    cuts = [0] + [offset for span in spans for offset in span] + [len(text)]
    separators = tuple(text[cuts[i]:cuts[i + 1]] for i in range(0, len(cuts), 2))
    return SplitText(tuple(text[a:b] for a, b in spans), separators)
