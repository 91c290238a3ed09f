"""Video in, labelled utterances out: extraction + a trained checkpoint (the shipped default model
unless another is given). `Pipeline.analyze(path) -> VideoResult`."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mtmm_es.core.background import deferred_import, in_background
from mtmm_es.core.errors import MtmmError, printable, quoted
from mtmm_es.core.files import path_state
from mtmm_es.core.labels import Face, ModelInfo, Source, UtteranceResult, VideoResult, rounded
from mtmm_es.core.version import own_version
from mtmm_es.extractors.acoustic import AcousticConfig
from mtmm_es.extractors.base import ModalityFeatures
from mtmm_es.extractors.text import TextConfig
from mtmm_es.extractors.visual import VisualConfig

from .config import ExtractionConfig
from .executor import run_jobs
from .extract import Extraction, FeaturePipeline
from .media import media_path

__all__ = ["AnalyzerSpec", "Pipeline", "UtteranceResult", "VideoResult", "analyzer_for", "default_checkpoint_dir"]

if TYPE_CHECKING:
    from mtmm_es.model.checkpoint import Checkpoint

log = logging.getLogger(__name__)


def default_checkpoint_dir() -> Path:
    """The default model shipped inside the `model` package."""
    return Path(str(resources.files("mtmm_es.model") / "default"))


def schema() -> dict[str, Any]:
    """The JSON Schema of labels files (pipeline/labels.schema.json)."""
    return json.loads((Path(__file__).parent / "labels.schema.json").read_text(encoding="utf-8"))


CONFIGS = {"text": TextConfig, "acoustic": AcousticConfig, "visual": VisualConfig}


def extraction_config_for(
    feature_spec: dict[str, dict], user: ExtractionConfig, checkpoint_dir: Path | None = None
) -> ExtractionConfig:
    """`user` with the text/acoustic/visual settings a checkpoint was trained with (its feature spec).
    Each extractor config rebuilds itself from its spec (`from_spec`); files to read and safety
    switches stay the user's. A refusal names `checkpoint_dir` when given."""
    settings: dict[str, Any] = {}
    for modality, spec in feature_spec.items():
        if modality not in CONFIGS:
            raise MtmmError(
                f"the checkpoint has '{modality}' features, which this pipeline cannot compute from media",
                checkpoint_dir,
            )
        try:
            settings[modality] = CONFIGS[modality].from_spec(spec, getattr(user, modality))
        except MtmmError as error:
            raise MtmmError(error.cause, error.path or checkpoint_dir) from None
        _say_what_is_overridden(modality, getattr(user, modality), settings[modality])
    return replace(user, **settings)


def checked_extraction(meta: dict[str, Any], user: ExtractionConfig, checkpoint_dir: Path) -> ExtractionConfig:
    """The extraction a checkpoint (its checked config.json) needs, from the user's: refused before
    any extraction when the user's modalities leave out features its spec holds."""
    config = extraction_config_for(meta["feature_spec"], user, checkpoint_dir)
    left_out = [m for m in meta["feature_spec"] if m not in config.modalities]
    if left_out:
        raise MtmmError(
            f"the checkpoint needs {', '.join(meta['feature_spec'])} features (its feature spec); "
            f"--modalities leaves out {', '.join(left_out)}",
            checkpoint_dir,
        )
    return config


def _say_what_is_overridden(modality: str, user: Any, chosen: Any) -> None:
    """Warn about each setting the user changed from its default that the checkpoint's own replaces
    (say --acoustic egemaps with a checkpoint trained on other features): it is not silently ignored."""
    default = type(user)()
    for name in default.__dataclass_fields__:
        mine, used = getattr(user, name), getattr(chosen, name)
        if mine != getattr(default, name) and mine != used:
            log.warning(
                "%s setting %s=%r is not used: the checkpoint reads the features it was trained on (%s=%r)",
                modality,
                name,
                mine,
                name,
                used,
            )


def check_label_options(
    checkpoint_dir: Path, emotion_thresholds: str | None, sarcasm_base_rate: float | None
) -> tuple[dict[str, Any], float | None]:
    """The checkpoint's checked config.json and the label options checked against it, before any
    work: the thresholds must be ones it carries, the rate a share strictly between 0 and 1
    (returned as a float). A rate for a checkpoint without a sarcasm head is a warning."""
    from mtmm_es.model.labels import base_rate
    from mtmm_es.model.meta import label_metric, read_meta

    meta = read_meta(checkpoint_dir)
    if emotion_thresholds is not None:
        label_metric(meta.get("thresholds", {}), emotion_thresholds, checkpoint_dir)
    if sarcasm_base_rate is None:
        return meta, None
    if "sarcasm" not in meta["model"].get("tasks", ()):
        log.warning("%s has no sarcasm head: the sarcasm base rate is not used", quoted(checkpoint_dir))
    return meta, base_rate(sarcasm_base_rate)


def load_for_labels(path: Path, emotion_thresholds: str | None, sarcasm_base_rate: float | None) -> Checkpoint:
    """The checkpoint at `path`, labelling as asked (the options checked before the weights load)."""
    check_label_options(path, emotion_thresholds, sarcasm_base_rate)
    return _load_checkpoint(path, emotion_thresholds, sarcasm_base_rate)


