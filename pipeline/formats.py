"""Label files in several formats: json (the schema'd document), csv (one row per utterance),
srt and vtt (subtitles whose lines carry each utterance's labels)."""

from __future__ import annotations

from .analyze import UtteranceResult, VideoResult

FORMATS = ("json", "csv", "srt", "vtt")


def caption(utterance: UtteranceResult) -> str:
    """Subtitle text: labels on the first line, the speaker and words on the second."""
    parts = []
    if utterance.sentiment:
        parts.append(f"{utterance.sentiment['label']} {utterance.sentiment['score']:+.1f}")
    if utterance.emotions:
        parts.append("/".join(utterance.emotions["labels"]))
    if utterance.sarcasm:
        parts.append(f"sarcasm {utterance.sarcasm['p']:.2f}")
    words = f"{utterance.speaker}: {utterance.text}" if utterance.speaker else utterance.text
    return f"[{' | '.join(parts)}]\n{words}"


def _subtitles(result: VideoResult, fmt: str) -> str:
    import pysubs2

    subtitles = pysubs2.SSAFile()
    for utterance in result.utterances:
        subtitles.append(
            pysubs2.SSAEvent(
                start=round(utterance.start * 1000),
                end=round(utterance.end * 1000),
                text=caption(utterance).replace("\n", "\\N"),
            )
        )
    return subtitles.to_string(fmt)


def render(result: VideoResult, fmt: str) -> str:
    """The labels of one video as text in `fmt`."""
    if fmt == "json":
        return result.to_json() + "\n"
    if fmt == "csv":
        return result.to_dataframe().to_csv(index=False)
    if fmt in ("srt", "vtt"):
        return _subtitles(result, fmt)
    raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
