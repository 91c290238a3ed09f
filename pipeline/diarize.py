"""Who speaks when: a speaker label per utterance, and utterances cut where the speaker changes.

Utterances are cut at their longest word gaps into pieces of at most 3 s (a piece rarely holds two
voices); each piece's speech (its words, reaching 0.3 s beyond them, into the pause before and
after an utterance up to half way to its neighbour) is embedded with the GE2E voice encoder (mean
of its 1.6 s partials, 0.4 s apart). The embeddings are centred on the video's mean (what all
voices of the video share carries no identity) and clustered agglomeratively (cosine, average
linkage): into N clusters when the user knows N, else into the fewest clusters whose silhouette
is near the best, then clusters are merged while the mean similarity between their pieces (not
centred) reaches `same_speaker`: the count decision, calibrated on CREMA-D actors' same- and
different-speaker recordings. Where consecutive pieces of an utterance belong to different
speakers, the utterance is cut at the word gap closest to the change; each part takes the speaker
of the pieces it overlaps most. Labels are S1, S2, ... in order of first appearance.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from mtmm_es.core.background import deferred_import
from mtmm_es.core.checks import check_flags, check_number, check_type
from mtmm_es.core.errors import MtmmError
from mtmm_es.extractors.base import SAMPLE_RATE, Utterance
from mtmm_es.extractors.speaker import SpeakerEncoder, SpeakerEncoderConfig

from .segmentation import renumber, split_at

logger = logging.getLogger("mtmm_es.diarize")
MIN_PIECE_S = 1.2  # shortest piece a cut may leave
SILENCE_S = 0.25  # a pause this long inside a piece may separate two turns
WORD_PAD_S = 0.3  # recognisers' word times cut speech short; a piece's speech span reaches this much further
SILENT_DBFS = -60.0  # a piece whose loudest 10 ms is quieter than this holds no voice (digital or room silence)


@dataclass(frozen=True)
class DiarizationConfig:
    """speakers: the known number of speakers (None: estimated, at most max_speakers).
    same_speaker: two groups of pieces whose mean cosine similarity (GE2E, not centred) reaches
    this are one speaker; chosen on CREMA-D tuning actors (ids up to 1045; `benchmarks/speakers.py`
    measures it on the others). silhouette_tolerance: the fewest clusters whose silhouette is this
    close to the best are the candidates that merging starts from. min_turn_s: the shortest piece a
    speaker change may cut off an utterance."""

    enabled: bool = True
    speakers: int | None = None
    max_speakers: int = 8
    same_speaker: float = 0.63
    silhouette_tolerance: float = 0.15
    min_turn_s: float = 1.0
    piece_s: float = 3.0  # utterances are embedded in pieces at most this long, cut at word gaps
    encoder: SpeakerEncoderConfig = field(default_factory=lambda: SpeakerEncoderConfig(partial_step_s=0.4))

    def __post_init__(self) -> None:
        check_flags(self, "enabled")
        check_number(self, "speakers", int, minimum=1, optional=True)
        check_number(self, "max_speakers", int, minimum=1)
        check_number(self, "same_speaker", minimum=-1, maximum=1)
        check_number(self, "silhouette_tolerance", minimum=0)
        check_number(self, "min_turn_s", minimum=0)
        check_number(self, "piece_s", above=0)
        check_type(self, "encoder", SpeakerEncoderConfig)
        if self.speakers is not None and not self.enabled:
            raise MtmmError(f"--speakers {self.speakers} counts the speakers that --no-speakers leaves unlabelled")


@dataclass
class Diarization:
    """Utterances with speaker labels (split at speaker changes) and how they were found."""

    utterances: list[Utterance]
    speakers: int
    similarity: float | None  # mean voice similarity of the two closest speakers (see `cluster`)
    splits: int

    def summary(self) -> dict[str, Any]:
        return {"speakers": self.speakers, "similarity": self.similarity, "splits": self.splits}


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def cluster(embeddings: np.ndarray, config: DiarizationConfig) -> tuple[np.ndarray, float | None]:
    """Speaker index per row of unit `embeddings` [n, d], and the mean similarity between the two
    closest speakers' rows (with one speaker: between the two groups that were merged; None for
    one row or one speaker asked for)."""
    with deferred_import():
        from scipy.cluster.hierarchy import cut_tree, linkage

    n = len(embeddings)
    if n <= 1 or config.speakers == 1:
        return np.zeros(n, int), None
    centred = _unit(embeddings - embeddings.mean(0))
    distance = np.clip(1.0 - centred @ centred.T, 0.0, 2.0)  # cosine; a zero row is 1 from everything
    tree = linkage(distance[np.triu_indices(n, 1)], method="average")  # condensed: the upper triangle

    def fit(k: int) -> np.ndarray:
        return cut_tree(tree, n_clusters=k).ravel()

    if config.speakers is not None:
        labels = fit(min(config.speakers, n))
        return labels, round(closest_pair(embeddings, labels)[0], 4)
    fits = {k: fit(k) for k in range(2, min(config.max_speakers, n - 1) + 1)} or {2: np.arange(n)}
    scores = {k: silhouette(distance, labels) if n > 2 else 0.0 for k, labels in fits.items()}
    best = max(scores.values())
    k = min(k for k, score in scores.items() if score >= best - config.silhouette_tolerance)
    labels, similarity = merge_same(embeddings, fits[k], config.same_speaker)
    logger.debug("%d speakers (silhouette %.3f, closest pair %.3f)", len(set(labels)), scores[k], similarity)
    return labels, round(similarity, 4)


def silhouette(distance: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette of `labels` under the square `distance` matrix (scikit-learn's definition: 0
    for a row alone in its cluster), written out so diarization imports neither scikit-learn nor
    pandas at start-up."""
    names = np.unique(labels)
    scores = np.zeros(len(labels))
    for i, own_name in enumerate(labels):
        own = labels == own_name
        if own.sum() < 2:
            continue
        inside = distance[i, own].sum() / (own.sum() - 1)
        outside = min(distance[i, labels == name].mean() for name in names if name != own_name)
        scores[i] = (outside - inside) / max(inside, outside) if max(inside, outside) > 0 else 0.0
    return float(scores.mean())


