"""Compose multi-speaker test material from ../shared/data (used by tests/test_speakers.py and
benchmarks/speakers.py):

- a conversation: two CREMA-D actors (a man and a woman) alternating sentences, with the true
  speaker of every turn; a monologue: one actor's clips laid end to end;
- a two-face clip: CREMA-D's audio-visual samples of actor 1001 side by side with a still frame of
  the same actor, the speaking face switching side at each clip, with the speaking side per clip.

    python scripts/conversation.py conversation.wav
    python scripts/conversation.py --two-faces two_faces.mp4
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import soundfile

SAMPLE_RATE = 16000
SHARED = Path(os.environ.get("MTMM_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


@dataclass(frozen=True)
class Turn:
    start: float
    end: float
    speaker: str  # actor id (conversation) or "left"/"right" (two-face clip)
    text: str


def attribution(utterances, truth: list[Turn]) -> float:
    """Share of true turns whose utterance (at the turn's middle) carries that speaker's majority label;
    0 when two actors share one label (attributed to neither)."""
    labels = []
    for turn in truth:
        middle = (turn.start + turn.end) / 2
        labels.append(min(utterances, key=lambda u: max(u.start - middle, middle - u.end, 0)).speaker)
    best = {}
    for speaker in {t.speaker for t in truth}:
        mine = [label for label, t in zip(labels, truth) if t.speaker == speaker]
        best[speaker] = max(set(mine), key=mine.count)
    if len(set(best.values())) < len(best):
        return 0.0
    return float(np.mean([label == best[t.speaker] for label, t in zip(labels, truth)]))


def actors(labels_csv: Path = SHARED / "speech/cremad/labels.csv") -> dict[str, list[dict]]:
    """CREMA-D clips grouped by actor, in file order."""
    grouped: dict[str, list[dict]] = {}
    with labels_csv.open(newline="") as handle:
        for row in csv.DictReader(handle):
            grouped.setdefault(row["actor"], []).append(row)
    return grouped


TUNING_LAST_ACTOR = 1045  # diarization thresholds were chosen on actors up to this id; later ones are held out


def cast(clips: dict[str, list[dict]], held_out: bool = True) -> tuple[list[str], list[str]]:
    """The men and the women (actor ids, sorted) of the held-out or the tuning actors."""
    chosen = sorted(a for a in clips if (int(a) > TUNING_LAST_ACTOR) == held_out)
    return [a for a in chosen if clips[a][0]["sex"] == "male"], [a for a in chosen if clips[a][0]["sex"] == "female"]


def first_pair(clips: dict[str, list[dict]], index: int = 0, held_out: bool = False) -> tuple[str, str]:
    """The index-th man and index-th woman by actor id (of the tuning or the held-out actors)."""
    men, women = cast(clips, held_out)
    return men[index], women[index]


def conversation(
    pair: tuple[str, str], turns: int = 10, gap_s: float = 0.6, seed: int = 0, emotions: tuple[str, ...] = ()
) -> tuple[np.ndarray, list[Turn]]:
    """16 kHz audio of the two actors alternating `turns` clips (random sentences and emotions, or
    only `emotions`), `gap_s` of silence between turns, and the true turns."""
    clips = actors()
    rng = np.random.default_rng(seed)
    chosen = {}
    for actor in pair:
        rows = [r for r in clips[actor] if not emotions or r["emotion"] in emotions]
        chosen[actor] = [rows[k] for k in rng.permutation(len(rows))[: (turns + 1) // 2]]
    pieces, truth, t = [np.zeros(int(0.3 * SAMPLE_RATE), np.float32)], [], 0.3
    for k in range(turns):
        row = chosen[pair[k % 2]][k // 2]
        audio, rate = soundfile.read(SHARED / "speech/cremad" / row["file"], dtype="float32")
        assert rate == SAMPLE_RATE
        pieces += [audio, np.zeros(int(gap_s * SAMPLE_RATE), np.float32)]
        truth.append(Turn(t, t + len(audio) / SAMPLE_RATE, row["actor"], row["text"]))
        t += (len(audio) + int(gap_s * SAMPLE_RATE)) / SAMPLE_RATE
    return np.concatenate(pieces), truth


def monologue(actor: str, clips: int = 10, gap_s: float = 0.6, seed: int = 0) -> tuple[np.ndarray, list[Turn]]:
    """16 kHz audio of one actor's `clips` random clips laid end to end, `gap_s` apart, and the turns."""
    rows = actors()[actor]
    chosen = [rows[k] for k in np.random.default_rng(seed).permutation(len(rows))[:clips]]
    pieces, truth, t = [np.zeros(int(0.3 * SAMPLE_RATE), np.float32)], [], 0.3
    for row in chosen:
        audio, _ = soundfile.read(SHARED / "speech/cremad" / row["file"], dtype="float32")
        pieces += [audio, np.zeros(int(gap_s * SAMPLE_RATE), np.float32)]
        truth.append(Turn(t, t + len(audio) / SAMPLE_RATE, actor, row["text"]))
        t += (len(audio) + int(gap_s * SAMPLE_RATE)) / SAMPLE_RATE
    return np.concatenate(pieces), truth


def _decode(path: Path, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """RGB frames [n, h, w, 3] at 25 fps and 16 kHz mono audio of a media file."""
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    video = subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-i",
            str(path),
            "-r",
            "25",
            "-s",
            f"{width}x{height}",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    audio = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "-"],
        check=True,
        capture_output=True,
    ).stdout
    frames = np.frombuffer(video, np.uint8).reshape(-1, height, width, 3)
    return frames, np.frombuffer(audio, np.float32)


def two_faces(out: Path, alternate: bool = True, still_audio: bool = False) -> list[Turn]:
    """Write `out` (H.264 + AAC, 640x240, 25 fps): each CREMA-D sample clip of actor 1001 on one side,
    a still frame of him on the other (sides swap per clip when `alternate`). still_audio: both
    faces still while the speech plays (a voice-over). Returns the speaking side per clip."""
    samples = sorted((SHARED / "cremad_samples").glob("*.flv"))
    width, height = 320, 240
    still = _decode(samples[0], width, height)[0][0]
    frames, audio, truth, t = [], [], [], 0.0
    for k, clip in enumerate(samples):
        video, sound = _decode(clip, width, height)
        side = "right" if alternate and k % 2 else "left"
        for frame in video:
            live = still if still_audio else frame
            frames.append(np.concatenate([live, still] if side == "left" else [still, live], axis=1))
        audio.append(sound[: int(len(video) / 25 * SAMPLE_RATE)])
        truth.append(Turn(t, t + len(video) / 25, side, "Don't forget a jacket."))
        t += len(video) / 25
    wav = out.with_suffix(".wav")
    soundfile.write(wav, np.concatenate(audio), SAMPLE_RATE)
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    command = [ffmpeg, "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{2 * width}x{height}"]
    command += ["-r", "25", "-i", "pipe:", "-i", str(wav), "-c:v", "libx264", "-preset", "veryfast", "-crf", "23"]
    command += ["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-shortest", str(out)]
    subprocess.run(command, input=np.stack(frames).tobytes(), check=True)
    wav.unlink()
    return truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--two-faces", action="store_true")
    args = parser.parse_args()
    if args.two_faces:
        truth = two_faces(Path(args.out))
    else:
        audio, truth = conversation(first_pair(actors()))
        soundfile.write(args.out, audio, SAMPLE_RATE)
    for turn in truth:
        print(f"{turn.start:.2f}\t{turn.end:.2f}\t{turn.speaker}\t{turn.text}")


if __name__ == "__main__":
    main()
