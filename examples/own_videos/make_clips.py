"""Cut the repository's talking-head fixture into the two clips that labels.csv describes."""

import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg

fixture, out = Path(sys.argv[1]), Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
for name, start, duration in (("clip_a.mp4", 0.0, 9.3), ("clip_b.mp4", 9.3, 9.4)):
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-v",
            "error",
            "-y",
            "-ss",
            str(start),
            "-t",
            str(duration),
            "-i",
            str(fixture),
            "-c:v",
            "libx264",
            "-c:a",
            "aac",
            str(out / name),
        ],
        check=True,
    )
print(f"clips in {out}")
