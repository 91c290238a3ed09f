"""Utterance segmentation rules and user-supplied segment files."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtmm_es.core.errors import MtmmError
from mtmm_es.extractors.base import Segment, Word
from mtmm_es.pipeline.segmentation import SegmentationConfig, read_segments, segment_words


def words_at(*spans: tuple[str, float, float]) -> list[Word]:
    return [Word(text, start, end, 0.9) for text, start, end in spans]


def test_pause_at_threshold_starts_a_new_utterance() -> None:
    words = words_at(("hello", 0.0, 0.5), ("there", 0.6, 1.2), ("next", 1.6, 2.4), ("one", 2.5, 3.1))
    config = SegmentationConfig(pause_s=0.4, min_duration_s=0.0)
    utterances = segment_words(words, config)
    assert [u.text for u in utterances] == ["hello there", "next one"]
    assert (utterances[1].index, utterances[1].start, utterances[1].end) == (1, 1.6, 3.1)
    assert utterances[0].words == tuple(words[:2])


@pytest.mark.parametrize("end", [".", '."', ".)"])  # regression (review): a closing quote hid the end
def test_long_utterance_is_cut_at_a_sentence_end(end: str) -> None:
    words = words_at(*[(f"w{i}{end}" if i == 5 else f"w{i}", i * 1.0, i * 1.0 + 0.9) for i in range(12)])
    config = SegmentationConfig(pause_s=5.0, sentence_split_s=4.0, max_duration_s=60, min_duration_s=0)
    utterances = segment_words(words, config)
    assert [len(u.words) for u in utterances] == [6, 6]
    assert utterances[0].text.endswith(f"w5{end}")


def test_over_long_utterance_is_cut_at_its_longest_pause() -> None:
    spans = [(f"w{i}", i * 1.0, i * 1.0 + 0.95) for i in range(30)]
    spans[12] = ("w12", 12.2, 13.0)  # the longest internal pause (0.25 s) precedes w12
    config = SegmentationConfig(pause_s=5.0, sentence_split_s=100, max_duration_s=20.0, min_duration_s=0)
    utterances = segment_words(words_at(*spans), config)
    assert [u.words[0].text for u in utterances] == ["w0", "w12"]
    assert all(u.end - u.start <= 20.0 for u in utterances)


def test_short_utterance_merges_across_the_shorter_gap() -> None:
    words = words_at(("long", 0.0, 2.0), ("yes", 2.6, 2.9), ("another", 5.0, 7.0))
    utterances = segment_words(words, SegmentationConfig(pause_s=0.5, min_duration_s=1.0))
    assert [u.text for u in utterances] == ["long yes", "another"]


def test_short_utterance_merges_into_the_other_neighbour_when_the_closer_is_full() -> None:
    """Regression: when the closer neighbour would grow past max_duration_s, the short utterance
    stayed alone although the other neighbour, within merge_gap_s, could take it."""
    long = [(f"w{i}", i * 1.0, i * 1.0 + 0.97) for i in range(20)]  # 19.97 s, no pause to cut at
    words = words_at(*long, ("yes", 20.22, 20.52), ("another", 20.87, 25.27))
    config = SegmentationConfig(pause_s=0.2, max_duration_s=20.0, min_duration_s=1.0)
    utterances = segment_words(words, config)
    assert [u.text for u in utterances][1:] == ["yes another"]
    assert utterances[0].words[-1].text == "w19"


def test_short_utterance_after_a_long_silence_stands_alone() -> None:
    """Acted clips 1 s apart were merged in pairs, so one clip's emotion labelled two."""
    words = words_at(("long", 0.0, 2.0), ("yes", 3.2, 3.8), ("another", 5.0, 7.0))
    utterances = segment_words(words, SegmentationConfig(pause_s=0.5, min_duration_s=1.0))
    assert [u.text for u in utterances] == ["long", "yes", "another"]


def test_a_shortest_utterance_longer_than_the_longest_is_refused() -> None:
    """Regression: --min-utterance 5 --max-utterance 2 was accepted and merged past the maximum."""
    with pytest.raises(MtmmError, match="shortest utterance .* is longer than the longest"):
        SegmentationConfig(min_duration_s=5.0, max_duration_s=2.0)


def test_no_words_no_utterances() -> None:
    assert segment_words([]) == []


def test_read_srt_vtt_and_csv(tmp_path: Path) -> None:
    srt = tmp_path / "a.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:02,500\nHello there\n\n2\n00:00:03,000 --> 00:00:04,000\nBye\n")
    vtt = tmp_path / "a.vtt"
    vtt.write_text("WEBVTT\n\n00:01.000 --> 00:02.500\nHello there\n\n00:03.000 --> 00:04.000\nBye\n")
    csv_file = tmp_path / "a.csv"
    csv_file.write_text("start,end,text\n3,4,Bye\n1,00:00:02.5,Hello there\n")
    expected = [Segment(1.0, 2.5, "Hello there"), Segment(3.0, 4.0, "Bye")]
    assert read_segments(srt) == expected
    assert read_segments(vtt) == expected
    annotated = tmp_path / "notes.vtt"  # NOTE blocks, a STYLE block and cue identifiers are not words
    annotated.write_text(
        "WEBVTT\r\n\r\nSTYLE\r\n::cue { color: red }\r\n\r\nintro\r\n00:01.000 --> 00:02.500\r\nHello there\r\n\r\n"
        "NOTE\r\nreviewed by QA\r\n\r\nNOTE one line\r\n\r\nending-cue\r\n00:03.000 --> 00:04.000\r\nBye\r\n",
        encoding="utf-8",
    )
    assert read_segments(annotated) == expected
    assert read_segments(csv_file) == expected


