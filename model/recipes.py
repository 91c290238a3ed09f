"""Training recipes: a JSON file naming the dataset, the training options and the validation scheme."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mtmm_es.core.errors import MtmmError

from .train import TrainConfig

RECIPES_DIR = Path(__file__).parent / "recipes"


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
        known = {"name", "dataset", "train", "folds", "val_fraction", "description"}
        return Recipe(
            name=data["name"],
            dataset=data["dataset"],
            train=TrainConfig.from_dict(data["train"]),
            folds=None if data.get("folds") is None else int(data["folds"]),
            val_fraction=None if data.get("val_fraction") is None else float(data["val_fraction"]),
            description=data.get("description", ""),
            extra={k: v for k, v in data.items() if k not in known} or None,
        )
    except (KeyError, ValueError, TypeError) as error:
        raise MtmmError(f"invalid recipe: {error}", path) from error
