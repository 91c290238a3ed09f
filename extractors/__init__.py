"""One module per modality (asr, text, acoustic, visual) behind the interface in `base`."""

from .base import (
    MODALITIES,
    ExtractorInfo,
    FeatureExtractor,
    MediaInfo,
    ModalityFeatures,
    Transcriber,
    Utterance,
    Word,
)
from .errors import MtmmError

__all__ = [
    "MODALITIES",
    "ExtractorInfo",
    "FeatureExtractor",
    "MediaInfo",
    "ModalityFeatures",
    "MtmmError",
    "Transcriber",
    "Utterance",
    "Word",
]
