"""Turning model outputs into the typed label record (core/labels.py) and CSV rows of it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mtmm_es.core.labels import Emotions, Sarcasm, Sentiment, UtteranceResult, rounded

from .checkpoint import Checkpoint
from .data import Corpus
from .tasks import EMOTION_LABELS, EMOTIONS


def sentiment_score(predicted: dict[str, np.ndarray], index: int) -> float:
    """The intensity head's score when trained, else P(positive) mapped linearly onto [-3, 3]."""
    if "intensity" in predicted:
        return float(predicted["intensity"][index])
    return float(6.0 * predicted["sentiment"][index] - 3.0)


def emotion_labels(scores: np.ndarray, thresholds: Sequence[float]) -> list[str]:
    """Emotions whose score reaches its threshold; ["none"] when no emotion does."""
    labels = [name for k, name in enumerate(EMOTIONS) if scores[k] >= thresholds[k]]
    return labels or ["none"]


def utterance_labels(
    predicted: dict[str, np.ndarray], index: int, thresholds: Sequence[float] | None
) -> tuple[Sentiment | None, Emotions | None, Sarcasm | None]:
    """The typed labels of utterance `index` for every task the model predicts; emotion labels use
    `thresholds` (one per emotion; 0.5 when None)."""
    sentiment = emotions = sarcasm = None
    if "sentiment" in predicted:
        p = float(predicted["sentiment"][index])
        sentiment = Sentiment(
            "positive" if p >= 0.5 else "negative", rounded(p), rounded(sentiment_score(predicted, index))
        )
    if "emotion" in predicted:
        scores = predicted["emotion"][index]
        emotions = Emotions(
            tuple(emotion_labels(scores, thresholds or [0.5] * len(EMOTIONS))),
            {name: rounded(scores[k]) for k, name in enumerate(EMOTION_LABELS)},
        )
    if "sarcasm" in predicted:
        sarcasm = Sarcasm(rounded(predicted["sarcasm"][index]))
    return sentiment, emotions, sarcasm


def corpus_predictions(checkpoint: Checkpoint, corpus: Corpus) -> list[dict[str, Any]]:
    """Rows in the one CSV layout (file = video id, index = utterance id) for every utterance of the
    corpus, in corpus order."""
    rows = []
    for video, predicted in zip(corpus.videos, checkpoint.predict(corpus.videos)):
        texts = video.texts or [""] * len(video)
        for i, (utterance_id, text) in enumerate(zip(video.utterance_ids, texts)):
            labels = utterance_labels(predicted, i, checkpoint.label_thresholds)
            rows.append(UtteranceResult(i, None, None, text, *labels).row(video.id) | {"index": utterance_id})
    return rows
