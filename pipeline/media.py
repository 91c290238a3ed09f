"""Ingest: probe a media file and decode it with ffmpeg (ffmpeg-python over the imageio-ffmpeg binary).

Audio is decoded once to 16 kHz mono float32 in a temporary file and memory-mapped, so a long
recording does not live in RAM; video frames are streamed at a fixed rate, never all held at once.
ffmpeg applies the container's rotation (display matrix) itself, and `MediaInfo` reports the
displayed size.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import ffmpeg
import numpy as np

from mtmm_es.core.errors import MtmmError
from mtmm_es.extractors.base import SAMPLE_RATE, MediaInfo, VideoFrame

_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_STREAM = re.compile(r"^\s*Stream #\d+:\d+.*?: (Audio|Video): (.*)$")
_SIZE = re.compile(r"\b(\d{2,5})x(\d{2,5})\b")
_FPS = re.compile(r"([\d.]+)(k?) (?:fps|tbr)\b")
_ROTATION = re.compile(r"rotation of (-?[\d.]+) degrees")


def ffmpeg_binary(configured: str | None = None) -> str:
    """The configured ffmpeg, else the binary shipped in imageio-ffmpeg."""
    if configured:
        return configured
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _ffmpeg_error(stderr: str) -> str:
    """The most telling line of ffmpeg's error output."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if "At least one output file" not in line and not line.startswith(("Input #", "Metadata", "Duration")):
            return line.split("] ", 1)[-1] if "] " in line else line
    return "ffmpeg could not read it"


def parse_probe(path: str, header: str) -> MediaInfo:
    """MediaInfo from the stream report ffmpeg prints for `ffmpeg -i FILE`."""
    duration_match = _DURATION.search(header)
    duration = 0.0
    if duration_match:
        hours, minutes, seconds = duration_match.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    audio_codec = video_codec = ""
    width = height = rotation = 0
    fps = 0.0
    lines = header.splitlines()
    for number, line in enumerate(lines):
        stream = _STREAM.match(line)
        if not stream:
            continue
        kind, details = stream.groups()
        codec = details.split(",")[0].split(" ")[0]
        if kind == "Audio" and not audio_codec:
            audio_codec = codec
        elif kind == "Video" and not video_codec and "attached pic" not in details:
            video_codec = codec
            size = _SIZE.search(details)
            if size:
                width, height = int(size.group(1)), int(size.group(2))
            rate = _FPS.search(details)
            if rate:
                fps = float(rate.group(1)) * (1000 if rate.group(2) else 1)
            for following in lines[number + 1 : number + 12]:
                if _STREAM.match(following):
                    break
                turn = _ROTATION.search(following)
                if turn:
                    rotation = int(round(float(turn.group(1)))) % 360
    if rotation in (90, 270):
        width, height = height, width
    return MediaInfo(
        path=path,
        duration=duration,
        has_audio=bool(audio_codec),
        has_video=bool(video_codec),
        width=width,
        height=height,
        fps=fps,
        rotation=rotation,
        audio_codec=audio_codec,
        video_codec=video_codec,
    )


def probe(path: str | Path, ffmpeg_path: str | None = None) -> MediaInfo:
    """Streams, duration, size and rotation of `path`; a clear error for anything unreadable."""
    path = Path(path)
    if not path.exists():
        raise MtmmError("file not found", path)
    if path.is_dir():
        raise MtmmError("is a directory, not a media file", path)
    if path.stat().st_size == 0:
        raise MtmmError("empty file (0 bytes)", path)
    result = subprocess.run(
        [ffmpeg_binary(ffmpeg_path), "-hide_banner", "-nostdin", "-i", f"file:{path.resolve()}"],
        capture_output=True,
        text=True,
        errors="replace",
    )
    info = parse_probe(str(path), result.stderr)
    if not info.has_audio and not info.has_video:
        cause = _ffmpeg_error(result.stderr) if "Stream #" not in result.stderr else "no audio or video stream"
        raise MtmmError(f"not a readable media file ({cause})", path)
    return info


