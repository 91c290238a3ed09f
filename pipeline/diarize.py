"""Who speaks when: a speaker label per utterance, and utterances cut where the speaker changes.

Utterances are cut at their longest word gaps into pieces of at most 3 s (a piece rarely holds two
voices) and each piece is
embedded with the GE2E voice encoder (mean of its 1.6 s partials). The embeddings are centred on
the video's mean (what all voices of the video share carries no identity) and clustered
agglomeratively (cosine, average linkage): into N clusters when the user knows N, else into the
fewest clusters whose silhouette is near the best, kept only when that silhouette shows real
structure (`min_silhouette`; one speaker otherwise) and merged while two clusters' mean voices
are nearly the same (`min_centroid_distance`). Where consecutive pieces of an utterance
belong to different speakers, the utterance is cut at the word gap closest to the change; each
part takes the speaker of the pieces it overlaps most. Labels are S1, S2, ... in order of first
appearance.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from mtmm_es.core.errors import MtmmError
from mtmm_es.extractors.base import Utterance
from mtmm_es.extractors.speaker import SpeakerEncoder, SpeakerEncoderConfig

from .segmentation import renumber, split_at

logger = logging.getLogger("mtmm_es.diarize")
MIN_PIECE_S = 1.2  # shortest piece a cut may leave
WORD_PAD_S = 0.25  # recognisers' word times cut speech short; a piece's speech span reaches this much further


@dataclass(frozen=True)
class DiarizationConfig:
    """speakers: the known number of speakers (None: estimated, at most max_speakers).
    min_silhouette: below this best silhouette the video has one speaker; silhouette_tolerance: the
    fewest speakers whose silhouette is this close to the best win. Chosen on CREMA-D
    (`benchmarks/speakers.py`): ten clips of one actor stay one speaker in 95 % of trials, a man and
    a woman alternating ten turns are found as two in 75 %. min_turn_s: the shortest piece a
    speaker change may cut off an utterance."""

    enabled: bool = True
    speakers: int | None = None
    max_speakers: int = 8
    min_silhouette: float = 0.28
    silhouette_tolerance: float = 0.06  # the fewest speakers whose silhouette is this close to the best
    min_centroid_distance: float = 0.15  # speakers whose mean voices are closer (cosine) are one
    pair_distance: float = 0.5  # two utterances only: different speakers above this cosine distance
    min_turn_s: float = 1.0
    piece_s: float = 3.0  # utterances are embedded in pieces at most this long, cut at word gaps
    encoder: SpeakerEncoderConfig = field(default_factory=SpeakerEncoderConfig)

    def __post_init__(self) -> None:
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
    fits = {k: fit(k) for k in range(2, min(config.max_speakers, n - 1) + 1)}
    scores = {k: float(silhouette_score(centred, labels, metric="cosine")) for k, labels in fits.items()}
    best = max(scores.values())
    if best < config.min_silhouette:
        return np.zeros(n, int), round(best, 4)
    k = min(k for k, score in scores.items() if score >= best - config.silhouette_tolerance)
    labels = merge_close(embeddings, fits[k], config.min_centroid_distance)
    logger.debug("%d speakers (silhouette %.3f)", len(set(labels)), scores[k])
    return labels, round(scores[k], 4)


def merge_close(embeddings: np.ndarray, labels: np.ndarray, min_distance: float) -> np.ndarray:
    """Clusters whose mean voices (not centred) lie closer than min_distance (cosine) merged, closest
    first: a silhouette found in one voice's sentence-to-sentence variation is not a second speaker."""
    labels = labels.copy()
    while len(set(labels)) > 1:
        names = sorted(set(labels))
        centroids = _unit(np.stack([embeddings[labels == k].mean(0) for k in names]))
        distance = 1.0 - centroids @ centroids.T + 2.0 * np.eye(len(names))
        a, b = np.unravel_index(np.argmin(distance), distance.shape)
        if distance[a, b] >= min_distance:
            break
        labels[labels == names[b]] = names[a]
    return np.unique(labels, return_inverse=True)[1]


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
        pieces = [(i, *piece) for i, u in enumerate(utterances) for piece in utterance_pieces(u, self.config.piece_s)]
        embeddings, owners, _ = self.encoder.partials(
            audio, [(speech_start, speech_end) for *_, speech_start, speech_end in pieces]
        )
        means = _unit(np.stack([embeddings[owners == k].mean(0) for k in range(len(pieces))]))
        labels, silhouette = cluster(means, self.config)
        labelled, splits = [], 0
        for i, utterance in enumerate(utterances):
            mine = [(start, end, int(label)) for (owner, start, end, *_), label in zip(pieces, labels) if owner == i]
            parts = [utterance]
            if split:
                for (_, end, before), (_, _, after) in zip(mine[:-1], mine[1:]):
                    if before != after:
                        parts = parts[:-1] + split_at(parts[-1], end, self.config.min_turn_s)
                splits += len(parts) - 1
            labelled += [(part, _majority(mine, part)) for part in parts]
        names = _ordered_names(np.array([label for _, label in labelled]))
        result = renumber([replace(part, speaker=name) for (part, _), name in zip(labelled, names)])
        return Diarization(result, len(set(names)), silhouette, splits)


def utterance_pieces(utterance: Utterance, piece_s: float) -> list[tuple[float, float, float, float]]:
    """(start, end, speech start, speech end) of an utterance's pieces: cut at its longest word gaps
    until no piece is longer than piece_s (turns change at pauses; the silence between pieces is
    left out of their speech spans), or in equal parts when it has no word timings."""
    if len(utterance.words) < 2:
        count = max(1, int(round((utterance.end - utterance.start) / piece_s)))
        edges = np.linspace(utterance.start, utterance.end, count + 1)
        return [(a, b, a, b) for a, b in zip(edges[:-1], edges[1:])]
    groups = _cut(list(utterance.words), piece_s, min(piece_s / 2, MIN_PIECE_S))
    edges = [utterance.start, *((a[-1].end + b[0].start) / 2 for a, b in zip(groups[:-1], groups[1:])), utterance.end]
    return [
        (
            edges[k],
            edges[k + 1],
            max(edges[k], group[0].start - WORD_PAD_S),
            min(edges[k + 1], group[-1].end + WORD_PAD_S),
        )
        for k, group in enumerate(groups)
    ]


def _cut(words: list, piece_s: float, min_piece_s: float) -> list[list]:
    """Words cut at their longest gap, recursively, until no group is longer than piece_s; a cut
    never leaves a group shorter than min_piece_s (a lone word embeds as padding, not as a voice)."""
    if words[-1].end - words[0].start <= piece_s:
        return [words]
    cuts = [
        k
        for k in range(1, len(words))
        if words[k - 1].end - words[0].start >= min_piece_s and words[-1].end - words[k].start >= min_piece_s
    ]
    if not cuts:
        return [words]
    k = max(cuts, key=lambda k: words[k].start - words[k - 1].end)
    return _cut(words[:k], piece_s, min_piece_s) + _cut(words[k:], piece_s, min_piece_s)


def _majority(pieces: list[tuple[float, float, int]], part: Utterance) -> int:
    """The speaker of the pieces overlapping `part` the longest."""
    overlap: dict[int, float] = {}
    for start, end, label in pieces:
        overlap[label] = overlap.get(label, 0.0) + max(0.0, min(end, part.end) - max(start, part.start))
    return max(overlap, key=lambda label: overlap[label])
