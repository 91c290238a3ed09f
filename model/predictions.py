"""Turning model outputs into labelled rows (CSV predictions, JSON labels)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoint import Checkpoint
from .data import Corpus
from .labels import coherent_sentiment, emotion_labels
from .tasks import EMOTION_LABELS, EMOTIONS


def utterance_rows(
    predicted: dict[str, np.ndarray], n: int, thresholds: Sequence[float] | None
) -> list[dict[str, Any]]:
    """One flat dict per utterance with every prediction the model makes; emotion labels use
    `thresholds` (one per emotion; 0.5 when None)."""
    rows = []
    for i in range(n):
        row: dict[str, Any] = {}
        if "sentiment" in predicted:
            p = float(predicted["sentiment"][i])
            intensity = float(predicted["intensity"][i]) if "intensity" in predicted else None
            row |= {"sentiment_label": int(p >= 0.5), "p_positive": round(p, 6)}
            row["sentiment_score"] = round(coherent_sentiment(p, intensity)[1], 6)
        elif "intensity" in predicted:
            row["sentiment_score"] = round(float(predicted["intensity"][i]), 6)
        if "emotion" in predicted:
            scores = predicted["emotion"][i]
            row |= {f"p_{name}": round(float(scores[k]), 6) for k, name in enumerate(EMOTION_LABELS)}
            row["emotions"] = ";".join(emotion_labels(scores, thresholds or [0.5] * len(EMOTIONS)))
        if "sarcasm" in predicted:
            row["p_sarcasm"] = round(float(predicted["sarcasm"][i]), 6)
        rows.append(row)
    return rows


def corpus_predictions(checkpoint: Checkpoint, corpus: Corpus, by_segment: bool = False) -> list[dict[str, Any]]:
    """Rows `utterance_id, ...predictions` (or `video_id, segment_id, ...`) for every utterance of
    the corpus, in corpus order."""
    rows = []
    for video, predicted in zip(corpus.videos, checkpoint.predict(corpus.videos)):
        labels = utterance_rows(predicted, len(video), checkpoint.label_thresholds)
        for utterance_id, row in zip(video.utterance_ids, labels):
            ids = {"video_id": video.id, "segment_id": utterance_id} if by_segment else {"utterance_id": utterance_id}
            rows.append(ids | row)
    return rows


def write_csv(rows: Sequence[dict[str, Any]], path: str | Path) -> None:
    from mtmm_es.core.files import atomic_write_text

    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())
