"""Speaker turns and the speaking face: the GE2E encoder, diarization of two CREMA-D actors, splits at
speaker changes, and the face whose mouth moves with the speech in a two-face clip."""

from __future__ import annotations

import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import soundfile
from helpers import ROOT, shared_path

from mtmm_es.core.errors import MtmmError
from mtmm_es.extractors.base import Utterance, Word
from mtmm_es.extractors.speaker import SpeakerEncoder, SpeakerEncoderConfig
from mtmm_es.extractors.visual import FaceExpressionExtractor
from mtmm_es.pipeline import ExtractionConfig
from mtmm_es.pipeline.analyze import Pipeline, schema
from mtmm_es.pipeline.diarize import (
    DiarizationConfig,
    Diarizer,
    cut_at_silences,
    merge_same,
    utterance_pieces,
)
from mtmm_es.pipeline.media import Media
from mtmm_es.pipeline.segmentation import renumber, split_at

sys.path.insert(0, str(ROOT / "scripts"))
import conversation  # noqa: E402


def _words(start: float, end: float, text: str) -> list[Word]:
    """Evenly spread words over a clip (its sentence is known; no ASR needed)."""
    tokens = text.split()
    step = (end - start - 0.4) / len(tokens)
    return [Word(w, start + 0.2 + k * step, start + 0.2 + (k + 0.8) * step, 1.0) for k, w in enumerate(tokens)]


def _utterance(words: list[Word]) -> Utterance:
    return Utterance(0, words[0].start, words[-1].end, " ".join(w.text for w in words), tuple(words))


@pytest.fixture(scope="module")
def talk():
    shared_path("speech", "cremad", "labels.csv")
    pair = conversation.first_pair(conversation.actors())
    audio, truth = conversation.conversation(pair, turns=10)
    return audio, truth


def test_split_at_cuts_at_the_word_gap_nearest_the_change() -> None:
    words = [Word("a", 0.0, 0.5, 1), Word("b", 0.6, 1.2, 1), Word("c", 1.5, 2.0, 1), Word("d", 2.1, 2.6, 1)]
    utterance = Utterance(3, 0.0, 2.6, "a b c d", tuple(words), speaker="S1")
    first, second = split_at(utterance, 1.3, min_duration_s=1.0)
    assert (first.text, first.start, first.end) == ("a b", 0.0, 1.2)
    assert (second.text, second.start, second.end) == ("c d", 1.5, 2.6)
    assert split_at(utterance, 0.5, min_duration_s=1.5) == [utterance]  # no cut leaves two long parts
    assert [u.index for u in renumber([second, first])] == [0, 1]


def test_speaker_count_must_be_positive() -> None:
    with pytest.raises(MtmmError, match="DiarizationConfig.speakers must be at least 1"):
        DiarizationConfig(speakers=0)


def test_groups_of_one_voice_merge_and_different_voices_stay_apart() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=256), rng.normal(size=256)  # two nearly orthogonal voices

    def voice(centre: np.ndarray, count: int) -> np.ndarray:
        rows = centre + 0.6 * rng.normal(size=(count, 256))
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    rows = np.concatenate([voice(a, 4), voice(a, 4), voice(b, 4)])
    labels, similarity = merge_same(rows, np.repeat([0, 1, 2], 4), same_speaker=0.63)
    assert labels.tolist() == [0] * 8 + [1] * 4  # the two groups of voice a merged, b kept apart
    assert similarity < 0.63


def test_a_pause_inside_a_piece_cuts_it_where_the_words_do_not() -> None:
    rate, rng = 16000, np.random.default_rng(1)
    speech = lambda seconds: 0.1 * rng.normal(size=int(seconds * rate)).astype(np.float32)  # noqa: E731
    audio = np.concatenate([speech(1.5), np.zeros(int(0.5 * rate), np.float32), speech(1.5)])
    pieces = cut_at_silences(audio, [(0.0, 3.5, 0.0, 3.5)])
    assert len(pieces) == 2 and abs(pieces[0][1] - 1.75) < 0.02 and pieces[0][3] <= 1.51 and pieces[1][2] >= 1.99
    assert cut_at_silences(audio, [(0.0, 2.2, 0.0, 2.2)]) == [(0.0, 2.2, 0.0, 2.2)]  # too short to hold two turns
    assert cut_at_silences(audio, [(4.0, 9.0, 4.0, 9.0)]) == [(4.0, 9.0, 4.0, 9.0)]  # a window past the audio's end


