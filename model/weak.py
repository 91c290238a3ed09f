"""Weakly-supervised multi-task learning across datasets that each label only some tasks (Dai et al.
2021): a teacher per task learns from the datasets that have the task and labels the others softly;
the multi-task student then learns from the union, gold labels where present, weak labels elsewhere
(weighted by `weak_weight`)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from mtmm_es.core.errors import MtmmError

from .checkpoint import Checkpoint
from .data import Corpus
from .tasks import TASKS
from .train import TrainConfig, predict, score_predictions, train


@dataclass
class DatasetSplit:
    """One dataset's training and validation corpora (same feature spec across datasets)."""

    name: str
    train: Corpus
    val: Corpus

    def tasks(self) -> tuple[str, ...]:
        return self.train.tasks()


def union(name: str, corpora: Sequence[Corpus]) -> Corpus:
    """The corpora's videos together; a modality some corpora lack is masked off in their videos."""
    spec: dict = {}
    for corpus in corpora:
        for modality, modality_spec in corpus.spec.items():
            if modality in spec and spec[modality] != modality_spec:
                raise MtmmError(f"cannot pool '{corpus.name}': its {modality} features differ from the others'")
            spec[modality] = modality_spec
    videos = [v for corpus in corpora for v in corpus.videos]
    return Corpus(name, videos, spec, {"parts": [c.provenance for c in corpora]})


def train_teacher(
    task: str, datasets: Sequence[DatasetSplit], config: TrainConfig, log=None, modalities: Sequence[str] = ()
):
    """A single-task model on every dataset that labels `task` (validation: their validation sets),
    reading `modalities` (default: the config's) where those datasets have them."""
    sources = [d for d in datasets if task in d.tasks()]
    train_part = union(f"teacher-{task}-train", [d.train for d in sources])
    val_part = union(f"teacher-{task}-val", [d.val for d in sources])
    modalities = tuple(m for m in (modalities or config.modalities) if m in train_part.spec)
    if not modalities:
        raise MtmmError(f"the {task} teacher's data has none of the modalities it is to read")
    context_norm = tuple(m for m in config.context_norm if m in modalities)
    teacher = replace(config, tasks=(task,), monitor="loss", modalities=modalities, context_norm=context_norm)
    return train(train_part, val_part, teacher, log=log).model


def with_weak_labels(corpus: Corpus, teacher, task: str, weight: float) -> Corpus:
    """A copy of `corpus` whose videos carry the teacher's soft predictions for `task` at `weight`."""
    weak = copy.copy(corpus)
    weak.videos = []
    for video, predicted in zip(corpus.videos, predict(teacher, corpus.videos)):
        video = copy.copy(video)
        video.targets = {**video.targets, task: predicted[task].astype(np.float32)}
        video.weights = {**video.weights, task: np.full(len(video), weight, np.float32)}
        weak.videos.append(video)
    return weak


def evaluate_per_dataset(model_or_checkpoint, datasets: Sequence[DatasetSplit], thresholds=None) -> dict[str, dict]:
    """Each dataset's validation metrics on its own gold tasks (emotion thresholds chosen per dataset
    on its validation set unless given)."""
    results = {}
    for dataset in datasets:
        videos = dataset.val.videos
        predictions = (
            model_or_checkpoint.predict(videos)
            if isinstance(model_or_checkpoint, Checkpoint)
            else predict(model_or_checkpoint, videos)
        )
        metrics, _ = score_predictions(videos, predictions, dataset.tasks(), thresholds)
        results[dataset.name] = metrics
    return results


def train_weakly_supervised(
    datasets: Sequence[DatasetSplit],
    config: TrainConfig,
    weak_weight: float,
    members: int = 1,
    log: Callable[[str], None] | None = None,
    weak_tasks: Sequence[str] | None = None,
    teacher_modalities: Mapping[str, Sequence[str]] | None = None,
) -> tuple[Checkpoint, dict[str, Any]]:
    """Teachers (for `weak_tasks`, default every task; a task in `teacher_modalities` reads only
    those), weak labels, then `members` multi-task students (seeds config.seed, +1, ...) on the
    union. Returns them as one checkpoint, emotion thresholds chosen on the pooled validation sets."""
    tasks = [t for t in config.tasks if any(t in d.tasks() for d in datasets)]
    weak_tasks = tasks if weak_tasks is None else [t for t in weak_tasks if t in tasks]
    teacher_modalities = teacher_modalities or {}
    unknown = sorted(set(teacher_modalities) - set(TASKS))
    if unknown:
        raise MtmmError(f"teacher_modalities names no task {unknown} (tasks: {', '.join(TASKS)})")
    teachers = {t: train_teacher(t, datasets, config, log, teacher_modalities.get(t, ())) for t in weak_tasks}
    train_parts = []
    filled: dict[str, list[str]] = {}
    for dataset in datasets:
        corpus = dataset.train
        for task in weak_tasks:
            if task not in dataset.tasks():
                corpus = with_weak_labels(corpus, teachers[task], task, weak_weight)
                filled.setdefault(dataset.name, []).append(task)
        train_parts.append(corpus)
    pooled_train = union("weak-union-train", train_parts)
    pooled_val = union("union-val", [d.val for d in datasets if d.val.videos])
    students, best_epochs = [], []
    for k in range(members):
        student_config = replace(config, tasks=tuple(tasks), monitor="loss", seed=config.seed + k)
        result = train(pooled_train, pooled_val, student_config, log=log)
        students.append(result.model)
        best_epochs.append(result.best_epoch)
    checkpoint = Checkpoint(students, pooled_train.spec)
    _, checkpoint.thresholds = score_predictions(pooled_val.videos, checkpoint.predict(pooled_val.videos), tasks)
    report = {"weak_labels": filled, "weak_weight": weak_weight, "members": members, "best_epochs": best_epochs}
    return checkpoint, report
