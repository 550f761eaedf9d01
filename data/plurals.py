"""Counts in words for people: "1 row", "2 rows", "7,527 assessments" (thousands separated)."""

from __future__ import annotations


def count_of(count: int, one: str, many: str | None = None) -> str:
    """``count`` with the noun in the right number and a thousands separator:
    ``count_of(1, "warning")`` → "1 warning", ``count_of(7527, "row")`` → "7,527 rows",
    ``count_of(2, "repeat was", "repeats were")`` → "2 repeats were"."""
    n = int(count)
    return f"{n:,} {one if n == 1 else (many or one + 's')}"
