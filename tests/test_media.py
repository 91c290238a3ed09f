"""Ingest: probing, audio decoding, frame streaming, containers, rotation and unreadable files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest
from helpers import ffmpeg, late_audio_video, two_track_recording

from mtmm_es.core.errors import MtmmError
from mtmm_es.extractors.base import SAMPLE_RATE
from mtmm_es.pipeline.media import Media, _first_frames, _frames_to_skip, _stream_seconds, probe


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


def test_a_raw_stream_without_timestamps_gets_frames_one_period_apart(tmp_path: Path, fixture_video: Path) -> None:
    """Regression: a raw H.264 stream's frames carry no time; the first was put at -inf, and the
    frame grid failed with "cannot convert float infinity to integer"."""
    raw = tmp_path / "clip.h264"
    ffmpeg("-i", str(fixture_video), "-t", "3", "-an", "-c:v", "libx264", "-bf", "3", "-f", "h264", str(raw))
    with Media(raw) as media:  # the default skips B-frames where timestamps allow (review: they squeezed time)
        on_grid = [f.time for f in media.frames(fps=2, max_side=64, skip_bidir=True)]
        every = [f.time for f in media.frames(fps=0, max_side=64, skip_bidir=True)]
    assert media.info.fps == 25.0  # what FFmpeg assumes of a raw stream: its 30 frames last 1.2 s
    assert on_grid == [0.0, 0.5, 1.0]
    assert every[:3] == pytest.approx([0.0, 0.04, 0.08]) and len(every) == 30


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


def test_cover_art_is_not_a_video_stream(tmp_path: Path, fixture_video: Path) -> None:
    cover = tmp_path / "cover.png"
    song = tmp_path / "song.mp3"
    ffmpeg("-i", str(fixture_video), "-frames:v", "1", str(cover))
    ffmpeg(
        "-i",
        str(fixture_video),
        "-i",
        str(cover),
        "-map",
        "0:a",
        "-map",
        "1",
        "-t",
        "3",
        "-c:a",
        "libmp3lame",
        "-c:v",
        "png",
        "-disposition:v",
        "attached_pic",
        str(song),
    )
    info = probe(song)
    assert info.has_audio and not info.has_video
    assert info.duration == pytest.approx(3.0, abs=0.1)


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


def test_a_title_tag_cannot_change_the_duration(tmp_path: Path, fixture_video: Path) -> None:
    tagged = tmp_path / "tagged.mp4"
    ffmpeg("-i", str(fixture_video), "-t", "3", "-c", "copy", "-metadata", "title=Duration: 99:00:00.00", str(tagged))
    assert probe(tagged).duration == pytest.approx(3.0, abs=0.5)  # not 99 hours


def test_a_late_audio_stream_keeps_its_place_on_the_timeline(tmp_path: Path, fixture_video: Path) -> None:
    late = late_audio_video(tmp_path / "late.mp4", fixture_video)
    with Media(late) as media:
        assert media.info.audio_start == pytest.approx(6.0, abs=0.1)
        audio = media.audio()
        assert len(audio) / SAMPLE_RATE == pytest.approx(14.0, abs=0.2)
        assert np.abs(audio[: 5 * SAMPLE_RATE]).max() == 0.0  # silence before the stream starts
        assert np.abs(audio[7 * SAMPLE_RATE :]).max() > 0.05


def _two_track_recording(folder: Path, fixture_video: Path) -> Path:
    return two_track_recording(folder / "obs.mkv", 5, fixture_video)


def test_the_audio_stream_with_sound_is_chosen_and_named(tmp_path: Path, fixture_video: Path) -> None:
    recording = _two_track_recording(tmp_path, fixture_video)
    with Media(recording) as media:
        assert np.abs(media.audio()).max() > 0.05
        assert media.info.audio_streams == 2 and media.info.audio_stream == 1
        assert any("using stream 1" in w and "--audio-stream" in w for w in media.warnings)
    with Media(recording, audio_stream=0) as media:
        assert np.abs(media.audio()).max() == 0.0 and media.warnings == []
    with pytest.raises(MtmmError, match="no audio stream 2 \\(the file has 2"):
        Media(recording, audio_stream=2)


def test_the_stream_with_speech_beats_a_louder_one_of_music(tmp_path: Path, fixture_video: Path) -> None:
    """Regression: the stream with the most sound was used, so a track of music (here a tone, loud
    all through) beat the microphone's, whose speech pauses."""
    recording = two_track_recording(tmp_path / "game.mkv", 18, fixture_video, "sine=frequency=440:sample_rate=48000")
    with Media(recording) as media:
        media.audio()
        assert media.info.audio_stream == 1
        assert any("using stream 1" in w and "s of speech" in w for w in media.warnings), media.warnings


