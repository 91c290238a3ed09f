"""The default recipe's helpers: single-task baselines per dataset, speech UAR with and without context."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from mtmm_es.core.errors import MtmmError
from mtmm_es.model.data import Corpus, Video
from mtmm_es.model.metrics import choose_thresholds
from mtmm_es.model.multi import (
    compare_setups,
    emotion_prevalence,
    label_prior,
    neutral_sentences,
    speech_report,
    thresholds_chosen_on,
    with_neutral_words,
)
from mtmm_es.model.train import TrainConfig, gather, train
from mtmm_es.model.weak import DatasetSplit, train_teacher, train_weakly_supervised

SPEC = {"text": {"dim": 4}, "acoustic": {"dim": 3}}


def speech_video(name: str, n: int, rng: np.random.Generator, modalities=("text", "acoustic")) -> Video:
    emotions = rng.integers(0, 7, n)
    acoustic = rng.normal(size=(n, 3)).astype(np.float32)
    acoustic[:, 0] += 2.0 * (emotions == 0)  # anger is louder
    video = Video(
        name,
        [f"{name}_{k}" for k in range(n)],
        {"text": rng.normal(size=(n, 4)).astype(np.float32), "acoustic": acoustic},
        {m: np.ones(n, bool) for m in ("text", "acoustic")},
    )
    if "acoustic" not in modalities:
        del video.features["acoustic"], video.masks["acoustic"]
    video.targets["emotion"] = np.eye(7, dtype=np.float32)[emotions]
    video.weights["emotion"] = np.ones(n, np.float32)
    video.targets["sentiment"] = (emotions == 3).astype(np.float32)  # weak sentiment, as the speech corpora have
    video.weights["sentiment"] = np.full(n, 0.5, np.float32)
    return video


def test_single_task_baselines_use_only_the_modalities_a_dataset_has():
    rng = np.random.default_rng(0)
    speech = DatasetSplit(
        "speech",
        Corpus("s-train", [speech_video(f"cremad-10{k}-0", 8, rng) for k in range(6)], SPEC),
        Corpus("s-val", [speech_video(f"cremad-20{k}-0", 8, rng) for k in range(3)], SPEC),
    )
    text_spec = {"text": SPEC["text"]}
    texts = DatasetSplit(
        "texts",
        Corpus("t-train", [speech_video(f"t{k}", 5, rng, ("text",)) for k in range(6)], text_spec),
        Corpus("t-val", [speech_video(f"v{k}", 5, rng, ("text",)) for k in range(3)], text_spec),
    )
    config = TrainConfig(tasks=("emotion",), modalities=("text", "acoustic"), context_norm=("acoustic",), epochs=1)
    report = compare_setups([speech, texts], config, log=None)["stl"]
    assert "emotion_mean_wacc" in report["texts"] and "emotion_mean_wacc" in report["speech"]
    assert {"cremad_uar", "cremad_uar_one_clip"} <= set(report["speech"])
    assert "sentiment_accuracy" in report["speech"]  # the weak-sentiment baseline has no UAR to give (it crashed)


def test_speech_report_scores_each_clip_alone_too():
    rng = np.random.default_rng(1)
    videos = [speech_video(f"ravdess-0{k}-0", 12, rng) for k in range(4)]
    corpus = Corpus("val", videos, SPEC)
    config = TrainConfig(
        tasks=("emotion",), modalities=("acoustic",), context_norm=("acoustic",), epochs=2, monitor="loss"
    )
    model = train(corpus, corpus, config, log=None).model
    report = speech_report(model, DatasetSplit("speech", corpus, corpus))
    assert set(report) == {"ravdess_uar", "ravdess_uar_one_clip"}
    assert all(0.0 <= v <= 1.0 for v in report.values())
    assert speech_report(model, DatasetSplit("speech", corpus, Corpus("none", [], SPEC))) == {}


def test_neutral_words_replace_a_share_of_the_clips_sentences_and_their_weak_sentiment():
    """An acted clip's label is its voice's: read with other neutral words it keeps its emotion, and
    its weak sentiment (from that emotion, which trains the text-only head) is no longer asked of
    the words. The arrays it was given (which other videos may share) are left as they were."""
    from mtmm_es.extractors.text import GloveTextExtractor

    text = GloveTextExtractor()
    rng = np.random.default_rng(2)
    own = "xqzv qqzx"  # no known word: masked off, so a swapped clip's mask visibly turns on
    videos = [speech_video(f"cremad-10{k}-0", 40, rng) for k in range(3)]
    for video in videos:
        video.texts = [own] * len(video)
        video.features["text"], video.masks["text"] = text.embed(video.texts)
    given = [(v.features["text"], v.masks["text"], v.weights["sentiment"]) for v in videos]
    snapshot = [tuple(a.copy() for a in arrays) for arrays in given]
    before = [(v.targets["emotion"].copy(), v.features["acoustic"].copy()) for v in videos]
    sentences = ["the state of American education", "xqzv"]  # the second has no known word: never used
    swapped = with_neutral_words(Corpus("s", videos, SPEC), sentences, 0.5, text, seed=0)
    rows = np.concatenate([np.array(v.texts) != own for v in swapped.videos])
    assert 0.35 < rows.mean() < 0.65
    neutral = text.embed(sentences[:1])[0][0]
    for video, (emotion, acoustic) in zip(swapped.videos, before):
        changed = np.array(video.texts) != own
        assert set(np.array(video.texts)[changed]) == {sentences[0]}
        np.testing.assert_array_equal(video.features["text"][changed], np.tile(neutral, (changed.sum(), 1)))
        np.testing.assert_array_equal(video.masks["text"], changed)
        np.testing.assert_array_equal(video.weights["sentiment"], np.where(changed, 0.0, 0.5))
        np.testing.assert_array_equal(video.targets["emotion"], emotion)
        np.testing.assert_array_equal(video.features["acoustic"], acoustic)
    for arrays, copies in zip(given, snapshot):
        for array, copy in zip(arrays, copies):
            np.testing.assert_array_equal(array, copy)
    assert (
        with_neutral_words(Corpus("s", videos, SPEC), sentences, 0.0, text, seed=0).videos[0].texts == videos[0].texts
    )


def test_neutral_sentences_are_mosei_training_utterances_without_an_emotion():
    from helpers import shared_path

    root = shared_path("mosei").parent
    sentences = neutral_sentences(root)
    table = pd.read_csv(root / "mosei" / "transcripts_train.csv", keep_default_na=False)
    none = table[["happy", "sad", "anger", "surprise", "disgust", "fear"]].eq(0).all(axis=1)
    assert len(sentences) == (none & table.text.str.strip().ne("")).sum() > 2000
    assert set(sentences) <= set(table.text[none])


def test_a_recipe_can_pool_some_speech_corpora_only(monkeypatch, tmp_path):
    from mtmm_es.core.errors import MtmmError
    from mtmm_es.model import multi

    rng = np.random.default_rng(2)
    loaded = []

    def fake_load_speech(data_root, name, acoustic, text, cache, seed=0, single_share=0.0):
        loaded.append(name)
        return Corpus(name, [speech_video(f"{name}-0{k}-0", 4, rng) for k in range(5)], SPEC)

    monkeypatch.setattr(multi, "load_speech", fake_load_speech)
    split = multi.load_speech_split(tmp_path, {"speech_corpora": ["cremad"]}, None, seed=0)
    assert set(loaded) == {"cremad"} and {v.id.split("-")[0] for v in split.train.videos} == {"cremad"}
    with pytest.raises(MtmmError, match="speech_corpora must name some of cremad, ravdess, tess"):
        multi.load_speech_split(tmp_path, {"speech_corpora": ["savee"]}, None, seed=0)


def test_a_teacher_reads_only_its_recipe_modalities():
    """teacher_modalities: the weak labels of a task come from a teacher of those inputs only (a
    voice-blind sarcasm teacher labels the acted speech by its sentence, not by its voice)."""
    rng = np.random.default_rng(2)
    speech = DatasetSplit(
        "speech",
        Corpus("s-train", [speech_video(f"cremad-10{k}-0", 8, rng) for k in range(4)], SPEC),
        Corpus("s-val", [speech_video(f"cremad-20{k}-0", 8, rng) for k in range(2)], SPEC),
    )
    config = TrainConfig(tasks=("emotion",), modalities=("text", "acoustic"), epochs=1)
    assert train_teacher("emotion", [speech], config).config.modalities == ("text", "acoustic")
    assert train_teacher("emotion", [speech], config, modalities=("text",)).config.modalities == ("text",)


def test_teacher_modalities_are_checked():
    rng = np.random.default_rng(3)
    texts = DatasetSplit(
        "texts",
        Corpus("t-train", [speech_video(f"t{k}", 5, rng, ("text",)) for k in range(4)], {"text": SPEC["text"]}),
        Corpus("t-val", [speech_video(f"v{k}", 5, rng, ("text",)) for k in range(2)], {"text": SPEC["text"]}),
    )
    config = TrainConfig(tasks=("emotion",), modalities=("text", "acoustic"), epochs=1)
    with pytest.raises(MtmmError, match="none of the modalities"):
        train_teacher("emotion", [texts], config, modalities=("acoustic",))
    with pytest.raises(MtmmError, match="names no task"):
        train_weakly_supervised([texts], config, 0.5, teacher_modalities={"sarcasms": ["text"]})


def test_the_trained_sarcasm_rate_counts_gold_labels_by_their_loss_weight():
    """The base rate P(sarcasm) was learnt at: gold labels only, as the loss weighs them (House
    targets alone count twice), so the checkpoint can restate P at another rate."""
    rng = np.random.default_rng(4)
    house = speech_video("h0", 4, rng, ("text",))
    house.targets["sarcasm"] = np.array([1, 1, 0, 0], np.float32)
    house.weights["sarcasm"] = np.array([1, 1, 1, 3], np.float32)
    talk = speech_video("m0", 3, rng, ("text",))  # no sarcasm labels: not counted
    assert label_prior([Corpus("c", [house, talk], {"text": SPEC["text"]})], "sarcasm") == pytest.approx(2 / 6)


def test_a_recipe_base_rate_is_checked_before_any_training(tmp_path):
    from mtmm_es.model.multi import run_default_recipe
    from mtmm_es.model.recipes import Recipe

    recipe = Recipe("r", "multi", TrainConfig(), extra={"sarcasm_base_rate": 10})  # a percentage, not a share
    with pytest.raises(MtmmError, match="sarcasm base rate 10 is not a share between 0 and 1"):
        run_default_recipe(recipe, tmp_path)  # no data there: the rate is refused first


def test_a_recipe_chooses_a_metric_s_thresholds_on_one_dataset():
    """`emotion_thresholds_on: {"wacc": "mosei"}`: the WAcc thresholds come from that validation set
    alone (the talk the product labels), the F1 ones stay those of the pooled validation sets."""
    rng = np.random.default_rng(5)
    loud = DatasetSplit(
        "loud",
        Corpus("l", [speech_video(f"l{k}", 8, rng) for k in range(6)], SPEC),
        Corpus("lv", [speech_video(f"lv{k}", 8, rng) for k in range(3)], SPEC),
    )
    calm = DatasetSplit(
        "calm",
        Corpus("c", [speech_video(f"c{k}", 8, rng) for k in range(6)], SPEC),
        Corpus("cv", [speech_video(f"cv{k}", 8, rng) for k in range(3)], SPEC),
    )
    for video in calm.val.videos:  # another label distribution: anger only when very loud, else none
        angry = video.features["acoustic"][:, 0] > 2.5
        video.targets["emotion"][:] = np.eye(7, dtype=np.float32)[np.where(angry, 0, 6)]
    config = TrainConfig(tasks=("emotion",), modalities=("text", "acoustic"), epochs=10)
    checkpoint, _ = train_weakly_supervised([loud, calm], config, 0.5)
    pooled = {k: list(v) for k, v in checkpoint.thresholds.items()}
    thresholds_chosen_on(checkpoint, [loud, calm], {"wacc": "calm"})
    truth, scores = gather(calm.val.videos, checkpoint.predict(calm.val.videos), "emotion")
    assert checkpoint.thresholds["emotion_wacc"] == choose_thresholds((truth >= 0.5).astype(int), scores, "wacc")
    assert checkpoint.thresholds["emotion_wacc"] != pooled["emotion_wacc"]
    assert checkpoint.thresholds["emotion_f1"] == pooled["emotion_f1"]
    with pytest.raises(MtmmError, match="'house' is not a dataset with emotion labels here"):
        thresholds_chosen_on(checkpoint, [loud, calm], {"wacc": "house"})
    # `emotion_thresholds_prevalence_weight: {"wacc": 0.5}`: half way to the training labels' shares
    grid = checkpoint.thresholds["emotion_wacc"]
    thresholds_chosen_on(checkpoint, [loud, calm], {"wacc": "calm"}, {"wacc": 0.5})
    shares = emotion_prevalence(calm.train)
    assert checkpoint.thresholds["emotion_wacc"] == [round((t + p) / 2, 4) for t, p in zip(grid, shares)]
    thresholds_chosen_on(checkpoint, [loud, calm], {"wacc": "calm"}, {"wacc": 0.25})
    assert checkpoint.thresholds["emotion_wacc"] == [round(0.75 * t + 0.25 * p, 4) for t, p in zip(grid, shares)]
    assert checkpoint.thresholds["emotion_f1"] == pooled["emotion_f1"]


def test_emotion_prevalence_counts_the_labelled_utterances():
    video = Video("v", ["a", "b", "c", "d"], {}, {})
    video.targets["emotion"] = np.eye(7, dtype=np.float32)[[0, 0, 3, 6]]
    video.weights["emotion"] = np.array([1, 1, 1, 0], np.float32)  # the "none" utterance is unlabelled
    unlabelled = Video("u", ["e"], {}, {})
    shares = emotion_prevalence(Corpus("c", [video, unlabelled], {}))
    assert shares == pytest.approx([2 / 3, 0, 0, 1 / 3, 0, 0])


def test_a_recipe_threshold_source_is_checked_before_any_training(tmp_path):
    from mtmm_es.model.multi import run_default_recipe
    from mtmm_es.model.recipes import Recipe

    for extra, message in (
        ({"emotion_thresholds_on": {"accuracy": "mosei"}}, "emotion_thresholds_on must map f1 or wacc"),
        ({"emotion_thresholds_on": {"wacc": "mosi"}}, "'mosi' is not a dataset of this recipe"),
        ({"datasets": ["mosei"], "emotion_thresholds_on": {"wacc": "speech"}}, "'speech' is not a dataset of"),
        ({"emotion_label_metric": "WAcc"}, "emotion_label_metric must be f1 or wacc, not 'WAcc'"),
        ({"emotion_thresholds_prevalence_weight": {"wacc": 0.5}}, "wacc needs emotion_thresholds_on to name"),
        (
            {"emotion_thresholds_on": {"f1": "mosei"}, "emotion_thresholds_prevalence_weight": {"f1": 0.5}},
            "must map wacc",
        ),
        (
            {"emotion_thresholds_on": {"wacc": "mosei"}, "emotion_thresholds_prevalence_weight": {"wacc": 50}},
            "50 is not a weight between 0 and 1",
        ),
        (
            {"emotion_thresholds_on": {"wacc": "mosei"}, "emotion_thresholds_prevalence_weight": {"wacc": True}},
            "True is not a weight between 0 and 1",
        ),
    ):
        with pytest.raises(MtmmError, match=message):
            run_default_recipe(Recipe("r", "multi", TrainConfig(), extra=extra), tmp_path)  # no data there


TINY = {
    "tasks": ["sarcasm"],
    "modalities": ["text"],
    "hidden": 8,
    "dim": 8,
    "shared": [8],
    "monitor": "loss",
    "seed": 1,
}


def test_command_line_training_options_reach_a_multi_dataset_recipe(tmp_path) -> None:
    """Regression: `mtmm train --recipe default --epochs 1 --lr ...` ran the recipe's own options
    without a word; --folds and --val-fraction, which its datasets' own splits replace, ran too."""
    import json

    from helpers import shared_path

    from mtmm_es.pipeline.training import train_and_save

    recipe = tmp_path / "tiny.json"
    recipe.write_text(json.dumps({"name": "tiny", "dataset": "multi", "datasets": ["mustard"], "train": TINY}))
    data = shared_path()
    with pytest.raises(MtmmError, match="--folds and --val-fraction do not apply to a multi-dataset recipe"):
        train_and_save(tmp_path / "refused", data, recipe=str(recipe), folds=3)
    train_and_save(tmp_path / "run", data, recipe=str(recipe), overrides={"epochs": 1, "lr": 0.003, "batch_size": 4})
    config = json.loads((tmp_path / "run" / "config.json").read_text())["training"]["config"]
    assert (config["epochs"], config["lr"], config["batch_size"]) == (1, 0.003, 4)


