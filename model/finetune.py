"""Fine-tuning: a trained checkpoint's members go on learning from new labelled videos (a user's own
domain). Each member starts from its trained weights and is early-stopped on validation, where the
start counts as epoch 0, so no member comes back worse there than it began. Tasks the new labels
leave out learn the start's own predictions as weak labels (seed 2's weak supervision, the start as
teacher), so labelling sentiment alone keeps the emotion head near the start's. A task the checkpoint
reads from some modalities only (`task_modalities`) learns from a copy of each video with the
other modalities masked off, as it is predicted."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from .checkpoint import Checkpoint, only
from .data import Corpus, Video
from .labels import UNCHOSEN_THRESHOLDS
from .tasks import EMOTIONS
from .train import TrainConfig, gather, score_predictions, train, warn_if_few_emotions

_log = logging.getLogger(__name__)

WEAK_WEIGHT = 0.5  # a start's prediction weighs half a gold label (the default recipe's weak_weight)
# what the tuned checkpoint's record keeps of its start's (training.fine_tuned_from)
HISTORY = ("recipe", "corpus", "trained_modalities", "learnt_from", "fine_tuned_from")


def with_start_labels(corpus: Corpus, start: Checkpoint, weight: float = WEAK_WEIGHT) -> Corpus:
    """A copy of `corpus` whose utterances without a gold label of a task carry the start's
    prediction for it, at `weight`."""
    weak = copy.copy(corpus)
    weak.videos = []
    for video, predicted in zip(corpus.videos, start.predict(corpus.videos)):
        video = copy.copy(video)
        video.targets, video.weights = dict(video.targets), dict(video.weights)
        for task in start.config.tasks:
            soft = predicted[task].astype(np.float32)  # [U], or [U, 7] for emotion
            weights = video.weights.get(task, np.zeros(len(video), np.float32))
            gold = weights > 0
            mask = gold.reshape(-1, *([1] * (soft.ndim - 1)))
            video.targets[task] = np.where(mask, video.targets.get(task, soft), soft).astype(np.float32)
            video.weights[task] = np.where(gold, weights, weight).astype(np.float32)
        weak.videos.append(video)
    return weak


def routed(corpus: Corpus, task_modalities: dict[str, list[str]], modalities: Sequence[str]) -> Corpus:
    """`corpus` as the checkpoint predicts it: a task routed through some modalities only has its
    labels on a copy of each video that keeps only those; videos left without labels are dropped."""
    routes: dict[tuple[str, ...], list[str]] = {}
    for task, route in task_modalities.items():
        if not set(modalities) <= set(route):
            routes.setdefault(tuple(route), []).append(task)
    routed_tasks = {t for tasks in routes.values() for t in tasks}
    videos: list[Video] = []
    for video in corpus.videos:
        copies = [(video, [t for t in video.targets if t not in routed_tasks])]
        copies += [(only(video, route), tasks) for route, tasks in routes.items()]
        for source, tasks in copies:
            kept = replace(
                source,
                targets={t: v for t, v in source.targets.items() if t in tasks},
                weights={t: w for t, w in source.weights.items() if t in tasks},
            )
            if any(kept.labelled(t) for t in kept.weights):
                videos.append(kept)
    result = copy.copy(corpus)
    result.videos = videos
    return result


def fine_tune(
    start: Checkpoint,
    start_name: str,
    train_part: Corpus,
    val_part: Corpus,
    config: TrainConfig,
    log: Callable[[str], None] | None = None,
) -> tuple[Checkpoint, dict[str, Any]]:
    """Each of `start`'s members trained further on `train_part` (seeds config.seed, +1, ...),
    early-stopped on `val_part`; returns the new checkpoint and a report with the validation
    metrics before and after (emotion thresholds chosen on `val_part` for both, see `_validated`).
    P(sarcasm) keeps the start's base rates. `start_name` is recorded as where it came from."""
    tasks = start.config.tasks
    routes = {t: m for t, m in start.task_modalities.items() if t in tasks}
    learn = routed(with_start_labels(train_part, start), routes, start.config.modalities)
    watch = routed(val_part, routes, start.config.modalities)
    members, best_epochs = [], []
    for k, member in enumerate(start.members):
        if log:
            log(f"member {k + 1}/{len(start.members)}")
        result = train(learn, watch, replace(config, seed=config.seed + k), log=log, start=member)
        members.append(result.model)
        best_epochs.append(result.best_epoch)
    tuned = Checkpoint(
        members,
        start.feature_spec,
        emotion_label_metric=start.emotion_label_metric,
        task_modalities=start.task_modalities,
        sarcasm_base_rate=dict(start.sarcasm_base_rate),
    )
    before, _, _ = _validated(start.predict(val_part.videos), val_part, tasks, start.thresholds)
    after, tuned.thresholds, unrated = _validated(tuned.predict(val_part.videos), val_part, tasks, start.thresholds)
    if "emotion" in tasks and "emotion" in val_part.tasks():
        warn_if_few_emotions(val_part.videos, val_part.name, unrated)
        if unrated:
            _log.warning(
                "%s: the validation videos show %s in one class only: %s thresholds stay the start's",
                val_part.name,
                ", ".join(unrated),
                "its" if len(unrated) == 1 else "their",
            )
    if not any(best_epochs):
        _log.warning(
            "no epoch beat the start on the validation videos (%s): the weights written are the start's, with "
            "emotion thresholds chosen on those videos (more labelled videos, or a higher --lr, may help)",
            config.monitor,
        )
    report = {
        "validation_before": before,
        "validation": after,
        "validation_videos": len(val_part.videos),
        "best_epochs": best_epochs,
        "weak_weight": WEAK_WEIGHT,
    }
    tuned.training = {
        "fine_tuned_from": {"checkpoint": start_name, **{k: v for k, v in start.training.items() if k in HISTORY}},
        "corpus": train_part.name,
        "data": train_part.provenance,
        "videos": len(train_part.videos),
        "utterances": train_part.n_utterances(),
        "labelled_tasks": list(train_part.tasks()),
        "config": config.to_dict(),
        "report": report,
    }
    return tuned, report


def _validated(
    predictions: list[dict[str, np.ndarray]], val_part: Corpus, tasks: Sequence[str], kept: dict[str, list[float]]
) -> tuple[dict[str, float], dict[str, list[float]], list[str]]:
    """Validation metrics at emotion thresholds chosen on `val_part`, those thresholds, and the
    emotions its gold labels show in one class only (never present, say): those keep their `kept`
    thresholds (0.5 when there are none)."""
    thresholds, unrated = dict(kept), []
    truth, _ = gather(val_part.videos, predictions, "emotion")
    if truth is not None:
        _, chosen = score_predictions(val_part.videos, predictions, ["emotion"])
        present = (truth[:, : len(EMOTIONS)] >= 0.5).sum(0)
        both = (present > 0) & (present < len(truth))
        unrated = [emotion for emotion, rated in zip(EMOTIONS, both) if not rated]
        for key, values in chosen.items():
            old = kept.get(key, UNCHOSEN_THRESHOLDS)
            thresholds[key] = [new if both[k] else old[k] for k, new in enumerate(values)]
    metrics, _ = score_predictions(val_part.videos, predictions, tasks, thresholds)
    return metrics, thresholds, unrated