def test_a_timestamp_jump_of_hours_adds_no_filler_frames(tmp_path: Path) -> None:
    jumpy = tmp_path / "jumpy.mkv"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=64x48:r=10:d=4",
        "-vf",
        "setpts=PTS+gte(T\\,2)*36000/TB",
        "-fps_mode",
        "passthrough",
        "-c:v",
        "libx264",
        str(jumpy),
    )
    with Media(jumpy) as media:
        times = [frame.time for frame in media.frames(5, 64)]
    assert len(times) <= 40  # 40 real frames; ffmpeg's fps filter made ~180,000
    assert times[0] == 0.0 and times[-1] == pytest.approx(36003.8, abs=0.3)


def test_a_one_pixel_video_decodes(tmp_path: Path) -> None:
    tiny = tmp_path / "tiny.mkv"
    ffmpeg("-f", "lavfi", "-i", "color=c=gray:s=1x1:r=5:d=1", "-c:v", "png", str(tiny))
    with Media(tiny) as media:
        assert (media.info.width, media.info.height) == (1, 1)
        frames = list(media.frames(5, 160))
    assert len(frames) == 5 and frames[0].rgb.shape == (2, 2, 3)


def test_nan_and_infinite_samples_are_zeroed_with_a_warning(tmp_path: Path) -> None:
    import soundfile

    samples = np.sin(np.linspace(0, 400, SAMPLE_RATE)).astype(np.float32)
    samples[100:200] = np.nan
    samples[300] = np.inf
    wav = tmp_path / "nan.wav"
    soundfile.write(wav, samples, SAMPLE_RATE, subtype="FLOAT")
    with Media(wav) as media:
        audio = media.audio()
        assert np.isfinite(audio).all() and np.abs(audio).max() > 0.5
        assert media.warnings == ["101 audio samples were NaN or infinite and were set to 0"]


def test_a_named_pipe_is_not_called_empty(tmp_path: Path) -> None:
    fifo = tmp_path / "stream.wav"
    os.mkfifo(fifo)
    with pytest.raises(MtmmError, match="not a regular file"):
        probe(fifo)


def test_a_missing_ffmpeg_is_refused_before_any_work(tmp_path: Path, fixture_video: Path) -> None:
    from mtmm_es.pipeline import ExtractionConfig

    with pytest.raises(MtmmError) as error:
        ExtractionConfig(ffmpeg=str(tmp_path / "nonexistent"))
    assert str(error.value) == f"{tmp_path / 'nonexistent'}: ffmpeg binary not found or not executable"


def test_a_program_that_is_not_ffmpeg_is_refused_before_any_work(tmp_path: Path) -> None:
    """Regression: `--ffmpeg /bin/false` passed the check, and decoding then failed with an error that
    blamed the video ("cannot decode audio")."""
    from mtmm_es.pipeline import ExtractionConfig

    with pytest.raises(MtmmError, match="false: is not a working ffmpeg"):
        ExtractionConfig(ffmpeg="/bin/false")


def test_no_decoded_audio_is_left_in_tmpdir_after_a_decode_error(tmp_path: Path, fixture_video: Path) -> None:
    broken = tmp_path / "ffmpeg"
    broken.write_text(
        '#!/bin/sh\n[ "$1" = -version ] && echo "ffmpeg version 0-simulated" && exit 0\n'
        "echo 'simulated decoder failure' >&2\nexit 1\n"
    )
    broken.chmod(0o755)
    temp = tmp_path / "tmp"
    temp.mkdir()
    with Media(fixture_video, ffmpeg_path=str(broken), temp_dir=str(temp)) as media:
        with pytest.raises(MtmmError, match="cannot decode audio \\(simulated decoder failure\\)"):
            media.audio()
    assert list(temp.iterdir()) == []


def _uses_folder(pid: int, folder: Path) -> bool:
    """Whether process `pid` holds a file of `folder` open or mapped (named or anonymous)."""
    for links in (Path(f"/proc/{pid}/fd"), Path(f"/proc/{pid}/map_files")):
        try:
            targets = [os.readlink(link) for link in links.iterdir()]
        except OSError:
            continue
        if any(target.startswith(str(folder)) for target in targets):
            return True
    return False


