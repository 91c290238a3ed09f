"""Orchestration: media -> words -> utterances -> per-modality features, overlapped and cached."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from mtmm_es.core.errors import MtmmError, printable
from mtmm_es.core.files import file_sha256, path_state
from mtmm_es.core.signals import signals_held
from mtmm_es.core.version import own_version
from mtmm_es.extractors.acoustic import make_acoustic_extractor
from mtmm_es.extractors.asr import asr_info, check_model
from mtmm_es.extractors.base import (
    SAMPLE_RATE,
    ExtractorInfo,
    FeatureExtractor,
    MediaInfo,
    ModalityFeatures,
    Utterance,
)
from mtmm_es.extractors.language import Recognition, SpeechRecogniser, annotate, moved_spans, trust_runs
from mtmm_es.extractors.level import active_level_db
from mtmm_es.extractors.speaker import bundled_weights
from mtmm_es.extractors.text import GloveTextExtractor
from mtmm_es.extractors.vad import fit_windows, snap_words, speech_regions
from mtmm_es.extractors.visual import FaceExpressionExtractor

from .cache import Cache, CacheMemo, cache_key
from .config import ExtractionConfig
from .diarize import Diarizer
from .media import DECODING, Media, media_path
from .segmentation import Segment, join_words, read_segments, renumber, segment_runs

FORMAT = "mtmm-es/features"
FORMAT_VERSION = 1
QUIET_DB = -56.0  # speech level (dBFS) under which the voice's labels are flagged
T = TypeVar("T")


@dataclass
class Extraction:
    """Everything extracted from one media file: utterances and aligned per-modality features."""

    source: str
    sha256: str
    media: MediaInfo
    utterances: list[Utterance]
    features: dict[str, ModalityFeatures]
    asr: ExtractorInfo | None
    segmentation: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    diarization: dict[str, Any] | None = None  # how speakers were found; None when diarization is off
    language: dict[str, Any] | None = None  # Recognition.info(): code, probability, identified, task, model

    def spec(self) -> dict[str, Any]:
        """The feature spec (spec.json): what a trained model must see again, plus provenance."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "modalities": {name: f.info.to_spec() for name, f in self.features.items()},
            "asr": self.asr.to_spec() | {"language": self.language} if self.asr else None,
            "segmentation": self.segmentation,
            "diarization": self.diarization,
            "media": asdict(self.media) | {"sample_rate": SAMPLE_RATE},
            "source": {"path": self.source, "sha256": self.sha256},
            "extracted_with": {"mtmm-es": own_version()},
        }


def make_extractor(modality: str, config: ExtractionConfig) -> FeatureExtractor:
    if modality == "text":
        return GloveTextExtractor(config.text)
    if modality == "acoustic":
        return make_acoustic_extractor(config.acoustic)
    return FaceExpressionExtractor(config.visual)


def _timed(timings: dict[str, float], stage: str, work: Callable[[], T]) -> T:
    start = time.perf_counter()
    try:
        return work()
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start


def _level_warnings(audio: np.ndarray) -> list[str]:
    """Speech far quieter than any recording the voice model learnt from (their speech lies between
    about -50 and -20 dBFS): what the voice says of it is less reliable."""
    level = active_level_db(audio)
    if level is None or level >= QUIET_DB:
        return []
    return [
        f"very quiet speech ({level:.0f} dBFS; the voice model learnt from -50 to -20 dBFS): labels read from the voice are less reliable"
    ]


def _decoding_warnings(decoded: float | None, info: MediaInfo) -> list[str]:
    """Notice a damaged file: the decodable audio (seconds, from the media's start) ends more than
    0.5 s and 2 % before the audio stream says it does, or 10 % before the container's length when
    the stream states none (an estimate; an audio track meant to be shorter than the video is not
    damage)."""
    stated = info.audio_duration > 0
    expected = info.audio_start + info.audio_duration if stated else info.duration
    if decoded is None or expected <= 0 or decoded >= (0.98 if stated else 0.9) * expected - 0.5:
        return []
    return [f"truncated or damaged: decoded {decoded:.1f} s of audio of {expected:.1f} s"]


