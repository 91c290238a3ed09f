"""Speaker turns and the speaking face: diarization error and attribution on CREMA-D conversations,
false splits of one voice, speaking-face accuracy on a two-face clip, and what speakers cost in
analyze-video time.

    python benchmarks/speakers.py [--pairs 20] [--e2e 8] [--tuning] [--rtf-runs 3] [--rtf-video VIDEO]

Actors: diarization thresholds were chosen on CREMA-D actors 1002-1045 (the tuning actors,
`--tuning`); by default every figure comes from the held-out actors 1046-1091.
1. Conversations: a man and a woman (pairs drawn by seed) alternate 10 random clips (random
   sentences and emotions), 0.6 s apart. `windows`: the clips' own windows (words spread over each
   clip), so only diarization is measured; `merged`: every other pair of turns given as one
   utterance (a speaker change inside an utterance must be split); also with N = 2 given. `e2e`:
   the audio through `analyze-video` as a user runs it (Whisper words, pause segmentation,
   diarization with the count estimated, the models; no cache). Per setting: share of
   conversations where two speakers are found, attribution (share of turns whose utterance carries
   that actor's majority label; 0 when both actors share one label), share of conversations with
   attribution >= 0.9, DER (frame-level diarization error rate, 10 ms frames, no collar: missed
   speech + false alarm + speaker confusion over the reference speech, under the best label
   mapping; the reference spans whole clips, silence at their ends included, so word-bounded
   utterances always miss some) and the confusion alone (wrong speaker over the frames both call
   speech). Monologues (one actor's 10 clips end to end) and the talking-head fixture measure
   false splits: how often one voice is labelled as more than one speaker.
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


def conversations(count: int, seed: int, held_out: bool = True):
    """`count` man/woman conversations of ten turns (pairs drawn by `seed`) and their true turns."""
    men, women = conversation.cast(conversation.actors(), held_out)
    rng = np.random.default_rng(seed)
    for k in range(count):
        pair = (str(rng.choice(men)), str(rng.choice(women)))
        yield conversation.conversation(pair, turns=10, seed=seed + k)


def monologues(count: int, seed: int, held_out: bool = True):
    """`count` recordings of one actor each (ten clips end to end; actors drawn by `seed`)."""
    men, women = conversation.cast(conversation.actors(), held_out)
    for k, actor in enumerate(np.random.default_rng(seed + 7).choice(men + women, count, replace=False)):
        yield conversation.monologue(str(actor), seed=seed + k)


def _summary(rows: list[dict]) -> dict:
    return {
        "conversations": len(rows),
        "two_found": float(np.mean([r["speakers"] == 2 for r in rows])),
        "attribution": float(np.mean([r["attribution"] for r in rows])),
        "attribution_ge_0.9": float(np.mean([r["attribution"] >= 0.9 for r in rows])),
        "der": float(np.mean([r["der"][0] for r in rows])),
        "confusion": float(np.mean([r["der"][1] for r in rows])),
    }


def diarization_benchmark(pairs: int, held_out: bool) -> dict:
    """Diarization alone on the clips' own windows (no ASR), estimated and N = 2."""
    from mtmm_es.pipeline.diarize import DiarizationConfig, Diarizer
    from mtmm_es.pipeline.segmentation import renumber

    results: dict = {}
    diarizers = {"estimated": Diarizer(DiarizationConfig()), "n=2": Diarizer(DiarizationConfig(speakers=2))}
    rows: dict[str, list[dict]] = {}
    for audio, truth in conversations(pairs, seed=100, held_out=held_out):
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
    single = []
    for audio, truth in monologues(pairs, seed=100, held_out=held_out):
        utterances = renumber([_utterance(_words(t)) for t in truth])
        single.append(diarizers["estimated"].run(audio, utterances).speakers > 1)
    results["windows/one_actor_false_split"] = float(np.mean(single))
    return results


def end_to_end_benchmark(count: int, held_out: bool) -> dict:
    """What `analyze-video FILE` gives (Whisper, pause segmentation, diarization, the models; no
    cache), the speaker count estimated: `count` conversations, `count` monologues and the
    committed talking-head fixture."""
    from mtmm_es.pipeline import ExtractionConfig
    from mtmm_es.pipeline.analyze import Pipeline

    pipeline = Pipeline(ExtractionConfig(cache=False))
    rows, single = [], []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "recording.wav"
        for audio, truth in conversations(count, seed=500, held_out=held_out):
            soundfile.write(path, audio, 16000)
            result = pipeline.analyze(path)
            speakers = len({u.speaker for u in result.utterances})
            rows.append(
                {
                    "speakers": speakers,
                    "attribution": conversation.attribution(result.utterances, truth),
                    "der": der(result.utterances, truth),
                }
            )
            print(f"conversation: {speakers} speakers, attribution {rows[-1]['attribution']:.2f}", flush=True)
        for audio, _ in monologues(count, seed=500, held_out=held_out):
            soundfile.write(path, audio, 16000)
            single.append(len({u.speaker for u in pipeline.analyze(path).utterances}))
            print(f"monologue: {single[-1]} speakers", flush=True)
    fixture = len({u.speaker for u in pipeline.analyze(ROOT / "tests" / "fixtures" / "talking_head.mp4").utterances})
    return {
        **_summary(rows),
        "monologues": len(single),
        "monologue_false_split": float(np.mean([n > 1 for n in single])),
        "talking_head_speakers": fixture,
    }


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
    parser.add_argument("--e2e", type=int, default=8, help="end-to-end conversations and monologues")
    parser.add_argument("--tuning", action="store_true", help="the tuning actors instead of the held-out ones")
    parser.add_argument("--rtf-runs", type=int, default=3)
    parser.add_argument("--rtf-video")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: windows,e2e,face,rtf")
    parser.add_argument("--rtf-worker", help=argparse.SUPPRESS)
    parser.add_argument("--speakers-off", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rtf_worker:
        print(json.dumps(rtf_worker(args.rtf_worker, not args.speakers_off)))
        return
    skip = set(args.skip.split(","))
    summary: dict = {}
    if "windows" not in skip:
        summary["windows"] = diarization_benchmark(args.pairs, not args.tuning)
        print(json.dumps(summary["windows"], indent=1), flush=True)
    if "e2e" not in skip and args.e2e:
        summary["e2e"] = end_to_end_benchmark(args.e2e, not args.tuning)
        print(json.dumps(summary["e2e"], indent=1), flush=True)
    if "face" not in skip:
        summary["speaking_face"] = face_benchmark()
        print(json.dumps(summary["speaking_face"], indent=1), flush=True)
    if "rtf" not in skip and args.rtf_runs:
        summary["rtf"] = rtf_benchmark(bench_video(args.rtf_video), args.rtf_runs)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