def _signalled_analysis(tmp_path: Path, video: Path, *signals: int) -> tuple[subprocess.Popen, str, Path]:
    """`analyze-video` in a new process, sent `signals` 0.1 s apart once it decodes (its handlers are
    in place by then): the process, its stderr, its TMPDIR."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    # Ctrl-C as from a terminal: a shell starts background jobs (CI's, perhaps) with SIGINT ignored
    code = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from mtmm_es import cli; sys.exit(cli.analyze_video())"
    )
    args = [str(video), "--out", str(tmp_path / "labels.json"), "--no-cache"]
    env = {**os.environ, "TMPDIR": str(temp)}
    process = subprocess.Popen([sys.executable, "-c", code, *args], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if any(temp.iterdir()) or _uses_folder(process.pid, temp):
            for k, signum in enumerate(signals):
                time.sleep(0.1 if k else 0)
                process.send_signal(signum)
            break
        time.sleep(0.02)
    _, stderr = process.communicate(timeout=120)
    return process, stderr, temp


@pytest.mark.slow
def test_sigterm_during_analysis_leaves_nothing_in_tmpdir(tmp_path: Path, fixture_video: Path) -> None:
    process, stderr, temp = _signalled_analysis(tmp_path, fixture_video, signal.SIGTERM)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert stderr.splitlines()[-1].startswith("error: terminated by SIGTERM"), stderr
    assert list(temp.iterdir()) == [] and not (tmp_path / "labels.json").exists()


@pytest.mark.slow
def test_a_second_ctrl_c_while_stopping_ends_without_a_traceback(tmp_path: Path, fixture_video: Path) -> None:
    """Regression: a second SIGINT during the first one's cleanup cut the stages loose, and the
    process aborted ('terminate called without an active exception') or printed a MediaPipe
    traceback on its way out (5 of 48 runs, 0 of 48 after)."""
    process, stderr, _ = _signalled_analysis(tmp_path, fixture_video, signal.SIGINT, signal.SIGINT)
    # once the message is on its way, the second signal ends the process by itself (the shell reports 130 too)
    assert process.returncode in (130, -signal.SIGINT), stderr
    assert process.returncode != 130 or stderr.splitlines()[-1] == "interrupted", stderr
    assert not any(crash in stderr for crash in ("Traceback", "Exception ignored", "terminate called", "Fatal")), stderr
    assert not (tmp_path / "labels.json").exists()


def test_the_openai_whisper_extra_is_named_when_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from mtmm_es.extractors.asr import AsrConfig
    from mtmm_es.pipeline import ExtractionConfig, config

    monkeypatch.setattr(config, "installed", lambda module: module != "whisper")
    with pytest.raises(MtmmError, match=r"pip install 'mtmm-es\[openai-whisper\]'"):
        ExtractionConfig(asr=AsrConfig(backend="openai-whisper"))


def test_cancel_stops_frame_decoding_soon(fixture_video: Path) -> None:
    with Media(fixture_video) as media:
        frames = media.frames(0, 64)
        next(frames)
        media.cancel()  # what extract() does when an error or a signal ends the run
        rest = sum(1 for _ in frames)
    assert rest < 20  # only what was already decoded ahead, not the other ~185 frames


def test_b_frames_are_skipped_only_where_the_other_frames_stay_exact(tmp_path: Path, fixture_video: Path) -> None:
    """Regression: B-frames were always skipped. In HEVC they are references, so an H.265 video
    (phones record it) decoded 3 frames in 19 s and lost the face after the first utterance; with
    x264's default b-pyramid the frames after a skipped one decoded damaged."""
    hevc, pyramid = tmp_path / "hevc.mp4", tmp_path / "pyramid.mp4"
    clip = ["-t", "6", "-i", str(fixture_video), "-an", "-vf", "scale=160:-2,fps=30"]
    ffmpeg(*clip, "-c:v", "libx265", "-x265-params", "log-level=none", str(hevc))
    ffmpeg(*clip, "-c:v", "libx264", "-x264-params", "bframes=3:b-pyramid=normal", str(pyramid))
    running = threading.Event()
    assert _frames_to_skip(fixture_video, running) == "BIDIR"  # no B-frame is a reference there
    assert _frames_to_skip(hevc, running) == _frames_to_skip(pyramid, running) == "NONREF"
    for video in (hevc, pyramid):  # what is decoded is exact: each frame as a full decoding gives it
        exact = _first_frames(video, running, None, count=60)
        assert _first_frames(video, running, "NONREF", last_pts=max(exact)).items() <= exact.items()
        kept = {pts: frame for pts, frame in exact.items() if frame[0] != 3}  # the I- and P-frames, exact
        assert _first_frames(video, running, "BIDIR", last_pts=max(exact)) != kept  # lost (HEVC) or damaged
    media = Media(hevc)
    assert len(list(media.frames(5, 160, skip_bidir=True))) == len(list(media.frames(5, 160))) >= 30  # 6 s at 5 fps


