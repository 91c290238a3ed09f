"""Speech clips the tests synthesise with espeak-ng (Debian package `espeak-ng`; .ci/run installs it)."""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import soundfile

SAMPLE_RATE = 16000


def spoken(sentences: Sequence[str], voice: str, pause_s: float = 0.8, words_per_minute: int = 150) -> np.ndarray:
    """16 kHz mono float32 speech: each sentence read by espeak-ng, with pauses between (skips without it)."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    pause = np.zeros(int(pause_s * SAMPLE_RATE), np.float32)
    pieces = [pause]
    for sentence in sentences:
        command = [espeak, "-v", voice, "-s", str(words_per_minute), "--stdout", sentence]
        wav = subprocess.run(command, check=True, capture_output=True).stdout
        audio, rate = soundfile.read(io.BytesIO(wav), dtype="float32")
        positions = np.arange(0, len(audio) * SAMPLE_RATE / rate) * rate / SAMPLE_RATE
        pieces += [np.interp(positions, np.arange(len(audio)), audio).astype(np.float32), pause]
    return np.concatenate(pieces)


def write_wav(path: Path, audio: np.ndarray) -> Path:
    soundfile.write(path, audio, SAMPLE_RATE)
    return path