def _load_checkpoint(path: Path, emotion_thresholds: str | None, sarcasm_base_rate: float | None) -> Checkpoint:
    with deferred_import():
        from mtmm_es.model.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(path)
    checkpoint.relabel(emotion_thresholds, sarcasm_base_rate)
    return checkpoint


@dataclass(frozen=True)
class AnalyzerSpec:
    """What builds a Pipeline (sent to worker processes, and the key of their cached Pipeline)."""

    extraction: ExtractionConfig
    checkpoint: str | None = None
    emotion_thresholds: str | None = None
    sarcasm_base_rate: float | None = None


class Pipeline:
    """Extraction + a checkpoint; models load once, so reuse one Pipeline for many files."""

    def __init__(
        self,
        extraction: ExtractionConfig | None = None,
        checkpoint: str | Path | None = None,
        emotion_thresholds: str | None = None,
        sarcasm_base_rate: float | None = None,
    ):
        """emotion_thresholds: "f1" or "wacc" validation thresholds for emotion labels (default: the
        checkpoint's choice). sarcasm_base_rate: the share of sarcastic utterances P(sarcasm)
        assumes (default: the checkpoint's; 0.1 for the shipped model). The checkpoint's config.json
        is checked here; its weights (and torch) load in the background while the first file's
        features are extracted."""
        if extraction is not None and not isinstance(extraction, ExtractionConfig):
            raise MtmmError(
                f"Pipeline's first argument is an ExtractionConfig, not {extraction!r} (a model: checkpoint=...)"
            )
        if checkpoint is not None and not str(checkpoint):
            raise MtmmError("checkpoint is an empty path (None: the shipped default model)")
        self.checkpoint_path = Path(checkpoint) if checkpoint else default_checkpoint_dir()
        meta, rate = check_label_options(self.checkpoint_path, emotion_thresholds, sarcasm_base_rate)
        self.spec = AnalyzerSpec(
            extraction or ExtractionConfig(), str(checkpoint) if checkpoint else None, emotion_thresholds, rate
        )
        self.extraction_config = checked_extraction(meta, self.spec.extraction, self.checkpoint_path)
        self._loading = in_background(
            _load_checkpoint, self.checkpoint_path, emotion_thresholds, rate, thread_name="mtmm-checkpoint"
        )
        self.features = FeaturePipeline(self.extraction_config)

    @property
    def checkpoint(self) -> Checkpoint:
        """The loaded checkpoint (waits for the background load; its errors surface here)."""
        return self._loading.result()

    def analyze_many(self, paths: Sequence[str | Path], workers: int = 1) -> list[VideoResult | MtmmError]:
        """Results in the order of `paths`; a file that fails (or whose worker process dies) gives its
        MtmmError instead of a result. workers > 1 analyses in that many fresh interpreter processes
        (each loads the models once); no `if __name__ == "__main__":` guard is needed."""
        if isinstance(paths, str | Path):
            raise MtmmError("analyze_many takes a list of paths (one file: analyze)", paths)
        if workers < 1:
            raise MtmmError(f"workers must be at least 1, not {workers}")
        entries = [self._job(p) for p in paths]  # a job, or the MtmmError of what is not a path
        jobs = [entry for entry in entries if isinstance(entry, AnalyzeJob)]
        in_process = workers == 1 or len(jobs) <= 1
        results = dict(run_jobs(self._analyze_job if in_process else _analyze_job, jobs, workers))
        return [results[entry] if isinstance(entry, AnalyzeJob) else entry for entry in entries]

    def _job(self, path: str | Path) -> AnalyzeJob | MtmmError:
        try:
            return AnalyzeJob(str(media_path(path)), self.spec)
        except MtmmError as error:
            return error

    def _analyze_job(self, job: AnalyzeJob) -> VideoResult:
        return self.analyze(job.input)

    def analyze(self, path: str | Path) -> VideoResult:
        """Extract, check the features against the checkpoint's spec, predict, label."""
        path = media_path(path)
        log.info("%s: extracting features", quoted(path))
        extraction = self.features.extract(path)
        checkpoint = self.checkpoint  # the model's modules (and torch) are imported once it has loaded
        from mtmm_es.model.data import check_spec

        log.info("%s: %d utterances, labelling them", quoted(path), len(extraction.utterances))
        spec = extraction.spec()
        check_spec(checkpoint.feature_spec, spec["modalities"], str(path))
        predicted = self._predict(extraction)
        return self._result(extraction, spec, predicted)

    def _predict(self, extraction: Extraction) -> dict[str, np.ndarray]:
        from mtmm_es.model.data import Video

        if not extraction.utterances:
            return {}
        video = Video(
            id=str(extraction.source),
            utterance_ids=[str(u.index) for u in extraction.utterances],
            features={m: f.values for m, f in extraction.features.items()},
            masks={m: f.mask for m, f in extraction.features.items()},
        )
        return self.checkpoint.predict([video], attention=True)[0]

    def _result(self, extraction: Extraction, spec: dict[str, Any], predicted: dict[str, np.ndarray]) -> VideoResult:
        from mtmm_es.model.labels import label_utterance

        used_by_model = list(self.checkpoint.feature_spec)
        visual = extraction.features.get("visual")
        duration = rounded(extraction.media.duration)
        utterances, warnings = [], []
        for i, u in enumerate(extraction.utterances):
            available = tuple(m for m, f in extraction.features.items() if f.mask[i])
            used = tuple(m for m in used_by_model if m in available)
            labels = (
                label_utterance(
                    predicted,
                    i,
                    self.checkpoint.label_thresholds,
                    used,
                    self.checkpoint.task_modalities,
                    self.checkpoint.sarcasm_rates,
                )
                if predicted
                else None
            )
            if labels and labels.reason:  # with why the words were not read, when they were needed
                needed_words = u.text_issue and "text" in labels.needs
                warnings.append(f"{labels.reason}: {u.text_issue}" if needed_words else labels.reason)
            utterances.append(
                UtteranceResult(
                    u.index,
                    _within(rounded(u.start), duration),
                    _within(rounded(u.end), duration),
                    u.text,
                    *((labels.sentiment, labels.emotions, labels.sarcasm) if labels else (None,) * 3),
                    available=available,
                    used=used,
                    speaker=u.speaker,
                    face=_face(visual, i),
                    source_text=u.source_text,
                )
            )
        return VideoResult(
            source=Source(
                printable(extraction.source),
                extraction.sha256,
                duration,
                *(_language(extraction.language) if extraction.language else (None, None)),
                extraction.media.audio_stream if extraction.media.audio_streams > 1 else None,
            ),
            model=self._model_info(),
            extractors={
                "asr": spec["asr"] and _short(spec["asr"]),
                **{m: _short(s) for m, s in spec["modalities"].items()},
                "segmentation": spec["segmentation"],
                "speakers": spec.get("diarization"),
                "mtmm-es": own_version(),
            },
            utterances=tuple(utterances),
            warnings=(*extraction.warnings, *warnings),
            attention={k.removeprefix("attention/"): v for k, v in predicted.items() if k.startswith("attention/")},
        )

    def _model_info(self) -> ModelInfo:
        return ModelInfo(
            checkpoint=str(self.checkpoint_path),
            recipe=self.checkpoint.training.get("recipe"),
            tasks=tuple(self.checkpoint.config.tasks),
            modalities=tuple(self.checkpoint.feature_spec),
            members=len(self.checkpoint.members),
            emotion_thresholds=self.checkpoint.emotion_label_metric,
            sarcasm_base_rate=self.checkpoint.sarcasm_base_rate.get("reported")
            if "sarcasm" in self.checkpoint.config.tasks
            else None,
        )


