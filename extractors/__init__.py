"""One module per modality (asr, text, acoustic, visual) behind the interface in `base`."""

from mtmm_es.core.errors import MtmmError

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
