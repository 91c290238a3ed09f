"""Do a recording's words land in the right utterance? One speaker's acted clips laid end to end 1 s
apart (as `speech_e2e.py` lays them: CREMA-D and RAVDESS held-out actors, TESS's two speakers), run
through the product's extraction (`FeaturePipeline.extract`: ASR, pause segmentation, snapping,
windows fitted to the voice); the recognised words are aligned to the clips' known sentences, so
each word's true clip is known. A clip is placed right when all its words sit in one utterance,
that utterance is the clip's own (each utterance belongs to the clip it overlaps most) and it holds
no other clip's words.
Prints per corpus the share of clips placed right; the last line is JSON.

    python benchmarks/word_placement.py [--clips 20] [--actors 5] [--no-snap]
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from speech_e2e import held_out_actors  # noqa: E402

from mtmm_es.pipeline import ExtractionConfig, FeaturePipeline  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_RATE = 16000
TIME_COST = 0.4  # per second a word lies outside a clip: breaks ties between repeated sentences


def tokens(text: str) -> list[str]:
    return [t.strip("'") for t in re.findall(r"[a-z0-9']+", text.lower().replace("11", "eleven")) if t.strip("'")]


def recording(folder: Path, rows: list[dict], path: Path) -> list[tuple[float, float, str]]:
    """The clips written to `path` 1 s apart after a 0.3 s lead; each clip's (start, end, sentence)."""
    pieces, truth, t = [np.zeros(int(0.3 * SAMPLE_RATE), np.float32)], [], 0.3
    for row in rows:
        audio, _ = soundfile.read(folder / row["file"], dtype="float32")
        pieces += [audio, np.zeros(SAMPLE_RATE, np.float32)]
        truth.append((t, t + len(audio) / SAMPLE_RATE, row["text"]))
        t += len(audio) / SAMPLE_RATE + 1.0
    soundfile.write(path, np.concatenate(pieces), SAMPLE_RATE)
    return truth


def aligned(heard: list[tuple[str, float]], said: list[tuple[str, int, float, float]]) -> list[int | None]:
    """For each heard (token, time) the index of the said token it aligns to (None: inserted):
    edit distance, with a small cost for time outside the said token's clip."""
    n, m = len(heard), len(said)
    cost = np.zeros((n + 1, m + 1))
    cost[:, 0], cost[0, :] = np.arange(n + 1), np.arange(m + 1)
    move = np.zeros((n + 1, m + 1), int)
    move[1:, 0], move[0, 1:] = 1, 2
    for i, (token, time) in enumerate(heard, 1):
        for j, (word, _, start, end) in enumerate(said, 1):
            far = min(max(start - time, time - end, 0.0), 15.0)
            options = (cost[i - 1, j - 1] + (token != word) + TIME_COST * far, cost[i - 1, j] + 1, cost[i, j - 1] + 1)
            move[i, j] = int(np.argmin(options))
            cost[i, j] = options[move[i, j]]
    found: list[int | None] = [None] * n
    i, j = n, m
    while i > 0 or j > 0:
        if move[i, j] == 0:
            found[i - 1] = j - 1
        i, j = (i - 1, j - 1) if move[i, j] == 0 else (i - 1, j) if move[i, j] == 1 else (i, j - 1)
    return found


def placed_right(utterances, truth: list[tuple[float, float, str]]) -> list[bool]:
    """Per clip: all its words in its own utterance, which holds no other clip's words."""

    def overlap(u, clip) -> float:
        return max(0.0, min(u.end, clip[1]) - max(u.start, clip[0]))

    owner = [max(range(len(truth)), key=lambda c: overlap(u, truth[c])) for u in utterances]
    owner = [c if overlap(u, truth[c]) > 0 else None for u, c in zip(utterances, owner)]  # a stray one: nobody's
    heard, where = [], []
    for k, u in enumerate(utterances):
        for w in u.words:
            for token in tokens(w.text):
                heard.append((token, (w.start + w.end) / 2))
                where.append(k)
    said = [(t, c, start, end) for c, (start, end, text) in enumerate(truth) for t in tokens(text)]
    clip_of = [None if j is None else said[j][1] for j in aligned(heard, said)]
    right = []
    for c in range(len(truth)):
        homes = {where[h] for h, clip in enumerate(clip_of) if clip == c}
        guests = {clip_of[h] for h in range(len(heard)) if owner[where[h]] == c and clip_of[h] is not None}
        right.append(len(homes) == 1 and owner[homes.pop()] == c and guests <= {c})
    return right


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--clips", type=int, default=20, help="clips per recording (random, seeded)")
    parser.add_argument("--actors", type=int, default=5, help="held-out actors per corpus")
    parser.add_argument("--no-snap", action="store_true", help="words keep Whisper's times (no snap_words)")
    args = parser.parse_args()
    config = ExtractionConfig(modalities=("text",))
    if args.no_snap:
        config = replace(config, segmentation=replace(config.segmentation, snap_words=False))
    pipeline = FeaturePipeline(config)
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for corpus, column in (("cremad", "actor"), ("ravdess", "actor"), ("tess", "speaker")):
            folder = args.data_dir / "speech" / corpus
            with open(folder / "labels.csv", newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
            speakers = sorted({r[column] for r in rows}) if corpus == "tess" else held_out_actors(rows, corpus)
            right = []
            for speaker in speakers[: args.actors]:
                mine = [r for r in rows if r[column] == speaker]
                seed = sum(map(ord, speaker))
                chosen = [mine[k] for k in np.random.default_rng(seed).permutation(len(mine))[: args.clips]]
                path = Path(scratch) / f"{corpus}-{speaker}.wav"
                truth = recording(folder, chosen, path)
                right += placed_right(pipeline.extract(path).utterances, truth)
            results[corpus] = {"placed_right": round(float(np.mean(right)), 3), "clips": len(right)}
            print(corpus, results[corpus], flush=True)
    print(json.dumps({"benchmark": "word_placement", "snap": not args.no_snap, **results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
