"""CMU-MOSEI labelled transcripts: videos as context, CMU labelling rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import shared_path

from mtmm_es.core.errors import MtmmError
from mtmm_es.model.corpora.mosei_text import load_mosei_text
from mtmm_es.model.tasks import EMOTION_LABELS


def test_valid_transcripts_load_as_videos_with_cmu_labels():
    folder = shared_path("mosei")
    table = pd.read_csv(folder / "transcripts_valid.csv", keep_default_na=False)
    corpus = load_mosei_text(folder.parent, "valid")
    assert corpus.n_utterances() == len(table) == 1871
    assert len(corpus.videos) == table.video_id.nunique()
    sentiment = np.concatenate([v.targets["sentiment"] for v in corpus.videos])
    assert sentiment.mean() == pytest.approx((table.sentiment >= 0).mean())  # CMU: >= 0 is positive
    video = corpus.videos[0]
    rows = table[table.video_id == video.id].sort_values("start")
    assert video.texts == rows.text.tolist()
    emotions = video.targets["emotion"]
    assert emotions.shape == (len(rows), len(EMOTION_LABELS))
    no_emotion = (rows[["happy", "sad", "anger", "surprise", "disgust", "fear"]] <= 0).all(axis=1).to_numpy()
    assert np.array_equal(emotions[:, -1] == 1, no_emotion)


def test_the_test_fold_has_no_transcripts_here():
    with pytest.raises(MtmmError, match="train and valid only"):
        load_mosei_text(shared_path("mosei"), "test")
