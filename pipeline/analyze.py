"""Video in, labelled utterances out: extraction + a trained checkpoint (the shipped default model
unless another is given). `Pipeline.analyze(path) -> VideoResult`."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from mtmm_es.core.errors import MtmmError
from mtmm_es.extractors.acoustic import AcousticConfig
from mtmm_es.extractors.text import BUNDLED as BUNDLED_VECTORS
from mtmm_es.extractors.visual import VisualConfig

from .config import ExtractionConfig
from .extract import Extraction, FeaturePipeline, own_version

SCHEMA = "mtmm-es/labels"
SCHEMA_VERSION = "1.1"


def default_checkpoint_dir() -> Path:
    """The default model shipped inside the `model` package."""
    return Path(str(resources.files("mtmm_es.model") / "default"))


def schema() -> dict[str, Any]:
    """The JSON Schema of labels files (pipeline/labels.schema.json)."""
    return json.loads((Path(__file__).parent / "labels.schema.json").read_text(encoding="utf-8"))


def extraction_config_for(feature_spec: dict[str, dict], base: ExtractionConfig) -> ExtractionConfig:
    """`base` with the text/acoustic/visual settings a checkpoint was trained with (its feature spec)."""
    settings: dict[str, Any] = {}
    for modality, spec in feature_spec.items():
        config = dict(spec.get("config", {}))
        if modality == "text" and spec.get("extractor") == "glove-mean":
            vectors = None if config.get("vectors") == BUNDLED_VECTORS else base.text.vectors
            settings["text"] = replace(
                base.text, **{k: v for k, v in config.items() if k != "vectors"}, vectors=vectors
            )
        elif modality == "acoustic" and spec.get("extractor") in ("covarep-librosa", "egemaps-opensmile"):
            extractor = "covarep" if spec["extractor"] == "covarep-librosa" else "egemaps"
            known = {k: v for k, v in config.items() if k in AcousticConfig.__dataclass_fields__}
            settings["acoustic"] = AcousticConfig(**{**known, "extractor": extractor})
        elif modality == "visual" and spec.get("extractor") == "mediapipe-face-expression":
            model = None if str(config.get("model", "")).startswith("bundled:") else base.visual.model
            settings["visual"] = VisualConfig(**{**config, "model": model})
        else:
            raise MtmmError(
                f"the checkpoint's {modality} features come from '{spec.get('extractor')}', "
                "which this pipeline cannot compute from media"
            )
    return replace(base, **settings)


@dataclass
class UtteranceResult:
    index: int
    start: float
    end: float
    text: str
    sentiment: dict[str, Any] | None
    emotions: dict[str, Any] | None
    sarcasm: dict[str, Any] | None
    modalities: dict[str, list[str]]
    speaker: str | None = None  # S1, S2, ... (None when diarization is off)
    face: dict[str, Any] | None = None  # {"track", "confidence"} of the face that speaks it, or None


@dataclass
class VideoResult:
    """Labels of one video, its provenance, and what the model attended to."""

    source: dict[str, Any]
    model: dict[str, Any]
    extractors: dict[str, Any]
    utterances: list[UtteranceResult]
    summary: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    attention: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "source": self.source,
            "model": self.model,
            "extractors": self.extractors,
            "utterances": [asdict(u) for u in self.utterances],
            "summary": self.summary,
            "warnings": self.warnings,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def to_dataframe(self):
        """One row per utterance: times, text, sentiment, emotion scores and labels, sarcasm."""
        import pandas as pd

        rows = []
        for u in self.utterances:
            row = {"index": u.index, "start": u.start, "end": u.end, "speaker": u.speaker, "text": u.text}
            if u.sentiment:
                row |= {
                    "sentiment": u.sentiment["label"],
                    "p_positive": u.sentiment["p_positive"],
                    "sentiment_score": u.sentiment["score"],
                }
            if u.emotions:
                row |= {f"p_{k}": v for k, v in u.emotions["scores"].items()}
                row["emotions"] = ";".join(u.emotions["labels"])
            if u.sarcasm:
                row["p_sarcasm"] = u.sarcasm["p"]
            rows.append(row)
        return pd.DataFrame(rows)


def _round(value: float) -> float:
    return round(float(value), 4)


class Pipeline:
    """Extraction + a checkpoint; models load once, so reuse one Pipeline for many files."""

    def __init__(
        self,
        extraction: ExtractionConfig | None = None,
        checkpoint: str | Path | None = None,
        emotion_thresholds: str | None = None,
    ):
        """emotion_thresholds: "f1" or "wacc" validation thresholds for emotion labels (default: the
        checkpoint's choice)."""
        from mtmm_es.model.checkpoint import load_checkpoint

        self.checkpoint_path = Path(checkpoint) if checkpoint else default_checkpoint_dir()
        self.checkpoint = load_checkpoint(self.checkpoint_path)
        if emotion_thresholds:
            self.checkpoint.emotion_label_metric = emotion_thresholds
        self.extraction_config = extraction_config_for(self.checkpoint.feature_spec, extraction or ExtractionConfig())
        self.features = FeaturePipeline(self.extraction_config)

    def analyze_many(self, paths: Sequence[str | Path], workers: int = 1) -> list[VideoResult | MtmmError]:
        """Results in the order of `paths`; a file that fails gives its MtmmError instead of a result.
        workers > 1 analyses in that many processes (each loads the models once)."""
        if workers <= 1 or len(paths) <= 1:
            return [self._analyze_or_error(p) for p in paths]
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_start_worker,
            initargs=(self.extraction_config, str(self.checkpoint_path), self.checkpoint.emotion_label_metric),
        ) as pool:
            return list(pool.map(_worker_analyze, [str(p) for p in paths]))

    def _analyze_or_error(self, path: str | Path) -> VideoResult | MtmmError:
        try:
            return self.analyze(path)
        except MtmmError as error:
            return error

    def analyze(self, path: str | Path) -> VideoResult:
        """Extract, check the features against the checkpoint's spec, predict, label."""
        from mtmm_es.model.data import check_spec

        extraction = self.features.extract(path)
        spec = extraction.spec()
        check_spec(self.checkpoint.feature_spec, spec["modalities"], str(path))
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
        from mtmm_es.model.predictions import emotion_labels, sentiment_score
        from mtmm_es.model.tasks import EMOTION_LABELS

        used_by_model = list(self.checkpoint.feature_spec)
        thresholds = self.checkpoint.label_thresholds or [0.5] * 6
        visual = extraction.features.get("visual")
        utterances = []
        for i, u in enumerate(extraction.utterances):
            available = [m for m, f in extraction.features.items() if f.mask[i]]
            sentiment = emotions = sarcasm = None
            if "sentiment" in predicted:
                p = float(predicted["sentiment"][i])
                sentiment = {
                    "label": "positive" if p >= 0.5 else "negative",
                    "p_positive": _round(p),
                    "score": _round(sentiment_score(predicted, i)),
                }
            if "emotion" in predicted:
                scores = predicted["emotion"][i]
                emotions = {
                    "labels": emotion_labels(scores, thresholds),
                    "scores": {name: _round(scores[k]) for k, name in enumerate(EMOTION_LABELS)},
                }
            if "sarcasm" in predicted:
                sarcasm = {"p": _round(predicted["sarcasm"][i])}
            utterances.append(
                UtteranceResult(
                    u.index,
                    _round(u.start),
                    _round(u.end),
                    u.text,
                    sentiment,
                    emotions,
                    sarcasm,
                    {"available": available, "used": [m for m in used_by_model if m in available]},
                    u.speaker,
                    _face(visual, i),
                )
            )
        return VideoResult(
            source={
                "path": str(extraction.source),
                "sha256": extraction.sha256,
                "duration": _round(extraction.media.duration),
            },
            model=self._model_info(),
            extractors={
                "asr": spec["asr"] and _short(spec["asr"]),
                **{m: _short(s) for m, s in spec["modalities"].items()},
                "segmentation": spec["segmentation"],
                "speakers": spec.get("diarization"),
                "mtmm-es": own_version(),
            },
            utterances=utterances,
            summary=summarise(utterances, extraction.media.duration),
            warnings=list(extraction.warnings),
            attention={k.removeprefix("attention/"): v for k, v in predicted.items() if k.startswith("attention/")},
        )

    def _model_info(self) -> dict[str, Any]:
        training = self.checkpoint.training
        return {
            "checkpoint": str(self.checkpoint_path),
            "recipe": training.get("recipe"),
            "tasks": list(self.checkpoint.config.tasks),
            "modalities": list(self.checkpoint.feature_spec),
            "members": len(self.checkpoint.members),
            "emotion_thresholds": self.checkpoint.emotion_label_metric,
        }


