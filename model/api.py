"""Python API behind `mtmm train | evaluate | predict`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from extractors.errors import MtmmError
from pipeline.files import atomic_write_json

from .checkpoint import load_checkpoint, save_checkpoint
from .corpora import load_corpus
from .data import check_spec
from .fit import fit
from .predictions import corpus_predictions, write_csv
from .recipes import load_recipe
from .train import TrainConfig, score_predictions, with_overrides


def train_and_save(
    out: str | Path,
    data_dir: str | Path,
    recipe: str | None = None,
    dataset: str | None = None,
    seed: int | None = None,
    overrides: dict[str, Any] | None = None,
    folds: int | None = None,
    val_fraction: float | None = None,
    verbose: bool = False,
) -> dict[str, Any]:
    """Train from a recipe (or a dataset with explicit options), write the checkpoint folder and
    its `report.json`; returns the report."""
    if recipe:
        chosen = load_recipe(recipe).with_seed(seed)
        dataset, config = chosen.dataset, chosen.train
        folds = folds or chosen.folds
        val_fraction = val_fraction or chosen.val_fraction
    elif dataset:
        config = TrainConfig() if seed is None else TrainConfig(seed=seed)
    else:
        raise MtmmError("give a recipe or a dataset to train on")
    config = with_overrides(config, **(overrides or {}))
    corpus = load_corpus(dataset, data_dir, "train")
    if not (overrides or {}).get("tasks") and not recipe:
        config = replace(config, tasks=corpus.tasks())
    log = print if verbose else None
    checkpoint, report = fit(corpus, config, folds=folds or 1, val_fraction=val_fraction or 0.2, log=log)
    report.setdefault("validation_kind", "held-out training videos")
    if recipe:
        checkpoint.training["recipe"] = recipe
    save_checkpoint(checkpoint, out)
    atomic_write_json(Path(out) / "report.json", report)
    return report


def _checked(checkpoint_dir: str | Path, dataset: str, data_dir: str | Path, split: str):
    checkpoint = load_checkpoint(checkpoint_dir)
    corpus = load_corpus(dataset, data_dir, split)
    check_spec(checkpoint.feature_spec, corpus.spec, f"{dataset} {split}")
    return checkpoint, corpus


def evaluate_checkpoint(checkpoint_dir: str | Path, dataset: str, data_dir: str | Path, split: str) -> dict[str, float]:
    checkpoint, corpus = _checked(checkpoint_dir, dataset, data_dir, split)
    if not corpus.tasks():
        raise MtmmError(f"the {split} split of {dataset} has no labels here (held out: scored outside the project)")
    predictions = checkpoint.predict(corpus.videos)
    metrics, _ = score_predictions(corpus.videos, predictions, checkpoint.config.tasks, checkpoint.thresholds)
    return metrics


def predict_to_csv(
    checkpoint_dir: str | Path, dataset: str, data_dir: str | Path, split: str, out: str | Path
) -> int:
    checkpoint, corpus = _checked(checkpoint_dir, dataset, data_dir, split)
    rows = corpus_predictions(checkpoint, corpus)
    write_csv(rows, out)
    return len(rows)
