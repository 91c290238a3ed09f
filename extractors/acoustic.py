"""Acoustic features: COVAREP-like descriptors (librosa's routines, see dsp), eGeMAPS functionals with
openSMILE, the Whisper encoder's states (whisper_encoder), or several of them side by side.

`covarep` computes frame-level descriptors (10 ms hop) from COVAREP's families over the whole
audio, in blocks so memory stays bounded, then pools mean and std per utterance. Descriptors only
defined for voiced speech (F0, HNR, H1-H2, jitter, shimmer) are NaN elsewhere and pooled over the
voiced frames alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from importlib import metadata
from typing import Any

import numpy as np

from mtmm_es.core.background import deferred_import, in_background
from mtmm_es.core.errors import MtmmError
from mtmm_es.core.signals import signals_held

from . import dsp
from .base import (
    SAMPLE_RATE,
    ExtractorInfo,
    FeatureExtractor,
    FrameTrack,
    MediaSource,
    ModalityFeatures,
    Utterance,
    pool_track,
    pooled_names,
)
from .level import LevelledMedia, gain_to
from .whisper_encoder import WhisperEncoderExtractor

HOP = 160  # 10 ms, as COVAREP
FRAME = 1024  # 64 ms analysis frame: two periods of the lowest F0
WINDOW = 640  # 40 ms spectral window (resolves the first two harmonics of low voices)
BLOCK_FRAMES = 3000  # 30 s of frames per block
N_MFCC = 24  # stands in for COVAREP's MCEPs
SILENCE_DB = -80.0

DESCRIPTORS = (
    "f0_hz",
    "voiced",
    "hnr_db",
    "h1_h2_db",
    "jitter",
    "shimmer",
    "rms_db",
    "loudness_db",
    "spectral_tilt_db_per_khz",
    "peak_slope_db_per_octave",
    "zcr",
    "spectral_centroid_hz",
    "spectral_flux",
    *(f"mfcc_{i}" for i in range(N_MFCC)),
)
PITCH_TRACKERS = ("yin", "pyin")
PART_NAMES = ("covarep", "egemaps", "whisper")  # PARTS' keys; an extractor is one, or several joined by "+"
OCTAVE_EDGES_HZ = (177, 354, 707, 1414, 2828, 5657)  # bands centred on 250 .. 4000 Hz


def _known(name: str) -> bool:
    return all(part in PART_NAMES for part in name.split("+"))


@dataclass(frozen=True)
class AcousticConfig:
    extractor: str = "covarep"  # or "egemaps", "whisper", or parts side by side (EXTRACTORS)
    pitch: str = "yin"  # or "pyin": probabilistic YIN, about 25x slower here
    fmin: float = 60.0
    fmax: float = 400.0
    voicing_threshold: float = 0.5  # normalised autocorrelation at the pitch period
    min_voiced_db: float = -55.0
    level_db: float | None = None  # each file's speech brought to this level first (level.py); None: as recorded

    def __post_init__(self) -> None:
        if not isinstance(self.extractor, str) or not _known(self.extractor):
            raise MtmmError(
                f"unknown acoustic extractor {self.extractor!r} (choose {', '.join(PART_NAMES)} or several joined by +)"
            )
        if self.pitch not in PITCH_TRACKERS:
            raise MtmmError(f"pitch must be one of {', '.join(PITCH_TRACKERS)}, not {self.pitch!r}")
        for name in ("fmin", "fmax", "voicing_threshold", "min_voiced_db", "level_db"):
            value = getattr(self, name)
            if (value is not None or name != "level_db") and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            ):
                raise MtmmError(f"{name} must be a number, not {value!r}")
        if not 0 < self.fmin < self.fmax:
            raise MtmmError(
                f"the pitch range must run upwards from above 0 Hz, not fmin {self.fmin} to fmax {self.fmax}"
            )

    @classmethod
    def from_spec(cls, spec: dict[str, Any], user: AcousticConfig) -> AcousticConfig:
        """The configuration a checkpoint's acoustic spec was extracted with (`user` is not needed:
        every acoustic setting shapes the features)."""
        names = {"covarep-librosa": "covarep", "egemaps-opensmile": "egemaps", "whisper-encoder": "whisper"}
        if "+" in str(spec.get("extractor")) and _known(spec["extractor"]):
            names[spec["extractor"]] = spec["extractor"]
        if spec.get("extractor") not in names:
            raise MtmmError(
                f"the checkpoint's acoustic features come from {spec.get('extractor')!r}, which this pipeline cannot compute from media"
            )
        config = spec.get("config", {})
        known = {k: config[k] for k in cls.__dataclass_fields__ if k in config and k != "extractor"}
        return cls(**known, extractor=names[spec["extractor"]])


def recorded(config: AcousticConfig) -> dict[str, Any]:
    """The settings as configs and specs record them: an unset level is left out, so what was
    recorded before the setting existed (checkpoints, caches, batch runs) still matches."""
    return {k: v for k, v in asdict(config).items() if not (k == "level_db" and v is None)}


def _frames(y: np.ndarray, length: int) -> np.ndarray:
    """[K, length] frames at HOP, no centring (frame k starts at sample k*HOP)."""
    return dsp.frame(y, length, HOP)


def _periodicity(frames: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation of each frame at its own lag (Boersma's HNR basis)."""
    n = frames.shape[1]
    index = np.arange(n)[None, :]
    shifted = np.take_along_axis(frames, np.minimum(index + lags[:, None], n - 1), axis=1)
    valid = index < (n - lags[:, None])
    head = np.where(valid, frames, 0.0)
    tail = np.where(valid, shifted, 0.0)
    denominator = np.sqrt((head**2).sum(1) * (tail**2).sum(1)) + 1e-12
    return (head * tail).sum(1) / denominator