def _segment_warnings(segments: Sequence[Segment] | None, info: MediaInfo, source: str | Path) -> list[str]:
    """Refuse a segment that starts after the media ends (it would get labels from no features);
    warn about one that runs past the end, and about segments that overlap (their utterances share
    speech, so one stretch of voice and words is labelled twice)."""
    if not segments:
        return []
    overlapping, latest_end = [], float("-inf")
    for segment in sorted(segments, key=lambda s: s.start):
        if segment.start < latest_end:
            overlapping.append(segment)
        latest_end = max(latest_end, segment.end)
    warnings = []
    if overlapping:
        first, count = overlapping[0], len(overlapping)
        warnings.append(
            f"{count} segment{'s' if count > 1 else ''} overlap an earlier one (first {first.start:.2f}-"
            f"{first.end:.2f} s): their utterances share speech"
        )
    if info.duration <= 0:
        return warnings
    for number, segment in enumerate(segments, start=1):
        if segment.start >= info.duration:
            raise MtmmError(
                f"segment {number} ({segment.start:.2f}-{segment.end:.2f} s) starts after the media ends "
                f"({info.duration:.2f} s): is this the segments file of another recording?",
                source,
            )
        if segment.end > info.duration + 0.5:
            warnings.append(
                f"segment {number} ends at {segment.end:.2f} s, after the media's end ({info.duration:.2f} s): its utterance ends there"
            )
    return warnings


def _speakers_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A cached diarization, checked: utterances that read back, and a summary with a speaker count."""
    for utterance in entry["utterances"]:
        Utterance.from_dict(utterance)
    if not isinstance(entry["summary"]["speakers"], int):
        raise TypeError("the summary has no speaker count")
    return entry


def _features_entry(arrays: dict[str, np.ndarray], info: ExtractorInfo) -> ModalityFeatures:
    """Cached features, checked: values against the mask and the extractor (ModalityFeatures), and
    one value per utterance in every extra."""
    extras = {k.removeprefix("extra_"): v for k, v in arrays.items() if k.startswith("extra_")}
    if info.modality == "visual" and "faces_in_view" not in extras:
        raise ValueError("cached before the faces in view were recorded")
    features = ModalityFeatures(info, arrays["values"], arrays["mask"], extras)
    if any(len(v) != len(features.mask) for v in extras.values()):
        raise ValueError("extras do not have one value per utterance")
    return features


def _face_warnings(media: Media, features: dict[str, ModalityFeatures], utterances: Sequence[Utterance]) -> list[str]:
    """Say so when a video has no usable face at all: none in view (black or faceless frames), or
    faces in view of which none speaks (a voice-over)."""
    visual = features.get("visual")
    if visual is None or not media.info.has_video or not utterances or visual.mask.any():
        return []
    if any(visual.extras.get("faces_in_view", ())):
        return ["faces are in view but none speaks (a voice-over?): the visual modality is masked for every utterance"]
    return ["no face found in the video: the visual modality is masked for every utterance"]


def _given_language_warnings(warnings: list[str], language: str) -> list[str]:
    """Where speech lost its words while the language was set (not identified), speech in another
    language is a likely cause: say so once."""
    lost = any("speech without recognised words" in w or w.startswith("text of ") for w in warnings)
    if language == "auto" or not lost:
        return []
    return [
        f"the language was set to '{language}': speech in another gets no usable words (--language auto identifies it)"
    ]


def _voice_only_warnings(utterances: Sequence[Utterance], features: dict[str, ModalityFeatures]) -> list[str]:
    """Say how many stretches of speech held no recognised word: utterances without text, whose
    voice was heard where acoustic features were extracted (a --segments window over silence has none)."""
    acoustic = features.get("acoustic")
    heard = acoustic.mask if acoustic is not None else [True] * len(utterances)
    count = sum(1 for u, voice in zip(utterances, heard) if voice and not u.words and not u.text)
    return [f"{count} stretch(es) of speech without recognised words: no text for them"] if count else []


def check_given_files(config: ExtractionConfig) -> None:
    """What FeaturePipeline checks of the user's --segments file and --asr-model as it starts,
    without loading anything: a folder run refuses them once, before any work, as a single file's does."""
    if config.segments:
        read_segments(config.segments)
    check_model(config.asr)


