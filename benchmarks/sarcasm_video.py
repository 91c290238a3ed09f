"""Sarcasm on real TV video: the shipped default, end to end, on the House M.D. target-utterance
clips of `shared/data/sarcasm_video` (one clip at a time, the product's Python API).

--text asr (default): `analyze-video` as a user runs it (ASR, pause segmentation); a clip's score is
the mean sarcasm probability of its utterances. --text transcript: the clip is one window whose text
is the human transcript (a `--segments` CSV row `0,<duration>,<text>`), so ASR errors drop out.
With `--scenes val` only the 26 scenes the default recipe validates on (its `house` dataset trains on
the other 104): the default (`auto`) for a checkpoint trained with them, as the shipped one is
from v5 on; `all` scores every clip. Prints the sarcasm-score AUC and accuracy
(threshold 0.5) against labels.csv; last line JSON. P(sarcasm) is at the checkpoint's base rate (0.1
for the shipped model) unless --sarcasm-base-rate gives another: the checkpoint's trained rate
(0.5124 for the shipped model) scores P as trained. The rate never reorders utterances, but it can
reorder clips whose score is a mean over several.

    python benchmarks/sarcasm_video.py [--data-dir ../shared/data/sarcasm_video] [--text transcript] [--scenes all]
        [--sarcasm-base-rate 0.5124]
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from sklearn.metrics import accuracy_score, roc_auc_score

from mtmm_es.model.corpora.house import validation_scenes
from mtmm_es.model.meta import read_meta
from mtmm_es.pipeline import ExtractionConfig
from mtmm_es.pipeline.analyze import Pipeline, default_checkpoint_dir

ROOT = Path(__file__).resolve().parents[1]


def target_clips(data_dir: Path) -> list[dict[str, str]]:
    """labels.csv rows of the target utterances that have a clip and a sarcasm label."""
    with open(data_dir / "labels.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [r for r in rows if r["role"] == "utterance" and r["clip"] and r["sarcasm"] in ("0", "1")]


def duration(clip: Path) -> float:
    """The clip's duration in seconds (container header)."""
    with av.open(str(clip)) as container:
        return container.duration / av.time_base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_dir = Path(os.environ.get("MTMM_SHARED_DATA", ROOT.parent / "shared" / "data")) / "sarcasm_video"
    parser.add_argument("--data-dir", type=Path, default=default_dir)
    parser.add_argument("--text", choices=("asr", "transcript"), default="asr")
    parser.add_argument("--checkpoint", default=None, help="default: the shipped model")
    parser.add_argument("--limit", type=int, default=None, help="first N clips only (a quick look)")
    parser.add_argument("--sarcasm-base-rate", type=float, default=None, help="default: the checkpoint's")
    parser.add_argument(
        "--scenes",
        choices=("auto", "all", "val"),
        default="auto",
        help="val: only the scenes the default recipe holds out; auto: val when the checkpoint trained on House",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.scenes == "auto":
        meta = read_meta(args.checkpoint or default_checkpoint_dir())
        args.scenes = "val" if "house" in meta.get("training", {}).get("datasets", {}) else "all"
    rows = target_clips(args.data_dir)
    if args.scenes == "val":
        held = validation_scenes(args.data_dir)
        rows = [r for r in rows if r["scene"] in held]
    rows = rows[: args.limit]
    truths, scores, missing, base_rate_used = [], [], 0, None
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        rate = args.sarcasm_base_rate
        plain = Pipeline(checkpoint=args.checkpoint, sarcasm_base_rate=rate) if args.text == "asr" else None
        for number, row in enumerate(rows, start=1):
            clip = args.data_dir / row["clip"]
            if plain is not None:
                pipeline = plain
            else:
                segments = Path(folder) / "segments.csv"
                with open(segments, "w", newline="", encoding="utf-8") as handle:
                    csv.writer(handle).writerows(
                        [("start", "end", "text"), (0.0, round(duration(clip), 3), row["text"])]
                    )
                pipeline = Pipeline(
                    ExtractionConfig(segments=str(segments)), checkpoint=args.checkpoint, sarcasm_base_rate=rate
                )
            result = pipeline.analyze(clip)
            base_rate_used = result.model.sarcasm_base_rate
            probabilities = [u.sarcasm.p for u in result.utterances if u.sarcasm is not None]
            if not probabilities:
                missing += 1
                probabilities = [result.model.sarcasm_base_rate or 0.5]  # nothing heard: the prior, counted in the AUC
            truths.append(int(row["sarcasm"]))
            scores.append(float(np.mean(probabilities)))
            if number % 20 == 0:
                print(f"{number}/{len(rows)} clips, {time.perf_counter() - started:.0f} s", file=sys.stderr)
    truth, score = np.array(truths), np.array(scores)
    summary = {
        "benchmark": "sarcasm_video",
        "text": args.text,
        "checkpoint": args.checkpoint or "default",
        "sarcasm_base_rate": base_rate_used,
        "scenes": args.scenes,
        "clips": len(truth),
        "sarcastic": int(truth.sum()),
        "no_utterance": missing,
        "auc": round(float(roc_auc_score(truth, score)), 4),
        "accuracy": round(float(accuracy_score(truth, score >= 0.5)), 4),
        "majority": round(float(max(truth.mean(), 1 - truth.mean())), 4),
        "mean_score": round(float(score.mean()), 4),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(f"AUC {summary['auc']:.3f}  accuracy {summary['accuracy']:.3f} (majority {summary['majority']:.3f})")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
