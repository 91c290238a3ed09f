"""Training on real MOSI features, checkpoints, spec checks, pickles refused, CLI train/predict."""

from __future__ import annotations

import copy
import json
import pickle
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import shared_path

from mtmm_es.core.errors import MtmmError
from mtmm_es.core.labels import CSV_COLUMNS
from mtmm_es.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from mtmm_es.model.corpora.mosi import load_mosi
from mtmm_es.model.data import check_spec
from mtmm_es.model.train import TrainConfig, evaluate, predict, train

FAST = TrainConfig(tasks=("sentiment", "intensity"), hidden=16, dim=16, shared=(16,), epochs=40, patience=40)


@pytest.fixture(scope="module")
def mosi():
    return load_mosi(shared_path("mosi"))


@pytest.fixture(scope="module")
def small(mosi):
    return mosi.subset([v.id for v in mosi.videos[:6]], "mosi-small")


def test_mosi_loads_as_ordered_videos(mosi) -> None:
    assert len(mosi.videos) == 62 and mosi.n_utterances() == 1447
    assert {m: s["dim"] for m, s in mosi.spec.items()} == {"text": 100, "acoustic": 73, "visual": 100}
    assert mosi.tasks() == ("sentiment", "intensity")
    first = mosi.videos[0]
    assert [int(u.rsplit("_", 1)[1]) for u in first.utterance_ids] == sorted(
        int(u.rsplit("_", 1)[1]) for u in first.utterance_ids
    )
    assert set(np.unique(first.targets["sentiment"])) <= {0.0, 1.0}


def test_mosi_test_split_has_no_labels() -> None:
    test = load_mosi(shared_path("mosi"), "test")
    assert test.n_utterances() == 752 and test.tasks() == ()


@pytest.mark.slow
def test_short_run_overfits_a_small_real_subset(small) -> None:
    config = replace(
        FAST, modalities=("acoustic",), hidden=32, dim=32, dropout=0.0, lr=0.01, epochs=60, patience=60, monitor="loss"
    )
    result = train(small, small, config, log=None)
    metrics, _ = evaluate(result.model, small)
    assert metrics["sentiment_accuracy"] >= 0.95  # audio alone is near chance on held-out videos
    assert result.history[-1]["loss"] < result.history[0]["loss"] / 3


@pytest.mark.slow
def test_training_is_deterministic(small) -> None:
    config = replace(FAST, epochs=3, patience=3)
    first, second = train(small, small, config, log=None), train(small, small, config, log=None)
    for name, tensor in first.model.state_dict().items():
        torch.testing.assert_close(tensor, second.model.state_dict()[name], rtol=0, atol=0)


def test_checkpoint_round_trip(tmp_path: Path, small) -> None:
    result = train(small, small, replace(FAST, epochs=2), log=None)
    checkpoint = Checkpoint([result.model], small.spec, {"emotion_f1": [0.4] * 6}, {"corpus": small.name})
    checkpoint.sarcasm_base_rate = {"trained": 0.52, "reported": 0.1}
    save_checkpoint(checkpoint, tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "model.safetensors"]
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert loaded.thresholds == {"emotion_f1": [0.4] * 6} and loaded.feature_spec == small.spec
    assert loaded.sarcasm_rates == (0.52, 0.1)
    before, after = predict(result.model, small.videos), loaded.predict(small.videos)
    for a, b in zip(before, after):
        np.testing.assert_allclose(a["sentiment"], b["sentiment"], rtol=1e-6)
        np.testing.assert_allclose(a["intensity"], b["intensity"], rtol=1e-6)


def test_spec_mismatch_is_refused(small) -> None:
    other = json.loads(json.dumps(small.spec))
    other["acoustic"]["dim"] = 88
    other["acoustic"]["extractor"] = "egemaps-opensmile"
    with pytest.raises(MtmmError, match="acoustic extractor is 'egemaps-opensmile', trained with 'poria2017"):
        check_spec(small.spec, other, "input")
    del other["visual"]
    with pytest.raises(MtmmError, match="visual features are missing"):
        check_spec(small.spec, other, "input")


class Payload:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.mark.parametrize("writer", ["pickle", "torch"])
def test_pickled_checkpoint_is_refused_without_running_it(tmp_path: Path, writer: str) -> None:
    marker = tmp_path / "payload-ran"
    evil = tmp_path / "model.pt"
    if writer == "pickle":
        evil.write_bytes(pickle.dumps({"state": Payload(str(marker))}))
    else:
        torch.save({"state": Payload(str(marker))}, evil)
    with pytest.raises(MtmmError, match="only checkpoint folders with safetensors"):
        load_checkpoint(evil)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(evil.read_bytes())
    (folder / "config.json").write_text(
        '{"format": "mtmm-es/checkpoint", "members": 1, "model": {}, "feature_spec": {"text": {"extractor": "glove"}}}'
    )
    with pytest.raises(MtmmError, match="unreadable checkpoint"):
        load_checkpoint(folder)
    assert not marker.exists()


