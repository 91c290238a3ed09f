"""Training, evaluation and prediction over corpora: the Python API behind `mtmm train | evaluate | predict`.

The model package reads corpora; media in them go through the pipeline's own extractors (`_extract`)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mtmm_es.core.errors import MtmmError
from mtmm_es.core.files import atomic_write_json
from mtmm_es.extractors.text import EXTRACTOR_NAME as TEXT_EXTRACTOR
from mtmm_es.extractors.text import TextConfig
from mtmm_es.model.checkpoint import Checkpoint, save_checkpoint
from mtmm_es.model.corpora import MEDIA_LOADERS, check_dataset, load_corpus
from mtmm_es.model.corpora.common import add_text_features
from mtmm_es.model.corpora.transcripts import load_transcripts
from mtmm_es.model.data import check_spec
from mtmm_es.model.fit import fit
from mtmm_es.model.labels import UNCHOSEN_THRESHOLDS
from mtmm_es.model.meta import CONFIG, WEIGHTS
from mtmm_es.model.predictions import corpus_predictions
from mtmm_es.model.recipes import check_routes, load_recipe
from mtmm_es.model.tasks import TASKS
from mtmm_es.model.train import (
    TrainConfig,
    check_monitor,
    check_tasks,
    default_monitor,
    distributed_rank,
    measured_metrics,
    score_predictions,
    with_overrides,
)

_log = logging.getLogger(__name__)


# FeaturePipelines by feature spec and the user's text options, built on first use (models load once)
_pipelines: dict[tuple[str, TextConfig | None], Any] = {}


def _extract_for(feature_spec: dict[str, Any] | None, text_options: TextConfig | None = None):
    """FeaturePipeline.extract configured as a checkpoint's features were (its feature spec), or with
    the default configuration (None: training from scratch); the word vectors (and whether a pickle
    may load) are the user's `text_options`."""

    def extract(path, segments):
        key = (json.dumps(feature_spec, sort_keys=True, default=str), text_options)
        if key not in _pipelines:
            from mtmm_es.pipeline.analyze import extraction_config_for
            from mtmm_es.pipeline.config import ExtractionConfig
            from mtmm_es.pipeline.extract import FeaturePipeline

            config = ExtractionConfig(text=text_options or TextConfig())
            _pipelines[key] = FeaturePipeline(extraction_config_for(feature_spec, config) if feature_spec else config)
        return _pipelines[key].extract(path, segments=segments)

    return extract


def _load(
    dataset: str,
    data_dir: str | Path,
    split: str,
    feature_spec: dict[str, Any] | None = None,
    extract=None,
    text: TextConfig | None = None,
    text_options: TextConfig | None = None,
    checkpoint_dir: str | Path | None = None,
    optional: bool = False,
):
    """A dataset's split, its media extracted by `extract` (default: as `feature_spec` says), its
    transcripts' text features as `text` says (default: as `feature_spec` says, with the word vectors
    of the user's `text_options`; a refusal names `checkpoint_dir`, whose spec it is). A split with
    no videos is an error unless `optional`."""
    if text is None and feature_spec and feature_spec.get("text", {}).get("extractor") == TEXT_EXTRACTOR:
        # ours (not MOSI's own features), reading the user's vectors
        try:
            text = TextConfig.from_spec(feature_spec["text"], text_options or TextConfig())
        except MtmmError as error:
            raise MtmmError(error.cause, error.path or checkpoint_dir) from None
    corpus = load_corpus(dataset, data_dir, split, extract or _extract_for(feature_spec, text_options), text)
    if not corpus.videos and not optional:
        raise MtmmError(f"{dataset} has no {split} split here (no rows or files for it)", data_dir)
    return corpus


# datasets that ship their own validation split (the others: carved from train by video)
VALIDATION_SPLITS = {
    "videos": "val",
    "mosei": "valid",
    "mosei-text": "valid",
    "meld": "dev",
    "mustard": "val",
    "mustardpp": "val",
    "house": "val",
}