def test_speech_spans_reach_into_the_pauses_around_an_utterance() -> None:
    words = (Word("a", 1.0, 1.4, 1), Word("b", 1.5, 2.0, 1))
    utterance = Utterance(0, 1.0, 2.0, "a b", words)
    assert utterance_pieces(utterance, 3.0) == [(1.0, 2.0, 1.0, 2.0)]
    ((_, _, start, end),) = utterance_pieces(utterance, 3.0, (0.8, 3.0))
    assert (start, end) == (0.8, 2.3)  # at most 0.3 s beyond the words, never past the neighbours' midpoints


def test_encoder_refuses_missing_or_foreign_weights(tmp_path: Path) -> None:
    with pytest.raises(MtmmError, match="speaker encoder weights not found"):
        SpeakerEncoder(SpeakerEncoderConfig(weights=str(tmp_path / "none.pt")))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a state dict")
    with pytest.raises(MtmmError, match="cannot load speaker encoder weights"):
        SpeakerEncoder(SpeakerEncoderConfig(weights=str(junk)))


def test_a_replaced_weights_file_is_not_served_from_the_cache(tmp_path: Path, fixture_video: Path) -> None:
    """Regression: the speakers' cache key named the user's weights file by path only, so labels
    made with the old file were served after it was replaced."""
    from mtmm_es.extractors.speaker import bundled_weights
    from mtmm_es.pipeline.extract import FeaturePipeline

    weights = tmp_path / "ge2e.pt"
    weights.write_bytes(bundled_weights().read_bytes())
    encoder = SpeakerEncoderConfig(weights=str(weights))
    config = ExtractionConfig(
        modalities=("text",), cache_dir=str(tmp_path / "cache"), diarization=DiarizationConfig(encoder=encoder)
    )
    assert {u.speaker for u in FeaturePipeline(config).extract(fixture_video).utterances} == {"S1"}
    weights.write_bytes(b"not a GE2E state dict")
    with pytest.raises(MtmmError, match="speaker encoder"):
        FeaturePipeline(config).extract(fixture_video)


def test_embeddings_are_unit_norm_and_closer_within_a_speaker(talk) -> None:
    audio, truth = talk
    embeddings, owners, centres = SpeakerEncoder().partials(audio, [(t.start, t.end) for t in truth])
    assert embeddings.shape[1] == 256 and np.allclose(np.linalg.norm(embeddings, axis=1), 1, atol=1e-5)
    assert set(owners) == set(range(10)) and all(truth[o].start <= c <= truth[o].end for o, c in zip(owners, centres))
    means = np.stack([embeddings[owners == i].mean(0) for i in range(10)])
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    similarity = means @ means.T
    same = np.equal.outer(np.arange(10) % 2, np.arange(10) % 2) & ~np.eye(10, dtype=bool)
    assert similarity[same].mean() > similarity[~np.equal.outer(np.arange(10) % 2, np.arange(10) % 2)].mean() + 0.1


def test_two_alternating_speakers_are_found_and_attributed(talk) -> None:
    audio, truth = talk
    utterances = renumber([_utterance(_words(t.start, t.end, t.text)) for t in truth])
    for config in (DiarizationConfig(), DiarizationConfig(speakers=2)):
        result = Diarizer(config).run(audio, utterances)
        assert result.speakers == 2 and result.splits == 0
        assert conversation.attribution(result.utterances, truth) >= 0.9
        assert result.utterances[0].speaker == "S1"
        assert result.similarity < DiarizationConfig().same_speaker  # two voices: no "sound alike" warning


def test_one_utterance_holding_two_speakers_is_split(talk) -> None:
    audio, truth = talk
    merged = []  # turns 0+1, 4+5 and 8+9 in one utterance each, as a short pause between them would give
    for k in range(0, 10, 2):
        first, second = (
            _words(truth[k].start, truth[k].end, truth[k].text),
            _words(truth[k + 1].start, truth[k + 1].end, truth[k + 1].text),
        )
        merged += [_utterance(first + second)] if k % 4 == 0 else [_utterance(first), _utterance(second)]
    result = Diarizer(DiarizationConfig(speakers=2)).run(audio, renumber(merged))
    assert result.splits >= 2 and len(result.utterances) == 7 + result.splits  # the third pair: one error left
    assert [u.index for u in result.utterances] == list(range(len(result.utterances)))
    assert conversation.attribution(result.utterances, truth) >= 0.9


def test_user_windows_are_labelled_but_never_split(talk) -> None:
    audio, truth = talk
    window = _utterance(
        _words(truth[0].start, truth[0].end, truth[0].text) + _words(truth[1].start, truth[1].end, truth[1].text)
    )
    others = [_utterance(_words(t.start, t.end, t.text)) for t in truth[2:]]
    result = Diarizer(DiarizationConfig(speakers=2)).run(audio, renumber([window, *others]), split=False)
    assert len(result.utterances) == 9 and result.splits == 0