def merge_same(embeddings: np.ndarray, labels: np.ndarray, same_speaker: float) -> tuple[np.ndarray, float]:
    """Clusters merged, most similar first, while the mean cosine similarity between their rows
    (not centred) is at least `same_speaker`: a split found in one voice's variation from sentence
    to sentence (emotion, loudness) is not a second speaker. Returns the labels and the last
    similarity looked at (the closest pair kept apart, or the last pair merged)."""
    labels = labels.copy()
    closest = 1.0
    while len(set(labels)) > 1:
        closest, a, b = closest_pair(embeddings, labels)
        if closest < same_speaker:
            break
        labels[labels == b] = a
    return np.unique(labels, return_inverse=True)[1], closest


def closest_pair(embeddings: np.ndarray, labels: np.ndarray) -> tuple[float, int, int]:
    """The two clusters (of at least two) whose rows are most alike: their mean cosine similarity
    (not centred) and their labels."""
    similarity = embeddings @ embeddings.T
    names = sorted(set(labels))
    pairs = [(float(similarity[np.ix_(labels == a, labels == b)].mean()), a, b) for a in names for b in names if a < b]
    return max(pairs)


def _ordered_names(labels: Sequence[int | None]) -> list[str | None]:
    """S1, S2, ... in order of first appearance; None (no voice) stays None."""
    order: dict[int, str] = {}
    for label in labels:
        if label is not None:
            order.setdefault(int(label), f"S{len(order) + 1}")
    return [None if label is None else order[int(label)] for label in labels]


