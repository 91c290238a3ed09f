"""Speech regions (Silero VAD) and utterance windows fitted onto them."""

from __future__ import annotations

import csv
from dataclasses import asdict

import numpy as np
import pytest
import soundfile
from helpers import shared_path

from mtmm_es.extractors.base import Utterance, Word
from mtmm_es.extractors.vad import VadConfig, fit_windows, snap_words, speech_regions
from mtmm_es.pipeline import ExtractionConfig
from mtmm_es.pipeline.extract import FeaturePipeline
from mtmm_es.pipeline.segmentation import SegmentationConfig, segment_words

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


def test_words_timed_past_the_media_end_never_give_a_window_that_ends_before_it_starts():
    """Regression: only the end was clamped to the duration, so words Whisper timed after it gave
    a window from 10.2 to 10.0 s."""
    fitted = fit_windows([utterance(9.0, 9.5, "a"), utterance(10.5, 10.8, "b")], [], 10.0, pad_s=0.3)
    assert windows(fitted) == [(8.7, 9.8, "a"), (10.0, 10.0, "b")]


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


def test_a_short_word_inside_longer_speech_holds_it() -> None:
    """Regression (review): "Yes." (0.15 s) inside 1.3 s of speech shared less than 0.2 s with it, so
    the speech became an utterance without text around the word's, and the word's window was cut
    to no length; two such words in one stretch gave overlapping windows, out of order."""
    fitted = fit_windows([utterance(1.0, 1.15, "Yes.")], [(0.8, 2.1)], 3.0)
    assert windows(fitted) == [(0.5, 2.4, "Yes.")]
    fitted = fit_windows([utterance(1.0, 1.18, "Okay."), utterance(2.6, 2.75, "Right.")], [(0.4, 4.0)], 5.0)
    assert windows(fitted) == [(0.1, 1.48, "Okay."), (2.3, 4.3, "Right.")]  # shared speech: edges at the words


def said(*words: tuple[str, float, float]) -> list[Word]:
    return [Word(text, start, end, 0.9) for text, start, end in words]


def timed(words: list[Word]) -> list[tuple[str, float, float]]:
    return [(w.text, round(w.start, 2), round(w.end, 2)) for w in words]


def test_a_first_word_stretched_back_over_the_pause_is_cut_to_its_speech():
    """TESS, two clips 1 s apart: Whisper started "Say" of the second right after the first ended,
    bridging the pause, so the two sentences were one utterance and the second clip had none."""
    words = said(
        ("Say", 26.18, 26.72), ("the", 26.72, 27.1), ("word", 27.1, 27.72), ("should.", 27.72, 28.12),
        ("Say", 28.12, 29.86), ("the", 29.86, 30.08), ("word", 30.08, 30.66), ("home.", 30.66, 31.56),
    )  # fmt: skip
    snapped = snap_words(words, [(26.1, 28.2), (29.3, 31.4)])
    assert timed(snapped)[3:6] == [("should.", 27.72, 28.12), ("Say", 29.3, 29.86), ("the", 29.86, 30.08)]
    assert timed(snapped)[-1] == ("home.", 30.66, 31.4)
    texts = [u.text for u in segment_words(snapped, SegmentationConfig())]
    assert texts == ["Say the word should.", "Say the word home."]
    assert len(segment_words(words, SegmentationConfig())) == 1  # what the drifted times gave


def test_a_sentence_end_aligned_to_nothing_at_the_next_onset_goes_back_to_its_sentence():
    """RAVDESS: "the" took the pause and "door." (no length) landed on the next sentence's onset,
    just before the voice or inside it: each sentence read the other's last word."""
    words = said(
        ("by", 2.09, 2.27), ("the", 2.27, 3.37), ("door.", 5.58, 5.58), ("Kids", 5.58, 5.92),
        ("are", 5.92, 6.04), ("the", 6.44, 7.56), ("door.", 9.74, 9.74), ("Dogs", 9.74, 10.16),
    )  # fmt: skip
    snapped = snap_words(words, [(1.21, 2.85), (5.66, 6.92), (9.69, 11.75)])
    assert timed(snapped) == [
        ("by", 2.09, 2.27), ("the", 2.27, 2.85), ("door.", 2.85, 2.85), ("Kids", 5.66, 5.92),
        ("are", 5.92, 6.04), ("the", 6.44, 6.92), ("door.", 6.92, 6.92), ("Dogs", 9.74, 10.16),
    ]  # fmt: skip