_WORKER: Pipeline | None = None


def _start_worker(extraction: ExtractionConfig, checkpoint: str, emotion_thresholds: str) -> None:
    global _WORKER
    _WORKER = Pipeline(extraction, checkpoint, emotion_thresholds)


def _worker_analyze(path: str) -> VideoResult | MtmmError:
    assert _WORKER is not None
    return _WORKER._analyze_or_error(path)


def _face(visual, row: int) -> dict[str, Any] | None:
    """The track id and choice confidence of the face whose features an utterance got."""
    if visual is None or "face_track" not in visual.extras or not visual.mask[row]:
        return None
    return {"track": int(visual.extras["face_track"][row]), "confidence": _round(visual.extras["face_confidence"][row])}


def _short(spec: dict[str, Any]) -> dict[str, Any]:
    return {"name": spec["extractor"], "version": spec["version"], "libraries": spec.get("libraries", {})}


def summarise(utterances: list[UtteranceResult], duration: float) -> dict[str, Any]:
    """Video-level view: duration-weighted sentiment, mean emotion scores, sarcasm; per speaker the
    same plus talk time (seconds and share of all speech)."""
    summary = _labels_summary(utterances)
    summary = {"utterances": len(utterances), "duration": _round(duration), **summary}
    speakers = sorted({u.speaker for u in utterances if u.speaker}, key=lambda s: int(s[1:]))
    if speakers:
        speech = sum(u.end - u.start for u in utterances) or 1.0
        summary["speakers"] = {}
        for name in speakers:
            mine = [u for u in utterances if u.speaker == name]
            talk = sum(u.end - u.start for u in mine)
            summary["speakers"][name] = {
                "utterances": len(mine),
                "talk_time": _round(talk),
                "talk_share": _round(talk / speech),
                **_labels_summary(mine),
            }
    return summary


