"""Training recipes: a JSON file naming the dataset, the training options and the validation scheme."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mtmm_es.core.errors import MtmmError

from .train import TrainConfig

RECIPES_DIR = Path(__file__).parent / "recipes"
RECIPE_KEYS = {"name", "dataset", "train", "folds", "val_fraction", "description"}
REQUIRED_KEYS = ("dataset", "train")  # the name defaults to the file's
FEATURE_KEYS = {"text", "acoustic"}  # extraction settings, any recipe
MULTI_KEYS = {  # the multi-dataset recipe's own settings (model/multi.py reads them)
    "datasets",
    "speech_corpora",
    "speech_single_share",
    "speech_neutral_words",
    "speaker_val_fraction",
    "house_targets_alone",
    "dataset_weights",
    "members",
    "weak_weight",
    "weak_tasks",
    "teacher_modalities",
    "task_modalities",
    "distill",
    "sarcasm_base_rate",
    "emotion_thresholds_on",
    "emotion_thresholds_prevalence_weight",
    "emotion_label_metric",
    "compare",
}


@dataclass(frozen=True)
class Recipe:
    name: str
    dataset: str
    train: TrainConfig
    folds: int | None = None  # None: the dataset's own validation split, else 20 % of its videos
    val_fraction: float | None = None
    description: str = ""
    extra: dict[str, Any] | None = None  # recipe-specific settings (e.g. the default model's datasets)

    def with_seed(self, seed: int | None) -> Recipe:
        return self if seed is None else replace(self, train=replace(self.train, seed=seed))


def available_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.json"))


def load_recipe(name_or_path: str) -> Recipe:
    """A recipe shipped in model/recipes by name, or a recipe JSON file."""
    path = Path(name_or_path)
    if not path.is_file():
        path = RECIPES_DIR / f"{name_or_path}.json"
    if not path.is_file():
        raise MtmmError(f"no recipe '{name_or_path}' (shipped: {', '.join(available_recipes())})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise MtmmError("a recipe is a JSON object of settings", path)
        allowed = RECIPE_KEYS | FEATURE_KEYS | (MULTI_KEYS if data.get("dataset") == "multi" else set())
        unknown = sorted(set(data) - allowed)
        if unknown:
            kind = "a multi-dataset recipe" if data.get("dataset") == "multi" else "a one-dataset recipe"
            raise MtmmError(
                f"unknown recipe keys for {kind}: {', '.join(unknown)} (known: {', '.join(sorted(allowed))})", path
            )
        missing = [key for key in REQUIRED_KEYS if key not in data]
        if missing:
            raise MtmmError(f"invalid recipe: missing key{'s' if len(missing) > 1 else ''}: {', '.join(missing)}", path)
        try:
            train = TrainConfig.from_dict(data["train"])
        except MtmmError as error:
            raise MtmmError(f"train: {error.cause}", path) from None
        _check_features(data, path)
        if data["dataset"] == "multi":
            _check_multi(data, train, path)
        return Recipe(
            name=data.get("name", path.stem),
            dataset=data["dataset"],
            train=train,
            folds=None if data.get("folds") is None else int(data["folds"]),
            val_fraction=None if data.get("val_fraction") is None else float(data["val_fraction"]),
            description=data.get("description", ""),
            extra={k: v for k, v in data.items() if k not in RECIPE_KEYS} or None,
        )
    except (KeyError, ValueError, TypeError) as error:
        raise MtmmError(f"invalid recipe: {error}", path) from error


def _check_features(data: dict[str, Any], path: Path) -> None:
    """The recipe's extraction settings (`text`, `acoustic`), built now: a bad one would otherwise
    fail every file of the dataset, one warning each."""
    from mtmm_es.extractors.acoustic import AcousticConfig
    from mtmm_es.extractors.text import TextConfig

    for key, config in (("text", TextConfig), ("acoustic", AcousticConfig)):
        settings = data.get(key, {})
        if not isinstance(settings, dict):
            raise MtmmError(f"{key} is an object of extraction settings, not {settings!r}", path)
        unknown = sorted(set(settings) - set(config.__dataclass_fields__))
        if unknown:
            raise MtmmError(
                f"unknown {key} settings: {', '.join(unknown)} (known: {', '.join(config.__dataclass_fields__)})", path
            )
        try:
            config(**settings)
        except MtmmError as error:
            raise MtmmError(f"{key}: {error.cause}", path) from None
    vectors = data.get("text", {}).get("vectors")
    if vectors is not None and not Path(vectors).expanduser().is_file():
        raise MtmmError(
            f"text: vectors file {vectors!r} not found (a relative path is read from the working folder)", path
        )


def _check_multi(data: dict[str, Any], train: TrainConfig, path: Path) -> None:
    """The multi-dataset settings that would otherwise fail after hours of training."""
    members = data.get("members", 1)
    if not isinstance(members, int) or isinstance(members, bool) or members < 1:
        raise MtmmError(f"members must be a whole number of at least 1, not {members!r}", path)
    weak_weight = data.get("weak_weight", 0.5)
    if not isinstance(weak_weight, (int, float)) or isinstance(weak_weight, bool) or not 0 <= weak_weight < math.inf:
        raise MtmmError(f"weak_weight must be a loss weight of 0 or more, not {weak_weight!r}", path)
    for key in ("speech_single_share", "speech_neutral_words"):
        share = data.get(key, 0.0)
        if not isinstance(share, (int, float)) or isinstance(share, bool) or not 0 <= share <= 1:
            raise MtmmError(f"{key} must be a share of the clips from 0 to 1, not {share!r}", path)
    check_routes(data.get("task_modalities", {}), train, path)


def check_routes(task_modalities: Any, train: TrainConfig, path: Path | None = None) -> None:
    """Refuse a `task_modalities` route through a modality the model does not read (its checkpoint
    would not load)."""
    if not isinstance(task_modalities, dict):
        raise MtmmError("task_modalities must map tasks to lists of modalities", path)
    for task, modalities in task_modalities.items():
        unread = sorted(set(modalities) - set(train.modalities))
        if unread:
            raise MtmmError(
                f"task_modalities routes {task} through {', '.join(unread)}, which the model does not read "
                f"(modalities: {', '.join(train.modalities)})",
                path,
            )