def test_a_recipe_s_text_settings_reach_a_transcript_corpus(tmp_path, caplog) -> None:
    """Regression: a recipe on MUStARD asking for SIF weights trained on plain means, and its
    checkpoint was then refused by `mtmm evaluate --dataset mustard` ("text config differ")."""
    import json

    from helpers import shared_path

    from mtmm_es.pipeline.training import evaluate_checkpoint, train_and_save

    recipe = tmp_path / "sif.json"
    train = {**TINY, "epochs": 1}
    recipe.write_text(json.dumps({"name": "sif", "dataset": "mustard", "text": {"weighting": "sif"}, "train": train}))
    train_and_save(tmp_path / "run", shared_path("mustard"), recipe=str(recipe))
    spec = json.loads((tmp_path / "run" / "config.json").read_text())["feature_spec"]
    assert spec["text"]["config"]["weighting"] == "sif"
    with caplog.at_level("WARNING", logger="mtmm_es"):
        assert "sarcasm_accuracy" in evaluate_checkpoint(tmp_path / "run", "mustard", shared_path("mustard"), "val")
    assert "run chose its epochs on mustard's val split here" in caplog.text  # it validated there
    caplog.clear()
    with caplog.at_level("WARNING", logger="mtmm_es"):  # review: a checkpoint without emotions was told it had
        scored = evaluate_checkpoint(tmp_path / "run", "mustardpp", shared_path("mustardpp"), "val")  # no thresholds
    assert "sarcasm_auc" in scored and not any(k.startswith("emotion") for k in scored)
    assert "emotion thresholds" not in caplog.text


