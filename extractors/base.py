"""Types shared across stages and the one interface every extractor implements.

A feature extractor works in two steps so the pipeline can overlap stages:
`analyze(media)` does the utterance-independent pass (decoding frames, frame-level descriptors) and
may run while speech recognition is still going; `pool(analysis, media, utterances)` turns that
analysis into one feature vector per utterance plus a mask saying which utterances have the modality.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from mtmm_es.core.errors import MtmmError

MODALITIES = ("text", "acoustic", "visual")
SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Word:
    """One recognised word with its time span (seconds) and ASR confidence (0..1)."""

    text: str
    start: float
    end: float
    probability: float

    def to_row(self) -> list[Any]:
        """[text, start, end, probability]: the compact JSON of cached recognitions."""
        return [self.text, self.start, self.end, self.probability]

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Word:
        text, start, end, probability = row
        return cls(str(text), float(start), float(end), float(probability))


@dataclass(frozen=True)
class Segment:
    """A user-supplied time window, with its transcript when the file gives one."""

    start: float
    end: float
    text: str | None = None


@dataclass(frozen=True)
class Utterance:
    """A unit of speech bounded by pauses: the row unit of every feature matrix.

    text is what the text model reads (English when the speech was translated); source_text the
    original-language transcript of a translated utterance; text_issue, when set, why its text is
    not trusted (the text modality is then masked for it); speaker S1, S2, ... once diarization has
    run (None without it).
    """

    index: int
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    source_text: str | None = None
    text_issue: str | None = None
    speaker: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"words": [asdict(w) for w in self.words]}

    @classmethod
    def from_dict(cls, item: Mapping[str, Any]) -> Utterance:
        words = tuple(Word(**w) for w in item.get("words", ()))
        speaker = item.get("speaker")
        return cls(
            int(item["index"]),
            float(item["start"]),
            float(item["end"]),
            str(item["text"]),
            words,
            item.get("source_text"),
            item.get("text_issue"),
            speaker and str(speaker),
        )


@dataclass(frozen=True)
class MediaInfo:
    """What probing a media file found."""

    path: str
    duration: float
    has_audio: bool
    has_video: bool
    width: int = 0  # as displayed, after rotation
    height: int = 0
    fps: float = 0.0
    rotation: int = 0  # degrees, from the container's display matrix
    audio_codec: str = ""
    video_codec: str = ""
    audio_stream: int | None = None  # which audio stream (0-based among the file's audio streams) is used
    audio_streams: int = 0  # how many audio streams the file has
    audio_start: float = 0.0  # seconds from the media's start to the audio stream's first sample
    audio_duration: float = 0.0  # the audio stream's own length as the file states it (0: not stated)
    duration_estimated: bool = False  # the file states no length (an MP3 without a header): the lengths are decoded
    video_start: float = 0.0  # the same for the video stream


@dataclass(frozen=True)
class VideoFrame:
    """A decoded RGB frame (H, W, 3, uint8) and its time in seconds."""

    time: float
    rgb: np.ndarray


class MediaSource(Protocol):
    """Decoded access to one media file (implemented by pipeline.media.Media)."""

    info: MediaInfo

    def audio(self) -> np.ndarray | None:
        """16 kHz mono float32 samples (possibly memory-mapped), or None without an audio stream."""
        ...

    def frames(self, fps: float, max_side: int, skip_bidir: bool = False) -> Iterator[VideoFrame]:
        """Frames sampled at `fps`, scaled so the longer side is at most `max_side`, streamed;
        skip_bidir trades exact frame times for not decoding B-frames."""
        ...


@dataclass(frozen=True)
class ExtractorInfo:
    """Identity of an extractor: what a trained model must see again at inference.

    `version` is this project's algorithm version; `libraries` records the third-party versions
    for provenance only. Two specs are compatible when name, version, config and names agree.
    """

    name: str
    modality: str
    version: str
    config: Mapping[str, Any]
    feature_names: tuple[str, ...]
    libraries: Mapping[str, str] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return len(self.feature_names)

    def to_spec(self) -> dict[str, Any]:
        return {
            "extractor": self.name,
            "version": self.version,
            "config": dict(self.config),
            "dim": self.dim,
            "feature_names": list(self.feature_names),
            "libraries": dict(self.libraries),
        }


@dataclass
class ModalityFeatures:
    """Per-utterance features of one modality: values [n, dim] float32 and mask [n] bool; extras: other
    per-utterance arrays [n] an extractor reports (e.g. the visual face track and its confidence)."""

    info: ExtractorInfo
    values: np.ndarray
    mask: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float32)
        self.mask = np.asarray(self.mask, dtype=bool)
        if self.values.shape != (len(self.mask), self.info.dim):
            raise ValueError(f"{self.info.name}: values {self.values.shape} do not match mask/spec")
        self.values[~self.mask] = 0.0

    @classmethod
    def empty(cls, info: ExtractorInfo, n_utterances: int) -> ModalityFeatures:
        """All-masked features: the modality is absent for every utterance."""
        return cls(info, np.zeros((n_utterances, info.dim), np.float32), np.zeros(n_utterances, bool))


@dataclass
class FrameTrack:
    """Frame-level descriptors over time: times [T], values [T, D] (NaN = undefined), valid [T]."""

    times: np.ndarray
    values: np.ndarray
    valid: np.ndarray

    @classmethod
    def empty(cls, dim: int) -> FrameTrack:
        return cls(np.zeros(0), np.zeros((0, dim), np.float32), np.zeros(0, bool))


def window_indices(times: np.ndarray, start: float, end: float) -> np.ndarray:
    """Indices of the frames (sorted `times`) inside [start, end). A window between two frames (shorter
    than the frame step) takes the frame nearest its centre, but never one more than a frame step
    away from the window: audio past the video's end, or a gap in the frames, gets no frame."""
    lo, hi = np.searchsorted(times, [start, end])
    if hi > lo or len(times) == 0:
        return np.arange(lo, hi)
    nearest = int(np.argmin(np.abs(times - (start + end) / 2)))
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    distance = max(start - float(times[nearest]), float(times[nearest]) - end, 0.0)
    return np.array([nearest]) if distance <= step else np.arange(0)


