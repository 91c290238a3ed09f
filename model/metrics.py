"""Metrics as the seed paper and its official code compute them, plus threshold choice on validation.

Sentiment: accuracy and weighted F1. Emotions: for each of the six, weighted F1 and weighted
accuracy WAcc = (TP * N / P + TN) / (2N), then the mean over the six. Emotion decision thresholds
are chosen per emotion on a validation set, separately for F1 and for WAcc (never on test).
scikit-learn and scipy are imported by the functions that use them: inference never loads them.
"""

from __future__ import annotations

import numpy as np

from .tasks import EMOTIONS

THRESHOLD_GRID = np.round(np.arange(0.05, 0.96, 0.05), 2)


def _auc(truth: np.ndarray, probability: np.ndarray) -> float:
    """ROC AUC: how well the probability ranks, at any threshold or base rate; NaN with one class."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(truth, probability)) if len(np.unique(truth)) == 2 else float("nan")


def sentiment_metrics(positive: np.ndarray, p_positive: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    predicted = (p_positive >= 0.5).astype(int)
    return {
        "accuracy": float(accuracy_score(positive, predicted)),
        "f1_weighted": float(f1_score(positive, predicted, average="weighted", zero_division=0)),
        "auc": _auc(positive, p_positive),
    }


def binary_metrics(truth: np.ndarray, probability: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    predicted = (probability >= threshold).astype(int)
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "f1_weighted": float(f1_score(truth, predicted, average="weighted", zero_division=0)),
        "f1_macro": float(f1_score(truth, predicted, average="macro", zero_division=0)),
        "auc": _auc(truth, probability),
    }


def weighted_accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    """(TP * N / P + TN) / (2N) (Tong et al. 2017); NaN when there are no positives or negatives."""
    from sklearn.metrics import confusion_matrix

    tn, _, _, tp = confusion_matrix(truth, predicted, labels=[0, 1]).ravel()
    positives, negatives = int(truth.sum()), int(len(truth) - truth.sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    return float((tp * negatives / positives + tn) / (2 * negatives))


def emotion_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(truth, predicted, average="weighted", zero_division=0))


METRICS = {"f1": emotion_f1, "wacc": weighted_accuracy}


def choose_thresholds(truth: np.ndarray, scores: np.ndarray, metric: str) -> list[float]:
    """Per emotion (first six columns), the grid threshold that maximises `metric` on this data."""
    score = METRICS[metric]
    chosen = []
    for k in range(len(EMOTIONS)):
        values = [score(truth[:, k], (scores[:, k] >= t).astype(int)) for t in THRESHOLD_GRID]
        values = [-1.0 if np.isnan(v) else v for v in values]
        chosen.append(float(THRESHOLD_GRID[int(np.argmax(values))]))
    return chosen


def emotion_metrics(
    truth: np.ndarray, scores: np.ndarray, thresholds_f1: list[float], thresholds_wacc: list[float]
) -> dict[str, float]:
    """Per-emotion weighted F1 and WAcc at the given thresholds, and their means over the six."""
    results: dict[str, float] = {}
    for k, name in enumerate(EMOTIONS):
        results[f"{name}_f1"] = emotion_f1(truth[:, k], (scores[:, k] >= thresholds_f1[k]).astype(int))
        results[f"{name}_wacc"] = weighted_accuracy(truth[:, k], (scores[:, k] >= thresholds_wacc[k]).astype(int))
    results["mean_f1"] = _mean_of_defined([results[f"{n}_f1"] for n in EMOTIONS])
    results["mean_wacc"] = _mean_of_defined([results[f"{n}_wacc"] for n in EMOTIONS])
    return results


def _mean_of_defined(values: list[float]) -> float:
    """The mean over the values that are not NaN; NaN when none is (numpy would warn)."""
    defined = [v for v in values if not np.isnan(v)]
    return float(np.mean(defined)) if defined else float("nan")


def intensity_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    from scipy.stats import pearsonr
    from sklearn.metrics import mean_absolute_error

    defined = len(truth) > 2 and np.std(truth) > 0 and np.std(predicted) > 0  # else scipy warns
    correlation = float(pearsonr(truth, predicted)[0]) if defined else float("nan")
    return {"mae": float(mean_absolute_error(truth, predicted)), "pearson": correlation}


def emotion_uar(videos, predictions) -> float:
    """Unweighted average recall of the argmax over the six emotions + none, over the classes present
    (single-label data such as acted speech)."""
    truth = np.concatenate([v.targets["emotion"].reshape(len(v), -1).argmax(1) for v in videos])
    predicted = np.concatenate([p["emotion"].argmax(1) for p in predictions])
    return float(np.mean([np.mean(predicted[truth == k] == k) for k in np.unique(truth)]))