@pytest.mark.parametrize(
    "recipe, message",
    [
        ({"dataset": "multi", "memebers": 3}, "unknown recipe keys for a multi-dataset recipe: memebers"),
        ({"dataset": "mustard", "members": 3}, "unknown recipe keys for a one-dataset recipe: members"),
        ({"dataset": "multi", "members": 0}, "members must be a whole number of at least 1, not 0"),
        ({"dataset": "multi", "weak_weight": "high"}, "weak_weight must be a loss weight of 0 or more, not 'high'"),
        ({"dataset": "multi", "task_modalities": {"sarcasm": ["acoustic"]}}, "routes sarcasm through acoustic"),
        ({"dataset": "multi", "speech_neutral_words": 1.5}, "speech_neutral_words must be a share of the clips"),
        ({"dataset": "multi", "speech_single_share": "half"}, "speech_single_share must be a share of the clips"),
        # user test: each failed mid-run ("unexpected TypeError"), blamed the videos, or was dropped silently
        ({"dataset": "videos", "acoustic": {"extracter": "covarep"}}, "unknown acoustic settings: extracter (known:"),
        ({"dataset": "videos", "acoustic": {"level_db": "loud"}}, "acoustic: level_db must be a number, not 'loud'"),
        ({"dataset": "videos", "acoustic": {"extractor": "mfcc"}}, "acoustic: unknown acoustic extractor 'mfcc'"),
        (
            {"dataset": "videos", "text": {"weighting": "tfidf"}},
            "text: weighting must be one of mean, sif, not 'tfidf'",
        ),
        ({"dataset": "videos", "text": {"vectors": "no/such.txt"}}, "text: vectors file 'no/such.txt' not found"),
        ({"dataset": "videos", "train": {"video_norm": ["audio"]}}, "train: unknown video_norm: audio (known:"),
        ({"dataset": "videos", "train": []}, "train: training options are an object such as"),
        ({"dataset": "videos", "train": {"tasks": "sentiment"}}, "train: tasks is a list such as ['sentiment'], not"),
        ({"dataset": "videos", "train": {"modalities": ["text", "face"]}}, "train: unknown modalities: face (known:"),
    ],
)
def test_a_recipe_s_unknown_or_bad_settings_are_refused_when_it_is_read(tmp_path, recipe, message) -> None:
    """Regression: a misspelt key (or one the recipe's kind never reads) was ignored without a word,
    and bad multi-dataset settings failed after the teacher's training, or wrote a checkpoint that
    could not be loaded."""
    import json

    from mtmm_es.model.recipes import load_recipe

    path = tmp_path / "recipe.json"
    path.write_text(json.dumps({"name": "r", "train": TINY, **recipe}))
    with pytest.raises(MtmmError, match=re.escape(f"{path}: ") + ".*" + re.escape(message)):
        load_recipe(str(path))


