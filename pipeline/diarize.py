"""Who speaks when: a speaker label per utterance, and utterances cut where the speaker changes.

Each utterance is embedded with the GE2E voice encoder (mean of its 1.6 s partials). The
embeddings are centred on the video's mean (what all voices of the video share carries no
identity) and clustered agglomeratively (cosine, average linkage): into N clusters when the user
knows N, else into the number of clusters with the best silhouette, kept only when that silhouette
shows real structure (`min_silhouette`; one speaker otherwise). An utterance whose partials start
nearer one speaker and end nearer another is cut at the word gap closest to the change, and the
pieces are clustered again. Labels are S1, S2, ... in order of first appearance.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from mtmm_es.extractors.base import Utterance
from mtmm_es.extractors.speaker import SpeakerEncoder, SpeakerEncoderConfig

from .segmentation import renumber, split_at

logger = logging.getLogger("mtmm_es.diarize")


@dataclass(frozen=True)
class DiarizationConfig:
    """speakers: the known number of speakers (None: estimated, at most max_speakers).
    min_silhouette: below this best silhouette the video has one speaker (0.32: the 95th percentile
    of single CREMA-D actors split in two, `benchmarks/speakers.py`). min_turn_s: the shortest piece
    a speaker change may cut off an utterance."""

    enabled: bool = True
    speakers: int | None = None
    max_speakers: int = 8
    min_silhouette: float = 0.32
    pair_distance: float = 0.5  # two utterances only: different speakers above this cosine distance
    min_turn_s: float = 1.0
    encoder: SpeakerEncoderConfig = field(default_factory=SpeakerEncoderConfig)

    def __post_init__(self) -> None:
        from mtmm_es.core.errors import MtmmError

        if self.speakers is not None and self.speakers < 1:
            raise MtmmError(f"--speakers must be at least 1 (got {self.speakers})")


@dataclass
class Diarization:
    """Utterances with speaker labels (split at speaker changes) and how they were found."""

    utterances: list[Utterance]
    speakers: int
    silhouette: float | None
    splits: int

    def summary(self) -> dict[str, Any]:
        return {"speakers": self.speakers, "silhouette": self.silhouette, "splits": self.splits}


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def cluster(embeddings: np.ndarray, config: DiarizationConfig) -> tuple[np.ndarray, float | None]:
    """Speaker index per row of unit `embeddings` [n, d], and the silhouette that chose the count."""
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import silhouette_score

    n = len(embeddings)
    if n <= 1 or config.speakers == 1:
        return np.zeros(n, int), None
    if n == 2 and config.speakers is None:
        distance = 1.0 - float(embeddings[0] @ embeddings[1])
        return np.array([0, int(distance > config.pair_distance)]), None
    centred = _unit(embeddings - embeddings.mean(0))

    def fit(k: int) -> np.ndarray:
        return AgglomerativeClustering(n_clusters=k, metric="cosine", linkage="average").fit_predict(centred)

    if config.speakers is not None:
        return fit(min(config.speakers, n)), None
    best_k, best_score, best_labels = 1, -1.0, np.zeros(n, int)
    for k in range(2, min(config.max_speakers, n - 1) + 1):
        labels = fit(k)
        score = float(silhouette_score(centred, labels, metric="cosine"))
        if score > best_score:
            best_k, best_score, best_labels = k, score, labels
    if best_score < config.min_silhouette:
        return np.zeros(n, int), round(best_score, 4)
    logger.debug("%d speakers (silhouette %.3f)", best_k, best_score)
    return best_labels, round(best_score, 4)


def _change_time(partial_labels: np.ndarray, centres: np.ndarray) -> float | None:
    """Time of a single speaker change inside an utterance (first and last partials disagree)."""
    if len(partial_labels) < 3 or partial_labels[0] == partial_labels[-1]:
        return None
    first_run = int(np.argmax(partial_labels != partial_labels[0]))
    last_run = len(partial_labels) - int(np.argmax(partial_labels[::-1] != partial_labels[-1]))
    return float((centres[first_run - 1] + centres[last_run]) / 2)


def _ordered_names(labels: np.ndarray) -> list[str]:
    order: dict[int, str] = {}
    for label in labels:
        order.setdefault(int(label), f"S{len(order) + 1}")
    return [order[int(label)] for label in labels]


class Diarizer:
    """Labels utterances with speakers; the encoder loads on first use and is reused."""

    def __init__(self, config: DiarizationConfig = DiarizationConfig()):
        self.config = config
        self._encoder: SpeakerEncoder | None = None

    @property
    def encoder(self) -> SpeakerEncoder:
        if self._encoder is None:
            self._encoder = SpeakerEncoder(self.config.encoder)
        return self._encoder

    def spec(self) -> dict[str, Any]:
        """Identity of the diarization (for cache keys and provenance) without loading the encoder."""
        return {"method": "ge2e-ahc", **asdict(self.config)}

    def run(self, audio: np.ndarray | None, utterances: Sequence[Utterance], split: bool = True) -> Diarization:
        """Speaker labels for `utterances` of 16 kHz `audio`; split: cut them at speaker changes."""
        if audio is None or not utterances:
            return Diarization(list(utterances), 0, None, 0)
        embeddings, owners, centres = self.encoder.partials(audio, [(u.start, u.end) for u in utterances])
        means = _unit(np.stack([embeddings[owners == i].mean(0) for i in range(len(utterances))]))
        labels, silhouette = cluster(means, self.config)
        if split:
            pieces, splits = self._split(utterances, labels, means, embeddings, owners, centres)
        else:
            pieces, splits = [(u, i) for i, u in enumerate(utterances)], 0
        if splits:
            piece_means = []
            for piece, source in pieces:
                inside = (owners == source) & (centres >= piece.start) & (centres <= piece.end)
                if not inside.any():
                    inside = owners == source
                piece_means.append(embeddings[inside].mean(0))
            labels, silhouette = cluster(_unit(np.stack(piece_means)), self.config)
        names = _ordered_names(labels)
        labelled = renumber([replace(piece, speaker=name) for (piece, _), name in zip(pieces, names)])
        return Diarization(labelled, len(set(names)), silhouette, splits)

    def _split(self, utterances, labels, means, embeddings, owners, centres):
        """(piece, source utterance index) for every utterance, cut once where its speaker changes."""
        pieces: list[tuple[Utterance, int]] = []
        splits = 0
        speakers = np.unique(labels)
        if len(speakers) > 1:
            centre = means.mean(0)
            centroids = _unit(np.stack([_unit(means[labels == s].mean(0)) for s in speakers]) - centre)
        for i, utterance in enumerate(utterances):
            parts = [utterance]
            if len(speakers) > 1:
                mine = owners == i
                nearest = speakers[np.argmax(_unit(embeddings[mine] - centre) @ centroids.T, axis=1)]
                change = _change_time(nearest, centres[mine])
                if change is not None:
                    parts = split_at(utterance, change, self.config.min_turn_s)
                    splits += len(parts) - 1
            pieces.extend((part, i) for part in parts)
        return pieces, splits
