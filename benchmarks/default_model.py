"""Validation metrics of the default model (or any checkpoint trained by the default recipe), per dataset
and with each modality removed at inference; the STL/MTL and cross-corpus figures recorded by the
training run (report.json) are printed alongside. Test folds are never touched.

    python benchmarks/default_model.py [--checkpoint model/default] [--data-dir ../shared/data] [--stl]

With --stl, also trains the single-task baselines (one network per dataset and task, on that
dataset alone, the recipe's settings) and prints them as `stl` next to the multi-task checkpoint's
figures (an ensemble of the recipe's members; each STL baseline is one network).

Per dataset: sentiment accuracy and AUC (MOSEI valid, MUStARD++ val), emotion mean WAcc (thresholds
chosen on that validation set, as the seed paper reports; `_labels`: of the labels at the
checkpoint's WAcc thresholds, as `--emotion-thresholds wacc` writes them) and macro-F1 (the
checkpoint's own label thresholds), the labels at each operating point (`_f1`, `_wacc`, the label
rules applied): their macro-F1 and, per utterance, their example-based F1 and whether the top label
is among the gold emotions ("none" when there are none), speech-emotion UAR on held-out speakers (their clips in pseudo-videos, and each clip
alone: `_one_clip`), sarcasm accuracy and AUC (of P as trained), and over every utterance the
mean P(sarcasm) and the share at 0.5 or more, as trained and as the labels state it (at the
checkpoint's base rate). The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import labels_as_read  # noqa: E402
from mtmm_es.model.checkpoint import load_checkpoint  # noqa: E402
from mtmm_es.model.data import Video  # noqa: E402
from mtmm_es.model.labels import emotion_labels, prior_shifted  # noqa: E402
from mtmm_es.model.metrics import weighted_accuracy  # noqa: E402
from mtmm_es.model.multi import compare_setups, load_datasets  # noqa: E402
from mtmm_es.model.recipes import load_recipe  # noqa: E402
from mtmm_es.model.tasks import EMOTIONS  # noqa: E402
from mtmm_es.model.train import gather, score_predictions  # noqa: E402
from mtmm_es.pipeline.training import recipe_extract  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def without(videos: list[Video], modality: str | None) -> list[Video]:
    """The videos with one modality masked off (None: unchanged)."""
    if modality is None:
        return videos
    return [
        Video(v.id, v.utterance_ids, v.features, {**v.masks, modality: np.zeros(len(v), bool)}, v.targets, v.weights)
        for v in videos
    ]


def dataset_metrics(checkpoint, dataset, modality: str | None) -> dict[str, float]:
    videos = without(dataset.val.videos, modality)
    predictions = checkpoint.predict(videos)
    tasks = [t for t in dataset.tasks() if t in checkpoint.config.tasks]
    metrics, _ = score_predictions(videos, predictions, tasks)
    out: dict[str, float] = {}
    for task in ("sentiment", "sarcasm"):
        if f"{task}_accuracy" in metrics:  # not scored when the validation set has no such labels (House: sarcasm only)
            truth, pred = gather(videos, predictions, task)
            out[f"{task}_accuracy"] = metrics[f"{task}_accuracy"]
            out[f"{task}_auc"] = float(roc_auc_score(truth >= 0.5, pred))
            if task == "sarcasm" and modality is None:
                out |= _sarcasm_by_label(checkpoint, truth >= 0.5, pred)
    truth, pred = gather(videos, predictions, "emotion") if "emotion" in tasks else (None, None)
    if truth is not None:  # None: the validation set has no emotion labels (House, whose training part is distilled)
        thresholds = checkpoint.label_thresholds or [0.5] * 6
        labelled = (pred[:, :6] >= np.asarray(thresholds[:6])).astype(int)
        out["emotion_mean_wacc"] = metrics["emotion_mean_wacc"]
        out["emotion_macro_f1"] = float(f1_score(truth[:, :6] >= 0.5, labelled, average="macro", zero_division=0))
        if "emotion_wacc" in checkpoint.thresholds:
            out["emotion_mean_wacc_labels"] = _labels_wacc(truth, pred, checkpoint.thresholds["emotion_wacc"])
        if modality is None:
            for metric, chosen in checkpoint.thresholds.items():
                out |= _labels_at(truth, pred, chosen, metric.removeprefix("emotion_"))
    if dataset.name == "speech":
        out |= _speech_uar(checkpoint, videos, predictions)
    if modality is None and "sarcasm" in checkpoint.config.tasks:
        out |= _sarcasm_as_labelled(checkpoint, predictions)
    return {k: round(v, 4) for k, v in out.items()}


def _labels_wacc(truth: np.ndarray, pred: np.ndarray, thresholds: list[float]) -> float:
    """Mean WAcc over the six emotions of the labels users read at the checkpoint's WAcc thresholds
    (`--emotion-thresholds wacc`: the label rules, "none" and the fallback included)."""
    labels = [set(emotion_labels(scores, thresholds)) for scores in pred]
    labelled = np.array([[name in row for name in EMOTIONS] for row in labels], int)
    return float(np.nanmean([weighted_accuracy((truth[:, k] >= 0.5).astype(int), labelled[:, k]) for k in range(6)]))


def _labels_at(truth: np.ndarray, pred: np.ndarray, thresholds: list[float], metric: str) -> dict[str, float]:
    """The labels users read at one operating point (`labels_as_read`), named after it."""
    _, read = labels_as_read(truth, pred, thresholds)
    return {
        f"emotion_macro_f1_labels_{metric}": read["macro_f1"],
        f"emotion_example_f1_{metric}": read["example_f1"],
        f"emotion_top_label_{metric}": read["top_label"],
    }


def _stated(checkpoint, p: np.ndarray) -> np.ndarray:
    """P(sarcasm) as the labels state it: at the checkpoint's base rate."""
    rates = checkpoint.sarcasm_rates
    return np.array([prior_shifted(float(x), *rates) for x in p]) if rates else p


