"""The label record: one typed, frozen record per utterance and per video, built once by the pipeline
and rendered by every output (JSON, CSV, subtitles, HTML report, DataFrame, `mtmm predict`).

Fields other parts fill later (`speaker`, `face`, `language`) are optional and default to None."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .background import deferred_import

SCHEMA = "mtmm-es/labels"
SCHEMA_VERSION = "1.5"
EMOTION_NAMES = ("anger", "disgust", "fear", "happy", "sad", "surprise", "none")
DECIMALS = 4
BOUNDARY_SCORE = 0.05  # a sentiment score whose sign disagreed with its label sits this far inside the label

# The one CSV layout (analyze-video --format csv, folder runs' combined CSV, to_dataframe, mtmm predict).
CSV_COLUMNS = (
    "file",
    "index",
    "start",
    "end",
    "speaker",
    "text",
    "sentiment",
    "p_positive",
    "sentiment_score",
    *(f"p_{name}" for name in EMOTION_NAMES),
    "emotions",
    "p_sarcasm",
    "source_text",
)


def rounded(value: float) -> float:
    return round(float(value), DECIMALS)


@dataclass(frozen=True)
class Sentiment:
    label: str  # "positive" | "negative"
    p_positive: float
    score: float  # intensity, -3 (very negative) .. 3 (very positive)


@dataclass(frozen=True)
class Emotions:
    labels: tuple[str, ...]  # strongest first; the rules are in model/labels.py
    scores: Mapping[str, float]  # every name of EMOTION_NAMES


@dataclass(frozen=True)
class Sarcasm:
    p: float


@dataclass(frozen=True)
class Face:
    """The face that speaks an utterance: its track id and the choice's confidence (0..1)."""

    track: int
    confidence: float


@dataclass(frozen=True)
class UtteranceResult:
    """One utterance's time span, words and labels; a task is None when the model has no head for it
    (or, once decided upstream, when the utterance has no usable input)."""

    index: int
    start: float | None  # seconds; None for transcripts without times
    end: float | None
    text: str
    sentiment: Sentiment | None = None
    emotions: Emotions | None = None
    sarcasm: Sarcasm | None = None
    available: tuple[str, ...] = ()  # modalities with features for this utterance
    used: tuple[str, ...] = ()  # of those, the ones the model reads
    speaker: str | None = None  # S1, S2, ... (None when diarization is off)
    face: Face | None = None  # the speaking face whose features the utterance got
    source_text: str | None = None  # the original-language words, when `text` is their translation

    @property
    def modalities(self) -> dict[str, list[str]]:
        return {"available": list(self.available), "used": list(self.used)}

    def to_dict(self) -> dict[str, Any]:
        original = {} if self.source_text is None else {"source_text": self.source_text}
        return {
            "index": self.index,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            **original,
            "speaker": self.speaker,
            "sentiment": None if self.sentiment is None else vars(self.sentiment).copy(),
            "emotions": None
            if self.emotions is None
            else {"labels": list(self.emotions.labels), "scores": dict(self.emotions.scores)},
            "sarcasm": None if self.sarcasm is None else {"p": self.sarcasm.p},
            "face": None if self.face is None else vars(self.face).copy(),
            "modalities": self.modalities,
        }

    def row(self, file: str) -> dict[str, Any]:
        """The utterance as one CSV row (CSV_COLUMNS; absent labels are None)."""
        row: dict[str, Any] = dict.fromkeys(CSV_COLUMNS)
        row |= {"file": file, "index": self.index, "start": self.start, "end": self.end}
        row |= {"speaker": self.speaker, "text": self.text, "source_text": self.source_text}
        if self.sentiment:
            row |= {
                "sentiment": self.sentiment.label,
                "p_positive": self.sentiment.p_positive,
                "sentiment_score": self.sentiment.score,
            }
        if self.emotions:
            row |= {f"p_{name}": self.emotions.scores.get(name) for name in EMOTION_NAMES}
            row["emotions"] = ";".join(self.emotions.labels)
        if self.sarcasm:
            row["p_sarcasm"] = self.sarcasm.p
        return row


@dataclass(frozen=True)
class Source:
    path: str  # as given, printable (undecodable bytes escaped)
    sha256: str
    duration: float
    language: str | None = None  # spoken language, when the ASR stage reports it
    language_probability: float | None = None
    audio_stream: int | None = None  # the audio stream labelled (0-based), when the file has several


@dataclass(frozen=True)
class ModelInfo:
    checkpoint: str
    recipe: str | None
    tasks: tuple[str, ...]
    modalities: tuple[str, ...]
    members: int
    emotion_thresholds: str
    sarcasm_base_rate: float | None = None  # the share of sarcastic utterances P(sarcasm) assumes

    def to_dict(self) -> dict[str, Any]:
        return vars(self) | {"tasks": list(self.tasks), "modalities": list(self.modalities)}


