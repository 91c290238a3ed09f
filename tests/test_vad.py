"""Speech regions (Silero VAD) and utterance windows fitted onto them."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile
from helpers import shared_path

from mtmm_es.extractors.base import Utterance, Word
from mtmm_es.extractors.vad import VadConfig, fit_windows, speech_regions
from mtmm_es.pipeline import ExtractionConfig
from mtmm_es.pipeline.extract import FeaturePipeline

RATE = 16000


def utterance(start: float, end: float, text: str = "words") -> Utterance:
    return Utterance(0, start, end, text, (Word(text, start, end, 1.0),))


def windows(fitted: list[Utterance]) -> list[tuple[float, float, str]]:
    return [(round(u.start, 3), round(u.end, 3), u.text) for u in fitted]


def test_a_window_moves_onto_the_speech_its_words_were_heard_in():
    # Whisper put the words 1 s before the voice and cut the last 0.5 s of it
    fitted = fit_windows([utterance(13.9, 16.0)], [(15.0, 16.5)], duration=30.0, pad_s=0.3)
    assert windows(fitted) == [(14.7, 16.8, "words")]


def test_speech_two_utterances_share_keeps_their_word_edges_between_them():
    fitted = fit_windows([utterance(0.5, 4.0, "a"), utterance(4.3, 9.0, "b")], [(0.2, 9.4)], 10.0, pad_s=0.3)
    assert windows(fitted) == [(0.0, 4.15, "a"), (4.15, 9.7, "b")]


def test_speech_without_words_becomes_an_utterance_without_text_when_long_enough():
    regions = [(1.0, 2.0), (5.0, 6.2), (8.0, 8.3)]
    fitted = fit_windows([utterance(1.1, 1.9)], regions, 10.0, pad_s=0.3, voice_only_min_s=0.5)
    assert windows(fitted) == [(0.7, 2.3, "words"), (4.7, 6.5, "")]
    assert fitted[1].words == ()
    assert len(fit_windows([utterance(1.1, 1.9)], regions, 10.0, voice_only_min_s=None)) == 1


def test_padding_stops_in_the_middle_of_a_short_pause_and_at_the_media_ends():
    fitted = fit_windows([utterance(0.1, 1.0, "a"), utterance(1.2, 2.0, "b")], [], 2.1, pad_s=0.3)
    assert windows(fitted) == [(0.0, 1.1, "a"), (1.1, 2.1, "b")]


def test_a_region_barely_touching_a_window_is_not_its_speech():
    fitted = fit_windows([utterance(10.7, 12.6)], [(10.75, 12.2), (12.5, 13.5)], 20.0, pad_s=0.0)
    assert windows(fitted) == [(10.75, 12.2, "words"), (12.5, 13.5, "")]


def test_a_short_word_holds_the_speech_it_was_heard_in():
    """Regression: "Great." alone (0.63 s of speech, the word at 0-0.16 s) shared 0.08 s with its
    region, under the 0.2 s rule, so the region became a second utterance without text over the
    word's, and the word's window was cut to 80 ms."""
    fitted = fit_windows([utterance(0.0, 0.16, "Great.")], [(0.08, 0.63)], 0.7, pad_s=0.3)
    assert windows(fitted) == [(0.0, 0.7, "Great.")]
    # but a short word at the edge of long speech does not take it all (Whisper's times run up to 1 s off)
    fitted = fit_windows([utterance(0.0, 0.3, "Yes.")], [(0.15, 8.0)], 30.0, pad_s=0.0)
    assert windows(fitted) == [(0.0, 0.225, "Yes."), (0.225, 8.0, "")]


def clips(count: int) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """`count` CREMA-D clips 1 s apart and each clip's span."""
    folder = shared_path("speech", "cremad")
    with open(folder / "labels.csv", newline="", encoding="utf-8") as handle:
        files = [folder / row["file"] for row in csv.DictReader(handle)][:count]
    assert len(files) == count
    pieces, spans, t = [], [], 0.5
    pieces.append(np.zeros(int(0.5 * RATE), np.float32))
    for file in files:
        audio, rate = soundfile.read(file, dtype="float32")
        assert rate == RATE
        pieces += [audio, np.zeros(RATE, np.float32)]
        spans.append((t, t + len(audio) / RATE))
        t += len(audio) / RATE + 1.0
    return np.concatenate(pieces), spans


