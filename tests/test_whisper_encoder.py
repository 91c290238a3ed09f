"""Whisper encoder states as acoustic features: aligned in time across 30 s windows, side by side
with the hand-made descriptors."""

from __future__ import annotations

import numpy as np
from speech import spoken
from test_acoustic import ArrayMedia

from mtmm_es.extractors.acoustic import AcousticConfig, CombinedExtractor, make_acoustic_extractor
from mtmm_es.extractors.base import SAMPLE_RATE, Utterance
from mtmm_es.extractors.whisper_encoder import STATE_DIM, WhisperEncoderExtractor


def cosine(x: np.ndarray, y: np.ndarray) -> float:
    return float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))


def test_a_sentence_reads_the_same_in_the_second_window_and_unlike_another_sentence() -> None:
    first = spoken(["The train leaves from platform two."], "en-us", pause_s=0.3)
    other = spoken(["I can't believe we won the whole thing!"], "en-us", pause_s=0.3)
    gap = np.zeros(27 * SAMPLE_RATE, np.float32)
    media = ArrayMedia(np.concatenate([first, gap, first, other]))
    n, again = len(first) / SAMPLE_RATE, (len(first) + len(gap)) / SAMPLE_RATE  # again: past 30 s
    utterances = [
        Utterance(0, 0.0, n, "a"),
        Utterance(1, again, again + n, "a"),
        Utterance(2, again + n, again + n + len(other) / SAMPLE_RATE, "b"),
        Utterance(3, 10.0, 12.0, ""),
    ]
    extractor = WhisperEncoderExtractor()
    track = extractor.analyze(media)
    assert len(track.times) == int(np.ceil(len(media.audio()) / (0.02 * SAMPLE_RATE)))  # one state per 20 ms
    features = extractor.pool(track, media, utterances)
    assert features.values.shape == (4, STATE_DIM) and np.isfinite(features.values).all()
    same, different, silence = (cosine(features.values[0], features.values[k]) for k in (1, 2, 3))
    assert same > 0.9 and different < 0.6 and silence < 0.3


def test_three_parts_side_by_side_rebuild_from_their_spec() -> None:
    extractor = make_acoustic_extractor(AcousticConfig(extractor="covarep+egemaps+whisper"))
    assert isinstance(extractor, CombinedExtractor)
    assert extractor.info.dim == 75 + 88 + STATE_DIM
    assert extractor.info.feature_names[75 + 88] == "whisper_state_0"
    rebuilt = AcousticConfig.from_spec(extractor.info.to_spec(), AcousticConfig())
    assert make_acoustic_extractor(rebuilt).info.to_spec() == extractor.info.to_spec()
