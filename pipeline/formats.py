"""Label files, one writer class per format over the one label record (core/labels.py):
json (the schema'd document), csv (CSV_COLUMNS, one row per utterance), srt and vtt (subtitles whose
lines carry each utterance's labels). `get_writer(fmt)` returns the class; a new format is one class."""

from __future__ import annotations

import csv
import html
import io
from typing import ClassVar

from mtmm_es.core.errors import MtmmError
from mtmm_es.core.labels import CSV_COLUMNS, UtteranceResult, VideoResult

NO_LABELS = "no labels"  # the label text of an utterance without any input the model uses


class LabelWriter:
    """Renders one video's labels as text; `extension` names the format (and the file suffix)."""

    extension: ClassVar[str]

    def render(self, result: VideoResult) -> str:
        raise NotImplementedError


class JsonWriter(LabelWriter):
    extension = "json"

    def render(self, result: VideoResult) -> str:
        return result.to_json() + "\n"


def csv_text(rows: list[dict], header: bool = True) -> str:
    """Rows in the one CSV layout as text."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


class CsvWriter(LabelWriter):
    extension = "csv"

    def render(self, result: VideoResult) -> str:
        return csv_text(result.rows())


def label_parts(utterance: UtteranceResult, score_digits: int = 1) -> list[str]:
    """Short label texts of one utterance: "positive +1.2", "happy/surprise", "sarcasm 0.31";
    "no labels" for an utterance that has none."""
    parts = []
    if utterance.sentiment:
        parts.append(f"{utterance.sentiment.label} {utterance.sentiment.score:+.{score_digits}f}")
    if utterance.emotions:
        parts.append("/".join(utterance.emotions.labels))
    if utterance.sarcasm:
        parts.append(f"sarcasm {utterance.sarcasm.p:.2f}")
    return parts or [NO_LABELS]


def caption(utterance: UtteranceResult) -> str:
    """Subtitle text: labels on the first line, the speaker and words on the second, and when the
    words are a translation, the original words on a third ("(original: ...)")."""
    parts = label_parts(utterance)
    words = f"{utterance.speaker}: {utterance.text}" if utterance.speaker else utterance.text
    original = f"\n(original: {' '.join(utterance.source_text.split())})" if utterance.source_text else ""
    return f"[{' | '.join(parts)}]\n{words}{original}"


BACKSLASH = "\ue000"  # stands in for the words' backslashes while pysubs2 reads \N and \h as markup


class SrtWriter(LabelWriter):
    """Subtitles through pysubs2, the words exactly as recognised: its markup ({...} override tags,
    backslash escapes) is not applied to them."""

    extension = "srt"

    def cue_text(self, utterance: UtteranceResult) -> str:
        return caption(utterance)

    def render(self, result: VideoResult) -> str:
        import pysubs2

        subtitles = pysubs2.SSAFile()
        for utterance in result.utterances:
            lines = "\n".join(self.cue_text(utterance).splitlines())  # CR, CRLF: a blank line ends a cue
            text = lines.replace("\\", BACKSLASH).replace("\n", "\\N")
            subtitles.append(
                pysubs2.SSAEvent(start=round(utterance.start * 1000), end=round(utterance.end * 1000), text=text)
            )
        return subtitles.to_string(self.extension, keep_ssa_tags=True).replace(BACKSLASH, "\\")


class VttWriter(SrtWriter):
    """WebVTT: as SRT, with the cue text's &, < and > written as entities (cue text is markup)."""

    extension = "vtt"

    def cue_text(self, utterance: UtteranceResult) -> str:
        return html.escape(caption(utterance), quote=False)


WRITERS: dict[str, type[LabelWriter]] = {w.extension: w for w in (JsonWriter, CsvWriter, SrtWriter, VttWriter)}
FORMATS = tuple(WRITERS)


def get_writer(fmt: str) -> type[LabelWriter]:
    if fmt not in WRITERS:
        raise MtmmError(f"unknown format '{fmt}' (choose from {', '.join(FORMATS)})")
    return WRITERS[fmt]


def render(result: VideoResult, fmt: str) -> str:
    """The labels of one video as text in `fmt`."""
    return get_writer(fmt)().render(result)