def _check_checkpoint_folder(out: Path) -> None:
    """A training run's folder: new, empty (hidden files aside: another torchrun process's write check),
    or a checkpoint the run replaces (said before the work)."""
    names = {path.name for path in out.iterdir() if not path.name.startswith(".")} if out.is_dir() else set()
    if names & {CONFIG, WEIGHTS}:
        _log.warning("%s holds a checkpoint: this run replaces it when it ends", out)
    elif names:
        raise MtmmError("the folder holds other files, not a checkpoint: give a new or empty folder", out)


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
) -> dict[str, Any] | None:
    """Train from a recipe (or a dataset with explicit options), write the checkpoint folder and
    its `report.json`; returns the report (None in the torchrun processes that do not write). The
    output folder is checked before any work."""
    from mtmm_es.pipeline.destinations import check_output_folder

    check_output_folder(Path(out))
    _check_checkpoint_folder(Path(out))
    extract, text = None, None
    if recipe:
        chosen = load_recipe(recipe).with_seed(seed)
        if chosen.dataset == "multi":
            if folds or val_fraction:
                raise MtmmError(
                    "--folds and --val-fraction do not apply to a multi-dataset recipe: each of its datasets"
                    " is validated on its own validation split"
                )
            chosen = replace(chosen, train=with_overrides(chosen.train, **(overrides or {})))
            check_tasks(chosen.train.tasks)  # the options as applied, before any work
            check_monitor(chosen.train.monitor, chosen.train.tasks)
            check_routes((chosen.extra or {}).get("task_modalities", {}), chosen.train)
            return _train_multi(chosen, data_dir, out, verbose)
        dataset, config = chosen.dataset, chosen.train
        if not (folds or val_fraction):  # the command line's validation scheme replaces the recipe's
            folds, val_fraction = chosen.folds, chosen.val_fraction
        if {"text", "acoustic"} & set(chosen.extra or {}):  # features as the recipe sets them
            extract = recipe_extract(chosen.extra or {})
            text = TextConfig(**(chosen.extra or {}).get("text", {}))
    elif dataset:
        config = TrainConfig() if seed is None else TrainConfig(seed=seed)
    else:
        raise MtmmError("give a recipe or a dataset to train on")
    config = with_overrides(config, **(overrides or {}))
    # a monitor given (option or recipe) is checked before the data load; else the tasks' own is chosen
    monitor_given = bool((overrides or {}).get("monitor")) or config.monitor != TrainConfig.monitor
    tasks_known = bool(recipe or (overrides or {}).get("tasks"))
    if tasks_known:
        check_tasks(config.tasks)
    if monitor_given:
        check_monitor(config.monitor, config.tasks if tasks_known else tuple(TASKS))
    corpus = _load(dataset, data_dir, "train", extract=extract, text=text)
    if not corpus.tasks():
        raise MtmmError(
            f"{dataset}'s train split has no labelled utterance (own videos: label columns sentiment, emotions, sarcasm)",
            data_dir,
        )
    if not (overrides or {}).get("tasks") and not recipe:
        config = replace(config, tasks=corpus.tasks())
    if not monitor_given:
        config = replace(config, monitor=default_monitor(config.tasks))
    check_monitor(config.monitor, config.tasks)
    if not (overrides or {}).get("modalities"):
        config = replace(config, modalities=tuple(m for m in config.modalities if m in corpus.spec))
    validation = None
    if dataset in VALIDATION_SPLITS and (folds or val_fraction):
        _log.warning(
            "validation is carved from %s's train split (--folds, --val-fraction): rows of its own %s split, "
            "if any, are not used",
            dataset,
            VALIDATION_SPLITS[dataset],
        )
    elif dataset in VALIDATION_SPLITS:
        validation = load_corpus(dataset, data_dir, VALIDATION_SPLITS[dataset], extract or _extract_for(None), text)
        validation = validation if validation.videos else None  # none given: carved from train
    log = _log.info if verbose else None
    checkpoint, report = fit(
        corpus, config, folds=folds or 1, val_fraction=val_fraction or 0.2, log=log, validation=validation
    )
    report.setdefault(
        "validation_kind", f"{dataset} {VALIDATION_SPLITS[dataset]} split" if validation else "held-out training videos"
    )
    if recipe:
        checkpoint.training["recipe"] = recipe
    checkpoint.training["learnt_from"] = _learnt_from(dataset, data_dir, validation is not None)
    return _written(checkpoint, report, out)


def _learnt(training: dict[str, Any]) -> list[dict[str, Any]]:
    """Every `learnt_from` of a checkpoint's training record, through the checkpoints it was
    fine-tuned from (a multi-dataset recipe records none)."""
    found = [training["learnt_from"]] if isinstance(training.get("learnt_from"), dict) else []
    earlier = training.get("fine_tuned_from")
    return found + (_learnt(earlier) if isinstance(earlier, dict) else [])


