"""Turning a library's exception into words for a user."""

from __future__ import annotations


def first_line(error: BaseException) -> str:
    """The first line of an error's message (the library's own words), or the error's type name.

    >>> first_line(OSError("model.safetensors not found\\nTraceback: ..."))
    'model.safetensors not found'
    >>> first_line(KeyError())
    'KeyError'
    """
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
