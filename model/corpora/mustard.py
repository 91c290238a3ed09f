"""Sarcasm corpora: MUStARD (MIT; 690 utterances with context) and MUStARD++ (1,202 utterances with
sarcasm, emotions and valence; no licence file). Text only here.

MUStARD++ re-annotates 688 of MUStARD's 690 scenes, so both share one split by scene key:
validation = MUStARD's fold-0 test scenes plus a seeded 20 % of the scenes only MUStARD++ has.
Context utterances are context only: labels sit on the target utterance.

MUStARD++ mappings: the explicit (expressed) emotion trains the emotion head, as MOSEI annotates
perceived emotion (see common.MUSTARDPP_EMOTIONS for the ten names onto six + none); valence 1-9
gives sentiment (above 5 positive, below 5 negative, 5 no binary label) and intensity
(valence - 5) * 0.75 on the -3..3 scale.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mtmm_es.core.errors import MtmmError

from ..data import Corpus
from .common import MUSTARDPP_EMOTIONS, emotion_target, text_video

SPLITS = ("train", "val", "all")
VALIDATION_SHARE = 0.2


def _mustard_files(data_dir: Path) -> tuple[dict, list]:
    data_path, folds_path = data_dir / "sarcasm_data.json", data_dir / "folds_5.json"
    for path in (data_path, folds_path):
        if not path.is_file():
            raise MtmmError("MUStARD file not found", path)
    return json.loads(data_path.read_text(encoding="utf-8")), json.loads(folds_path.read_text(encoding="utf-8"))


def validation_scenes(mustard_dir: Path, mustardpp_scenes: list[str] | None = None, seed: int = 0) -> set[str]:
    """The shared validation scene keys (see module docstring)."""
    _, folds = _mustard_files(mustard_dir)
    chosen = set(folds[0]["test"])
    if mustardpp_scenes:
        own = sorted(set(mustardpp_scenes) - set(_mustard_files(mustard_dir)[0]))
        np.random.default_rng(seed).shuffle(own)
        chosen |= set(own[: round(VALIDATION_SHARE * len(own))])
    return chosen


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise MtmmError(f"split must be one of {', '.join(SPLITS)}")


def _keep(scene: str, split: str, validation: set[str]) -> bool:
    return split == "all" or (scene in validation) == (split == "val")


def load_mustard(data_dir: str | Path, split: str = "train") -> Corpus:
    _check_split(split)
    data, _ = _mustard_files(Path(data_dir))
    validation = validation_scenes(Path(data_dir))
    videos = []
    for key, item in sorted(data.items()):
        if not _keep(key, split, validation):
            continue
        context = [str(c) for c in item["context"]]
        n = len(context) + 1
        videos.append(
            text_video(
                video_id=f"mustard-{key}",
                utterance_ids=[f"{key}_c{i:02d}" for i in range(len(context))] + [f"{key}_u"],
                texts=context + [str(item["utterance"])],
                labels={"sarcasm": [None] * (n - 1) + [float(item["sarcasm"])]},
            )
        )
    provenance = {
        "dataset": "MUStARD",
        "split": split,
        "source": str(data_dir),
        "licence": "MIT (soujanyaporia/MUStARD)",
    }
    return Corpus(f"mustard-{split}", videos, {}, provenance)


def _valence_sentiment(valence: float) -> float | None:
    return None if valence == 5 else float(valence > 5)


def load_mustardpp(data_dir: str | Path, split: str = "train", mustard_dir: str | Path | None = None) -> Corpus:
    """MUStARD++ scenes; `mustard_dir` (default: ../mustard next to it) fixes the shared split."""
    _check_split(split)
    path = Path(data_dir) / "mustard++_text.csv"
    if not path.is_file():
        raise MtmmError("MUStARD++ table not found", path)
    table = pd.read_csv(path, dtype={"SCENE": str, "KEY": str})
    mustard_dir = Path(mustard_dir) if mustard_dir else Path(data_dir).parent / "mustard"
    validation = validation_scenes(mustard_dir, table.SCENE.unique().tolist())
    videos = []
    for scene, rows in table.groupby("SCENE", sort=True):
        if not _keep(scene, split, validation):
            continue
        # the utterance: its KEY ends with _u; one scene's KEY is a label ("Disgust") instead, so a
        # row that is not context (_c_N) and has a sarcasm label is the utterance too
        target = (rows.KEY.str.endswith("_u") | (~rows.KEY.str.contains("_c_") & rows.Sarcasm.notna())).to_numpy()
        labels: dict[str, list] = {"sarcasm": [], "emotion": [], "sentiment": [], "intensity": []}
        for is_target, (_, row) in zip(target, rows.iterrows()):
            if not is_target:
                for values in labels.values():
                    values.append(None)
                continue
            labels["sarcasm"].append(float(row.Sarcasm) if pd.notna(row.Sarcasm) else None)
            emotion = str(row.Explicit_Emotion).strip().lower()
            labels["emotion"].append(
                emotion_target([MUSTARDPP_EMOTIONS[emotion]]) if emotion in MUSTARDPP_EMOTIONS else None
            )
            labels["sentiment"].append(_valence_sentiment(row.Valence) if pd.notna(row.Valence) else None)
            labels["intensity"].append((float(row.Valence) - 5) * 0.75 if pd.notna(row.Valence) else None)
        videos.append(
            text_video(
                video_id=f"mustardpp-{scene}",
                utterance_ids=[f"{scene}_u" if is_target else key for is_target, key in zip(target, rows.KEY)],
                texts=rows.SENTENCE.astype(str).str.replace("\n", " ").tolist(),
                labels=labels,
            )
        )
    provenance = {
        "dataset": "MUStARD++",
        "split": split,
        "source": str(path),
        "licence": "none stated (cfiltnlp/MUStARD_Plus_Plus)",
    }
    return Corpus(f"mustardpp-{split}", videos, {}, provenance)
