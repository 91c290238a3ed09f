"""COVAREP-like descriptors on signals with known properties, eGeMAPS, pooling and masks."""

from __future__ import annotations

import numpy as np
import pytest

from mtmm_es.extractors.acoustic import (
    DESCRIPTORS,
    AcousticConfig,
    CombinedExtractor,
    CovarepExtractor,
    EgemapsExtractor,
    frame_descriptors,
    make_acoustic_extractor,
)
from mtmm_es.extractors.base import SAMPLE_RATE, FrameTrack, MediaInfo, Utterance, pool_track, window_indices

RNG = np.random.default_rng(0)


class ArrayMedia:
    """A MediaSource over an in-memory signal (audio only)."""

    def __init__(self, audio: np.ndarray | None):
        self._audio = audio
        duration = 0.0 if audio is None else len(audio) / SAMPLE_RATE
        self.info = MediaInfo("array", duration, audio is not None, False)

    def audio(self) -> np.ndarray | None:
        return self._audio

    def frames(self, fps: float, max_side: int, skip_bidir: bool = False):
        return iter(())


def pulse_train(f0: float, seconds: float, jitter: float = 0.0) -> np.ndarray:
    """A voiced-speech-like signal: glottal pulses at f0 through a decaying resonance."""
    signal = np.zeros(int(seconds * SAMPLE_RATE), np.float32)
    t = 0.0
    while t < seconds:
        signal[int(t * SAMPLE_RATE)] = 1.0
        t += (1 + jitter * RNG.standard_normal()) / f0
    kernel = np.exp(-np.arange(200) / 30.0) * np.sin(2 * np.pi * 700 * np.arange(200) / SAMPLE_RATE)
    voiced = np.convolve(signal, kernel)[: len(signal)]
    return (0.3 * voiced / np.abs(voiced).max()).astype(np.float32)


def column(values: np.ndarray, name: str) -> np.ndarray:
    return values[:, DESCRIPTORS.index(name)]


def test_periodic_signal_gives_its_pitch_voicing_and_low_jitter() -> None:
    values = frame_descriptors(pulse_train(150.0, 1.0), AcousticConfig())
    assert values.shape[1] == len(DESCRIPTORS) == 37
    assert np.nanmedian(column(values, "f0_hz")) == pytest.approx(150, rel=0.02)
    assert column(values, "voiced").mean() > 0.95
    assert np.nanmedian(column(values, "hnr_db")) > 10
    assert np.nanmedian(column(values, "jitter")) < 0.01


def test_jittered_voice_has_more_jitter_than_a_steady_one() -> None:
    steady = np.nanmean(column(frame_descriptors(pulse_train(120, 1.0), AcousticConfig()), "jitter"))
    shaky = np.nanmean(column(frame_descriptors(pulse_train(120, 1.0, jitter=0.03), AcousticConfig()), "jitter"))
    assert shaky > 2 * steady


def test_noise_is_unvoiced_with_undefined_pitch_measures() -> None:
    values = frame_descriptors((0.1 * RNG.standard_normal(SAMPLE_RATE)).astype(np.float32), AcousticConfig())
    assert column(values, "voiced").mean() < 0.1
    assert np.isnan(column(values, "f0_hz")[column(values, "voiced") == 0]).all()
    assert column(values, "zcr").mean() > 0.3  # white noise crosses zero about every other sample