def _learnt_from(dataset: str, data_dir: str | Path, own_validation: bool) -> dict[str, Any]:
    """What a run trained and validated on, for `mtmm evaluate` to recognise: the dataset, its
    folder, and its splits that were read (the train split, and the dataset's own validation split
    when that validated the run)."""
    splits = ["train", VALIDATION_SPLITS[dataset]] if own_validation else ["train"]
    return {"dataset": dataset, "data_dir": str(Path(data_dir).resolve()), "splits": splits}


FINE_TUNING = {"lr": 1e-4, "epochs": 30, "patience": 5, "monitor": "loss"}  # unless given


def fine_tune_and_save(
    out: str | Path,
    data_dir: str | Path,
    start: str | Path = "default",
    dataset: str = "videos",
    overrides: dict[str, Any] | None = None,
    val_fraction: float | None = None,
    verbose: bool = False,
) -> dict[str, Any] | None:
    """Fine-tune the checkpoint `start` ("default": the shipped model) on a dataset's train split,
    its features extracted as the checkpoint's were; validation is the dataset's own split (for
    `videos`, rows with split=val) or a `val_fraction` (default 0.2) of its videos. Writes the
    checkpoint folder and its `report.json` (validation before and after); returns the report.
    `overrides`: the training options of `mtmm train` (tasks and modalities are the checkpoint's)."""
    from mtmm_es.model.data import split_by_video
    from mtmm_es.model.finetune import fine_tune
    from mtmm_es.pipeline.analyze import default_checkpoint_dir, load_for_labels
    from mtmm_es.pipeline.destinations import check_output_folder

    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    fixed = sorted({"tasks", "modalities"} & set(overrides))
    if fixed:
        raise MtmmError(
            f"fine-tuning keeps the checkpoint's {' and '.join(fixed)}: leave out --{' and --'.join(fixed)}"
        )
    check_output_folder(Path(out))
    _check_checkpoint_folder(Path(out))
    start_dir = default_checkpoint_dir() if str(start) == "default" else Path(start)
    checkpoint = load_for_labels(start_dir, None, None)
    recorded = checkpoint.training.get("config")
    config = TrainConfig.from_dict(recorded) if isinstance(recorded, dict) else TrainConfig()
    config = with_overrides(
        config,
        **{**FINE_TUNING, **overrides, "tasks": checkpoint.config.tasks, "modalities": checkpoint.config.modalities},
    )
    check_monitor(config.monitor, config.tasks)  # before the data load; then against the labels
    corpus = _split_for(checkpoint, start_dir, dataset, data_dir, "train")
    validation, kind = None, "held-out training videos"
    if dataset in VALIDATION_SPLITS and val_fraction:
        _log.warning(
            "validation is carved from %s's train split (--val-fraction): its own %s split, if any, is not used",
            dataset,
            VALIDATION_SPLITS[dataset],
        )
    elif dataset in VALIDATION_SPLITS:
        own = _split_for(checkpoint, start_dir, dataset, data_dir, VALIDATION_SPLITS[dataset], optional=True)
        if own.videos:
            validation, kind = own, f"{dataset} {VALIDATION_SPLITS[dataset]} split"
    if validation is None:
        corpus, validation = split_by_video(corpus, val_fraction or 0.2, config.seed)
    for part, what in ((corpus, "training videos"), (validation, f"validation videos ({kind})")):
        if not set(config.tasks) & set(part.tasks()):
            raise MtmmError(
                f"{dataset}: the {what} label none of the checkpoint's tasks ({', '.join(config.tasks)})", data_dir
            )
    measured = measured_metrics(tuple(t for t in config.tasks if t in validation.tasks()))  # what stopping reads
    if config.monitor not in measured:
        raise MtmmError(
            f"monitor '{config.monitor}' is not measured on the validation videos ({kind}): early-stop on one of "
            f"{', '.join(measured)}"
        )
    name = "default" if str(start) == "default" else str(start_dir.resolve())
    tuned, report = fine_tune(checkpoint, name, corpus, validation, config, log=_log.info if verbose else None)
    report["validation_kind"] = kind
    tuned.training["learnt_from"] = _learnt_from(dataset, data_dir, kind != "held-out training videos")
    return _written(tuned, report, out)


