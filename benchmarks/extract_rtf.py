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

import json
import re
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import bench_video, rtf_parser  # noqa: E402


def peak_rss_kb() -> int:
    """This process's memory high-water mark (VmHWM; ru_maxrss also counts the parent at fork)."""
    with open("/proc/self/status") as status:
        return int(re.search(r"VmHWM:\s+(\d+) kB", status.read()).group(1))


def worker(video: str, naive: bool) -> dict:
    from mtmm_es.extractors.acoustic import AcousticConfig
    from mtmm_es.extractors.visual import VisualConfig
    from mtmm_es.pipeline import ExtractionConfig, FeaturePipeline

    config = ExtractionConfig(cache=False)
    if naive:
        config = replace(config, acoustic=AcousticConfig(pitch="pyin"), visual=VisualConfig(fps=0, skip_bidir=False))
    started = time.perf_counter()
    pipeline = FeaturePipeline(config)
    pipeline.extract(video)
    cold_s = time.perf_counter() - started
    warm = pipeline.extract(video)
    peak_kb = max(peak_rss_kb(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
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
    parser = rtf_parser(__doc__)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.video, args.naive)))
        return
    video = bench_video(args.video)
    results = {}
    for label, naive, count in (("default", False, args.runs), ("naive", True, args.naive_runs)):
        runs = []
        for index in range(count):
            runs.append(run_worker(video, naive))
            print(
                f"{label} run {index + 1}: rtf {runs[-1]['rtf']:.3f} (cold {runs[-1]['rtf_cold']:.3f}), "
                f"peak {runs[-1]['peak_rss_mb']:.0f} MB, stages {runs[-1]['stages']}",
                flush=True,
            )
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
