"""The few librosa routines the extractors run on every file, in numpy.

Importing librosa costs about 1.5 s of CPU per start (numba and its stencils, scipy.signal, .stats,
.ndimage), a third of `analyze-video`'s whole cold start on a short clip. These ports follow
librosa 0.11 line by line (YIN, Slaney mel filters, power_to_db, orthonormal DCT-II MFCCs, the
centred STFT) and are checked against librosa itself in tests/test_dsp.py; training and the tests
still use librosa.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def frame(y: np.ndarray, length: int, hop: int) -> np.ndarray:
    """[K, length] views of `y` at `hop` (frame k starts at sample k*hop; no padding)."""
    return np.lib.stride_tricks.sliding_window_view(y, length)[::hop]


def yin(y: np.ndarray, *, fmin: float, fmax: float, sr: int, frame_length: int, hop_length: int) -> np.ndarray:
    """F0 (Hz) per uncentred frame by YIN with parabolic refinement (librosa.yin, center=False,
    trough threshold 0.1)."""
    if not 0 < fmin < fmax <= sr / 2 or sr / fmin >= frame_length - 1:
        raise ValueError(f"YIN cannot search {fmin}-{fmax} Hz in {frame_length}-sample frames at {sr} Hz")
    frames = frame(y, frame_length, hop_length).T  # [frame_length, K]
    min_period = int(np.floor(sr / fmax))
    max_period = min(int(np.ceil(sr / fmin)), frame_length - 1)
    difference = _normalised_difference(frames, min_period, max_period)
    shifts = _parabolic_shifts(difference)
    trough = np.zeros_like(difference, dtype=bool)
    trough[1:-1] = (difference[1:-1] < difference[:-2]) & (difference[1:-1] <= difference[2:])
    trough[-1] = difference[-1] < difference[-2]
    trough[0] = difference[0] < difference[1]
    below = trough & (difference < 0.1)
    period = np.argmax(below, axis=0)
    none_below = ~below.any(axis=0)
    period[none_below] = np.argmin(difference, axis=0)[none_below]
    refined = min_period + period + np.take_along_axis(shifts, period[None, :], axis=0)[0]
    return sr / refined


def _normalised_difference(frames: np.ndarray, min_period: int, max_period: int) -> np.ndarray:
    """YIN's cumulative mean normalised difference for lags min_period..max_period (one row each)."""
    size = 2 * frames.shape[0] - 1
    n_pad = 1 << (size - 1).bit_length()
    spectrum = np.fft.rfft(frames, n=n_pad, axis=0)
    acf = np.fft.irfft(spectrum.real**2 + spectrum.imag**2, n=n_pad, axis=0)[: max_period + 1].astype(frames.dtype)
    energy = np.cumsum(np.square(frames), axis=0)
    lags = slice(1, max_period + 1)
    difference = np.empty((max_period + 1, frames.shape[1]), dtype=energy.dtype)
    difference[0] = 0
    difference[lags] = 2 * (acf[0:1] - acf[lags]) - energy[:max_period]
    cumulative_mean = np.cumsum(difference[lags], axis=0) / np.arange(1, max_period + 1)[:, None]
    denominator = cumulative_mean[min_period - 1 : max_period]
    return difference[min_period : max_period + 1] / (denominator + np.finfo(denominator.dtype).tiny)


def _parabolic_shifts(x: np.ndarray) -> np.ndarray:
    """Offset of the parabola through each point and its neighbours (0 where the optimum falls
    outside them, and at both ends)."""
    shifts = np.zeros_like(x)
    a = x[2:] + x[:-2] - 2 * x[1:-1]
    b = (x[2:] - x[:-2]) / 2
    inside = np.abs(b) < np.abs(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        shifts[1:-1] = np.where(inside, -b / a, 0)
    return shifts


def a_weighting_db(frequencies: np.ndarray, min_db: float = -80.0) -> np.ndarray:
    """IEC 61672 A-weighting (dB) of each frequency, floored at min_db."""
    f_sq = np.asanyarray(frequencies) ** 2.0
    const = np.array([12194.217, 20.598997, 107.65265, 737.86223]) ** 2.0
    weights = 2.0 + 20.0 * (
        np.log10(const[0])
        + 2 * np.log10(f_sq)
        - np.log10(f_sq + const[0])
        - np.log10(f_sq + const[1])
        - 0.5 * np.log10(f_sq + const[2])
        - 0.5 * np.log10(f_sq + const[3])
    )
    return np.maximum(min_db, weights)


def power_to_db(power: np.ndarray, amin: float = 1e-10, top_db: float = 80.0) -> np.ndarray:
    """10 log10 of power, floored at top_db below the array's maximum."""
    db = 10.0 * np.log10(np.maximum(amin, power))
    return np.maximum(db, db.max() - top_db)


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asanyarray(hz, dtype=float)
    linear = hz / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log, linear)


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    linear = (200.0 / 3) * mels
    log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mels - 15.0))
    return np.where(mels >= 15.0, log, linear)


@lru_cache(maxsize=4)
def mel_filters(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """[n_mels, 1 + n_fft // 2] float32 triangular Slaney-normalised filters from 0 Hz to sr / 2."""
    fft_hz = np.fft.rfftfreq(n_fft, 1.0 / sr)
    mel_hz = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2.0), n_mels + 2))
    widths = np.diff(mel_hz)
    ramps = np.subtract.outer(mel_hz, fft_hz)
    weights = np.zeros((n_mels, len(fft_hz)), dtype=np.float32)
    for i in range(n_mels):
        weights[i] = np.maximum(0, np.minimum(-ramps[i] / widths[i], ramps[i + 2] / widths[i + 1]))
    weights *= (2.0 / (mel_hz[2 : n_mels + 2] - mel_hz[:n_mels]))[:, None]
    weights.flags.writeable = False
    return weights


def mel_power(power: np.ndarray, sr: int, n_mels: int) -> np.ndarray:
    """[n_mels, K] mel spectrum of a [1 + n_fft // 2, K] power spectrum."""
    return np.einsum("ft,mf->mt", power, mel_filters(sr, 2 * (power.shape[0] - 1), n_mels), optimize=True)


@lru_cache(maxsize=4)
def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II as an [n, n] matrix (row k = basis function k)."""
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    matrix = np.sqrt(2.0 / n) * np.cos(np.pi * k * (2 * i + 1) / (2 * n))
    matrix[0] /= np.sqrt(2.0)
    matrix.flags.writeable = False
    return matrix


def mfcc(db: np.ndarray, n_mfcc: int) -> np.ndarray:
    """[n_mfcc, K] cepstral coefficients of a [n_mels, K] log-mel spectrum (orthonormal DCT-II)."""
    return _dct_matrix(db.shape[0])[:n_mfcc] @ db


def centred_mel_spectrogram(y: np.ndarray, sr: int, n_fft: int, hop: int, n_mels: int) -> np.ndarray:
    """[n_mels, K] mel power spectrogram of float32 `y` with zero-padded centred frames and a
    periodic Hann window (librosa.feature.melspectrogram's defaults)."""
    padded = np.pad(y, n_fft // 2)
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(y.dtype)
    spectrum = np.fft.rfft(frame(padded, n_fft, hop) * window, axis=1).astype(np.complex64)
    return mel_power((spectrum.real**2 + spectrum.imag**2).T, sr, n_mels)