@dataclass(frozen=True)
class AnalyzeJob:
    input: str
    spec: AnalyzerSpec


_CACHED: tuple[Any, Pipeline] | None = None


def _files_state(spec: AnalyzerSpec) -> list[Any]:
    """How the files a spec names stand (the checkpoint folder, --segments, models): a Pipeline read
    them when it was built."""
    checkpoint = spec.checkpoint or default_checkpoint_dir()
    given = spec.extraction.given_files().values()
    return [path_state(checkpoint), *map(path_state, given)]


def analyzer_for(spec: AnalyzerSpec) -> Pipeline:
    """This process's Pipeline for `spec`: built once, rebuilt when another spec (another checkpoint,
    other settings) is asked for, or when a file it was built from has changed since (an edited
    --segments file, a retrained checkpoint)."""
    global _CACHED
    key = (spec, _files_state(spec))
    if _CACHED is None or _CACHED[0] != key:
        pipeline = Pipeline(spec.extraction, spec.checkpoint, spec.emotion_thresholds, spec.sarcasm_base_rate)
        _CACHED = (key, pipeline)
    return _CACHED[1]


def _analyze_job(job: AnalyzeJob) -> VideoResult:
    return analyzer_for(job.spec).analyze(job.input)


def _within(time: float, duration: float) -> float:
    """A time of the labels kept inside the media: an audio track that runs a frame past the
    container's end, a --segments window past it (warned about) or rounding never put an utterance
    after `duration` (0: not known, nothing to keep to)."""
    return min(time, duration) if duration > 0 else time


def _language(language: dict[str, Any]) -> tuple[str, float | None]:
    """The source's language and, when identified (not given with --language), its probability."""
    return language["code"], language["probability"] if language["identified"] else None


def _face(visual: ModalityFeatures | None, row: int) -> Face | None:
    """The track id and choice confidence of the face whose features an utterance got."""
    if visual is None or "face_track" not in visual.extras or not visual.mask[row]:
        return None
    return Face(int(visual.extras["face_track"][row]), rounded(visual.extras["face_confidence"][row]))


def _short(spec: dict[str, Any]) -> dict[str, Any]:
    return {"name": spec["extractor"], "version": spec["version"], "libraries": spec.get("libraries", {})}
