"""Turning model outputs into the typed label record (core/labels.py) and CSV rows of it."""

from __future__ import annotations

import logging
from typing import Any

from mtmm_es.core.labels import UtteranceResult

from .checkpoint import Checkpoint
from .data import Corpus, Video
from .labels import label_utterance

_log = logging.getLogger(__name__)


def used_modalities(checkpoint: Checkpoint, video: Video, index: int) -> tuple[str, ...]:
    """The checkpoint's modalities that utterance `index` of the video has."""
    return tuple(m for m in checkpoint.feature_spec if m in video.masks and bool(video.masks[m][index]))


def corpus_predictions(checkpoint: Checkpoint, corpus: Corpus) -> list[dict[str, Any]]:
    """Rows in the one CSV layout (file = video id, index = utterance id) for every utterance of the
    corpus, in corpus order. A task whose input an utterance lacks (every task, when it has no known
    word and nothing else the model uses) gets empty cells, as analyze-video gives it null labels;
    the log says how many."""
    rows, unlabelled = [], 0
    for video, predicted in zip(corpus.videos, checkpoint.predict(corpus.videos)):
        texts = video.texts or [""] * len(video)
        times = video.times or [(None, None)] * len(video)
        for i, (utterance_id, text, (start, end)) in enumerate(zip(video.utterance_ids, texts, times)):
            used = used_modalities(checkpoint, video, i)
            labels = label_utterance(
                predicted,
                i,
                checkpoint.label_thresholds,
                used,
                checkpoint.task_modalities,
                checkpoint.sarcasm_rates,
            )
            unlabelled += labels.reason is not None
            result = UtteranceResult(i, start, end, text, labels.sentiment, labels.emotions, labels.sarcasm)
            rows.append(result.row(video.id) | {"index": utterance_id})
    if unlabelled:
        _log.warning(
            "%s: %d of %d utterances lack the input some task needs (e.g. no known word): those labels are empty",
            corpus.name,
            unlabelled,
            len(rows),
        )
    return rows
