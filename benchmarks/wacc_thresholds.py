"""How well the `wacc` emotion thresholds carry to talk they were not chosen on.

The default recipe chooses each emotion's WAcc threshold on the MOSEI validation fold (the grid point
with the best WAcc there), then moves it a share w of the way to the emotion's share of MOSEI's
training labels (`emotion_thresholds_prevalence_weight`; P >= share is the WAcc-optimal rule when P
is calibrated). This benchmark predicts MOSEI validation through `mtmm predict --transcripts` (the
checkpoint's own path), halves its videos at random, chooses the grid thresholds on one half and
scores the other (seeded: the same halves every run), for w = 0, 0.25, 0.5, 0.75 and 1 (w = 1: the training shares alone, nothing fitted
on validation). Prints the mean WAcc out of sample per w, its paired difference from w = 0 and how
often it beats w = 0; also the WAcc of the labels the checkpoint writes at `--emotion-thresholds
wacc` (in sample: the thresholds were chosen on this fold). The last line is JSON.

    python benchmarks/wacc_thresholds.py [--checkpoint model/default] [--data-dir ../shared/data] [--halvings 50]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mtmm_es.model.corpora.mosei_text import load_mosei_text  # noqa: E402
from mtmm_es.model.metrics import choose_thresholds, emotion_metrics, weighted_accuracy  # noqa: E402
from mtmm_es.model.multi import emotion_prevalence, moved_towards  # noqa: E402
from mtmm_es.model.tasks import EMOTIONS  # noqa: E402
from mtmm_es.pipeline.training import predict_transcripts  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=str(ROOT / "model" / "default"))
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--halvings", type=int, default=50)
    args = parser.parse_args()
    folder = Path(args.data_dir) / "mosei"
    shares = emotion_prevalence(load_mosei_text(folder, "train"))
    with open(folder / "transcripts_valid.csv", newline="", encoding="utf-8") as handle:
        gold = {(row["video_id"], row["segment_id"]): row for row in csv.DictReader(handle)}
    with tempfile.TemporaryDirectory() as temp:
        out = Path(temp) / "valid.csv"
        predict_transcripts(folder / "transcripts_valid.csv", out, args.checkpoint, emotion_thresholds="wacc")
        with out.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    truth = np.array([[float(gold[(r["file"], r["index"])][e]) > 0 for e in EMOTIONS] for r in rows], int)
    scores = np.array([[float(r[f"p_{e}"]) for e in EMOTIONS] for r in rows])
    labelled = np.array([[e in r["emotions"].split(";") for e in EMOTIONS] for r in rows], int)
    videos = np.array([r["file"] for r in rows])
    ids = np.array(sorted(set(videos)))
    rng = np.random.default_rng(0)
    results: dict[float, list[float]] = {w: [] for w in WEIGHTS}
    for _ in range(args.halvings):
        rng.shuffle(ids)
        first = np.isin(videos, ids[: len(ids) // 2])
        for fit, score in ((first, ~first), (~first, first)):
            grid = choose_thresholds(truth[fit], scores[fit], "wacc")
            for w in WEIGHTS:
                thresholds = moved_towards(grid, shares, w)
                results[w].append(
                    100 * emotion_metrics(truth[score], scores[score], thresholds, thresholds)["mean_wacc"]
                )
    base = np.array(results[0.0])
    report = {
        "labels_wacc_in_sample": round(
            100 * float(np.mean([weighted_accuracy(truth[:, k], labelled[:, k]) for k in range(len(EMOTIONS))])), 2
        ),
        "training_shares": [round(float(s), 4) for s in shares],
    }
    for w, values in results.items():
        values = np.array(values)
        report[f"w{w}"] = {
            "wacc_out_of_sample": round(float(values.mean()), 2),
            "std": round(float(values.std()), 2),
            "minus_w0": round(float((values - base).mean()), 2),
            "beats_w0": round(float(np.mean(values > base)), 2),
        }
        print(
            f"w = {w}: WAcc out of sample {values.mean():.2f} +/- {values.std():.2f}, "
            f"{(values - base).mean():+.2f} against w = 0, better in {np.mean(values > base):.0%}"
        )
    print(f"labels at --emotion-thresholds wacc, in sample: {report['labels_wacc_in_sample']}")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
