"""Helpers shared by the test files (imported as `helpers`; fixtures live in conftest.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_VIDEO = ROOT / "tests" / "fixtures" / "talking_head.mp4"
# ../shared/data beside the repository; MTMM_SHARED_DATA points elsewhere (a git worktree, another clone)
SHARED_DATA = Path(os.environ.get("MTMM_SHARED_DATA") or ROOT.parent / "shared" / "data")


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared data folder is only present in this workplace and CI)")
    return path


def ffmpeg(*args: str) -> None:
    """Run the bundled ffmpeg quietly, failing the test on error."""
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", *args], check=True)


def late_audio_video(out: Path, audio_source: Path = FIXTURE_VIDEO) -> Path:
    """A 14 s test-pattern video whose audio stream (8 s of `audio_source`) starts at 6 s."""
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=s=160x120:r=10:d=14"),
        *("-itsoffset", "6", "-t", "8", "-i", str(audio_source)),
        *("-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-c:a", "aac", str(out)),
    )
    return out


def plain_colour_video(out: Path, colour: str, seconds: float, audio_source: Path = FIXTURE_VIDEO) -> Path:
    """A faceless video of one colour carrying the audio of `audio_source` (the shorter decides)."""
    ffmpeg(
        *("-f", "lavfi", "-i", f"color=c={colour}:s=320x240:r=10:d={seconds}", "-i", str(audio_source)),
        *("-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-c:a", "copy", "-shortest", str(out)),
    )
    return out


def two_track_recording(
    out: Path, seconds: float, source: Path = FIXTURE_VIDEO, first: str = "anullsrc=r=48000:cl=stereo"
) -> Path:
    """As OBS records: a silent audio track first (or the lavfi source `first`: a tone, say), the
    speech of `source` on the second."""
    ffmpeg(
        *("-i", str(source), "-f", "lavfi", "-i", first, "-t", str(seconds)),
        *("-map", "0:v", "-map", "1:a", "-map", "0:a", "-c:v", "copy", "-c:a", "aac", str(out)),
    )
    return out
