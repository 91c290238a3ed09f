"""Transcripts tables: `video_id, segment_id, text` (optionally `start, end`), one row per utterance.

Utterances of a video are ordered by `start` when every one of them has it, else by `segment_id`
when the ids are all numbers, else as the file lists them; a warning says when a video's order is
not known to be the order said (no `start`), as the model reads each utterance in that context.
Every row is checked: as many fields as the header (an unquoted comma in a text would shift the
columns), a video and a segment id, each (video, segment) once, a `start` that is seconds. Used by
`mtmm predict --transcripts`."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

from mtmm_es.core.csvrows import field_count_problem, numbered_rows
from mtmm_es.core.errors import MtmmError
from mtmm_es.core.files import read_utf8

from ..data import Corpus
from .common import finite_number, text_video

REQUIRED = ("video_id", "segment_id", "text")

_log = logging.getLogger(__name__)


def _rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line, row) of every data row, checked as the module says."""
    text = read_utf8(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            found = ", ".join(header) if header else "none"
            raise MtmmError(
                f"transcripts CSV lacks columns: {', '.join(missing)} (needs {', '.join(REQUIRED)}, "
                f"comma-separated, names in lower case; found: {found})",
                path,
            )
        rows, seen = [], {}
        for line, row in numbered_rows(reader):
            if problem := field_count_problem(row, header):
                raise MtmmError(f"line {line}: {problem}", path)
            key = (row["video_id"].strip(), row["segment_id"].strip())
            if not all(key):
                raise MtmmError(f"line {line}: empty video_id or segment_id", path)
            if key in seen:
                raise MtmmError(f"line {line}: video {key[0]} segment {key[1]} already on line {seen[key]}", path)
            seen[key] = line
            start = row.get("start", "").strip()
            if start and finite_number(start) is None:
                raise MtmmError(f"line {line}: start must be seconds, not {start!r}", path)
            rows.append((line, row))
    except csv.Error as error:
        raise MtmmError(f"line {reader.line_num}: unreadable transcripts CSV: {error}", path) from None
    return rows


def _ordered(rows: list[dict[str, str]]) -> tuple[list[dict[str, str]], bool]:
    """The rows in the module's order, and whether that is the order said (all have `start`)."""
    starts = [finite_number(row.get("start")) for row in rows]
    if all(s is not None for s in starts):
        return [row for _, row in sorted(zip(starts, rows), key=lambda pair: pair[0])], True
    ids = [finite_number(row["segment_id"]) for row in rows]
    if all(i is not None for i in ids):
        return [row for _, row in sorted(zip(ids, rows), key=lambda pair: pair[0])], False
    return rows, False


def load_transcripts(path: str | Path) -> Corpus:
    path = Path(path)
    if not path.is_file():
        raise MtmmError("transcripts file not found", path)
    by_video: dict[str, list[dict[str, str]]] = {}
    for _, row in _rows(path):
        by_video.setdefault(row["video_id"].strip(), []).append(row)
    if not by_video:
        raise MtmmError("the transcripts CSV has no rows under its header", path)
    videos, unordered, several = [], 0, 0
    for video_id, rows in by_video.items():
        rows, said = _ordered(rows)
        unordered += not said and len(rows) > 1
        several += len(rows) > 1
        times = [(finite_number(r.get("start")), finite_number(r.get("end"))) for r in rows]
        ids, texts = [r["segment_id"].strip() for r in rows], [r["text"] for r in rows]
        videos.append(text_video(video_id, ids, texts, {}, times))
    if unordered:
        _log.warning(
            "%s: %d of the %d videos with more than one utterance have utterances without a start time, read in "
            "segment_id order (file order when the ids are not numbers): the model reads each utterance in the "
            "context of the others in that order, so give start times if it is not the order said",
            path,
            unordered,
            several,
        )
    return Corpus(str(path), videos, {}, {"source": str(path)})
