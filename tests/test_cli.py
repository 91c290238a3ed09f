"""Command-line conventions and the output path policy: options checked before any work, one-line
errors, defaults in --help, formats from --out, outputs that never replace an input or each other."""

from __future__ import annotations

import argparse
import ast
import csv
import errno
import io
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import numpy as np
import pysubs2
import pytest

import mtmm_es.cli as cli
from mtmm_es.core.labels import CSV_COLUMNS, ModelInfo, Source, VideoResult
from mtmm_es.pipeline.analyze import default_checkpoint_dir, schema
from mtmm_es.pipeline.batch import find_inputs
from mtmm_es.pipeline.cache import Cache

ROOT = Path(__file__).resolve().parents[1]


def analyze(*args: str) -> subprocess.CompletedProcess:
    code = "import sys; from mtmm_es.cli import analyze_video; sys.exit(analyze_video())"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)


def mtmm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mtmm_es", *args], capture_output=True, text=True)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    return result.stderr


@pytest.mark.parametrize(
    "option",
    [
        ["--workers", "0"],
        ["--pause", "-1"],
        ["--asr-beam-size", "0"],
        ["--max-utterance", "0"],
        ["--fps", "nan"],
        ["--modalities", "text,smell"],
        ["--segments", "/nonexistent.srt"],
        ["--checkpoint", "/nonexistent"],
        ["--speakers", "2", "--no-speakers"],  # was accepted, and the count silently ignored
        ["--glob", "*.wav"],  # folder options with one file: were accepted and ignored
        ["--workers", "2"],
        ["--backend", "ray", "--ray-address", "10.255.255.1:1"],
        ["--recursive", "--overwrite"],
    ],
)
def test_bad_options_are_one_line_before_any_work(option: list[str], tmp_path: Path, fixture_video: Path) -> None:
    started = time.perf_counter()
    result = analyze(str(fixture_video), "--out", str(tmp_path / "x.json"), *option)
    assert option[0] in one_line_error(result)
    assert not (tmp_path / "x.json").exists() and time.perf_counter() - started < 10


def test_a_ray_address_without_the_ray_backend_is_refused(tmp_path: Path) -> None:
    """Regression: a folder's --ray-address without --backend ray was ignored, the run local."""
    videos = tmp_path / "videos"
    videos.mkdir()
    result = analyze(str(videos), "--out", str(tmp_path / "out"), "--ray-address", "10.255.255.1:1")
    assert (
        one_line_error(result) == "error: --ray-address: for --backend ray, not the local workers (add --backend ray)\n"
    )
    assert not (tmp_path / "out").exists()


def test_help_shows_defaults_and_explains_every_option() -> None:
    for parser in (cli.build_analyze_parser(), *_subparsers(cli.build_parser())):
        for action in parser._actions:
            assert action.help, f"{parser.prog} {action.option_strings or action.dest} has no help text"
    text = cli.build_analyze_parser().format_help()
    assert "(default: 0.3)" in text and "(default: faster-whisper)" in text


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found += list(action.choices.values())
    return found


def test_version() -> None:
    """One version everywhere (the labels' record said "unknown" where --version said 0.0.0+unknown)."""
    import mtmm_es
    from mtmm_es.pipeline import analyze as labelling
    from mtmm_es.pipeline import batch, extract

    result = mtmm("--version")
    assert result.returncode == 0 and result.stdout == f"mtmm {mtmm_es.__version__}\n"
    result = analyze("--version")
    assert result.returncode == 0 and result.stdout == f"analyze-video {mtmm_es.__version__}\n"
    assert labelling.own_version is extract.own_version is batch.own_version is cli.own_version


def test_evaluate_defaults_to_a_validation_split(tmp_path: Path) -> None:
    args = cli.build_parser().parse_args(["evaluate", "--dataset", "mosi", "--data-dir", ".", "--checkpoint", "."])
    assert args.split is None
    result = mtmm("evaluate", "--dataset", "mosi", "--data-dir", str(tmp_path), "--checkpoint", str(tmp_path))
    assert "no validation split" in one_line_error(result)
    # regression: an unknown dataset was said to have no validation split
    result = mtmm("evaluate", "--dataset", "nope", "--data-dir", str(tmp_path), "--checkpoint", str(tmp_path))
    assert one_line_error(result).startswith("error: unknown dataset 'nope' (choose from house, meld, mosei")


