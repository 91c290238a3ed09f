"""Datasets as videos (or dialogues): ordered utterances with features, modality masks and task targets."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from mtmm_es.core.errors import MtmmError

from .tasks import TASKS


@dataclass
class Video:
    """One context unit: features[m] [U, dim_m], masks[m] [U] (modality present), and per task
    targets[t] [U] or [U, K] with weights[t] [U] (0 = no label, 1 = gold, <1 = weak label)."""

    id: str
    utterance_ids: list[str]
    features: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]
    targets: dict[str, np.ndarray] = field(default_factory=dict)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    texts: list[str] | None = None  # transcripts, when the corpus has them
    times: list[tuple[float | None, float | None]] | None = None  # (start, end) s, when the corpus gives them
    # features[m] of each utterance as it reads analysed alone, where that differs (levelled speech)
    alone: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.utterance_ids)

    def labelled(self, task: str) -> bool:
        return task in self.weights and bool((self.weights[task] > 0).any())


@dataclass
class Corpus:
    """A named list of videos whose features follow one feature spec ({modality: spec dict})."""

    name: str
    videos: list[Video]
    spec: dict[str, dict[str, Any]]
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.spec)

    def tasks(self) -> tuple[str, ...]:
        """Tasks with at least one labelled utterance."""
        return tuple(t for t in TASKS if any(v.labelled(t) for v in self.videos))

    def subset(self, video_ids: Sequence[str], name: str | None = None) -> Corpus:
        wanted = set(video_ids)
        videos = [v for v in self.videos if v.id in wanted]
        return Corpus(name or self.name, videos, self.spec, self.provenance)

    def n_utterances(self) -> int:
        return sum(len(v) for v in self.videos)


def label_prior(corpora: Sequence[Corpus], task: str) -> float:
    """The positive share of a binary task's gold labels in `corpora`, counted by their loss weights."""
    videos = [v for corpus in corpora for v in corpus.videos if v.labelled(task)]
    weights = np.concatenate([v.weights[task] for v in videos])
    positive = np.concatenate([v.targets[task].reshape(-1) >= 0.5 for v in videos])
    return float((weights * positive).sum() / weights.sum())


def utterance_alone(video: Video, k: int) -> Video:
    """Utterance k of `video` as a video of its own (id `<video id>.<k>`): a clip analysed alone."""
    return Video(
        f"{video.id}.{k}",
        [video.utterance_ids[k]],
        {m: video.alone.get(m, f)[k : k + 1] for m, f in video.features.items()},
        {m: mask[k : k + 1] for m, mask in video.masks.items()},
        {t: target[k : k + 1] for t, target in video.targets.items()},
        {t: weight[k : k + 1] for t, weight in video.weights.items()},
        video.texts[k : k + 1] if video.texts is not None else None,
    )


def split_by_video(corpus: Corpus, fraction: float, seed: int) -> tuple[Corpus, Corpus]:
    """Train/validation split of whole videos (no speaker or context leaks across the split)."""
    ids = sorted(v.id for v in corpus.videos)
    if len(ids) < 2:
        raise MtmmError(
            f"corpus '{corpus.name}' has {len(ids)} video: validation takes whole videos from training, so give "
            "more videos or validation rows of your own (split=val)"
        )
    rng = np.random.default_rng(seed)
    rng.shuffle(ids)
    n_val = max(1, round(fraction * len(ids)))
    if n_val >= len(ids):
        raise MtmmError(
            f"a validation share of {fraction:g} holds out all {len(ids)} videos of corpus '{corpus.name}', "
            "leaving no training videos: give a smaller val_fraction (--val-fraction)"
        )
    val_ids = set(ids[:n_val])
    train = corpus.subset([i for i in ids if i not in val_ids], f"{corpus.name}-train")
    val = corpus.subset(sorted(val_ids), f"{corpus.name}-val")
    return train, val


