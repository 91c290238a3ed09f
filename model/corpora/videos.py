"""Your own labelled videos: a folder of media files and a label table, through our extractors.

DATA_DIR/labels.csv (or labels.json, a list of the same records), one row per utterance:

    file        media path relative to DATA_DIR (one file = one context unit)
    start, end  the utterance window in seconds
    text        optional transcript; empty -> recognised by ASR within the window
    sentiment   optional: a score in -3..3 (>= 0 positive; also trains intensity) or
                positive / negative / neutral (neutral: no binary label)
    emotions    optional: ";"-separated names among anger, disgust, fear, happy, sad, surprise, or none (alone)
    sarcasm     optional: 1 / 0 (or true / false, yes / no)
    split       optional: train / val / test (default train), the same on every row of a file

Column names are read without case or surrounding spaces; a column the table does not read is an
error when its name is close to one it reads and lacks (`emotion`), else a warning. In labels.json,
`emotions` may also be a list (`[]`: none). File names lose surrounding spaces and `./` (`./a.mp4`
is `a.mp4`). Empty cells mean "not labelled". Every other cell is checked when the table is read (a
window must start at 0 or later and end after its start); a bad one is an error naming the table
and its line. A file that cannot be read is skipped with a warning naming it and its lines.
Run `examples/own_videos/run.sh` for a worked example.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import logging
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from mtmm_es.core.csvrows import numbered_rows
from mtmm_es.core.errors import MtmmError
from mtmm_es.core.files import read_utf8
from mtmm_es.extractors.base import Segment

from ..data import Corpus, Video
from ..tasks import EMOTIONS
from .common import ExtractFunction, emotion_target, labelled

SENTIMENT_WORDS = {"positive": (1.0, None), "negative": (0.0, None), "neutral": (None, None)}
SARCASM_WORDS = {"1": 1.0, "1.0": 1.0, "true": 1.0, "yes": 1.0, "0": 0.0, "0.0": 0.0, "false": 0.0, "no": 0.0}
SPLITS = ("train", "val", "test")
COLUMNS = ("file", "start", "end", "text", "sentiment", "emotions", "sarcasm", "split")

_log = logging.getLogger(__name__)


WHERE = "_where"  # the column holding each row's place in its file ("line 4", "record 2")
STRING_COLUMNS = ("file", "text", "emotions", "split")  # read as text: a file "007" stays "007"


def _row_places(source: Path, rows: int) -> list[str]:
    """Each row's place in the label table as its user finds it: the CSV line it starts on (after
    blank lines and quoted line breaks), or the JSON record."""
    if source.suffix != ".csv":
        return [f"record {row + 1}" for row in range(rows)]
    lines = [line for line, _ in numbered_rows(csv.DictReader(io.StringIO(read_utf8(source), newline="")))]
    return [f"line {line}" for line in lines] if len(lines) == rows else [f"line {row + 2}" for row in range(rows)]


def _check_columns(table: pd.DataFrame, source: Path) -> None:
    """The table's columns, read as the module says: a missing or doubled one, or a near miss of
    one the table lacks, is an error; any other the table does not read is named in a warning."""
    columns = [str(c) for c in table.columns]
    missing = {"file", "start", "end"} - set(columns)
    if missing:
        found = ", ".join(columns)
        hint = " (columns are separated by commas)" if len(columns) == 1 and ";" in found else ""
        raise MtmmError(f"label table lacks columns: {', '.join(sorted(missing))}; found: {found}{hint}", source)
    if doubled := sorted({c for c in columns if columns.count(c) > 1}):
        raise MtmmError(f"column '{doubled[0]}' is given twice (names are read in any case)", source)
    unread = [c for c in columns if c not in COLUMNS]
    for column in unread:
        close = difflib.get_close_matches(column, COLUMNS, n=1, cutoff=0.75)
        if close and close[0] not in columns:
            raise MtmmError(
                f"column '{column}' is not one the table reads: did you mean '{close[0]}'? "
                f"(columns: {', '.join(COLUMNS)})",
                source,
            )
    if unread:
        _log.warning("%s: columns not read: %s (columns: %s)", source, ", ".join(unread), ", ".join(COLUMNS))


def read_label_table(data_dir: Path) -> tuple[pd.DataFrame, Path]:
    """The checked label table (each row's place in its file in column `WHERE`), and its file."""
    csv_path, json_path = data_dir / "labels.csv", data_dir / "labels.json"
    if not csv_path.is_file() and not json_path.is_file():
        raise MtmmError("no labels.csv or labels.json in the dataset folder", data_dir)
    source = csv_path if csv_path.is_file() else json_path
    table = _read_table(source)
    table.columns = [str(c).strip().lower() for c in table.columns]
    _check_columns(table, source)
    places = _row_places(source, len(table))

    def where(row: int) -> str:
        return places[row]

    for column in ("file", "start", "end"):
        values = table[column] if column == "file" else pd.to_numeric(table[column], errors="coerce")
        bad = values.map(_blank) if column == "file" else ~np.isfinite(values.astype(float))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise MtmmError(
                f"{where(row)}: '{column}' must be {'a file name' if column == 'file' else 'seconds'}", source
            )
    table["file"] = [str(PurePosixPath(str(f).strip())) for f in table["file"]]  # "./a.mp4" is "a.mp4"
    for row, (start, end) in enumerate(zip(table.start.astype(float), table.end.astype(float))):
        if start < 0 or end <= start:
            raise MtmmError(
                f"{where(row)}: the window {start:g}-{end:g} s must start at 0 or later and end after it starts", source
            )
    if "split" in table.columns:
        table["split"] = [str(v).strip().lower() if not _blank(v) else "train" for v in table["split"]]
        for row, value in enumerate(table["split"]):
            if value not in SPLITS:
                raise MtmmError(f"{where(row)}: split '{value}' is not one of {', '.join(SPLITS)}", source)
        first_split: dict[str, tuple[str, int]] = {}  # file -> the split of its first row, and that row
        for row, (file, value) in enumerate(zip(table["file"], table["split"])):
            split, first = first_split.setdefault(file, (value, row))
            if value != split:
                raise MtmmError(
                    f"{where(row)}: '{file}' is in split {value} here and in split {split} at {where(first)}: a "
                    "file is one context unit, so all its rows take one split (else one recording is in both)",
                    source,
                )
    for column, parse in (("sentiment", _sentiment), ("emotions", _emotions), ("sarcasm", _sarcasm)):
        for row, value in enumerate(table.get(column, ())):
            try:
                parse(value)
            except MtmmError as error:
                raise MtmmError(f"{where(row)}: {error}", source) from None
    table[WHERE] = places
    return table, source


def _read_table(source: Path) -> pd.DataFrame:
    """labels.csv or labels.json as a table, or one error naming the file and what is wrong with it."""

    def as_text(names) -> dict[str, type]:
        return {name: str for name in names if str(name).strip().lower() in STRING_COLUMNS}

    try:
        if source.suffix == ".csv":
            return pd.read_csv(source, dtype=as_text(pd.read_csv(source, nrows=0).columns))
        records = json.loads(source.read_text(encoding="utf-8"))
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise MtmmError('must be a list of records such as {"file": "a.mp4", "start": 0.1, "end": 4.2}', source)
        for record in records:  # "emotions": ["anger", "sad"] as "anger;sad", [] as "none"
            for key, value in record.items():
                if key.strip().lower() == "emotions" and isinstance(value, list):
                    record[key] = ";".join(map(str, value)) or "none"
        return pd.read_json(io.StringIO(json.dumps(records)), dtype=as_text({k for r in records for k in r}))
    except pd.errors.EmptyDataError:
        raise MtmmError(
            "the label table is empty (its first line names the columns: file,start,end,...)", source
        ) from None
    except ValueError as error:  # a row with more fields than the header, bytes that are not text, bad JSON
        raise MtmmError(f"unreadable label table: {' '.join(str(error).split())}", source) from None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == ""


def _sentiment(value: Any) -> tuple[float | None, float | None]:
    """(binary target, intensity) from a score in -3..3 or a positive/negative/neutral word."""
    if _blank(value):
        return None, None
    text = str(value).strip().lower()
    if text in SENTIMENT_WORDS:
        return SENTIMENT_WORDS[text]
    try:
        score = float(text)
    except ValueError:
        score = float("nan")
    if not -3.0 <= score <= 3.0:
        raise MtmmError(f"sentiment '{value}' is neither a score in -3..3 nor positive/negative/neutral")
    return float(score >= 0), score


def _emotions(value: Any) -> np.ndarray | None:
    if not isinstance(value, str) or not value.strip():
        return None
    names = [n.strip().lower() for n in value.replace(",", ";").split(";") if n.strip()]
    unknown = set(names) - set(EMOTIONS) - {"none"}
    if unknown:
        raise MtmmError(f"unknown emotion names {sorted(unknown)} (use {', '.join(EMOTIONS)} or none)")
    if "none" in names and len(set(names)) > 1:
        raise MtmmError(f"emotions {value.strip()!r} name none beside an emotion: give the emotions, or none alone")
    return emotion_target([n for n in names if n != "none"])


def _sarcasm(value: Any) -> float | None:
    if _blank(value):
        return None
    text = str(value).strip().lower()
    if text not in SARCASM_WORDS:
        raise MtmmError(f"sarcasm '{value}' is neither 1 / 0 nor true / false")
    return SARCASM_WORDS[text]


def row_labels(rows: pd.DataFrame) -> dict[str, list]:
    """Task values per utterance from the optional label columns."""
    empty = [None] * len(rows)
    sentiments = [_sentiment(v) for v in rows.get("sentiment", empty)]
    return {
        "sentiment": [binary for binary, _ in sentiments],
        "intensity": [score for _, score in sentiments],
        "emotion": [_emotions(v) for v in rows.get("emotions", empty)],
        "sarcasm": [_sarcasm(v) for v in rows.get("sarcasm", empty)],
    }


def extract_files(
    items: Iterable[tuple[str, Path, list]], extract: ExtractFunction | None, where: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run `extract(path, segments)` on (video_id, path, segments) items; failures become warnings
    (naming the video, and where its rows are when `where` says)."""
    if extract is None:
        raise MtmmError("this corpus holds media: give an extract function (the pipeline's FeaturePipeline.extract)")
    results = {}
    for video_id, path, segments in items:
        try:
            results[video_id] = extract(path, segments)
        except MtmmError as error:
            cause = error.cause if error.path in (str(path), "segments") else str(error)
            rows = f" ({where[video_id]})" if where and video_id in where else ""
            _log.warning("skipped '%s'%s: %s", video_id, rows, cause)
    return results


def video_from_extraction(video_id: str, extraction, labels: dict[str, list]) -> Video:
    video = Video(
        video_id,
        [f"{video_id}#{u.index}" for u in extraction.utterances],
        {m: f.values for m, f in extraction.features.items()},
        {m: f.mask for m, f in extraction.features.items()},
        texts=[u.text for u in extraction.utterances],
    )
    for task, values in labels.items():
        width = 7 if task == "emotion" else 1
        targets, weights = labelled(values, width)
        if weights.any():
            video.targets[task], video.weights[task] = targets, weights
    return video


def load_videos(data_dir: str | Path, split: str = "train", extract: ExtractFunction | None = None) -> Corpus:
    data_dir = Path(data_dir)
    table, source = read_label_table(data_dir)
    if "split" in table.columns:
        table = table[table["split"] == split]
    elif split != "train":
        table = table.iloc[0:0]
    if table.empty:
        return Corpus(f"videos-{split}", [], {}, {"dataset": "labelled videos", "split": split})
    items, labels, where = [], {}, {}
    for file, rows in table.groupby("file", sort=True):
        places = rows.sort_index()[WHERE].tolist()
        where[file] = f"{source.name} {places[0]}" + (f" and {len(places) - 1} more" if len(places) > 1 else "")
        rows = rows.sort_values("start")
        texts = rows["text"] if "text" in rows.columns else [None] * len(rows)
        segments = [
            Segment(float(s), float(e), t if isinstance(t, str) and t.strip() else None)
            for s, e, t in zip(rows.start, rows.end, texts)
        ]
        items.append((file, data_dir / file, segments))
        labels[file] = row_labels(rows)
    extractions = extract_files(items, extract, where)
    videos = [video_from_extraction(f, e, labels[f]) for f, e in extractions.items()]
    if not videos:
        raise MtmmError(f"no readable labelled videos for split '{split}'", data_dir)
    spec = next(iter(extractions.values())).spec()["modalities"]
    provenance = {"dataset": "labelled videos", "split": split, "source": str(data_dir), "files": len(videos)}
    return Corpus(f"videos-{split}", videos, spec, provenance)
