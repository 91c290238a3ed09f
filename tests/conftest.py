"""Shared fixtures: the committed talking-head clip, ../shared data (skipped when absent), media helpers."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_VIDEO = ROOT / "tests" / "fixtures" / "talking_head.mp4"
SHARED_DATA = Path(os.environ.get("MTMM_SHARED_DATA") or ROOT.parent / "shared" / "data")  # override: worktrees


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared data folder is only present in this workplace and CI)")
    return path


def ffmpeg(*args: str) -> None:
    """Run the bundled ffmpeg quietly, failing the test on error."""
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="session")
def fixture_video() -> Path:
    return FIXTURE_VIDEO


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def feature_pipeline(cache_dir: Path):
    from mtmm_es.pipeline import ExtractionConfig, FeaturePipeline

    return FeaturePipeline(ExtractionConfig(cache_dir=str(cache_dir)))


@pytest.fixture(scope="session")
def fixture_extraction(feature_pipeline, fixture_video: Path):
    return feature_pipeline.extract(fixture_video)