def test_a_first_word_aligned_mostly_to_the_pause_goes_on_with_its_sentence():
    """CREMA-D: "I" of "I wonder what this is about." ended the previous clip's utterance."""
    words = said(("jacket.", 43.55, 44.05), ("I", 44.11, 44.61), ("wonder", 46.62, 46.62), ("what", 46.62, 46.8))
    snapped = snap_words(words, [(41.9, 44.2), (46.3, 47.6)])
    assert timed(snapped) == [
        ("jacket.", 43.55, 44.05),
        ("I", 46.3, 46.3),
        ("wonder", 46.62, 46.62),
        ("what", 46.62, 46.8),
    ]


def test_words_well_aligned_across_a_pause_in_one_sentence_stay():
    words = said(("I", 1.0, 1.2), ("think,", 1.2, 1.6), ("we", 2.5, 2.7), ("should", 2.7, 3.0), ("go.", 3.0, 3.4))
    assert snap_words(words, [(0.9, 1.7), (2.4, 3.5)]) == words


def test_without_speech_or_far_from_it_words_keep_their_times():
    words = said(("Music", 10.0, 10.5), ("playing.", 10.5, 11.0))
    assert snap_words(words, []) == words
    assert snap_words(words, [(1.0, 2.0), (14.0, 15.0)]) == words  # more than 1.5 s from any speech


def test_a_new_sentence_in_silence_does_not_jump_forward_to_far_speech():
    """Regression (review): "Okay then." just after "Hello." (VAD missed it) went 10.8 s forward to
    the next speech, because a sentence had ended before it."""
    words = said(("Hello.", 0.2, 0.9), ("Okay", 1.2, 1.5), ("then.", 1.5, 1.8), ("Bye.", 12.1, 12.6))
    snapped = snap_words(words, [(0.1, 1.0), (12.0, 13.0)])
    assert timed(snapped)[1:3] == [("Okay", 1.2, 1.5), ("then.", 1.5, 1.8)]


def test_words_in_silence_with_no_sentence_end_go_to_the_nearer_speech():
    """CREMA-D: "full" lacked its full stop, so "I think", in the pause just before the next
    sentence's voice, went back a second to the sentence before."""
    words = said(("almost", 8.6, 8.94), ("full", 8.94, 9.36), ("I", 10.4, 10.82), ("think", 10.82, 10.9),
                 ("we're", 10.97, 11.24), ("making", 11.24, 11.46))  # fmt: skip
    snapped = snap_words(words, [(7.4, 9.5), (10.95, 13.0)])
    assert timed(snapped)[2:4] == [("I", 10.95, 10.95), ("think", 10.95, 10.95)]


def test_a_sentence_drifted_into_the_pause_goes_to_the_speech_after_it():
    """Regression (review): "Good night." lay in the pause before its own speech, which held no
    word, and went back into "Hi there."; a word in silence now goes to the regions around it."""
    words = said(("Hi", 0.2, 0.6), ("there.", 0.6, 1.2), ("Good", 2.4, 2.7), ("night.", 2.7, 2.95))
    snapped = snap_words(words, [(0.1, 1.3), (3.0, 4.0)])
    assert [u.text for u in segment_words(snapped, SegmentationConfig())] == ["Hi there.", "Good night."]


def test_words_keep_their_order_and_do_not_go_back_far():
    """Regression (review): "I mean," stayed in a long pause and "you know." after it went back
    past it ("We left early you know."); "Goodbye." went back 59 s to the speech before."""
    words = said(("We", 0.2, 0.5), ("left", 0.5, 0.9), ("early", 0.9, 1.3), ("I", 4.0, 4.3), ("mean,", 4.3, 4.7),
                 ("you", 5.5, 5.8), ("know.", 5.8, 6.1), ("Then", 6.6, 7.0), ("rain.", 7.0, 7.6))  # fmt: skip
    snapped = snap_words(words, [(0.1, 1.4), (6.5, 8.0)])
    assert [w.start for w in snapped] == sorted(w.start for w in snapped)
    far = said(("and", 9.0, 9.3), ("so", 9.3, 9.6), ("on", 9.6, 9.9), ("Goodbye.", 69.0, 69.0), ("Hello", 69.6, 70.0))
    assert timed(snap_words(far, [(8.9, 10.0), (69.5, 70.3)]))[3] == ("Goodbye.", 69.0, 69.0)


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
        utterances, _ = pipeline._utterances(media, "sha", recognition, None)
    assert [u.text for u in utterances] == ["Don't forget.", ""]
    assert spans[1][0] - 0.3 < utterances[1].start < utterances[1].end < spans[1][1] + 0.3
    assert [u.index for u in utterances] == [0, 1]