class Media:
    """Lazily decoded access to one media file; implements extractors.base.MediaSource."""

    def __init__(self, path: str | Path, ffmpeg_path: str | None = None, temp_dir: str | None = None):
        self.path = Path(path)
        self.ffmpeg = ffmpeg_binary(ffmpeg_path)
        self.info = probe(self.path, self.ffmpeg)
        self._temp_dir = temp_dir
        self._audio: np.ndarray | None = None
        self._audio_file: str | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> Media:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._audio = None
        if self._audio_file and os.path.exists(self._audio_file):
            os.unlink(self._audio_file)
        self._audio_file = None

    def _input(self, **options: str):
        return ffmpeg.input(f"file:{self.path.resolve()}", **options)

    def audio(self) -> np.ndarray | None:
        """16 kHz mono float32, memory-mapped from a temporary file; decoded on first use."""
        if not self.info.has_audio:
            return None
        with self._lock:
            if self._audio is None:
                self._audio = self._decode_audio()
        return self._audio

    @property
    def decoded_audio(self) -> np.ndarray | None:
        """The audio if it has been decoded already (never triggers decoding)."""
        return self._audio

    def _decode_audio(self) -> np.ndarray:
        handle, raw = tempfile.mkstemp(suffix=".f32", prefix="mtmm-audio-", dir=self._temp_dir)
        os.close(handle)
        self._audio_file = raw
        command = (
            self._input()
            .output(raw, format="f32le", acodec="pcm_f32le", ac=1, ar=SAMPLE_RATE, vn=None)
            .global_args("-nostdin", "-v", "error")
            .overwrite_output()
        )
        try:
            command.run(cmd=self.ffmpeg, capture_stdout=True, capture_stderr=True)
        except ffmpeg.Error as error:
            raise MtmmError(
                f"cannot decode audio ({_ffmpeg_error(error.stderr.decode(errors='replace'))})", self.path
            ) from None
        if os.path.getsize(raw) == 0:
            return np.zeros(0, np.float32)
        return np.memmap(raw, dtype=np.float32, mode="r")

    def frame_size(self, max_side: int) -> tuple[int, int]:
        """Output (width, height): the displayed size scaled so the longer side <= max_side, even."""
        scale = min(1.0, max_side / max(self.info.width, self.info.height))
        return (max(2, int(self.info.width * scale) // 2 * 2), max(2, int(self.info.height * scale) // 2 * 2))

    def frames(self, fps: float, max_side: int, skip_bidir: bool = False) -> Iterator[VideoFrame]:
        """RGB frames sampled at `fps` (ffmpeg's fps filter: constant rate even for VFR input);
        fps <= 0 means every frame at the stream's own rate.

        skip_bidir: do not decode B-frames (about half the decoding work); the fps filter then
        picks the nearest I/P frame, a shift of at most a few source frames. The decoder runs one
        thread: frame threading costs more than it gains when other stages share the cores.
        """
        if not self.info.has_video:
            return
        width, height = self.frame_size(max_side)
        options = {"threads:v": "1", **({"skip_frame:v": "bidir"} if skip_bidir else {})}
        video = self._input(**options).video
        if fps > 0:
            video = video.filter("fps", fps=fps)
        else:
            fps = self.info.fps or 25.0
        args = (
            video.filter("scale", width, height)
            .output("pipe:", format="rawvideo", pix_fmt="rgb24")
            .global_args("-nostdin", "-v", "error")
            .compile(cmd=self.ffmpeg)
        )
        frame_bytes = width * height * 3
        with tempfile.TemporaryFile(dir=self._temp_dir) as errors:
            process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errors, bufsize=frame_bytes)
            assert process.stdout is not None
            index = 0
            try:
                while True:
                    data = process.stdout.read(frame_bytes)
                    if len(data) < frame_bytes:
                        break
                    yield VideoFrame(index / fps, np.frombuffer(data, np.uint8).reshape(height, width, 3))
                    index += 1
            finally:
                process.stdout.close()
                if process.poll() is None:
                    process.kill()
                code = process.wait()
            if code != 0 and index == 0:
                errors.seek(0)
                cause = _ffmpeg_error(errors.read().decode(errors="replace"))
                raise MtmmError(f"cannot decode video ({cause})", self.path)
