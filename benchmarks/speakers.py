"""Speaker turns and the speaking face: diarization error and attribution on CREMA-D conversations,
speaking-face accuracy on a two-face clip, and what speakers cost in analyze-video time.

    python benchmarks/speakers.py [--pairs 20] [--e2e-pairs 4] [--rtf-runs 3] [--rtf-video VIDEO]

1. Conversations: a man and a woman of CREMA-D (pairs drawn by seed) alternate 10 random clips
   (random sentences and emotions), 0.6 s apart. `windows`: the clips' own windows (words spread
   over each clip), so only diarization is measured; `merged`: every other pair of turns given as one
   utterance (a speaker change inside an utterance must be split); `e2e`: the audio through the whole
   extraction (Whisper words, pause segmentation, diarization). Per setting: share of conversations
   where two speakers are found, attribution (share of turns whose utterance carries that actor's
   majority label; 0 when both actors share one label), share of conversations with attribution
   >= 0.9, DER (frame-level diarization error rate, 10 ms frames, no collar: missed speech +
   false alarm + speaker confusion over the reference speech, under the best label mapping; the
   reference spans whole clips, silence at their ends included, so word-bounded utterances always
   miss some) and the confusion alone (wrong speaker over the frames both call speech); also with
   N = 2 given. One actor alone (10 clips) measures how often one speaker stays one.
2. Speaking face: CREMA-D's six clips of actor 1001 beside a still frame of him, the speaking side
   swapping each clip; share of utterances whose features come from the speaking face's track,
   on the clips' windows and end to end; the same clip with both faces still (a voice-over) must
   leave every utterance without visual features.
3. Cost: analyze-video real-time factor with speakers on and off (fresh processes, runs
   interleaved, medians; the 60 s talking-head benchmark video unless one is given).
Prints one JSON object as its last line.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import conversation  # noqa: E402

from benchmarks.common import bench_video  # noqa: E402

FRAME_S = 0.01


def _words(turn):
    from mtmm_es.extractors.base import Word

    tokens = turn.text.split()
    step = (turn.end - turn.start - 0.4) / len(tokens)
    return [
        Word(w, turn.start + 0.2 + k * step, turn.start + 0.2 + (k + 0.8) * step, 1.0) for k, w in enumerate(tokens)
    ]


def _utterance(words):
    from mtmm_es.extractors.base import Utterance

    return Utterance(0, words[0].start, words[-1].end, " ".join(w.text for w in words), tuple(words))


def der(utterances, truth) -> tuple[float, float]:
    """DER = (missed + false alarm + confusion) / reference speech, and the confusion alone over
    the frames both mark as speech; 10 ms frames, no collar, the best label mapping."""
    end = max(max(t.end for t in truth), max((u.end for u in utterances), default=0.0))
    n = int(np.ceil(end / FRAME_S)) + 1
    ref, hyp = np.full(n, -1), np.full(n, -1)
    actors = sorted({t.speaker for t in truth})
    names = sorted({u.speaker for u in utterances if u.speaker})
    for t in truth:
        ref[int(t.start / FRAME_S) : int(t.end / FRAME_S)] = actors.index(t.speaker)
    for u in utterances:
        if u.speaker:
            hyp[int(u.start / FRAME_S) : int(u.end / FRAME_S)] = names.index(u.speaker)
    speech = (ref >= 0).sum()
    missed = ((ref >= 0) & (hyp < 0)).sum()
    false_alarm = ((ref < 0) & (hyp >= 0)).sum()
    both = (ref >= 0) & (hyp >= 0)
    best_confusion = both.sum()
    for mapping in itertools.permutations(range(max(len(names), len(actors))), len(names)):
        mapped = np.where(hyp >= 0, np.array(mapping + (0,))[hyp], -1)
        best_confusion = min(best_confusion, (both & (mapped != ref)).sum())
    return float((missed + false_alarm + best_confusion) / speech), float(best_confusion / max(both.sum(), 1))


def conversations(count: int, seed: int):
    clips = conversation.actors()
    men = sorted(a for a, rows in clips.items() if rows[0]["sex"] == "male")
    women = sorted(a for a, rows in clips.items() if rows[0]["sex"] == "female")
    rng = np.random.default_rng(seed)
    for k in range(count):
        pair = (str(rng.choice(men)), str(rng.choice(women)))
        yield conversation.conversation(pair, turns=10, seed=seed + k)


def _summary(rows: list[dict]) -> dict:
    return {
        "conversations": len(rows),
        "two_found": float(np.mean([r["speakers"] == 2 for r in rows])),
        "attribution": float(np.mean([r["attribution"] for r in rows])),
        "attribution_ge_0.9": float(np.mean([r["attribution"] >= 0.9 for r in rows])),
        "der": float(np.mean([r["der"][0] for r in rows])),
        "confusion": float(np.mean([r["der"][1] for r in rows])),
    }


def diarization_benchmark(pairs: int, e2e_pairs: int) -> dict:
    from mtmm_es.extractors.base import Utterance
    from mtmm_es.pipeline import ExtractionConfig, FeaturePipeline
    from mtmm_es.pipeline.diarize import DiarizationConfig, Diarizer
    from mtmm_es.pipeline.segmentation import renumber

    results: dict = {}
    diarizers = {"estimated": Diarizer(DiarizationConfig()), "n=2": Diarizer(DiarizationConfig(speakers=2))}
    rows: dict[str, list[dict]] = {}
    for audio, truth in conversations(pairs, seed=100):
        windows = renumber([_utterance(_words(t)) for t in truth])
        merged = []
        for k in range(0, len(truth), 2):
            first, second = _words(truth[k]), _words(truth[k + 1])
            merged += [_utterance(first + second)] if k % 4 == 0 else [_utterance(first), _utterance(second)]
        for setting, utterances in (("windows", windows), ("merged", renumber(merged))):
            for name, diarizer in diarizers.items():
                found = diarizer.run(audio, utterances)
                rows.setdefault(f"{setting}/{name}", []).append(
                    {
                        "speakers": found.speakers,
                        "attribution": conversation.attribution(found.utterances, truth),
                        "der": der(found.utterances, truth),
                    }
                )
    results.update({key: _summary(value) for key, value in rows.items()})
    single, clips = [], conversation.actors()
    rng = np.random.default_rng(7)
    for actor in rng.choice(sorted(clips), pairs, replace=False):
        rows_ = [clips[actor][k] for k in rng.permutation(len(clips[actor]))[:10]]
        pieces, utterances, t = [], [], 0.3
        for row in rows_:
            audio, _ = soundfile.read(conversation.SHARED / "speech/cremad" / row["file"], dtype="float32")
            turn = conversation.Turn(t, t + len(audio) / 16000, actor, row["text"])
            utterances.append(_utterance(_words(turn)))
            pieces += [audio, np.zeros(9600, np.float32)]
            t += len(audio) / 16000 + 0.6
        found = diarizers["estimated"].run(np.concatenate([np.zeros(4800, np.float32), *pieces]), renumber(utterances))
        single.append(found.speakers == 1)
    results["one_actor_stays_one"] = float(np.mean(single))
    e2e: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, (audio, truth) in enumerate(conversations(e2e_pairs, seed=500)):
            path = Path(tmp) / f"conversation{k}.wav"
            soundfile.write(path, audio, 16000)
            for name, config in (("estimated", DiarizationConfig()), ("n=2", DiarizationConfig(speakers=2))):
                extraction = FeaturePipeline(
                    ExtractionConfig(cache_dir=tmp, diarization=config, modalities=("text",))
                ).extract(path)
                utterances = [Utterance.from_dict(u.to_dict()) for u in extraction.utterances]
                e2e.setdefault(f"e2e/{name}", []).append(
                    {
                        "speakers": extraction.diarization["speakers"],
                        "attribution": conversation.attribution(utterances, truth),
                        "der": der(utterances, truth),
                    }
                )
    results.update({key: _summary(value) for key, value in e2e.items()})
    return results


def face_benchmark() -> dict:
    from mtmm_es.extractors.base import Utterance
    from mtmm_es.extractors.visual import FaceExpressionExtractor
    from mtmm_es.pipeline import ExtractionConfig, FeaturePipeline
    from mtmm_es.pipeline.media import Media

    extractor = FaceExpressionExtractor()
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        clip, still = Path(tmp) / "two_faces.mp4", Path(tmp) / "voice_over.mp4"
        truth, _ = conversation.two_faces(clip), conversation.two_faces(still, still_audio=True)
        windows = [Utterance(k, t.start + 0.3, t.end - 0.3, t.text) for k, t in enumerate(truth)]
        with Media(clip) as media:
            tracks = extractor.analyze(media)
            features = extractor.pool(tracks, media, windows)
        side_track = {side: _side_track(tracks, side) for side in ("left", "right")}
        chosen = features.extras["face_track"]
        out["windows_speaking_face_accuracy"] = float(
            np.mean([c == side_track[t.speaker] for c, t in zip(chosen, truth)])
        )
        out["windows_confidence_mean"] = float(features.extras["face_confidence"].mean())
        extraction = FeaturePipeline(ExtractionConfig(cache_dir=tmp, modalities=("visual",))).extract(clip)
        visual = extraction.features["visual"]
        correct = []
        for row, u in enumerate(extraction.utterances):
            middle = (u.start + u.end) / 2
            turn = min(truth, key=lambda t: max(t.start - middle, middle - t.end, 0))
            correct.append(visual.extras["face_track"][row] == side_track[turn.speaker])
        out["e2e_utterances"] = len(correct)
        out["e2e_speaking_face_accuracy"] = float(np.mean(correct))
        with Media(still) as media:
            voice_over = extractor.pool(extractor.analyze(media), media, windows)
        out["voice_over_masked"] = float(np.mean(~voice_over.mask))
    return out


def _side_track(tracks, side: str) -> int:
    """The track of the face on `side` of the frame, told apart by the head pose's mean horizontal
    translation (independent of which face the extractor picks)."""
    tx = tracks.values[:, -3]  # tx_cm of the head pose: smaller on the left of the frame
    ids = sorted(set(tracks.track.tolist()))
    mean_x = {k: float(np.mean(tx[tracks.track == k])) for k in ids}
    ordered = sorted(ids, key=lambda k: mean_x[k])
    return ordered[0] if side == "left" else ordered[-1]


def rtf_worker(video: str, speakers: bool) -> dict:
    from dataclasses import replace

    from mtmm_es.pipeline import ExtractionConfig
    from mtmm_es.pipeline.analyze import Pipeline
    from mtmm_es.pipeline.diarize import DiarizationConfig

    config = replace(ExtractionConfig(cache=False), diarization=DiarizationConfig(enabled=speakers))
    pipeline = Pipeline(config)
    first = pipeline.analyze(video)
    started = time.perf_counter()
    pipeline.analyze(video)
    return {"rtf": (time.perf_counter() - started) / first.source.duration}


def rtf_benchmark(video: str, runs: int) -> dict:
    times: dict[str, list[float]] = {"on": [], "off": []}
    for _ in range(runs):
        for mode in ("on", "off"):
            command = [sys.executable, __file__, "--rtf-worker", video] + (["--speakers-off"] if mode == "off" else [])
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            times[mode].append(json.loads(done.stdout.splitlines()[-1])["rtf"])
            print(f"rtf speakers {mode}: {times[mode][-1]:.3f}", flush=True)
    on, off = statistics.median(times["on"]), statistics.median(times["off"])
    return {"video": video, "runs": runs, "rtf_speakers_on": on, "rtf_speakers_off": off, "growth": on / off - 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--e2e-pairs", type=int, default=4)
    parser.add_argument("--rtf-runs", type=int, default=3)
    parser.add_argument("--rtf-video")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: diarization,face,rtf")
    parser.add_argument("--rtf-worker", help=argparse.SUPPRESS)
    parser.add_argument("--speakers-off", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rtf_worker:
        print(json.dumps(rtf_worker(args.rtf_worker, not args.speakers_off)))
        return
    skip = set(args.skip.split(","))
    summary: dict = {}
    if "diarization" not in skip:
        summary["diarization"] = diarization_benchmark(args.pairs, args.e2e_pairs)
        print(json.dumps(summary["diarization"], indent=1), flush=True)
    if "face" not in skip:
        summary["speaking_face"] = face_benchmark()
        print(json.dumps(summary["speaking_face"], indent=1), flush=True)
    if "rtf" not in skip and args.rtf_runs:
        summary["rtf"] = rtf_benchmark(bench_video(args.rtf_video), args.rtf_runs)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
