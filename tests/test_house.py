"""The House M.D. sarcasm scenes through the product's extractors, and the visual branch: it learns
from the face, its masks hold, and face-only copies carry a teacher's soft labels (distillation)."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers import shared_path
from sklearn.metrics import roc_auc_score

from mtmm_es.core.errors import MtmmError
from mtmm_es.model.checkpoint import Checkpoint
from mtmm_es.model.corpora.house import load_house, shared_windows, targets_alone, validation_scenes
from mtmm_es.model.data import Corpus, Video
from mtmm_es.model.distill import DistillConfig, agreement, face_copies, teacher_labelled
from mtmm_es.model.multi import load_datasets
from mtmm_es.model.network import MTMMES
from mtmm_es.model.train import TrainConfig, predict, train

SCENES = ("4_S03E06_002", "4_S01E04_001")  # two context lines in one clip; context without a clip
DIMS = {"text": 6, "acoustic": 4, "visual": 5}


def test_a_context_clip_is_shared_out_by_line_length():
    windows = shared_windows(["ab", "abcdef", ""], 9.0)
    assert [(w.start, w.end) for w in windows] == [(0.0, 2.0), (2.0, 8.0), (8.0, 9.0)]
    assert [w.text for w in windows] == ["ab", "abcdef", ""]


def some_scenes(folder: Path) -> Path:
    """`folder` as a sarcasm_video folder holding SCENES only."""
    source = shared_path("sarcasm_video")
    with open(source / "labels.csv", newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["scene"] in SCENES]
    with open(folder / "labels.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (folder / "clips").symlink_to(source / "clips")
    return folder


@pytest.mark.slow
def test_house_scenes_load_as_context_then_target_with_faces(tmp_path, feature_pipeline):
    corpus = load_house(some_scenes(tmp_path), "all", feature_pipeline.extract)
    assert set(corpus.spec) == {"text", "acoustic", "visual"}
    videos = {v.id: v for v in corpus.videos}
    scene = videos["house-4_S03E06_002"]
    assert scene.utterance_ids == ["4_S03E06_002_c_0", "4_S03E06_002_c_1", "4_S03E06_002_u"]
    assert scene.texts[-1] == "Fat joke! Always fun."
    assert scene.weights["sarcasm"].tolist() == [0, 0, 1] and scene.targets["sarcasm"][-1] == 1
    assert scene.masks["visual"].all() and scene.masks["acoustic"].all()
    assert scene.features["visual"].shape == (3, corpus.spec["visual"]["dim"])
    other = videos["house-4_S01E04_001"]
    assert other.masks["acoustic"].tolist() == [False, True] and other.masks["visual"].tolist() == [False, True]
    alone = {v.id: v for v in targets_alone(corpus).videos}["house-4_S03E06_002.2"]
    assert alone.utterance_ids == ["4_S03E06_002_u"] and alone.texts == ["Fat joke! Always fun."]
    assert alone.weights["sarcasm"].tolist() == [1] and alone.targets["sarcasm"].tolist() == [1]
    assert np.array_equal(alone.features["acoustic"][0], scene.features["acoustic"][-1])
    train_ids = {v.id for v in load_house(tmp_path, "train", feature_pipeline.extract).videos}
    val_ids = {v.id for v in load_house(tmp_path, "val", feature_pipeline.extract).videos}
    assert train_ids | val_ids == set(videos) and not train_ids & val_ids
    assert {f"house-{s}" for s in validation_scenes(tmp_path)} == val_ids


@pytest.mark.slow
def test_a_recipe_without_the_face_extracts_house_without_it_and_the_same_voice(tmp_path, feature_pipeline):
    from mtmm_es.pipeline.training import recipe_extract

    folder = some_scenes(tmp_path)
    voice_and_words = load_house(folder, "all", recipe_extract({}, ("text", "acoustic")))
    assert set(voice_and_words.spec) == {"text", "acoustic"}
    full = {v.id: v for v in load_house(folder, "all", feature_pipeline.extract).videos}
    for video in voice_and_words.videos:
        np.testing.assert_array_equal(video.features["acoustic"], full[video.id].features["acoustic"])


def test_the_default_recipe_refuses_house_without_the_pipelines_extractors(tmp_path):
    (tmp_path / "sarcasm_video").mkdir()
    with pytest.raises(MtmmError, match="holds media"):
        load_datasets(tmp_path, {"datasets": ["house"]})


def face_video(n: int, seed: int, face_rows: int | None = None) -> Video:
    """Sarcasm set by the first visual feature's sign; text and acoustic are noise."""
    rng = np.random.default_rng(seed)
    features = {m: rng.normal(size=(n, d)).astype(np.float32) for m, d in DIMS.items()}
    masks = {m: np.ones(n, bool) for m in DIMS}
    if face_rows is not None:
        masks["visual"][face_rows:] = False
    video = Video(f"v{seed}", [f"v{seed}_{i}" for i in range(n)], features, masks)
    video.targets["sarcasm"] = (features["visual"][:, 0] > 0).astype(np.float32)
    video.weights["sarcasm"] = np.ones(n, np.float32)
    return video


