"""Int8 copies of the bundled Whisper models: decoded exactly as the shipped model loaded as int8,
written once per source, and the shipped model used when no copy can be written."""

from __future__ import annotations

import logging
import os
import shutil
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from mtmm_es.extractors import ct2_int8
from mtmm_es.extractors.asr import AsrConfig, FasterWhisperTranscriber, bundled_whisper_model
from mtmm_es.extractors.ct2_int8 import int8_model, models_dir
from mtmm_es.pipeline.media import Media


@pytest.fixture(scope="module")
def fixture_audio(fixture_video: Path) -> np.ndarray:
    with Media(fixture_video) as media:
        return np.array(media.audio())


@pytest.fixture
def tiny_source(tmp_path: Path) -> Path:
    """A copy of the bundled tiny.en folder the test may touch."""
    return Path(shutil.copytree(bundled_whisper_model(), tmp_path / "tiny.en"))


def test_copy_decodes_exactly_as_the_shipped_model_loaded_as_int8(fixture_audio: np.ndarray) -> None:
    copied = FasterWhisperTranscriber(AsrConfig())
    shipped = FasterWhisperTranscriber(AsrConfig(), bundled_whisper_model())  # float16, quantized at load
    assert copied.load_path == models_dir() / "whisper-tiny.en-int8"
    assert shipped.load_path == bundled_whisper_model()
    assert (copied.load_path / "model.bin").stat().st_size < 0.6 * (shipped.load_path / "model.bin").stat().st_size
    assert copied.recognise(fixture_audio, "en") == shipped.recognise(fixture_audio, "en")


def test_float32_is_loaded_as_shipped() -> None:
    assert FasterWhisperTranscriber(AsrConfig(compute_type="float32")).load_path == bundled_whisper_model()


def test_copy_is_written_once_and_again_when_the_source_changes(tiny_source: Path) -> None:
    copy = int8_model(tiny_source, "tiny")
    assert copy == models_dir() / "tiny" and (copy / "tokenizer.json").is_file()
    written = (copy / "model.bin").stat().st_mtime_ns
    assert int8_model(tiny_source, "tiny") == copy and (copy / "model.bin").stat().st_mtime_ns == written
    stat = (tiny_source / "model.bin").stat()
    os.utime(tiny_source / "model.bin", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert int8_model(tiny_source, "tiny") == copy and (copy / "model.bin").stat().st_mtime_ns != written


def test_a_copy_cut_short_is_written_again(tiny_source: Path) -> None:
    """Regression: a truncated copy kept its stamp, so every run failed to load it and none rebuilt it."""
    copy = int8_model(tiny_source, "tiny-cut")
    whole = (copy / "model.bin").read_bytes()
    (copy / "model.bin").write_bytes(whole[: len(whole) // 2])
    assert int8_model(tiny_source, "tiny-cut") == copy and (copy / "model.bin").read_bytes() == whole


def test_threads_asking_at_once_write_the_copy_once(
    tiny_source: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    write = ct2_int8._write_copy

    def slow_write(*args) -> None:  # both threads ask while the first is still writing
        time.sleep(0.5)
        write(*args)

    monkeypatch.setattr(ct2_int8, "_write_copy", slow_write)
    with caplog.at_level(logging.INFO, logger="mtmm_es.asr"), ThreadPoolExecutor(max_workers=2) as pool:
        copies = list(pool.map(lambda _: int8_model(tiny_source, "tiny-shared"), range(2)))
    assert copies == [models_dir() / "tiny-shared"] * 2
    assert sum("writing an int8 copy" in record.message for record in caplog.records) == 1


def test_shipped_model_used_when_the_cache_cannot_be_written(
    tiny_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "blocked").write_text("a file where the models folder should be")
    monkeypatch.setenv("MTMM_MODELS_DIR", str(tmp_path / "blocked"))
    with caplog.at_level(logging.WARNING, logger="mtmm_es"):
        assert int8_model(tiny_source, "tiny") == tiny_source
    assert "cannot write an int8 copy" in caplog.text


def test_shipped_model_used_for_another_model_format(tiny_source: Path, caplog: pytest.LogCaptureFixture) -> None:
    with open(tiny_source / "model.bin", "r+b") as model:
        model.write(struct.pack("<I", 5))  # an older CTranslate2 layout
    with caplog.at_level(logging.WARNING, logger="mtmm_es"):
        assert int8_model(tiny_source, "tiny") == tiny_source
    assert "format 5" in caplog.text and not (models_dir() / "tiny" / "source.stamp").exists()