class FeaturePipeline:
    """Extracts utterances and features from media files; models load once and are reused."""

    def __init__(self, config: ExtractionConfig | None = None):
        self.config = config or ExtractionConfig()
        self.cache = Cache(self.config.cache_dir, self.config.cache)
        self.extractors = {m: make_extractor(m, self.config) for m in self.config.modalities}
        self._segments_state = path_state(self.config.segments) if self.config.segments else None  # before reading
        self.segments: list[Segment] | None = read_segments(self.config.segments) if self.config.segments else None
        self.recogniser = SpeechRecogniser(self.config.asr)
        self.diarizer = Diarizer(self.config.diarization) if self.config.diarization.enabled else None

    def _asr_spec(self) -> dict[str, Any]:
        """Identity of the recogniser without loading it (for cache keys): its options, the version of
        how words are made from Whisper's pieces and, for a model the user gave by path, the state of
        its files (a replaced model recognises anew)."""
        spec = asdict(self.config.asr) | {"version": asr_info(self.config.asr).version}
        return spec | {"model_files": path_state(self.config.asr.model)} if self.config.asr.model else spec

    def _config_segments(self) -> list[Segment] | None:
        """The config's segments file as it is now: read again when it changed since it was read (a
        pipeline reused after the user edited the file)."""
        if self.config.segments and path_state(self.config.segments) != self._segments_state:
            self._segments_state = path_state(self.config.segments)  # an edit while it is read is seen next time
            self.segments = read_segments(self.config.segments)
        return self.segments

    def segmentation_spec(self, segments: Sequence[Segment] | None) -> dict[str, Any]:
        if segments is None:
            return {"method": "pauses", **asdict(self.config.segmentation)}
        source = printable(self.config.segments) if segments is self.segments else "given"  # as given, like the media
        return {"method": "segments", "source": source, "count": len(segments)}

    def extract(self, path: str | Path, segments: Sequence[Segment] | None = None) -> Extraction:
        """Utterances and aligned features of one media file (cached by content + config).

        segments: utterance windows for this file (overriding the config's segments file); None
        splits the recognised words at pauses (or uses the config's segments file).
        """
        path = media_path(path)
        segments = self._config_segments() if segments is None else list(segments)
        timings: dict[str, float] = {}
        started = time.perf_counter()
        config = self.config
        with Media(
            path, config.ffmpeg, audio_stream=config.audio_stream, time_limit_s=config.stage_time_limit_s
        ) as media:
            warnings = _segment_warnings(segments, media.info, config.segments or "segments")
            if media.info.audio_streams > 1 and config.audio_stream is None:
                _timed(timings, "decode", media.audio)  # choose the stream with sound before any cache key
            sha = _timed(timings, "hash", lambda: file_sha256(path))
            source = f"{sha}:decoding{DECODING}"  # what every cached stage was computed from
            if media.info.audio_streams > 1:
                source += f":audio{media.info.audio_stream}"
            asr = self._asr_spec()
            utterance_key = cache_key(
                sha=source,
                stage="words",
                asr=asr,
                segments=[asdict(s) for s in segments or ()],
                vad=asdict(config.segmentation.vad),  # its speech regions: where the language may change
            )
            recognition = cached = self.cache.get_json(utterance_key, Recognition.from_json)
            utterances = None
            if recognition is not None:
                utterances, recognition = self._utterances(media, source, recognition, segments)
            diarization = None
            features: dict[str, ModalityFeatures] = {}
            if utterances is not None:
                utterances, diarization = self._diarize(
                    media, source, utterances, recognition, segments is None, warnings, timings
                )
                features = self._cached_features(source, utterances)
            needs_words = segments is None or any(s.text is None for s in segments)
            if utterances is None and needs_words and media.info.has_audio:
                self.recogniser.prefetch()  # speech models load while the audio decodes
            pending = [m for m in self.extractors if m not in features]
            with ThreadPoolExecutor(max_workers=max(1, len(pending))) as pool:
                try:
                    with signals_held():  # a signal inside submit would leave a started thread unjoined
                        analyses = {
                            m: pool.submit(_timed, timings, m, lambda m=m: self.extractors[m].analyze(media))
                            for m in pending
                        }
                    if utterances is None:
                        memo = CacheMemo(self.cache, sha=source, stage="asr-chunk", asr=asr)
                        recognition = self._recognise(media, source, segments, warnings, memo, timings)
                        if self.cache.put_json(utterance_key, recognition.to_json()):
                            memo.forget()  # the chunks are in the whole recognition's entry now
                        utterances, recognition = self._utterances(media, source, recognition, segments, timings)
                        utterances, diarization = self._diarize(
                            media, source, utterances, recognition, segments is None, warnings, timings
                        )
                    for m in pending:
                        analysis = analyses[m].result()
                        features[m] = _timed(
                            timings, "pool", lambda m=m, a=analysis: self.extractors[m].pool(a, media, utterances)
                        )
                        if not (m == "visual" and media.frames_cut_short):  # cut short: this run's only
                            self._store_features(source, utterances, features[m])
                except BaseException:  # an error or a signal: do not wait for the other stages to finish
                    media.cancel()
                    raise
            media_warnings, decoded_seconds = self._decoding(media, source)
            warnings += [
                *recognition.warnings,
                *_voice_only_warnings(utterances, features),
                *media_warnings,
                *_face_warnings(media, features, utterances),
            ]
        if not utterances:
            warnings.append("no speech found: 0 utterances" if media.info.has_audio else "no audio stream: no speech")
        warnings += _given_language_warnings(warnings, config.asr.language)
        timings["total"] = time.perf_counter() - started
        info = media.info
        if info.duration <= 0 and decoded_seconds:  # a streamed file (WebM, MKV) states no length
            info = replace(info, duration=decoded_seconds)
        return Extraction(
            source=str(path),
            sha256=sha,
            media=info,
            utterances=utterances,
            features={m: features[m] for m in self.config.modalities},
            asr=asr_info(self.config.asr) if recognition.model or cached is not None else None,
            segmentation=self.segmentation_spec(segments),
            timings=timings,
            warnings=warnings,
            diarization=diarization,
            language=recognition.info() if recognition.language else None,
        )

    def _decoding(self, media: Media, source: str) -> tuple[list[str], float | None]:
        """What decoding the media found (its warnings) and how many seconds of audio the file
        decodes to; both are remembered, since a run served from the cache never decodes it (and
        must still say the file is damaged, or its channels cancel)."""
        # 3: with the audio's warnings and level; chosen: a stream the user gave draws no "choose another"
        key = cache_key(sha=source, stage="decoded", version=3, chosen=self.config.audio_stream)
        decoded = None
        if media.decoded_audio is None:
            decoded = self.cache.get_json(key, lambda entry: (float(entry["seconds"]), list(entry["warnings"])))
        if decoded is None and media.info.has_audio and (media.decoded_audio is not None or self.cache.enabled):
            # decoded now, or a cached run whose entry is missing: decode it
            audio = media.audio()
            decoded = len(audio) / SAMPLE_RATE, [*media.audio_warnings, *_level_warnings(audio)]
            self.cache.put_json(key, {"seconds": decoded[0], "warnings": decoded[1]})
        seconds, audio_warnings = decoded or (None, [])
        return [*audio_warnings, *media.video_warnings, *_decoding_warnings(seconds, media.info)], seconds

    def _diarize(
        self,
        media: Media,
        sha: str,
        utterances: list[Utterance],
        recognition: Recognition,
        split: bool,
        warnings: list[str],
        timings: dict[str, float],
    ) -> tuple[list[Utterance], dict[str, Any] | None]:
        """Speaker-labelled utterances (cached) and the diarization record. split: cut utterances
        where the speaker changes (not for user-given windows, which labels may be attached to); the
        pieces of a split utterance get their own original-language text and text issue again."""
        if self.diarizer is None or not utterances:
            return utterances, None
        try:
            weights = self.config.diarization.encoder.weights or bundled_weights()
        except MtmmError as error:
            warnings.append(f"no speaker labels: {error}")
            return utterances, None
        key = cache_key(
            sha=sha,
            stage="speakers",
            diarization=self.diarizer.spec(),
            weights=path_state(weights),  # a replaced weights file: new labels
            split=split,
            windows=[u.to_dict() for u in utterances],
        )
        cached = self.cache.get_json(key, _speakers_entry)
        if cached is None:
            result = _timed(timings, "speakers", lambda: self.diarizer.run(media.audio(), utterances, split))
            cached = {"utterances": [u.to_dict() for u in result.utterances], "summary": result.summary()}
            self.cache.put_json(key, cached)
        record = {"method": "ge2e-ahc", "requested": self.config.diarization.speakers, **cached["summary"]}
        if record["requested"] and record["speakers"] < record["requested"]:
            warnings.append(
                f"{record['requested']} speakers asked for, {record['speakers']} labelled: "
                "the speech has too few pieces to tell more apart"
            )
        if record["requested"] and (record["similarity"] or 0.0) >= self.config.diarization.same_speaker:
            warnings.append(
                f"{record['requested']} speakers asked for: two of them sound alike (similarity "
                f"{record['similarity']:.2f}, one voice from {self.config.diarization.same_speaker:.2f}): they "
                "may be one voice whose sentences were split between them, or two voices of the same sex"
            )
        utterances = [Utterance.from_dict(u) for u in cached["utterances"]]
        return (annotate(utterances, recognition) if cached["summary"].get("splits") else utterances), record

    def _recognise(
        self,
        media: Media,
        source: str,
        segments: Sequence[Segment] | None,
        warnings: list[str],
        memo: CacheMemo,
        timings: dict[str, float],
    ) -> Recognition:
        """Words for pause segmentation (a long recording's chunks kept in `memo` as they are
        recognised; where VAD hears speech tells where the language may change), or one word list
        per user segment lacking text."""
        audio = _timed(timings, "decode", media.audio)
        if segments is None:
            asr = self.config.asr
            speech = self._speech(media, source, timings) if asr.vad and asr.language == "auto" else None
            return _timed(timings, "asr", lambda: self.recogniser.recognise(audio, memo=memo, speech=speech))
        if audio is None and any(s.text is None for s in segments):
            warnings.append("no audio stream: segments without text stay empty")
        spans = [None if s.text is not None else (s.start, s.end) for s in segments]
        return _timed(timings, "asr", lambda: self.recogniser.recognise(audio, spans))

    def _speech(self, media: Media, source: str, timings: dict[str, float] | None) -> list[tuple[float, float]]:
        """Where Silero VAD hears speech (cached)."""
        key = cache_key(sha=source, stage="speech", vad=asdict(self.config.segmentation.vad))
        regions = self.cache.get_json(key, lambda entry: [(float(s), float(e)) for s, e in entry])
        if regions is None:
            audio = media.audio()
            regions = (
                []
                if audio is None
                else _timed(timings or {}, "vad", lambda: speech_regions(audio, self.config.segmentation.vad))
            )
            self.cache.put_json(key, [list(r) for r in regions])
        return regions

    def _utterances(
        self,
        media: Media,
        source: str,
        recognition: Recognition,
        segments: Sequence[Segment] | None,
        timings: dict[str, float] | None = None,
    ) -> tuple[list[Utterance], Recognition]:
        """The utterances of the recognised words (or the user's segments); pause-split ones fitted to
        the speech Silero VAD hears (its regions cached), their words first moved into it
        (`snap_words`). Returns them with the recognition their words and untrusted spans are now
        from (the moved words)."""
        config = self.config.segmentation
        if segments is not None or not config.fit_to_speech or not self.config.asr.vad or not media.info.has_audio:
            return self._utterances_from(recognition, segments), recognition
        speech = self._speech(media, source, timings)
        words = recognition.words[0]
        runs = trust_runs(words, recognition.untrusted, config.min_duration_s)  # told by Whisper's own times
        if config.snap_words:
            placed = snap_words(words, speech)
            moved = moved_spans(words, placed, recognition.untrusted, [k for run in runs for k in run])
            recognition = replace(recognition, words=(tuple(placed),), untrusted=moved)
        utterances = self._utterances_from(recognition, segments, runs)
        duration = max([media.info.duration, *(end for _, end in speech)])
        fitted = fit_windows(utterances, speech, duration, config.speech_pad_s, config.voice_only_min_s)
        return renumber(fitted), recognition

    def _utterances_from(
        self, recognition: Recognition, segments: Sequence[Segment] | None, runs: list[list[int]] | None = None
    ) -> list[Utterance]:
        """runs: the recognised words' trust runs (`trust_runs`; found here when not given)."""
        if segments is None:
            words, config = recognition.words[0], self.config.segmentation
            runs = trust_runs(words, recognition.untrusted, config.min_duration_s) if runs is None else runs
            return annotate(segment_runs([[words[k] for k in run] for run in runs], config), recognition)
        utterances = []
        for index, (segment, words) in enumerate(zip(segments, recognition.words)):
            text = segment.text if segment.text is not None else join_words(words)
            utterances.append(Utterance(index, segment.start, segment.end, text, words))
        return annotate(utterances, recognition)

    def _feature_key(self, sha: str, utterances: Sequence[Utterance], info: ExtractorInfo) -> str:
        """The key of one modality's features: the extractor's spec and, for a model or vectors file
        the user gave, that file's state (the spec names it only, so a replaced file extracts anew)."""
        windows = [(u.start, u.end, u.text) + ((u.text_issue,) if u.text_issue else ()) for u in utterances]
        spec = info.to_spec()
        given = {"text": self.config.text.vectors, "visual": self.config.visual.model}.get(info.modality)
        if given:
            spec["files"] = path_state(given)
        return cache_key(sha=sha, stage=info.modality, extractor=spec, windows=windows)

    def _cached_features(self, sha: str, utterances: Sequence[Utterance]) -> dict[str, ModalityFeatures]:
        found = {}
        for modality, extractor in self.extractors.items():
            info = extractor.info
            features = self.cache.get_arrays(
                self._feature_key(sha, utterances, info), lambda arrays, info=info: _features_entry(arrays, info)
            )
            if features is not None and len(features.mask) == len(utterances):
                found[modality] = features
        return found

    def _store_features(self, sha: str, utterances: Sequence[Utterance], features: ModalityFeatures) -> None:
        key = self._feature_key(sha, utterances, features.info)
        extras = {f"extra_{k}": v for k, v in features.extras.items()}
        self.cache.put_arrays(key, {"values": features.values, "mask": features.mask, **extras})
