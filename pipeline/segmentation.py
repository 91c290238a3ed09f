"""Utterances from word timings (pauses, sentence ends, duration limits) or from a user's segment file."""

from __future__ import annotations

import csv
import html
import io
import logging
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from mtmm_es.core.checks import check_flags, check_number, check_type
from mtmm_es.core.csvrows import field_count_problem, numbered_rows
from mtmm_es.core.errors import MtmmError, quoted
from mtmm_es.core.files import read_utf8
from mtmm_es.extractors.base import Segment, Utterance, Word
from mtmm_es.extractors.vad import PAD_S, VadConfig, ends_sentence

log = logging.getLogger(__name__)

OVERRIDE_TAG = re.compile(r"\{\\[^}]*\}")  # {\i1}: styling pysubs2 puts where SRT had <i>
_EMOTION = "(?:anger|disgust|fear|happy|sad|surprise|none)"
_LABEL = rf"(?:(?:positive|negative) [+-]\d+\.\d|{_EMOTION}(?:/{_EMOTION})*|sarcasm \d\.\d\d)"
# the label line of pipeline/formats.py's caption, "[positive +0.4 | happy | sarcasm 0.21]" or "[no labels]"
# (or "[]", as earlier versions wrote it; "[music]" is not one)
ORIGINAL_LINE = re.compile(r"\(original: .*\)")  # a translated utterance's third line: its original words
LABEL_LINE = re.compile(rf"\[(?:no labels|{_LABEL}(?: \| {_LABEL})*)?\]")
SPEAKER_TAG = re.compile(r"^S\d+:(?:\s+|$)")


@dataclass(frozen=True)
class SegmentationConfig:
    """Rules for cutting a word stream into utterances (all in seconds).

    pause_s: a silence at least this long between two words starts a new utterance. The default
    0.3 s comes from `benchmarks/segmentation_sweep.py`: on CMU-MOSI's aligned words it gives
    utterance durations closest to the annotated ones (KS 0.07; 0.25 s: 0.06), and stays above
    the 0.1-0.3 s gaps Whisper leaves at commas. sentence_split_s: an utterance
    already this long is also cut after a word ending a sentence. max_duration_s: longer
    utterances are cut at their longest internal pause. min_duration_s: shorter ones are merged
    into the neighbour across the shorter gap (the other one when that would pass max_duration_s),
    unless the gap is longer than merge_gap_s: a short
    reply after a long silence stands alone. On MOSI's aligned words 1 s changes no utterance; on
    held-out actors' acted clips laid 1 s apart (`benchmarks/speech_e2e.py`) the clips with an
    utterance of their own went from 86 / 91 % to 96 / 94 % (CREMA-D / RAVDESS).

    fit_to_speech: the windows are then moved onto the speech Silero VAD hears (`vad`) and padded
    by speech_pad_s into the pauses (`extractors.vad.fit_windows`); speech of at least
    voice_only_min_s holding no recognised word becomes an utterance without text. snap_words
    (with fit_to_speech): before the cut, each word is moved into the speech region it was said in
    (`extractors.vad.snap_words`): Whisper's word times drift across pauses, which merged two
    sentences into one utterance and left the next sentence's speech without text.
    """

    pause_s: float = 0.3
    sentence_split_s: float = 8.0
    max_duration_s: float = 20.0
    min_duration_s: float = 1.0
    merge_gap_s: float = 1.0
    fit_to_speech: bool = True
    snap_words: bool = True
    speech_pad_s: float = PAD_S
    voice_only_min_s: float = 0.5
    vad: VadConfig = field(default_factory=VadConfig)

    def __post_init__(self) -> None:
        for name in (
            "pause_s",
            "sentence_split_s",
            "min_duration_s",
            "merge_gap_s",
            "speech_pad_s",
            "voice_only_min_s",
        ):
            check_number(self, name, minimum=0)
        check_number(self, "max_duration_s", above=0)
        check_flags(self, "fit_to_speech", "snap_words")
        check_type(self, "vad", VadConfig)
        if self.min_duration_s > self.max_duration_s:
            raise MtmmError(
                f"the shortest utterance ({self.min_duration_s} s, --min-utterance) is longer than the longest "
                f"({self.max_duration_s} s, --max-utterance)"
            )


def _split_at_pauses_and_sentences(words: Sequence[Word], config: SegmentationConfig) -> list[list[Word]]:
    groups: list[list[Word]] = []
    for word in words:
        if groups:
            current = groups[-1]
            pause = word.start - current[-1].end
            long_sentence = current[-1].end - current[0].start >= config.sentence_split_s and ends_sentence(current[-1])
            if pause < config.pause_s and not long_sentence:
                current.append(word)
                continue
        groups.append([word])
    return groups


