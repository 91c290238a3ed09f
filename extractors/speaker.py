"""Speaker embeddings: the GE2E voice encoder whose weights ship in the `resemblyzer` package.

Only the weights file is used (`resemblyzer/pretrained.pt`, Apache-2.0, checked by SHA-256); the
network and its front end are re-implemented here so resemblyzer's own runtime (webrtcvad, a C
extension) is not needed: 40 mel bands of the power spectrum at 16 kHz (25 ms windows, 10 ms hop),
a 3-layer LSTM (256 units) over 1.6 s partials, a linear layer + ReLU, L2-normalised 256-d output.
Install the weights with `pip install --no-deps resemblyzer==0.1.4`.
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mtmm_es.core.background import deferred_import
from mtmm_es.core.checks import check_number
from mtmm_es.core.errors import MtmmError
from mtmm_es.core.files import file_sha256

from . import dsp
from .base import SAMPLE_RATE, ExtractorInfo

WEIGHTS_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"  # resemblyzer 0.1.4
N_MELS = 40
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
PARTIAL_FRAMES = 160  # 1.6 s
HIDDEN = 256
LAYERS = 3
TARGET_DBFS = -30.0  # resemblyzer raises quieter audio to this level (never lowers it)


@dataclass(frozen=True)
class SpeakerEncoderConfig:
    weights: str | None = None  # a GE2E state dict like resemblyzer's pretrained.pt; default: resemblyzer's
    partial_step_s: float = 1.2  # hop between 1.6 s partials inside a speech span
    min_coverage: float = 0.75  # a last partial this much covered by speech is kept (zero-padded)
    batch: int = 128
    threads: int = 1  # torch threads for the LSTM (it runs beside other stages; on a busy CPU 1 beats 2)

    def __post_init__(self) -> None:
        check_number(self, "partial_step_s", above=0)
        check_number(self, "min_coverage", minimum=0, maximum=1)
        check_number(self, "batch", int, minimum=1)
        check_number(self, "threads", int, minimum=1)


def bundled_weights() -> Path:
    """resemblyzer's pretrained.pt, located without importing resemblyzer (which needs webrtcvad)."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise MtmmError("the speaker encoder is missing: pip install --no-deps resemblyzer==0.1.4")
    return Path(spec.submodule_search_locations[0]) / "pretrained.pt"


def mel_frames(audio: np.ndarray) -> np.ndarray:
    """[frames, 40] mel power spectrogram as resemblyzer computes it with librosa (centred STFT,
    Slaney filters; the numpy port in dsp), not logarithmic."""
    return dsp.centred_mel_spectrogram(audio, SAMPLE_RATE, N_FFT, HOP, N_MELS).astype(np.float32).T


