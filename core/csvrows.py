"""Rows of the CSV files users give (`--segments`, `--transcripts`), numbered and checked against
their header."""

from __future__ import annotations

import csv
from collections.abc import Iterator


def numbered_rows(reader: csv.DictReader) -> Iterator[tuple[int, dict]]:
    """(the line a row starts on, the row) for each row: the line it ends on, less the line breaks
    in its quoted texts (blank lines before it are skipped, so they cannot be counted)."""
    for row in reader:
        values = [v for name, v in row.items() if name is not None and v is not None] + list(row.get(None) or [])
        yield reader.line_num - sum(value.count("\n") for value in values), row


def field_count_problem(row: dict, header: list[str] | tuple[str, ...]) -> str | None:
    """Why a row does not fit its header (csv puts extra fields under None and fills a field left
    out with None), or None; a column without a name (a trailing comma in the header) may be left out."""
    extra = row.get(None) or []
    if not extra and not any(name and value is None for name, value in row.items()):
        return None
    fields = len(header) + len(extra) - sum(value is None for name, value in row.items() if name is not None)
    cause = 'quote a text that holds commas: "Well, I loved it"' if extra else "a field left out"
    return f"{fields} field{'s' * (fields != 1)} where the header has {len(header)} ({cause})"
