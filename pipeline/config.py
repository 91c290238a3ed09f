"""Configuration of the extraction pipeline: one frozen dataclass per stage, gathered in one."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mtmm_es.core.errors import MtmmError
from mtmm_es.extractors.acoustic import AcousticConfig
from mtmm_es.extractors.asr import AsrConfig
from mtmm_es.extractors.base import MODALITIES
from mtmm_es.extractors.text import TextConfig
from mtmm_es.extractors.visual import VisualConfig

from .diarize import DiarizationConfig
from .segmentation import SegmentationConfig


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
    cache: bool = True
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        unknown = set(self.modalities) - set(MODALITIES)
        if unknown:
            raise MtmmError(f"unknown modalities {sorted(unknown)} (choose from {', '.join(MODALITIES)})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
