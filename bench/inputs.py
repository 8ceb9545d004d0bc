"""The inputs, identical on both sides: QA paragraphs written here, and real text from installed packages."""

from __future__ import annotations

import bz2
import csv
import functools
import random

from pipelines.text import corpora
from pipelines.finetune import presets

SHORT_QA = [  # (question, context): SQuAD-sized paragraphs
    ("When was the Eiffel Tower completed?", "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars "
     "in Paris. It is named after the engineer Gustave Eiffel, whose company designed and built it. Construction "
     "began in 1887 and the tower was completed in 1889 as the entrance arch to the World's Fair. It was at first "
     "criticised by some of France's leading artists, but it has become a global cultural icon of France."),
    ("What does the Amazon river flow into?", "The Amazon River in South America is the largest river by discharge "
     "volume of water in the world. It rises in the Andes mountains of Peru and flows east across Brazil before it "
     "empties into the Atlantic Ocean. Its basin covers about seven million square kilometres, and the rainforest "
     "around it is home to an enormous number of plant and animal species."),
    ("Who wrote Pride and Prejudice?", "Pride and Prejudice is a novel of manners written by Jane Austen and "
     "published in 1813. The story follows Elizabeth Bennet, the second of five daughters, as she deals with matters "
     "of upbringing, morality and marriage in the society of the landed gentry. Mr Darcy, a wealthy and proud "
     "gentleman, slowly wins her regard after a bad first impression."),
    ("How many moons does Mars have?", "Mars is the fourth planet from the Sun. It has a thin atmosphere made mostly "
     "of carbon dioxide, and its surface is red because of iron oxide in its dust. Mars has two small moons, Phobos "
     "and Deimos, which are thought to be captured asteroids. Several robotic rovers have explored its surface since "
     "1997, looking for signs of past water."),
    ("What did Marie Curie discover in 1898?", "Marie Curie was a physicist and chemist born in Warsaw in 1867. "
     "Working in Paris with her husband Pierre, she discovered the elements polonium and radium in 1898. She was the "
     "first woman to win a Nobel Prize, and the only person to win Nobel Prizes in two different sciences, physics in "
     "1903 and chemistry in 1911."),
    ("Where is the Great Barrier Reef?", "The Great Barrier Reef is the world's largest coral reef system. It lies in "
     "the Coral Sea, off the coast of Queensland in north-east Australia, and stretches for over two thousand "
     "kilometres. The reef is made of billions of tiny organisms called coral polyps and can be seen from outer "
     "space. Rising sea temperatures have caused several mass bleaching events."),
]

LONG_QA_QUESTIONS = ("Who is the ghost?", "What does the ghost ask Hamlet to do?")
# A few words each: the requests where the fixed cost of a call, not the matmuls, sets the speed
TINY_REVIEWS = ("Loved it.", "Dull.", "A masterpiece!", "Not worth it.", "Great fun", "Awful acting.",
                "Meh.", "Wonderful cast")
GENERATION_PROMPTS = ("Give three tips for writing a clear email.", "Explain in two sentences why the sky is blue.")


@functools.lru_cache(maxsize=1)
def _labelled_rotten_tomatoes() -> tuple[tuple[str, str], ...]:
    with bz2.open(presets.rotten_tomatoes_source(), "rt", encoding="utf-8") as handle:
        rows = [(row["text"].strip(), presets.RT_LABELS[row["category"]]) for row in csv.DictReader(handle)
                if row["category"] in presets.RT_LABELS]
    random.Random(0).shuffle(rows)  # a fixed, mixed sample: the file is ordered by film
    return tuple(rows)


@functools.lru_cache(maxsize=1)
def _rotten_tomatoes() -> tuple[str, ...]:
    return tuple(text for text, _ in _labelled_rotten_tomatoes())


def reviews(n: int, offset: int = 0) -> list[str]:
    """`n` real review snippets (Rotten Tomatoes), always the same ones for the same arguments."""
    return list(_rotten_tomatoes()[offset:offset + n])


def training_reviews(n: int) -> list[tuple[str, str]]:
    """`n` (snippet, "positive"/"negative") pairs from the far end of the sample: no benchmark input is among them."""
    return list(_labelled_rotten_tomatoes()[-n:])


def sentences(n: int) -> list[str]:
    """`n` one-sentence review snippets of 8 to 30 words: a sentence splitter leaves them whole."""
    found = [t for t in _rotten_tomatoes() if 8 <= len(t.split()) <= 30 and t.endswith(".")
             and t.count(".") == 1 and "!" not in t and "?" not in t]
    return found[:n]


def long_context(words: int) -> str:
    """The opening lines of Hamlet act 1 scene 5 (the ghost's scene) up to `words` words, line breaks kept."""
    kept, count = [], 0
    for line in corpora.shakespeare_scene("hamlet", act=1, scene=5).splitlines():
        if count >= words:
            break
        kept.append(line)
        count += len(line.split())
    return "\n".join(kept)


def documents(n: int, words: int) -> list[str]:
    """`n` documents of about `words` words each: consecutive snippets of the shuffled reviews, as prose."""
    docs, current = [], []
    for snippet in _rotten_tomatoes():
        current.append(snippet)
        if sum(len(s.split()) for s in current) >= words:
            docs.append(" ".join(current))
            current = []
            if len(docs) == n:
                return docs
    return docs