def test_a_csv_words_column_under_another_name_is_not_dropped_unsaid(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Regression from a user test: a `transcript` column was ignored without a word, and the speech
    recognised instead of the researcher's own words."""
    renamed = tmp_path / "renamed.csv"
    renamed.write_text("start,end,transcript\n0.5,2.0,my own words\n")
    with pytest.raises(MtmmError, match=r"columns not read: transcript \(the words go in a column named 'text'"):
        read_segments(renamed)
    extra = tmp_path / "extra.csv"
    extra.write_text("start,end,Text,actor\n0.5,2.0,my own words,1001\n")
    assert read_segments(extra) == [Segment(0.5, 2.0, "my own words")]
    assert "columns not read: actor" in caplog.text


def test_csv_without_text_leaves_text_for_asr(tmp_path: Path) -> None:
    csv_file = tmp_path / "windows.csv"
    csv_file.write_text("start,end\n0.5,2\n")
    assert read_segments(csv_file) == [Segment(0.5, 2.0, None)]


@pytest.mark.parametrize(
    "name, content, cause",
    [
        ("a.csv", "begin,finish\n1,2\n", "needs 'start' and 'end'"),
        ("a.csv", "start,end\nabc,2\n", "line 2"),
        ("a.csv", "start,end\n3,2\n", "no positive duration"),
        ("a.csv", "start,end\n-1,2\n", "starts before 0 s"),  # was "no positive duration"
        ("a.csv", "start,end\n-00:00:00.5,00:00:01.5\n", "starts before 0 s"),  # the sign was dropped: 0.5 s
        ("a.csv", "start,end\n-0:01,2\n", "starts before 0 s"),
        ("a.csv", "start,end\n0:-30,2\n", "line 2"),  # was -30 s
        ("a.csv", "start,end\n1:75,2:00\n", "line 2"),  # was 135 s
        ("a.csv", "start,end\n1: -30,2:00\n", "line 2"),  # a space hid the sign: was 30 s
        ("a.csv", "start,end," + "x" * 140_000 + "\n0,1,a\n", "line 1: field larger"),  # the header's csv.Error
        ("a.csv", 'start,end,text\n0,1,hi\n0,1,"' + "a" * 140_000 + '"\n', "line 3: field larger"),  # a csv.Error
        ("a.csv", "start,end\n", "no segments in the file"),  # was labelled "no speech found"
        ("a.vtt", "WEBVTT\n\n", "no segments in the file"),
        ("a.txt", "1 2\n", "must be .srt, .vtt or .csv"),
    ],
)
def test_bad_segment_files_are_explained(tmp_path: Path, name: str, content: str, cause: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(MtmmError, match=cause):
        read_segments(path)


@pytest.mark.parametrize(
    "content, line",
    [
        (b"start,end\n1,2\nnan,3\n", 3),
        (b"start,end\n0,inf\n", 2),
        (b"start,end\n1,2\n4\n", 3),  # a missing field
        (b"start,end,text\n1,2,ok\n3,\n", 3),
        (b"start,end,text\n0.1,4.4,Well, I loved it\n", 2),  # an unquoted comma lost "I loved it"
        (b"start,end,text\n1,2,ok\n3,4,caf\xe9\n", 3),  # Latin-1 bytes
    ],
)
def test_bad_segment_rows_are_one_line_naming_the_file_and_row(tmp_path: Path, content: bytes, line: int) -> None:
    path = tmp_path / "segments.csv"
    path.write_bytes(content)
    with pytest.raises(MtmmError) as error:
        read_segments(path)
    assert str(error.value).startswith(f"{path}: line {line}: ") and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "content, cause",
    [
        # regression (user test): a row without its text was read as a window with no text
        (b"start,end,text\n0,2,hi\n3,5\n6,8,bye\n", "line 3: 2 fields where the header has 3"),
        # regression: the message showed a Python value, "(got '0', None)"
        (b"start,end,text\n0\n", "line 2: 1 field where the header has 3"),
        # a row whose quoted text spans lines is named by the line it starts on, as --transcripts names it
        (b'start,end,text\n0,2,hi\n3,"5\n"\n', "line 3: 2 fields where the header has 3"),
        (b"start,end,text\n0,2,hi\n\n\n3,5\n", "line 5: 2 fields where the header has 3"),  # after blank lines
    ],
)
def test_a_csv_row_with_a_field_left_out_is_refused(tmp_path: Path, content: bytes, cause: str) -> None:
    path = tmp_path / "segments.csv"
    path.write_bytes(content)
    with pytest.raises(MtmmError, match=cause):
        read_segments(path)
    path.write_bytes(b"start,end,text\n0,2,hi\n3,5,\n")  # an empty text with its comma is a window without text
    assert [(s.start, s.end, s.text) for s in read_segments(path)] == [(0.0, 2.0, "hi"), (3.0, 5.0, None)]
    path.write_bytes(b"start,end,text,\n0,2,hi\n")  # a spreadsheet's trailing comma names no column
    assert [(s.start, s.end, s.text) for s in read_segments(path)] == [(0.0, 2.0, "hi")]
