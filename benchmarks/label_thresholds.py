"""Which F1 the default emotion labels' thresholds should maximise: the seed paper's weighted F1 (the
F1 of "present" and of "absent", weighted by their counts: what the default recipe chooses) or the
emotion's own F1 (precision and recall of "present").

Both are chosen per emotion on the pooled validation sets, as the recipe chooses its `f1` thresholds,
from the checkpoint's own predictions. Per validation set, the labels users read (the label rules
applied) are scored: mean WAcc over the six emotions, macro-F1 over the six, example-based F1 per
utterance, whether the top label is among the gold emotions ("none" when there are none), and
labels per utterance. In sample, then out of sample: each set's videos (speech: speakers) halved at random (seeded),
thresholds chosen on one half of every set and scored on the other, both ways round (means, and how
often the emotion's own F1 gives the higher figure). The last line is JSON. Test folds are never
touched.

    python benchmarks/label_thresholds.py [--checkpoint model/default] [--data-dir ../shared/data] [--halvings 20]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import labels_as_read  # noqa: E402
from mtmm_es.model.checkpoint import load_checkpoint  # noqa: E402
from mtmm_es.model.corpora.speech import speaker_of  # noqa: E402
from mtmm_es.model.metrics import THRESHOLD_GRID, weighted_accuracy  # noqa: E402
from mtmm_es.model.multi import load_datasets  # noqa: E402
from mtmm_es.model.recipes import load_recipe  # noqa: E402
from mtmm_es.model.tasks import EMOTIONS  # noqa: E402
from mtmm_es.pipeline.training import recipe_extract  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CRITERIA = {
    "weighted_f1": lambda truth, labelled: f1_score(truth, labelled, average="weighted", zero_division=0),
    "emotion_f1": lambda truth, labelled: f1_score(truth, labelled, zero_division=0),
}
SCORES = ("wacc", "macro_f1", "example_f1", "top_label", "labels_per_utterance")


def chosen(truth: np.ndarray, scores: np.ndarray, criterion: str) -> list[float]:
    """Per emotion, the grid threshold that maximises the criterion (as `choose_thresholds` does)."""
    score = CRITERIA[criterion]
    return [
        float(
            THRESHOLD_GRID[
                int(np.argmax([score(truth[:, k], (scores[:, k] >= t).astype(int)) for t in THRESHOLD_GRID]))
            ]
        )
        for k in range(len(EMOTIONS))
    ]


def scored(truth: np.ndarray, scores: np.ndarray, thresholds: list[float]) -> dict[str, float]:
    """The labels as users read them, against the gold emotions."""
    labelled, read = labels_as_read(truth, scores, thresholds)
    return {
        "wacc": 100 * float(np.nanmean([weighted_accuracy(truth[:, k], labelled[:, k]) for k in range(len(EMOTIONS))])),
        "macro_f1": read["macro_f1"],
        "example_f1": read["example_f1"],
        "top_label": 100 * read["top_label"],
        "labels_per_utterance": float(labelled.sum(1).mean()),
    }


def validation_sets(checkpoint, data_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """{dataset: (gold emotions 0/1, scores of the six and none, video of each utterance: for speech
    its speaker, whose clips are not independent)}."""
    extra = load_recipe(checkpoint.training.get("recipe") or "default").extra or {}
    datasets = load_datasets(
        data_dir,
        extra,
        extract=recipe_extract(extra, checkpoint.config.modalities),
        modalities=checkpoint.config.modalities,
    )
    sets = {}
    for dataset in datasets:
        videos = dataset.val.videos
        if "emotion" not in dataset.tasks() or not videos:
            continue
        truths, scores, ids = [], [], []
        for video, predicted in zip(videos, checkpoint.predict(videos)):
            if "emotion" not in video.weights:  # a video without emotion labels (gather skips it too)
                continue
            labelled = video.weights["emotion"] > 0
            truths.append(video.targets["emotion"].reshape(len(video), -1)[labelled, : len(EMOTIONS)] >= 0.5)
            scores.append(predicted["emotion"].reshape(len(video), -1)[labelled])
            ids += [speaker_of(video) if dataset.name == "speech" else video.id] * int(labelled.sum())
        sets[dataset.name] = (np.concatenate(truths).astype(int), np.concatenate(scores), np.array(ids))
    return sets


def compared(sets, fit: dict[str, np.ndarray], score: dict[str, np.ndarray]) -> dict[str, dict[str, dict]]:
    """Thresholds chosen per criterion on the `fit` rows of every set pooled, scored per set on `score`."""
    truth = np.concatenate([sets[name][0][rows] for name, rows in fit.items()])
    scores = np.concatenate([sets[name][1][rows] for name, rows in fit.items()])
    result = {}
    for criterion in CRITERIA:
        thresholds = chosen(truth, scores, criterion)
        result[criterion] = {
            name: scored(sets[name][0][rows], sets[name][1][rows], thresholds) for name, rows in score.items()
        }
        result[criterion]["thresholds"] = thresholds
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=str(ROOT / "model" / "default"))
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--halvings", type=int, default=20)
    args = parser.parse_args()
    sets = validation_sets(load_checkpoint(args.checkpoint), Path(args.data_dir))
    everything = {name: np.ones(len(truth), bool) for name, (truth, _, _) in sets.items()}
    report = {"in_sample": compared(sets, everything, everything)}
    for criterion, results in report["in_sample"].items():
        print(f"in sample, {criterion}: thresholds {results['thresholds']}")
        for name in sets:
            print(f"  {name:10s} " + "  ".join(f"{k}={v:.3f}" for k, v in results[name].items()))
    rng = np.random.default_rng(0)
    halves: dict[str, dict[str, list[dict]]] = {c: {name: [] for name in sets} for c in CRITERIA}
    for _ in range(args.halvings):
        first = {}
        for name, (_, _, ids) in sets.items():
            videos = np.array(sorted(set(ids)))
            rng.shuffle(videos)
            first[name] = np.isin(ids, videos[: len(videos) // 2])
        for fit in (first, {name: ~rows for name, rows in first.items()}):
            results = compared(sets, fit, {name: ~rows for name, rows in fit.items()})
            for criterion in CRITERIA:
                for name in sets:
                    halves[criterion][name].append(results[criterion][name])
    report["out_of_sample"] = {}
    for name in sets:
        base, other = halves["weighted_f1"][name], halves["emotion_f1"][name]
        row = {}
        for key in SCORES:
            a, b = np.array([r[key] for r in base]), np.array([r[key] for r in other])
            row[key] = {
                "weighted_f1": float(a.mean()),
                "emotion_f1": float(b.mean()),
                "emotion_f1_higher": float((b > a).mean()),
            }
        report["out_of_sample"][name] = row
        print(
            f"out of sample ({2 * args.halvings} halves), {name:10s} "
            + "  ".join(
                f"{k}={v['weighted_f1']:.3f}->{v['emotion_f1']:.3f} ({100 * v['emotion_f1_higher']:.0f} % higher)"
                for k, v in row.items()
            )
        )
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
