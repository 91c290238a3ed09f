"""Real speech in any language: analyze-video speed and language handling on real TV footage.

    python benchmarks/real_speech.py [--clips ../shared/data/sarcasm_video/clips] [--seconds 150]
                                     [--baseline /path/to/other/checkout] [--pairs 3] [--naive-runs 1]

Builds (with ffmpeg, into the temp folder) a video of about `--seconds` from the House M.D. clips
(real English speech, faces, cuts), and a copy whose audio is a synthesised Spanish movie review
(espeak-ng) over the same frames. One fresh process then reports:
- English with the defaults (language identification included): real-time factor of the second
  analysis (`rtf`, models loaded) and of the first (`rtf_cold`); the same with `--language en`
  (no identification); the identification time per file;
- Spanish: the language found, its probability, the utterances, the share of the spoken time they
  cover, the share labelled positive, the real-time factor, and whether two runs give identical labels;
- Mandarin (espeak-ng's pinyin voice) and German: the language identified;
- repetitive speech (four sentences repeated for 57 s) against ordinary speech of the same length
  (the first 57 s of the House audio): recognition time now, and with faster-whisper's default
  temperature fallback (the decoding before this change);
- the naive configuration (every frame, B-frames decoded, pyin) on the English video.
`--baseline DIR` also runs DIR's own analyze_rtf worker (its .venv) and this checkout's on the
English video, alternately `--pairs` times: the English path before and after, under the same load.
Prints one JSON object as its last line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

SPANISH_REVIEW = (
    "Ayer vi la nueva película de este director y me encantó.",
    "Los actores son maravillosos, sobre todo la actriz principal.",
    "La historia es emocionante desde el principio hasta el final.",
    "La música es preciosa y las imágenes son muy bonitas.",
    "Me reí mucho con los diálogos, son muy divertidos.",
    "Es una película perfecta para ver con la familia.",
    "El guion es inteligente y nunca resulta aburrido.",
    "Creo que es la mejor película que he visto este año.",
    "Los efectos especiales también son excelentes.",
    "Salí del cine feliz y con ganas de verla otra vez.",
    "La recomiendo a todos mis amigos sin ninguna duda.",
    "Sin duda merece todos los premios que va a recibir.",
)
MANDARIN = (
    "wo3 fei1chang2 xi3huan1 zhe4 bu4 dian4ying3.",
    "yan3yuan2 men dou1 hen3 bang4.",
    "jin1tian1 tian1qi4 hen3 hao3, wo3men qu4 gong1yuan2 wan2 ba.",
)
GERMAN = (
    "Ich habe diesen Film sehr gern gesehen.",
    "Die Schauspieler sind wunderbar und die Musik ist schön.",
    "Das Ende war traurig, aber der Film ist gut.",
)


def ffmpeg(*args: str) -> None:
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", *args], check=True)


def probe_duration(path: Path) -> float:
    import imageio_ffmpeg

    result = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(path)], capture_output=True, text=True)
    for line in result.stderr.splitlines():
        if "Duration:" in line:
            h, m, s = line.split("Duration:")[1].split(",")[0].strip().split(":")
            return int(h) * 3600 + int(m) * 60 + float(s)
    raise SystemExit(f"cannot read the duration of {path}")


def build_english(clips: Path, seconds: float, out: Path) -> Path:
    """The first target and context clips (sorted by name) until `seconds`, joined and re-encoded."""
    chosen, total = [], 0.0
    for clip in sorted(clips.glob("*.mp4")):
        chosen.append(clip)
        total += probe_duration(clip)
        if total >= seconds:
            break
    inputs = [arg for clip in chosen for arg in ("-i", str(clip))]
    parts = "".join(
        f"[{k}:v]scale=640:360,fps=30,setsar=1[v{k}];[{k}:a]aresample=44100,aformat=channel_layouts=mono[a{k}];"
        for k in range(len(chosen))
    )
    streams = "".join(f"[v{k}][a{k}]" for k in range(len(chosen)))
    graph = f"{parts}{streams}concat=n={len(chosen)}:v=1:a=1[v][a]"
    ffmpeg(
        *inputs,
        "-filter_complex",
        graph,
        "-map",
        "[v]",
        "-map",
        "[a]",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "23",
        "-c:a",
        "aac",
        "-b:a",
        "64k",
        str(out),
    )
    return out


def spanish_track(seconds: float) -> tuple[np.ndarray, float]:
    """The review read sentence by sentence with pauses, repeated to `seconds`; and the spoken seconds."""
    from speech import SAMPLE_RATE, spoken

    sentences = [spoken([s], "es", pause_s=0.0) for s in SPANISH_REVIEW]
    pieces, total, spoken_s, k = [np.zeros(SAMPLE_RATE // 2, np.float32)], SAMPLE_RATE // 2, 0.0, 0
    while total + len(sentences[k % len(sentences)]) < seconds * SAMPLE_RATE:
        sentence = sentences[k % len(sentences)]
        pause = np.zeros(int((0.8 + 0.3 * (k % 3)) * SAMPLE_RATE), np.float32)
        pieces += [sentence, pause]
        total += len(sentence) + len(pause)
        spoken_s += len(sentence) / SAMPLE_RATE
        k += 1
    audio = np.concatenate(pieces)
    return np.pad(audio, (0, max(0, int(seconds * SAMPLE_RATE) - len(audio)))), spoken_s


def build_spanish(english: Path, out: Path) -> tuple[Path, float]:
    import soundfile

    audio, spoken_s = spanish_track(probe_duration(english))
    wav = out.with_suffix(".wav")
    soundfile.write(wav, audio, 16000)
    ffmpeg("-i", str(english), "-i", str(wav), "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", str(out))
    return out, spoken_s


def timed(work):
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def covered(utterances, total: float) -> float:
    """Seconds inside at least one utterance, as a share of `total`."""
    spans = sorted((u.start, u.end) for u in utterances)
    seconds, reach = 0.0, 0.0
    for start, end in spans:
        seconds += max(0.0, end - max(start, reach))
        reach = max(reach, end)
    return seconds / total if total else 0.0


def labels(result) -> str:
    return json.dumps([u.to_dict() for u in result.utterances])


def duration_of(result) -> float:
    """The media duration of a VideoResult (a typed Source, or a dict in older checkouts)."""
    source = result.source
    return float(source["duration"] if isinstance(source, dict) else source.duration)


def worker(english: str, spanish: str, spanish_spoken: float, naive_runs: int) -> dict:
    from speech import spoken

    from mtmm_es.extractors.acoustic import AcousticConfig
    from mtmm_es.extractors.visual import VisualConfig
    from mtmm_es.pipeline import ExtractionConfig
    from mtmm_es.pipeline.analyze import Pipeline
    from mtmm_es.pipeline.media import Media

    report: dict = {}
    config = ExtractionConfig(cache=False)
    pipeline, load = timed(lambda: Pipeline(config))
    first, cold = timed(lambda: pipeline.analyze(english))
    _, warm = timed(lambda: pipeline.analyze(english))
    duration = duration_of(first)
    with Media(english) as media:
        audio = np.array(media.audio())
    recogniser = pipeline.features.recogniser
    lid = [timed(lambda: recogniser.identify(audio)) for _ in range(3)]
    report["english"] = {
        "duration_s": duration,
        "rtf": warm / duration,
        "rtf_cold": (load + cold) / duration,
        "utterances": len(first.utterances),
        "language": lid[0][0][0],
        "probability": round(lid[0][0][1], 3),
        "lid_seconds_per_file": statistics.median(t for _, t in lid),
    }
    forced = Pipeline(replace(config, asr=replace(config.asr, language="en")))
    forced.analyze(english)
    _, warm_forced = timed(lambda: forced.analyze(english))
    report["english_language_en"] = {"rtf": warm_forced / duration}
    report["english"]["lid_overhead"] = warm / warm_forced - 1

    one, spanish_cold = timed(lambda: pipeline.analyze(spanish))
    two, spanish_warm = timed(lambda: pipeline.analyze(spanish))
    with Media(spanish) as media:
        language, probability, _ = recogniser.identify(np.array(media.audio()))
    positive = [u for u in two.utterances if u.sentiment and u.sentiment.label == "positive"]
    report["spanish"] = {
        "language": language,
        "probability": round(probability, 3),
        "utterances": len(two.utterances),
        "covered_share_of_speech": covered(two.utterances, spanish_spoken),
        "positive_share": len(positive) / max(1, len(two.utterances)),
        "rtf": spanish_warm / duration,
        "rtf_first": spanish_cold / duration,
        "identical_labels_two_runs": labels(one) == labels(two),
        "first_utterances": [u.text for u in two.utterances[:3]],
    }
    for name, sentences, voice in (("mandarin", MANDARIN, "cmn-latn-pinyin"), ("german", GERMAN, "de")):
        code, p, _ = recogniser.identify(spoken(sentences, voice))
        report[name] = {"language": code, "probability": round(p, 3), "voice": f"espeak-ng {voice}"}

    report["repetitive"] = repetitive_speech(recogniser, audio)
    if naive_runs:
        naive = Pipeline(
            replace(config, acoustic=AcousticConfig(pitch="pyin"), visual=VisualConfig(fps=0, skip_bidir=False))
        )
        naive.analyze(english)
        runs = [timed(lambda: naive.analyze(english))[1] for _ in range(naive_runs)]
        report["naive"] = {"rtf": statistics.median(runs) / duration}
        report["speedup_vs_naive"] = report["naive"]["rtf"] / report["english"]["rtf"]
    return report


def repetitive_speech(recogniser, house_audio: np.ndarray) -> dict:
    """Recognition seconds on 57 s of repeated sentences vs 57 s of ordinary speech, now and with the
    temperature fallback (faster-whisper's default decoding)."""
    from speech import SAMPLE_RATE

    from scripts.talking_head import speech_track

    repeated = speech_track(57.0)
    ordinary = np.ascontiguousarray(house_audio[: len(repeated)], dtype=np.float32)
    model = recogniser.english
    out = {}
    for name, audio in (("ordinary", ordinary), ("repetitive", repeated)):
        out[f"{name}_s"] = timed(lambda a=audio: recogniser.recognise(a))[1]

        def fallback(a=audio):
            segments, _ = model._model.transcribe(
                a, language="en", word_timestamps=True, vad_filter=True, condition_on_previous_text=False
            )
            return list(segments)

        out[f"{name}_fallback_s"] = timed(fallback)[1]
    out["ratio"] = out["repetitive_s"] / out["ordinary_s"]
    out["ratio_fallback"] = out["repetitive_fallback_s"] / out["ordinary_fallback_s"]
    out["seconds_of_audio"] = len(repeated) / SAMPLE_RATE
    return out


def english_worker(video: str) -> dict:
    """Default Pipeline of whichever mtmm_es this interpreter imports: wall and CPU seconds (all
    threads) of a second analysis, per second of media. CPU time is what a shared machine's load
    disturbs least."""
    from mtmm_es.pipeline import ExtractionConfig
    from mtmm_es.pipeline.analyze import Pipeline

    pipeline = Pipeline(ExtractionConfig(cache=False))
    result = pipeline.analyze(video)
    wall, cpu = time.perf_counter(), time.process_time()
    pipeline.analyze(video)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    duration = duration_of(result)
    return {"rtf": wall / duration, "cpu_per_media_s": cpu / duration}


def compare(checkout: Path, video: Path, pairs: int) -> dict:
    """English with the defaults, `checkout` (before, its .venv) and this checkout (after) in fresh
    processes, alternately in ABBA order so both see the same load on a shared machine; medians."""
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    pythons = [("before", str(checkout / ".venv/bin/python")), ("after", sys.executable)]
    for pair in range(pairs):
        for name, python in pythons if pair % 2 == 0 else pythons[::-1]:  # ABBA: no order bias
            command = [python, __file__, "--english-worker", str(video)]
            result = subprocess.run(command, check=True, capture_output=True, text=True, cwd=checkout)
            runs[name].append(json.loads(result.stdout.splitlines()[-1]))
        print(f"before {runs['before'][-1]}, after {runs['after'][-1]}", flush=True)
    out: dict = {"pairs": pairs}
    for name, found in runs.items():
        out[name] = {key: statistics.median(r[key] for r in found) for key in ("rtf", "cpu_per_media_s")}
    out["rtf_after_over_before"] = out["after"]["rtf"] / out["before"]["rtf"]
    out["cpu_after_over_before"] = out["after"]["cpu_per_media_s"] / out["before"]["cpu_per_media_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", default=str(ROOT.parent / "shared/data/sarcasm_video/clips"))
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--baseline", help="another checkout (with its .venv) to measure the English path before")
    parser.add_argument("--pairs", type=int, default=3, help="alternating before/after runs with --baseline")
    parser.add_argument("--naive-runs", type=int, default=1)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--english-worker", help=argparse.SUPPRESS)
    parser.add_argument("--skip-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.english_worker:
        print(json.dumps(english_worker(args.english_worker)))
        return
    if args.worker:
        english, spanish, spoken_s = args.worker
        print(json.dumps(worker(english, spanish, float(spoken_s), args.naive_runs)))
        return
    clips = Path(args.clips)
    if not clips.is_dir():
        raise SystemExit(f"{clips}: no House clips here (pass --clips)")
    folder = Path(tempfile.gettempdir()) / "mtmm-real-speech"
    folder.mkdir(exist_ok=True)
    english = folder / f"house-{int(args.seconds)}s.mp4"
    if not english.exists():
        build_english(clips, args.seconds, english)
    spanish, spoken_s = build_spanish(english, folder / f"house-{int(args.seconds)}s-es.mp4")
    summary: dict = {"english_video": str(english), "spanish_video": str(spanish)}
    if args.baseline:
        summary["english_vs_baseline"] = compare(Path(args.baseline), english, args.pairs)
    if args.skip_worker:
        print(json.dumps(summary))
        return
    command = [sys.executable, __file__, "--worker", str(english), str(spanish), str(spoken_s)]
    command += ["--naive-runs", str(args.naive_runs)]
    run = subprocess.run(command, check=True, capture_output=True, text=True)
    summary |= json.loads(run.stdout.splitlines()[-1])
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
