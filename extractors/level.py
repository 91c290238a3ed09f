"""A recording's speech brought to one level before the acoustic descriptors read it.

A microphone's gain, not the speaker, sets a file's absolute level, yet energy, loudness, the voicing
gate and the Whisper log-mel all read it; a clip analysed alone has no other utterance to normalise
against. A file's level is the median of its 20 ms frame levels that are within `GATE_DB` of its
95th-percentile frame, frames of digital silence (under `SILENT_DB`) left out, so pauses do not
count. `LevelledMedia` scales a file by one gain (at most `MAX_GAIN_DB` either way), so its
utterances keep their relative levels, and scales lazily, so long files stay memory-mapped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .base import SAMPLE_RATE, MediaInfo, MediaSource, VideoFrame

FRAME = SAMPLE_RATE // 50  # 20 ms
BLOCK = 3000 * FRAME  # one minute of frames per read
GATE_DB = 25.0
SILENT_DB = -90.0
MAX_GAIN_DB = 40.0


def frame_powers(audio: Any, frame: int) -> np.ndarray:
    """Mean square of each whole `frame`-sample frame, read `BLOCK` samples at a time (so a
    memory-mapped file is never copied whole)."""
    end = len(audio) // frame * frame
    per_read = BLOCK // frame * frame
    powers = [
        (np.asarray(audio[start : min(start + per_read, end)], np.float64).reshape(-1, frame) ** 2).mean(1)
        for start in range(0, end, per_read)
    ]
    return np.concatenate(powers) if powers else np.zeros(0)


def active_level_db(audio: Any) -> float | None:
    """The level (dBFS) of the file's speech as the module defines it, or None when it has no sound."""
    db = 10 * np.log10(frame_powers(audio, FRAME) + 1e-15)
    db = db[db > SILENT_DB]
    if not len(db):
        return None
    return float(np.median(db[db >= np.percentile(db, 95) - GATE_DB]))


def gain_to(audio: Any, target_db: float) -> float:
    """The factor that brings the audio's speech to `target_db` (1 for a file without sound)."""
    level = active_level_db(audio)
    gain_db = 0.0 if level is None else float(np.clip(target_db - level, -MAX_GAIN_DB, MAX_GAIN_DB))
    return 10.0 ** (gain_db / 20.0)


class LevelledAudio:
    """Samples scaled by one gain as they are read (len and slices, as the extractors use them)."""

    def __init__(self, audio: Any, gain: float):
        self.audio, self.gain = audio, np.float32(gain)

    def __len__(self) -> int:
        return len(self.audio)

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(self.audio[key], dtype=np.float32) * self.gain


class LevelledMedia:
    """A MediaSource whose audio is scaled by `gain` (see `gain_to`); its frames are the media's own."""

    def __init__(self, media: MediaSource, gain: float):
        self.media, self.gain = media, gain

    @property
    def info(self) -> MediaInfo:
        return self.media.info

    def audio(self) -> LevelledAudio | None:
        audio = self.media.audio()
        return None if audio is None else LevelledAudio(audio, self.gain)

    def frames(self, fps: float, max_side: int, skip_bidir: bool = False) -> Iterator[VideoFrame]:
        return self.media.frames(fps, max_side, skip_bidir)