def test_library_code_does_not_print() -> None:
    for part in ("core", "extractors", "pipeline"):
        for path in (ROOT / part).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                    pytest.fail(f"{path.relative_to(ROOT)}:{node.lineno} prints; use the mtmm_es logger")


def test_a_cache_entry_of_another_layout_is_a_miss_but_a_reader_bug_is_not(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.put_json("cd" * 32, {"x": 1})
    assert cache.get_json("cd" * 32, lambda entry: entry["missing"]) is None  # a layout error: a miss

    def buggy(entry):
        return entry.no_such_attribute

    with pytest.raises(AttributeError):  # a bug in the reader is not hidden as "unreadable"
        cache.get_json("cd" * 32, buggy)


def test_cache_write_failures_are_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with caplog.at_level("WARNING", logger="mtmm_es"):
        cache = Cache(blocker)
        cache.put_json("ab" * 32, {"x": 1})
        cache.put_arrays("cd" * 32, {"x": np.zeros(2)})  # regression: one warning per entry, 7 a file
    assert caplog.text.count("cache entry not written") == 1 and "not-a-folder" in caplog.text
    refused = one_line_error(
        analyze(str(ROOT / "tests/fixtures/talking_head.mp4"), "--out", "x.json", "--cache-dir", str(blocker))
    )
    assert "the cache folder is a file" in refused


# --- the output path policy, single inputs ---


def test_output_over_the_input_is_refused(tmp_path: Path, fixture_video: Path) -> None:
    media = tmp_path / "x.mp4"
    shutil.copy(fixture_video, media)
    before = media.read_bytes()
    result = analyze(str(media), "--out", str(media), "--format", "json")
    assert "input" in one_line_error(result) and media.read_bytes() == before


def test_outputs_and_splits_are_checked_before_any_work(tmp_path: Path, fixture_video: Path) -> None:
    """Regression: `extract` and `train` found an --out that is a file only after the work (a whole
    training run lost), and a split without rows was reported as missing features."""
    taken = tmp_path / "taken.txt"
    taken.write_text("a file")
    for command in (
        ("extract", str(fixture_video), "--out", str(taken)),
        ("train", "--dataset", "videos", "--data-dir", str(tmp_path), "--out", str(taken)),
    ):
        assert (
            one_line_error(mtmm(*command))
            == f"error: {taken}: cannot create the output folder (a file of that name exists)\n"
        )
    (tmp_path / "labels.csv").write_text("file,start,end,sentiment\ntalk.mp4,0,1,1\n")
    # user test: a checkpoint was written into any folder, the data's own included
    train = ("train", "--dataset", "videos", "--data-dir", str(tmp_path), "--out", str(tmp_path))
    assert one_line_error(mtmm(*train)) == (
        f"error: {tmp_path}: the folder holds other files, not a checkpoint: give a new or empty folder\n"
    )
    predict = ("predict", "--dataset", "videos", "--data-dir", str(tmp_path), "--out", str(tmp_path / "p.csv"))
    result = mtmm(*predict, "--checkpoint", str(default_checkpoint_dir()))
    assert one_line_error(result) == f"error: {tmp_path}: videos has no test split here (no rows or files for it)\n"


def test_a_dash_for_a_folder_output_is_refused(tmp_path: Path, fixture_video: Path, monkeypatch, capsys) -> None:
    """Regression: `mtmm extract talk.mp4 --out -` (and `mtmm train ... --out -`) made a folder "-"."""

    def no_work(*args):
        raise AssertionError("the work started")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("mtmm_es.pipeline.FeaturePipeline", no_work)
    monkeypatch.setattr("mtmm_es.pipeline.training.train_and_save", no_work)
    for command, written in (
        (["extract", str(fixture_video)], "a folder of files (utterances.json, features.npz, spec.json)"),
        (["train", "--dataset", "videos", "--data-dir", str(tmp_path)], "a checkpoint folder"),
    ):
        assert cli.main([*command, "--out", "-"]) == 2
        assert capsys.readouterr().err == f"error: --out - (stdout) cannot take {written}: give --out a folder name\n"
    assert not (tmp_path / "-").exists()


def test_predict_writes_to_stdout_for_a_dash(tmp_path: Path) -> None:
    """Regression: `--out -` wrote a file named "-" (analyze-video's `--out -` is stdout)."""
    transcripts = tmp_path / "t.csv"
    transcripts.write_text("video_id,segment_id,text\nv1,0,I loved it\n")
    result = subprocess.run(
        [sys.executable, "-m", "mtmm_es", "predict", "--transcripts", str(transcripts), "--out", "-"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0 and result.stdout.startswith("file,index,start,end,speaker,text,sentiment")
    assert result.stdout.count("\n") == 2 and "1 predictions -> -" in result.stderr
    assert not (tmp_path / "-").exists()


def test_predict_refuses_an_out_that_names_a_folder(tmp_path: Path, capsys) -> None:
    """Regression: `mtmm predict --out preds/` wrote a CSV file named `preds` (analyze-video refuses
    a file output ending with /)."""
    transcripts = tmp_path / "t.csv"
    transcripts.write_text("video_id,segment_id,text\nv1,0,I loved it\n")
    out = f"{tmp_path / 'preds'}/"
    assert cli.main(["predict", "--transcripts", str(transcripts), "--out", out]) == 2
    assert (
        capsys.readouterr().err
        == f"error: {out}: names a folder (it ends with /); the rows go to a CSV file: give a file name\n"
    )
    assert not (tmp_path / "preds").exists()


def test_default_names_the_shipped_model_for_every_checkpoint_option(tmp_path: Path, capsys) -> None:
    """Regression from a user test: `mtmm train --from default` took the name, `mtmm evaluate
    --checkpoint default` said "not found: default"."""
    transcripts = tmp_path / "t.csv"
    transcripts.write_text("video_id,segment_id,text\nv1,0,I loved it\n")
    assert cli.main(["predict", "--transcripts", str(transcripts), "--checkpoint", "default", "--out", "-"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("v1,0,,,,I loved it,positive,")


def test_predict_keeps_the_times_the_transcripts_give(tmp_path: Path, capsys) -> None:
    """Regression from a user test: the rows came back in start order with start and end empty, so
    only the ids could tell which was which."""
    transcripts = tmp_path / "t.csv"
    transcripts.write_text("video_id,segment_id,start,end,text\nv1,0,5.5,7.25,I loved it\nv1,1,1.0,2.5,Hello there\n")
    assert cli.main(["predict", "--transcripts", str(transcripts), "--out", "-"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["index"], r["start"], r["end"], r["text"]) for r in rows] == [
        ("1", "1.0", "2.5", "Hello there"),
        ("0", "5.5", "7.25", "I loved it"),
    ]


@pytest.mark.parametrize("option", [["--dataset", "mosi"], ["--data-dir", "."], ["--split", "test"]])
def test_predict_refuses_dataset_options_with_transcripts(
    option: list[str], tmp_path: Path, monkeypatch, capsys
) -> None:
    """Regression: `mtmm predict --transcripts FILE --dataset mosi --data-dir DIR` predicted the
    transcripts, the dataset options ignored without a word."""

    def no_work(*args):
        raise AssertionError("the work started")

    transcripts = tmp_path / "t.csv"
    transcripts.write_text("video_id,segment_id,text\nv1,0,I loved it\n")
    monkeypatch.setattr("mtmm_es.pipeline.training.predict_transcripts", no_work)
    assert cli.main(["predict", "--transcripts", str(transcripts), *option, "--out", str(tmp_path / "p.csv")]) == 2
    assert capsys.readouterr().err == f"error: {option[0]}: for predictions on a dataset, not with --transcripts\n"


def test_predict_does_not_overwrite_its_transcripts(tmp_path: Path) -> None:
    transcripts = tmp_path / "t.csv"
    transcripts.write_text("video_id,segment_id,text\nv1,0,I loved it\n")
    before = transcripts.read_bytes()
    result = mtmm("predict", "--transcripts", str(transcripts), "--out", str(transcripts))
    assert "input" in one_line_error(result) and transcripts.read_bytes() == before
    assert "is a folder" in one_line_error(mtmm("predict", "--transcripts", str(transcripts), "--out", str(tmp_path)))


class _Instant:
    """A Pipeline stand-in for where labels go: no models, an empty result at once."""

    def __init__(self, *args) -> None:
        pass

    def analyze(self, media: str) -> VideoResult:
        model = ModelInfo("ckpt", None, ("sentiment",), ("text",), 1, "f1")
        return VideoResult(Source(media, "0" * 64, 1.0), model, {}, ())


def test_a_pipe_as_out_is_refused_and_a_link_is_written_through(
    tmp_path: Path, fixture_video: Path, monkeypatch, capsys
) -> None:
    """Regression: the atomic write (a temporary file renamed over --out) replaced a named pipe with
    a regular file, and a symbolic link with a file, leaving its target as it was."""
    monkeypatch.setattr("mtmm_es.pipeline.analyze.Pipeline", _Instant)
    pipe = tmp_path / "pipe.json"
    os.mkfifo(pipe)
    assert cli.analyze_video([str(fixture_video), "--out", str(pipe)]) == 2
    assert capsys.readouterr().err == (
        f"error: {pipe}: is not a regular file (a named pipe); give --out a file name, or --out - for standard output\n"
    )
    assert stat.S_ISFIFO(pipe.lstat().st_mode)
    target, link = tmp_path / "kept" / "labels.json", tmp_path / "link.json"
    target.parent.mkdir()
    target.write_text("old labels")
    link.symlink_to(target)
    assert cli.analyze_video([str(fixture_video), "--out", str(link)]) == 0, capsys.readouterr().err
    assert link.is_symlink() and json.loads(target.read_text())["utterances"] == []
    from mtmm_es.pipeline.destinations import special_kind

    assert special_kind(os.stat(os.devnull).st_mode) == "a device"  # (its stat read, nothing written there)


def test_report_never_replaces_the_labels(tmp_path: Path, fixture_video: Path) -> None:
    result = analyze(str(fixture_video), "--out", str(tmp_path / "labels.html"), "--format", "json", "--report")
    assert "replace the labels" in one_line_error(result)
    # regression: the report's subtitles (k.vtt) replaced JSON labels written to k.vtt
    result = analyze(str(fixture_video), "--out", str(tmp_path / "k.vtt"), "--format", "json", "--report")
    assert "replace the labels" in one_line_error(result) and not (tmp_path / "k.vtt").exists()


def test_neither_labels_nor_report_overwrite_the_segments_file(tmp_path: Path, fixture_video: Path) -> None:
    """Regression: talk.vtt given as --segments beside talk.mp4 was replaced by the report's
    subtitles (--out talk.json --report) or by the labels (--out talk.vtt), without a word."""
    segments = tmp_path / "talk.vtt"
    segments.write_text("WEBVTT\n\n00:00.500 --> 00:03.000\nI loved this movie\n")
    before = segments.read_bytes()
    for out in (["--out", str(tmp_path / "talk.json"), "--report"], ["--out", str(segments)]):
        result = analyze(str(fixture_video), "--segments", str(segments), *out, "--no-cache")
        assert one_line_error(result).startswith(f"error: {segments}: ") and "input" in one_line_error(result)
        assert segments.read_bytes() == before and not (tmp_path / "talk.json").exists()


def test_existing_folder_as_single_output_is_refused_up_front(tmp_path: Path, fixture_video: Path) -> None:
    result = analyze(str(fixture_video), "--out", str(tmp_path), "--no-cache")
    assert "is a folder" in one_line_error(result)


def test_a_file_and_a_folder_mistaken_for_each_other_are_refused_up_front(tmp_path: Path, fixture_video: Path) -> None:
    """Regression: `--out new/` (one input) wrote a file named "new"; a folder of inputs with
    `--out x.json` made a folder named x.json; a folder given as --segments was "file not found"."""
    assert "ends with /" in one_line_error(analyze(str(fixture_video), "--out", f"{tmp_path / 'new'}/"))
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(fixture_video, videos / "talk.mp4")
    assert "names a labels file" in one_line_error(analyze(str(videos), "--out", str(tmp_path / "x.json")))
    refused = one_line_error(analyze(str(fixture_video), "--out", "x.json", "--segments", str(videos)))
    assert f"a folder, not a file: {videos}" in refused
    assert not (tmp_path / "new").exists() and not (tmp_path / "x.json").exists()
    for options in (["--recursive"], ["--out", f"{tmp_path / 'o'}/"]):  # (review) a mistyped folder
        assert one_line_error(analyze(f"{tmp_path / 'videoz'}/", "--out", "o.json", *options)).endswith("not found\n")


def test_a_pipe_given_as_an_input_file_is_not_a_regular_file(tmp_path: Path, fixture_video: Path) -> None:
    """Regression: --segments naming a named pipe or a device (/dev/zero) said "file not found"."""
    pipe = tmp_path / "windows.srt"
    os.mkfifo(pipe)
    refused = one_line_error(analyze(str(fixture_video), "--out", str(tmp_path / "x.json"), "--segments", str(pipe)))
    assert refused.endswith(f"argument --segments: not a regular file (a pipe or device): {pipe}\n")


def test_a_name_past_the_length_limit_is_refused_up_front_and_a_report_s_is_shortened(
    tmp_path: Path, fixture_video: Path
) -> None:
    """Regression: an --out name (or a folder name in it) over 255 bytes was an "unexpected OSError",
    and a report beside labels with a name near the limit failed on its pictures after the analysis."""
    from mtmm_es.pipeline.destinations import plan_single, report_files

    videos, long = tmp_path / "videos", "z" * 256
    videos.mkdir()
    shutil.copy(fixture_video, videos / "talk.mp4")
    for media, out in ((fixture_video, f"{long}.json"), (fixture_video, f"{long}/x.json"), (videos, long)):
        refused = one_line_error(analyze(str(media), "--out", str(tmp_path / out)))
        assert (
            refused.startswith(f"error: {tmp_path / out}: ")
            and "bytes long, past the file system limit of 255" in refused
        )
    assert not list(tmp_path.glob("z*"))
    plan = plan_single(str(fixture_video), str(tmp_path / f"{long[:250]}.srt"), None, report=True)
    assert all(len(path.name) <= 255 for path in report_files(plan.report))


def test_stdout_that_closes_or_is_closed_and_a_folder_to_stdout(tmp_path: Path, fixture_video: Path) -> None:
    """Regressions: a reader that left early (| head) gave "unexpected BrokenPipeError" (exit 1), a
    closed stdout "unexpected AttributeError", and a folder run with --out - wrote into a folder "-"."""
    code = "import sys; from mtmm_es.cli import analyze_video; sys.exit(analyze_video())"
    args = [sys.executable, "-c", code, str(fixture_video), "--out", "-", "-q"]
    reader = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    reader.stdout.close()  # the reader leaves before the labels are written
    assert reader.wait() == 141 and reader.stderr.read() == b""
    closed = subprocess.run(["bash", "-c", '"$@" >&-', "bash", *args], capture_output=True, text=True, cwd=tmp_path)
    assert closed.returncode == 2 and closed.stderr == "error: stdout is closed: give --out a file\n"
    result = analyze(str(fixture_video.parent), "--out", "-")
    assert "--out - (stdout) is for one file's labels" in one_line_error(result) and not (ROOT / "-").exists()


class _FullDisk:
    """A standard output on a full disk."""

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    flush = write


def test_stdout_on_a_full_disk_is_one_line(fixture_video: Path, monkeypatch, capsys) -> None:
    """Regression: `--out - > /dev/full` was "unexpected OSError: [Errno 28] ..." (exit 1); it is
    reported as a file that cannot be written is."""
    monkeypatch.setattr("mtmm_es.pipeline.analyze.Pipeline", _Instant)
    monkeypatch.setattr(sys, "stdout", _FullDisk())
    assert cli.analyze_video([str(fixture_video), "--out", "-"]) == 2
    assert capsys.readouterr().err == "error: -: cannot write standard output (No space left on device)\n"


def test_quiet_keeps_warnings_when_stderr_is_not_a_terminal() -> None:
    """Regression: -q dropped warnings too when stderr was a file or a pipe (it meant errors only)."""
    try:
        cli.configure_logging(0, 1)
        assert cli.log.level == logging.WARNING
        cli.configure_logging(0, 2)
        assert cli.log.level == logging.ERROR
    finally:
        cli.configure_logging(0, 0)


def test_report_to_stdout_is_refused(tmp_path: Path, fixture_video: Path) -> None:
    assert "--report" in one_line_error(analyze(str(fixture_video), "--out", "-", "--report"))


def test_unknown_out_extension_asks_for_a_format(tmp_path: Path, fixture_video: Path) -> None:
    assert "--format" in one_line_error(analyze(str(fixture_video), "--out", str(tmp_path / "labels.txt")))


@pytest.mark.slow
def test_format_follows_the_out_extension(tmp_path: Path, fixture_video: Path, cache_dir: Path) -> None:
    out = tmp_path / "talk.SRT"
    result = analyze(str(fixture_video), "--out", str(out), "--cache-dir", str(cache_dir), "-v")
    assert result.returncode == 0, result.stderr
    assert "extracting features" in result.stderr  # progress of a single file, on stderr
    subtitles = pysubs2.SSAFile.from_string(out.read_text(), format_="srt")
    assert len(subtitles) >= 3 and subtitles[0].plaintext.startswith("[")


@pytest.mark.slow
def test_full_disk_is_one_line_naming_the_file(
    tmp_path: Path, fixture_video: Path, cache_dir: Path, monkeypatch, capsys
) -> None:
    out = tmp_path / "labels.json"
    real_fsync = os.fsync

    def full(fd: int) -> None:
        if Path(os.readlink(f"/proc/self/fd/{fd}")).parent == tmp_path:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full)
    code = cli.analyze_video([str(fixture_video), "--out", str(out), "--cache-dir", str(cache_dir)])
    error = capsys.readouterr().err
    assert code == 2 and error == f"error: {out}: cannot write (No space left on device)\n"
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))


def test_file_name_with_a_newline_stays_on_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "two\nlines.mp4"
    bad.write_bytes(b"\x00" * 100)
    error = one_line_error(analyze(str(bad), "--out", str(tmp_path / "x.json")))
    assert "'" in error and "two\\nlines.mp4" in error


# --- the output path policy, folders ---


def test_empty_folder_or_glob_matching_nothing_is_an_error(tmp_path: Path, fixture_video: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no media files" in one_line_error(analyze(str(empty), "--out", str(tmp_path / "out")))
    shutil.copy(fixture_video, empty / "talk.mp4")
    result = analyze(str(empty), "--out", str(tmp_path / "out"), "--glob", "*.mkv")
    assert "no media files matching '*.mkv'" in one_line_error(result)


def test_mts_and_upper_case_extensions_are_found(tmp_path: Path) -> None:
    for name in ("a.MTS", "b.mts", "c.MP4", "d.m2ts", "notes.TXT"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in find_inputs(tmp_path)] == ["a.MTS", "b.mts", "c.MP4", "d.m2ts"]
    assert [p.name for p in find_inputs(tmp_path, pattern="*.MTS")] == ["a.MTS", "b.mts"]


def test_existing_file_as_folder_output_is_refused(tmp_path: Path, fixture_video: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(fixture_video, folder / "talk.mp4")
    (tmp_path / "out").write_text("a file")
    assert "cannot create the output folder" in one_line_error(analyze(str(folder), "--out", str(tmp_path / "out")))


@pytest.fixture()
def tricky_folder(tmp_path: Path, fixture_video: Path) -> Path:
    """Inputs whose safe names collide, and one whose name is not UTF-8."""
    root = tmp_path / "tricky"
    root.mkdir()
    shutil.copy(fixture_video, root / "talk: part 1.mp4")
    shutil.copy(fixture_video, root / "talk_ part 1.mp4")
    shutil.copy(fixture_video, os.path.join(os.fsencode(root), b"caf\xe9.mp4"))
    return root


@pytest.mark.slow
def test_folder_run_keeps_every_output_and_resumes_by_content(tricky_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cache = tmp_path / "cold-cache"  # the non-UTF-8 name (sorted first) is decoded, not found in a cache
    run = ("--out", str(out), "--workers", "1", "--cache-dir", str(cache), "--format", "csv")
    result = analyze(str(tricky_folder), *run)
    assert result.returncode == 0, result.stderr
    assert "3 processed, 0 skipped, 0 failed" in result.stdout
    outputs = sorted(p.name for p in out.glob("*.csv") if p.name != "mtmm-labels.csv")
    assert len(outputs) == 3 and "talk_ part 1.mp4.csv" in outputs, outputs
    records = sorted(p.name for p in (out / ".mtmm").iterdir())
    assert len(records) == 3 and all(name.endswith(".csv.record") for name in records)
    summary = json.loads((out / "mtmm-summary.json").read_text(encoding="utf-8"))
    assert "caf\\xe9.mp4" in [f["input"] for f in summary["files"]]

    combined = (out / "mtmm-labels.csv").read_text().splitlines()
    assert combined[0] == ",".join(CSV_COLUMNS)
    files = {line.split(",")[0] for line in combined[1:]}
    assert len(files) == 3

    truncated = out / "talk_ part 1.mp4.csv"
    truncated.write_bytes(b"")
    (out / ".mtmm" / records[0]).write_text("null")
    again = analyze(str(tricky_folder), *run)
    assert "2 processed, 1 skipped, 0 failed" in again.stdout, again.stdout + again.stderr
    assert truncated.stat().st_size > 0


@pytest.mark.slow
def test_full_disk_fails_that_file_with_its_name(
    folder_of_two: Path, tmp_path: Path, cache_dir: Path, monkeypatch
) -> None:
    from mtmm_es.pipeline import ExtractionConfig
    from mtmm_es.pipeline.batch import BatchOptions, run_batch

    out = tmp_path / "out"
    real_fsync = os.fsync

    def full(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(out / ".b.mp4.json.")):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full)
    summary = run_batch(folder_of_two, out, BatchOptions(), ExtractionConfig(cache_dir=str(cache_dir)), progress=False)
    reasons = {o.input: (o.status, o.reason) for o in summary.outcomes}
    assert reasons["a.mp4"][0] == "processed"
    assert reasons["b.mp4"] == ("failed", f"{out / 'b.mp4.json'}: cannot write (No space left on device)")
    jsonschema.validate(json.loads((out / "a.mp4.json").read_text()), schema())


@pytest.fixture()
def folder_of_two(tmp_path: Path, fixture_video: Path) -> Path:
    root = tmp_path / "two"
    root.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(fixture_video, root / name)
    return root


def test_segmentation_options_with_segments_say_they_are_not_used(
    tmp_path: Path, fixture_video: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Regression: --pause, --max-utterance, ... were accepted with --segments and silently ignored."""
    segments = tmp_path / "windows.csv"
    segments.write_text("start,end\n0.1,4.4\n")
    parser = cli.build_analyze_parser()
    given = [str(fixture_video), "--out", "x.json", "--segments", str(segments)]
    with caplog.at_level("WARNING"):
        cli.extraction_config(parser.parse_args([*given, "--pause", "5", "--max-utterance", "3"]))
        assert "--pause, --max-utterance: not used with --segments" in caplog.text
        caplog.clear()
        cli.extraction_config(parser.parse_args(given))
        assert "not used with --segments" not in caplog.text
