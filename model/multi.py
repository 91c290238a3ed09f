"""The default model's recipe (v2): CMU-MOSEI transcripts (sentiment, intensity, emotion; text), the
acted speech corpora (emotion, weak sentiment; acoustic + the known sentence) and MUStARD/MUStARD++
(sarcasm, emotion, sentiment; text), pooled with weak labels for the tasks a dataset lacks (Dai et
al. 2021), then the students saved as one checkpoint."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from mtmm_es.core.errors import MtmmError
from mtmm_es.extractors.acoustic import AcousticConfig, make_acoustic_extractor
from mtmm_es.extractors.text import GloveTextExtractor, TextConfig

from .checkpoint import Checkpoint
from .corpora.common import ExtractFunction, add_text_features
from .corpora.house import load_house, targets_alone
from .corpora.mosei_text import load_mosei_text
from .corpora.mustard import load_mustard, load_mustardpp
from .corpora.speech import CORPORA as SPEECH_CORPORA
from .corpora.speech import load_speech, one_clip_videos, speaker_of
from .data import Corpus, label_prior
from .distill import DistillConfig, face_copies, load_teacher, teacher_labelled
from .labels import base_rate
from .metrics import METRICS, choose_thresholds, emotion_uar
from .recipes import Recipe
from .tasks import EMOTION_LABELS, EMOTIONS
from .train import gather, predict, train
from .weak import DatasetSplit, evaluate_per_dataset, train_weakly_supervised, union

DEFAULT_DATASETS = ("mosei", "speech", "mustardpp", "mustard")
FOLDERS = {
    "mosei": "mosei",
    "speech": "speech",
    "mustardpp": "mustardpp",
    "mustard": "mustard",
    "house": "sarcasm_video",
}


def corpus_cache() -> Path:
    """Where extracted corpus features are cached: $MTMM_CORPUS_CACHE, else ~/.cache/mtmm-es/corpora."""
    return Path(os.environ.get("MTMM_CORPUS_CACHE", Path.home() / ".cache" / "mtmm-es" / "corpora"))


def text_only(corpus: Corpus, extractor: GloveTextExtractor) -> Corpus:
    """The corpus with our text features as its only modality."""
    for video in corpus.videos:
        video.features, video.masks = {}, {}
    corpus.spec = {}
    return add_text_features(corpus, extractor)


def split_speakers(corpus: Corpus, fraction: float, seed: int) -> tuple[Corpus, Corpus]:
    """Train/validation by speaker: a seeded `fraction` of the speakers validates (none when < 3)."""
    speakers = sorted({speaker_of(v) for v in corpus.videos})
    if len(speakers) < 3:
        return corpus, corpus.subset([], f"{corpus.name}-val")
    np.random.default_rng(seed).shuffle(speakers)
    held = set(speakers[: max(1, round(fraction * len(speakers)))])
    train_ids = [v.id for v in corpus.videos if speaker_of(v) not in held]
    val_ids = [v.id for v in corpus.videos if speaker_of(v) in held]
    return corpus.subset(train_ids, f"{corpus.name}-train"), corpus.subset(val_ids, f"{corpus.name}-val")


def neutral_sentences(data_root: Path) -> list[str]:
    """The CMU-MOSEI training utterances in which no rater saw an emotion: words that carry none."""
    corpus = load_mosei_text(data_root, "train")
    none = EMOTION_LABELS.index("none")
    return [
        text
        for video in corpus.videos
        for text, target in zip(video.texts or [], video.targets["emotion"])
        if target[none] == 1 and text.strip()
    ]


def with_neutral_words(
    corpus: Corpus, sentences: Sequence[str], share: float, text: GloveTextExtractor, seed: int
) -> Corpus:
    """A seeded `share` of the clips read a random one of `sentences` instead of their own: the
    acted corpora say a few sentences over and over, so a model learns to trust the voice for those
    sentences only, and follows the words once ASR mishears one or a speaker says anything else.
    A clip keeps its emotion (the voice's, whatever neutral words it reads); its weak sentiment
    label, which came from that emotion and trains the text-only sentiment head, is dropped."""
    if share <= 0:
        return corpus
    values, mask = text.embed(sentences)
    usable = np.flatnonzero(mask)
    if not usable.size:
        return corpus
    rng = np.random.default_rng(seed)
    for video in corpus.videos:
        rows = np.flatnonzero(rng.random(len(video)) < share)
        if not rows.size:
            continue
        picks = usable[rng.integers(usable.size, size=rows.size)]
        video.features["text"], video.masks["text"] = video.features["text"].copy(), video.masks["text"].copy()
        video.features["text"][rows], video.masks["text"][rows] = values[picks], True
        video.texts = list(video.texts or [""] * len(video))
        for row, pick in zip(rows, picks):
            video.texts[row] = sentences[pick]
        video.weights["sentiment"] = video.weights["sentiment"].copy()
        video.weights["sentiment"][rows] = 0.0
    return corpus


def load_speech_split(data_root: Path, extra: dict[str, Any], text: GloveTextExtractor, seed: int) -> DatasetSplit:
    """The speech corpora pooled (extra["speech_corpora"], default all three: a commercial user can
    keep to CREMA-D's ODbL, a cross-corpus check can leave one out), validated on held-out speakers
    (TESS's two train only). The training speakers' clips include a share
    (extra["speech_single_share"]) of one-clip videos, and a share (extra["speech_neutral_words"])
    read neutral MOSEI sentences instead of their own (`with_neutral_words`); the validation
    speakers' are always in pseudo-videos of mean 30 clips with their own sentences (comparable
    across recipes)."""
    acoustic = make_acoustic_extractor(AcousticConfig(**extra.get("acoustic", {})))
    fraction = float(extra.get("speaker_val_fraction", 0.2))
    share = float(extra.get("speech_single_share", 0.0))
    swap = float(extra.get("speech_neutral_words", 0.0))
    names = tuple(extra.get("speech_corpora", SPEECH_CORPORA))
    unknown = sorted(set(names) - set(SPEECH_CORPORA))
    if unknown or not names:
        raise MtmmError(f"speech_corpora must name some of {', '.join(SPEECH_CORPORA)} (got {list(names)})")
    trains, vals = [], []
    for name in names:
        corpus = load_speech(data_root, name, acoustic, text, corpus_cache(), seed=seed, single_share=share)
        trains.append(split_speakers(corpus, fraction, seed)[0])
        plain = corpus if share == 0 else load_speech(data_root, name, acoustic, text, corpus_cache(), seed=seed)
        vals.append(split_speakers(plain, fraction, seed)[1])
    train_part = union("speech-train", trains)
    if swap > 0:
        train_part = with_neutral_words(train_part, neutral_sentences(data_root), swap, text, seed)
    return DatasetSplit("speech", train_part, union("speech-val", vals))


def restricted(corpus: Corpus, modalities: tuple[str, ...]) -> Corpus:
    """The corpus with only `modalities` (so a checkpoint's feature spec names what its model uses)."""
    for video in corpus.videos:
        video.features = {m: f for m, f in video.features.items() if m in modalities}
        video.masks = {m: k for m, k in video.masks.items() if m in modalities}
    corpus.spec = {m: s for m, s in corpus.spec.items() if m in modalities}
    return corpus


def load_house_split(
    data_root: Path,
    extra: dict[str, Any],
    text: GloveTextExtractor,
    extract: ExtractFunction | None,
    modalities: tuple[str, ...] = ("text", "acoustic", "visual"),
) -> DatasetSplit:
    """The House scenes (sarcasm; text, acoustic and visual through `extract`), validated on held-out
    scenes; with extra["house_targets_alone"], each training scene's target line also comes alone,
    as the product analyses a clip; with extra["distill"], the training scenes carry a teacher
    checkpoint's soft emotion and sentiment labels, and so do their face-only copies (cross-modal
    distillation, model/distill.py)."""
    if extract is None:
        raise MtmmError("the house dataset holds media: train it through the pipeline (mtmm train)")
    train_part, val_part = (load_house(data_root / FOLDERS["house"], split, extract) for split in ("train", "val"))
    train_part, val_part = add_text_features(train_part, text), add_text_features(val_part, text)
    parts = [targets_alone(train_part)] if extra.get("house_targets_alone") else []  # sarcasm labels only
    if "distill" in extra and DistillConfig.from_dict(extra["distill"]).modality in modalities:
        config = DistillConfig.from_dict(extra["distill"])
        teacher = load_teacher(config, train_part.spec)
        parts += [face_copies(train_part, teacher, config)]
        train_part = teacher_labelled(train_part, teacher, config)
    if parts:
        train_part = union("house-train", [train_part, *parts])
    return DatasetSplit("house", restricted(train_part, modalities), restricted(val_part, modalities))


def load_datasets(
    data_root: Path,
    extra: dict[str, Any],
    split_seed: int = 0,
    extract: ExtractFunction | None = None,
    modalities: tuple[str, ...] = ("text", "acoustic", "visual"),
) -> list[DatasetSplit]:
    """The recipe's datasets (extra["datasets"], default mosei, speech, mustardpp, mustard) with their
    validation splits; `extract` runs the pipeline's extractors on media (the house dataset, which
    keeps only `modalities`)."""
    text = GloveTextExtractor(TextConfig(**extra.get("text", {})))
    datasets = []
    for name in extra.get("datasets", DEFAULT_DATASETS):
        if name not in FOLDERS:
            raise MtmmError(f"the default recipe knows no dataset '{name}' (choose from {', '.join(FOLDERS)})")
        if not (data_root / FOLDERS[name]).is_dir():
            raise MtmmError(f"the default recipe needs {FOLDERS[name]}/ in the data folder", data_root)
        if name == "house":
            datasets.append(load_house_split(data_root, extra, text, extract, modalities))
            continue
        if name == "mosei":
            pair = (load_mosei_text(data_root, "train"), load_mosei_text(data_root, "valid"))
        elif name == "mustardpp":
            pair = (load_mustardpp(data_root / name, "train"), load_mustardpp(data_root / name, "val"))
        elif name == "mustard":
            pair = (load_mustard(data_root / name, "train"), load_mustard(data_root / name, "val"))
        else:
            datasets.append(load_speech_split(data_root, extra, text, split_seed))
            continue
        datasets.append(DatasetSplit(name, text_only(pair[0], text), text_only(pair[1], text)))
    return datasets


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


def speech_report(model_or_checkpoint, dataset: DatasetSplit) -> dict[str, float]:
    """Speaker-independent 7-class UAR per speech corpus (argmax over six emotions + none), on the
    validation pseudo-videos and on every clip alone (`_uar_one_clip`: no speaker context)."""
    report = {}
    for suffix, videos in (("", dataset.val.videos), ("_one_clip", one_clip_videos(dataset.val.videos))):
        if not videos:
            return {}
        predictions = (
            model_or_checkpoint.predict(videos)
            if isinstance(model_or_checkpoint, Checkpoint)
            else predict(model_or_checkpoint, videos)
        )
        if "emotion" not in predictions[0]:  # a single-task baseline of another task (the weak sentiment)
            return {}
        for name in SPEECH_CORPORA:
            rows = [i for i, v in enumerate(videos) if v.id.startswith(f"{name}-")]
            if rows:
                report[f"{name}_uar{suffix}"] = emotion_uar([videos[i] for i in rows], [predictions[i] for i in rows])
    return report


def validation_report(model_or_checkpoint, datasets: list[DatasetSplit]) -> dict[str, dict]:
    """Per dataset validation metrics; the speech set adds its UAR per corpus."""
    report = evaluate_per_dataset(model_or_checkpoint, datasets)
    for dataset in datasets:
        if dataset.name == "speech":
            report["speech"] |= speech_report(model_or_checkpoint, dataset)
    return report


def compare_setups(datasets: list[DatasetSplit], config, log) -> dict[str, Any]:
    """Single-task models per dataset and task, against which the pooled multi-task student compares."""
    report: dict[str, Any] = {"stl": {}}
    for dataset in datasets:
        report["stl"][dataset.name] = {}
        modalities = tuple(m for m in config.modalities if m in dataset.train.spec)
        context_norm = tuple(m for m in config.context_norm if m in modalities)
        for task in dataset.tasks():
            single = replace(config, tasks=(task,), monitor="loss", modalities=modalities, context_norm=context_norm)
            model = train(dataset.train, dataset.val, single, log=log).model
            report["stl"][dataset.name] |= validation_report(model, [dataset])[dataset.name]
    return report


def _thresholds_on(extra: dict[str, Any]) -> dict[str, str]:
    """The recipe's `emotion_thresholds_on`: {metric: dataset} whose validation set alone chooses that
    metric's emotion thresholds (the others come from the pooled validation sets)."""
    chosen = extra.get("emotion_thresholds_on", {})
    if not isinstance(chosen, dict) or not set(chosen) <= set(METRICS):
        raise MtmmError(f"emotion_thresholds_on must map {' or '.join(METRICS)} to a dataset name, not {chosen!r}")
    names = list(extra.get("datasets", DEFAULT_DATASETS))
    for name in chosen.values():
        if name not in names:
            raise MtmmError(f"emotion_thresholds_on: '{name}' is not a dataset of this recipe ({', '.join(names)})")
    return dict(chosen)


def _check_label_metric(extra: dict[str, Any]) -> None:
    metric = extra.get("emotion_label_metric", "f1")
    if metric not in METRICS:
        raise MtmmError(f"emotion_label_metric must be {' or '.join(METRICS)}, not {metric!r}")


def _emotion_split(datasets: Sequence[DatasetSplit], name: str) -> DatasetSplit:
    for dataset in datasets:
        if dataset.name == name and "emotion" in dataset.tasks():
            return dataset
    raise MtmmError(f"emotion_thresholds_on: '{name}' is not a dataset with emotion labels here")


def _prevalence_weights(extra: dict[str, Any], sources: dict[str, str]) -> dict[str, float]:
    """The recipe's `emotion_thresholds_prevalence_weight`: {"wacc": w}, how far the WAcc thresholds
    chosen on a dataset's validation set move towards the emotions' shares in its training labels."""
    weights = extra.get("emotion_thresholds_prevalence_weight", {})
    if not isinstance(weights, dict) or set(weights) - {"wacc"}:
        raise MtmmError(f"emotion_thresholds_prevalence_weight must map wacc to a weight, not {weights!r}")
    if set(weights) - set(sources):
        raise MtmmError("emotion_thresholds_prevalence_weight: wacc needs emotion_thresholds_on to name its dataset")
    for weight in weights.values():
        if isinstance(weight, bool) or not (isinstance(weight, int | float) and 0 <= weight <= 1):
            raise MtmmError(f"emotion_thresholds_prevalence_weight: {weight!r} is not a weight between 0 and 1")
    return {metric: float(weight) for metric, weight in weights.items()}


def emotion_prevalence(corpus: Corpus) -> list[float]:
    """Each emotion's share among the utterances with emotion labels (the six, without "none")."""
    videos = [v for v in corpus.videos if v.labelled("emotion")]
    targets = np.concatenate([v.targets["emotion"][v.weights["emotion"] > 0] for v in videos])
    return [float(share) for share in (targets[:, : len(EMOTIONS)] >= 0.5).mean(0)]


def moved_towards(thresholds: Sequence[float], shares: Sequence[float], weight: float) -> list[float]:
    """Each threshold moved a share `weight` of the way to the emotion's share of the labels."""
    return [(1 - weight) * t + weight * share for t, share in zip(thresholds, shares)]


def thresholds_chosen_on(
    checkpoint: Checkpoint,
    datasets: Sequence[DatasetSplit],
    sources: dict[str, str],
    prevalence_weights: dict[str, float] | None = None,
) -> None:
    """Re-choose emotion thresholds per metric on one dataset's validation set ({metric: dataset name});
    with a prevalence weight w for WAcc, each becomes (1 - w) x that choice + w x the emotion's share
    in the dataset's training labels: P >= share is the rule that maximises WAcc when P is
    calibrated, and unlike the grid point it is not fitted to the validation set's noise."""
    for metric, name in sources.items():
        dataset = _emotion_split(datasets, name)
        truth, scores = gather(dataset.val.videos, checkpoint.predict(dataset.val.videos), "emotion")
        chosen = choose_thresholds((truth >= 0.5).astype(int), scores, metric)
        weight = (prevalence_weights or {}).get(metric, 0.0)
        if weight:
            chosen = [round(t, 4) for t in moved_towards(chosen, emotion_prevalence(dataset.train), weight)]
        checkpoint.thresholds[f"emotion_{metric}"] = chosen


def run_default_recipe(
    recipe: Recipe,
    data_root: str | Path,
    compare: bool | None = None,
    log: Callable[[str], None] | None = None,
    extract: ExtractFunction | None = None,
) -> tuple[Checkpoint, dict[str, Any]]:
    """Train the default model; with `compare` (default: the recipe's), also single-task baselines.
    `extract(path, segments)`: the pipeline's extractors, for datasets that hold media."""
    extra = recipe.extra or {}
    # the recipe's sarcasm base rate and threshold sources, checked before hours of training
    reported = base_rate(extra["sarcasm_base_rate"]) if "sarcasm_base_rate" in extra else None
    thresholds_on = _thresholds_on(extra)
    prevalence_weights = _prevalence_weights(extra, thresholds_on)
    _check_label_metric(extra)
    datasets = load_datasets(Path(data_root), extra, extract=extract, modalities=recipe.train.modalities)
    for name in thresholds_on.values():  # after loading (the labels are known), before training
        _emotion_split(datasets, name)
    for dataset in datasets:
        factor = float(extra.get("dataset_weights", {}).get(dataset.name, 1.0))
        weighted(dataset.train, factor)
        weighted(dataset.val, factor)
    config = recipe.train
    compare = bool(extra.get("compare", False)) if compare is None else compare
    report: dict[str, Any] = compare_setups(datasets, config, log) if compare else {}
    members = int(extra.get("members", 1))
    weak_weight = float(extra.get("weak_weight", 0.5))
    pool = deduplicated(datasets)
    checkpoint, weak_report = train_weakly_supervised(
        pool,
        config,
        weak_weight,
        members,
        log=log,
        weak_tasks=extra.get("weak_tasks"),
        teacher_modalities=extra.get("teacher_modalities"),
    )
    checkpoint.task_modalities = {t: list(m) for t, m in extra.get("task_modalities", {}).items()}
    thresholds_chosen_on(checkpoint, datasets, thresholds_on, prevalence_weights)
    gold_sarcasm = [d.train for d in pool if "sarcasm" in d.tasks()]
    trained = round(label_prior(gold_sarcasm, "sarcasm"), 4) if gold_sarcasm else 0.0
    if "sarcasm" in checkpoint.config.tasks and 0 < trained < 1:  # gold labels of both classes
        checkpoint.sarcasm_base_rate = {"trained": trained, "reported": trained if reported is None else reported}
    report["mtl_pooled_weak"] = validation_report(checkpoint, datasets)
    report["weak"] = weak_report
    checkpoint.training = {
        "recipe": recipe.name,
        "datasets": {
            d.name: {
                "train": d.train.provenance,
                "train_utterances": d.train.n_utterances(),
                "val_utterances": d.val.n_utterances(),
                "tasks": list(d.tasks()),
                "modalities": list(d.train.spec),
            }
            for d in datasets
        },
        "config": config.to_dict(),
        "trained_modalities": list(checkpoint.feature_spec),
        "report": report,
    }
    checkpoint.emotion_label_metric = extra.get("emotion_label_metric", "f1")
    return checkpoint, report
