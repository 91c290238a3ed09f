"""Transcripts tables: `video_id, segment_id, text` (optionally `start, end`), one row per utterance.

Utterances of a video are ordered by `start` when given, else by `segment_id` (numerically when
the ids are numbers). Used by `mtmm predict --transcripts`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mtmm_es.core.errors import MtmmError

from ..data import Corpus
from .common import text_video

REQUIRED = ("video_id", "segment_id", "text")


def _order(rows: pd.DataFrame) -> pd.DataFrame:
    if "start" in rows.columns and rows.start.notna().all():
        return rows.sort_values("start", kind="stable")
    numeric = pd.to_numeric(rows.segment_id, errors="coerce")
    if numeric.notna().all():
        return rows.assign(_order=numeric).sort_values("_order", kind="stable")
    return rows.sort_values("segment_id", kind="stable")


def load_transcripts(path: str | Path) -> Corpus:
    path = Path(path)
    if not path.is_file():
        raise MtmmError("transcripts file not found", path)
    try:
        table = pd.read_csv(path, dtype={"video_id": str, "segment_id": str, "text": str}, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as error:
        raise MtmmError(f"unreadable transcripts CSV: {error}", path) from error
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise MtmmError(f"transcripts CSV lacks columns: {', '.join(missing)} (needs {', '.join(REQUIRED)})", path)
    videos = []
    for video_id, rows in table.groupby("video_id", sort=False):
        rows = _order(rows)
        video = text_video(str(video_id), rows.segment_id.tolist(), rows.text.tolist(), {})
        videos.append(video)
    return Corpus(f"transcripts:{path.name}", videos, {}, {"source": str(path)})