def test_one_voice_is_one_speaker(fixture_extraction) -> None:
    assert {u.speaker for u in fixture_extraction.utterances} == {"S1"}
    assert fixture_extraction.diarization["speakers"] == 1
    assert fixture_extraction.spec()["diarization"]["method"] == "ge2e-ahc"


@pytest.mark.slow
def test_conversation_end_to_end_labels_who_said_what(tmp_path: Path, cache_dir: Path) -> None:
    """As a user runs it, the count not given, on two actors not used to choose any threshold."""
    shared_path("speech", "cremad", "labels.csv")
    audio, truth = conversation.conversation(("1080", "1073"), turns=10, seed=500)
    path = tmp_path / "conversation.wav"
    soundfile.write(path, audio, 16000)
    result = Pipeline(ExtractionConfig(cache_dir=str(cache_dir))).analyze(path)
    document = result.to_dict()
    jsonschema.validate(document, schema())
    assert {u["speaker"] for u in document["utterances"]} == {"S1", "S2"}
    assert conversation.attribution(result.utterances, truth) >= 0.9
    speakers = document["summary"]["speakers"]
    assert set(speakers) == {"S1", "S2"} and sum(s["utterances"] for s in speakers.values()) == len(result.utterances)
    assert abs(sum(s["talk_share"] for s in speakers.values()) - 1) < 1e-3 and "sentiment" in speakers["S1"]
    record = document["extractors"]["speakers"]
    assert record["speakers"] == 2 and record["requested"] is None and record["similarity"] < 0.63


@pytest.mark.slow
def test_one_actor_end_to_end_stays_one_speaker(tmp_path: Path, cache_dir: Path) -> None:
    """Ten clips of one actor (held out from tuning), emotions changing from clip to clip."""
    shared_path("speech", "cremad", "labels.csv")
    audio, _ = conversation.monologue("1075", seed=500)
    path = tmp_path / "monologue.wav"
    soundfile.write(path, audio, 16000)
    result = Pipeline(ExtractionConfig(cache_dir=str(cache_dir))).analyze(path)
    assert len(result.utterances) >= 8 and {u.speaker for u in result.utterances} == {"S1"}
    assert result.to_dict()["extractors"]["speakers"]["similarity"] >= 0.63


@pytest.fixture(scope="module")
def two_faces(tmp_path_factory: pytest.TempPathFactory):
    shared_path("cremad_samples")
    folder = tmp_path_factory.mktemp("faces")
    clip, still = folder / "two_faces.mp4", folder / "voice_over.mp4"
    return clip, conversation.two_faces(clip), still, conversation.two_faces(still, still_audio=True)


@pytest.mark.slow
def test_the_face_that_speaks_supplies_the_visual_features(two_faces) -> None:
    clip, truth, still, still_truth = two_faces
    extractor = FaceExpressionExtractor()
    windows = [Utterance(k, t.start + 0.3, t.end - 0.3, t.text) for k, t in enumerate(truth)]
    with Media(clip) as media:
        tracks = extractor.analyze(media)
        features = extractor.pool(tracks, media, windows)
    assert len(set(tracks.track.tolist())) == 2  # two faces, followed across all clips
    chosen = features.extras["face_track"]
    by_side = {side: [c for c, t in zip(chosen, truth) if t.speaker == side] for side in ("left", "right")}
    left, right = (
        max(set(by_side["left"]), key=by_side["left"].count),
        max(set(by_side["right"]), key=by_side["right"].count),
    )
    assert left != right and left >= 0 and right >= 0
    correct = [c == (left if t.speaker == "left" else right) for c, t in zip(chosen, truth)]
    assert np.mean(correct) >= 0.9 and features.mask.all()
    assert (features.extras["face_confidence"] > 0.5).all()
    with Media(still) as media:
        voice_over = extractor.pool(extractor.analyze(media), media, windows)
    assert not voice_over.mask.any() and (voice_over.extras["face_track"] == -1).all()  # nobody in view speaks
    assert (voice_over.extras["faces_in_view"] == 2).all()  # what tells a voice-over from no face at all


