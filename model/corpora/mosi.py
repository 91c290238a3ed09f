"""CMU-MOSI utterance-level features (Poria et al. 2017 release): text 100-d CNN, audio 73-d openSMILE,
video 100-d 3D-CNN; train labelled (binary + continuous sentiment), test unlabelled (held out)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mtmm_es.core.errors import MtmmError

from ..data import Corpus, Video

SOURCE_MODALITIES = {"text": "text", "acoustic": "audio", "visual": "video"}
EXTRACTORS = {"text": "poria2017-text-cnn", "acoustic": "poria2017-opensmile", "visual": "poria2017-3d-cnn"}
SPLITS = ("train", "test")


def mosi_spec(dims: dict[str, int]) -> dict[str, dict]:
    return {
        m: {
            "extractor": EXTRACTORS[m],
            "version": "mosi-release",
            "config": {"dataset": "CMU-MOSI", "release": "soujanyaporia/multimodal-sentiment-analysis"},
            "dim": dim,
            "feature_names": [f"{m}_{i}" for i in range(dim)],
        }
        for m, dim in dims.items()
    }


def load_mosi(data_dir: str | Path, split: str = "train") -> Corpus:
    """Videos of the split, utterances ordered by segment; targets only where the split is labelled."""
    data_dir = Path(data_dir)
    if split not in SPLITS:
        raise MtmmError(f"MOSI split must be one of {', '.join(SPLITS)}")
    table_path = data_dir / f"{split}_utterances.csv"
    if not table_path.is_file():
        raise MtmmError("MOSI utterance table not found", table_path)
    table = pd.read_csv(table_path)
    arrays = {}
    for modality, source in SOURCE_MODALITIES.items():
        path = data_dir / f"{split}_{source}.npy"
        if not path.is_file():
            raise MtmmError("MOSI feature matrix not found", path)
        arrays[modality] = np.load(path, allow_pickle=False).astype(np.float32)
        if len(arrays[modality]) != len(table):
            raise MtmmError(f"{len(arrays[modality])} rows but {len(table)} utterances in {table_path.name}", path)
    labelled = "sentiment" in table.columns
    videos = []
    for video_id, rows in table.groupby("video_id", sort=True):
        rows = rows.sort_values("segment")
        index = rows.index.to_numpy()
        n = len(rows)
        video = Video(
            id=str(video_id),
            utterance_ids=rows.utterance_id.astype(str).tolist(),
            features={m: arrays[m][index] for m in SOURCE_MODALITIES},
            masks={m: np.ones(n, bool) for m in SOURCE_MODALITIES},
            texts=rows.text.fillna("").astype(str).tolist(),
        )
        if labelled:
            score = rows.sentiment.to_numpy(np.float32)
            video.targets = {"sentiment": (score >= 0).astype(np.float32), "intensity": score}
            video.weights = {"sentiment": np.ones(n, np.float32), "intensity": np.ones(n, np.float32)}
        videos.append(video)
    spec = mosi_spec({m: a.shape[1] for m, a in arrays.items()})
    provenance = {"dataset": "CMU-MOSI", "split": split, "source": str(data_dir), "licence": "MIT (feature release)"}
    return Corpus(f"mosi-{split}", videos, spec, provenance)
