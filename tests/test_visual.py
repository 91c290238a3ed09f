"""Facial-expression features: primary-face choice, head pose, real faces and faceless video."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from helpers import ffmpeg

from mtmm_es.core.errors import MtmmError
from mtmm_es.extractors.base import Utterance
from mtmm_es.extractors.visual import (
    BLENDSHAPES,
    MOUTH,
    FaceExpressionExtractor,
    FaceTracker,
    FaceTracks,
    VisualConfig,
    head_pose,
    speaking_face,
)
from mtmm_es.pipeline.media import Media


def test_tracks_follow_faces_across_frames_and_gaps() -> None:
    left, right = np.array([0.05, 0.3, 0.35, 0.7]), np.array([0.6, 0.3, 0.9, 0.7])
    tracker = FaceTracker(max_gap=2)
    assert tracker.update(0, [left, right]) == [0, 1]
    assert tracker.update(1, [right + 0.02, left - 0.01]) == [1, 0]  # order of detection does not matter
    assert tracker.update(2, [right]) == [1]
    assert tracker.update(3, [left]) == [0]  # back within the gap: same track
    assert tracker.update(8, [left]) == [2]  # gone too long: a new track
    assert tracker.update(9, [left, left + 0.01]) == [2, 3]  # one track per face per frame


def _tracks(mouths: list[np.ndarray], boxes: list[list[float]]) -> FaceTracks:
    """Faces on every frame of a 5 fps clip, with given mouth openings and boxes."""
    n = len(mouths[0])
    values = np.zeros((n * len(mouths), 58), np.float32)
    for k, mouth in enumerate(mouths):
        values[k * n : (k + 1) * n, list(MOUTH)] = mouth[:, None]
    frames = np.tile(np.arange(n), len(mouths))
    tracks = np.repeat(np.arange(len(mouths)), n)
    return FaceTracks(np.arange(n) / 5, frames, tracks, values, np.repeat(np.array(boxes), n, axis=0))


def test_the_face_whose_mouth_follows_the_speech_is_chosen() -> None:
    envelope = np.abs(np.sin(np.arange(20) * 1.3))
    moving, still = 0.1 + 0.4 * envelope, np.full(20, 0.05)
    boxes = [[0.05, 0.2, 0.45, 0.8], [0.55, 0.3, 0.75, 0.6]]
    utterance = Utterance(0, 0.0, 4.0, "x")
    track, confidence = speaking_face(_tracks([still, moving], boxes), envelope, utterance)
    assert track == 1 and confidence > 0.9
    chewing = 0.3 + 0.15 * np.cos(np.arange(20) * 0.7)  # moves, but not with the speech
    track, confidence = speaking_face(_tracks([chewing, moving], boxes), envelope, utterance)
    assert track == 1 and 0.5 < confidence < 1
    assert speaking_face(_tracks([still, still], boxes), envelope, utterance) == (None, 0.0)  # a voice-over
    track, _ = speaking_face(_tracks([still, moving], boxes), np.zeros(20), utterance)
    assert track == 0  # no speech to follow: the larger, more central face
    assert speaking_face(_tracks([still], boxes[:1]), envelope, utterance) == (0, 1.0)


def test_head_pose_from_transformation_matrix() -> None:
    matrix = np.eye(4)
    yaw = math.radians(30)
    matrix[:3, :3] = [[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]]
    matrix[:3, 3] = [1.0, -2.0, -40.0]
    np.testing.assert_allclose(head_pose(matrix), [30, 0, 0, 1, -2, -40], atol=1e-4)


def test_face_found_on_every_fixture_frame_with_named_features(fixture_video: Path) -> None:
    extractor = FaceExpressionExtractor()
    with Media(fixture_video) as media:
        track = extractor.analyze(media)
        features = extractor.pool(track, media, [Utterance(0, 0.0, 4.0, "a"), Utterance(1, 5.0, 9.0, "b")])
    assert set(track.track.tolist()) == {0}  # one face, one track
    assert len(set(track.frame.tolist())) >= 0.95 * len(track.times)
    assert len(track.times) == pytest.approx(18.7 * 5, abs=2)
    assert list(features.extras["face_track"]) == [0, 0] and list(features.extras["face_confidence"]) == [1, 1]
    names = extractor.info.feature_names
    assert len(names) == 2 * (52 + 6) + 1 and names[-1] == "face_fraction"
    assert features.mask.all() and (features.values[:, -1] >= 0.9).all()
    smile = features.values[:, names.index("mouthSmileLeft_mean")]
    assert (smile > 0.5).all()  # the astronaut portrait smiles
    assert abs(features.values[0, names.index("yaw_deg_mean")]) < 15  # and faces the camera


def test_video_without_a_face_is_masked(tmp_path: Path) -> None:
    blank = tmp_path / "grey.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=320x240:d=2:r=10", "-c:v", "libx264", str(blank))
    extractor = FaceExpressionExtractor()
    with Media(blank) as media:
        track = extractor.analyze(media)
        features = extractor.pool(track, media, [Utterance(0, 0.0, 2.0, "x")])
    assert len(track.times) == 10 and len(track.track) == 0  # 2 s at 5 fps, no face
    assert list(features.mask) == [False] and not features.values.any()
    assert list(features.extras["face_track"]) == [-1]


def test_missing_or_invalid_face_model(tmp_path: Path) -> None:
    with pytest.raises(MtmmError, match="face landmarker model not found"):
        FaceExpressionExtractor(VisualConfig(model=str(tmp_path / "none.task")))
    junk = tmp_path / "junk.task"
    junk.write_bytes(b"not a model")
    with pytest.raises(MtmmError, match="cannot load face landmarker"):
        FaceExpressionExtractor(VisualConfig(model=str(junk)))._landmarker()


def test_blendshape_names_match_the_model_output() -> None:
    assert len(BLENDSHAPES) == 52 and BLENDSHAPES[0] == "_neutral"


def test_frames_that_repeat_a_time_are_skipped_not_fatal(tmp_path: Path, fixture_video: Path) -> None:
    """Regression: with --fps 0 (every frame) a stream whose frames repeat times (0.0, 0.0, 0.2, 0.2,
    ...) stopped face tracking with MediaPipe's "timestamp must be monotonically increasing"."""
    repeated = tmp_path / "repeated.mkv"
    every_other_time = "setts=ts=floor(N/2)*2*DURATION"
    ffmpeg(*("-i", str(fixture_video), "-t", "2", "-an"), *("-c:v", "copy", "-bsf:v", every_other_time), str(repeated))
    with Media(repeated) as media:
        times = [frame.time for frame in media.frames(0, 64)]
        assert len(set(times)) < len(times)  # the stream does repeat times
        track = FaceExpressionExtractor(VisualConfig(fps=0)).analyze(media)
    assert len(track.times) >= 3 and (np.diff(track.times) > 0).all() and len(track.track) > 0
