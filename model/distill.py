"""Cross-modal distillation (seed 2's weak supervision across modalities): a text + acoustic teacher
checkpoint labels every face clip softly with emotion and sentiment, and the student learns those
labels from the face alone, on copies of the videos whose other modalities are masked off."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mtmm_es.core.errors import MtmmError

from .checkpoint import Checkpoint, load_checkpoint, only
from .data import Corpus, check_spec

MODEL_DIR = Path(__file__).parent
FACE_SUFFIX = "#face"


@dataclass(frozen=True)
class DistillConfig:
    """teacher: a checkpoint folder (a bare name: model/<name>, e.g. "default"); tasks it labels;
    weight of those soft labels; modality: the student's only input on the copies."""

    teacher: str = "default"
    tasks: tuple[str, ...] = ("emotion", "sentiment")
    weight: float = 0.5
    modality: str = "visual"

    def __post_init__(self) -> None:
        unknown = set(self.tasks) - {"emotion", "sentiment", "intensity", "sarcasm"}
        if unknown:
            raise MtmmError(f"distillation knows no task {sorted(unknown)}")
        if not 0 < self.weight <= 1:
            raise MtmmError(f"distillation weight must be in (0, 1], not {self.weight}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DistillConfig:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise MtmmError(f"unknown distillation options: {', '.join(sorted(unknown))}")
        return cls(**{**data, **({"tasks": tuple(data["tasks"])} if "tasks" in data else {})})

    def teacher_dir(self) -> Path:
        path = Path(self.teacher)
        return path if path.is_dir() or len(path.parts) > 1 else MODEL_DIR / self.teacher


def load_teacher(config: DistillConfig, spec: dict[str, dict[str, Any]]) -> Checkpoint:
    """The teacher checkpoint; its features must be the corpus's (same extractors and settings)."""
    teacher = load_checkpoint(config.teacher_dir())
    check_spec(teacher.feature_spec, spec, f"distillation teacher {config.teacher_dir()}")
    missing = [t for t in config.tasks if t not in teacher.config.tasks]
    if missing:
        raise MtmmError(f"the teacher predicts no {', '.join(missing)}", config.teacher_dir())
    return teacher


def teacher_predictions(corpus: Corpus, teacher: Checkpoint, config: DistillConfig) -> list[dict[str, np.ndarray]]:
    """The teacher's predictions from every modality but the distilled one (a teacher that has it too,
    e.g. a previous tri-modal default, still teaches from the others only)."""
    others = [m for m in teacher.config.modalities if m != config.modality]
    return teacher.predict([only(video, others) for video in corpus.videos])


def teacher_labelled(corpus: Corpus, teacher: Checkpoint, config: DistillConfig) -> Corpus:
    """A copy of `corpus` whose videos also carry the teacher's soft labels for `config.tasks` (those
    the videos lack) at `config.weight` (seed 2's weak labels), so the student meets every modality
    together with those tasks."""
    labelled = copy.copy(corpus)
    labelled.videos = []
    for video, predicted in zip(corpus.videos, teacher_predictions(corpus, teacher, config)):
        video = copy.copy(video)
        missing = [t for t in config.tasks if not video.labelled(t)]
        video.targets = {**video.targets, **{t: predicted[t].astype(np.float32) for t in missing}}
        video.weights = {**video.weights, **{t: np.full(len(video), config.weight, np.float32) for t in missing}}
        labelled.videos.append(video)
    return labelled


def face_copies(corpus: Corpus, teacher: Checkpoint, config: DistillConfig) -> Corpus:
    """Copies of `corpus`'s videos with only `config.modality` present and the teacher's soft labels
    (from the teacher's own modalities) for `config.tasks` at `config.weight` where that modality is
    present; the copies carry no other labels. Video ids get FACE_SUFFIX."""
    videos = []
    for video, predicted in zip(corpus.videos, teacher_predictions(corpus, teacher, config)):
        if config.modality not in video.masks or not video.masks[config.modality].any():
            continue
        present = video.masks[config.modality].astype(np.float32)
        face = copy.copy(video)
        face.id = f"{video.id}{FACE_SUFFIX}"
        face.masks = {m: (mask if m == config.modality else np.zeros_like(mask)) for m, mask in video.masks.items()}
        face.targets = {t: predicted[t].astype(np.float32) for t in config.tasks}
        face.weights = {t: present * config.weight for t in config.tasks}
        videos.append(face)
    provenance = {**corpus.provenance, "distilled_from": str(config.teacher_dir()), "tasks": list(config.tasks)}
    return Corpus(f"{corpus.name}-face", videos, corpus.spec, provenance)


def agreement(
    student_predictions: Sequence[dict[str, np.ndarray]], copies: Corpus, tasks: Sequence[str]
) -> dict[str, float]:
    """How far the student (run on the face copies) agrees with the teacher's soft labels they carry:
    sentiment sign agreement, emotion top-1 agreement over the six emotions + none, Pearson r, and
    the agreement of always answering the teacher's most frequent label (`*_majority`)."""
    report: dict[str, float] = {}
    for task in tasks:
        truth, pred = [], []
        for video, predicted in zip(copies.videos, student_predictions):
            keep = video.weights.get(task, np.zeros(len(video))) > 0
            truth.append(video.targets[task].reshape(len(video), -1)[keep])
            pred.append(predicted[task].reshape(len(video), -1)[keep])
        if not truth or not sum(len(t) for t in truth):
            continue
        t, p = np.concatenate(truth), np.concatenate(pred)
        if task == "emotion":
            report["emotion_top1_agreement"] = float((t.argmax(1) == p.argmax(1)).mean())
            report["emotion_top1_majority"] = float(np.bincount(t.argmax(1)).max() / len(t))
            report["emotion_pearson"] = float(np.corrcoef(t.ravel(), p.ravel())[0, 1])
        elif task == "sentiment":
            report["sentiment_agreement"] = float(((t[:, 0] >= 0.5) == (p[:, 0] >= 0.5)).mean())
            report["sentiment_majority"] = float(max((t[:, 0] >= 0.5).mean(), (t[:, 0] < 0.5).mean()))
            report["sentiment_pearson"] = float(np.corrcoef(t[:, 0], p[:, 0])[0, 1])
        report[f"{task}_utterances"] = int(len(t))
    return report
