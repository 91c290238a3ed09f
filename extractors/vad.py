"""Where someone speaks: Silero VAD (the ONNX model faster-whisper ships) over 16 kHz mono audio."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from mtmm_es.core.background import deferred_import

from .base import SAMPLE_RATE, Utterance

Region = tuple[float, float]
PAD_S = 0.3  # how far a window reaches into the pauses around its speech
SHORT_REGION_S = 1.0  # a region this short can be one short word's whole speech


@dataclass(frozen=True)
class VadConfig:
    """threshold: Silero's speech probability; a silence shorter than min_silence_s does not end
    a region; regions are widened by pad_s each side (Silero's onsets are late); the audio is read
    block_s at a time so memory stays bounded, regions meeting at a block edge are joined."""

    threshold: float = 0.5
    min_silence_s: float = 0.3
    pad_s: float = 0.1
    block_s: float = 300.0


def speech_regions(audio: np.ndarray, config: VadConfig = VadConfig()) -> list[Region]:
    """(start, end) seconds of each stretch of speech, in order, not overlapping (as `fit_windows`
    expects them)."""
    with deferred_import():
        from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(
        threshold=config.threshold,
        min_silence_duration_ms=int(config.min_silence_s * 1000),
        speech_pad_ms=int(config.pad_s * 1000),
    )
    regions: list[Region] = []
    block = int(config.block_s * SAMPLE_RATE)
    for lo in range(0, len(audio), block):
        chunk = np.asarray(audio[lo : lo + block], dtype=np.float32)
        for stamp in get_speech_timestamps(chunk, options):
            start, end = (lo + stamp["start"]) / SAMPLE_RATE, (lo + stamp["end"]) / SAMPLE_RATE
            if regions and start - regions[-1][1] < config.min_silence_s:
                regions[-1] = (regions[-1][0], max(end, regions[-1][1]))
            else:
                regions.append((start, end))
    return regions


def _holds(window: Region, region: Region) -> bool:
    """The window and the region share at least 0.2 s, or half the region; a short region (a word
    said alone) also goes to a window shorter than 0.4 s that shares half of itself with it."""
    shared = min(window[1], region[1]) - max(window[0], region[0])
    if shared >= min(0.2, (region[1] - region[0]) / 2):
        return True
    return region[1] - region[0] <= SHORT_REGION_S and shared > 0 and shared >= (window[1] - window[0]) / 2


def fit_windows(
    utterances: Sequence[Utterance],
    regions: Sequence[Region],
    duration: float,
    pad_s: float = PAD_S,
    voice_only_min_s: float | None = 0.5,
) -> list[Utterance]:
    """Utterance windows moved onto the speech they hold, plus the speech no utterance holds.

    Word timings run up to a second off the voice. An utterance's window starts where the first
    speech region it holds starts and ends where the last one ends, unless a neighbour holds that
    region too (continuous speech): that edge stays at the words. A region no utterance holds
    becomes an utterance without text when it lasts at least `voice_only_min_s` (None: never).
    Windows are then widened by `pad_s` into the pauses, never past the middle of a pause, and stay
    within [0, duration]. Indices are left for `renumber`.
    """
    words = [(u.start, u.end) for u in utterances]
    starts, ends = [r[0] for r in regions], [r[1] for r in regions]
    holding = [
        [i for i in range(bisect_right(ends, w[0]), bisect_left(starts, w[1])) if _holds(w, regions[i])] for w in words
    ]
    fitted = []
    for k, (utterance, held) in enumerate(zip(utterances, holding)):
        start, end = utterance.start, utterance.end
        if held and not (k > 0 and held[0] in holding[k - 1]):
            start = regions[held[0]][0]
        if held and not (k + 1 < len(words) and held[-1] in holding[k + 1]):
            end = regions[held[-1]][1]
        fitted.append(replace(utterance, start=start, end=end))
    if voice_only_min_s is not None:
        taken = {i for held in holding for i in held}
        fitted += [
            Utterance(-1, start, end, "")
            for i, (start, end) in enumerate(regions)
            if i not in taken and end - start >= voice_only_min_s
        ]
    ordered = sorted(fitted, key=lambda u: (u.start, u.end))
    bounds = [[u.start, u.end] for u in ordered]
    for left, right in zip(bounds[:-1], bounds[1:]):
        middle = (left[1] + right[0]) / 2
        left[1], right[0] = min(left[1] + pad_s, middle), max(right[0] - pad_s, middle)
    if bounds:
        bounds[0][0] -= pad_s
        bounds[-1][1] += pad_s
    return [replace(u, start=max(s, 0.0), end=min(max(e, s), duration)) for u, (s, e) in zip(ordered, bounds)]
