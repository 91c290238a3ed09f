"""The numpy ports of librosa's routines (extractors/dsp.py) against librosa itself."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest

from mtmm_es.extractors import dsp
from mtmm_es.pipeline.media import Media

SR = 16000


@pytest.fixture(scope="module")
def speech(fixture_video: Path) -> np.ndarray:
    with Media(fixture_video) as media:
        return np.array(media.audio())


def test_yin_matches_librosa_on_speech_and_a_chirp(speech: np.ndarray) -> None:
    chirp = librosa.chirp(fmin=80, fmax=350, sr=SR, duration=3.0).astype(np.float32)
    options = {"fmin": 60.0, "fmax": 400.0, "sr": SR, "frame_length": 1024, "hop_length": 160}
    for y in (speech, chirp):
        ours, theirs = dsp.yin(y, **options), librosa.yin(y, center=False, **options)
        assert ours.shape == theirs.shape
        assert np.mean(np.isclose(ours, theirs, rtol=1e-5, atol=0)) > 0.99  # float32 FFT rounding aside
        assert np.median(np.abs(ours - theirs)) < 1e-3
    with pytest.raises(ValueError, match="YIN cannot search"):
        dsp.yin(chirp, fmin=10.0, fmax=400.0, sr=SR, frame_length=1024, hop_length=160)


def test_frames_filters_weights_and_cepstra_match_librosa(speech: np.ndarray) -> None:
    frames = dsp.frame(speech, 1024, 160)
    assert np.array_equal(frames, librosa.util.frame(speech, frame_length=1024, hop_length=160, axis=0))
    for n_fft in (400, 1024):
        assert np.array_equal(dsp.mel_filters(SR, n_fft, 40), librosa.filters.mel(sr=SR, n_fft=n_fft, n_mels=40))
    freqs = np.fft.rfftfreq(1024, 1 / SR)
    with np.errstate(divide="ignore"):
        assert np.allclose(dsp.a_weighting_db(freqs), librosa.A_weighting(freqs))
    power = (np.abs(np.fft.rfft(frames * np.hanning(1024), axis=1)) ** 2).T
    mel = dsp.mel_power(power, SR, 40)
    assert np.allclose(mel, librosa.feature.melspectrogram(S=power, sr=SR, n_mels=40), rtol=1e-6)
    db = dsp.power_to_db(mel)
    assert np.allclose(db, librosa.power_to_db(mel), atol=1e-9)
    assert np.allclose(dsp.mfcc(db, 24), librosa.feature.mfcc(S=db, n_mfcc=24), atol=1e-9)


def test_centred_mel_spectrogram_matches_librosa(speech: np.ndarray) -> None:
    ours = dsp.centred_mel_spectrogram(speech, SR, 400, 160, 40)
    theirs = librosa.feature.melspectrogram(y=speech, sr=SR, n_fft=400, hop_length=160, n_mels=40)
    assert ours.shape == theirs.shape and ours.dtype == np.float32
    assert np.allclose(ours, theirs, rtol=1e-4, atol=1e-6 * theirs.max())