def test_pure_tone_has_a_strong_first_harmonic() -> None:
    tone = (0.3 * np.sin(2 * np.pi * 200 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)
    values = frame_descriptors(tone, AcousticConfig())
    assert np.nanmedian(column(values, "h1_h2_db")) > 20
    assert np.nanmedian(column(values, "spectral_centroid_hz")) == pytest.approx(200, rel=0.15)


def test_blocks_join_seamlessly() -> None:
    audio = np.concatenate([pulse_train(130, 35.0), np.zeros(SAMPLE_RATE, np.float32)])
    track = CovarepExtractor().analyze(ArrayMedia(audio))
    direct = frame_descriptors(audio[: 3200 * 160 + 1024], AcousticConfig())
    np.testing.assert_allclose(track.values[2990:3010], direct[2990:3010], rtol=1e-4, atol=1e-4)


def test_pooling_per_utterance_and_silence_mask() -> None:
    audio = np.concatenate([pulse_train(150, 2.0), np.zeros(2 * SAMPLE_RATE, np.float32)])
    extractor = CovarepExtractor()
    media = ArrayMedia(audio)
    utterances = [Utterance(0, 0.2, 1.8, "a"), Utterance(1, 2.5, 3.5, "b")]
    features = extractor.pool(extractor.analyze(media), media, utterances)
    names = extractor.info.feature_names
    assert features.values.shape == (2, 2 * 37 + 1) and list(features.mask) == [True, False]
    assert features.values[0, names.index("f0_hz_mean")] == pytest.approx(150, rel=0.02)
    assert features.values[0, names.index("f0_hz_std")] < 3
    assert not features.values[1].any()


def test_pool_track_ignores_nan_and_uses_nearest_frame_for_tiny_windows() -> None:
    track = FrameTrack(
        times=np.array([0.0, 0.1, 0.2, 0.3]),
        values=np.array([[1.0, np.nan], [3.0, 2.0], [5.0, 4.0], [7.0, np.nan]], np.float32),
        valid=np.array([True, True, True, False]),
    )
    values, mask = pool_track(track, [Utterance(0, 0.0, 0.35, ""), Utterance(1, 0.19, 0.2, "")])
    np.testing.assert_allclose(values[0], [3.0, 3.0, np.std([1, 3, 5]), 1.0, 0.75], rtol=1e-6)
    np.testing.assert_allclose(values[1], [5.0, 4.0, 0.0, 0.0, 1.0])
    assert list(mask) == [True, True]


def test_a_window_far_from_every_frame_gets_none() -> None:
    """Regression: a window past the last frame (audio longer than the video) or inside a gap in the
    frames took the nearest frame at any distance, so an utterance at 50 s carried the face of 4.8 s."""
    times = np.arange(0.0, 5.0, 0.2)
    track = FrameTrack(times, np.arange(len(times), dtype=np.float32)[:, None], np.ones(len(times), bool))
    gap = FrameTrack(np.array([0.0, 0.2, 0.4, 9.0]), np.ones((4, 1), np.float32), np.ones(4, bool))
    windows = [Utterance(0, 50.0, 52.0, ""), Utterance(1, 4.85, 4.9, ""), Utterance(2, 1.01, 1.05, "")]
    values, mask = pool_track(track, windows)
    assert list(mask) == [False, True, True] and not values[0].any()
    assert values[1, 0] == 24.0 and values[2, 0] == 5.0  # the frames at 4.8 s and 1.0 s
    assert not pool_track(gap, [Utterance(0, 4.0, 4.1, "")])[1][0]
    assert list(window_indices(times, 50.0, 52.0)) == [] and list(window_indices(times, 1.0, 1.5)) == [5, 6, 7]


def test_pyin_agrees_with_yin_on_a_clean_voice() -> None:
    audio = pulse_train(180, 0.5)
    yin = np.nanmedian(column(frame_descriptors(audio, AcousticConfig()), "f0_hz"))
    pyin = np.nanmedian(column(frame_descriptors(audio, AcousticConfig(pitch="pyin")), "f0_hz"))
    assert pyin == pytest.approx(yin, rel=0.03)


def test_egemaps_gives_88_named_functionals() -> None:
    extractor = EgemapsExtractor()
    media = ArrayMedia(np.concatenate([pulse_train(150, 1.0), np.zeros(SAMPLE_RATE, np.float32)]))
    features = extractor.pool(None, media, [Utterance(0, 0.0, 1.0, "a"), Utterance(1, 1.2, 1.9, "b")])
    assert extractor.info.dim == 88 and extractor.info.feature_names[0].startswith("F0semitone")
    assert list(features.mask) == [True, False]
    f0_mean = features.values[0, extractor.info.feature_names.index("F0semitoneFrom27.5Hz_sma3nz_amean")]
    assert f0_mean == pytest.approx(12 * np.log2(150 / 27.5), abs=1.0)


def test_the_combined_extractor_puts_both_sets_side_by_side_and_rebuilds_from_its_spec() -> None:
    extractor = CombinedExtractor()
    media = ArrayMedia(
        np.concatenate([pulse_train(150, 1.0), np.zeros(SAMPLE_RATE, np.float32), pulse_train(220, 1.0)])
    )
    utterances = [Utterance(0, 0.0, 1.0, "a"), Utterance(1, 1.2, 1.9, "b"), Utterance(2, 2.0, 3.0, "c")]
    features = extractor.pool(extractor.analyze(media), media, utterances)
    covarep, egemaps = CovarepExtractor(), EgemapsExtractor()
    alone = [covarep.pool(covarep.analyze(media), media, utterances), egemaps.pool(None, media, utterances)]
    assert extractor.info.dim == 75 + 88 and extractor.info.feature_names[75].startswith("F0semitone")
    assert np.array_equal(features.values, np.concatenate([alone[0].values, alone[1].values], axis=1))
    assert list(features.mask) == [True, False, True]  # silence: no eGeMAPS, so no voice for it
    rebuilt = AcousticConfig.from_spec(extractor.info.to_spec(), AcousticConfig())
    assert make_acoustic_extractor(rebuilt).info.to_spec() == extractor.info.to_spec()


def test_no_audio_gives_all_masked_features() -> None:
    extractor = CovarepExtractor()
    media = ArrayMedia(None)
    features = extractor.pool(extractor.analyze(media), media, [Utterance(0, 0, 1, "x")])
    assert list(features.mask) == [False]


def test_a_signal_inside_opensmile_s_callbacks_still_stops_the_run(sigterm_raises: None) -> None:
    """Regression: a SIGTERM whose handler ran inside openSMILE's ctypes callbacks raised there, where
    ctypes prints and drops exceptions: the run went on to exit 0, and the utterance's features
    (cut short, NaN made 0) were kept and cached as present."""
    import ctypes
    import os
    import signal
    import time
    from concurrent.futures import Future

    from mtmm_es.core.signals import Terminated

    extractor = EgemapsExtractor()
    real = extractor._smile

    @ctypes.CFUNCTYPE(None)
    def callback() -> None:  # what openSMILE calls while it processes
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # the Python handler runs here, inside the callback

    class Interrupted:
        feature_names = real.feature_names

        def process_signal(self, segment, rate):
            callback()
            return real.process_signal(segment, rate)

    extractor._loading = Future()
    extractor._loading.set_result(Interrupted())
    media = ArrayMedia(pulse_train(150, 1.0))
    with pytest.raises(Terminated):
        extractor.pool(None, media, [Utterance(0, 0.0, 1.0, "a")])
