"""Helpers shared by the corpus loaders: label mappings, target arrays, text features."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mtmm_es.extractors.base import Segment
from mtmm_es.extractors.text import GloveTextExtractor

from ..data import Corpus, Video
from ..tasks import EMOTION_LABELS

# extract(media_path, segments) -> an extraction with `.utterances`, `.features` and `.spec()`:
# the pipeline passes its FeaturePipeline.extract, so corpora go through analyze-video's own code path
ExtractFunction = Callable[[Path, Sequence[Segment]], Any]

EMOTION_INDEX = {name: k for k, name in enumerate(EMOTION_LABELS)}

# MELD's seven classes onto the model's six emotions + none
MELD_EMOTIONS = {
    "neutral": "none",
    "joy": "happy",
    "surprise": "surprise",
    "anger": "anger",
    "sadness": "sad",
    "disgust": "disgust",
    "fear": "fear",
}
# MUStARD++'s ten classes onto the six + none: excitement is a high-arousal happiness, frustration
# a mild anger, ridicule (implicit emotion only) contempt, which Ekman's six fold into disgust
MUSTARDPP_EMOTIONS = {
    "neutral": "none",
    "happiness": "happy",
    "excitement": "happy",
    "sadness": "sad",
    "anger": "anger",
    "frustration": "anger",
    "disgust": "disgust",
    "ridicule": "disgust",
    "fear": "fear",
    "surprise": "surprise",
}


def emotion_target(names: Iterable[str]) -> np.ndarray:
    """Multi-hot over the six emotions + none; no emotion -> none."""
    target = np.zeros(len(EMOTION_LABELS), np.float32)
    for name in names:
        target[EMOTION_INDEX[name]] = 1.0
    if not target[:-1].any():
        target[:] = 0.0
        target[EMOTION_INDEX["none"]] = 1.0
    return target


def labelled(values: Sequence[float | None], width: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Targets and weights from per-utterance values; None -> no label (weight 0)."""
    targets = np.zeros((len(values), width), np.float32)
    weights = np.zeros(len(values), np.float32)
    for i, value in enumerate(values):
        if value is not None:
            targets[i] = value
            weights[i] = 1.0
    return (targets[:, 0] if width == 1 else targets), weights


def finite_number(value: object) -> float | None:
    """`value` as a finite float ("5.5", 5.5), else None ("", "nan", "abc")."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def text_video(
    video_id: str,
    utterance_ids: list[str],
    texts: list[str],
    labels: dict[str, Sequence],
    times: list[tuple[float | None, float | None]] | None = None,
) -> Video:
    """A video known by its transcripts; `labels` maps task -> per-utterance value or None; `times`
    the utterances' (start, end) seconds where known."""
    video = Video(video_id, utterance_ids, features={}, masks={}, texts=texts, times=times)
    for task, values in labels.items():
        width = len(EMOTION_LABELS) if task == "emotion" else 1
        video.targets[task], video.weights[task] = labelled(values, width)
        if not video.weights[task].any():
            del video.targets[task], video.weights[task]
    return video


def add_text_features(corpus: Corpus, extractor: GloveTextExtractor) -> Corpus:
    """Fill every video's `text` features from its transcripts with our text extractor."""
    for video in corpus.videos:
        values, mask = extractor.embed(video.texts or [""] * len(video))
        video.features["text"], video.masks["text"] = values, mask
    corpus.spec = {**corpus.spec, "text": extractor.info.to_spec()}
    return corpus
