"""Acted emotional speech (CREMA-D, RAVDESS, TESS in DATA_DIR/speech/<corpus>/): clips with a known
sentence, grouped per speaker into pseudo-videos so the contextual model sees that speaker's other
utterances, as it does in a real recording.

Features come from the product's own acoustic extractor: a speaker's clips are decoded, laid end to
end with `GAP_S` of silence between them (one recording per speaker), analysed once, and pooled over
each clip's window, exactly as `analyze-video` pools an utterance. Text features are the known
sentence through the text extractor (no ASR). Per-clip features are cached as .npz files when a
cache folder is given.

Label mapping (emotion; the model's six + none): neutral and calm (RAVDESS) -> none, angry/anger ->
anger, the rest by name (TESS's surprise is "pleasant surprise"). Sentiment is not annotated: weak
labels from the emotion (happy and surprise positive; neutral positive by the CMU convention that
sentiment >= 0 is positive; anger, disgust, fear, sad negative) are added at `SENTIMENT_WEIGHT`.
Licences: CREMA-D ODbL; RAVDESS CC BY-NC-SA 4.0 and TESS CC BY-NC-ND 4.0 (non-commercial).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mtmm_es.core.errors import MtmmError
from mtmm_es.extractors.base import SAMPLE_RATE, FeatureExtractor, MediaInfo, Utterance
from mtmm_es.extractors.level import gain_to
from mtmm_es.extractors.text import GloveTextExtractor

from ..data import Corpus, Video, utterance_alone
from .common import emotion_target

CORPORA = ("cremad", "ravdess", "tess")
GAP_S = 0.5
LAYOUT_SEED = 0  # the order of a speaker's clips in their recording (acoustic_features)
SENTIMENT_WEIGHT = 0.5
MAX_WORKERS = 4  # speakers analysed at once (acoustic_features): a TESS speaker's recording holds ~1 GB
EMOTION_MAP = {
    "neutral": "none",
    "calm": "none",
    "happy": "happy",
    "sad": "sad",
    "anger": "anger",
    "angry": "anger",
    "fear": "fear",
    "disgust": "disgust",
    "surprise": "surprise",
}
POSITIVE = frozenset({"happy", "surprise", "none"})
LICENCES = {"cremad": "ODbL", "ravdess": "CC BY-NC-SA 4.0", "tess": "CC BY-NC-ND 4.0"}


@dataclass(frozen=True)
class Clip:
    file: str
    speaker: str
    text: str
    emotion: str  # the model's label (EMOTION_MAP applied)


def read_clips(folder: Path, corpus: str) -> list[Clip]:
    """The corpus's labelled clips whose audio file exists, in table order."""
    table_path = folder / "labels.csv"
    if not table_path.is_file():
        raise MtmmError(f"{corpus} labels.csv not found", table_path)
    table = pd.read_csv(table_path, dtype=str, keep_default_na=False)
    speaker_column = "speaker" if "speaker" in table.columns else "actor"
    clips = []
    for row in table.itertuples(index=False):
        emotion = EMOTION_MAP.get(row.emotion)
        if emotion is None:
            raise MtmmError(f"{corpus}: unknown emotion '{row.emotion}'", table_path)
        if (folder / row.file).is_file():
            clips.append(Clip(row.file, f"{corpus}-{getattr(row, speaker_column)}", row.text, emotion))
    return clips


class _Recording:
    """A speaker's clips end to end as one in-memory MediaSource (audio only)."""

    def __init__(self, audio: np.ndarray):
        self._audio = audio
        self.info = MediaInfo("memory", len(audio) / SAMPLE_RATE, True, False)

    def audio(self) -> np.ndarray:
        return self._audio

    def frames(self, *args, **kwargs):
        return iter(())


def decode(path: Path) -> np.ndarray:
    """16 kHz mono float32 samples of one clip."""
    import soundfile

    audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    audio = audio.mean(1)
    if rate != SAMPLE_RATE:
        import librosa

        audio = librosa.resample(audio, orig_sr=rate, target_sr=SAMPLE_RATE)
    return audio.astype(np.float32)


