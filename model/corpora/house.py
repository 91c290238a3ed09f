"""House M.D. sarcasm scenes (DATA_DIR = shared/data/sarcasm_video): real TV video with faces, speech,
human transcripts and sarcasm labels, through the product's own extractors.

A scene is one video: its context lines, then the target utterance. labels.csv gives per line the
scene, key (`_c_N` context, `_u` target), speaker, text and, on the target, sarcasm (1/0); `clip` names
its media. The target clip is one utterance window (0 .. clip duration) with the transcript as its
text; a context clip holds the scene's filmed context lines, one window each, its duration shared out
in proportion to the lines' lengths in characters (no line timings are given). Context lines with no
clip are text only (acoustic and visual masked). Only scenes whose target has a clip are loaded (130
of 140). Labels: sarcasm on the target; no other task is annotated.

Splits (`train`, `val`, `all`) are by scene: `val` is fold 0 of `scene_folds` (5 seeded folds of the
scenes; `validation_scenes` names them without reading media). TV footage
shared for research; not redistributable.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np
import pandas as pd

from mtmm_es.core.errors import MtmmError
from mtmm_es.extractors.base import Segment

from ..data import Corpus, Video, utterance_alone
from .common import ExtractFunction, labelled
from .videos import extract_files

SPLITS = ("train", "val", "all")
FOLDS = 5
SPLIT_SEED = 0


def clip_duration(path: Path) -> float:
    """The clip's duration in seconds (container header), as `benchmarks/sarcasm_video.py` reads it."""
    try:
        with av.open(str(path)) as container:
            return container.duration / av.time_base
    except (av.error.FFmpegError, OSError, TypeError) as error:
        raise MtmmError(f"cannot read the clip's duration ({error})", path) from None


def shared_windows(texts: list[str], duration: float) -> list[Segment]:
    """Consecutive windows over 0 .. duration, one per line, sized by the lines' character counts."""
    lengths = np.array([max(len(t), 1) for t in texts], float)
    edges = np.concatenate([[0.0], np.cumsum(lengths) / lengths.sum() * duration])
    return [Segment(round(a, 3), round(b, 3), t) for a, b, t in zip(edges[:-1], edges[1:], texts)]


def read_scenes(data_dir: Path) -> dict[str, pd.DataFrame]:
    """labels.csv grouped by scene (table order), only scenes whose target utterance has a clip."""
    path = data_dir / "labels.csv"
    if not path.is_file():
        raise MtmmError("House labels.csv not found", path)
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"scene", "key", "role", "text", "sarcasm", "clip"} - set(table.columns)
    if missing:
        raise MtmmError(f"labels.csv lacks columns: {', '.join(sorted(missing))}", path)
    scenes = {}
    for scene, rows in table.groupby("scene", sort=True):
        target = rows[rows["role"] == "utterance"]
        if len(target) == 1 and target["clip"].iloc[0] and (data_dir / target["clip"].iloc[0]).is_file():
            scenes[scene] = pd.concat([rows[rows["role"] == "context"], target])
    return scenes


def scene_folds(video_ids: Sequence[str], folds: int = FOLDS, seed: int = SPLIT_SEED) -> list[list[str]]:
    """Scene video ids (`house-<scene>`) in `folds` disjoint seeded folds; fold 0 validates."""
    ids = sorted(video_ids)
    np.random.default_rng(seed).shuffle(ids)
    return [ids[k::folds] for k in range(folds)]


def validation_scenes(data_dir: str | Path) -> set[str]:
    """The scene names of the `val` split (no media read)."""
    ids = [f"house-{scene}" for scene in read_scenes(Path(data_dir))]
    return {i.removeprefix("house-") for i in scene_folds(ids)[0]}


def _scene_video(scene: str, rows: pd.DataFrame, extractions: dict) -> Video:
    """One scene: context then target, each line's features from the extraction of its clip."""
    texts = rows["text"].str.replace("\n", " ").tolist()
    modalities = {m: f for e in extractions.values() for m, f in e.features.items()}
    features = {m: np.zeros((len(rows), f.values.shape[1]), np.float32) for m, f in modalities.items()}
    masks = {m: np.zeros(len(rows), bool) for m in modalities}
    for clip in rows["clip"].unique():
        extraction = extractions.get(clip)
        if not clip or extraction is None:
            continue
        lines = np.flatnonzero((rows["clip"] == clip).to_numpy())
        for m, f in extraction.features.items():
            features[m][lines], masks[m][lines] = f.values, f.mask
    video = Video(f"house-{scene}", rows["key"].tolist(), features, masks, texts=texts)
    sarcasm = [
        float(v) if r == "utterance" and v in ("0", "1") else None for r, v in zip(rows["role"], rows["sarcasm"])
    ]
    video.targets["sarcasm"], video.weights["sarcasm"] = labelled(sarcasm)
    return video


def target_row(scene: Video) -> int:
    """The row of the scene's target utterance: its sarcasm-labelled line."""
    return int(np.flatnonzero(scene.weights["sarcasm"] > 0)[0])


def targets_alone(corpus: Corpus) -> Corpus:
    """Each scene's target utterance as a video of its own, as the product analyses a clip: without
    the lines before it."""
    videos = [utterance_alone(v, target_row(v)) for v in corpus.videos]
    return Corpus(f"{corpus.name}-alone", videos, corpus.spec, {**corpus.provenance, "targets_alone": True})


def load_house(data_dir: str | Path, split: str = "train", extract: ExtractFunction | None = None) -> Corpus:
    """The House scenes of `split` with text, acoustic and visual features from `extract(path, segments)`."""
    if split not in SPLITS:
        raise MtmmError(f"split must be one of {', '.join(SPLITS)}")
    data_dir = Path(data_dir)
    scenes = read_scenes(data_dir)
    items = []
    for rows in scenes.values():
        for clip in (c for c in rows["clip"].unique() if c):
            lines = rows[rows["clip"] == clip]
            texts = lines["text"].str.replace("\n", " ").tolist()
            items.append((clip, data_dir / clip, shared_windows(texts, clip_duration(data_dir / clip))))
    extractions = extract_files(items, extract)
    videos = [_scene_video(s, rows, extractions) for s, rows in scenes.items()]
    videos = [v for v, rows in zip(videos, scenes.values()) if rows["clip"].iloc[-1] in extractions]
    if not videos:
        raise MtmmError("no readable House clips", data_dir)
    corpus = Corpus("house-all", videos, next(iter(extractions.values())).spec()["modalities"])
    if split != "all":
        held = set(scene_folds([f"house-{scene}" for scene in scenes])[0])
        corpus = corpus.subset([v.id for v in videos if (v.id in held) == (split == "val")])
    corpus.name = f"house-{split}"
    corpus.provenance = {
        "dataset": "House M.D. sarcasm scenes",
        "split": split,
        "source": str(data_dir),
        "licence": "TV footage shared for research; not redistributable",
        "scenes": len(corpus.videos),
    }
    return corpus
