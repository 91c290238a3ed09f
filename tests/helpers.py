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
