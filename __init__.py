"""MTMM-ES: label every utterance of a talking video with sentiment, emotions and sarcasm.

    import mtmm_es
    result = mtmm_es.Pipeline().analyze("talk.mp4")
    print(result.to_json())

The names below are the public API; they load lazily so `import mtmm_es` stays fast.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from mtmm_es.core.version import own_version

# CTranslate2 (speech recognition) and torch (speaker encoder, model) each bring their own OpenMP
# runtime; with the default busy-waiting, each one's idle threads spin on the cores the other needs
# (a 5 s clip took 7.3 s of CPU instead of 6.4, and 20 s instead of 2 in diarization when the
# language was given). Read when the runtimes load, so it is set before them; a user's value wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = own_version()

_EXPORTS = {
    "MtmmError": "mtmm_es.core.errors",
    "ExtractionConfig": "mtmm_es.pipeline.config",
    "FeaturePipeline": "mtmm_es.pipeline.extract",
    "Pipeline": "mtmm_es.pipeline.analyze",
    "VideoResult": "mtmm_es.pipeline.analyze",
    "run_batch": "mtmm_es.pipeline.batch",
}

__all__ = [  # noqa: F822 (resolved by __getattr__)
    "ExtractionConfig",
    "FeaturePipeline",
    "MtmmError",
    "Pipeline",
    "VideoResult",
    "__version__",
    "run_batch",
]

if TYPE_CHECKING:
    from mtmm_es.core.errors import MtmmError
    from mtmm_es.pipeline.analyze import Pipeline, VideoResult
    from mtmm_es.pipeline.batch import run_batch
    from mtmm_es.pipeline.config import ExtractionConfig
    from mtmm_es.pipeline.extract import FeaturePipeline


def __dir__() -> list[str]:
    return sorted(__all__)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'mtmm_es' has no attribute {name!r}")
