"""Configuration of the extraction pipeline: one frozen dataclass per stage, gathered in one."""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import asdict, dataclass, field
from typing import Any

from mtmm_es.core.checks import check_flags, check_number, check_type
from mtmm_es.core.errors import MtmmError
from mtmm_es.extractors.acoustic import AcousticConfig, recorded
from mtmm_es.extractors.asr import AsrConfig
from mtmm_es.extractors.base import MODALITIES
from mtmm_es.extractors.speaker import bundled_weights
from mtmm_es.extractors.text import TextConfig
from mtmm_es.extractors.visual import VisualConfig

from .diarize import DiarizationConfig
from .segmentation import SegmentationConfig


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


STAGES = {
    "asr": AsrConfig,
    "segmentation": SegmentationConfig,
    "text": TextConfig,
    "acoustic": AcousticConfig,
    "visual": VisualConfig,
    "diarization": DiarizationConfig,
}


@dataclass(frozen=True)
class ExtractionConfig:
    """Everything that decides what `extract` computes (and so what its cache key is)."""

    asr: AsrConfig = field(default_factory=AsrConfig)
    segmentation: SegmentationConfig = field(default_factory=SegmentationConfig)
    text: TextConfig = field(default_factory=TextConfig)
    acoustic: AcousticConfig = field(default_factory=AcousticConfig)
    visual: VisualConfig = field(default_factory=VisualConfig)
    diarization: DiarizationConfig = field(default_factory=DiarizationConfig)  # speaker labels
    modalities: tuple[str, ...] = MODALITIES
    segments: str | None = None  # SRT / WebVTT / CSV of utterance windows instead of pause splitting
    ffmpeg: str | None = None  # default: the binary bundled in imageio-ffmpeg
    audio_stream: int | None = None  # 0-based among the audio streams; None: the one with the most speech, then sound
    stage_time_limit_s: float | None = None  # per decoding stage; None: 120 s + 4x the media's duration
    cache: bool = True
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        for name, kind in STAGES.items():
            check_type(self, name, kind)
        if isinstance(self.modalities, str):  # "text" would be read letter by letter
            raise MtmmError(f"modalities must be a list of names such as ('text', 'acoustic'), not {self.modalities!r}")
        object.__setattr__(self, "modalities", tuple(self.modalities))  # a list works too (and stays hashable)
        unknown = set(self.modalities) - set(MODALITIES)
        if unknown or not self.modalities:
            chosen = f"unknown modalities {sorted(unknown)}" if unknown else "no modalities"
            raise MtmmError(f"{chosen} (choose from {', '.join(MODALITIES)})")
        check_number(self, "audio_stream", int, minimum=0, optional=True)
        check_number(self, "stage_time_limit_s", above=0, optional=True)
        check_flags(self, "cache")
        if self.cache and self.cache_dir and os.path.exists(self.cache_dir) and not os.path.isdir(self.cache_dir):
            raise MtmmError("the cache folder is a file: give --cache-dir a folder", self.cache_dir)
        if self.ffmpeg:
            from .media import ffmpeg_binary

            ffmpeg_binary(self.ffmpeg)
        if self.asr.backend == "openai-whisper" and not installed("whisper"):
            raise MtmmError("the openai-whisper backend is an optional extra: pip install 'mtmm-es[openai-whisper]'")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"acoustic": recorded(self.acoustic)}

    def given_files(self) -> dict[str, str]:
        """The files (or folders) the user gave by path, by option: what `to_dict` names but cannot
        tell apart when their contents change."""
        given = {
            "segments": self.segments,
            "asr.model": self.asr.model,
            "text.vectors": self.text.vectors,
            "visual.model": self.visual.model,
            "diarization.encoder.weights": self.diarization.encoder.weights,
            "ffmpeg": self.ffmpeg and (shutil.which(self.ffmpeg) or self.ffmpeg),  # a name on PATH: its file
        }
        return {option: path for option, path in given.items() if path}

    def speaker_weights(self) -> str | None:
        """The speaker encoder's weights: the user's file, or resemblyzer's when it is installed;
        None when no speaker labels will be made (diarization off, or the encoder missing)."""
        if not self.diarization.enabled:
            return None
        if self.diarization.encoder.weights:
            return self.diarization.encoder.weights
        try:
            return str(bundled_weights())
        except MtmmError:
            return None
