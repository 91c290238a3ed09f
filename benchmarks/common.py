"""Shared by the benchmarks: the generated 60 s 1280x720 30 fps talking-head video."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

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