def folds_by_video(corpus: Corpus, n_folds: int, seed: int) -> list[list[str]]:
    """Video ids in `n_folds` disjoint folds (seeded); each fold holds out at least one video."""
    ids = sorted(v.id for v in corpus.videos)
    if n_folds > len(ids):
        raise MtmmError(
            f"{n_folds} folds need as many videos, and corpus '{corpus.name}' has {len(ids)} (each fold holds "
            f"out whole videos): give {len(ids)} folds or fewer (--folds)"
        )
    np.random.default_rng(seed).shuffle(ids)
    return [ids[k::n_folds] for k in range(n_folds)]


@dataclass
class Batch:
    """Padded tensors for a list of videos: B videos x U utterances."""

    features: dict[str, torch.Tensor]  # [B, U, dim]
    masks: dict[str, torch.Tensor]  # [B, U] bool: modality present
    lengths: torch.Tensor  # [B]
    utterance_mask: torch.Tensor  # [B, U] bool: real utterance
    targets: dict[str, torch.Tensor]  # [B, U] or [B, U, K]
    weights: dict[str, torch.Tensor]  # [B, U]


def collate(videos: Sequence[Video], modalities: Sequence[str], tasks: Sequence[str], dims: dict[str, int]) -> Batch:
    """Pad videos into a Batch; missing modalities/targets become zeros with zero masks/weights."""
    size, longest = len(videos), max(len(v) for v in videos)
    features = {m: np.zeros((size, longest, dims[m]), np.float32) for m in modalities}
    masks = {m: np.zeros((size, longest), bool) for m in modalities}
    targets = {t: np.zeros((size, longest, TASKS[t]), np.float32) for t in tasks}
    weights = {t: np.zeros((size, longest), np.float32) for t in tasks}
    for row, video in enumerate(videos):
        n = len(video)
        for m in modalities:
            if m in video.features:
                features[m][row, :n] = video.features[m]
                masks[m][row, :n] = video.masks[m]
        for t in tasks:
            if t in video.targets:
                targets[t][row, :n] = video.targets[t].reshape(n, TASKS[t])
                weights[t][row, :n] = video.weights[t]
    lengths = np.array([len(v) for v in videos])
    return Batch(
        features={m: torch.from_numpy(a) for m, a in features.items()},
        masks={m: torch.from_numpy(a) for m, a in masks.items()},
        lengths=torch.from_numpy(lengths),
        utterance_mask=torch.from_numpy(np.arange(longest)[None, :] < lengths[:, None]),
        targets={t: torch.from_numpy(a if TASKS[t] > 1 else a[..., 0]) for t, a in targets.items()},
        weights={t: torch.from_numpy(a) for t, a in weights.items()},
    )


def batches(videos: Sequence[Video], size: int, rng: np.random.Generator | None = None) -> Iterator[list[Video]]:
    """Videos in batches of `size`, shuffled when `rng` is given."""
    order = np.arange(len(videos))
    if rng is not None:
        rng.shuffle(order)
    for start in range(0, len(order), size):
        yield [videos[i] for i in order[start : start + size]]


def feature_statistics(videos: Sequence[Video], modality: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of a modality over the utterances that have it (std floored, for z-scoring)."""
    rows = [v.features[modality][v.masks[modality]] for v in videos if modality in v.features]
    stacked = np.concatenate(rows) if rows else np.zeros((0, dim), np.float32)
    if len(stacked) == 0:
        return np.zeros(dim, np.float32), np.ones(dim, np.float32)
    return stacked.mean(0).astype(np.float32), np.maximum(stacked.std(0), 1e-6).astype(np.float32)


def check_spec(expected: dict[str, dict[str, Any]], actual: dict[str, dict[str, Any]], where: str) -> None:
    """Refuse inputs whose features differ from those a model was trained on (one clear message)."""
    problems = []
    for modality, want in expected.items():
        have = actual.get(modality)
        if have is None:
            problems.append(f"{modality} features are missing")
            continue
        for key in ("extractor", "version", "dim"):
            if want.get(key) != have.get(key):
                problems.append(f"{modality} {key} is {have.get(key)!r}, trained with {want.get(key)!r}")
        for key in ("config", "feature_names"):
            if want.get(key) != have.get(key) and want.get("dim") == have.get("dim"):
                problems.append(f"{modality} {key.replace('_', ' ')} differ from training")
    if problems:
        raise MtmmError(f"features do not match the checkpoint's feature spec: {'; '.join(problems)}", where)