def test_a_recipe_s_name_defaults_to_its_file_s_and_a_missing_key_is_named(tmp_path) -> None:
    """Regression: a recipe without "name" failed as "invalid recipe: 'name'" (a bare KeyError), as
    did one without "train" or "dataset"."""
    import json

    from mtmm_es.model.recipes import load_recipe

    path = tmp_path / "rv.json"
    path.write_text(json.dumps({"dataset": "mustard", "train": TINY}))
    assert load_recipe(str(path)).name == "rv"
    path.write_text(json.dumps({"dataset": "mustard"}))
    with pytest.raises(MtmmError, match=f"^{re.escape(str(path))}: invalid recipe: missing key: train$"):
        load_recipe(str(path))
    path.write_text(json.dumps({"name": "rv"}))
    with pytest.raises(MtmmError, match="invalid recipe: missing keys: dataset, train$"):
        load_recipe(str(path))


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"modalities": ("text",)}, "routes sarcasm through acoustic"),
        ({"monitor": "sentimnt_accuracy"}, "monitor 'sentimnt_accuracy' is not measured"),
        ({"tasks": ("intensity", "emotion")}, "train it with sentiment"),
    ],
)
def test_options_over_a_multi_dataset_recipe_are_checked_before_any_work(tmp_path, overrides, message) -> None:
    """Regression (review): options given with the default recipe were applied after its checks ran:
    --modalities text kept sarcasm routed through the voice (a checkpoint that would not load)."""
    from mtmm_es.pipeline.training import train_and_save

    with pytest.raises(MtmmError, match=re.escape(message)):
        train_and_save(tmp_path / "run", tmp_path, recipe="default", overrides=overrides)  # no data: checks first
    assert not (tmp_path / "run").exists()


def test_a_recipe_s_vectors_may_be_under_the_home_folder(tmp_path, monkeypatch) -> None:
    """Review: the recipe check refused "~/vectors.txt", which the vectors loader reads."""
    import json

    from mtmm_es.model.recipes import load_recipe

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "vectors.txt").write_text("hello 0.1 0.2\n")
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps({"dataset": "videos", "text": {"vectors": "~/vectors.txt"}, "train": TINY}))
    assert load_recipe(str(path)).extra["text"] == {"vectors": "~/vectors.txt"}
