"""Recording level: one gain per file before the acoustic descriptors, so a microphone's gain does
not change what the voice reads as."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_acoustic import ArrayMedia, pulse_train

from mtmm_es.extractors.acoustic import AcousticConfig, make_acoustic_extractor
from mtmm_es.extractors.base import SAMPLE_RATE, Utterance
from mtmm_es.extractors.level import active_level_db, levelled

ROOT = Path(__file__).resolve().parents[1]
UTTERANCES = [Utterance(0, 0.0, 1.0, "a"), Utterance(1, 1.5, 2.5, "b")]


def speech() -> np.ndarray:
    """Two voiced stretches, the second 8 dB quieter, with a pause and digital silence around them."""
    pause = np.zeros(SAMPLE_RATE // 2, np.float32)
    return np.concatenate([pulse_train(140, 1.0), pause, 0.4 * pulse_train(200, 1.0), pause])


def test_the_level_follows_the_gain_and_ignores_pauses() -> None:
    audio = speech()
    level = active_level_db(audio)
    assert active_level_db(0.1 * audio) == pytest.approx(level - 20.0, abs=0.01)
    assert active_level_db(np.concatenate([audio, np.zeros(10 * SAMPLE_RATE, np.float32)])) == pytest.approx(level)
    assert active_level_db(np.zeros(SAMPLE_RATE, np.float32)) is None
    assert active_level_db(np.zeros(0, np.float32)) is None


def test_levelled_audio_reaches_the_target_and_keeps_relative_levels() -> None:
    media = levelled(ArrayMedia(0.05 * speech()), -30.0)
    audio = media.audio()
    assert active_level_db(audio[:]) == pytest.approx(-30.0, abs=0.01)
    first, second = (np.sqrt(np.mean(audio[s : s + SAMPLE_RATE] ** 2)) for s in (0, int(1.5 * SAMPLE_RATE)))
    assert 20 * np.log10(first / second) == pytest.approx(20 * np.log10(1 / 0.4), abs=1.5)
    assert levelled(ArrayMedia(None), -30.0).audio() is None


def test_a_quieter_recording_gives_the_same_features_once_levelled() -> None:
    config = AcousticConfig(extractor="covarep+egemaps")
    plain, level = (
        make_acoustic_extractor(config),
        make_acoustic_extractor(AcousticConfig("covarep+egemaps", level_db=-30)),
    )
    loud, quiet = ArrayMedia(speech()), ArrayMedia(0.1 * speech())
    features = {
        (name, gain): extractor.pool(extractor.analyze(media), media, UTTERANCES).values
        for name, extractor in (("plain", plain), ("level", level))
        for gain, media in (("loud", loud), ("quiet", quiet))
    }
    assert np.allclose(features["level", "loud"], features["level", "quiet"], rtol=1e-3, atol=1e-3)
    assert not np.allclose(features["plain", "loud"], features["plain", "quiet"], rtol=1e-3, atol=1e-3)


def test_the_level_is_in_the_spec_only_when_set() -> None:
    """A checkpoint from before the level setting (the shipped v5) keeps its spec, so its cached features too."""
    shipped = json.loads((ROOT / "model" / "default" / "config.json").read_text())["feature_spec"]["acoustic"]
    rebuilt = make_acoustic_extractor(AcousticConfig.from_spec(shipped, AcousticConfig()))
    assert "level_db" not in shipped["config"] and rebuilt.info.config == shipped["config"]
    spec = make_acoustic_extractor(AcousticConfig("covarep+egemaps", level_db=-30)).info.to_spec()
    rebuilt = make_acoustic_extractor(AcousticConfig.from_spec(spec, AcousticConfig()))
    assert rebuilt.info.to_spec() == spec and spec["config"]["level_db"] == -30
