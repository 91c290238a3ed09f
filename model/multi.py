"""The default model's recipe: MOSI transcripts, MELD, MUStARD and MUStARD++ through our text
extractor, compared single-task / multi-task / multi-task + weak labels, then the weakly-supervised
student saved as the checkpoint."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from mtmm_es.core.errors import MtmmError
from mtmm_es.extractors.text import GloveTextExtractor, TextConfig

from .checkpoint import Checkpoint
from .corpora.common import add_text_features
from .corpora.meld import load_meld
from .corpora.mosi import load_mosi
from .corpora.mustard import load_mustard, load_mustardpp
from .data import Corpus, split_by_video
from .recipes import Recipe
from .train import train
from .weak import DatasetSplit, evaluate_per_dataset, train_weakly_supervised, union


def text_only(corpus: Corpus, extractor: GloveTextExtractor) -> Corpus:
    """The corpus with our text features as its only modality."""
    for video in corpus.videos:
        video.features, video.masks = {}, {}
    corpus.spec = {}
    return add_text_features(corpus, extractor)


def load_datasets(data_root: Path, extractor: GloveTextExtractor, split_seed: int = 0) -> list[DatasetSplit]:
    """The four text datasets with their validation splits (see each loader for its split)."""
    for folder in ("mosi", "meld", "mustard", "mustardpp"):
        if not (data_root / folder).is_dir():
            raise MtmmError(f"the default recipe needs {folder}/ in the data folder", data_root)
    mosi_train, mosi_val = split_by_video(load_mosi(data_root / "mosi"), 0.2, split_seed)
    pairs = {
        "mosi": (mosi_train, mosi_val),
        "meld": (load_meld(data_root / "meld", "train"), load_meld(data_root / "meld", "dev")),
        "mustard": (load_mustard(data_root / "mustard", "train"), load_mustard(data_root / "mustard", "val")),
        "mustardpp": (load_mustardpp(data_root / "mustardpp", "train"), load_mustardpp(data_root / "mustardpp", "val")),
    }
    return [DatasetSplit(name, text_only(a, extractor), text_only(b, extractor)) for name, (a, b) in pairs.items()]


def weighted(corpus: Corpus, factor: float) -> Corpus:
    """Scale the corpus's label weights (how much its utterances count in the pooled loss)."""
    for video in corpus.videos:
        video.weights = {task: w * factor for task, w in video.weights.items()}
    return corpus


def deduplicated(datasets: list[DatasetSplit]) -> list[DatasetSplit]:
    """MUStARD++ re-annotates 688 of MUStARD's 690 scenes: in the pooled data keep its copy only."""
    by_name = {d.name: d for d in datasets}
    if "mustard" not in by_name or "mustardpp" not in by_name:
        return datasets
    plus = {
        v.id.removeprefix("mustardpp-")
        for part in (by_name["mustardpp"].train, by_name["mustardpp"].val)
        for v in part.videos
    }

    def keep(corpus: Corpus) -> Corpus:
        return corpus.subset([v.id for v in corpus.videos if v.id.removeprefix("mustard-") not in plus])

    mustard = by_name["mustard"]
    return [DatasetSplit(d.name, keep(d.train), keep(d.val)) if d is mustard else d for d in datasets]


def compare_setups(datasets: list[DatasetSplit], config, weak_weight: float, log) -> dict[str, Any]:
    """Validation metrics per dataset: single-dataset STL and MTL, pooled MTL, pooled MTL + weak labels."""
    report: dict[str, Any] = {"stl": {}, "mtl": {}}
    for dataset in datasets:
        report["stl"][dataset.name] = {}
        for task in dataset.tasks():
            model = train(dataset.train, dataset.val, replace(config, tasks=(task,), monitor="loss"), log=log).model
            report["stl"][dataset.name] |= evaluate_per_dataset(model, [dataset])[dataset.name]
        if len(dataset.tasks()) > 1:
            model = train(
                dataset.train, dataset.val, replace(config, tasks=dataset.tasks(), monitor="loss"), log=log
            ).model
            report["mtl"][dataset.name] = evaluate_per_dataset(model, [dataset])[dataset.name]
    pooled = deduplicated(datasets)
    pooled_train = union("union-train", [d.train for d in pooled if d.train.videos])
    pooled_val = union("union-val", [d.val for d in pooled if d.val.videos])
    model = train(pooled_train, pooled_val, replace(config, monitor="loss"), log=log).model
    report["mtl_pooled"] = evaluate_per_dataset(model, datasets)
    return report


def run_default_recipe(
    recipe: Recipe, data_root: str | Path, compare: bool = True, log: Callable[[str], None] | None = None
) -> tuple[Checkpoint, dict[str, Any]]:
    """Train the default model; with `compare`, also the validation comparison of setups."""
    extra = recipe.extra or {}
    extractor = GloveTextExtractor(TextConfig(**extra.get("text", {})))
    weak_weight = float(extra.get("weak_weight", 0.5))
    datasets = load_datasets(Path(data_root), extractor)
    for dataset in datasets:
        factor = float(extra.get("dataset_weights", {}).get(dataset.name, 1.0))
        weighted(dataset.train, factor)
        weighted(dataset.val, factor)
    config = recipe.train
    report: dict[str, Any] = compare_setups(datasets, config, weak_weight, log) if compare else {}
    members = int(extra.get("members", 1))
    checkpoint, weak_report = train_weakly_supervised(deduplicated(datasets), config, weak_weight, members, log=log)
    report["mtl_pooled_weak"] = evaluate_per_dataset(checkpoint, datasets)
    report["weak"] = weak_report
    checkpoint.training = {
        "recipe": recipe.name,
        "datasets": {
            d.name: {
                "train": d.train.provenance,
                "train_utterances": d.train.n_utterances(),
                "val_utterances": d.val.n_utterances(),
                "tasks": list(d.tasks()),
            }
            for d in datasets
        },
        "config": config.to_dict(),
        "trained_modalities": list(config.modalities),
        "report": report,
    }
    checkpoint.emotion_label_metric = extra.get("emotion_label_metric", "f1")
    return checkpoint, report
