"""The rest of the bad-input matrix: several faces, variable frame rate, a long video's memory, and
inputs analyze-video must explain in one line (the others live in test_media / test_extract /
test_batch / test_training)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import ffmpeg, plain_colour_video
from skimage import data

from mtmm_es.extractors.base import Utterance
from mtmm_es.extractors.visual import FaceExpressionExtractor
from mtmm_es.pipeline.media import Media


def test_several_faces_follow_the_primary_one(tmp_path: Path) -> None:
    face = data.astronaut()[10:290, 80:360]
    frame = np.full((360, 640, 3), 90, np.uint8)
    frame[40:320, 300:580] = face  # large, right of centre
    frame[230:340, 40:150] = cv2.resize(face, (110, 110))  # small, in a corner
    image = tmp_path / "two.png"
    cv2.imwrite(str(image), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    video = tmp_path / "two_faces.mp4"
    ffmpeg("-loop", "1", "-i", str(image), "-t", "2", "-r", "10", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(video))
    extractor = FaceExpressionExtractor()
    with Media(video) as media:
        track = extractor.analyze(media)
        features = extractor.pool(track, media, [Utterance(0, 0.0, 2.0, "x")])
    assert len(set(track.frame.tolist())) == len(track.times)  # a face on every frame
    tx = features.values[0, extractor.info.feature_names.index("tx_cm_mean")]
    assert tx > 0  # no audio to follow: the big face on the right, not the small one on the left


def test_variable_frame_rate_is_sampled_on_a_regular_grid(tmp_path: Path, fixture_video: Path) -> None:
    vfr = tmp_path / "vfr.mkv"
    ffmpeg(
        "-i",
        str(fixture_video),
        "-t",
        "6",
        "-vf",
        "select='not(mod(n,3))+lt(t,2)'",
        "-fps_mode",
        "vfr",
        "-c:v",
        "libx264",
        "-c:a",
        "copy",
        str(vfr),
    )
    with Media(vfr) as media:
        times = [f.time for f in media.frames(5, 160)]
    assert len(times) == pytest.approx(30, abs=2)
    assert np.allclose(np.diff(times), 0.2)


def _peak_rss_mb(video: Path) -> tuple[float, float]:
    """(peak RSS in MB, duration) of extracting `video` in a fresh process. The peak is VmHWM, the
    high-water mark of the process's own memory: ru_maxrss would include the parent's at fork."""
    code = (
        "import re, sys; from mtmm_es.pipeline import ExtractionConfig, FeaturePipeline\n"
        "from mtmm_es.extractors.visual import VisualConfig\n"
        "e = FeaturePipeline(ExtractionConfig(cache=False, visual=VisualConfig(fps=1))).extract(sys.argv[1])\n"
        "status = open('/proc/self/status').read()\n"
        "print(re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1), e.media.duration)"
    )
    result = subprocess.run([sys.executable, "-c", code, str(video)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    peak_kb, duration = result.stdout.split()
    return int(peak_kb) / 1024, float(duration)


@pytest.mark.slow
def test_long_video_keeps_memory_bounded(tmp_path: Path) -> None:
    videos = {}
    # speech is recognised in chunks of at most 5 minutes, so memory may grow up to that length and
    # must stay flat beyond it: 5 and 10 minutes (measured 790 and 828 MB; 1 minute: 662 MB)
    for minutes in (5, 10):
        videos[minutes] = tmp_path / f"{minutes}min.mp4"
        ffmpeg(
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=s=160x120:r=10:d={60 * minutes}",
            "-f",
            "lavfi",
            "-i",
            f"sine=f=220:r=16000:d={60 * minutes}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-shortest",
            str(videos[minutes]),
        )
    short_peak, _ = _peak_rss_mb(videos[5])  # also warms librosa's numba cache, a one-off cost per install
    long_peak, duration = _peak_rss_mb(videos[10])
    assert duration == pytest.approx(600, abs=1)
    assert long_peak < short_peak + 200  # ten times the media, (almost) the same memory
    assert long_peak < 1500


def analyze(*args: str) -> subprocess.CompletedProcess:
    code = "import sys, cli; sys.exit(cli.analyze_video())"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)


def test_pickle_offered_as_checkpoint_is_refused_unread(tmp_path: Path, fixture_video: Path) -> None:
    import pickle

    marker = tmp_path / "payload-ran"
    evil = tmp_path / "model.pt"
    evil.write_bytes(pickle.dumps(_Payload(str(marker))))
    result = analyze(str(fixture_video), "--out", str(tmp_path / "x.json"), "--checkpoint", str(evil))
    assert result.returncode == 2 and "only checkpoint folders with safetensors" in result.stderr
    assert not marker.exists() and result.stderr.count("\n") == 1


class _Payload:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.mark.slow
def test_video_without_faces_reports_the_missing_modality(tmp_path: Path, fixture_video: Path) -> None:
    faceless = plain_colour_video(tmp_path / "faceless.mp4", "gray", 18, fixture_video)
    out = tmp_path / "labels.json"
    result = analyze(str(faceless), "--out", str(out))
    assert result.returncode == 0, result.stderr
    document = json.loads(out.read_text())
    assert document["utterances"] and all("visual" not in u["modalities"]["available"] for u in document["utterances"])


def test_a_missing_ffmpeg_is_one_line_before_any_model_loads(tmp_path: Path, fixture_video: Path) -> None:
    missing = tmp_path / "nonexistent"
    result = analyze(str(fixture_video), "--out", str(tmp_path / "x.json"), "--ffmpeg", str(missing))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and str(missing) in result.stderr
    assert "not an executable" in result.stderr or "not found or not executable" in result.stderr
