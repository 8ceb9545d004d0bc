"""Cells a spreadsheet would run as formulas, made inert in the files we hand back (CSV injection).

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel, LibreOffice
and Google Sheets: `=cmd|' /C calc'!A0` in a scored CSV would run when the download is opened. Such a
cell gets a leading apostrophe, which spreadsheets show as text and do not evaluate (OWASP's advice).
A plain number such as `-3.5` or `+44` is left alone: it is data, and spreadsheets read it as a number.

>>> neutralised("=1+1"), neutralised("@SUM(A1)"), neutralised("-3.5"), neutralised("fine")
("'=1+1", "'@SUM(A1)", '-3.5', 'fine')
"""

from __future__ import annotations

import re

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def neutralised(value):
    """The cell as a spreadsheet should show it: a text cell that would be a formula gets a leading "'"."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value.strip()):
        return "'" + value
    return value


def neutralised_table(table: pd.DataFrame) -> pd.DataFrame:
    """A copy with every text cell and column name neutralised; numbers stay numbers."""
    out = table.rename(columns={c: neutralised(c) for c in table.columns})
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column]):  # text (object or string dtype); numbers stay
            out[column] = out[column].map(neutralised)
    return out