def recipe_extract(extra: dict[str, Any], modalities: Sequence[str] | None = None):
    """FeaturePipeline.extract with the recipe's text and acoustic settings (so media features match
    the recipe's other corpora), built on first use; `modalities`: only those features (a model
    without the face need not track faces), default all."""
    from mtmm_es.extractors.acoustic import AcousticConfig
    from mtmm_es.pipeline.config import MODALITIES, ExtractionConfig
    from mtmm_es.pipeline.extract import FeaturePipeline

    config = ExtractionConfig(
        text=TextConfig(**extra.get("text", {})),
        acoustic=AcousticConfig(**extra.get("acoustic", {})),
        modalities=tuple(m for m in MODALITIES if modalities is None or m in modalities),
    )
    built: list[FeaturePipeline] = []

    def extract(path, segments):
        if not built:
            built.append(FeaturePipeline(config))
        return built[0].extract(path, segments=segments)

    return extract


def _train_multi(recipe, data_dir: str | Path, out: str | Path, verbose: bool) -> dict[str, Any] | None:
    """The weakly-supervised multi-dataset recipe (the default model)."""
    from mtmm_es.model.multi import run_default_recipe

    extract = recipe_extract(recipe.extra or {}, recipe.train.modalities)
    checkpoint, report = run_default_recipe(recipe, data_dir, log=_log.info if verbose else None, extract=extract)
    return _written(checkpoint, report, out)


def _written(checkpoint, report: dict[str, Any], out: str | Path) -> dict[str, Any] | None:
    """The checkpoint folder and its report.json, written by one process (under torchrun, rank 0:
    the others get None); returns the report."""
    if distributed_rank()[0] != 0:
        return None
    save_checkpoint(checkpoint, out)
    atomic_write_json(Path(out) / "report.json", report)
    return report


def _checked(
    checkpoint_dir: str | Path,
    dataset: str,
    data_dir: str | Path,
    split: str,
    emotion_thresholds: str | None = None,
    sarcasm_base_rate: float | None = None,
    text_options: TextConfig | None = None,
):
    """The checkpoint, labelling as asked (options checked before the data load), and the split
    with the checkpoint's features (its word vectors are the user's `text_options`)."""
    from mtmm_es.pipeline.analyze import load_for_labels

    checkpoint = load_for_labels(Path(checkpoint_dir), emotion_thresholds, sarcasm_base_rate)
    return checkpoint, _split_for(checkpoint, checkpoint_dir, dataset, data_dir, split, text_options)


def _split_for(
    checkpoint: Checkpoint,
    checkpoint_dir: str | Path,
    dataset: str,
    data_dir: str | Path,
    split: str,
    text_options: TextConfig | None = None,
    optional: bool = False,
):
    """A dataset's split with `checkpoint`'s features, checked against its feature spec (a
    transcript dataset's other inputs are absent, with a warning); an empty split is an error
    unless `optional`."""
    corpus = _load(
        dataset,
        data_dir,
        split,
        checkpoint.feature_spec,
        text_options=text_options,
        checkpoint_dir=checkpoint_dir,
        optional=optional,
    )
    if not corpus.videos:
        return corpus
    expected = checkpoint.feature_spec
    if set(corpus.spec) == {"text"} and dataset not in MEDIA_LOADERS and "text" in expected:
        absent = sorted(set(expected) - {"text"})
        if absent:  # transcripts: as for predict --transcripts, the other inputs are absent
            _log.warning("%s %s has text only: the checkpoint's %s input is absent", dataset, split, ", ".join(absent))
        expected = {"text": expected["text"]}
    check_spec(expected, corpus.spec, f"{dataset} {split}")
    return corpus


def split_to_score(dataset: str, split: str | None) -> str:
    """The split `mtmm evaluate` scores: the one named, else the dataset's validation split."""
    chosen = split or VALIDATION_SPLITS.get(check_dataset(dataset))
    if chosen is None:
        raise MtmmError(f"{dataset} has no validation split: name the split to score with --split")
    return chosen


