"""Where someone speaks: Silero VAD (the ONNX model faster-whisper ships) over 16 kHz mono audio."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from mtmm_es.core.background import deferred_import
from mtmm_es.core.checks import check_number

from .base import SAMPLE_RATE, Utterance, Word

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

    def __post_init__(self) -> None:
        check_number(self, "threshold", minimum=0, maximum=1)
        check_number(self, "min_silence_s", minimum=0)
        check_number(self, "pad_s", minimum=0)
        check_number(self, "block_s", minimum=1)


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
    """The window lies in the region, or they share at least 0.2 s, or half the region; a short
    region (a word said alone) also goes to a window that shares half of itself with it."""
    shared = min(window[1], region[1]) - max(window[0], region[0])
    if region[0] <= window[0] and window[1] <= region[1] or shared >= min(0.2, (region[1] - region[0]) / 2):
        return True  # a short word inside a longer stretch of speech is that speech's
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
    clamped = [(min(max(s, 0.0), duration), min(e, duration)) for s, e in bounds]  # words timed past the end too
    return [replace(u, start=s, end=max(e, s)) for u, (s, e) in zip(ordered, clamped)]


SENTENCE_END = (".", "?", "!", "…")
WEAK_S = 0.1  # a word aligned to less than this is placed by its neighbours, not by its own times
MAX_MOVE_S = 1.5  # a word in silence further than this from any speech is left where it is
MAX_BACK_S = 4.5  # how far back a sentence's end in silence may go to its sentence's speech


def _overlap(word: Word, region: Region) -> float:
    return min(word.end, region[1]) - max(word.start, region[0])


def _region_of(word: Word, regions: Sequence[Region], starts: Sequence[float]) -> int | None:
    """The region holding most of the word (a word of no length: the one it lies in), else None."""
    lo = max(0, bisect_right(starts, word.start) - 1)
    best, shared = None, 0.0
    for i in range(lo, len(regions)):
        region = regions[i]
        if region[0] > word.end:
            break
        overlap = _overlap(word, region)
        if overlap > shared or (overlap == 0 == shared and best is None and region[0] <= word.start <= region[1]):
            best, shared = i, overlap
    return best


def _weak(word: Word, region: Region) -> bool:
    """Whisper aligned the word to (almost) nothing, or mostly to the silence around its region."""
    length = word.end - word.start
    return length < WEAK_S or _overlap(word, region) < length / 2


def ends_sentence(word: Word) -> bool:
    return word.text.rstrip("\"')]").endswith(SENTENCE_END)


def _with_sentence(words: Sequence[Word], found: Sequence[int | None], regions: Sequence[Region]) -> list[int | None]:
    """Each word's region (`found`); a word in silence (None) goes to the region before or after it:
    after a sentence end, the one after; in a sentence's tail (a sentence end follows before the
    next word in a region), the one before; otherwise the nearer. It stays where it is further
    than MAX_MOVE_S from both, when the move is longer than MAX_MOVE_S forward or MAX_BACK_S back,
    and when an earlier word of the same pause stayed (so words keep their order)."""
    ended: list[bool] = []  # a sentence ended since the last word in a region
    stop = False
    for word, region in zip(words, found):
        ended.append(stop)
        stop = ends_sentence(word) if region is not None else stop or ends_sentence(word)
    tail: list[bool] = []  # a sentence ends here or further on, before the next word in a region
    closing = False
    for word, region in zip(reversed(words), reversed(found)):
        closing = region is None and (closing or ends_sentence(word))
        tail.append(closing)
    tail.reverse()
    starts = [r[0] for r in regions]
    where = list(found)
    stayed = False
    for k, word in enumerate(words):
        if found[k] is not None:
            stayed = False
            continue
        i = bisect_right(starts, word.start) - 1
        before, after = (i if i >= 0 else None), (i + 1 if i + 1 < len(regions) else None)
        distance = {r: _distance(word, regions[r]) for r in (before, after) if r is not None}
        if before is None or after is None:
            target = after if before is None else before
        elif ended[k] or tail[k]:
            target = after if ended[k] else before
        else:
            target = min(distance, key=distance.get)
        back = target == before
        limit = MAX_BACK_S if back else MAX_MOVE_S
        if min(distance.values()) <= MAX_MOVE_S and distance[target] <= limit and not (back and stayed):
            where[k] = target
        else:
            stayed = True
    return where


def _distance(word: Word, region: Region) -> float:
    return max(region[0] - word.end, word.start - region[1], 0.0)


def snap_words(words: Sequence[Word], regions: Sequence[Region]) -> list[Word]:
    """Words (in spoken order) moved into the stretch of speech they were said in, one for each.

    Whisper's word times drift: a word absorbs the pause before or after it, and a word aligned to
    nothing lands on the next speech's onset, so sentences merged and the next one lost its words.
    Each word goes to the region holding most of it (`_with_sentence` for words in silence,
    `_mend_cuts` for sentences a region change cuts) and is cut to it, so a pause between regions
    stays a pause between words."""
    if not words or not regions:
        return list(words)
    starts = [r[0] for r in regions]
    where = _with_sentence(words, [_region_of(w, regions, starts) for w in words], regions)
    _mend_cuts(words, where, regions)
    placed = []
    for word, index in zip(words, where):
        if index is not None:
            lo, hi = regions[index]
            word = Word(word.text, min(max(word.start, lo), hi), min(max(word.end, lo), hi), word.probability)
        placed.append(word)
    return placed


def _mend_cuts(words: Sequence[Word], where: list[int | None], regions: Sequence[Region]) -> None:
    """Where the region changes mid-sentence, the sentence's last words (up to two) after the
    change, or its first words before it, follow the rest of their sentence when Whisper aligned
    them to almost nothing or mostly to silence (`_weak`). Changes `where` in place."""
    for k in range(len(words) - 1):
        a, b = where[k], where[k + 1]
        if a is None or b is None or a >= b or ends_sentence(words[k]):
            continue
        tail = [j for j in range(k + 1, min(k + 3, len(words))) if where[j] == b]
        end = next((j for j in tail if ends_sentence(words[j])), None)
        if end is not None and all(j in tail and _weak(words[j], regions[b]) for j in range(k + 1, end + 1)):
            where[k + 1 : end + 1] = [a] * (end - k)
            continue
        head = [j for j in range(k, max(k - 2, -1), -1) if where[j] == a]
        first = next((j for j in head if j == 0 or ends_sentence(words[j - 1])), None)
        if first is not None and all(j in head and _weak(words[j], regions[a]) for j in range(first, k + 1)):
            where[first : k + 1] = [b] * (k + 1 - first)