def voiced(audio: np.ndarray, start: float, end: float) -> bool:
    """Whether [start, end] holds sound loud enough to be a voice: its loudest 10 ms above SILENT_DBFS."""
    lo, hi = int(start * SAMPLE_RATE), min(int(end * SAMPLE_RATE), len(audio))
    segment = np.asarray(audio[lo:hi], dtype=np.float64)
    if not len(segment):
        return False
    hop = SAMPLE_RATE // 100
    frames = segment[: len(segment) // hop * hop].reshape(-1, hop) if len(segment) >= hop else segment[None]
    return 10 * np.log10(np.mean(np.square(frames), axis=1).max() + 1e-12) > SILENT_DBFS


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
        return {"method": "ge2e-ahc", "version": 2, **asdict(self.config)}  # 2: similarity of a given count

    def run(self, audio: np.ndarray | None, utterances: Sequence[Utterance], split: bool = True) -> Diarization:
        """Speaker labels for `utterances` of 16 kHz `audio`; split: cut them at speaker changes."""
        if audio is None or not utterances:
            return Diarization(list(utterances), 0, None, 0)
        bounds = [
            0.0,
            *((a.end + b.start) / 2 for a, b in zip(utterances[:-1], utterances[1:])),
            len(audio) / SAMPLE_RATE,
        ]
        pieces = [
            (i, *piece)
            for i, u in enumerate(utterances)
            for piece in cut_at_silences(audio, utterance_pieces(u, self.config.piece_s, _reach(u, *bounds[i : i + 2])))
            if voiced(audio, piece[2], piece[3])  # a window over silence (a --segments row) has no voice
        ]
        if not pieces:
            return Diarization(list(utterances), 0, None, 0)
        embeddings, owners, _ = self.encoder.partials(
            audio, [(speech_start, speech_end) for *_, speech_start, speech_end in pieces]
        )
        means = _unit(np.stack([embeddings[owners == k].mean(0) for k in range(len(pieces))]))
        labels, similarity = cluster(means, self.config)
        labelled, splits = [], 0
        for i, utterance in enumerate(utterances):
            mine = [(start, end, int(label)) for (owner, start, end, *_), label in zip(pieces, labels) if owner == i]
            if not mine:  # no voice in it: no speaker, no talk time
                labelled.append((utterance, None))
                continue
            parts = [utterance]
            if split:
                for (_, end, before), (_, _, after) in zip(mine[:-1], mine[1:]):
                    if before != after:
                        parts = parts[:-1] + split_at(parts[-1], end, self.config.min_turn_s)
                splits += len(parts) - 1
            labelled += [(part, _majority(mine, part)) for part in parts]
        names = _ordered_names([label for _, label in labelled])
        result = renumber([replace(part, speaker=name) for (part, _), name in zip(labelled, names)])
        return Diarization(result, len({n for n in names if n}), similarity, splits)


def _reach(utterance: Utterance, before: float, after: float) -> tuple[float, float]:
    """How far an utterance's speech may reach: into the pauses up to `before` and `after`, never
    less than the utterance itself (a --segments window may overlap or hold its neighbours)."""
    return min(before, utterance.start), max(after, utterance.end)


def utterance_pieces(
    utterance: Utterance, piece_s: float, reach: tuple[float, float] | None = None
) -> list[tuple[float, float, float, float]]:
    """(start, end, speech start, speech end) of an utterance's pieces: cut at its longest word gaps
    until no piece is longer than piece_s (turns change at pauses; the silence between pieces is
    left out of their speech spans), or in equal parts when it has no word timings. reach: how far
    the first and last speech spans may extend beyond the utterance (default: not at all)."""
    lo, hi = reach or (utterance.start, utterance.end)
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
            max(edges[k] if k else lo, group[0].start - WORD_PAD_S),
            min(edges[k + 1] if k + 1 < len(groups) else hi, group[-1].end + WORD_PAD_S),
        )
        for k, group in enumerate(groups)
    ]


def cut_at_silences(
    audio: np.ndarray, pieces: list[tuple[float, float, float, float]]
) -> list[tuple[float, float, float, float]]:
    """Pieces cut again at their longest silence (at least SILENCE_S, 30 dB below the piece's
    loud frames) that leaves MIN_PIECE_S of speech on both sides, until none is left: recognisers'
    word times can run two turns together, the pause between them stays in the audio."""
    out = []
    for start, end, speech_start, speech_end in pieces:
        quiet = _silences(audio, speech_start, speech_end)
        if not quiet:
            out.append((start, end, speech_start, speech_end))
            continue
        a, b = max(quiet, key=lambda run: run[1] - run[0])
        middle = (a + b) / 2
        out += cut_at_silences(audio, [(start, middle, speech_start, a), (middle, end, b, speech_end)])
    return out


def _silences(audio: np.ndarray, start: float, end: float) -> list[tuple[float, float]]:
    """Silent runs (seconds) inside [start, end] at least SILENCE_S long with MIN_PIECE_S on both sides."""
    hop = SAMPLE_RATE // 100
    lo, hi = int(start * SAMPLE_RATE), min(int(end * SAMPLE_RATE), len(audio))  # windows may run past the audio
    if hi - lo < int(2 * MIN_PIECE_S * SAMPLE_RATE):
        return []
    segment = np.asarray(audio[lo:hi], dtype=np.float64)
    frames = segment[: len(segment) // hop * hop].reshape(-1, hop)
    level = 10 * np.log10(np.mean(np.square(frames), axis=1) + 1e-12)
    quiet = level < np.percentile(level, 95) - 30.0
    runs, k = [], 0
    while k < len(quiet):
        if not quiet[k]:
            k += 1
            continue
        first = k
        while k < len(quiet) and quiet[k]:
            k += 1
        a, b = start + first / 100, start + k / 100
        if b - a >= SILENCE_S and a - start >= MIN_PIECE_S and end - b >= MIN_PIECE_S:
            runs.append((a, b))
    return runs


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
