"""How well does pause-based segmentation reproduce human utterance boundaries? (chooses --pause)

Runs `pipeline.segment_words` with each pause threshold over the forced-aligned words of the CMU-MOSI
training videos (../shared/data/mosi/CMU_MOSI_ModifiedTimestampedWords.csd) and compares the
utterances with MOSI's annotated ones: boundary precision/recall/F1 (a predicted boundary matches an
annotated one within --tolerance seconds), the median utterance duration and the Kolmogorov-Smirnov
distance between predicted and annotated duration distributions. The default pause is the one whose
utterances look most like the annotated ones (smallest KS distance): MOSI's boundaries barely follow
pauses (boundary F1 stays near chance), so length is what the model can rely on.

    python benchmarks/segmentation_sweep.py [--data-dir ../shared/data/mosi]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from mtmm_es.extractors.base import Word
from mtmm_es.model.csd import ComputationalSequence
from mtmm_es.pipeline.segmentation import SegmentationConfig, segment_words


def match_count(predicted: np.ndarray, reference: np.ndarray, tolerance: float) -> int:
    """Greedy one-to-one matches of boundary times within `tolerance`."""
    used = np.zeros(len(reference), bool)
    hits = 0
    for t in predicted:
        distance = np.where(used, np.inf, np.abs(reference - t))
        if len(distance) and distance.min() <= tolerance:
            used[int(distance.argmin())] = True
            hits += 1
    return hits


def videos(data_dir: Path) -> list[tuple[list[Word], np.ndarray, np.ndarray]]:
    """Per video: words inside the annotated span, annotated boundaries, annotated durations."""
    table = pd.read_csv(data_dir / "train_utterances.csv")
    out = []
    with ComputationalSequence(data_dir / "CMU_MOSI_ModifiedTimestampedWords.csd") as csd:
        for video_id, rows in table.groupby("video_id"):
            if video_id not in csd:
                continue
            rows = rows.sort_values("start")
            lo, hi = rows.start.min(), rows.end.max()
            words = [Word(w, s, e, 1.0) for w, s, e in csd.words(video_id) if s >= lo - 0.05 and e <= hi + 0.05]
            boundaries = ((rows.end.to_numpy()[:-1] + rows.start.to_numpy()[1:]) / 2).astype(float)
            out.append((words, boundaries, (rows.end - rows.start).to_numpy()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data/mosi"))
    parser.add_argument("--tolerance", type=float, default=0.5)
    args = parser.parse_args()
    data = videos(args.data_dir)
    reference_durations = np.concatenate([d for _, _, d in data])
    print(f"{len(data)} videos; annotated utterances: median {np.median(reference_durations):.2f} s")
    print("pause_s  precision  recall     f1  median_s     ks  utterances")
    results = []
    for pause in (0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.8):
        config = replace(SegmentationConfig(), pause_s=pause)
        hits = n_predicted = n_reference = 0
        durations = []
        for words, boundaries, _ in data:
            utterances = segment_words(words, config)
            predicted = np.array([(a.end + b.start) / 2 for a, b in zip(utterances[:-1], utterances[1:])])
            hits += match_count(predicted, boundaries, args.tolerance)
            n_predicted += len(predicted)
            n_reference += len(boundaries)
            durations += [u.end - u.start for u in utterances]
        precision, recall = hits / max(n_predicted, 1), hits / max(n_reference, 1)
        f1 = 2 * precision * recall / max(precision + recall, 1e-9)
        ks = float(ks_2samp(durations, reference_durations).statistic)
        results.append(
            {
                "pause_s": pause,
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "median_s": float(np.median(durations)),
                "ks": ks,
                "utterances": len(durations),
            }
        )
        print(
            f"{pause:7.2f}  {precision:9.3f}  {recall:6.3f}  {f1:5.3f}  {np.median(durations):8.2f}  {ks:5.3f}  {len(durations):10d}"
        )
    print(json.dumps({"closest_durations": min(results, key=lambda r: r["ks"]), "sweep": results}))


if __name__ == "__main__":
    main()
