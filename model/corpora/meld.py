"""MELD (declare-lab, GPL-3.0): Friends dialogues with emotion and sentiment per utterance; text only here.

A dialogue is the context unit. Emotions: joy -> happy, sadness -> sad, neutral -> none, the rest
keep their names. Sentiment: positive / negative train the binary head; neutral utterances carry no
binary sentiment label (their "none" emotion still trains the emotion head): a neutral class has no
place on a positive/negative axis, and MOSI's ">= 0 is positive" rule would turn MELD's 47 % neutral
utterances into positives.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mtmm_es.core.errors import MtmmError

from ..data import Corpus
from .common import MELD_EMOTIONS, emotion_target, text_video

SPLITS = {"train": "train_sent_emo.csv", "dev": "dev_sent_emo.csv", "test": "test_sent_emo.csv"}
SENTIMENT = {"positive": 1.0, "negative": 0.0, "neutral": None}


def load_meld(data_dir: str | Path, split: str = "train") -> Corpus:
    if split not in SPLITS:
        raise MtmmError(f"MELD split must be one of {', '.join(SPLITS)}")
    path = Path(data_dir) / SPLITS[split]
    if not path.is_file():
        raise MtmmError("MELD table not found", path)
    table = pd.read_csv(path)
    videos = []
    for dialogue, rows in table.groupby("Dialogue_ID", sort=True):
        rows = rows.sort_values("Utterance_ID")
        videos.append(
            text_video(
                video_id=f"meld-{split}-{dialogue}",
                utterance_ids=[f"meld-{split}-{dialogue}-{u}" for u in rows.Utterance_ID],
                texts=rows.Utterance.astype(str).tolist(),
                labels={
                    "sentiment": [SENTIMENT[s] for s in rows.Sentiment],
                    "emotion": [emotion_target([MELD_EMOTIONS[e]]) for e in rows.Emotion],
                },
            )
        )
    provenance = {"dataset": "MELD", "split": split, "source": str(path), "licence": "GPL-3.0 (declare-lab/MELD)"}
    return Corpus(f"meld-{split}", videos, {}, provenance)