def _split_long(group: list[Word], max_duration_s: float) -> list[list[Word]]:
    if len(group) < 2 or group[-1].end - group[0].start <= max_duration_s:
        return [group]
    gaps = [b.start - a.end for a, b in zip(group[:-1], group[1:])]
    middle = (len(group) - 1) / 2
    cut = max(range(len(gaps)), key=lambda i: (round(gaps[i], 3), -abs(i - middle))) + 1
    return _split_long(group[:cut], max_duration_s) + _split_long(group[cut:], max_duration_s)


def _merge_short(groups: list[list[Word]], config: SegmentationConfig) -> list[list[Word]]:
    groups = [list(g) for g in groups]
    changed = True
    while changed and len(groups) > 1:
        changed = False
        for i, group in enumerate(groups):
            if group[-1].end - group[0].start >= config.min_duration_s:
                continue
            merged = _merge_into_neighbour(groups, i, config)
            if merged is not None:
                groups = merged
                changed = True
                break
    return groups


def _merge_into_neighbour(groups: list[list[Word]], i: int, config: SegmentationConfig) -> list[list[Word]] | None:
    """The groups with group i merged into its closer neighbour within `merge_gap_s`, or the other
    one when the closer would grow past `max_duration_s`; None when neither can take it."""
    group = groups[i]
    gaps = {
        j: gap
        for j, gap in (
            (i - 1, group[0].start - groups[i - 1][-1].end if i > 0 else float("inf")),
            (i + 1, groups[i + 1][0].start - group[-1].end if i + 1 < len(groups) else float("inf")),
        )
        if gap <= config.merge_gap_s
    }
    for j in sorted(gaps, key=lambda k: (gaps[k], k)):
        merged = sorted(groups[j] + group, key=lambda w: w.start)
        if merged[-1].end - merged[0].start <= config.max_duration_s:
            return [*groups[: min(i, j)], merged, *groups[max(i, j) + 1 :]]
    return None


def join_words(words: Sequence[Word]) -> str:
    return " ".join(w.text for w in words).strip()


def segment_words(words: Sequence[Word], config: SegmentationConfig = SegmentationConfig()) -> list[Utterance]:
    """Utterances from time-stamped words: pause split, sentence split when long, max/min duration."""
    return segment_runs([words], config)


def segment_runs(runs: Sequence[Sequence[Word]], config: SegmentationConfig = SegmentationConfig()) -> list[Utterance]:
    """`segment_words` over each run of words: runs are cut from each other, and never merged."""
    groups: list[list[Word]] = []
    for run in runs:
        ordered = sorted(run, key=lambda w: w.start)
        parts = [
            p for g in _split_at_pauses_and_sentences(ordered, config) for p in _split_long(g, config.max_duration_s)
        ]
        groups += _merge_short(parts, config)
    return [
        Utterance(index, group[0].start, group[-1].end, join_words(group), tuple(group))
        for index, group in enumerate(groups)
    ]


def split_at(utterance: Utterance, time: float, min_duration_s: float) -> list[Utterance]:
    """The utterance cut at the word gap nearest `time` (a speaker change), or unchanged when no
    gap leaves both parts at least `min_duration_s` long. Indices are left for `renumber`."""
    words = utterance.words
    gaps = [
        k
        for k in range(1, len(words))
        if words[k - 1].end - words[0].start >= min_duration_s and words[-1].end - words[k].start >= min_duration_s
    ]
    if not gaps:
        return [utterance]
    cut = min(gaps, key=lambda k: abs((words[k - 1].end + words[k].start) / 2 - time))
    head, tail = words[:cut], words[cut:]
    return [
        replace(utterance, end=head[-1].end, text=join_words(head), words=head),
        replace(utterance, start=tail[0].start, text=join_words(tail), words=tail),
    ]


def renumber(utterances: Sequence[Utterance]) -> list[Utterance]:
    """The utterances indexed 0..n-1 in order."""
    return [replace(u, index=i) for i, u in enumerate(utterances)]


def _seconds(value: str | None) -> float:
    """Finite seconds from '12.5', '00:01:02.5' or '00:01:02,500'."""
    if value is None or not value.strip():
        raise ValueError("empty")
    value = value.strip().replace(",", ".")
    sign = -1.0 if value.startswith("-") else 1.0  # of the whole time: "-00:00:05" is -5 s
    parts = [part.strip() for part in value.removeprefix("-").split(":")]
    if not 1 <= len(parts) <= 3:
        raise ValueError(value)
    total = 0.0
    for position, part in enumerate(parts):
        number = float(part) if part[:1] not in ("-", "+") else math.nan
        if position and not number < 60:  # minutes and seconds after an hour or a minute field
            raise ValueError(value)
        total = total * 60 + number
    if not math.isfinite(total):
        raise ValueError(value)
    return sign * total


