"""CMU-MOSEI transcripts with labels (`mosei/transcripts_{train,valid}.csv`): one video per MOSEI
video id, its segments in time order, text only (features from our text extractor).

Labels as the seed paper: sentiment >= 0 is positive (CMU convention), the score is the intensity,
an emotion is present when its intensity > 0, "none" when no emotion is. Research use only (CMU)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mtmm_es.core.errors import MtmmError

from ..data import Corpus
from .common import emotion_target, finite_number, text_video

CSV_EMOTIONS = ("happy", "sad", "anger", "surprise", "disgust", "fear")
SPLITS = {"train": "train", "valid": "valid", "val": "valid", "dev": "valid"}


def load_mosei_text(data_dir: str | Path, split: str = "train") -> Corpus:
    """The labelled transcripts of one split (train or valid; the test fold's text is held out)."""
    data_dir = Path(data_dir)
    if (data_dir / "mosei").is_dir():
        data_dir = data_dir / "mosei"
    if split not in SPLITS:
        raise MtmmError(f"MOSEI transcripts exist for train and valid only, not '{split}'")
    path = data_dir / f"transcripts_{SPLITS[split]}.csv"
    if not path.is_file():
        raise MtmmError("MOSEI transcripts not found", path)
    table = pd.read_csv(path, dtype={"video_id": str, "segment_id": str, "text": str}, keep_default_na=False)
    videos = []
    for video_id, rows in table.groupby("video_id", sort=True):
        rows = rows.sort_values("start", kind="stable")
        labels = {
            "sentiment": [float(s >= 0) for s in rows.sentiment],
            "intensity": [float(s) for s in rows.sentiment],
            "emotion": [
                emotion_target([e for e in CSV_EMOTIONS if float(getattr(r, e)) > 0]) for r in rows.itertuples()
            ],
        }
        ends = rows.end if "end" in rows else [None] * len(rows)
        times = [(finite_number(s), finite_number(e)) for s, e in zip(rows.start, ends)]  # as --transcripts has
        videos.append(text_video(video_id, rows.segment_id.tolist(), rows.text.tolist(), labels, times))
    provenance = {"dataset": "CMU-MOSEI transcripts", "split": SPLITS[split], "source": str(path)}
    return Corpus(f"mosei-text-{SPLITS[split]}", videos, {}, provenance | {"licence": "CMU research use"})