def pool_track(track: FrameTrack, utterances: Sequence[Utterance]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of each descriptor over the valid frames of each utterance window.

    Returns values [n, 2*D + 1] laid out as (means, stds, valid-frame fraction) and a mask that is
    true where the window holds at least one valid frame (frames as `window_indices` finds them).
    NaN descriptors are ignored; a column with no defined value is 0.
    """
    dim = track.values.shape[1]
    values = np.zeros((len(utterances), 2 * dim + 1), np.float32)
    mask = np.zeros(len(utterances), bool)
    for row, utterance in enumerate(utterances):
        indices = window_indices(track.times, utterance.start, utterance.end)
        if len(indices) == 0:
            continue
        window_valid = track.valid[indices]
        frames = track.values[indices][window_valid]
        values[row, -1] = window_valid.mean()
        if len(frames) == 0:
            continue
        mask[row] = True
        defined = ~np.isnan(frames)
        counts = defined.sum(0)
        filled = np.where(defined, frames, 0.0)
        mean = filled.sum(0) / np.maximum(counts, 1)
        var = (np.where(defined, frames - mean, 0.0) ** 2).sum(0) / np.maximum(counts, 1)
        values[row, :dim] = mean
        values[row, dim : 2 * dim] = np.sqrt(var)
    return values, mask


def pooled_names(descriptors: Sequence[str], fraction_name: str) -> tuple[str, ...]:
    """Feature names matching pool_track's layout."""
    return tuple(f"{d}_mean" for d in descriptors) + tuple(f"{d}_std" for d in descriptors) + (fraction_name,)


class FeatureExtractor(ABC):
    """Turns media + utterances into one modality's per-utterance features."""

    modality: ClassVar[str]

    @property
    @abstractmethod
    def info(self) -> ExtractorInfo:
        """Name, version, config and feature names; recorded in spec.json."""

    def analyze(self, media: MediaSource) -> Any:
        """Utterance-independent pass over the media (may run alongside ASR). Default: nothing."""
        return None

    @abstractmethod
    def pool(self, analysis: Any, media: MediaSource, utterances: Sequence[Utterance]) -> ModalityFeatures:
        """One feature row per utterance from `analysis` (the result of `analyze`)."""


class Transcriber(ABC):
    """Speech recognition with word timestamps."""

    @property
    @abstractmethod
    def info(self) -> ExtractorInfo:
        """Backend, model and decoding options; recorded in spec.json."""

    @abstractmethod
    def transcribe(self, audio: np.ndarray) -> list[Word]:
        """Words of 16 kHz mono `audio`, times in seconds from its first sample."""


def resolve_asset(path: str | Path | None, default: Path, what: str) -> Path:
    """The user's file when given, else the embedded default; a clear error when neither exists."""
    chosen = Path(path).expanduser() if path else default
    if not chosen.exists():
        hint = "" if path else " (is the package that ships it installed?)"
        raise MtmmError(f"{what} not found{hint}", chosen)
    return chosen
