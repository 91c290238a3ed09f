"""Turning model outputs into the typed label record (core/labels.py) and CSV rows of it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mtmm_es.core.labels import Emotions, Sarcasm, Sentiment, UtteranceResult

from .checkpoint import Checkpoint
from .data import Corpus
from .labels import label_utterance


def utterance_labels(
    predicted: dict[str, np.ndarray],
    index: int,
    thresholds: Sequence[float] | None,
    sarcasm_rates: tuple[float, float] | None = None,
) -> tuple[Sentiment | None, Emotions | None, Sarcasm | None]:
    """The typed labels of utterance `index` for every task the model predicts (model.labels' rules)."""
    labels = label_utterance(predicted, index, thresholds, sarcasm_rates=sarcasm_rates)
    return labels.sentiment, labels.emotions, labels.sarcasm


def corpus_predictions(checkpoint: Checkpoint, corpus: Corpus) -> list[dict[str, Any]]:
    """Rows in the one CSV layout (file = video id, index = utterance id) for every utterance of the
    corpus, in corpus order."""
    rows = []
    for video, predicted in zip(corpus.videos, checkpoint.predict(corpus.videos)):
        texts = video.texts or [""] * len(video)
        for i, (utterance_id, text) in enumerate(zip(video.utterance_ids, texts)):
            labels = utterance_labels(predicted, i, checkpoint.label_thresholds, checkpoint.sarcasm_rates)
            rows.append(UtteranceResult(i, None, None, text, *labels).row(video.id) | {"index": utterance_id})
    return rows
