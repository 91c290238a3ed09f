"""From a corpus to a checkpoint: a validation split carved by video, or a k-fold ensemble whose
members are each early-stopped on their own held-out fold (out-of-fold predictions give the
validation figures and the emotion thresholds)."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from .checkpoint import Checkpoint
from .data import Corpus, folds_by_video, label_prior, split_by_video
from .train import TrainConfig, predict, score_predictions, train, warn_if_few_emotions


def fit(
    corpus: Corpus,
    config: TrainConfig,
    folds: int = 1,
    val_fraction: float = 0.2,
    split_seed: int = 0,
    log: Callable[[str], None] | None = print,
    validation: Corpus | None = None,
) -> tuple[Checkpoint, dict[str, Any]]:
    """Train on `corpus`; returns the checkpoint and a report with validation metrics. The
    validation data is `validation` when given (a dataset's own split), else carved by video."""
    if folds > 1:
        return _fit_folds(corpus, config, folds, split_seed, log)
    if validation is not None:
        train_part, val_part = corpus, validation
    else:
        train_part, val_part = split_by_video(corpus, val_fraction, split_seed)
    result = train(train_part, val_part, config, log=log)
    if "emotion" in config.tasks:
        warn_if_few_emotions(val_part.videos, val_part.name)
    report = {
        "validation": result.validation,
        "validation_videos": len(val_part.videos),
        "best_epochs": [result.best_epoch],
        "seconds_per_epoch": statistics.mean(h["seconds"] for h in result.history),
    }
    checkpoint = Checkpoint(
        [result.model], _read_spec(corpus, config), result.thresholds, _provenance(corpus, train_part, config, report)
    )
    return _with_sarcasm_rate(checkpoint, train_part), report


def _fit_folds(
    corpus: Corpus, config: TrainConfig, folds: int, split_seed: int, log: Callable[[str], None] | None
) -> tuple[Checkpoint, dict[str, Any]]:
    members, best_epochs, epoch_seconds = [], [], []
    held_out_videos, held_out_predictions = [], []
    for k, fold_ids in enumerate(folds_by_video(corpus, folds, split_seed)):
        val_part = corpus.subset(fold_ids, f"{corpus.name}-fold{k}")
        train_part = corpus.subset([v.id for v in corpus.videos if v.id not in set(fold_ids)])
        if log:
            log(f"fold {k + 1}/{folds}: {len(train_part.videos)} train videos, {len(val_part.videos)} validation")
        result = train(train_part, val_part, config, log=log)
        members.append(result.model)
        best_epochs.append(result.best_epoch)
        epoch_seconds += [h["seconds"] for h in result.history]
        held_out_videos += val_part.videos
        held_out_predictions += predict(result.model, val_part.videos)
    validation, thresholds = score_predictions(held_out_videos, held_out_predictions, config.tasks)
    if "emotion" in config.tasks:
        warn_if_few_emotions(held_out_videos, f"{corpus.name} out of fold")
    report = {
        "validation": validation,
        "validation_videos": len(held_out_videos),
        "validation_kind": f"out-of-fold over {folds} folds",
        "best_epochs": best_epochs,
        "seconds_per_epoch": statistics.mean(epoch_seconds),
    }
    checkpoint = Checkpoint(
        members, _read_spec(corpus, config), thresholds, _provenance(corpus, corpus, config, report)
    )
    return _with_sarcasm_rate(checkpoint, corpus), report


def _with_sarcasm_rate(checkpoint: Checkpoint, trained_on: Corpus) -> Checkpoint:
    """The checkpoint with the share of sarcastic utterances in its training labels, the base rate its
    P(sarcasm) was learnt at (as the multi-dataset recipe records it), so --sarcasm-base-rate shifts
    P from it; none when the labels hold one class only."""
    if "sarcasm" in checkpoint.config.tasks and "sarcasm" in trained_on.tasks():
        trained = round(label_prior([trained_on], "sarcasm"), 4)
        if 0 < trained < 1:
            checkpoint.sarcasm_base_rate = {"trained": trained, "reported": trained}
    return checkpoint


def _read_spec(corpus: Corpus, config: TrainConfig) -> dict[str, Any]:
    """The feature spec of what the model reads: the corpus's, less the modalities left out of
    training (a text model on a corpus with voices must not claim it hears them)."""
    return {m: spec for m, spec in corpus.spec.items() if m in config.modalities}


def _provenance(corpus: Corpus, trained_on: Corpus, config: TrainConfig, report: dict[str, Any]) -> dict[str, Any]:
    """The training record: the corpus, and the videos and utterances trained on (without those
    carved out for validation; with folds, every video trains some member)."""
    return {
        "corpus": corpus.name,
        "data": corpus.provenance,
        "videos": len(trained_on.videos),
        "utterances": trained_on.n_utterances(),
        "config": config.to_dict(),
        "report": report,
    }
