"""Cold start: `analyze-video` on a 5 s clip in a fresh process (target <= 4 s on the project machine).

    python benchmarks/startup.py [--runs 7] [--clip FILE] [--imports]

Each run is a new Python process running the installed `analyze-video` on the first 5 s of the
committed fixture with `--no-cache`, so every stage runs: imports, model loading, decoding, language
identification, speech recognition, features, the model. Model files joined once per machine (the
Whisper base parts, on the very first run) stay in the benchmark's own cache folder, as they do in a
user's: that one-time join happens in the warm-up run, which is not counted. The wall time of the whole process is measured, and the
median over the runs is reported (the machine is shared: single runs vary). --imports also lists the
slowest imports of one run (python -X importtime). Prints one JSON object as its last line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "talking_head.mp4"
RUN = "import sys; from mtmm_es import cli; sys.exit(cli.analyze_video())"


def make_clip(folder: Path) -> Path:
    import imageio_ffmpeg

    clip = folder / "clip5.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(FIXTURE), "-t", "5", "-c", "copy", str(clip)],
        check=True,
    )
    return clip


def one_run(clip: Path, folder: Path, importtime: bool = False) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the process and its children, stderr) of one fresh run."""
    env = {**os.environ, "MTMM_CACHE_DIR": str(folder / "cache")}
    flags = ["-X", "importtime"] if importtime else []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, *flags, "-c", RUN, str(clip), "--out", str(folder / "labels.json"), "--no-cache"],
        capture_output=True,
        text=True,
        env=env,
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if result.returncode != 0:
        raise SystemExit(f"analyze-video failed: {result.stderr.strip()}")
    return elapsed, cpu, result.stderr


def slowest_imports(stderr: str, count: int = 15) -> list[tuple[str, float]]:
    """Top-level packages by cumulative import time (seconds)."""
    totals: dict[str, float] = {}
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if match and len(match.group(2)) <= 1:
            name = match.group(3)
            totals[name] = totals.get(name, 0.0) + int(match.group(1)) / 1e6
    return sorted(totals.items(), key=lambda item: -item[1])[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--clip", type=Path, help="default: the first 5 s of the committed fixture")
    parser.add_argument("--imports", action="store_true", help="also list the slowest imports of one run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        clip = args.clip or make_clip(folder)
        one_run(clip, folder)  # warm the OS file cache and numba's on-disk cache: "cold" = a new process
        runs = [one_run(clip, folder)[:2] for _ in range(args.runs)]
        imports = slowest_imports(one_run(clip, folder, importtime=True)[2]) if args.imports else []
    times, cpus = [wall for wall, _ in runs], [cpu for _, cpu in runs]
    for name, seconds in imports:
        print(f"  import {name:40s} {seconds:6.2f} s")
    print(f"wall: {', '.join(f'{t:.2f}' for t in times)} s; CPU: {', '.join(f'{c:.2f}' for c in cpus)} s")
    load = os.getloadavg()[0]
    print(
        json.dumps(
            {
                "median_s": round(statistics.median(times), 2),
                "median_cpu_s": round(statistics.median(cpus), 2),
                "min_s": round(min(times), 2),
                "runs": len(times),
                "load_average_1min": round(load, 2),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
