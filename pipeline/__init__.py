"""Media in, aligned per-utterance features out: the extraction half of MTMM-ES."""

from .config import ExtractionConfig
from .extract import Extraction, FeaturePipeline
from .outputs import FeatureSet, read_feature_set, write_extraction
from .segmentation import Segment, SegmentationConfig, read_segments, segment_words

__all__ = [
    "Extraction",
    "ExtractionConfig",
    "FeaturePipeline",
    "FeatureSet",
    "Segment",
    "SegmentationConfig",
    "read_feature_set",
    "read_segments",
    "segment_words",
    "write_extraction",
]
