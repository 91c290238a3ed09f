"""The typed options refuse what the command line refuses, in one line naming the option."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from mtmm_es.core.errors import MtmmError
from mtmm_es.extractors.acoustic import AcousticConfig
from mtmm_es.extractors.asr import AsrConfig
from mtmm_es.extractors.speaker import SpeakerEncoderConfig
from mtmm_es.extractors.vad import VadConfig
from mtmm_es.extractors.visual import VisualConfig
from mtmm_es.pipeline import ExtractionConfig, SegmentationConfig
from mtmm_es.pipeline.diarize import DiarizationConfig


@pytest.mark.parametrize(
    ("options", "values", "message"),
    [
        # regressions from a user test of the Python API: each was accepted
        (AsrConfig, {"max_chunk_s": 0}, "AsrConfig.max_chunk_s must be at least 1, not 0"),  # then argmin of nothing
        (AsrConfig, {"threads": -3}, "AsrConfig.threads must be at least 0"),  # then blamed the model
        (AsrConfig, {"compute_type": "bogus"}, "unknown compute type 'bogus'"),  # only at the first analysis
        (AsrConfig, {"beam_size": "2"}, "AsrConfig.beam_size must be a whole number, not '2'"),  # a TypeError
        (SegmentationConfig, {"pause_s": float("nan")}, "SegmentationConfig.pause_s must be a finite number"),
        (SegmentationConfig, {"pause_s": -1}, "SegmentationConfig.pause_s must be at least 0"),
        (VisualConfig, {"max_side": 0}, "VisualConfig.max_side must be at least 16"),  # "no face found"
        (VisualConfig, {"max_faces": 0}, "VisualConfig.max_faces must be at least 1"),  # blamed the model file
        (VisualConfig, {"fps": float("nan")}, "VisualConfig.fps must be a finite number"),
        (DiarizationConfig, {"speakers": 2.5}, "DiarizationConfig.speakers must be a whole number"),
        (DiarizationConfig, {"speakers": True}, "DiarizationConfig.speakers must be a whole number"),
        (DiarizationConfig, {"max_speakers": 0}, "DiarizationConfig.max_speakers must be at least 1"),
        (AcousticConfig, {"fmin": 500, "fmax": 100}, "the pitch range must run upwards"),
        (ExtractionConfig, {"modalities": "text"}, "modalities must be a list of names"),  # read letter by letter
        (ExtractionConfig, {"modalities": []}, "no modalities"),
        (ExtractionConfig, {"cache": "no"}, "ExtractionConfig.cache must be True or False"),
        (ExtractionConfig, {"asr": {"language": "en"}}, "ExtractionConfig.asr must be of type AsrConfig"),
        (ExtractionConfig, {"audio_stream": 1.5}, "ExtractionConfig.audio_stream must be a whole number"),
        (VadConfig, {"threshold": 2}, "VadConfig.threshold must be at most 1"),
        (SpeakerEncoderConfig, {"batch": 0}, "SpeakerEncoderConfig.batch must be at least 1"),
    ],
)
def test_a_bad_option_value_is_refused_naming_it(options: type, values: dict[str, Any], message: str) -> None:
    with pytest.raises(MtmmError, match=re.escape(message)):
        options(**values)


def test_the_defaults_and_what_the_command_line_allows_pass() -> None:
    """NumPy numbers too (a parameter sweep's), stored as Python's own so the options stay JSON."""
    ExtractionConfig()
    swept = VisualConfig(max_side=np.int64(320), min_detection_confidence=np.float32(0.25), skip_bidir=np.bool_(False))
    assert (swept.max_side, swept.min_detection_confidence, swept.skip_bidir) == (320, 0.25, False)
    assert [type(v) for v in (swept.max_side, swept.min_detection_confidence, swept.skip_bidir)] == [int, float, bool]
    assert DiarizationConfig(speakers=np.int64(2)).speakers == 2
    AsrConfig(min_avg_logprob=-np.inf)  # every segment trusted: what language.py asks for (CI caught it refused)
    ExtractionConfig(
        asr=AsrConfig(threads=0, compute_type="float32"),
        segmentation=SegmentationConfig(pause_s=0, min_duration_s=0),
        visual=VisualConfig(fps=-1),  # <= 0: every frame
        diarization=DiarizationConfig(speakers=1),
        modalities=["text"],
        cache_dir=None,
    )