def _labels_summary(utterances: list[UtteranceResult]) -> dict[str, Any]:
    """Duration-weighted sentiment, mean emotion scores and sarcasm of some utterances."""
    summary: dict[str, Any] = {}
    if not utterances:
        return summary
    weights = np.array([max(u.end - u.start, 1e-3) for u in utterances])
    if utterances[0].sentiment:
        p = np.average([u.sentiment["p_positive"] for u in utterances], weights=weights)
        score = np.average([u.sentiment["score"] for u in utterances], weights=weights)
        positive = sum(u.sentiment["label"] == "positive" for u in utterances)
        summary["sentiment"] = {
            "label": "positive" if p >= 0.5 else "negative",
            "p_positive": _round(p),
            "score": _round(score),
            "positive_utterances": positive,
        }
    if utterances[0].emotions:
        names = list(utterances[0].emotions["scores"])
        means = {n: _round(np.average([u.emotions["scores"][n] for u in utterances], weights=weights)) for n in names}
        counts = {n: sum(n in u.emotions["labels"] for u in utterances) for n in names}
        summary["emotions"] = {"mean_scores": means, "utterance_counts": counts}
    if utterances[0].sarcasm:
        ps = [u.sarcasm["p"] for u in utterances]
        summary["sarcasm"] = {
            "mean_p": _round(np.mean(ps)),
            "max_p": _round(max(ps)),
            "sarcastic_utterances": sum(p >= 0.5 for p in ps),
        }
    return summary