@pytest.mark.parametrize("snap", [True, False])
def test_each_sentence_gets_its_own_words_when_whisper_drifts_across_the_pause(snap, tmp_path):
    """Two real clips 1 s apart; the first sentence's middle word took the pause and its last
    word (aligned to nothing) landed on the second sentence's onset, as Whisper tiny.en does."""
    audio, _ = clips(2)
    path = tmp_path / "two.wav"
    soundfile.write(path, audio, RATE)
    from mtmm_es.extractors.language import Recognition
    from mtmm_es.pipeline.media import Media

    (a0, a1), (b0, b1) = speech_regions(audio, VadConfig())
    words = said(
        ("Don't", a0 + 0.1, a0 + 0.5), ("forget", a0 + 0.5, a1 + 0.8), ("it.", b0 + 0.02, b0 + 0.02),
        ("Take", b0 + 0.02, b0 + 0.4), ("care.", b0 + 0.4, b1 - 0.1),
    )  # fmt: skip
    config = ExtractionConfig(modalities=("text",), segmentation=SegmentationConfig(snap_words=snap), cache=False)
    with Media(path) as media:
        utterances, _ = FeaturePipeline(config)._utterances(
            media, "sha", Recognition("en", 1.0, False, "transcribe", "test", (tuple(words),)), None
        )
    texts = [u.text for u in utterances]
    if snap:
        assert texts == ["Don't forget it.", "Take care."]
        assert all(u.start <= w.start <= w.end <= u.end for u in utterances for w in u.words)
    else:
        assert texts == ["Don't forget", "it. Take care."]


def test_untrusted_words_moved_into_speech_keep_their_issue(tmp_path):
    """Regression (review): snapped words were checked against the untrusted spans' old times, so
    an invented line pulled into the next speech lost its issue and joined the trusted sentence."""
    audio, _ = clips(1)
    path = tmp_path / "one.wav"
    soundfile.write(path, np.concatenate([np.zeros(3 * RATE, np.float32), audio]), RATE)
    from mtmm_es.extractors.language import Recognition
    from mtmm_es.pipeline.media import Media

    (start, end), *_ = speech_regions(np.concatenate([np.zeros(3 * RATE, np.float32), audio]), VadConfig())
    invented = [
        Word(t, start - 1.6 + 0.3 * k, start - 1.3 + 0.3 * k, 0.1) for k, t in enumerate(("I", "am", "not", "good."))
    ]
    spoken = said(("Don't", start + 0.1, start + 0.5), ("forget", start + 0.5, start + 1.0), ("a", start + 1.0, start + 1.1),
                  ("jacket.", start + 1.1, end - 0.1))  # fmt: skip
    untrusted = ((invented[0].start, invented[-1].end, "words recognised with low confidence (mean probability 0.10)"),)
    recognition = Recognition("en", 1.0, False, "transcribe", "test", (tuple(invented + spoken),), untrusted=untrusted)
    with Media(path) as media:
        utterances, moved = FeaturePipeline(ExtractionConfig(modalities=("text",), cache=False))._utterances(
            media, "sha", recognition, None
        )
    issues = {u.text: u.text_issue for u in utterances if u.words}
    assert issues == {"I am not good.": untrusted[0][2], "Don't forget a jacket.": None}
    assert moved.untrusted[0][0] >= start - 0.01  # the span moved with its words


def test_a_dropped_untrusted_line_does_not_flag_the_words_snapped_onto_its_place():
    """Regression (review): the span of a dropped "Thank you." was kept after snapping and covered
    the trusted words collapsed to the region's end, so "Oh come on." lost its text."""
    from dataclasses import replace

    from mtmm_es.extractors.language import Recognition, annotate, moved_spans, trust_runs
    from mtmm_es.pipeline.segmentation import segment_runs

    words = said(("Oh", 0.1, 0.5), ("come", 0.6, 0.6), ("on.", 0.65, 0.65))
    words += [Word("Thank", 0.8, 1.0, 0.1), Word("you.", 1.0, 1.2, 0.1)]
    untrusted = ((0.8, 1.2, "words recognised with low confidence (mean probability 0.10)"),)
    runs = trust_runs(words, untrusted, 1.0)
    placed = snap_words(words, [(0.05, 0.45)])
    recognition = Recognition("en", 1.0, False, "transcribe", "test", (tuple(placed),))
    recognition = replace(recognition, untrusted=moved_spans(words, placed, untrusted, [k for r in runs for k in r]))
    utterances = annotate(segment_runs([[placed[k] for k in run] for run in runs], SegmentationConfig()), recognition)
    assert [(u.text, u.text_issue) for u in utterances] == [("Oh come on.", None)]