def _sarcasm_by_label(checkpoint, sarcastic: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Mean P(sarcasm) of the sarcastic and the other labelled lines, as trained and as labelled."""
    stated = _stated(checkpoint, p)
    return {
        "sarcasm_mean_p_trained_sarcastic": float(p[sarcastic].mean()),
        "sarcasm_mean_p_trained_other": float(p[~sarcastic].mean()),
        "sarcasm_mean_p_labelled_sarcastic": float(stated[sarcastic].mean()),
        "sarcasm_mean_p_labelled_other": float(stated[~sarcastic].mean()),
    }


def _sarcasm_as_labelled(checkpoint, predictions) -> dict[str, float]:
    """Mean P(sarcasm) over every utterance and the share at 0.5 or more: as trained, and as the
    labels state P (at the checkpoint's base rate)."""
    raw = np.concatenate([p["sarcasm"].reshape(-1) for p in predictions])
    stated = _stated(checkpoint, raw)
    return {
        "sarcasm_mean_p_trained": float(raw.mean()),
        "sarcasm_share_trained_ge_0.5": float((raw >= 0.5).mean()),
        "sarcasm_mean_p_labelled": float(stated.mean()),
        "sarcasm_share_labelled_ge_0.5": float((stated >= 0.5).mean()),
    }


def _speech_uar(checkpoint, videos, predictions) -> dict[str, float]:
    """UAR per speech corpus on the validation pseudo-videos and on every clip alone (`_one_clip`)."""
    from mtmm_es.model.corpora.speech import one_clip_videos
    from mtmm_es.model.metrics import emotion_uar

    single = one_clip_videos(videos)
    result = {}
    for suffix, group, predicted in (("", videos, predictions), ("_one_clip", single, checkpoint.predict(single))):
        for name in ("cremad", "ravdess", "tess"):
            rows = [i for i, v in enumerate(group) if v.id.startswith(f"{name}-")]
            if rows:
                result[f"{name}_uar{suffix}"] = emotion_uar([group[i] for i in rows], [predicted[i] for i in rows])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=str(ROOT / "model" / "default"))
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--stl", action="store_true", help="also train and score single-task baselines")
    args = parser.parse_args()
    checkpoint = load_checkpoint(args.checkpoint)
    recipe = load_recipe(checkpoint.training.get("recipe") or "default")
    extra = recipe.extra or {}
    datasets = load_datasets(
        Path(args.data_dir),
        extra,
        extract=recipe_extract(extra, checkpoint.config.modalities),
        modalities=checkpoint.config.modalities,
    )
    results: dict[str, dict] = {}
    for dataset in datasets:
        for removed in (None, *checkpoint.config.modalities):
            if removed is not None and removed not in dataset.val.spec:
                continue
            if not dataset.val.videos:
                continue
            key = dataset.name if removed is None else f"{dataset.name} without {removed}"
            results[key] = dataset_metrics(checkpoint, dataset, removed)
            print(f"{key:32s} " + "  ".join(f"{k}={v}" for k, v in results[key].items()), flush=True)
    report = dict(checkpoint.training.get("report", {}))
    if args.stl:
        report |= compare_setups(datasets, recipe.train, log=None)
    for section in ("stl", "cross_corpus"):
        if section in report:
            results[section] = report[section]
            print(f"{section} (from training): {json.dumps(report[section])}")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
