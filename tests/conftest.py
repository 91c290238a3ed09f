"""Shared fixtures: the committed talking-head clip, a temporary cache for every test, one feature
pipeline per session, SIGTERM raising as under the command line. Plain helpers (ffmpeg,
shared_path) live in helpers.py."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import FIXTURE_VIDEO


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's folder for model files joined and prepared on first use: they are derived from
    the installed packages, the same for every test, so each is written once, not per test."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test gets its own empty default cache folder (MTMM_CACHE_DIR, inherited by the processes
    it starts): no test writes into the user's ~/.cache or sees another test's entries. Tests that
    share extractions on purpose use the session's `cache_dir`; model files use `models_dir`."""
    monkeypatch.setenv("MTMM_CACHE_DIR", str(tmp_path_factory.mktemp("default-cache")))
    monkeypatch.setenv("MTMM_MODELS_DIR", str(models_dir))


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


@pytest.fixture
def sigterm_raises() -> Iterator[None]:
    """SIGTERM raises `Terminated` for the test, as under the command line; the previous action after."""
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    from mtmm_es.core.signals import raise_on_termination

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise_on_termination()
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