@dataclass(frozen=True)
class VideoResult:
    """Labels of one video, its provenance, and what the model attended to."""

    source: Source
    model: ModelInfo
    extractors: Mapping[str, Any]
    utterances: tuple[UtteranceResult, ...]
    warnings: tuple[str, ...] = ()
    attention: Mapping[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)  # arrays: no ==
    summary: Mapping[str, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "summary", summarise(self.utterances, self.source.duration))

    def to_dict(self) -> dict[str, Any]:
        """The labels document (pipeline/labels.schema.json)."""
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "source": {k: v for k, v in vars(self.source).items() if v is not None},
            "model": self.model.to_dict(),
            "extractors": dict(self.extractors),
            "utterances": [u.to_dict() for u in self.utterances],
            "summary": dict(self.summary),
            "warnings": list(self.warnings),
        }

    def rows(self, file: str | None = None) -> list[dict[str, Any]]:
        """One CSV row per utterance; `file` defaults to the source path."""
        return [u.row(self.source.path if file is None else file) for u in self.utterances]

    def to_json(self, indent: int | None = 2) -> str:
        import json

        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def to_dataframe(self):
        """One row per utterance in the CSV layout (CSV_COLUMNS)."""
        with deferred_import():
            import pandas as pd

        return pd.DataFrame(self.rows(), columns=list(CSV_COLUMNS))


def summarise(utterances: tuple[UtteranceResult, ...], duration: float) -> dict[str, Any]:
    """Video-level view over the utterances that carry labels: duration-weighted sentiment, mean
    emotion scores, sarcasm; per speaker the same plus talk time (seconds, and share of the speech
    attributed to a speaker: a window over silence has none)."""
    summary: dict[str, Any] = {"utterances": len(utterances), "duration": rounded(duration)}
    summary |= _labels_summary(utterances)
    speakers = sorted({u.speaker for u in utterances if u.speaker}, key=_speaker_order)
    if speakers:
        speech = sum(_length(u) for u in utterances if u.speaker) or 1.0
        summary["speakers"] = {}
        for name in speakers:
            mine = [u for u in utterances if u.speaker == name]
            talk = sum(_length(u) for u in mine)
            summary["speakers"][name] = {
                "utterances": len(mine),
                "talk_time": rounded(talk),
                "talk_share": rounded(talk / speech),
                **_labels_summary(mine),
            }
    return summary


def _length(utterance: UtteranceResult) -> float:
    if utterance.start is None or utterance.end is None:
        return 0.0
    return max(utterance.end - utterance.start, 0.0)


def _speaker_order(name: str) -> tuple[int, str]:
    """S2 before S10; other names after, alphabetically."""
    digits = name[1:]
    return (int(digits), name) if digits.isdigit() else (1 << 30, name)


def coherent_sentiment(p_positive: float, intensity: float | None) -> tuple[str, float]:
    """(label, score) whose sign agrees: the label from P(positive), the score from the intensity
    (clipped to -3..3; just inside the label's side, +/- BOUNDARY_SCORE, when the two disagree)."""
    label = "positive" if p_positive >= 0.5 else "negative"
    if intensity is None:
        return label, 6.0 * p_positive - 3.0
    score = float(np.clip(intensity, -3.0, 3.0))
    if label == "positive" and score < 0:
        score = BOUNDARY_SCORE
    elif label == "negative" and score >= 0:
        score = -BOUNDARY_SCORE
    return label, score


def _labels_summary(utterances: tuple[UtteranceResult, ...] | list[UtteranceResult]) -> dict[str, Any]:
    """Duration-weighted sentiment, mean emotion scores and sarcasm of some utterances."""
    summary: dict[str, Any] = {}

    def weights(chosen: list[UtteranceResult]) -> np.ndarray:
        return np.array([max(_length(u), 1e-3) for u in chosen])

    with_sentiment = [u for u in utterances if u.sentiment]
    if with_sentiment:
        w = weights(with_sentiment)
        p = rounded(np.average([u.sentiment.p_positive for u in with_sentiment], weights=w))  # decided as shown
        label, score = coherent_sentiment(
            p, rounded(np.average([u.sentiment.score for u in with_sentiment], weights=w))
        )
        summary["sentiment"] = {
            "label": label,
            "p_positive": p,
            "score": rounded(score) + 0.0,
            "positive_utterances": sum(u.sentiment.label == "positive" for u in with_sentiment),
        }
    with_emotions = [u for u in utterances if u.emotions]
    if with_emotions:
        w = weights(with_emotions)
        names = list(with_emotions[0].emotions.scores)
        summary["emotions"] = {
            "mean_scores": {
                n: rounded(np.average([u.emotions.scores[n] for u in with_emotions], weights=w)) for n in names
            },
            "utterance_counts": {n: sum(n in u.emotions.labels for u in with_emotions) for n in names},
        }
    with_sarcasm = [u.sarcasm.p for u in utterances if u.sarcasm]
    if with_sarcasm:
        summary["sarcasm"] = {
            "mean_p": rounded(np.mean(with_sarcasm)),
            "max_p": rounded(max(with_sarcasm)),
            "sarcastic_utterances": sum(p >= 0.5 for p in with_sarcasm),
        }
    return summary
