"""Checks on what a user typed, shared by every task: each raises ValueError with a sentence to act on."""

from __future__ import annotations

import math
import re

from pipelines.runtime import settings

# Long enough for a book chapter (QA slides a window over it, summarization chunks it), short enough
# that one request cannot keep a CPU busy for many minutes or exhaust memory. STUDIO_MAX_CHARS changes it.
MAX_INPUT_CHARS = 100_000
# What the app names its own folders (run ids, evaluation and curve ids): never a path, '.', or a control character.
_FOLDER_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,127}")


def max_input_chars() -> int:
    """The characters one input may have: STUDIO_MAX_CHARS, else MAX_INPUT_CHARS."""
    return settings.env_int("STUDIO_MAX_CHARS", MAX_INPUT_CHARS)


def new_tokens_limit(default: int) -> int:
    """The most tokens one request may generate: STUDIO_MAX_NEW_TOKENS if set (a public link may want
    fewer), else the task's own ceiling `default`."""
    return settings.env_int("STUDIO_MAX_NEW_TOKENS", default)


def require_text(text: str | None, what: str, max_chars: int | None = None) -> str:
    """The text stripped of surrounding space; an error if it is empty or too long."""
    max_chars = max_chars or max_input_chars()
    text = (text or "").strip()
    if not text:
        raise ValueError(f"The {what} is empty: type or paste some text first.")
    if len(text) > max_chars:
        raise ValueError(f"The {what} has {len(text):,} characters; the limit is {max_chars:,}. "
                         "Shorten it or split it into parts.")
    return text


def require_range(value: float, name: str, low: float, high: float) -> float:
    if not (low <= value <= high):
        raise ValueError(f"{name} must be between {low} and {high}; got {value}.")
    return value


def whole_number(value, name: str) -> int:
    """A count typed or sent for a setting (a UI float), as an int; an error naming the setting for NaN,
    infinity or nothing, which int() would report as a Python message or a crash."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a whole number; got {value}.")
    return int(value)


def is_folder_id(text: str | None) -> bool:
    """Whether `text` can be the id of a folder the app created (a run, an evaluation, a curve).

    >>> is_folder_id("20250101-120000-ab12"), is_folder_id("../x"), is_folder_id("."), is_folder_id("a\\x00")
    (True, False, False, False)
    """
    return bool(text) and _FOLDER_ID.fullmatch(text) is not None
