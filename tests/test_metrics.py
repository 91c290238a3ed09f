"""Metrics against hand-computed cases, and threshold choice."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mtmm_es.model.metrics import (
    binary_metrics,
    choose_thresholds,
    emotion_metrics,
    intensity_metrics,
    sentiment_metrics,
    weighted_accuracy,
)


def test_weighted_accuracy_by_hand() -> None:
    truth = np.array([1, 1, 0, 0, 0, 0, 0, 0])  # P = 2, N = 6
    predicted = np.array([1, 0, 0, 0, 0, 0, 1, 1])  # TP = 1, TN = 4
    assert weighted_accuracy(truth, predicted) == pytest.approx((1 * 6 / 2 + 4) / (2 * 6))
    assert np.isnan(weighted_accuracy(np.zeros(3, int), np.zeros(3, int)))


def test_sentiment_accuracy_and_weighted_f1_by_hand() -> None:
    truth = np.array([1, 1, 1, 0])
    scores = np.array([0.9, 0.6, 0.2, 0.1])  # predictions 1, 1, 0, 0
    metrics = sentiment_metrics(truth, scores)
    assert metrics["accuracy"] == 0.75
    f1_positive, f1_negative = 2 * 1 * (2 / 3) / (1 + 2 / 3), 2 * 0.5 * 1 / 1.5
    assert metrics["f1_weighted"] == pytest.approx(0.75 * f1_positive + 0.25 * f1_negative)
    # 3 positive x 1 negative pairs, each ranked right: AUC 1 (user test: `mtmm evaluate` gave no
    # base-rate-free sarcasm figure, only accuracy at the trained rate)
    assert metrics["auc"] == 1.0


def test_sarcasm_auc_by_hand_and_undefined_with_one_class() -> None:
    truth, scores = np.array([1, 0, 1, 0]), np.array([0.3, 0.4, 0.8, 0.1])  # 3 of 4 pairs ranked right
    assert binary_metrics(truth, scores)["auc"] == 0.75
    assert np.isnan(binary_metrics(np.ones(3, int), np.array([0.2, 0.5, 0.9]))["auc"])


def test_emotion_metrics_average_the_six() -> None:
    truth = np.zeros((4, 7), int)
    truth[:2, 0] = 1  # anger in the first two
    scores = np.zeros((4, 7))
    scores[0, 0] = 0.9
    metrics = emotion_metrics(truth, scores, [0.5] * 6, [0.5] * 6)
    assert metrics["anger_wacc"] == pytest.approx((1 * 2 / 2 + 2) / 4)
    assert np.isnan(metrics["fear_wacc"])  # no positives: left out of the mean
    assert metrics["mean_wacc"] == pytest.approx(metrics["anger_wacc"])
    assert metrics["fear_f1"] == 1.0  # all-negative truth, all-negative predictions


def test_emotion_metrics_without_any_emotion_are_nan_without_a_numpy_warning() -> None:
    """Regression: a validation set with no emotion at all (a few own videos) made `mtmm evaluate`
    print numpy's "Mean of empty slice" warning with its source line."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics = emotion_metrics(np.zeros((3, 7), int), np.zeros((3, 7)), [0.5] * 6, [0.5] * 6)
    assert np.isnan(metrics["mean_wacc"]) and metrics["mean_f1"] == 1.0


def test_thresholds_are_chosen_per_emotion() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, (200, 7))
    scores = np.clip(truth * 0.3 + rng.uniform(0, 0.6, (200, 7)), 0, 1)  # positives sit 0.3 higher
    thresholds = choose_thresholds(truth, scores, "wacc")
    assert len(thresholds) == 6 and all(0.3 <= t <= 0.65 for t in thresholds)


def test_intensity_metrics() -> None:
    metrics = intensity_metrics(np.array([-2.0, 0.0, 2.0]), np.array([-1.0, 0.0, 1.0]))
    assert metrics["mae"] == pytest.approx(2 / 3) and metrics["pearson"] == pytest.approx(1.0)


def test_intensity_correlation_of_constant_labels_is_undefined_without_a_warning() -> None:
    """User test: a table whose training rows all had one score printed scipy's ConstantInputWarning,
    with a source path, four times."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metrics = intensity_metrics(np.full(4, 2.0), np.array([0.1, 0.5, 0.2, 0.9]))
    assert np.isnan(metrics["pearson"]) and metrics["mae"] == pytest.approx(1.575)
