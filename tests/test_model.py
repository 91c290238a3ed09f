"""The CIM multi-task network: padding, masks, attention, heads, losses and determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from mtmm_es.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from mtmm_es.model.data import Video, collate
from mtmm_es.model.network import MTMMES, ModelConfig, cim_attention, modality_pairs, others_mean
from mtmm_es.model.train import batch_loss, task_loss

DIMS = {"text": 6, "acoustic": 4, "visual": 5}


def make_video(n: int, seed: int, dims=DIMS, tasks=("sentiment", "emotion")) -> Video:
    rng = np.random.default_rng(seed)
    video = Video(
        id=f"v{seed}",
        utterance_ids=[f"v{seed}_{i}" for i in range(n)],
        features={m: rng.normal(size=(n, d)).astype(np.float32) for m, d in dims.items()},
        masks={m: np.ones(n, bool) for m in dims},
    )
    if "sentiment" in tasks:
        video.targets["sentiment"] = rng.integers(0, 2, n).astype(np.float32)
        video.weights["sentiment"] = np.ones(n, np.float32)
    if "emotion" in tasks:
        video.targets["emotion"] = rng.integers(0, 2, (n, 7)).astype(np.float32)
        video.weights["emotion"] = np.ones(n, np.float32)
    return video


def run(model: MTMMES, videos: list[Video], attention: bool = False) -> dict[str, torch.Tensor]:
    config = model.config
    batch = collate(videos, config.modalities, config.tasks, config.input_dims)
    model.eval()
    with torch.no_grad():
        return model(batch.features, batch.masks, batch.lengths, batch.utterance_mask, return_attention=attention)


@pytest.fixture()
def model() -> MTMMES:
    torch.manual_seed(0)
    return MTMMES(ModelConfig(DIMS, tasks=("sentiment", "emotion", "intensity", "sarcasm"), hidden=8, dim=8))


def test_output_shapes_per_task(model: MTMMES) -> None:
    outputs = run(model, [make_video(5, 1), make_video(3, 2)])
    assert outputs["sentiment"].shape == (2, 5, 2) and outputs["emotion"].shape == (2, 5, 7)
    assert outputs["intensity"].shape == (2, 5) and outputs["sarcasm"].shape == (2, 5)


def test_padding_does_not_change_real_utterances(model: MTMMES) -> None:
    video = make_video(4, 3)
    alone = run(model, [video])
    padded = run(model, [video, make_video(9, 4)])  # batched with a longer video: 5 padded rows
    for task in model.config.tasks:
        torch.testing.assert_close(padded[task][0, :4], alone[task][0], rtol=1e-5, atol=1e-6)


def test_attention_rows_sum_to_one_over_real_utterances(model: MTMMES) -> None:
    outputs = run(model, [make_video(3, 5), make_video(6, 6)], attention=True)
    assert set(k for k in outputs if k.startswith("attention/")) == {
        "attention/text-visual",
        "attention/acoustic-visual",
        "attention/text-acoustic",
    }
    weights = outputs["attention/text-visual"]  # [B, 2, U, U]
    torch.testing.assert_close(weights[0, :, :3, :].sum(-1), torch.ones(2, 3))
    assert weights[0, :, :, 3:].abs().max() == 0  # padded utterances receive no attention
    torch.testing.assert_close(weights[1].sum(-1), torch.ones(2, 6))


def test_missing_modality_gets_no_attention(model: MTMMES) -> None:
    video = make_video(5, 7)
    video.masks["visual"][[1, 3]] = False
    weights = run(model, [video], attention=True)["attention/text-visual"][0]
    assert weights[0, :, [1, 3]].abs().max() == 0  # text attending over visual skips them
    torch.testing.assert_close(weights[0].sum(-1), torch.ones(5))


def test_cim_attention_matches_algorithm_1() -> None:
    x, y = torch.randn(1, 4, 3), torch.randn(1, 4, 3)
    keys = torch.ones(1, 4, dtype=torch.bool)
    out, n1, n2 = cim_attention(x, y, keys, keys)
    expected_n1 = torch.softmax(x[0] @ y[0].T, dim=-1)
    expected_n2 = torch.softmax(y[0] @ x[0].T, dim=-1)
    a1 = (expected_n1 @ y[0]) * x[0]
    a2 = (expected_n2 @ x[0]) * y[0]
    torch.testing.assert_close(out[0], torch.cat([a1, a2], dim=-1))
    torch.testing.assert_close(n1[0], expected_n1)


def test_pairs_for_modality_subsets() -> None:
    assert modality_pairs(["text", "acoustic", "visual"]) == [
        ("text", "visual"),
        ("acoustic", "visual"),
        ("text", "acoustic"),
    ]
    assert modality_pairs(["text", "visual"]) == [("text", "visual")]
    assert modality_pairs(["acoustic"]) == [("acoustic", "acoustic")]  # the self-attention variant


@pytest.mark.parametrize("modalities", [("text",), ("acoustic", "visual")])
def test_unimodal_and_bimodal_models_run(modalities: tuple[str, ...]) -> None:
    dims = {m: DIMS[m] for m in modalities}
    net = MTMMES(ModelConfig(dims, tasks=("sentiment",), hidden=4, dim=4))
    outputs = run(net, [make_video(4, 8, dims=dims)], attention=True)
    assert outputs["sentiment"].shape == (1, 4, 2)
    assert len([k for k in outputs if k.startswith("attention/")]) == 1


def test_task_without_labels_contributes_no_loss(model: MTMMES) -> None:
    video = make_video(4, 9)
    video.weights["emotion"][:] = 0
    model.eval()
    config = model.config
    batch = collate([video], config.modalities, config.tasks, config.input_dims)
    outputs = model(batch.features, batch.masks, batch.lengths, batch.utterance_mask)
    assert task_loss("emotion", outputs["emotion"], batch.targets["emotion"], batch.weights["emotion"]) is None
    assert task_loss("intensity", outputs["intensity"], batch.targets["intensity"], batch.weights["intensity"]) is None
    only_sentiment = task_loss(
        "sentiment", outputs["sentiment"], batch.targets["sentiment"], batch.weights["sentiment"]
    )
    torch.testing.assert_close(batch_loss(model, batch, {}), only_sentiment)


def test_soft_sentiment_targets_are_cross_entropy() -> None:
    logits = torch.tensor([[[0.0, 1.0]]])
    loss = task_loss("sentiment", logits, torch.tensor([[0.25]]), torch.ones(1, 1))
    p = torch.softmax(logits, -1)[0, 0]
    torch.testing.assert_close(loss, -(0.25 * p[1].log() + 0.75 * p[0].log()))


def test_modality_dropout_keeps_one_modality() -> None:
    net = MTMMES(ModelConfig(DIMS, tasks=("sentiment",), hidden=4, dim=4, modality_dropout=0.99))
    net.train()
    present = {m: torch.ones(64, 3, dtype=torch.bool) for m in DIMS}
    kept = net._drop_modalities(present)
    assert torch.stack([kept[m][:, 0] for m in DIMS], dim=1).any(dim=1).all()


def test_video_norm_ignores_a_per_video_change_of_scale_and_offset() -> None:
    """MOSI's train and test features differ in scale: with video_norm (no shrink) a video's features
    rescaled and shifted give the same outputs; without it they do not."""
    video = make_video(6, 5)
    shifted = Video(video.id, video.utterance_ids, {m: 0.7 * f + 0.3 for m, f in video.features.items()}, video.masks)
    for video_norm, same in ((tuple(DIMS), True), ((), False)):
        torch.manual_seed(0)
        config = ModelConfig(DIMS, tasks=("sentiment",), hidden=8, dim=8, video_norm=video_norm, context_shrink=0.0)
        model = MTMMES(config)
        a, b = run(model, [video])["sentiment"], run(model, [shifted])["sentiment"]
        assert torch.allclose(a, b, atol=1e-4) == same


def test_others_mean_is_the_mean_of_the_other_present_utterances() -> None:
    x = torch.tensor([[[1.0], [2.0], [4.0], [8.0]]])
    present = torch.tensor([[True, True, True, False]])
    expected = torch.tensor([[[3.0], [2.5], [1.5], [7.0 / 3.0]]])
    torch.testing.assert_close(others_mean(x * present[..., None], present), expected)
    alone = torch.tensor([[True, False, False, False]])
    assert others_mean(x * alone[..., None], alone)[0, 0, 0] == 0.0  # no other utterance: no context


def test_linear_context_starts_at_the_cim_model_and_learns(tmp_path: Path) -> None:
    """The linear path is zero at initialisation (the same outputs as without it), keeps padding
    inert, moves the outputs once trained, and survives a checkpoint's save and load."""
    tasks = ("sentiment", "emotion")
    torch.manual_seed(0)
    plain = MTMMES(ModelConfig(DIMS, tasks=tasks, hidden=8, dim=8))
    torch.manual_seed(0)
    wide = MTMMES(ModelConfig(DIMS, tasks=tasks, hidden=8, dim=8, linear_context=("text",)))
    videos = [make_video(5, 1), make_video(3, 2)]
    for task in tasks:
        torch.testing.assert_close(run(wide, videos)[task], run(plain, videos)[task])
    assert wide.linear["emotion"].in_features == 2 * DIMS["text"]

    optimiser = torch.optim.Adam(wide.parameters(), lr=0.05)
    batch = collate(videos, wide.config.modalities, tasks, wide.config.input_dims)
    wide.train()
    for _ in range(5):
        optimiser.zero_grad()
        batch_loss(wide, batch, {}).backward()
        optimiser.step()
    assert wide.linear["emotion"].weight.abs().sum() > 0
    video = make_video(4, 3)
    alone, padded = run(wide, [video]), run(wide, [video, make_video(9, 4)])
    for task in tasks:
        torch.testing.assert_close(padded[task][0, :4], alone[task][0], rtol=1e-5, atol=1e-6)

    spec = {m: {"extractor": "test", "dim": d} for m, d in DIMS.items()}
    save_checkpoint(Checkpoint(members=[wide], feature_spec=spec), tmp_path)
    loaded = load_checkpoint(tmp_path).members[0]
    assert loaded.config.linear_context == ("text",)
    for task in tasks:
        torch.testing.assert_close(run(loaded, videos)[task], run(wide, videos)[task])

    trained = run(wide, videos)["emotion"]
    nn.init.zeros_(wide.linear["emotion"].weight)
    nn.init.zeros_(wide.linear["emotion"].bias)
    assert not torch.allclose(trained, run(wide, videos)["emotion"])  # the trained path moves the outputs


def test_video_norm_wins_over_context_norm_for_the_same_modality() -> None:
    """A modality in both lists is only video-normalised: its GRU (and linear path) read its own
    width (it was built for twice the width and failed on the first batch)."""
    both = ("acoustic",)
    config = ModelConfig(
        DIMS, tasks=("emotion",), hidden=8, dim=8, context_norm=both, video_norm=both, linear_context=both
    )
    outputs = run(MTMMES(config), [make_video(5, 1)])
    assert outputs["emotion"].shape == (1, 5, 7)