def normalise_volume(audio: np.ndarray) -> np.ndarray:
    """Raise quiet audio to -30 dBFS as resemblyzer's preprocessing does; louder audio is unchanged."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if len(audio) else 0.0
    if rms <= 0:
        return audio
    change_db = TARGET_DBFS - 20 * np.log10(rms)
    return audio if change_db < 0 else (audio * 10 ** (change_db / 20)).astype(np.float32)


def partial_starts(n_samples: int, step_frames: int, min_coverage: float) -> list[int]:
    """First mel frame of each 1.6 s partial covering `n_samples` (resemblyzer's slicing rule)."""
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    starts = list(range(0, max(1, n_frames - PARTIAL_FRAMES + step_frames + 1), step_frames))
    coverage = (n_samples - starts[-1] * HOP) / (PARTIAL_FRAMES * HOP)
    if coverage < min_coverage and len(starts) > 1:
        starts.pop()
    return starts


class SpeakerEncoder:
    """GE2E voice encoder: audio spans in, unit-norm 256-d embeddings of 1.6 s partials out."""

    def __init__(self, config: SpeakerEncoderConfig = SpeakerEncoderConfig()):
        with deferred_import():
            import torch

        self.config = config
        self.path = Path(config.weights).expanduser() if config.weights else bundled_weights()
        if not self.path.is_file():
            raise MtmmError("speaker encoder weights not found", self.path)
        if config.weights is None and file_sha256(self.path) != WEIGHTS_SHA256:
            raise MtmmError("speaker encoder weights differ from resemblyzer 0.1.4's (checksum mismatch)", self.path)
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)["model_state"]
        except Exception as error:
            raise MtmmError(f"cannot load speaker encoder weights: {error}", self.path) from error
        self.lstm = torch.nn.LSTM(N_MELS, HIDDEN, LAYERS, batch_first=True)
        self.linear = torch.nn.Linear(HIDDEN, HIDDEN)
        try:
            self.lstm.load_state_dict({k.removeprefix("lstm."): v for k, v in state.items() if k.startswith("lstm.")})
            self.linear.load_state_dict(
                {k.removeprefix("linear."): v for k, v in state.items() if k.startswith("linear.")}
            )
        except RuntimeError as error:
            raise MtmmError(f"not a GE2E speaker encoder state dict: {error}", self.path) from error
        self.lstm.eval()
        self.linear.eval()

    @property
    def info(self) -> ExtractorInfo:
        weights = "bundled:resemblyzer/pretrained.pt" if self.config.weights is None else self.path.name
        return ExtractorInfo(
            name="ge2e-speaker-encoder",
            modality="speaker",
            version="1",
            config=asdict(self.config) | {"weights": weights},
            feature_names=tuple(f"e{i}" for i in range(HIDDEN)),
        )

    def embed_mels(self, mels: np.ndarray) -> np.ndarray:
        """[b, frames, 40] mel partials -> [b, 256] unit-norm embeddings."""
        import torch

        out, threads = [], torch.get_num_threads()
        torch.set_num_threads(self.config.threads)
        try:
            with torch.inference_mode():
                for lo in range(0, len(mels), self.config.batch):
                    batch = torch.from_numpy(np.ascontiguousarray(mels[lo : lo + self.config.batch]))
                    _, (hidden, _) = self.lstm(batch)
                    raw = torch.relu(self.linear(hidden[-1]))
                    out.append(torch.nn.functional.normalize(raw, dim=1).numpy())
        finally:
            torch.set_num_threads(threads)
        return np.concatenate(out) if out else np.zeros((0, HIDDEN), np.float32)

    def partials(
        self, audio: np.ndarray, spans: list[tuple[float, float]]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Embeddings of the 1.6 s partials of each speech span (seconds) of 16 kHz `audio`.

        Returns embeddings [k, 256], the span index of each partial [k] and its centre time [k]
        (clipped to its span). A span shorter than a partial gives one zero-padded partial.
        """
        step = max(1, int(round(self.config.partial_step_s * SAMPLE_RATE / HOP)))
        mels, owners, centres = [], [], []
        for index, (start, end) in enumerate(spans):
            lo, hi = int(start * SAMPLE_RATE), max(int(start * SAMPLE_RATE) + 1, int(end * SAMPLE_RATE))
            wav = normalise_volume(np.asarray(audio[lo:hi], dtype=np.float32))
            starts = partial_starts(len(wav), step, self.config.min_coverage)
            needed = (starts[-1] + PARTIAL_FRAMES) * HOP
            wav = np.pad(wav, (0, max(0, needed - len(wav))))
            mel = mel_frames(wav)
            for first in starts:
                mels.append(mel[first : first + PARTIAL_FRAMES])
                owners.append(index)
                centres.append(min(end, start + (first + PARTIAL_FRAMES / 2) * HOP / SAMPLE_RATE))
        embeddings = self.embed_mels(np.stack(mels)) if mels else np.zeros((0, HIDDEN), np.float32)
        return embeddings, np.asarray(owners, int), np.asarray(centres, float)
