"""A recording's speech brought to one level before the acoustic descriptors read it.

A microphone's gain, not the speaker, sets a file's absolute level, yet energy, loudness, the voicing
gate and the Whisper log-mel all read it; a clip analysed alone has no other utterance to normalise
against. The level of a file is the median of its 20 ms frame levels within `GATE_DB` of its loud
(95th percentile) frames, so pauses and silence do not count; `levelled` scales the audio by one
gain per file (the relative levels of its utterances stay), lazily, so long files stay memory-mapped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .base import SAMPLE_RATE, MediaSource, VideoFrame

FRAME = SAMPLE_RATE // 50  # 20 ms
BLOCK = 3000 * FRAME  # one minute of frames per read
GATE_DB = 25.0
SILENT_DB = -90.0  # digital silence never counts as speech
MAX_GAIN_DB = 40.0


def active_level_db(audio: Any) -> float | None:
    """The median level (dBFS) of the file's active frames, or None when it holds no sound."""
    energies = []
    for start in range(0, len(audio), BLOCK):
        y = np.asarray(audio[start : start + BLOCK], dtype=np.float64)
        k = len(y) // FRAME
        energies.append((y[: k * FRAME].reshape(k, FRAME) ** 2).mean(1))
    db = 10 * np.log10(np.concatenate(energies or [np.zeros(0)]) + 1e-15)
    db = db[db > SILENT_DB]
    if not len(db):
        return None
    return float(np.median(db[db >= np.percentile(db, 95) - GATE_DB]))


class LevelledAudio:
    """Samples scaled by one gain as they are read (slices and len, as the extractors use them)."""

    def __init__(self, audio: Any, gain: float):
        self.audio, self.gain = audio, gain

    def __len__(self) -> int:
        return len(self.audio)

    def __getitem__(self, key: Any) -> np.ndarray:
        return (np.asarray(self.audio[key], dtype=np.float32) * np.float32(self.gain)).astype(np.float32)


class LevelledMedia:
    """A MediaSource whose audio is scaled to `target_db`; everything else is the media's own."""

    def __init__(self, media: MediaSource, target_db: float):
        self.media, self.info = media, media.info
        self.target_db = target_db
        self._audio: LevelledAudio | None = None

    def audio(self) -> LevelledAudio | None:
        audio = self.media.audio()
        if audio is None:
            return None
        if self._audio is None:
            level = active_level_db(audio)
            gain_db = 0.0 if level is None else float(np.clip(self.target_db - level, -MAX_GAIN_DB, MAX_GAIN_DB))
            self._audio = LevelledAudio(audio, 10.0 ** (gain_db / 20.0))
        return self._audio

    def frames(self, fps: float, max_side: int, skip_bidir: bool = False) -> Iterator[VideoFrame]:
        return self.media.frames(fps, max_side, skip_bidir)


def levelled(media: MediaSource, target_db: float | None) -> MediaSource:
    """The media with its speech at `target_db` dBFS (see the module), or itself for None."""
    return media if target_db is None else LevelledMedia(media, target_db)
