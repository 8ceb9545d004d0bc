"""The real texts that installed packages carry, as the fine-tuning presets read them (never copied into
the repository): BBC News headlines, verse-aligned public-domain Bibles, Shakespeare's plays, and the
project's own QA set whose Shakespeare contexts are read by act, scene and lines."""

from __future__ import annotations

import json

import pytest

from pipelines.runtime import settings
from pipelines.text import corpora


def test_bbc_articles_have_their_first_line_as_headline():
    articles = corpora.bbc_articles()
    assert len(articles) == 2225
    assert {a["topic"] for a in articles} == {"business", "entertainment", "politics", "sports", "tech"}
    first = articles[0]
    assert first["headline"] == "Ad sales boost Time Warner profit"
    assert first["article"].startswith("Quarterly profits at US media giant TimeWarner jumped 76%")
    assert "\n" not in first["article"] and first["headline"] not in first["article"][:40]


def test_bible_verses_are_aligned_across_versions():
    verses = corpora.bible_pairs("en", "fr")
    assert len(verses) == 31102
    psalm = next(v for v in verses if v["reference"] == "19:23:1")
    assert psalm == {"reference": "19:23:1", "en": "Yahweh is my shepherd: I shall lack nothing.",
                     "fr": "Cantique de David. L'Éternel est mon berger: je ne manquerai de rien."}
    with pytest.raises(ValueError, match="offers en, fr, es, it"):
        corpora.bible_pairs("en", "xx")


def test_shakespeare_passages_end_at_speeches_and_cover_every_play():
    passages = corpora.shakespeare_passages()
    assert {p["play"] for p in passages} == set(corpora.shakespeare_plays())
    assert all(len(p["text"].split()) >= 20 for p in passages)
    assert sum(len(p["text"].split()) for p in passages) > 800_000  # the plays' 905k words, headings aside


def test_every_qa_example_answer_is_in_its_context():
    rows = [json.loads(line) for line in (settings.REPO_ROOT / "examples" / "qa_finetune.jsonl").read_text().splitlines()]
    assert len(rows) >= 300 and len({r["id"] for r in rows}) == len(rows)
    plays = set()
    for row in rows:
        context = corpora.load_example_context(row)
        start = row.get("answer_start", context.find(row["answer"]))
        assert start >= 0 and context[start:start + len(row["answer"])] == row["answer"], row["id"]
        plays.add((row.get("context_source") or {}).get("play"))
    assert len(plays - {None}) >= 8  # questions about many plays, besides the written passages