def _read_csv_segments(path: Path) -> list[Segment]:
    text = read_utf8(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames or ()
    except csv.Error as error:
        raise MtmmError(f"line 1: {error}", path) from None
    columns = {c.strip().lower(): c for c in header}
    if "start" not in columns or "end" not in columns:
        raise MtmmError("segments CSV needs 'start' and 'end' columns (and optionally 'text')", path)
    unread = [c for key, c in columns.items() if key not in ("start", "end", "text")]
    if unread and "text" not in columns:  # the words under another name would be dropped unsaid
        raise MtmmError(
            f"columns not read: {', '.join(unread)} (the words go in a column named 'text'; without one the "
            "speech is recognised: leave the other columns out)",
            path,
        )
    if unread:
        log.warning(
            "%s: columns not read: %s (a segments CSV has start, end and text)", quoted(path), ", ".join(unread)
        )
    segments = []
    for line, row in _csv_rows(reader, path):
        if problem := field_count_problem(row, header):
            raise MtmmError(f"line {line}: {problem}", path)
        try:
            start, end = _seconds(row[columns["start"]]), _seconds(row[columns["end"]])
        except ValueError:
            raise MtmmError(
                f"line {line}: start and end must be finite seconds or HH:MM:SS.mmm "
                f"(got {row[columns['start']]!r}, {row[columns['end']]!r})",
                path,
            ) from None
        text = (row.get(columns["text"]) or "").strip() if "text" in columns else ""
        segments.append(Segment(start, end, text or None))
    return segments


def _csv_rows(reader: csv.DictReader, path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, row) of each row; what the csv module cannot parse is one error naming the line."""
    try:
        yield from numbered_rows(reader)
    except csv.Error as error:
        raise MtmmError(f"line {reader.line_num + 1}: {error}", path) from None


def _read_subtitle_segments(path: Path) -> list[Segment]:
    import pysubs2

    vtt = path.suffix.lower() == ".vtt"
    try:
        if vtt:
            subtitles = pysubs2.SSAFile.from_string(_vtt_cues_only(read_utf8(path)), format_="vtt")
        else:
            subtitles = pysubs2.load(str(path), encoding="utf-8")
    except MtmmError:
        raise
    except Exception as error:
        raise MtmmError(f"cannot read subtitles: {error}", path) from error
    return [
        Segment(event.start / 1000, event.end / 1000, _cue_words(event.text, vtt))
        for event in subtitles
        if not event.is_comment
    ]


def _vtt_cues_only(text: str) -> str:
    """A WebVTT file without what pysubs2 would read as the previous cue's words: NOTE, STYLE and
    REGION blocks, and cue identifiers (the line above a cue's times)."""
    kept = []
    for block in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = block.strip("\n").split("\n")
        if re.match(r"(NOTE|STYLE|REGION)(\s|$)", lines[0]):
            continue
        timed = next((k for k, line in enumerate(lines) if "-->" in line), 0)
        kept.append("\n".join(lines[timed:]))
    return "\n\n".join(kept) + "\n"


def _cue_words(text: str, vtt: bool = False) -> str | None:
    """The words of a subtitle cue as pysubs2 loads it: styling tags and markup removed (words in
    braces such as "{laugh}" kept), WebVTT entities decoded, and from a subtitle analyze-video wrote,
    the label line and the speaker tag left out, so edited labelled subtitles can come back as
    --segments."""
    text = OVERRIDE_TAG.sub("", text).replace("\\N", "\n")  # pysubs2 loads a line break as \N
    lines = [line.strip() for line in (html.unescape(text) if vtt else text).split("\n")]
    if LABEL_LINE.fullmatch(lines[0]):  # alone on a cue of an utterance without words: "[no labels]"
        lines = [SPEAKER_TAG.sub("", lines[1], count=1), *lines[2:]] if len(lines) > 1 else []
        if len(lines) > 1 and ORIGINAL_LINE.fullmatch(lines[-1]):  # what a translation's words translate
            lines = lines[:-1]
    return " ".join(line for line in lines if line) or None


def read_segments(path: str | Path) -> list[Segment]:
    """Segments from an SRT, WebVTT or CSV (start,end[,text]) file, sorted, validated."""
    path = Path(path)
    if not path.is_file():
        raise MtmmError("segments file not found", path)
    if path.suffix.lower() == ".csv":
        segments = _read_csv_segments(path)
    elif path.suffix.lower() in (".srt", ".vtt"):
        segments = _read_subtitle_segments(path)
    else:
        raise MtmmError("segments must be .srt, .vtt or .csv", path)
    if not segments:
        raise MtmmError("no segments in the file (it holds no window, only a header or nothing)", path)
    for segment in segments:
        if segment.start < 0:
            raise MtmmError(f"segment {segment.start:.3f}-{segment.end:.3f} s starts before 0 s", path)
        if segment.end <= segment.start:
            raise MtmmError(f"segment {segment.start:.3f}-{segment.end:.3f} s has no positive duration", path)
    return sorted(segments, key=lambda s: s.start)