def test_a_short_untrusted_line_is_left_out_not_read_with_its_neighbour():
    """Regression (review): an invented "Thank you." under 1 s joined the trusted sentence before it
    (a short piece merges into its neighbour), and the text model read it."""
    from mtmm_es.extractors.language import trust_runs

    words = said(("Hello", 1.0, 1.4), ("there,", 1.4, 1.8), ("my", 1.8, 2.2), ("friend.", 2.2, 3.0))
    words += [Word("Thank", 3.3, 3.6, 0.1), Word("you.", 3.6, 3.9, 0.2), Word("Yes.", 4.0, 4.4, 0.9)]
    runs = trust_runs(words, [(3.3, 3.9, "words recognised with low confidence (mean probability 0.15)")], 1.0)
    assert [[words[k].text for k in run] for run in runs] == [["Hello", "there,", "my", "friend.", "Yes."]]
    assert len(trust_runs(words, [(1.0, 3.9, "low ASR confidence")], 1.0)) == 2  # a long one stays, cut off


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
        utterances, _ = FeaturePipeline(config)._utterances(
            media, "sha", Recognition("en", 1.0, False, "transcribe", "test", (said,)), None
        )
    assert len(utterances) == 1
    if fit:
        assert utterances[0].start > start - 0.4 and utterances[0].end > end - 0.6
    else:
        assert (utterances[0].start, utterances[0].end) == (start - 0.5, end - 0.6)


def _plant(pipeline, path, recognition) -> None:
    """Puts `recognition` in the pipeline's cache as the words recognised in `path`."""
    from mtmm_es.core.files import file_sha256
    from mtmm_es.pipeline.cache import cache_key
    from mtmm_es.pipeline.media import DECODING

    asr = pipeline.features._asr_spec()
    vad = asdict(pipeline.features.config.segmentation.vad)
    key = cache_key(sha=f"{file_sha256(path)}:decoding{DECODING}", stage="words", asr=asr, segments=[], vad=vad)
    pipeline.features.cache.put_json(key, recognition.to_json())


def test_analyze_labels_the_emotion_of_a_sentence_the_recogniser_missed(tmp_path):
    """End to end: the recogniser's words (planted in the cache) hold only the first sentence; the
    second is still an utterance, its emotion from the voice, sentiment and sarcasm left out (the
    default reads them from the text) and the result says why."""
    from mtmm_es.extractors.language import Recognition
    from mtmm_es.pipeline.analyze import Pipeline

    audio, spans = clips(2)
    path = tmp_path / "two.wav"
    soundfile.write(path, audio, RATE)
    pipeline = Pipeline(ExtractionConfig(cache_dir=str(tmp_path / "cache")))
    start, end = spans[0]
    said = (Word("Don't", start + 0.4, start + 0.8, 0.9), Word("forget.", start + 0.8, end - 0.4, 0.9))
    _plant(pipeline, path, Recognition("en", 1.0, True, "transcribe", "planted", (said,)))
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


def test_a_label_left_out_says_why_the_words_were_not_read(tmp_path):
    """Regression (user test): an utterance in another language said only "needs text: none usable
    here, not recognised or not trusted", not that its words were Spanish."""
    from mtmm_es.extractors.language import Recognition
    from mtmm_es.pipeline.analyze import Pipeline

    audio, spans = clips(1)
    path = tmp_path / "one.wav"
    soundfile.write(path, audio, RATE)
    pipeline = Pipeline(ExtractionConfig(cache_dir=str(tmp_path / "cache")))
    start, end = spans[0]
    said = (Word("No", start + 0.4, start + 0.8, 0.9), Word("olvides.", start + 0.8, end - 0.4, 0.9))
    reason = "speech in es, not English: the text model reads English"
    _plant(
        pipeline,
        path,
        Recognition("en", 1.0, True, "transcribe", "planted", (said,), untrusted=((start, end, reason),)),
    )
    result = pipeline.analyze(path)
    assert [u.text for u in result.utterances] == ["No olvides."] and result.utterances[0].sentiment is None
    assert (
        "utterance 0: sarcasm and sentiment not labelled (needs text: none usable here, not recognised or not "
        f"trusted): {reason}" in result.warnings
    ), result.warnings