def test_a_grid_finer_than_the_source_repeats_no_frame(fixture_video: Path, tmp_path: Path) -> None:
    """Regression: --fps 1000 on the 10 fps fixture analysed every frame a hundred times over (it had
    not finished after 200 s); the grid now stops at the stream's base rate, not its average, which
    a timestamp jump pulls far down (10 fps with a 600 s jump: 0.16 fps on average)."""
    media = Media(fixture_video)
    assert len(list(media.frames(1000, 64))) == len(list(media.frames(10, 64))) == 187
    jump = tmp_path / "jump.mp4"
    ffmpeg("-i", str(fixture_video), "-an", "-frames:v", "100", "-vf", "setpts=PTS+gte(N\\,50)*600/TB", str(jump))
    media = Media(jump)
    assert media.info.fps < 1 and len(list(media.frames(5, 64))) >= 50  # 5 s either side of the jump


def test_channels_that_cancel_in_a_mono_mix_are_read_one_alone(tmp_path: Path, fixture_video: Path) -> None:
    """Regression: a stereo track with one channel phase-inverted (a miswired microphone) mixed to
    silence, and analyze-video said "no speech found" of a file full of speech."""
    inverted = tmp_path / "inverted.wav"
    ffmpeg("-i", str(fixture_video), "-vn", "-af", "pan=stereo|c0=c0|c1=-1*c0", str(inverted))
    with Media(inverted) as media:
        audio = np.array(media.audio())
        assert media.warnings == [
            "the audio's channels cancel out when mixed to mono (one is phase-inverted?): using the first channel"
        ]
    with Media(fixture_video) as media:
        assert np.allclose(audio, np.array(media.audio()), atol=1e-3) and media.warnings == []
    quiet_left = tmp_path / "quiet_left.wav"  # a quiet mix that does not cancel: kept, no warning
    ffmpeg("-i", str(fixture_video), "-vn", "-af", "pan=stereo|c0=0.04*c0|c1=0*c0", str(quiet_left))
    with Media(quiet_left) as media:
        media.audio()
        assert media.warnings == []


def test_a_matroska_duration_tag_with_a_language_suffix_is_read() -> None:
    stream = types.SimpleNamespace(duration=None, time_base=None, metadata={"DURATION-eng": "00:01:02.500000000"})
    assert _stream_seconds(stream) == 62.5


def test_a_name_with_a_colon_is_a_file_not_a_protocol(
    tmp_path: Path, fixture_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: FFmpeg read "take2:final.mp4", given relative to the working folder, as a URL
    of protocol "take2" ("not a readable media file (Protocol not found)")."""
    from mtmm_es.pipeline.report import embedded_video

    (tmp_path / "take2:final.mp4").symlink_to(fixture_video)
    monkeypatch.chdir(tmp_path)
    with Media("take2:final.mp4") as media:
        assert media.info.has_video and media.audio() is not None and len(media.audio()) > SAMPLE_RATE
        assert next(iter(media.frames(fps=1.0, max_side=64))).rgb.shape[2] == 3
    assert embedded_video("take2:final.mp4").startswith("data:video/webm;base64,")


def test_a_temp_disk_that_refuses_the_decoded_audio_is_one_error_naming_the_file(fixture_video: Path) -> None:
    """Regression: a full or size-limited temporary folder escaped as 'unexpected OSError', exit 1."""
    import resource

    code = (
        "import sys\n"
        "from mtmm_es.core.errors import MtmmError\n"
        "from mtmm_es.pipeline.media import Media\n"
        "try:\n"
        "    Media(sys.argv[1]).audio()\n"
        "except MtmmError as error:\n"
        "    print(error)\n"
    )

    def files_up_to_64_kib() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 16, 1 << 16))

    done = subprocess.run(
        [sys.executable, "-c", code, str(fixture_video)], capture_output=True, text=True, preexec_fn=files_up_to_64_kib
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{fixture_video}: cannot keep the decoded audio in ")
    assert "(File too large)" in done.stdout
