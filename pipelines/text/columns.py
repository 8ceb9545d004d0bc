"""Which column of an uploaded table holds what: the one column guesser every upload goes through.

A guess is only a default: every place that guesses lets the user pick another column. Rows are
dicts, or lists in column order.

>>> rows = [{"id": "1", "review": "A shark, a town, and a summer of fear.", "label": "pos"}]
>>> guess_text_column(["id", "review", "label"], rows)
'review'
>>> guess_by_name(["ID", "Sentiment"], LABEL_NAMES)
'Sentiment'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

TEXT_NAMES = ("text", "sentence", "review", "reviews", "content", "document", "comment", "comments", "tweet",
              "body", "utterance", "message", "description", "feedback", "snippet")
LABEL_NAMES = ("label", "labels", "category", "class", "sentiment", "target", "intent", "topic", "y")
# A usual text name is worth this many words a row: enough to break ties, not to beat real text.
NAME_BONUS_WORDS = 2.0


def guess_by_name(columns: Sequence[str], names: Sequence[str]) -> str | None:
    """The first of `names` (in their order of preference) that is a column, ignoring case and spaces."""
    lowered = {str(c).lower().strip(): str(c) for c in columns}
    return next((lowered[n] for n in names if n in lowered), None)


def guess_text_column(columns: Sequence[str], sample_rows: Sequence[Mapping | Sequence],
                      names: Sequence[str] = TEXT_NAMES) -> str:
    """The column that looks most like free text: the most words per row, numbers not counting,
    a usual name worth NAME_BONUS_WORDS more. Raises ValueError when no column holds any text."""
    columns = [str(c) for c in columns]
    if not columns:
        raise ValueError("The table has no columns: upload a file with a header row.")
    rows = _as_dicts(columns, sample_rows)
    usual = {n.lower() for n in names}

    def looks_like_text(column: str) -> float:
        cells = [c for c in (_cell(r.get(column)) for r in rows) if c]
        if cells and all(_is_number(c) for c in cells):
            return -1.0  # ids, ratings, prices: never the text, whatever the column is called
        words = sum(len(c.split()) for c in cells if not _is_number(c))
        return words / max(len(rows), 1) + (NAME_BONUS_WORDS if column.strip().lower() in usual else 0.0)

    best = max(columns, key=looks_like_text)  # the first of equals wins
    if looks_like_text(best) <= 0:
        raise ValueError(f"No column looks like text (columns: {', '.join(columns)}): "
                         "choose the text column yourself.")
    return best


def guess_label_column(columns: Sequence[str], sample_rows: Sequence[Mapping | Sequence]) -> str | None:
    """A label column: by its name, else the column with the fewest distinct values (at least two,
    at most one per two rows); None if nothing looks like labels."""
    by_name = guess_by_name(columns, LABEL_NAMES)
    if by_name is not None:
        return by_name
    rows = _as_dicts([str(c) for c in columns], sample_rows)
    distinct = {c: len({_cell(r.get(c)) for r in rows}) for c in columns}
    few = [c for c in columns if 2 <= distinct[c] <= max(2, len(rows) // 2)]
    return min(few, key=distinct.get) if few else None


def _as_dicts(columns: list[str], rows: Sequence[Mapping | Sequence]) -> list[Mapping]:
    return [r if isinstance(r, Mapping) else dict(zip(columns, r)) for r in rows]


def _cell(value) -> str:
    return "" if value is None else str(value).strip()


def _is_number(cell: str) -> bool:
    try:
        float(cell.replace(",", ""))
        return True
    except ValueError:
        return False