def test_silero_finds_each_acted_sentence_inside_its_clip():
    audio, spans = clips(4)
    regions = speech_regions(audio, VadConfig())
    assert len(regions) == len(spans)
    for (start, end), (clip_start, clip_end) in zip(regions, spans):
        assert clip_start - 0.1 <= start < end <= clip_end + 0.1
        assert end - start < clip_end - clip_start  # the clip's silence is not speech
    assert speech_regions(np.zeros(10 * RATE, np.float32)) == []


def test_a_sentence_the_recogniser_missed_is_labelled_from_the_voice(tmp_path):
    """Words for the first clip only (as when Whisper skips a sentence): the second becomes an
    utterance without text whose voice features are there, and the result says so."""
    audio, spans = clips(2)
    path = tmp_path / "two.wav"
    soundfile.write(path, audio, RATE)
    pipeline = FeaturePipeline(ExtractionConfig(modalities=("text", "acoustic"), cache_dir=str(tmp_path / "c")))
    from mtmm_es.extractors.language import Recognition
    from mtmm_es.pipeline.media import Media

    start, end = spans[0]
    said = (Word("Don't", start + 0.4, start + 0.8, 0.9), Word("forget.", start + 0.8, end - 0.4, 0.9))
    recognition = Recognition("en", 1.0, False, "transcribe", "test", (said,))
    with Media(path) as media:
        utterances = pipeline._utterances(media, "sha", recognition, None)
    assert [u.text for u in utterances] == ["Don't forget.", ""]
    assert spans[1][0] - 0.3 < utterances[1].start < utterances[1].end < spans[1][1] + 0.3
    assert [u.index for u in utterances] == [0, 1]


@pytest.mark.parametrize("fit", [True, False])
def test_word_windows_stay_when_fitting_is_off(fit, tmp_path):
    audio, spans = clips(1)
    path = tmp_path / "one.wav"
    soundfile.write(path, audio, RATE)
    from mtmm_es.extractors.language import Recognition
    from mtmm_es.pipeline.media import Media
    from mtmm_es.pipeline.segmentation import SegmentationConfig

    config = ExtractionConfig(modalities=("text",), segmentation=SegmentationConfig(fit_to_speech=fit), cache=False)
    start, end = spans[0]
    said = (Word("Don't", start - 0.5, start + 0.8, 0.9), Word("forget.", start + 0.8, end - 0.6, 0.9))
    with Media(path) as media:
        utterances = FeaturePipeline(config)._utterances(
            media, "sha", Recognition("en", 1.0, False, "transcribe", "test", (said,)), None
        )
    assert len(utterances) == 1
    if fit:
        assert utterances[0].start > start - 0.4 and utterances[0].end > end - 0.6
    else:
        assert (utterances[0].start, utterances[0].end) == (start - 0.5, end - 0.6)


def test_analyze_labels_the_emotion_of_a_sentence_the_recogniser_missed(tmp_path):
    """End to end: the recogniser's words (planted in the cache) hold only the first sentence; the
    second is still an utterance, its emotion from the voice, sentiment and sarcasm left out (the
    default reads them from the text) and the result says why."""
    from mtmm_es.core.files import file_sha256
    from mtmm_es.extractors.language import Recognition
    from mtmm_es.pipeline.analyze import Pipeline
    from mtmm_es.pipeline.cache import cache_key
    from mtmm_es.pipeline.media import DECODING

    audio, spans = clips(2)
    path = tmp_path / "two.wav"
    soundfile.write(path, audio, RATE)
    pipeline = Pipeline(ExtractionConfig(cache_dir=str(tmp_path / "cache")))
    start, end = spans[0]
    said = (Word("Don't", start + 0.4, start + 0.8, 0.9), Word("forget.", start + 0.8, end - 0.4, 0.9))
    asr = pipeline.features._asr_spec()
    key = cache_key(sha=f"{file_sha256(path)}:decoding{DECODING}", stage="words", asr=asr, segments=[])
    pipeline.features.cache.put_json(key, Recognition("en", 1.0, True, "transcribe", "planted", (said,)).to_json())
    result = pipeline.analyze(path)
    first, second = result.utterances
    assert first.text == "Don't forget." and first.sentiment is not None and first.sarcasm is not None
    assert second.text == "" and second.used == ("acoustic",)
    assert second.emotions is not None and second.sentiment is None and second.sarcasm is None
    assert "1 stretch(es) of speech without recognised words: no text for them" in result.warnings
    assert (
        "utterance 1: sarcasm and sentiment not labelled (needs text: none usable here, not recognised or not trusted)"
        in result.warnings
    )
