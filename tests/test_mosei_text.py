"""CMU-MOSEI labelled transcripts: videos as context, CMU labelling rules."""

from __future__ import annotations

import json

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


def test_mtmm_evaluate_scores_the_default_model_on_the_transcripts(caplog):
    """Regression: `mtmm evaluate --dataset mosei-text` refused the default model ("acoustic features
    are missing"), though MOSEI's transcripts are text by design, as for predict --transcripts."""
    from mtmm_es.pipeline.analyze import default_checkpoint_dir
    from mtmm_es.pipeline.training import evaluate_checkpoint

    with caplog.at_level("WARNING", logger="mtmm_es"):
        metrics = evaluate_checkpoint(default_checkpoint_dir(), "mosei-text", shared_path("mosei"), "valid")
    assert "mosei-text valid has text only: the checkpoint's acoustic input is absent" in caplog.text
    assert metrics["sentiment_accuracy"] > 0.79 and metrics["emotion_mean_wacc"] > 0.635


def test_a_checkpoint_without_emotion_thresholds_is_scored_at_the_labels_own(tmp_path, caplog):
    """Regression (review): a checkpoint whose validation data had no emotion labels stores no
    thresholds; `mtmm evaluate` then chose them on the split it scored (the test split, if asked),
    reporting a WAcc its labels, at 0.5, do not reach."""
    import shutil

    from mtmm_es.pipeline.analyze import default_checkpoint_dir
    from mtmm_es.pipeline.training import evaluate_checkpoint

    shutil.copytree(default_checkpoint_dir(), tmp_path / "ckpt")
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps({**config, "thresholds": {}}))
    with caplog.at_level("WARNING", logger="mtmm_es"):
        metrics = evaluate_checkpoint(tmp_path / "ckpt", "mosei-text", shared_path("mosei"), "valid")
    assert "has no emotion thresholds (its validation data had no emotion labels): its labels use 0.5" in caplog.text
    assert metrics["emotion_mean_wacc"] < 0.56  # at 0.5; chosen on the scored split it read 0.638


@pytest.fixture(scope="module")
def valid_labels(tmp_path_factory) -> tuple[dict[tuple[str, str], dict], dict[str, list[dict]]]:
    """MOSEI validation: the gold rows by (video, segment), and the rows `mtmm predict --transcripts`
    writes at each operating point (predicted once for the tests below)."""
    import csv

    from mtmm_es.pipeline.training import predict_transcripts

    transcripts, folder = shared_path("mosei", "transcripts_valid.csv"), tmp_path_factory.mktemp("mosei")
    with transcripts.open() as handle:
        gold = {(r["video_id"], r["segment_id"]): r for r in csv.DictReader(handle)}
    predicted = {}
    for metric in ("f1", "wacc"):
        predict_transcripts(transcripts, folder / f"{metric}.csv", emotion_thresholds=metric)
        with (folder / f"{metric}.csv").open() as handle:
            predicted[metric] = list(csv.DictReader(handle))
    return gold, predicted


def test_the_shipped_wacc_labels_are_chosen_on_mosei_validation(valid_labels):
    """The default's `wacc` thresholds lie half way between the WAcc-optimal ones for MOSEI validation
    talk (the recipe's `emotion_thresholds_on`) and each emotion's share of MOSEI's training labels
    (`emotion_thresholds_prevalence_weight`), and the labels `mtmm predict --emotion-thresholds wacc`
    writes reach the issue's 63.5 there; the default `f1` labels do not (per utterance they are right
    more often: below)."""
    from mtmm_es.model.checkpoint import load_checkpoint
    from mtmm_es.model.metrics import choose_thresholds, weighted_accuracy
    from mtmm_es.model.recipes import load_recipe
    from mtmm_es.model.tasks import EMOTIONS
    from mtmm_es.pipeline.analyze import default_checkpoint_dir

    gold, predicted = valid_labels
    rows = predicted["wacc"]
    truth = np.array([[float(gold[(r["file"], r["index"])][e]) > 0 for e in EMOTIONS] for r in rows], int)
    scores = np.array([[float(r[f"p_{e}"]) for e in EMOTIONS] for r in rows])
    labelled = np.array([[e in r["emotions"].split(";") for e in EMOTIONS] for r in rows], int)
    shipped = load_checkpoint(default_checkpoint_dir()).thresholds["emotion_wacc"]
    train = pd.read_csv(shared_path("mosei", "transcripts_train.csv"))
    shares = [(train[e] > 0).mean() for e in EMOTIONS]
    w = load_recipe("default").extra["emotion_thresholds_prevalence_weight"]["wacc"]
    grid = choose_thresholds(truth, scores, "wacc")
    expected = [round((1 - w) * t + w * share, 4) for t, share in zip(grid, shares)]
    assert shipped == expected
    assert np.mean([weighted_accuracy(truth[:, k], labelled[:, k]) for k in range(6)]) >= 0.635
    precise = np.array([[e in r["emotions"].split(";") for e in EMOTIONS] for r in predicted["f1"]], int)
    assert np.mean([weighted_accuracy(truth[:, k], precise[:, k]) for k in range(6)]) < 0.6


def test_per_utterance_the_default_labels_are_right_more_often_than_the_wacc_ones(valid_labels):
    """Why `f1` is the default (README, MODEL_CARD.md): on MOSEI validation talk its top label is among
    the utterance's gold emotions ("none" when it has none) for 59 % of utterances (v6); at `wacc` fear
    and disgust come first so often that 33 % are."""
    from mtmm_es.model.tasks import EMOTIONS

    gold, predicted = valid_labels
    present = {key: {e for e in EMOTIONS if float(row[e]) > 0} or {"none"} for key, row in gold.items()}
    right = {
        metric: np.mean([r["emotions"].split(";")[0] in present[(r["file"], r["index"])] for r in rows])
        for metric, rows in predicted.items()
    }
    assert right["f1"] > 0.55 > 0.45 > right["wacc"]
