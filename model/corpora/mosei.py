"""CMU-MOSEI: labels from the SDK's CMU_MOSEI_Labels.csd and the standard folds; features from the SDK
computational sequences found next to it (word-level GloVe vectors, COVAREP, FACET: averaged over
each labelled segment, as the seed paper does), or, without them, from the raw layout: media files
named after the video ids in DATA_DIR/videos/, run through our extractors with the labelled
segments as utterance windows (speech recognised within each window).

Labels: sentiment >= 0 is positive (MOSI's rule), the score is the intensity; an emotion is present
when its intensity > 0, and "none" when no emotion is (the paper's rule). Research use only (CMU).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mtmm_es.core.errors import MtmmError
from mtmm_es.extractors.base import Segment

from ..csd import ComputationalSequence
from ..data import Corpus, Video
from .common import ExtractFunction, emotion_target, labelled
from .videos import extract_files

LABELS = "CMU_MOSEI_Labels.csd"
FOLDS = "standard_folds.json"
CSD_EMOTIONS = ("happy", "sad", "anger", "surprise", "disgust", "fear")  # SDK column order after sentiment
SDK_FEATURES = {
    "text": "CMU_MOSEI_TimestampedWordVectors.csd",
    "acoustic": "CMU_MOSEI_COVAREP.csd",
    "visual": "CMU_MOSEI_VisualFacet42.csd",
}
SPLITS = ("train", "valid", "test")


def segment_targets(rows: np.ndarray) -> dict[str, list]:
    """Task values per segment from SDK label rows [sentiment, happy, sad, anger, surprise, disgust, fear]."""
    return {
        "sentiment": [float(r[0] >= 0) for r in rows],
        "intensity": [float(r[0]) for r in rows],
        "emotion": [emotion_target([CSD_EMOTIONS[k] for k in range(6) if r[1 + k] > 0]) for r in rows],
    }


def average_in_intervals(sequence, intervals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the feature rows whose centre falls in each interval; mask false where none does."""
    features = np.nan_to_num(np.asarray(sequence.features, np.float32), posinf=0.0, neginf=0.0)
    centres = sequence.intervals.mean(axis=1)
    values = np.zeros((len(intervals), features.shape[1]), np.float32)
    mask = np.zeros(len(intervals), bool)
    for i, (start, end) in enumerate(intervals):
        inside = (centres >= start) & (centres <= end)
        if inside.any():
            values[i], mask[i] = features[inside].mean(0), True
    return values, mask


def _segment_ids(table: pd.DataFrame | None, video_id: str, intervals: np.ndarray) -> list[str]:
    """Segment ids from labels.csv by matching intervals; time-order indices otherwise."""
    if table is not None and video_id in table.index:
        rows = table.loc[[video_id]]
        ids = []
        for start, end in intervals:
            match = rows[(np.abs(rows.start - start) < 1e-3) & (np.abs(rows.end - end) < 1e-3)]
            ids.append(str(int(match.segment_id.iloc[0])) if len(match) else None)
        if all(ids):
            return ids
    return [str(k) for k in range(len(intervals))]


def _sdk_features(videos: list[Video], windows: dict[str, np.ndarray], files: dict[str, Path]) -> dict[str, dict]:
    """Fill features from SDK sequences (segment means); videos absent from a file are masked."""
    spec = {}
    for modality, path in files.items():
        with ComputationalSequence(path) as sequence:
            dim = sequence.dim
            spec[modality] = {
                "extractor": f"cmu-sdk:{path.stem}",
                "version": "sdk",
                "config": {"file": path.name, "pooling": "segment mean"},
                "dim": dim,
                "feature_names": [f"{modality}_{i}" for i in range(dim)],
            }
            for video in videos:
                if video.id in sequence:
                    values, mask = average_in_intervals(sequence[video.id], windows[video.id])
                else:
                    values, mask = np.zeros((len(video), dim), np.float32), np.zeros(len(video), bool)
                video.features[modality], video.masks[modality] = values, mask
    return spec


def _extracted_features(
    videos: list[Video], windows: dict[str, np.ndarray], media_dir: Path, extract: ExtractFunction | None
) -> tuple[list[Video], dict[str, dict]]:
    """Features from `extract` over the raw media, one utterance per labelled segment."""

    media = {p.stem: p for p in media_dir.iterdir() if p.is_file()}
    items = [
        (v.id, media[v.id], [Segment(float(s), float(e)) for s, e in windows[v.id]]) for v in videos if v.id in media
    ]
    extractions = extract_files(items, extract)
    kept = []
    for video in videos:
        if video.id in extractions:
            extraction = extractions[video.id]
            video.features = {m: f.values for m, f in extraction.features.items()}
            video.masks = {m: f.mask for m, f in extraction.features.items()}
            video.texts = [u.text for u in extraction.utterances]
            kept.append(video)
    spec = next(iter(extractions.values())).spec()["modalities"] if extractions else {}
    return kept, spec


def load_mosei(data_dir: str | Path, split: str = "train", extract: ExtractFunction | None = None) -> Corpus:
    data_dir = Path(data_dir)
    if split not in SPLITS:
        raise MtmmError(f"MOSEI split must be one of {', '.join(SPLITS)}")
    for name in (LABELS, FOLDS):
        if not (data_dir / name).is_file():
            raise MtmmError(f"MOSEI {name} not found", data_dir / name)
    fold = set(json.loads((data_dir / FOLDS).read_text())[split])
    table = pd.read_csv(data_dir / "labels.csv").set_index("video_id") if (data_dir / "labels.csv").is_file() else None
    videos: list[Video] = []
    windows: dict[str, np.ndarray] = {}
    with ComputationalSequence(data_dir / LABELS) as labels:
        for video_id in sorted(set(labels.ids()) & fold):
            entry = labels[video_id]
            order = np.argsort(entry.intervals[:, 0], kind="stable")
            intervals, rows = entry.intervals[order], np.asarray(entry.features, np.float32)[order]
            video = Video(video_id, [f"{video_id}[{s}]" for s in _segment_ids(table, video_id, intervals)], {}, {})
            for task, values in segment_targets(rows).items():
                video.targets[task], video.weights[task] = labelled(values, 7 if task == "emotion" else 1)
            windows[video_id] = intervals
            videos.append(video)
    feature_files = {m: data_dir / f for m, f in SDK_FEATURES.items() if (data_dir / f).is_file()}
    if feature_files:
        spec = _sdk_features(videos, windows, feature_files)
    elif (data_dir / "videos").is_dir():
        videos, spec = _extracted_features(videos, windows, data_dir / "videos", extract)
    else:
        spec = {}
    provenance = {"dataset": "CMU-MOSEI", "split": split, "source": str(data_dir), "licence": "CMU research use"}
    return Corpus(f"mosei-{split}", videos, spec, provenance)
