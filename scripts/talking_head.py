"""Generate a synthetic talking-head video: espeak-ng speech over a real face image.

The face is the astronaut portrait bundled with scikit-image, gently animated (slow zoom, sway and
tilt) so a face tracker sees motion; the speech is espeak-ng reading sentences separated by pauses,
so the clip has several utterances. Used for the committed test fixture and for benchmarks.

    python scripts/talking_head.py tests/fixtures/talking_head.mp4
    python scripts/talking_head.py --duration 60 --size 1280x720 --fps 30 /tmp/bench.mp4
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import tempfile
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import soundfile
from skimage import data

SAMPLE_RATE = 16000
SENTENCES = (
    "I absolutely loved this movie, the acting was wonderful.",
    "But the ending made me really angry and sad.",
    "Honestly, it was the worst thing I have ever seen.",
    "Still, I would watch the first half again with my friends.",
)
PAUSES_S = (0.9, 1.2, 0.7, 1.0)


def speak(text: str, voice: str = "en-us", words_per_minute: int = 150) -> np.ndarray:
    """Synthesize one sentence with espeak-ng and return 16 kHz mono float32 audio."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise SystemExit("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    wav = subprocess.run(
        [espeak, "-v", voice, "-s", str(words_per_minute), "--stdout", text],
        check=True,
        capture_output=True,
    ).stdout
    audio, rate = soundfile.read(io.BytesIO(wav), dtype="float32")
    return _resample(audio, rate, SAMPLE_RATE)


def _resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    positions = np.arange(0, len(audio) * target / rate) * rate / target
    return np.interp(positions, np.arange(len(audio)), audio).astype(np.float32)


def speech_track(duration: float | None) -> np.ndarray:
    """Sentences with pauses between them, repeated until `duration` seconds when given."""
    pieces: list[np.ndarray] = [np.zeros(int(0.5 * SAMPLE_RATE), np.float32)]
    total = len(pieces[0])
    index = 0
    while True:
        sentence = speak(SENTENCES[index % len(SENTENCES)])
        pause = np.zeros(int(PAUSES_S[index % len(PAUSES_S)] * SAMPLE_RATE), np.float32)
        if duration is not None and (total + len(sentence)) / SAMPLE_RATE > duration:
            break
        pieces += [sentence, pause]
        total += len(sentence) + len(pause)
        index += 1
        if duration is None and index == len(SENTENCES):
            break
    audio = np.concatenate(pieces)
    if duration is not None:
        audio = np.pad(audio, (0, max(0, int(duration * SAMPLE_RATE) - len(audio))))
    return audio


def face_frame(face: np.ndarray, width: int, height: int, t: float) -> np.ndarray:
    """The face centred on a grey canvas, zoomed, swayed and tilted smoothly with time t."""
    side = int(min(width, height) * (0.80 + 0.03 * np.sin(2 * np.pi * t / 4.0)))
    resized = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 96, np.uint8)
    x = (width - side) // 2 + int(0.02 * width * np.sin(2 * np.pi * t / 5.0))
    y = (height - side) // 2
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + side, width), min(y + side, height)
    canvas[y0:y1, x0:x1] = resized[y0 - y : y1 - y, x0 - x : x1 - x]
    tilt = cv2.getRotationMatrix2D((width / 2, height / 2), 3.0 * np.sin(2 * np.pi * t / 3.0), 1.0)
    return cv2.warpAffine(canvas, tilt, (width, height), borderValue=(96, 96, 96))


def write_video(out: Path, audio: np.ndarray, width: int, height: int, fps: int, crf: int) -> None:
    """Encode frames (H.264) and audio (AAC) into `out` with the ffmpeg bundled in imageio-ffmpeg."""
    face = data.astronaut()[10:290, 80:360]  # head and shoulders
    n_frames = int(len(audio) / SAMPLE_RATE * fps)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        soundfile.write(wav, audio, SAMPLE_RATE)
        command = [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-y",
            "-v",
            "error",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            f"{width}x{height}",
            "-r",
            str(fps),
            "-i",
            "pipe:",
            "-i",
            str(wav),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            str(crf),
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "48k",
            "-shortest",
            "-movflags",
            "+faststart",
            str(out),
        ]
        encoder = subprocess.Popen(command, stdin=subprocess.PIPE)
        assert encoder.stdin is not None
        for i in range(n_frames):
            encoder.stdin.write(face_frame(face, width, height, i / fps).tobytes())
        encoder.stdin.close()
        if encoder.wait() != 0:
            raise SystemExit(f"ffmpeg failed to encode {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--duration", type=float, help="seconds (default: the sentences once)")
    parser.add_argument("--size", default="320x320", help="WIDTHxHEIGHT")
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--crf", type=int, default=32, help="x264 quality: higher is smaller")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_video(args.out, speech_track(args.duration), width, height, args.fps, args.crf)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
