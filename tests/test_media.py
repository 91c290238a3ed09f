"""Ingest: probing, audio decoding, frame streaming, containers, rotation and unreadable files."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest
from conftest import ffmpeg

from mtmm_es.core.errors import MtmmError
from mtmm_es.extractors.base import SAMPLE_RATE
from mtmm_es.pipeline.media import Media, parse_probe, probe


def test_probe_reports_streams_size_and_duration(fixture_video: Path) -> None:
    info = probe(fixture_video)
    assert info.has_audio and info.has_video
    assert (info.width, info.height, info.fps) == (320, 320, 10.0)
    assert info.duration == pytest.approx(18.7, abs=0.1)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")


def test_audio_is_16khz_mono_float32_memory_mapped(fixture_video: Path) -> None:
    with Media(fixture_video) as media:
        audio = media.audio()
        assert audio.dtype == np.float32 and audio.ndim == 1
        assert isinstance(audio, np.memmap)
        assert len(audio) / SAMPLE_RATE == pytest.approx(media.info.duration, abs=0.1)
        assert np.abs(audio).max() > 0.05  # real speech, not silence


def test_frames_are_streamed_at_the_requested_rate_and_size(fixture_video: Path) -> None:
    with Media(fixture_video) as media:
        frames = media.frames(fps=2, max_side=160)
        assert isinstance(frames, types.GeneratorType)
        collected = list(frames)
    assert len(collected) == pytest.approx(18.7 * 2, abs=2)
    assert collected[0].rgb.shape == (160, 160, 3) and collected[0].rgb.dtype == np.uint8
    assert [f.time for f in collected[:3]] == [0.0, 0.5, 1.0]


def test_every_frame_when_fps_is_zero(fixture_video: Path) -> None:
    with Media(fixture_video) as media:
        count = sum(1 for _ in media.frames(fps=0, max_side=64))
    assert count == pytest.approx(187, abs=2)


@pytest.mark.parametrize(
    "suffix, codec_args",
    [
        (".mkv", ["-c", "copy"]),
        (".mov", ["-c", "copy"]),
        (".webm", ["-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libopus"]),
        (".avi", ["-c:v", "mpeg4", "-c:a", "libmp3lame"]),
        (".flv", ["-c:v", "flv", "-c:a", "libmp3lame", "-ar", "22050"]),
    ],
)
def test_common_containers_decode(tmp_path: Path, fixture_video: Path, suffix: str, codec_args: list[str]) -> None:
    clip = tmp_path / f"clip{suffix}"
    ffmpeg("-i", str(fixture_video), "-t", "3", *codec_args, str(clip))
    with Media(clip) as media:
        assert media.info.has_audio and media.info.has_video
        assert len(media.audio()) == pytest.approx(3 * SAMPLE_RATE, rel=0.1)
        assert sum(1 for _ in media.frames(5, 320)) == pytest.approx(15, abs=2)


def test_rotation_metadata_is_applied(tmp_path: Path, fixture_video: Path) -> None:
    wide = tmp_path / "wide.mp4"
    rotated = tmp_path / "rotated.mp4"
    ffmpeg("-i", str(fixture_video), "-t", "2", "-vf", "scale=320:240", "-c:v", "libx264", "-an", str(wide))
    ffmpeg("-display_rotation:v", "90", "-i", str(wide), "-c", "copy", str(rotated))
    with Media(rotated) as media:
        assert media.info.rotation in (90, 270)
        assert (media.info.width, media.info.height) == (240, 320)
        assert next(media.frames(5, 640)).rgb.shape == (320, 240, 3)


def test_audio_only_file_has_no_video(tmp_path: Path, fixture_video: Path) -> None:
    audio_only = tmp_path / "speech.m4a"
    ffmpeg("-i", str(fixture_video), "-vn", "-c:a", "copy", str(audio_only))
    with Media(audio_only) as media:
        assert media.info.has_audio and not media.info.has_video
        assert list(media.frames(5, 640)) == []


def test_parse_probe_ignores_cover_art_and_reads_kilo_rates() -> None:
    header = (
        "Input #0, mp3, from 'a.mp3':\n  Duration: 00:01:02.50, start: 0.000000, bitrate: 128 kb/s\n"
        "  Stream #0:0: Audio: mp3 (mp3float), 44100 Hz, stereo, fltp, 128 kb/s\n"
        "  Stream #0:1: Video: mjpeg (Baseline), yuvj420p, 500x500, 90k tbr, 90k tbn (attached pic)\n"
    )
    info = parse_probe("a.mp3", header)
    assert info.duration == pytest.approx(62.5)
    assert info.has_audio and not info.has_video


def _bad_input(kind: str, folder: Path) -> Path:
    path = folder / f"{kind}.mp4"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not a video")
    elif kind == "directory":
        path.mkdir()
    return path


@pytest.mark.parametrize(
    "kind, cause",
    [
        ("missing", "file not found"),
        ("empty", "empty file (0 bytes)"),
        ("text", "not a readable media file"),
        ("directory", "is a directory"),
    ],
)
def test_unreadable_inputs_name_the_file_and_the_cause(tmp_path: Path, kind: str, cause: str) -> None:
    path = _bad_input(kind, tmp_path)
    with pytest.raises(MtmmError) as error:
        probe(path)
    assert error.value.path == str(path)
    assert cause in str(error.value) and "\n" not in str(error.value)
