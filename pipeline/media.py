"""Ingest: probe a media file with PyAV and decode it (audio with ffmpeg, video frames with PyAV).

Probing reads the container's structured stream table (never ffmpeg's printed text, so a title tag
cannot change the duration). Every time is on the media's own timeline: 0 is the container's
start, and a stream that starts later (audio at 6 s of a video) keeps its offset. Audio is decoded
once to 16 kHz mono float32 in an anonymous temporary file (it has no name in $TMPDIR, so no
failure, signal or kill can leave it behind) and memory-mapped, so a long recording does not live in RAM; video frames are streamed at a fixed rate from the real
decoded frames, never all held at once, so a file whose timestamps jump by hours yields no filler.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import queue
import shutil
import stat
import subprocess
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, TypeVar

import av
import numpy as np
from av.video.frame import PictureType

from mtmm_es.core.errors import MtmmError
from mtmm_es.extractors.base import SAMPLE_RATE, MediaInfo, VideoFrame
from mtmm_es.extractors.level import frame_powers
from mtmm_es.extractors.vad import speech_regions

log = logging.getLogger(__name__)

DECODING = 2  # what decoding gives the extractors; cache keys carry it (2: B-frames skipped only where exact, channels that cancel)
FILL_GAP_S = 2.0  # a grid time further than this from any real frame gets no frame (no filler)
CANCELLED_S = 1.0  # a mono mix with less sound than this (seconds) is checked for channels that cancel
CANCELLATION = 100.0  # ... and they cancel where the first channel holds this much more power (20 dB)
PROBE_FRAMES = 48  # frames decoded with and without B-frames to tell whether skipping them is exact
SOUND_DBFS = -45.0  # a 30 ms window louder than this counts as sound when choosing an audio stream
CHUNK = 1 << 20  # samples per pass when checking decoded audio
T = TypeVar("T")


def ffmpeg_binary(configured: str | None = None) -> str:
    """The configured ffmpeg (validated), else the binary shipped in imageio-ffmpeg."""
    if not configured:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    found = shutil.which(os.path.expanduser(configured))
    if found is None:
        raise MtmmError("ffmpeg binary not found or not executable", configured)
    if not _runs_as_ffmpeg(found):
        raise MtmmError("is not a working ffmpeg ('-version' did not answer with ffmpeg's version)", configured)
    return found


@functools.lru_cache(maxsize=8)
def _runs_as_ffmpeg(binary: str) -> bool:
    """Whether `binary -version` answers as ffmpeg does (checked once per binary and process)."""
    try:
        answer = subprocess.run([binary, "-version"], capture_output=True, text=True, errors="replace", timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return answer.returncode == 0 and answer.stdout.startswith("ffmpeg version")


def _ffmpeg_error(stderr: str) -> str:
    """The most telling line of ffmpeg's error output."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if "At least one output file" not in line and not line.startswith(("Input #", "Metadata", "Duration")):
            return line.split("] ", 1)[-1] if "] " in line else line
    return "ffmpeg could not read it"


def _av_cause(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error).splitlines()[0] or type(error).__name__


def _seconds(value: int | None, time_base) -> float | None:
    return None if value is None or time_base is None else float(value * time_base)


def _stream_seconds(stream) -> float:
    """A stream's own length: from its header (MP4), else from a DURATION tag (Matroska); 0 if neither."""
    stated = _seconds(stream.duration, stream.time_base)
    if stated:
        return stated
    tag = next((v for k, v in stream.metadata.items() if k.upper().split("-")[0] == "DURATION"), "")  # DURATION-eng
    try:
        hours, minutes, seconds = tag.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return 0.0


def _mp3_length_unstated(path: Path) -> bool:
    """An MP3 without a length header (Xing, Info or VBRI, in its first frame: looked for in the
    first 64 KiB after an ID3v2 tag). FFmpeg then guesses its length from the first frames' bitrate
    and the file's size, which for a variable bitrate can be several times off either way."""
    with path.open("rb") as file:
        head = file.read(10)
        if head[:3] == b"ID3" and len(head) == 10:  # skip an ID3v2 tag (syncsafe size, + footer)
            file.seek(10 + (head[6] << 21 | head[7] << 14 | head[8] << 7 | head[9]) + (10 if head[5] & 0x10 else 0))
        else:
            file.seek(0)
        data = file.read(65536)
    return not any(tag in data for tag in (b"Xing", b"Info", b"VBRI"))