def speaker_recording(
    paths: Sequence[Path], gap_s: float = GAP_S, level_db: float | None = None
) -> tuple[_Recording, list[Utterance]]:
    """The clips one after another with `gap_s` of silence between them, and each clip's window;
    with `level_db`, each clip brought to that level on its own, as a clip analysed alone is."""
    gap = np.zeros(int(gap_s * SAMPLE_RATE), np.float32)
    parts, utterances, position = [], [], 0
    for index, path in enumerate(paths):
        audio = decode(path)
        if level_db is not None:
            audio = audio * np.float32(gain_to(audio, level_db))
        utterances.append(Utterance(index, position / SAMPLE_RATE, (position + len(audio)) / SAMPLE_RATE, ""))
        parts += [audio, gap]
        position += len(audio) + len(gap)
    return _Recording(np.concatenate(parts) if parts else np.zeros(0, np.float32)), utterances


def acoustic_features(
    folder: Path,
    clips: Sequence[Clip],
    extractor: FeatureExtractor,
    cache: Path | None = None,
    alone: bool = False,
    workers: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per clip acoustic features [n, dim] and mask [n], extracted per speaker recording (cached; an
    extractor made of parts caches each part on its own, a levelling one as a whole). A levelling
    extractor (`level_db`) levels a whole recording, so a speaker's loud and quiet clips stay so;
    `alone` levels each clip on its own first, as `analyze-video` levels a clip given alone.

    The recording lays the speaker's clips out in a seeded random order: the corpora list them by
    emotion (TESS 200 clips in a row, RAVDESS about 8), and an extractor that sees beyond the clip
    (Whisper's encoder reads 30 s at a time) would otherwise learn the neighbours' emotion.

    Each recording is decoded once for all parts not cached yet, and `workers` speakers (default:
    the cores, at most `MAX_WORKERS`) are analysed at once in threads: numpy, openSMILE and
    CTranslate2 release the GIL, so one speaker's pitch tracking overlaps another's encoder."""
    parts = list(getattr(extractor, "parts", None) or [extractor])
    files = [_cache_file(folder, clips, part, cache, alone) for part in parts]
    pieces: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for k, file in enumerate(files):
        if file is not None and file.is_file():
            stored = np.load(file)
            pieces[k] = stored["values"], stored["mask"]
    missing = [k for k in range(len(parts)) if k not in pieces]
    level = extractor.info.config.get("level_db") if alone else None
    runs = [getattr(parts[k], "inner", parts[k]) if level is not None else parts[k] for k in missing]
    for k, (values, mask) in zip(missing, _extracted(folder, clips, runs, level, workers)):
        pieces[k] = values, mask
        if files[k] is not None:
            files[k].parent.mkdir(parents=True, exist_ok=True)
            np.savez(files[k].with_suffix(".tmp.npz"), values=values, mask=mask)
            files[k].with_suffix(".tmp.npz").replace(files[k])
    ordered = [pieces[k] for k in range(len(parts))]
    return np.concatenate([v for v, _ in ordered], axis=1), np.logical_and.reduce([m for _, m in ordered])


def _cache_file(
    folder: Path, clips: Sequence[Clip], extractor: FeatureExtractor, cache: Path | None, alone: bool
) -> Path | None:
    """Where one extractor's features of these clips are cached (None without a cache folder)."""
    if cache is None:
        return None
    key = hashlib.sha256(
        json.dumps([extractor.info.to_spec()["config"], extractor.info.name, extractor.info.version, GAP_S]).encode()
        + "\n".join(c.file for c in clips).encode()
        + f"shuffled {LAYOUT_SEED}".encode()
        + (b" alone" if alone else b"")
    ).hexdigest()[:16]
    return cache / f"{folder.name}-{extractor.info.name}-{key}.npz"


def _extracted(
    folder: Path, clips: Sequence[Clip], runs: Sequence[FeatureExtractor], level: float | None, workers: int | None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each of `runs`' features of the clips, one speaker recording per task, `workers` at a time."""
    outputs = [(np.zeros((len(clips), run.info.dim), np.float32), np.zeros(len(clips), bool)) for run in runs]
    if not runs:
        return outputs
    by_speaker: dict[str, list[int]] = {}
    for i, clip in enumerate(clips):
        by_speaker.setdefault(clip.speaker, []).append(i)

    def analyse(rows: list[int]) -> None:
        rows = list(np.random.default_rng(LAYOUT_SEED).permutation(rows))  # no runs of one emotion
        media, utterances = speaker_recording([folder / clips[i].file for i in rows], level_db=level)
        for run, (values, mask) in zip(runs, outputs):
            pooled = run.pool(run.analyze(media), media, utterances)
            values[rows], mask[rows] = pooled.values, pooled.mask  # each task writes its own rows

    count = workers or min(MAX_WORKERS, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="mtmm-speech") as pool:
        futures = [pool.submit(analyse, rows) for rows in by_speaker.values()]
        try:
            for future in futures:
                future.result()
        except BaseException:  # a failure or Ctrl-C: start no further speaker
            for future in futures:
                future.cancel()
            raise
    return outputs


def pseudo_videos(clips: Sequence[Clip], size: int, seed: int, single_share: float = 0.0) -> list[list[int]]:
    """Each speaker's clips in a seeded random order, cut into pseudo-videos of 1 .. 2*size-1 clips
    (mean `size`): real recordings range from one utterance to many, and the model must label both.
    A seeded `single_share` of each speaker's clips comes first as one-clip videos (a clip analysed
    alone, where the video gives no speaker context)."""
    rng = np.random.default_rng(seed)
    by_speaker: dict[str, list[int]] = {}
    for i, clip in enumerate(clips):
        by_speaker.setdefault(clip.speaker, []).append(i)
    groups = []
    for speaker in sorted(by_speaker):
        rows = [int(i) for i in rng.permutation(by_speaker[speaker])]
        singles = round(single_share * len(rows))
        groups += [[row] for row in rows[:singles]]
        rows = rows[singles:]
        while rows:
            length = int(rng.integers(1, 2 * size))
            groups.append(rows[:length])
            rows = rows[length:]
    return groups


def one_clip_videos(videos: Sequence[Video]) -> list[Video]:
    """Every utterance of `videos` as a video of its own (each clip analysed alone)."""
    return [utterance_alone(video, k) for video in videos for k in range(len(video))]


def load_speech(
    data_dir: str | Path,
    corpus: str,
    acoustic: FeatureExtractor,
    text: GloveTextExtractor,
    cache: Path | None = None,
    video_size: int = 30,
    seed: int = 0,
    single_share: float = 0.0,
) -> Corpus:
    """One speech corpus as pseudo-videos of one speaker's clips (a `single_share` of them alone) with
    acoustic and text features, emotion labels and weak sentiment labels. Video ids are
    `<corpus>-<speaker>-<k>`."""
    if corpus not in CORPORA:
        raise MtmmError(f"unknown speech corpus '{corpus}' (choose from {', '.join(CORPORA)})")
    folder = Path(data_dir) / "speech" / corpus
    if not folder.is_dir():
        folder = Path(data_dir) / corpus if (Path(data_dir) / corpus / "labels.csv").is_file() else folder
    if not folder.is_dir():
        raise MtmmError(f"speech corpus {corpus} not found", folder)
    clips = read_clips(folder, corpus)
    values, mask = acoustic_features(folder, clips, acoustic, cache)
    levels = acoustic.info.config.get("level_db") is not None
    alone = acoustic_features(folder, clips, acoustic, cache, alone=True) if levels else None
    text_values, text_mask = text.embed([c.text for c in clips])
    videos, counts = [], Counter()
    for rows in pseudo_videos(clips, video_size, seed, single_share):
        speaker = clips[rows[0]].speaker
        emotions = [clips[i].emotion for i in rows]
        video = Video(
            f"{speaker}-{counts[speaker]}",
            [clips[i].file for i in rows],
            features={"acoustic": values[rows], "text": text_values[rows]},
            masks={"acoustic": mask[rows], "text": text_mask[rows]},
            texts=[clips[i].text for i in rows],
            alone={"acoustic": alone[0][rows]} if alone else {},
        )
        if alone and len(rows) == 1:
            video.features["acoustic"], video.masks["acoustic"] = alone[0][rows], alone[1][rows]
        video.targets["emotion"] = np.stack([emotion_target([e]) for e in emotions])
        video.weights["emotion"] = np.ones(len(rows), np.float32)
        video.targets["sentiment"] = np.array([float(e in POSITIVE) for e in emotions], np.float32)
        video.weights["sentiment"] = np.full(len(rows), SENTIMENT_WEIGHT, np.float32)
        videos.append(video)
        counts[speaker] += 1
    spec = {"acoustic": acoustic.info.to_spec(), "text": text.info.to_spec()}
    provenance = {"dataset": corpus, "source": str(folder), "licence": LICENCES[corpus], "clips": len(clips)}
    return Corpus(f"speech-{corpus}", videos, spec, provenance)


def speaker_of(video: Video) -> str:
    """The speaker id of a pseudo-video (`<corpus>-<speaker>`)."""
    return video.id.rsplit("-", 1)[0]