@pytest.mark.slow
def test_cli_train_and_predict_on_mosi(tmp_path: Path) -> None:
    data = shared_path("mosi")
    out = tmp_path / "ckpt"
    train_cmd = [
        sys.executable,
        "-m",
        "mtmm_es",
        "train",
        "--dataset",
        "mosi",
        "--data-dir",
        str(data),
        "--out",
        str(out),
        "--epochs",
        "2",
        "--modalities",
        "text,acoustic",
        "--seed",
        "1",
    ]
    result = subprocess.run(train_cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "sentiment_accuracy" in result.stdout and (out / "report.json").is_file()
    preds = tmp_path / "preds.csv"
    predict_cmd = [
        sys.executable,
        "-m",
        "mtmm_es",
        "predict",
        "--dataset",
        "mosi",
        "--data-dir",
        str(data),
        "--split",
        "test",
        "--checkpoint",
        str(out),
        "--out",
        str(preds),
    ]
    result = subprocess.run(predict_cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = preds.read_text().splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS) and len(lines) == 753  # the one label CSV layout
    evaluate_cmd = [
        sys.executable,
        "-m",
        "mtmm_es",
        "evaluate",
        "--dataset",
        "mosi",
        "--data-dir",
        str(data),
        "--split",
        "test",
        "--checkpoint",
        str(out),
    ]
    result = subprocess.run(evaluate_cmd, capture_output=True, text=True)
    assert result.returncode == 2 and "held out" in result.stderr


def test_evaluate_and_predict_read_the_word_vectors_the_checkpoint_was_trained_on(tmp_path: Path, capsys) -> None:
    """Regression: `mtmm evaluate` had no --text-vectors, so a checkpoint trained on the user's own
    word vectors (a recipe's text.vectors) could not be scored ("pass them with --text-vectors")."""
    import mtmm_es.cli as cli

    rng = np.random.default_rng(0)
    words = "i loved this movie the ending was terrible great fun boring and awful".split()
    vectors, other = tmp_path / "mine.txt", tmp_path / "other.txt"
    for path in (vectors, other):
        rows = [f"{word} " + " ".join(f"{x:.4f}" for x in rng.normal(size=4)) for word in words]
        path.write_text(f"{len(words)} 4\n" + "\n".join(rows) + "\n")
    header = "video_id,segment_id,text,start,sentiment,happy,sad,anger,surprise,disgust,fear\n"
    said = [("i loved this movie", 2), ("the ending was terrible", -2), ("great fun", 1), ("boring and awful", -1)]
    for split, videos in (("train", "abcd"), ("valid", "ef")):
        rows = [f"{v},{i},{text},{i},{score},0,0,0,0,0,0" for v in videos for i, (text, score) in enumerate(said)]
        (tmp_path / f"transcripts_{split}.csv").write_text(header + "\n".join(rows) + "\n")
    recipe, checkpoint = tmp_path / "recipe.json", tmp_path / "ckpt"
    train = {"tasks": ["sentiment"], "modalities": ["text"], "epochs": 2, "hidden": 8, "dim": 8, "shared": [8]}
    recipe.write_text(
        json.dumps({"name": "own", "dataset": "mosei-text", "text": {"vectors": str(vectors)}, "train": train})
    )
    assert cli.main(["train", "--recipe", str(recipe), "--data-dir", str(tmp_path), "--out", str(checkpoint)]) == 0
    trained = json.loads((checkpoint / "report.json").read_text())["validation"]
    capsys.readouterr()
    evaluate = ["evaluate", "--dataset", "mosei-text", "--data-dir", str(tmp_path), "--checkpoint", str(checkpoint)]
    assert cli.main([*evaluate, "--text-vectors", str(vectors)]) == 0
    scored = "".join(f"  {key:28s} {value:.4f}\n" for key, value in sorted(trained.items()) if key != "loss")
    assert capsys.readouterr().out == f"mosei-text valid:\n{scored}"  # the figures of the training report
    assert cli.main([*evaluate, "--text-vectors", str(other)]) == 2
    assert "text config differ from training" in capsys.readouterr().err
    predict = ["predict", "--checkpoint", str(checkpoint), "--text-vectors", str(vectors), "--out"]  # the same (review)
    transcripts = ["--transcripts", str(tmp_path / "transcripts_valid.csv")]
    assert cli.main([*predict, str(tmp_path / "t.csv"), *transcripts]) == 0
    assert (
        cli.main(
            [
                *predict,
                str(tmp_path / "d.csv"),
                "--dataset",
                "mosei-text",
                "--data-dir",
                str(tmp_path),
                "--split",
                "valid",
            ]
        )
        == 0
    )
    rows = [(tmp_path / name).read_text().splitlines() for name in ("t.csv", "d.csv")]
    assert len(rows[0]) == len(rows[1]) == 9 and rows[0][1:] == rows[1][1:]
    capsys.readouterr()
    for command in (evaluate, [*predict[:3], "--out", str(tmp_path / "n.csv"), *transcripts]):
        assert cli.main(command) == 2  # without --text-vectors (user test: the error named no file)
        assert capsys.readouterr().err.startswith(f"error: {checkpoint}: the checkpoint was trained on word vectors")


def test_reports_are_strict_json(tmp_path: Path) -> None:
    """Regression: a metric undefined on constant predictions (Pearson r) was written as a bare NaN
    into report.json and config.json, which strict JSON parsers reject."""
    from mtmm_es.core.files import atomic_write_json

    atomic_write_json(tmp_path / "report.json", {"intensity_pearson": float("nan"), "history": [1.5, float("inf")]})
    text = (tmp_path / "report.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"intensity_pearson": None, "history": [1.5, None]}


def test_under_torchrun_only_the_first_process_writes_and_reports(tmp_path: Path, monkeypatch) -> None:
    """Regression: the default recipe's path (`_train_multi`) wrote the checkpoint and returned the
    report in every torchrun process, so the CLI printed it once per process."""
    from mtmm_es.pipeline import training

    monkeypatch.setattr(training, "distributed_rank", lambda: (1, 2))
    assert training._written(None, {"validation": {}}, tmp_path / "out") is None
    assert not (tmp_path / "out").exists()


def test_a_checkpoint_names_only_the_features_its_model_reads(tmp_path: Path, small) -> None:
    """Regression: a text-only model trained on MOSI (text, acoustic, visual) saved all three in its
    feature spec, so an utterance with a voice and no words counted as input and got labels."""
    from mtmm_es.model.fit import fit

    checkpoint, report = fit(small, replace(FAST, modalities=("text",), epochs=1, patience=1), log=None)
    assert list(checkpoint.feature_spec) == ["text"]
    # user test: the record counted the videos carved out for validation as trained on
    assert checkpoint.training["videos"] == len(small.videos) - report["validation_videos"] == 5
    save_checkpoint(checkpoint, tmp_path / "text-only")
    config = json.loads((tmp_path / "text-only" / "config.json").read_text())
    config["feature_spec"]["acoustic"] = small.spec["acoustic"]  # as such checkpoints were saved before
    (tmp_path / "text-only" / "config.json").write_text(json.dumps(config))
    assert list(load_checkpoint(tmp_path / "text-only").feature_spec) == ["text"]  # loads, and reads the text only
    config["feature_spec"]["text"]["dim"] = 60  # a spec the weights disagree with: refused at load
    (tmp_path / "text-only" / "config.json").write_text(json.dumps(config))
    message = "the feature_spec in config.json (text 60) does not match the architecture's inputs (text 100)"
    with pytest.raises(MtmmError, match=re.escape(message)):
        load_checkpoint(tmp_path / "text-only")


def test_a_monitor_undefined_in_every_epoch_is_one_error(small) -> None:
    """Regression: early stopping on a metric that validation never defines (no positive label
    there) ended training with "Expected state_dict to be dict-like, got NoneType"."""
    flat = copy.deepcopy(small.subset([small.videos[0].id], "one-intensity"))  # the fixture's videos stay as they are
    for video in flat.videos:  # one intensity throughout: no correlation is defined
        video.targets["intensity"] = np.ones_like(video.targets["intensity"])
    config = replace(FAST, monitor="intensity_pearson", epochs=2, patience=2)
    with pytest.raises(MtmmError, match="monitor 'intensity_pearson' is undefined on the validation data in every"):
        train(small, flat, config, log=None)


def test_patience_zero_stops_at_the_first_epoch_without_improvement(small) -> None:
    """Regression: `--patience 0` stopped after epoch 1 even while the monitored loss improved."""
    config = replace(FAST, epochs=3, patience=0, monitor="loss", lr=0.01)
    improving = train(small, small, config, log=None)
    losses = [h["loss"] for h in improving.history]
    assert len(losses) == 3 and losses[0] > losses[1] > losses[2] and improving.best_epoch == 3
    frozen = train(small, small, replace(config, lr=0.0), log=None)  # the same loss every epoch: no gain at epoch 2
    assert [h["epoch"] for h in frozen.history] == [1, 2] and frozen.best_epoch == 1


def test_training_without_a_monitor_early_stops_on_a_metric_its_tasks_measure(tmp_path: Path) -> None:
    """Regression: `mtmm train --dataset mustard` (sarcasm labels only) kept the default monitor
    and failed after the first epoch with "monitor 'sentiment_accuracy' is not measured"."""
    from mtmm_es.model.train import measured_metrics
    from mtmm_es.pipeline.training import train_and_save

    tiny = {"epochs": 1, "hidden": 8, "dim": 8, "shared": (8,)}
    report = train_and_save(tmp_path / "out", shared_path("mustard"), dataset="mustard", overrides=tiny)
    assert (
        json.loads((tmp_path / "out" / "config.json").read_text())["training"]["config"]["monitor"]
        == "sarcasm_accuracy"
    )
    assert set(report["validation"]) == set(measured_metrics(("sarcasm",)))


@pytest.mark.slow
def test_training_into_a_checkpoint_s_folder_says_it_replaces_it(tmp_path: Path, caplog) -> None:
    """User test: `mtmm train --out runs/mine` replaced the checkpoint there without a word."""
    from mtmm_es.pipeline.training import train_and_save

    tiny = {"epochs": 1, "hidden": 8, "dim": 8, "shared": (8,)}
    with caplog.at_level("WARNING", logger="mtmm_es"):
        train_and_save(tmp_path / "out", shared_path("mustard"), dataset="mustard", overrides=tiny)
        assert "replaces" not in caplog.text
        train_and_save(tmp_path / "out", shared_path("mustard"), dataset="mustard", overrides=tiny)
    assert f"{tmp_path / 'out'} holds a checkpoint: this run replaces it when it ends" in caplog.text


def test_a_monitor_the_tasks_do_not_measure_is_refused_before_the_work(tmp_path: Path) -> None:
    from mtmm_es.pipeline.training import train_and_save

    given = {"epochs": 1, "monitor": "sentiment_accuracy"}
    with pytest.raises(MtmmError, match="monitor 'sentiment_accuracy' is not measured when training sarcasm"):
        train_and_save(tmp_path / "out", shared_path("mustard"), dataset="mustard", overrides=given)
    assert not (tmp_path / "out").exists()
    # with the tasks (or a name no task measures) known, before the data is read: this folder has no label table
    for overrides in ({**given, "tasks": ("sarcasm",)}, {"monitor": "accuracy"}):
        with pytest.raises(MtmmError, match=f"monitor '{overrides['monitor']}' is not measured"):
            train_and_save(tmp_path / "out", tmp_path, dataset="videos", overrides=overrides)


def test_an_unknown_modality_or_task_is_refused_before_the_data_loads(tmp_path: Path) -> None:
    """Regression: `mtmm train --modalities text,face` was refused only after the data had loaded
    ("has no face features"). This folder has no label table, so only a check before the load names
    the option."""
    for option, value, cause in (
        ("--modalities", "text,face", "unknown modalities: face"),
        ("--tasks", "sentiment,sentimnet", "unknown tasks: sentimnet"),
    ):
        args = [
            "train",
            "--dataset",
            "videos",
            "--data-dir",
            str(tmp_path),
            "--out",
            str(tmp_path / "out"),
            option,
            value,
        ]
        done = subprocess.run([sys.executable, "-m", "mtmm_es", *args], capture_output=True, text=True)
        assert done.returncode == 2 and cause in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert not (tmp_path / "out").exists()


def test_folds_or_a_validation_share_that_leave_a_part_without_videos_are_refused(small) -> None:
    """Regression: more folds than videos trained members on empty folds and averaged them into the
    ensemble; a validation share holding out every video failed with "corpus 'mosi-small-train' has
    no labels"."""
    from mtmm_es.model.fit import fit

    config = replace(FAST, epochs=1, monitor="loss")
    with pytest.raises(MtmmError, match=r"7 folds need as many videos, and corpus 'mosi-small' has 6 .* 6 folds or"):
        fit(small, config, folds=7, log=None)
    with pytest.raises(MtmmError, match="validation share of 0.95 holds out all 6 videos .* leaving no training"):
        fit(small, config, val_fraction=0.95, log=None)
    assert len(fit(small, config, folds=6, log=None)[0].members) == 6  # one video per fold is fine


def test_a_trained_checkpoint_records_the_sarcasm_base_rate_of_its_training_labels(tmp_path: Path) -> None:
    """Regression: checkpoints written by fit() (single-dataset training) recorded no sarcasm base
    rate, so --sarcasm-base-rate shifted P(sarcasm) from an assumed 0.5, not their labels' share."""
    from mtmm_es.model.corpora import load_corpus
    from mtmm_es.model.data import split_by_video
    from mtmm_es.model.fit import fit

    mustard = load_corpus("mustard", shared_path("mustard"), "train", None)  # text through our GloVe extractor
    corpus = mustard.subset([v.id for v in mustard.videos[:40]], "mustard-40")

    def sarcastic_share(part) -> float:
        labels = np.concatenate(
            [v.targets["sarcasm"][v.weights["sarcasm"] > 0] for v in part.videos if v.labelled("sarcasm")]
        )
        return round(float(labels.mean()), 4)

    config = TrainConfig(
        tasks=("sarcasm",), modalities=("text",), hidden=8, dim=8, shared=(8,), epochs=1, monitor="loss"
    )
    checkpoint, _ = fit(corpus, config, log=None)
    trained = sarcastic_share(split_by_video(corpus, 0.2, 0)[0])  # the videos the model was trained on
    assert 0 < trained < 1 and trained != sarcastic_share(corpus)
    save_checkpoint(checkpoint, tmp_path / "ckpt")
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert loaded.sarcasm_base_rate == {"trained": trained, "reported": trained} and loaded.sarcasm_rates is None
    loaded.relabel(sarcasm_base_rate=0.125)
    assert loaded.sarcasm_rates == (trained, 0.125)  # P shifts from the rate it was trained at
    ensemble, _ = fit(corpus, config, folds=2, log=None)  # each member trained on most of the corpus
    assert ensemble.sarcasm_base_rate["trained"] == sarcastic_share(corpus)


def test_a_command_line_validation_scheme_replaces_the_recipe_s(tmp_path: Path, caplog) -> None:
    """Regression: `--recipe mosi --val-fraction 0.3` still trained the recipe's 5 folds, and
    --val-fraction on a dataset with its own validation split dropped that split without a word."""
    from mtmm_es.pipeline.training import train_and_save

    small = {"epochs": 1, "hidden": 8, "dim": 8, "shared": (8,)}
    train_and_save(tmp_path / "mosi", shared_path("mosi"), recipe="mosi", val_fraction=0.3, overrides=small)
    assert len(load_checkpoint(tmp_path / "mosi").members) == 1  # one split, not the recipe's five folds
    with caplog.at_level("WARNING", logger="mtmm_es.pipeline.training"):
        train_and_save(
            tmp_path / "mustard", shared_path("mustard"), dataset="mustard", val_fraction=0.3, overrides=small
        )
    assert "rows of its own val split, if any, are not used" in caplog.text


def test_intensity_without_sentiment_is_refused_before_training(tmp_path: Path, small) -> None:
    """Regression: `--tasks intensity` trained a model whose every label came out null, without a
    reason: the intensity is written as the sentiment's score."""
    from mtmm_es.pipeline.training import train_and_save

    with pytest.raises(MtmmError, match="intensity is reported as the sentiment's score"):
        train_and_save(tmp_path / "run", shared_path("mosi"), dataset="mosi", overrides={"tasks": ("intensity",)})
    with pytest.raises(MtmmError, match="train it with sentiment"):
        train(small, small, replace(FAST, tasks=("intensity",)), log=None)
    assert not (tmp_path / "run").exists()


def test_thresholds_chosen_on_few_examples_of_an_emotion_are_warned_about(caplog) -> None:
    """User test: 16 utterances of own videos gave WAcc thresholds of 0.05 for every emotion, so
    `--emotion-thresholds wacc` labelled all six on every utterance, without a word."""
    from mtmm_es.model.data import Video
    from mtmm_es.model.train import warn_if_few_emotions

    targets = np.zeros((12, 7), np.float32)
    targets[:, 3] = 1.0  # happy on all 12, anger on 2, the others never
    targets[:2, 0] = 1.0
    video = Video("v", [str(k) for k in range(12)], {}, {}, {"emotion": targets}, {"emotion": np.ones(12, np.float32)})
    with caplog.at_level("WARNING", logger="mtmm_es"):
        warn_if_few_emotions([video], "own-val")
    assert (
        "own-val: emotion thresholds chosen on few validation utterances with the emotion (anger 2, disgust 0, fear 0, sad 0, surprise 0; under 10)"
        in caplog.text
    )
