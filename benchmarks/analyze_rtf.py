"""analyze-video end to end: real-time factor (target <= 0.10) and batch throughput with 1 vs 2 workers.

    python benchmarks/analyze_rtf.py [VIDEO] [--runs 3] [--naive-runs 1] [--batch-files 6]

RTF: each run is a fresh process building the Pipeline (extraction + default model, cache off)
and analysing the video twice: `rtf_cold` includes loading models and libraries, `rtf` is the
second analysis (what every further file of a batch costs). Stages run overlapped: frames are
decoded and faces tracked while speech is recognised. The naive configuration (every frame,
B-frames decoded, pyin) is measured in the same run. Batch: N distinct copies of the committed
fixture through `run_batch` with 1 and 2 worker processes (cache off); the ratio is the speed-up.
Prints one JSON object as its last line.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import bench_video, rtf_parser  # noqa: E402


def worker(video: str, naive: bool) -> dict:
    from mtmm_es.extractors.acoustic import AcousticConfig
    from mtmm_es.extractors.visual import VisualConfig
    from mtmm_es.pipeline import ExtractionConfig
    from mtmm_es.pipeline.analyze import Pipeline

    config = ExtractionConfig(cache=False)
    if naive:
        config = replace(config, acoustic=AcousticConfig(pitch="pyin"), visual=VisualConfig(fps=0, skip_bidir=False))
    started = time.perf_counter()
    pipeline = Pipeline(config)
    first = pipeline.analyze(video)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    pipeline.analyze(video)
    warm = time.perf_counter() - started
    duration = first.source.duration
    return {"rtf_cold": cold / duration, "rtf": warm / duration, "duration_s": duration}


def run_worker(video: str, naive: bool) -> dict:
    command = [sys.executable, __file__, "--worker", video] + (["--naive"] if naive else [])
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1])


def batch_throughput(files: int, workers: int) -> float:
    """Seconds for `files` distinct copies of the fixture through run_batch (fresh processes)."""
    code = (
        "import sys, time; from mtmm_es.pipeline import ExtractionConfig; from mtmm_es.pipeline.batch import BatchOptions, run_batch\n"
        "t = time.perf_counter()\n"
        "s = run_batch(sys.argv[1], sys.argv[2], BatchOptions(workers=int(sys.argv[3])), ExtractionConfig(cache=False),"
        " progress=False)\n"
        "assert s.counts()['processed'] == int(sys.argv[4]), s.to_dict()\n"
        "print(time.perf_counter() - t)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        source = ROOT / "tests/fixtures/talking_head.mp4"
        for k in range(files):
            (Path(tmp) / f"clip{k}.mp4").write_bytes(source.read_bytes() + bytes(k))
        out = Path(tmp) / "out"
        result = subprocess.run(
            [sys.executable, "-c", code, tmp, str(out), str(workers), str(files)],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        shutil.rmtree(out, ignore_errors=True)
    return float(result.stdout.splitlines()[-1])


def main() -> None:
    parser = rtf_parser(__doc__)
    parser.add_argument("--batch-files", type=int, default=6)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.video, args.naive)))
        return
    video = bench_video(args.video)
    summary: dict = {"video": video}
    for label, naive, count in (("default", False, args.runs), ("naive", True, args.naive_runs)):
        runs = [run_worker(video, naive) for _ in range(count)]
        for k, run in enumerate(runs):
            print(f"{label} run {k + 1}: rtf {run['rtf']:.3f} (cold {run['rtf_cold']:.3f})", flush=True)
        if runs:
            summary[label] = {
                "rtf": statistics.median(r["rtf"] for r in runs),
                "rtf_cold": statistics.median(r["rtf_cold"] for r in runs),
                "runs": count,
            }
    summary["rtf"] = summary["default"]["rtf"]
    if "naive" in summary:
        summary["speedup_vs_naive"] = summary["naive"]["rtf"] / summary["rtf"]
    if args.batch_files:
        one, two = batch_throughput(args.batch_files, 1), batch_throughput(args.batch_files, 2)
        print(f"batch of {args.batch_files} files: 1 worker {one:.1f} s, 2 workers {two:.1f} s", flush=True)
        summary["batch"] = {
            "files": args.batch_files,
            "seconds_1_worker": one,
            "seconds_2_workers": two,
            "speedup_2_workers": one / two,
        }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
