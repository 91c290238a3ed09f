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
from mtmm_es.extractors.level import MAX_GAIN_DB, LevelledMedia, active_level_db, gain_to
from mtmm_es.pipeline import ExtractionConfig

ROOT = Path(__file__).resolve().parents[1]
UTTERANCES = [Utterance(0, 0.0, 1.0, "a"), Utterance(1, 1.5, 2.5, "b")]


def speech() -> np.ndarray:
    """Two voiced stretches, the second 8 dB quieter, with digital silence after each."""
    pause = np.zeros(SAMPLE_RATE // 2, np.float32)
    return np.concatenate([pulse_train(140, 1.0), pause, 0.4 * pulse_train(200, 1.0), pause])


def test_the_level_follows_the_gain_and_ignores_pauses_noise_and_silence() -> None:
    audio = speech()
    level = active_level_db(audio)
    assert active_level_db(0.1 * audio) == pytest.approx(level - 20.0, abs=0.01)
    hiss = 10 ** ((level - 40) / 20) * np.random.default_rng(0).standard_normal(8 * SAMPLE_RATE).astype(np.float32)
    assert active_level_db(np.concatenate([audio, hiss])) == pytest.approx(level, abs=0.5)  # a pause's hiss
    silence = np.zeros(100 * SAMPLE_RATE, np.float32)  # 97 % of the file: digital silence does not count
    assert active_level_db(np.concatenate([audio, silence])) == pytest.approx(level)
    assert active_level_db(np.zeros(SAMPLE_RATE, np.float32)) is None
    assert active_level_db(np.zeros(0, np.float32)) is None


def test_the_gain_reaches_the_target_within_its_limit() -> None:
    audio = 0.05 * speech()
    levelled = LevelledMedia(ArrayMedia(audio), gain_to(audio, -30.0)).audio()
    assert active_level_db(levelled[:]) == pytest.approx(-30.0, abs=0.01)
    first, second = (np.sqrt(np.mean(levelled[s : s + SAMPLE_RATE] ** 2)) for s in (0, int(1.5 * SAMPLE_RATE)))
    assert 20 * np.log10(first / second) == pytest.approx(20 * np.log10(1 / 0.4), abs=1.5)  # relative levels stay
    faint = audio * 10 ** ((-80.0 - active_level_db(audio)) / 20)  # speech at -80 dBFS: 50 dB to go
    assert gain_to(faint, -30.0) == pytest.approx(10 ** (MAX_GAIN_DB / 20))
    assert gain_to(np.zeros(SAMPLE_RATE, np.float32), -30.0) == 1.0
    assert LevelledMedia(ArrayMedia(None), 2.0).audio() is None


@pytest.mark.parametrize("extractor", ["covarep+egemaps", "egemaps"])
def test_a_quieter_recording_gives_the_same_features_once_levelled(extractor: str) -> None:
    plain = make_acoustic_extractor(AcousticConfig(extractor))
    level = make_acoustic_extractor(AcousticConfig(extractor, level_db=-30))
    loud, quiet = ArrayMedia(speech()), ArrayMedia(0.1 * speech())
    features = {
        (name, gain): extractor.pool(extractor.analyze(media), media, UTTERANCES)
        for name, extractor in (("plain", plain), ("level", level))
        for gain, media in (("loud", loud), ("quiet", quiet))
    }
    assert np.allclose(features["level", "loud"].values, features["level", "quiet"].values, rtol=1e-3, atol=1e-3)
    assert not np.allclose(features["plain", "loud"].values, features["plain", "quiet"].values, rtol=1e-3, atol=1e-3)
    assert features["level", "loud"].info == level.info and features["plain", "loud"].info == plain.info


def test_the_level_is_recorded_only_when_set() -> None:
    """A checkpoint, cache or batch run from before the setting (the shipped default) keeps its spec."""
    shipped = json.loads((ROOT / "model" / "default" / "config.json").read_text())["feature_spec"]["acoustic"]
    rebuilt = make_acoustic_extractor(AcousticConfig.from_spec(shipped, AcousticConfig()))
    assert json.dumps(rebuilt.info.config) == json.dumps(shipped["config"])  # key order too: cache keys hash it
    assert "level_db" not in ExtractionConfig().to_dict()["acoustic"]
    levelled = AcousticConfig("covarep+egemaps+whisper", level_db=-30)
    assert ExtractionConfig(acoustic=levelled).to_dict()["acoustic"]["level_db"] == -30
    spec = make_acoustic_extractor(levelled).info.to_spec()
    rebuilt = make_acoustic_extractor(AcousticConfig.from_spec(spec, AcousticConfig()))
    assert rebuilt.info.to_spec() == spec and spec["config"]["level_db"] == -30
    assert all("level_db" not in part["config"] for part in spec["config"]["parts"].values())