def _slope(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares slope of each row of y [K, n] against x [n]."""
    xc = x - x.mean()
    return ((y - y.mean(1, keepdims=True)) * xc).sum(1) / (xc**2).sum()


def _harmonic_db(db: np.ndarray, freqs: np.ndarray, target_hz: np.ndarray) -> np.ndarray:
    """Peak dB within one bin of each frame's target frequency."""
    step = freqs[1] - freqs[0]
    centre = np.clip(np.round(np.nan_to_num(target_hz) / step).astype(int), 1, len(freqs) - 2)
    rows = np.arange(len(db))
    return np.max(np.stack([db[rows, centre - 1], db[rows, centre], db[rows, centre + 1]]), axis=0)


def _neighbour_change(x: np.ndarray, defined: np.ndarray) -> np.ndarray:
    """|x_k - x_(k-1)| / mean(x_k, x_(k-1)) where both frames are defined, else NaN."""
    out = np.full(len(x), np.nan)
    both = defined[1:] & defined[:-1]
    pair_mean = (x[1:] + x[:-1]) / 2
    out[1:][both] = np.abs(x[1:] - x[:-1])[both] / np.maximum(pair_mean[both], 1e-12)
    return out


def _pitch(y: np.ndarray, config: AcousticConfig) -> np.ndarray:
    """F0 (Hz) per frame; pyin's unvoiced frames get its best guess so periodicity can judge them."""
    options = {
        "fmin": config.fmin,
        "fmax": config.fmax,
        "sr": SAMPLE_RATE,
        "frame_length": FRAME,
        "hop_length": HOP,
    }
    if config.pitch == "yin":
        return dsp.yin(y, **options)
    with deferred_import():
        import librosa  # seconds of imports: only for this slower option

    f0, _, _ = librosa.pyin(y, fill_na=None, center=False, **options)
    return f0


def frame_descriptors(y: np.ndarray, config: AcousticConfig) -> np.ndarray:
    """Descriptors [K, len(DESCRIPTORS)] for the K full frames of `y` (16 kHz mono)."""
    frames = _frames(y, FRAME)
    centre = frames[:, (FRAME - WINDOW) // 2 : (FRAME + WINDOW) // 2]
    rms = np.sqrt((centre**2).mean(1))
    rms_db = 20 * np.log10(rms + 1e-10)

    f0 = _pitch(y, config)[: len(frames)]
    periodicity = _periodicity(frames, np.round(SAMPLE_RATE / f0).astype(int))
    voiced = (periodicity >= config.voicing_threshold) & (rms_db >= config.min_voiced_db)
    r = np.clip(periodicity, 1e-4, 1 - 1e-4)
    hnr = np.where(voiced, 10 * np.log10(r / (1 - r)), np.nan)

    window = np.zeros(FRAME)
    window[(FRAME - WINDOW) // 2 : (FRAME + WINDOW) // 2] = np.hanning(WINDOW)
    magnitude = np.abs(np.fft.rfft(frames * window, axis=1))
    power = magnitude**2
    freqs = np.fft.rfftfreq(FRAME, 1 / SAMPLE_RATE)
    db = 10 * np.log10(power + 1e-12)

    f0_voiced = np.where(voiced, f0, np.nan)
    h1_h2 = np.where(voiced, _harmonic_db(db, freqs, f0_voiced) - _harmonic_db(db, freqs, 2 * f0_voiced), np.nan)
    periods = np.where(voiced, 1.0 / f0, 0.0)
    jitter = _neighbour_change(periods, voiced)
    shimmer = _neighbour_change(np.abs(centre).max(1), voiced)

    with np.errstate(divide="ignore"):  # A-weighting is -inf dB at 0 Hz
        a_weight = 10.0 ** (0.1 * dsp.a_weighting_db(freqs))
    loudness_db = 10 * np.log10((power * a_weight).mean(1) + 1e-12)
    band = (freqs >= 50) & (freqs <= 5000)
    tilt = _slope(freqs[band] / 1000.0, db[:, band])
    band_peaks = np.stack(
        [db[:, (freqs >= lo) & (freqs < hi)].max(1) for lo, hi in zip(OCTAVE_EDGES_HZ[:-1], OCTAVE_EDGES_HZ[1:])], 1
    )
    peak_slope = _slope(np.arange(band_peaks.shape[1], dtype=float), band_peaks)
    zcr = (np.diff(np.signbit(centre), axis=1)).mean(1)
    total = magnitude.sum(1) + 1e-12
    centroid = (magnitude * freqs).sum(1) / total
    normalised = magnitude / total[:, None]
    flux = np.r_[np.nan, np.sqrt((np.diff(normalised, axis=0) ** 2).sum(1))]
    mfcc = dsp.mfcc(dsp.power_to_db(dsp.mel_power(power.T, SAMPLE_RATE, 40)), N_MFCC).T

    columns = [f0_voiced, voiced.astype(float), hnr, h1_h2, jitter, shimmer, rms_db, loudness_db, tilt, peak_slope]
    columns += [zcr, centroid, flux]
    return np.column_stack([*columns, mfcc]).astype(np.float32)


class CovarepExtractor(FeatureExtractor):
    """COVAREP-like frame descriptors (librosa) pooled per utterance: 37 x (mean, std) + sound fraction."""

    modality = "acoustic"

    def __init__(self, config: AcousticConfig | None = None):
        self.config = config or AcousticConfig()

    @property
    def info(self) -> ExtractorInfo:
        return ExtractorInfo(
            name="covarep-librosa",
            modality="acoustic",
            version="1",
            config=recorded(replace(self.config, level_db=None)),  # LevelledExtractor records a level
            feature_names=pooled_names(DESCRIPTORS, "sound_fraction"),
            libraries={"librosa": metadata.version("librosa")},
        )

    def analyze(self, media: MediaSource) -> FrameTrack:
        audio = media.audio()
        if audio is None or len(audio) < FRAME:
            return FrameTrack.empty(len(DESCRIPTORS))
        n_frames = 1 + (len(audio) - FRAME) // HOP
        values = None  # filled block by block: the whole track is held once, not twice
        for k0 in range(0, n_frames, BLOCK_FRAMES):
            first = max(k0 - 1, 0)  # one frame of context for frame-to-frame descriptors
            k1 = min(k0 + BLOCK_FRAMES, n_frames)
            y = np.asarray(audio[first * HOP : (k1 - 1) * HOP + FRAME], dtype=np.float32)
            block = frame_descriptors(y, self.config)[k0 - first :]
            if values is None:
                values = np.empty((n_frames, block.shape[1]), block.dtype)
            values[k0:k1] = block
        times = (np.arange(n_frames) * HOP + FRAME / 2) / SAMPLE_RATE
        return FrameTrack(times, values, values[:, DESCRIPTORS.index("rms_db")] > SILENCE_DB)

    def pool(self, analysis: FrameTrack, media: MediaSource, utterances: Sequence[Utterance]) -> ModalityFeatures:
        values, mask = pool_track(analysis, utterances)
        return ModalityFeatures(self.info, values, mask)


def _load_smile() -> Any:
    with deferred_import():
        import opensmile

    return opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals
    )


class EgemapsExtractor(FeatureExtractor):
    """The 88 eGeMAPS v02 functionals (openSMILE) over each utterance's audio."""

    modality = "acoustic"
    min_duration_s = 0.1

    def __init__(self, config: AcousticConfig = AcousticConfig(extractor="egemaps")):
        self.config = config
        self._loading = in_background(_load_smile, thread_name="mtmm-opensmile")  # about 0.8 s (openSMILE, pandas)

    @property
    def _smile(self) -> Any:
        return self._loading.result()

    @property
    def info(self) -> ExtractorInfo:
        return ExtractorInfo(
            name="egemaps-opensmile",
            modality="acoustic",
            version="1",
            config={"feature_set": "eGeMAPSv02", "level": "functionals"},
            feature_names=tuple(self._smile.feature_names),
            libraries={"opensmile": metadata.version("opensmile")},
        )

    def pool(self, analysis: Any, media: MediaSource, utterances: Sequence[Utterance]) -> ModalityFeatures:
        audio = media.audio()
        if audio is None:
            return ModalityFeatures.empty(self.info, len(utterances))
        values = np.zeros((len(utterances), self.info.dim), np.float32)
        mask = np.zeros(len(utterances), bool)
        for row, utterance in enumerate(utterances):
            segment = np.asarray(audio[int(utterance.start * SAMPLE_RATE) : int(utterance.end * SAMPLE_RATE)])
            if len(segment) < self.min_duration_s * SAMPLE_RATE or not np.any(segment):
                continue
            with signals_held():  # a signal's handler raising inside openSMILE's callbacks would be lost
                frame = self._smile.process_signal(segment, SAMPLE_RATE)
            row_values = frame.to_numpy(dtype=np.float32)[0]
            if not np.isfinite(row_values).any():  # openSMILE gave NaN throughout ("segment too short")
                continue
            values[row] = np.nan_to_num(row_values)
            mask[row] = True
        return ModalityFeatures(self.info, values, mask)


class CombinedExtractor(FeatureExtractor):
    """Several extractors' features side by side, named by their parts joined with "+"
    ("covarep+egemaps": 75 + 88 features; "covarep+egemaps+whisper": and the 384 Whisper encoder
    means): across corpora, speaker-normalised, they carry more together than any alone
    (MODEL_CARD.md). Beyond v3's pair, the spec records each part's identity."""

    modality = "acoustic"

    def __init__(self, config: AcousticConfig = AcousticConfig(extractor="covarep+egemaps")):
        self.config = config
        self.parts = [PARTS[name](replace(config, extractor=name)) for name in config.extractor.split("+")]

    @property
    def info(self) -> ExtractorInfo:
        infos = [part.info for part in self.parts]
        config = recorded(replace(self.config, level_db=None))
        if self.config.extractor != "covarep+egemaps":  # v3's spec stays as it was shipped
            config["parts"] = {info.name: {"version": info.version, "config": info.config} for info in infos}
        return ExtractorInfo(
            name=self.config.extractor,
            modality="acoustic",
            version="1",
            config=config,
            feature_names=tuple(name for info in infos for name in info.feature_names),
            libraries={k: v for info in infos for k, v in info.libraries.items()},
        )

    def analyze(self, media: MediaSource) -> list[Any]:
        return [part.analyze(media) for part in self.parts]

    def pool(self, analysis: list[Any], media: MediaSource, utterances: Sequence[Utterance]) -> ModalityFeatures:
        pooled = [part.pool(a, media, utterances) for part, a in zip(self.parts, analysis)]
        values = np.concatenate([p.values for p in pooled], axis=1)
        return ModalityFeatures(self.info, values, np.logical_and.reduce([p.mask for p in pooled]))


PARTS: dict[str, type[FeatureExtractor]] = dict(
    zip(PART_NAMES, (CovarepExtractor, EgemapsExtractor, WhisperEncoderExtractor), strict=True)
)
EXTRACTORS: dict[str, type[FeatureExtractor]] = {  # the CLI's choices; any "+" join of PARTS works
    **PARTS,
    "covarep+egemaps": CombinedExtractor,
    "covarep+egemaps+whisper": CombinedExtractor,
}


class LevelledExtractor(FeatureExtractor):
    """An acoustic extractor that reads each file with its speech at `level_db` dBFS (level.py);
    the gain is measured once per file, in `analyze`, and `pool` reuses it."""

    modality = "acoustic"

    def __init__(self, inner: FeatureExtractor, level_db: float):
        self.inner, self.level_db = inner, level_db

    @property
    def info(self) -> ExtractorInfo:
        info = self.inner.info
        return replace(info, config={**info.config, "level_db": self.level_db})

    def analyze(self, media: MediaSource) -> tuple[float, Any]:
        audio = media.audio()
        gain = 1.0 if audio is None else gain_to(audio, self.level_db)
        return gain, self.inner.analyze(LevelledMedia(media, gain))

    def pool(
        self, analysis: tuple[float, Any], media: MediaSource, utterances: Sequence[Utterance]
    ) -> ModalityFeatures:
        gain, inner = analysis
        return replace(self.inner.pool(inner, LevelledMedia(media, gain), utterances), info=self.info)


def make_acoustic_extractor(config: AcousticConfig) -> FeatureExtractor:
    plain = replace(config, level_db=None)
    inner = PARTS[config.extractor](plain) if config.extractor in PARTS else CombinedExtractor(plain)
    return inner if config.level_db is None else LevelledExtractor(inner, config.level_db)