def spec() -> dict:
    return {m: {"extractor": f"test-{m}", "version": "1", "dim": d} for m, d in DIMS.items()}


def test_the_visual_branch_learns_from_the_face_and_a_masked_face_counts_for_nothing():
    corpus = Corpus("faces", [face_video(6, s) for s in range(70)], spec())
    config = TrainConfig(tasks=("sarcasm",), modalities=("text", "acoustic", "visual"), hidden=8, dim=8)
    config = replace(config, shared=(8,), lr=0.01, epochs=15, patience=15, monitor="loss")
    model = train(
        corpus.subset([f"v{s}" for s in range(60)]),
        corpus.subset([f"v{s}" for s in range(60, 70)]),
        config,
        log=None,
    ).model
    test = [face_video(6, s) for s in range(200, 230)]
    truth = np.concatenate([v.targets["sarcasm"] for v in test])
    scores = np.concatenate([p["sarcasm"] for p in predict(model, test)])
    assert roc_auc_score(truth, scores) > 0.9
    masked = face_video(6, 300, face_rows=3)
    changed = face_video(6, 300, face_rows=3)
    changed.features["visual"][3:] += 5.0  # the masked rows' values must not matter
    first, second = predict(model, [masked])[0]["sarcasm"], predict(model, [changed])[0]["sarcasm"]
    np.testing.assert_allclose(first, second, atol=1e-6)


def test_face_copies_keep_only_the_face_and_learn_the_teachers_labels():
    teacher_spec = {m: s for m, s in spec().items() if m != "visual"}
    teacher_model = MTMMES(
        TrainConfig(tasks=("sentiment", "emotion"), modalities=("text", "acoustic"), hidden=4, dim=4).model_config(
            {"text": 6, "acoustic": 4}
        )
    )
    teacher = Checkpoint([teacher_model], teacher_spec)
    corpus = Corpus("faces", [face_video(5, 1, face_rows=3), face_video(4, 2, face_rows=0)], spec())
    copies = face_copies(corpus, teacher, DistillConfig(weight=0.5))
    assert [v.id for v in copies.videos] == ["v1#face"]  # a video with no face gets no copy
    face = copies.videos[0]
    full = teacher_labelled(corpus, teacher, DistillConfig(weight=0.5)).videos[0]
    assert full.masks["text"].all() and full.weights["sarcasm"].all()  # gold labels and inputs kept
    assert full.weights["emotion"].tolist() == [0.5] * 5
    assert not face.masks["text"].any() and not face.masks["acoustic"].any()
    assert face.masks["visual"].tolist() == [True, True, True, False, False]
    assert face.weights["emotion"].tolist() == [0.5, 0.5, 0.5, 0, 0] and "sarcasm" not in face.targets
    expected = teacher.predict(corpus.videos[:1])[0]
    np.testing.assert_allclose(face.targets["emotion"], expected["emotion"], rtol=1e-6)
    perfect = agreement(
        [{"emotion": face.targets["emotion"], "sentiment": face.targets["sentiment"]}], copies, ("emotion", "sentiment")
    )
    assert perfect["emotion_top1_agreement"] == 1.0 and perfect["sentiment_agreement"] == 1.0
    assert perfect["emotion_utterances"] == 3