def media_path(path: object) -> Path:
    """The path of a media file from what a caller gave: a str, an os.PathLike or bytes (decoded as
    the file system's names are); a URL or anything else is refused in one line."""
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, str | os.PathLike):
        raise MtmmError(
            f"give the path of a media file (str or pathlib.Path), not a {type(path).__name__} "
            "(data in memory: write it to a file first)"
        )
    text = os.fsdecode(os.fspath(path))
    if "://" in text and text.split("://")[0].isalpha() and not os.path.lexists(text):
        raise MtmmError("a URL: only local files are read (nothing is downloaded); save the file first", text)
    return Path(text)


def _check_regular_file(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise MtmmError("file not found", path) from None
    except OSError as error:
        raise MtmmError(f"cannot read ({error.strerror})", path) from None
    if stat.S_ISDIR(mode):
        raise MtmmError("is a directory, not a media file", path)
    if not stat.S_ISREG(mode):
        raise MtmmError("not a regular file (a pipe or device cannot be read twice); save it to a file first", path)
    if path.stat().st_size == 0:
        raise MtmmError("empty file (0 bytes)", path)


def ffmpeg_url(path: Path) -> str:
    """The file as FFmpeg must be given it: a name with a colon ("take2:final.mp4") would otherwise
    be read as a protocol."""
    return f"file:{path.absolute()}"


def probe(path: str | Path, ffmpeg_path: str | None = None, audio_stream: int | None = None) -> MediaInfo:
    """Streams, duration, size, rotation and start times of `path`; a clear error for anything unreadable.

    audio_stream: which audio stream (0-based, among audio streams) to use; None = the first for
    now (`Media` picks the one with sound when there are several). `ffmpeg_path` is accepted for
    symmetry with `Media` and validated; probing itself uses PyAV.
    """
    path = Path(path)
    _check_regular_file(path)
    if ffmpeg_path:
        ffmpeg_binary(ffmpeg_path)
    try:
        container = av.open(ffmpeg_url(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, UnicodeError) as error:
        raise MtmmError(f"not a readable media file ({_av_cause(error)})", path) from None
    with container:
        return _info_from(path, container, audio_stream)


def _info_from(path: Path, container, audio_stream: int | None) -> MediaInfo:
    audios = list(container.streams.audio)
    videos = [
        s
        for s in container.streams.video
        if not s.disposition & av.stream.Disposition.attached_pic and s.codec_context.width > 0
    ]
    if not audios and not videos:
        raise MtmmError("not a readable media file (no audio or video stream)", path)
    if audio_stream is not None and not 0 <= audio_stream < len(audios):
        raise MtmmError(f"no audio stream {audio_stream} (the file has {len(audios)}; count from 0)", path)
    starts = [_seconds(s.start_time, s.time_base) for s in [*audios, *videos]]
    origin = _seconds(container.start_time, 1e-6)
    if origin is None:
        origin = min((s for s in starts if s is not None), default=0.0)

    def offset(stream) -> float:
        """Seconds from the media's start to the stream's first sample."""
        start = _seconds(stream.start_time, stream.time_base)
        return 0.0 if start is None else max(0.0, start - origin)

    duration = _seconds(container.duration, 1e-6) or 0.0
    if duration <= 0:
        ends = [offset(s) + (_seconds(s.duration, s.time_base) or 0.0) for s in [*audios, *videos]]
        duration = max(ends, default=0.0)
    chosen_audio = audios[audio_stream or 0] if audios else None
    width = height = rotation = 0
    fps = 0.0
    video_start = 0.0
    video_codec = ""
    if videos:
        video = videos[0]
        width, height = video.codec_context.width, video.codec_context.height
        rate = video.average_rate or video.guessed_rate
        fps = float(rate) if rate else 0.0
        video_codec = video.codec_context.name
        video_start = offset(video)
        rotation = _rotation(container, video)
        if rotation in (90, 270):
            width, height = height, width
    audio_start = offset(chosen_audio) if chosen_audio is not None else 0.0
    return MediaInfo(
        path=str(path),
        duration=duration,
        has_audio=chosen_audio is not None,
        has_video=bool(videos),
        width=width,
        height=height,
        fps=fps,
        rotation=rotation,
        audio_codec=chosen_audio.codec_context.name if chosen_audio is not None else "",
        video_codec=video_codec,
        audio_stream=(audio_stream or 0) if audios else None,
        audio_streams=len(audios),
        audio_start=round(audio_start, 6),
        audio_duration=round(_stream_seconds(chosen_audio), 6) if chosen_audio is not None else 0.0,
        video_start=round(video_start, 6),
        duration_estimated=container.format.name == "mp3" and _mp3_length_unstated(path),
    )


def _rotation(container, video) -> int:
    """Display rotation in degrees (counter-clockwise), read from the first decodable frame."""
    try:
        for frame in container.decode(video):
            return int(round(frame.rotation or 0)) % 360
    except (av.error.FFmpegError, ValueError):
        pass
    return 0


class Media:
    """Lazily decoded access to one media file; implements extractors.base.MediaSource.

    audio_stream: the audio stream to use (0-based); None picks, among several, the one with the
    most speech (then the most sound) and says so in `warnings`. time_limit_s: a decoding stage
    (the audio decode, one pass over the frames) stops after this long; None derives a generous
    limit from the duration.
    """

    def __init__(
        self,
        path: str | Path,
        ffmpeg_path: str | None = None,
        temp_dir: str | None = None,
        audio_stream: int | None = None,
        time_limit_s: float | None = None,
    ):
        self.path = Path(path)
        self.ffmpeg = ffmpeg_binary(ffmpeg_path)
        self.info = probe(self.path, audio_stream=audio_stream)
        self.audio_warnings: list[str] = []  # from decoding the audio (a run served from the cache has none)
        self.video_warnings: list[str] = []
        self.frames_cut_short = False  # a pass over the frames stopped at its time limit
        self._audio_choice = audio_stream
        self._temp_dir = temp_dir
        self.time_limit_s = time_limit_s if time_limit_s else 120.0 + 4.0 * min(self.info.duration, 24 * 3600)
        self._audio: np.ndarray | None = None
        self._audio_file: IO[bytes] | None = None
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._skip: str | None = None  # what frame decoding may skip (_frames_to_skip), found once
        audio = self.audio() if self.info.duration_estimated else None  # FFmpeg guessed the length from the bitrate
        if audio is not None:  # the decoded audio's length instead
            seconds = len(audio) / SAMPLE_RATE
            self.info = replace(self.info, duration=seconds, audio_duration=seconds - self.info.audio_start)

    def __enter__(self) -> Media:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cancel(self) -> None:
        """Make decoding in other threads stop soon (an error or a signal is ending the run)."""
        self._cancelled.set()

    def close(self) -> None:
        self._audio = None
        if self._audio_file is not None:
            self._audio_file.close()
        self._audio_file = None

    def audio(self) -> np.ndarray | None:
        """16 kHz mono float32 on the media's timeline, memory-mapped from a temporary file; decoded on first use."""
        if not self.info.has_audio:
            return None
        with self._lock:
            if self._audio is None:
                self._audio = self._load_audio()
        return self._audio

    @property
    def warnings(self) -> list[str]:
        """What decoding found wrong or chose: the audio's, then the frames'."""
        return self.audio_warnings + self.video_warnings

    @property
    def decoded_audio(self) -> np.ndarray | None:
        """The audio if it has been decoded already (never triggers decoding)."""
        return self._audio

    def _load_audio(self) -> np.ndarray:
        if self._audio_choice is not None or self.info.audio_streams < 2:
            return self._mono_audio(self.info.audio_stream or 0)
        candidates = []
        for index in range(self.info.audio_streams):
            audio = self._mono_audio(index)
            candidates.append((_speech_seconds(audio), _sound_seconds(audio), index, audio, self._audio_file))
            self._audio_file = None
        speech, sound, index, audio, file = max(candidates, key=lambda c: (round(c[0], 1), c[1], -c[2]))
        for *_, other_file in candidates:
            if other_file is not file:
                other_file.close()
        candidates.clear()
        self._audio_file = file
        self.info = replace(self.info, **_stream_fields(self.path, index))
        self.audio_warnings.append(
            f"{self.info.audio_streams} audio streams: using stream {index} ({speech:.1f} s of speech, "
            f"{sound:.1f} s of sound); choose another with --audio-stream"
        )
        return audio

    def _mono_audio(self, index: int) -> np.ndarray:
        """A stream mixed to mono; its first channel alone where the mix cancels it: a stereo stream
        with one channel phase-inverted (L mixed with -L) mixes to near silence, 20 dB or more below
        the channel. Only a near-silent mix of a stream of several channels is checked."""
        start = len(self.audio_warnings)
        mixed = self._decode_audio(index)
        if _sound_seconds(mixed) >= CANCELLED_S or _channels(self.path, index) < 2:
            return mixed
        mixed_file, mixed_warnings = self._audio_file, self.audio_warnings[start:]
        del self.audio_warnings[start:]  # each decoding warns of its own samples
        try:
            first = self._decode_audio(index, channel=0)
        except BaseException:
            mixed_file.close()
            raise
        if _mean_power(mixed) * CANCELLATION < _mean_power(first):
            mixed_file.close()
            self.audio_warnings.append(
                "the audio's channels cancel out when mixed to mono (one is phase-inverted?): using the first channel"
            )
            return first
        self._audio_file.close()
        self._audio_file, self.audio_warnings[start:] = mixed_file, mixed_warnings
        return mixed

    def _decode_audio(self, index: int, channel: int | None = None) -> np.ndarray:
        """One audio stream (mixed to mono, or one channel of it), padded with silence from 0 to its
        start time, into an anonymous temp file."""
        out = tempfile.TemporaryFile(prefix="mtmm-audio-", suffix=".f32", dir=self._temp_dir)
        self._audio_file = out
        command = [
            self.ffmpeg,
            "-nostdin",
            "-v",
            "error",
            "-i",
            ffmpeg_url(self.path),
            "-map",
            f"0:a:{index}",
            "-vn",
            "-af",
            "aresample=async=1:first_pts=0" + ("" if channel is None else f",pan=mono|c0=c{channel}"),
            "-ac",
            "1",
            "-ar",
            str(SAMPLE_RATE),
            "-c:a",
            "pcm_f32le",
            "-f",
            "f32le",
            "pipe:1",
        ]
        with tempfile.TemporaryFile(dir=self._temp_dir) as errors:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors)
            assert process.stdout is not None
            deadline = time.monotonic() + self.time_limit_s
            try:
                while chunk := process.stdout.read(1 << 16):
                    self._keep(out, chunk)
                    if self._cancelled.is_set():
                        raise MtmmError("audio decoding cancelled", self.path)
                    if time.monotonic() > deadline:
                        raise MtmmError(
                            f"audio decoding exceeded its time limit ({self.time_limit_s:.0f} s)", self.path
                        )
            finally:
                process.stdout.close()
                if process.poll() is None:
                    process.kill()
                code = process.wait()
            if code != 0:
                errors.seek(0)
                cause = _ffmpeg_error(errors.read().decode(errors="replace"))
                raise MtmmError(f"cannot decode audio ({cause})", self.path)
        self._keep(out, b"")
        samples = os.fstat(out.fileno()).st_size // 4
        if samples == 0:
            return np.zeros(0, np.float32)
        audio = np.memmap(out, dtype=np.float32, mode="r+", shape=(samples,))
        bad = _zero_non_finite(audio)
        if bad:
            self.audio_warnings.append(f"{bad} audio samples were NaN or infinite and were set to 0")
        audio.flush()
        return np.memmap(out, dtype=np.float32, mode="r", shape=(samples,))

    def _keep(self, out: IO[bytes], chunk: bytes) -> None:
        """Write decoded audio to its temp file (flush it, with no chunk); a full or limited disk
        is one error naming the media file."""
        try:
            out.write(chunk) if chunk else out.flush()
        except OSError as error:
            where = self._temp_dir or tempfile.gettempdir()
            raise MtmmError(
                f"cannot keep the decoded audio in {where} ({error.strerror or error}): free space there or set TMPDIR",
                self.path,
            ) from None

    def frame_size(self, max_side: int) -> tuple[int, int]:
        """Output (width, height): the displayed size scaled so the longer side <= max_side, even, >= 2."""
        longest = max(self.info.width, self.info.height, 1)
        scale = min(1.0, max_side / longest)
        return (max(2, int(self.info.width * scale) // 2 * 2), max(2, int(self.info.height * scale) // 2 * 2))

    def frames(self, fps: float, max_side: int, skip_bidir: bool = False) -> Iterator[VideoFrame]:
        """RGB frames on a regular grid of `fps` per second (VFR input too), at most the stream's base
        rate (a finer grid would only repeat frames); fps <= 0 means every real frame.

        Each grid time takes the nearest real frame, but only within FILL_GAP_S: across a longer gap
        (a timestamp jump) the grid skips ahead, so the number of frames is bounded by the real ones.
        skip_bidir: do not decode B-frames (about half the work; frames shift by a few source frames)
        where that leaves the other frames exact, else only frames no other frame refers to.
        Decoding runs one thread, a few frames ahead of the consumer, and stops with a warning past
        the stage's time limit.
        """
        if not self.info.has_video:
            return
        yield from read_ahead(self._decoded(fps, max_side, skip_bidir))

    def _decoded(self, fps: float, max_side: int, skip_bidir: bool) -> Iterator[VideoFrame]:
        width, height = self.frame_size(max_side)
        step = 1.0 / fps if fps > 0 else 0.0
        try:
            container = av.open(ffmpeg_url(self.path), metadata_errors="ignore")
        except (av.error.FFmpegError, OSError) as error:
            raise MtmmError(f"cannot decode video ({_av_cause(error)})", self.path) from None
        with container:
            stream = _video_stream(container)
            stream.thread_count = 1
            base_rate = float(stream.guessed_rate or 0)  # the rate every timestamp fits (not the average)
            if step and base_rate:
                step = max(step, 1.0 / base_rate)
            if skip_bidir and self.info.duration > 0:  # a raw stream (no length, no timestamps) is
                # timed by counting frames, which skipping would squeeze
                if self._skip is None:
                    self._skip = _frames_to_skip(self.path, self._cancelled)
                stream.codec_context.skip_frame = self._skip
            origin = _seconds(container.start_time, 1e-6) or 0.0
            real = read_ahead(self._real_frames(container, stream, origin))  # decoding in one thread,
            try:  # scaling to RGB in another, the consumer in a third
                for when, frame in real if step == 0.0 else on_grid(real, step):
                    yield VideoFrame(when, _rgb(frame, width, height))
            finally:
                real.close()

    def _real_frames(self, container, stream, origin: float) -> Iterator[tuple[float, object]]:
        """(time on the media's timeline, frame) of every decodable frame; damaged packets are skipped."""
        deadline = time.monotonic() + self.time_limit_s
        last = -math.inf
        decoded = errors = 0
        for packet in container.demux(stream):
            if self._cancelled.is_set():
                return
            try:
                frames = packet.decode()
            except (av.error.FFmpegError, ValueError):
                errors += 1
                continue
            for frame in frames:
                if frame.time is not None:
                    when = frame.time - origin
                else:  # raw streams (H.264 elementary) carry no timestamps: one frame period on
                    when = last + 1.0 / (self.info.fps or 25.0) if decoded else 0.0
                last = when
                decoded += 1
                yield when, frame
            if time.monotonic() > deadline:
                where = f"at {last:.1f} s" if decoded else "before its first frame"
                self.video_warnings.append(
                    f"video decoding stopped {where}: over its time limit ({self.time_limit_s:.0f} s)"
                )
                self.frames_cut_short = True
                return
        if decoded == 0 and errors:
            raise MtmmError("cannot decode video (every frame is damaged)", self.path)


def read_ahead(items: Iterator[T], depth: int = 4) -> Iterator[T]:
    """`items`, produced by a background thread up to `depth` ahead: decoding and scaling (PyAV
    releases the GIL) overlap with the consumer, as a separate ffmpeg process would. Closing this
    generator stops the producer, which closes `items` in its own thread."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def offer(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                slots.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        final: tuple = (end, None)
        try:
            for item in items:
                if not offer((item, None)):
                    return
        except BaseException as error:  # handed to the consumer, raised there
            final = (end, error)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        offer(final)

    producer = threading.Thread(target=produce, name="mtmm-frames", daemon=True)
    producer.start()
    try:
        while True:
            item, error = slots.get()
            if item is end:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        producer.join()


def on_grid(real: Iterator[tuple[float, T]], step: float) -> Iterator[tuple[float, T]]:
    """(grid time, nearest real frame) for grid times k * step, in order.

    A grid time further than FILL_GAP_S from both neighbouring real frames gets nothing, and the
    grid jumps over such gaps, so the output is bounded by the real frames, not by the timestamps.
    """
    due: float | None = None
    previous: tuple[float, T] | None = None
    for when, frame in real:
        if due is None:
            due = max(0, round(when / step)) * step
        while due <= when + 1e-9:
            gap_before = due - previous[0] if previous else math.inf
            gap_after = when - due
            if min(gap_before, gap_after) > FILL_GAP_S:
                due = math.ceil((when - FILL_GAP_S) / step - 1e-9) * step
                continue
            yield due, (previous[1] if previous and gap_before < gap_after else frame)
            due += step
        previous = (when, frame)
    if previous is not None and due is not None:
        while due < previous[0] + step / 2 - 1e-9:
            yield due, previous[1]
            due += step


def _rgb(frame, width: int, height: int) -> np.ndarray:
    """The frame as displayed (rotation applied), scaled to width x height, RGB uint8 (area averaging:
    half the CPU of the default bicubic when shrinking)."""
    turns = (int(round(frame.rotation or 0)) % 360) // 90
    w, h = (height, width) if turns % 2 else (width, height)
    rgb = frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA").to_ndarray()
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


def _sound_seconds(audio: np.ndarray) -> float:
    """Seconds of 30 ms windows louder than SOUND_DBFS."""
    window = int(0.03 * SAMPLE_RATE)
    return int((frame_powers(audio, window) > 10 ** (SOUND_DBFS / 10)).sum()) * window / SAMPLE_RATE


def _speech_seconds(audio: np.ndarray) -> float:
    """Seconds of speech Silero VAD hears: what tells the microphone's track from music or a game's."""
    return sum(end - start for start, end in speech_regions(audio))


def _mean_power(audio: np.ndarray) -> float:
    """Mean square of the samples over whole 30 ms windows (frame_powers reads a memory-mapped
    recording block by block); 0 for less than one window."""
    powers = frame_powers(audio, int(0.03 * SAMPLE_RATE))
    return float(powers.mean()) if len(powers) else 0.0


def _channels(path: Path, index: int) -> int:
    """How many channels audio stream `index` of the file has."""
    with av.open(ffmpeg_url(path), metadata_errors="ignore") as container:
        return container.streams.audio[index].codec_context.channels


def _zero_non_finite(audio: np.ndarray) -> int:
    """Set NaN/inf samples to 0 in place, chunk by chunk; returns how many there were."""
    bad = 0
    for lo in range(0, len(audio), CHUNK):
        block = audio[lo : lo + CHUNK]
        wrong = ~np.isfinite(block)
        if wrong.any():
            bad += int(wrong.sum())
            block[wrong] = 0.0
    return bad


def _video_stream(container):
    return next(s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic)


def _frames_to_skip(path: Path, cancelled: threading.Event) -> str:
    """What decoding may skip: "BIDIR" (every B-frame) where the first PROBE_FRAMES frames show that
    the others decode exactly the same without them, else "NONREF" (frames nothing refers to: exact
    by definition, less work saved). B-frames are references in HEVC and in H.264 with b-pyramid
    (x264's default): skipping them there loses or damages the frames that follow."""
    try:
        full = _first_frames(path, cancelled, None, count=PROBE_FRAMES)
        skipped = _first_frames(path, cancelled, "BIDIR", last_pts=max(full, default=-1))
    except (av.error.FFmpegError, OSError, ValueError):
        return "NONREF"
    kept = {pts: frame for pts, frame in full.items() if frame[0] != PictureType.B}
    skip = "BIDIR" if kept and skipped == kept else "NONREF"
    log.debug("%s: decoding skips %s frames", path, skip)
    return skip


def _first_frames(
    path: Path, cancelled: threading.Event, skip: str | None, count: int | None = None, last_pts: int | None = None
) -> dict[int, tuple[int, int]]:
    """pts -> (picture type, CRC-32 of the luma plane) of the first decoded frames: `count` of them,
    or those up to `last_pts` (ValueError once the run is cancelled)."""
    frames: dict[int, tuple[int, int]] = {}
    with av.open(ffmpeg_url(path), metadata_errors="ignore") as container:
        stream = _video_stream(container)
        stream.thread_count = 1
        if skip:
            stream.codec_context.skip_frame = skip
        for frame in container.decode(stream):
            if cancelled.is_set():
                raise ValueError("cancelled")
            if frame.pts is None:
                raise ValueError("a frame without a timestamp")
            if last_pts is not None and frame.pts > last_pts:
                break
            frames[frame.pts] = (int(frame.pict_type), zlib.crc32(memoryview(frame.planes[0])))
            if count is not None and len(frames) >= count:
                break
    return frames


def _stream_fields(path: Path, index: int) -> dict[str, object]:
    info = probe(path, audio_stream=index)
    return {
        "audio_stream": index,
        "audio_codec": info.audio_codec,
        "audio_start": info.audio_start,
        "audio_duration": info.audio_duration,
    }