def test_the_label_record_carries_speakers_faces_and_a_summary_per_speaker() -> None:
    from mtmm_es.core.labels import Face, ModelInfo, Sarcasm, Sentiment, Source, UtteranceResult, VideoResult
    from mtmm_es.pipeline.formats import get_writer

    def utterance(index: int, start: float, end: float, speaker: str, p: float) -> UtteranceResult:
        sentiment = Sentiment("positive" if p >= 0.5 else "negative", p, 2 * p - 1)
        return UtteranceResult(
            index,
            start,
            end,
            f"words {index}",
            sentiment,
            None,
            Sarcasm(p / 2),
            speaker=speaker,
            face=Face(index % 2, 0.9),
        )

    utterances = (
        utterance(0, 0.0, 3.0, "S1", 0.9),
        utterance(1, 3.0, 4.0, "S2", 0.2),
        utterance(2, 4.0, 5.0, "S10", 0.6),
    )
    model = ModelInfo("ckpt", None, ("sentiment", "sarcasm"), ("text",), 1, "f1")
    result = VideoResult(Source("talk.mp4", "0" * 64, 5.0), model, {}, utterances)
    speakers = result.summary["speakers"]
    assert list(speakers) == ["S1", "S2", "S10"]  # numeric order, not text order
    assert speakers["S1"]["talk_time"] == 3.0 and speakers["S1"]["talk_share"] == 0.6
    assert speakers["S2"]["sentiment"]["label"] == "negative" and speakers["S1"]["sentiment"]["label"] == "positive"
    assert speakers["S10"]["sarcasm"]["max_p"] == 0.3 and "emotions" not in speakers["S10"]
    document = result.to_dict()  # (validated against the schema end to end above)
    assert document["utterances"][1]["face"] == {"track": 1, "confidence": 0.9}
    assert "\nS2: words 1" in get_writer("srt")().render(result)
    assert [row["speaker"] for row in result.rows()] == ["S1", "S2", "S10"]


def test_clustering_matches_scikit_learn_without_importing_it() -> None:
    """The scipy tree cut and the written-out silhouette give scikit-learn's partitions and scores
    (average linkage, cosine), and identical voices stay one speaker."""
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import silhouette_score

    from mtmm_es.pipeline.diarize import DiarizationConfig, cluster, silhouette

    rng = np.random.default_rng(1)
    for _ in range(50):
        n, k = int(rng.integers(6, 30)), int(rng.integers(2, 5))
        rows = rng.standard_normal((n, 16)) + 2 * rng.standard_normal((3, 16))[rng.integers(0, 3, n)]
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        ours = cluster(rows, DiarizationConfig(speakers=k))[0]
        centred = rows - rows.mean(0)
        centred /= np.linalg.norm(centred, axis=1, keepdims=True)
        theirs = AgglomerativeClustering(n_clusters=k, metric="cosine", linkage="average").fit_predict(centred)
        assert len(set(zip(ours, theirs))) == k  # the same partition, whatever the numbering
        distance = np.clip(1.0 - centred @ centred.T, 0.0, 2.0)
        assert silhouette(distance, theirs) == pytest.approx(silhouette_score(centred, theirs, metric="cosine"))
    same = np.tile(rows[:1], (5, 1))
    assert cluster(same, DiarizationConfig())[0].tolist() == [0] * 5


def test_a_window_over_silence_gets_no_speaker(talk) -> None:
    """Regression: a --segments window over silence was embedded like speech, became a speaker of
    its own (with talk time) and could merge two real voices."""
    audio, truth = talk
    silence = np.zeros(3 * 16000, np.float32)
    shift = 3.0
    utterances = [Utterance(0, 0.2, 2.8, "typed text")]
    utterances += [_utterance(_words(t.start + shift, t.end + shift, t.text)) for t in truth]
    result = Diarizer().run(np.concatenate([silence, audio]), renumber(utterances), split=False)
    assert result.utterances[0].speaker is None and result.speakers == 2
    assert {u.speaker for u in result.utterances[1:]} == {"S1", "S2"}


def test_a_window_inside_another_gets_its_speaker(talk) -> None:
    """Regression: the speech span of a --segments window reached half way to its neighbours, which
    assumes windows do not overlap; a window inside another got an inverted span, no voice and no
    speaker."""
    audio, truth = talk
    turns = [_utterance(_words(t.start, t.end, t.text)) for t in truth]
    outer = Utterance(0, truth[0].start, truth[2].end, "typed text")
    result = Diarizer().run(audio, renumber([outer, *turns[1:]]), split=False)
    alone = Diarizer().run(audio, renumber(turns), split=False)  # the same turns, none overlapping
    assert None not in [u.speaker for u in result.utterances] and result.speakers == 2
    assert [u.speaker for u in result.utterances[1:]] == [u.speaker for u in alone.utterances[1:]]