def evaluate_checkpoint(
    checkpoint_dir: str | Path,
    dataset: str,
    data_dir: str | Path,
    split: str,
    text_options: TextConfig | None = None,
) -> dict[str, float]:
    """The checkpoint's metrics on a labelled split; `text_options`: the word vectors it was trained
    on (--text-vectors; default the bundled GloVe) and whether a pickled vectors file may load."""
    checkpoint, corpus = _checked(checkpoint_dir, dataset, data_dir, split, text_options=text_options)
    if not corpus.tasks():
        raise MtmmError(f"the {split} split of {dataset} has no labels here (held out: scored outside the project)")
    if any(
        (read.get("dataset"), read.get("data_dir")) == (dataset, str(Path(data_dir).resolve()))
        and split in read.get("splits", [])
        for read in _learnt(checkpoint.training)
    ):
        _log.warning(
            "%s %s %s's %s split here: these figures flatter it; score videos it never saw",
            checkpoint_dir,
            "trained on"
            if split == "train"
            else f"chose its epochs{' and emotion thresholds' if 'emotion' in checkpoint.config.tasks else ''} on",
            dataset,
            split,
        )
    thresholds = checkpoint.thresholds
    if "emotion" in checkpoint.config.tasks and "emotion" in corpus.tasks() and "emotion_f1" not in thresholds:
        _log.warning(
            "%s has no emotion thresholds (its validation data had no emotion labels): its labels use %s, "
            "and its emotions are scored at those, not at thresholds chosen on the split scored",
            checkpoint_dir,
            UNCHOSEN_THRESHOLDS[0],
        )
        thresholds = {**thresholds, "emotion_f1": list(UNCHOSEN_THRESHOLDS), "emotion_wacc": list(UNCHOSEN_THRESHOLDS)}
    predictions = checkpoint.predict(corpus.videos)
    metrics, _ = score_predictions(corpus.videos, predictions, checkpoint.config.tasks, thresholds)
    return metrics


def _check_rows_output(out: str | Path, inputs: list[str | Path]) -> None:
    from mtmm_es.pipeline.destinations import STDOUT, check_file_output, written_through

    if str(out).endswith(("/", os.sep)):
        raise MtmmError("names a folder (it ends with /); the rows go to a CSV file: give a file name", out)
    if str(out) != STDOUT:
        check_file_output(written_through(Path(out)), inputs)


def _write_rows(rows: list[dict[str, Any]], out: str | Path) -> None:
    """The rows as CSV into `out`, written atomically, or to stdout for "-"."""
    from mtmm_es.core.files import atomic_write_text, write_stdout
    from mtmm_es.pipeline.destinations import STDOUT, written_through
    from mtmm_es.pipeline.formats import csv_text

    if str(out) == STDOUT:
        write_stdout(csv_text(rows))
    else:
        atomic_write_text(written_through(Path(out)), csv_text(rows))


def predict_transcripts(
    transcripts: str | Path,
    out: str | Path,
    checkpoint_dir: str | Path | None = None,
    emotion_thresholds: str | None = None,
    sarcasm_base_rate: float | None = None,
    text_options: TextConfig | None = None,
) -> int:
    """Transcripts (video_id, segment_id, text) through our text extractor, configured as the
    checkpoint was trained, and the model with per-video context -> CSV in the one label layout
    (file = video_id, index = segment_id); a checkpoint that also uses acoustic or visual features
    sees them as absent. emotion_thresholds and sarcasm_base_rate as for `Pipeline`; text_options:
    the word vectors the checkpoint was trained on (as for `evaluate_checkpoint`)."""
    from mtmm_es.extractors.text import GloveTextExtractor
    from mtmm_es.pipeline.analyze import default_checkpoint_dir, extraction_config_for, load_for_labels
    from mtmm_es.pipeline.config import ExtractionConfig

    _check_rows_output(out, [transcripts])
    checkpoint_dir = Path(checkpoint_dir or default_checkpoint_dir())
    checkpoint = load_for_labels(checkpoint_dir, emotion_thresholds, sarcasm_base_rate)
    if "text" not in checkpoint.feature_spec:
        raise MtmmError("transcripts carry text only; this checkpoint does not use text", checkpoint_dir)
    text_config = extraction_config_for(
        checkpoint.feature_spec, ExtractionConfig(text=text_options or TextConfig()), checkpoint_dir
    ).text
    corpus = add_text_features(load_transcripts(transcripts), GloveTextExtractor(text_config))
    check_spec({"text": checkpoint.feature_spec["text"]}, corpus.spec, str(transcripts))
    rows = corpus_predictions(checkpoint, corpus)
    _write_rows(rows, out)
    return len(rows)


def predict_to_csv(
    checkpoint_dir: str | Path,
    dataset: str,
    data_dir: str | Path,
    split: str,
    out: str | Path,
    emotion_thresholds: str | None = None,
    sarcasm_base_rate: float | None = None,
    text_options: TextConfig | None = None,
) -> int:
    _check_rows_output(out, [])
    checkpoint, corpus = _checked(
        checkpoint_dir, dataset, data_dir, split, emotion_thresholds, sarcasm_base_rate, text_options
    )
    rows = corpus_predictions(checkpoint, corpus)
    _write_rows(rows, out)
    return len(rows)
