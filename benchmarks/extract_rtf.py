"""Real-time factor and peak memory of feature extraction (defaults vs the naive configuration).

    python benchmarks/extract_rtf.py [VIDEO] [--runs 3] [--naive-runs 1]

Without VIDEO, a 60 s 1280x720 30 fps talking-head video is generated (scripts/talking_head.py,
needs espeak-ng). Each run is a fresh process that builds the pipeline and extracts twice, cache
off: `rtf_cold` times the first extraction including model loading and library warm-up, `rtf` the
second (models loaded: what every file after the first costs in a batch). The naive configuration
analyses every video frame, decodes B-frames and estimates pitch with pyin. Prints per-stage seconds,
then, as its last line, one JSON object with medians over the runs.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(video: str, naive: bool) -> dict:
    sys.path.insert(0, str(ROOT))
    from extractors.acoustic import AcousticConfig
    from extractors.visual import VisualConfig
    from pipeline import ExtractionConfig, FeaturePipeline

    config = ExtractionConfig(cache=False)
    if naive:
        config = replace(
            config, acoustic=AcousticConfig(pitch="pyin"), visual=VisualConfig(fps=0, skip_bidir=False)
        )
    started = time.perf_counter()
    pipeline = FeaturePipeline(config)
    cold = pipeline.extract(video)
    cold_s = time.perf_counter() - started
    warm = pipeline.extract(video)
    peak_kb = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    )
    duration = warm.media.duration
    return {
        "duration_s": duration,
        "utterances": len(warm.utterances),
        "rtf_cold": cold_s / duration,
        "rtf": warm.timings["total"] / duration,
        "stages": {k: round(v, 3) for k, v in warm.timings.items()},
        "peak_rss_mb": peak_kb / 1024,
    }


def run_worker(video: str, naive: bool) -> dict:
    command = [sys.executable, __file__, "--worker", video] + (["--naive"] if naive else [])
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def summarise(runs: list[dict]) -> dict:
    stages = {key: statistics.median(r["stages"][key] for r in runs) for key in runs[0]["stages"]}
    return {
        "rtf": statistics.median(r["rtf"] for r in runs),
        "rtf_cold": statistics.median(r["rtf_cold"] for r in runs),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "stages": stages,
        "runs": len(runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", nargs="?")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--naive-runs", type=int, default=1)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--naive", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.video, args.naive)))
        return
    video = args.video
    if video is None:
        video = str(Path(tempfile.gettempdir()) / "mtmm-bench-60s-720p30.mp4")
        if not Path(video).exists():
            subprocess.run(
                [sys.executable, str(ROOT / "scripts/talking_head.py"), "--duration", "60", "--size", "1280x720",
                 "--fps", "30", "--crf", "23", video],
                check=True,
            )  # fmt: skip
    results = {}
    for label, naive, count in (("default", False, args.runs), ("naive", True, args.naive_runs)):
        runs = []
        for index in range(count):
            runs.append(run_worker(video, naive))
            print(f"{label} run {index + 1}: rtf {runs[-1]['rtf']:.3f} (cold {runs[-1]['rtf_cold']:.3f}), "
                  f"peak {runs[-1]['peak_rss_mb']:.0f} MB, stages {runs[-1]['stages']}", flush=True)  # fmt: skip
        results[label] = summarise(runs) if runs else None
    default, naive = results["default"], results["naive"]
    print("stage seconds (median, default):", " ".join(f"{k}={v:.2f}" for k, v in default["stages"].items()))
    summary = {
        "video": video,
        "duration_s": runs[-1]["duration_s"] if runs else None,
        **default,
        "naive": naive,
        "speedup_vs_naive": naive["rtf"] / default["rtf"] if naive else None,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
