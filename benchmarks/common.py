"""Shared by the benchmarks: the generated 60 s 1280x720 30 fps talking-head video, and the emotion
labels as users read them scored against gold emotions."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def bench_video(path: str | None = None) -> str:
    """`path`, or the 60 s 720p30 talking head (generated once into the temp folder; needs espeak-ng)."""
    if path:
        return path
    video = Path(tempfile.gettempdir()) / "mtmm-bench-60s-720p30.mp4"
    if not video.exists():
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts/talking_head.py"),
                "--duration",
                "60",
                "--size",
                "1280x720",
                "--fps",
                "30",
                "--crf",
                "23",
                str(video),
            ],
            check=True,
        )
    return str(video)


def rtf_parser(doc: str) -> argparse.ArgumentParser:
    """Arguments shared by the real-time-factor benchmarks (the hidden ones run one measurement)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", nargs="?")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--naive-runs", type=int, default=1)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--naive", action="store_true", help=argparse.SUPPRESS)
    return parser


def labels_as_read(
    truth: np.ndarray, scores: np.ndarray, thresholds: list[float]
) -> tuple[np.ndarray, dict[str, float]]:
    """The labels users read at `thresholds` (the label rules applied) against the gold emotions
    (`truth`: the six, present at 0.5 or more): which of the six are labelled (0/1 per utterance),
    their macro-F1 over the six, and per utterance the example-based F1 between its labels and its
    gold emotions ("none" when it has none) and whether its first label is among them."""
    from sklearn.metrics import f1_score

    from mtmm_es.model.labels import emotion_labels
    from mtmm_es.model.tasks import EMOTIONS

    gold_rows, label_rows = truth[:, : len(EMOTIONS)] >= 0.5, [emotion_labels(row, thresholds) for row in scores]
    labelled = np.array([[name in labels for name in EMOTIONS] for labels in label_rows], int)
    f1s, tops = [], []
    for gold_row, labels in zip(gold_rows, label_rows):
        gold = {name for name, present in zip(EMOTIONS, gold_row) if present} or {"none"}
        f1s.append(2 * len(gold & set(labels)) / (len(gold) + len(set(labels))))
        tops.append(labels[0] in gold)
    return labelled, {
        "macro_f1": float(f1_score(gold_rows, labelled, average="macro", zero_division=0)),
        "example_f1": float(np.mean(f1s)),
        "top_label": float(np.mean(tops)),
    }
