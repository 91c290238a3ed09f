"""Acted speech corpora as pseudo-videos, and speaker normalisation inside the model's input path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import shared_path

from mtmm_es.model.corpora.speech import (
    EMOTION_MAP,
    POSITIVE,
    one_clip_videos,
    pseudo_videos,
    read_clips,
    speaker_recording,
)
from mtmm_es.model.data import Video
from mtmm_es.model.network import context_normalise


def test_context_normalisation_removes_a_speaker_offset_but_keeps_a_single_utterance():
    rng = np.random.default_rng(0)
    base = torch.from_numpy(rng.normal(size=(1, 200, 3)).astype(np.float32))
    present = torch.ones(1, 200, dtype=torch.bool)
    shifted = base * 2.0 + 5.0  # another speaker: louder, higher, more varied
    a = context_normalise(base, present, shrink=2.0)
    b = context_normalise(shifted, present, shrink=2.0)
    assert torch.allclose(a, b, atol=0.1)  # nearly speaker-free after normalisation
    assert not torch.allclose(base, shifted, atol=1.0)
    one = context_normalise(torch.tensor([[[3.0, -3.0, 0.0]]]), torch.ones(1, 1, dtype=torch.bool), 2.0)
    assert one[0, 0, 0] > 1.0 and one[0, 0, 1] < -1.0  # not flattened to zero
    padded = context_normalise(base, torch.arange(200)[None] < 10, 2.0)
    assert torch.all(padded[0, 10:] == 0)
    assert torch.allclose(padded[0, :10], context_normalise(base[:, :10], present[:, :10], 2.0), atol=1e-6)


def test_context_normalisation_without_shrinkage_stays_finite():
    """Regression: with `context_shrink` 0 a video whose modality is absent everywhere (no face) gave
    NaN (0 / 0) into the GRU, and a one-utterance video divided by a zero spread."""
    absent = context_normalise(torch.ones(1, 4, 3), torch.zeros(1, 4, dtype=torch.bool), 0.0)
    one = context_normalise(torch.ones(1, 1, 3), torch.ones(1, 1, dtype=torch.bool), 0.0)
    assert torch.equal(absent, torch.zeros(1, 4, 3)) and torch.equal(one, torch.zeros(1, 1, 3))


def test_pseudo_videos_keep_one_speaker_each_and_cover_every_clip():
    clips = read_clips(shared_path("speech", "ravdess"), "ravdess")
    groups = pseudo_videos(clips, size=30, seed=0)
    assert sorted(i for g in groups for i in g) == list(range(len(clips)))
    assert all(len({clips[i].speaker for i in g}) == 1 for g in groups)
    assert min(len(g) for g in groups) >= 1 and max(len(g) for g in groups) <= 59
    assert groups == pseudo_videos(clips, size=30, seed=0)


def test_a_share_of_each_speakers_clips_becomes_one_clip_videos():
    clips = read_clips(shared_path("speech", "ravdess"), "ravdess")  # 24 actors x 60 clips
    plain = pseudo_videos(clips, size=30, seed=0)
    groups = pseudo_videos(clips, size=30, seed=0, single_share=0.3)
    assert sorted(i for g in groups for i in g) == list(range(len(clips)))
    assert all(len({clips[i].speaker for i in g}) == 1 for g in groups)
    singles = sum(len(g) == 1 for g in groups)
    assert singles >= 24 * 18 > sum(len(g) == 1 for g in plain)
    assert sum(len(g) == 1 for g in pseudo_videos(clips, size=30, seed=0, single_share=1.0)) == len(clips)


def test_one_clip_videos_split_a_video_into_its_utterances():
    video = Video(
        "cremad-1002-3",
        ["a", "b"],
        {"acoustic": np.arange(6, dtype=np.float32).reshape(2, 3)},
        {"acoustic": np.array([True, False])},
        {"emotion": np.eye(7, dtype=np.float32)[[0, 6]]},
        {"emotion": np.ones(2, np.float32)},
        ["one", "two"],
    )
    first, second = one_clip_videos([video])
    assert (first.utterance_ids, second.utterance_ids) == (["a"], ["b"])
    assert first.features["acoustic"].tolist() == [[0, 1, 2]] and second.features["acoustic"].tolist() == [[3, 4, 5]]
    assert first.masks["acoustic"].tolist() == [True] and second.masks["acoustic"].tolist() == [False]
    assert second.targets["emotion"].argmax() == 6 and second.texts == ["two"]
    assert first.id.rsplit("-", 1)[0] == "cremad-1002"  # still the speaker's


def test_speech_labels_map_onto_the_models_emotions():
    for corpus, expected in (("cremad", 7360), ("ravdess", 1440), ("tess", 2799)):
        clips = read_clips(shared_path("speech", corpus), corpus)
        assert abs(len(clips) - expected) <= 1
        assert {c.emotion for c in clips} <= set(EMOTION_MAP.values())
    ravdess = read_clips(shared_path("speech", "ravdess"), "ravdess")
    assert sum(c.emotion == "none" for c in ravdess) == 192 + 96  # calm and neutral
    assert "none" in POSITIVE and "anger" not in POSITIVE


def test_a_speakers_recording_places_each_clip_in_its_window():
    folder = shared_path("speech", "tess")
    clips = read_clips(folder, "tess")[:3]
    media, utterances = speaker_recording([folder / c.file for c in clips], gap_s=0.5)
    audio = media.audio()
    assert len(utterances) == 3 and utterances[1].start > utterances[0].end
    for u in utterances:
        inside = audio[int(u.start * 16000) : int(u.end * 16000)]
        assert np.abs(inside).max() > 0.01
    gap = audio[int(utterances[0].end * 16000) + 10 : int(utterances[1].start * 16000) - 10]
    assert np.all(gap == 0)


def test_a_task_routed_to_text_ignores_the_voice():
    from mtmm_es.model.checkpoint import Checkpoint, only
    from mtmm_es.model.data import Video
    from mtmm_es.model.network import MTMMES, ModelConfig

    torch.manual_seed(0)
    config = ModelConfig({"text": 4, "acoustic": 3}, tasks=("sentiment", "emotion"), context_norm=("acoustic",))
    checkpoint = Checkpoint([MTMMES(config).eval()], {}, task_modalities={"sentiment": ["text"]})
    rng = np.random.default_rng(1)
    features = {
        "text": rng.normal(size=(5, 4)).astype(np.float32),
        "acoustic": rng.normal(size=(5, 3)).astype(np.float32),
    }
    video = Video("v", [str(i) for i in range(5)], features, {m: np.ones(5, bool) for m in features})
    louder = Video("v", video.utterance_ids, {**features, "acoustic": features["acoustic"] * 3 + 1}, video.masks)
    a, b = checkpoint.predict([video])[0], checkpoint.predict([louder])[0]
    assert np.allclose(a["sentiment"], b["sentiment"])  # routed to text: the voice cannot move it
    assert not np.allclose(a["emotion"], b["emotion"])  # emotion hears the voice
    text_only = checkpoint._predict([only(video, ["text"])], False)[0]
    assert np.allclose(a["sentiment"], text_only["sentiment"])


def test_features_of_several_parts_are_cached_per_part_and_match_the_combined_extractor(tmp_path):
    from mtmm_es.extractors.acoustic import AcousticConfig, make_acoustic_extractor
    from mtmm_es.model.corpora.speech import LAYOUT_SEED, acoustic_features

    folder = shared_path("speech", "tess")
    clips = read_clips(folder, "tess")[:3]
    combined = make_acoustic_extractor(AcousticConfig(extractor="covarep+egemaps"))
    values, mask = acoustic_features(folder, clips, combined, tmp_path)
    assert sorted(p.name.split("-")[1] for p in tmp_path.glob("*.npz")) == ["covarep", "egemaps"]
    order = np.random.default_rng(LAYOUT_SEED).permutation(len(clips))  # the recording's seeded layout
    assert list(order) != [0, 1, 2]  # not the table order (the corpora list their clips by emotion)
    media, utterances = speaker_recording([folder / clips[i].file for i in order])
    direct = combined.pool(combined.analyze(media), media, utterances)
    assert np.array_equal(values[order], direct.values) and np.array_equal(mask[order], direct.mask)
    cached = acoustic_features(folder, clips, make_acoustic_extractor(AcousticConfig(extractor="covarep")), tmp_path)
    assert np.array_equal(cached[0], values[:, :75])  # the part's cache serves the part alone


def test_speakers_analysed_at_once_give_the_features_of_one_at_a_time(tmp_path):
    """Speakers run in threads, each writing its own rows; a part missing from the cache is computed
    beside the cached ones, which are read, not recomputed."""
    from mtmm_es.extractors.acoustic import AcousticConfig, make_acoustic_extractor
    from mtmm_es.model.corpora.speech import acoustic_features

    folder = shared_path("speech", "tess")
    every = read_clips(folder, "tess")
    clips = [c for s in sorted({c.speaker for c in every}) for c in [c for c in every if c.speaker == s][:3]]
    assert len({c.speaker for c in clips}) == 2
    combined = make_acoustic_extractor(AcousticConfig(extractor="covarep+egemaps"))
    one = acoustic_features(folder, clips, combined, tmp_path / "one", workers=1)
    two = acoustic_features(folder, clips, combined, tmp_path / "two", workers=2)
    assert np.array_equal(one[0], two[0]) and np.array_equal(one[1], two[1]) and one[1].all()
    covarep = next((tmp_path / "two").glob("*covarep*.npz"))
    np.savez(covarep, values=np.full_like(one[0][:, :75], 7.0), mask=one[1])  # marked: read back, not recomputed
    next((tmp_path / "two").glob("*egemaps*.npz")).unlink()
    values, _ = acoustic_features(folder, clips, combined, tmp_path / "two", workers=2)
    assert np.all(values[:, :75] == 7.0) and np.array_equal(values[:, 75:], one[0][:, 75:])


def test_levelled_clips_keep_their_loudness_in_a_recording_and_lose_it_alone(tmp_path):
    """A levelling extractor levels a speaker's whole recording (a quiet clip stays quiet among the
    speaker's others, as in a video); `alone` levels each clip first, as `analyze-video` levels a
    clip given alone."""
    import soundfile

    from mtmm_es.extractors.acoustic import AcousticConfig, make_acoustic_extractor
    from mtmm_es.model.corpora.speech import Clip, acoustic_features, decode

    source = shared_path("speech", "tess")
    audio = decode(source / read_clips(source, "tess")[0].file)
    for name, gain in (("loud.wav", 1.0), ("quiet.wav", 0.1)):
        soundfile.write(tmp_path / name, audio * gain, 16000, subtype="FLOAT")
    clips = [Clip(name, "tess-A", "x", "neutral") for name in ("loud.wav", "quiet.wav")]
    extractor = make_acoustic_extractor(AcousticConfig(extractor="covarep", level_db=-30.0))
    rms = extractor.info.feature_names.index("rms_db_mean")
    together, _ = acoustic_features(tmp_path, clips, extractor, tmp_path / "cache")
    alone, _ = acoustic_features(tmp_path, clips, extractor, tmp_path / "cache", alone=True)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2  # each cached under its own key
    # 20 dB quieter in the recording (its faintest frames drop below the silence floor, so the
    # mean moves less); levelled alone, the two are one clip again
    assert together[0, rms] - together[1, rms] > 10.0
    assert alone[0, rms] == pytest.approx(alone[1, rms], abs=0.5)
