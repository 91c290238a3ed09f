"""Folders: mirrored outputs, isolation of failures, resume, interruption, concurrency, formats,
reports, parallel workers, Ray, and the Python API's analyze_many."""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pysubs2
import pytest
from helpers import ffmpeg

from mtmm_es.core.errors import MtmmError
from mtmm_es.core.labels import CSV_COLUMNS
from mtmm_es.extractors.visual import VisualConfig
from mtmm_es.pipeline import ExtractionConfig
from mtmm_es.pipeline.analyze import Pipeline, default_checkpoint_dir, schema
from mtmm_es.pipeline.batch import BatchOptions, find_inputs, run_batch
from mtmm_es.pipeline.destinations import (
    check_file_output,
    folder_outputs,
    report_files,
    report_path,
    safe_relative,
)
from mtmm_es.pipeline.formats import render
from mtmm_es.pipeline.report import write_report


@pytest.fixture()
def folder(tmp_path: Path, fixture_video: Path) -> Path:
    root = tmp_path / "videos"
    (root / "nested").mkdir(parents=True)
    shutil.copy(fixture_video, root / "talk.mp4")
    shutil.copy(fixture_video, root / "nested" / "späti café.mp4")
    (root / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    (root / "notes.txt").write_text("not media")
    return root


def cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    code = "import sys, cli; sys.exit(cli.analyze_video())"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, **kwargs)


def test_outputs_are_redone_when_the_checkpoint_config_or_a_labelling_option_changes(tmp_path: Path) -> None:
    """Thresholds and the sarcasm base rate live in config.json, not in the weights: a run with an
    edited config.json, or another --sarcasm-base-rate, must not skip files as up to date."""
    from mtmm_es.pipeline.analyze import default_checkpoint_dir
    from mtmm_es.pipeline.batch import run_fingerprint

    checkpoint = tmp_path / "ckpt"
    shutil.copytree(default_checkpoint_dir(), checkpoint)
    before = run_fingerprint(ExtractionConfig(), str(checkpoint), "json", False, None)
    assert run_fingerprint(ExtractionConfig(), str(checkpoint), "json", False, None, 0.5) != before
    config = json.loads((checkpoint / "config.json").read_text())
    config["sarcasm_base_rate"]["reported"] = 0.2
    (checkpoint / "config.json").write_text(json.dumps(config))
    assert run_fingerprint(ExtractionConfig(), str(checkpoint), "json", False, None) != before


def test_outputs_are_redone_when_a_file_an_option_names_changes(tmp_path: Path) -> None:
    """Regression: the fingerprint named --segments (and the model and vector files) by path only,
    so a folder run after editing the segments file kept the old windows' labels as up to date."""
    from mtmm_es.pipeline.batch import run_fingerprint

    segments = tmp_path / "segments.csv"
    segments.write_text("start,end\n0.0,4.5\n")
    config = ExtractionConfig(segments=str(segments))
    before = run_fingerprint(config, None, "json", False, None)
    assert run_fingerprint(config, None, "json", False, None) == before
    segments.write_text("start,end\n0.0,2.0\n2.0,4.5\n")
    os.utime(segments, ns=(segments.stat().st_atime_ns, segments.stat().st_mtime_ns + 1_000_000_000))
    assert run_fingerprint(config, None, "json", False, None) != before
    weights = tmp_path / "store" / "weights"  # a model folder that links a subfolder of its files
    weights.mkdir(parents=True)
    (weights / "model.bin").write_bytes(b"1")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights").symlink_to(weights)
    linked = ExtractionConfig(visual=VisualConfig(model=str(tmp_path / "model")))
    before = run_fingerprint(linked, None, "json", False, None)
    (weights / "model.bin").write_bytes(b"22")
    assert run_fingerprint(linked, None, "json", False, None) != before


def test_outputs_made_without_the_speaker_encoder_are_redone_once_it_is_installed(monkeypatch) -> None:
    """Regression: whether resemblyzer was installed was not part of the fingerprint, so outputs
    labelled without speakers stayed up to date after the user installed it as the warning said."""
    from mtmm_es.pipeline import config
    from mtmm_es.pipeline.batch import run_fingerprint

    installed = run_fingerprint(ExtractionConfig(), None, "json", False, None)

    def missing():
        raise MtmmError("the speaker encoder is missing")

    monkeypatch.setattr(config, "bundled_weights", missing)
    assert run_fingerprint(ExtractionConfig(), None, "json", False, None) != installed


def test_a_folder_run_embeds_the_video_in_each_report_and_clears_report_leftovers(
    tmp_path: Path, fixture_video: Path, cache_dir: Path
) -> None:
    """Regression: --embed-video was dropped for a folder (its reports linked the source), and the
    temporary files of a killed report write were never removed."""
    videos, out = tmp_path / "videos", tmp_path / "out"
    videos.mkdir()
    out.mkdir()
    shutil.copy(fixture_video, videos / "talk.mp4")
    stale = out / ".talk.mp4.timeline.png.k1ll3d_x.tmp"
    stale.write_bytes(b"\x89PNG")
    os.utime(stale, (time.time() - 3700, time.time() - 3700))
    extraction = ExtractionConfig(cache_dir=str(cache_dir))
    with pytest.raises(MtmmError, match="needs --report"):
        BatchOptions(embed_video=True)
    options = BatchOptions(workers=1, report=True, embed_video=True)
    summary = run_batch(videos, out, options, extraction, progress=False)
    assert summary.counts()["processed"] == 1
    assert "data:video/webm;base64," in (out / "talk.mp4.html").read_text(encoding="utf-8")
    assert not stale.exists()
    linked = run_batch(videos, out, BatchOptions(workers=1, report=True), extraction, progress=False)
    assert linked.counts()["processed"] == 1  # the report option is part of the fingerprint
    assert "data:video/webm;base64," not in (out / "talk.mp4.html").read_text(encoding="utf-8")
    result = cli(str(fixture_video), "--out", str(tmp_path / "talk.json"), "--embed-video")
    assert result.returncode == 2 and "needs --report" in result.stderr and not (tmp_path / "talk.json").exists()


def test_outputs_written_by_another_version_of_mtmm_es_are_redone(
    tmp_path: Path, fixture_video: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch, capfd
) -> None:
    """Regression: the record's fingerprint left out mtmm-es's version, so after an upgrade a folder
    run kept the old version's labels as up to date. And run_batch, a library call, drew a progress
    bar on stderr unless told not to."""
    import mtmm_es.pipeline.batch as batch

    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(fixture_video, videos / "talk.mp4")
    extraction = ExtractionConfig(cache_dir=str(cache_dir))
    capfd.readouterr()
    first = run_batch(videos, tmp_path / "out", BatchOptions(workers=1), extraction)
    assert capfd.readouterr().err == ""  # nothing in the library prints
    again = run_batch(videos, tmp_path / "out", BatchOptions(workers=1), extraction, progress=False)
    monkeypatch.setattr(batch, "own_version", lambda: "99.0.0")
    upgraded = run_batch(videos, tmp_path / "out", BatchOptions(workers=1), extraction, progress=False)
    assert [s.counts() for s in (first, again, upgraded)] == [
        {"processed": 1, "skipped": 0, "failed": 0},
        {"processed": 0, "skipped": 1, "failed": 0},
        {"processed": 1, "skipped": 0, "failed": 0},
    ]


def test_outputs_of_a_moved_input_folder_are_redone(tmp_path: Path, fixture_video: Path, cache_dir: Path) -> None:
    """Regression: after the input folder was moved, the outputs (which name the input's path) were
    skipped as up to date and kept pointing at the old place."""
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(fixture_video, videos / "talk.mp4")
    extraction = ExtractionConfig(cache_dir=str(cache_dir))
    options = BatchOptions(workers=1, format="csv")
    run_batch(videos, tmp_path / "out", options, extraction, progress=False)
    moved = videos.rename(tmp_path / "moved")
    again = run_batch(moved, tmp_path / "out", options, extraction, progress=False)
    assert [o.status for o in again.outcomes] == ["processed"]
    assert f"{moved / 'talk.mp4'}," in (tmp_path / "out" / "talk.mp4.csv").read_text()
    assert [o.status for o in run_batch(moved, tmp_path / "out", options, extraction).outcomes] == ["skipped"]


def test_a_second_folder_run_in_one_process_reads_the_edited_segments_file(
    tmp_path: Path, fixture_video: Path, cache_dir: Path
) -> None:
    """Regression: the process kept the Pipeline of the first run, built from the segments file as
    it then was, so the second run redid the output with the old windows and recorded it as up to
    date with the new file."""
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(fixture_video, videos / "talk.mp4")
    segments = tmp_path / "segments.csv"
    segments.write_text("start,end\n0.1,4.4\n")
    extraction = ExtractionConfig(segments=str(segments), cache_dir=str(cache_dir))
    options = BatchOptions(workers=1)

    def windows() -> list[tuple[float, float]]:
        labels = json.loads((tmp_path / "out" / "talk.mp4.json").read_text())
        return [(u["start"], u["end"]) for u in labels["utterances"]]

    run_batch(videos, tmp_path / "out", options, extraction, progress=False)
    assert windows() == [(0.1, 4.4)]
    segments.write_text("start,end\n0.1,4.4\n5.0,8.5\n")
    os.utime(segments, ns=(segments.stat().st_atime_ns, segments.stat().st_mtime_ns + 1_000_000_000))
    again = run_batch(videos, tmp_path / "out", options, extraction, progress=False)
    assert [o.status for o in again.outcomes] == ["processed"]
    assert windows() == [(0.1, 4.4), (5.0, 8.5)]


def test_the_combined_csv_keeps_inputs_whose_printed_names_are_alike(
    tmp_path: Path, fixture_video: Path, cache_dir: Path
) -> None:
    """Regression: the combined CSV took inputs by their printable name, so a name with a byte that is
    not UTF-8 (printed as \\xff) and a name spelling out that escape kept only one of the two."""
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(fixture_video, os.fsdecode(bytes(videos) + b"/a\xff.mp4"))
    shutil.copy(fixture_video, videos / "a\\xff.mp4")
    extraction = ExtractionConfig(cache_dir=str(cache_dir))
    run = run_batch(videos, tmp_path / "out", BatchOptions(workers=1, format="csv"), extraction, progress=False)
    assert [o.status for o in run.outcomes] == ["processed", "processed"]
    per_file = [p for p in (tmp_path / "out").iterdir() if p.name.startswith("a_")]  # names made safe
    rows = sum(len(p.read_bytes().splitlines()) - 1 for p in per_file)
    combined = (tmp_path / "out" / "mtmm-labels.csv").read_bytes().splitlines()
    assert len(per_file) == 2 and len(combined) == rows + 1


def test_an_input_that_now_fails_loses_the_labels_of_what_it_was(
    tmp_path: Path, fixture_video: Path, cache_dir: Path
) -> None:
    """Regression: an input replaced by a damaged file failed, yet the labels of the old file stayed
    beside it, and the summary's "output" named them."""
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(fixture_video, videos / "talk.mp4")
    extraction = ExtractionConfig(cache_dir=str(cache_dir))
    options = BatchOptions(workers=1, report=True)
    run_batch(videos, tmp_path / "out", options, extraction, progress=False)
    assert (tmp_path / "out" / "talk.mp4.json").is_file() and (tmp_path / "out" / "talk.mp4.html").is_file()
    (videos / "talk.mp4").write_text("not a video any more")
    again = run_batch(videos, tmp_path / "out", options, extraction, progress=False)
    assert [(o.status, o.output) for o in again.outcomes] == [("failed", None)]
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.name.startswith("talk")) == []
    assert not list((tmp_path / "out" / ".mtmm").glob("talk*"))
    (videos / "talk.mp4").unlink()  # (review) an input that cannot be read now keeps its labels
    (videos / "gone.mp4").symlink_to(tmp_path / "unmounted" / "gone.mp4")
    (tmp_path / "unmounted").mkdir()
    shutil.copy(fixture_video, tmp_path / "unmounted" / "gone.mp4")
    run_batch(videos, tmp_path / "out", options, extraction, progress=False)
    (tmp_path / "unmounted").rename(tmp_path / "away")
    absent = run_batch(videos, tmp_path / "out", options, extraction, progress=False)
    assert [o.status for o in absent.outcomes] == ["failed"] and (tmp_path / "out" / "gone.mp4.json").is_file()


def test_a_skipped_file_keeps_its_warnings_in_the_run_summary(
    tmp_path: Path, fixture_video: Path, cache_dir: Path
) -> None:
    """Regression: on a resumed run the summary gave a skipped file only "up to date", losing the
    warnings (here: a damaged file) of the run that wrote its labels."""
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "cut.mp4").write_bytes(fixture_video.read_bytes()[:100_000])
    extraction = ExtractionConfig(cache_dir=str(cache_dir))
    first = run_batch(videos, tmp_path / "out", BatchOptions(workers=1), extraction, progress=False)
    again = run_batch(videos, tmp_path / "out", BatchOptions(workers=1), extraction, progress=False)
    assert [o.status for o in first.outcomes + again.outcomes] == ["processed", "skipped"]
    assert "truncated or damaged" in first.outcomes[0].reason
    assert again.outcomes[0].reason == f"up to date; {first.outcomes[0].reason}"


def test_a_folder_run_labels_at_the_given_sarcasm_base_rate(
    tmp_path: Path, fixture_video: Path, cache_dir: Path
) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(fixture_video, videos / "talk.mp4")
    with pytest.raises(MtmmError, match="sarcasm base rate 1.5 is not a share between 0 and 1"):
        run_batch(videos, tmp_path / "bad", progress=False, sarcasm_base_rate=1.5)
    assert not (tmp_path / "bad").exists()  # refused before any work
    extraction = ExtractionConfig(cache_dir=str(cache_dir))
    run_batch(videos, tmp_path / "out", BatchOptions(workers=1), extraction, progress=False, sarcasm_base_rate=0.3)
    assert json.loads((tmp_path / "out" / "talk.mp4.json").read_text())["model"]["sarcasm_base_rate"] == 0.3


def test_thresholds_a_checkpoint_lacks_are_refused_before_a_folder_run(tmp_path: Path, fixture_video: Path) -> None:
    """Each worker used to fail every file with the same cause, after the output folder was made."""
    checkpoint = tmp_path / "f1-only"
    shutil.copytree(default_checkpoint_dir(), checkpoint)
    config = json.loads((checkpoint / "config.json").read_text())
    del config["thresholds"]["emotion_wacc"]
    (checkpoint / "config.json").write_text(json.dumps(config))
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(fixture_video, videos / "talk.mp4")
    message = f"{checkpoint}: the checkpoint has no 'wacc' emotion thresholds (it has: f1)"
    with pytest.raises(MtmmError) as error:
        run_batch(videos, tmp_path / "out", checkpoint=str(checkpoint), emotion_thresholds="wacc", progress=False)
    assert str(error.value) == message and not (tmp_path / "out").exists()
    args = ("--checkpoint", str(checkpoint), "--emotion-thresholds", "wacc")
    result = cli(str(videos), "--out", str(tmp_path / "out"), *args)
    assert result.returncode == 2 and result.stderr == f"error: {message}\n"


@pytest.mark.parametrize("option", ["segments", "asr_model"])
def test_a_bad_segments_file_or_asr_model_is_refused_before_a_folder_run(
    tmp_path: Path, fixture_video: Path, option: str
) -> None:
    """Regression: a folder run failed every file with the same cause (and built a pipeline per
    file to find it), where a single file's run refuses the option at once."""
    from mtmm_es.extractors.asr import AsrConfig

    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(fixture_video, videos / "talk.mp4")
    segments = tmp_path / "bad.csv"
    segments.write_text("start,end\n0,nan\n")
    if option == "segments":
        extraction, message = ExtractionConfig(segments=str(segments)), f"{segments}: line 2: start and end"
    else:
        extraction, message = ExtractionConfig(asr=AsrConfig(model=str(tmp_path))), f"{tmp_path}: not a CTranslate2"
    with pytest.raises(MtmmError) as error:
        run_batch(videos, tmp_path / "out", extraction=extraction, progress=False)
    assert str(error.value).startswith(message) and not (tmp_path / "out").exists()


def test_a_folder_run_never_writes_over_the_segments_file_it_reads(tmp_path: Path, fixture_video: Path) -> None:
    """Regression: our labelled subtitles, edited and given back as --segments to a folder run into
    the same output folder, were replaced by the new labels."""
    videos, out = tmp_path / "videos", tmp_path / "labels"
    videos.mkdir()
    out.mkdir()
    shutil.copy(fixture_video, videos / "talk.mp4")
    segments = out / "talk.mp4.vtt"
    segments.write_text("WEBVTT\n\n00:00.500 --> 00:03.000\nI loved this movie\n")
    before = segments.read_bytes()
    with pytest.raises(MtmmError, match="an output of this run names an input file; refusing to overwrite it"):
        run_batch(videos, out, BatchOptions(format="vtt"), ExtractionConfig(segments=str(segments)), progress=False)
    assert segments.read_bytes() == before


def test_inputs_are_found_and_named_safely(folder: Path, tmp_path: Path) -> None:
    assert [p.name for p in find_inputs(folder)] == ["corrupt.mp4", "talk.mp4"]
    (folder / "gone.mp4").symlink_to(tmp_path / "moved-away.mp4")  # regression: vanished from the run
    assert [p.name for p in find_inputs(folder)] == ["corrupt.mp4", "gone.mp4", "talk.mp4"]
    summary = run_batch(folder, tmp_path / "out", BatchOptions(workers=1, pattern="gone*"), progress=False)
    assert [(o.input, o.status) for o in summary.outcomes] == [("gone.mp4", "failed")]
    assert "not found" in summary.outcomes[0].reason
    assert [p.name for p in find_inputs(folder, recursive=True, pattern="*é*")] == ["späti café.mp4"]
    outputs = folder_outputs([folder / "nested" / "späti café.mp4"], folder, Path("/out"), "json")
    assert outputs[folder / "nested" / "späti café.mp4"] == Path("/out/nested/späti café.mp4.json")
    assert safe_relative(folder / "a|b?.mp4", folder) == Path("a_b_.mp4")


def test_linked_subfolders_and_every_audio_suffix_are_found(folder: Path, tmp_path: Path) -> None:
    """Regression: --recursive never entered a linked subfolder, and .aiff, .caf and .oga files (which
    a single-file run reads) were left out of folder runs, not even named in the summary."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name in ("take.aiff", "memo.caf", "voice.oga"):
        (elsewhere / name).write_bytes(b"")
    (folder / "linked").symlink_to(elsewhere)
    (elsewhere / "loop").symlink_to(folder)  # a link back up: entered once, no loop
    found = [p.relative_to(folder).as_posix() for p in find_inputs(folder, recursive=True)]
    assert found == [
        "corrupt.mp4",
        "linked/memo.caf",
        "linked/take.aiff",
        "linked/voice.oga",
        "nested/späti café.mp4",
        "talk.mp4",
    ]


def test_a_folder_run_shows_each_files_warnings(tmp_path: Path, cache_dir: Path) -> None:
    """Regression: a folder run said "1 processed" and kept a file's warnings ("no speech found")
    to mtmm-summary.json; one file's run prints them."""
    folder = tmp_path / "in"
    folder.mkdir()
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "3", str(folder / "quiet room.wav"))
    args = (str(folder), "--out", str(tmp_path / "labels"), "--workers", "1", "--cache-dir", str(cache_dir))
    result = cli(*args)
    assert result.returncode == 0 and "1 processed, 0 skipped, 0 failed" in result.stdout
    assert "quiet room.wav: no speech found: 0 utterances" in result.stderr, result.stderr
    assert "no speech" not in cli(*args, "--overwrite", "-qq").stderr


@pytest.mark.slow
def test_folder_run_isolates_failures_and_resumes(folder: Path, tmp_path: Path, cache_dir: Path) -> None:
    out = tmp_path / "labels"
    result = cli(str(folder), "--out", str(out), "--recursive", "--workers", "1", "--cache-dir", str(cache_dir))
    assert result.returncode == 1, result.stderr  # one file failed
    assert "failed: corrupt.mp4: not a readable media file" in result.stderr and "Traceback" not in result.stderr
    assert "2 processed, 0 skipped, 1 failed" in result.stdout
    for name in ("talk.mp4.json", "nested/späti café.mp4.json"):
        jsonschema.validate(json.loads((out / name).read_text()), schema())
    summary = json.loads((out / "mtmm-summary.json").read_text())
    assert summary["counts"] == {"processed": 2, "skipped": 0, "failed": 1}

    again = cli(str(folder), "--out", str(out), "--recursive", "--workers", "1", "--cache-dir", str(cache_dir))
    assert "0 processed, 2 skipped, 1 failed" in again.stdout
    (folder / "talk.mp4").write_bytes((folder / "talk.mp4").read_bytes() + b"\x00")  # the input changed
    changed = cli(str(folder), "--out", str(out), "--recursive", "--cache-dir", str(cache_dir))
    assert "1 processed, 1 skipped, 1 failed" in changed.stdout
    forced = cli(str(folder), "--out", str(out), "--recursive", "--overwrite", "--cache-dir", str(cache_dir))
    assert "2 processed, 0 skipped, 1 failed" in forced.stdout


@pytest.mark.slow
def test_kill_minus_nine_loses_nothing_already_written(tmp_path: Path, fixture_video: Path, cache_dir: Path) -> None:
    root = tmp_path / "many"
    root.mkdir()
    for k in range(4):  # different bytes per file, so no cache hits make the run instant
        (root / f"clip{k}.mp4").write_bytes(fixture_video.read_bytes() + bytes(k))
    out = tmp_path / "out"
    code = "import sys, cli; sys.exit(cli.analyze_video())"
    args = [sys.executable, "-c", code, str(root), "--out", str(out), "--workers", "1", "--no-cache"]
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # a killed process cannot remove its temporary audio
    process = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env
    )
    sidecars, deadline = out / ".mtmm", time.time() + 120
    while time.time() < deadline and not (sidecars.is_dir() and any(sidecars.glob("*.record"))):
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    written = sorted(out.glob("*.mp4.json"))
    assert 1 <= len(written) < 4
    summary = json.loads((out / "mtmm-summary.json").read_text())  # regression: it said the run had ended
    assert summary["finished"] is False and summary["interrupted"] is False
    assert summary["counts"]["processed"] + len(summary["not_started"]) == 4
    for path in written:
        jsonschema.validate(json.loads(path.read_text()), schema())  # complete documents only
    # kill -9 can land inside an atomic write (the run summary is rewritten right after each record):
    # a hidden temporary file may remain, never taken for an output
    leftovers = [p.name for p in out.glob(".*.tmp")]
    assert all(name.startswith(".mtmm-summary.json.") for name in leftovers), leftovers
    # the next run removes such leftovers once they are old; never a live write of another run,
    # nor a file it did not write
    stale = sidecars / ".clip3.mp4.json.record.k1ll3d_x.tmp"
    live, foreign = out / ".clip3.mp4.json.wr1t1ng_.tmp", out / ".notes.txt.abcdefgh.tmp"
    for temp in (stale, live, foreign):
        temp.write_text("{")
    hour_ago = time.time() - 3700
    for temp in [stale, foreign, *out.glob(".mtmm-summary.json.*.tmp")]:
        os.utime(temp, (hour_ago, hour_ago))
    resumed = cli(str(root), "--out", str(out), "--workers", "1", "--cache-dir", str(cache_dir))
    assert f"{4 - len(written)} processed, {len(written)} skipped, 0 failed" in resumed.stdout
    assert "analyze-video:" not in resumed.stderr  # regression: a progress bar went to a stderr that is no terminal
    assert sorted(p.name for p in out.rglob(".*.tmp")) == sorted([live.name, foreign.name])


def test_an_input_with_a_name_near_the_length_limit_is_labelled_and_resumed(
    tmp_path: Path, fixture_video: Path, cache_dir: Path
) -> None:
    """Regression: the hidden temporary name (.NAME.XXXXXXXX.tmp) and the record (NAME.record) took a
    name of 242-255 bytes past the file system's limit: the run failed after the whole analysis."""
    from mtmm_es.core.files import remove_stale_temporaries

    videos = tmp_path / "videos"
    videos.mkdir()
    name = "y" * 240 + ".mp4"  # its output, NAME.json, is 249 bytes
    shutil.copy(fixture_video, videos / name)
    extraction = ExtractionConfig(cache_dir=str(cache_dir))
    first = run_batch(videos, tmp_path / "out", BatchOptions(workers=1), extraction, progress=False)
    again = run_batch(videos, tmp_path / "out", BatchOptions(workers=1), extraction, progress=False)
    assert [o.status for o in first.outcomes + again.outcomes] == ["processed", "skipped"]
    output = tmp_path / "out" / f"{name}.json"
    jsonschema.validate(json.loads(output.read_text()), schema())
    leftover = [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]
    assert leftover == []
    killed = output.parent / f".{'y' * 200}~0123456789abcdef.k1ll3d_x.tmp"  # not this name's digest
    killed.write_text("{")
    os.utime(killed, (time.time() - 3700, time.time() - 3700))
    assert remove_stale_temporaries([output]) == 0
    import tempfile

    from mtmm_es.core import files

    handle, own = tempfile.mkstemp(prefix=files._temp_prefix(output.name), suffix=".tmp", dir=output.parent)
    os.close(handle)
    os.utime(own, (time.time() - 3700, time.time() - 3700))
    assert remove_stale_temporaries([output]) == 1 and not Path(own).exists() and killed.exists()


def test_an_input_with_a_name_past_the_length_limit_gets_shortened_outputs_and_report(
    tmp_path: Path, fixture_video: Path, cache_dir: Path
) -> None:
    """Regression: an input name of 250+ bytes took its outputs (NAME.json, the report's page,
    subtitles and pictures) past the file system's limit: the run failed after the whole analysis.
    Their names are shortened between characters, with a digest of the whole, and resumed by."""
    videos, out = tmp_path / "videos", tmp_path / "out"
    videos.mkdir()
    name = "é" * 125 + ".mp4"  # 254 bytes
    shutil.copy(fixture_video, videos / name)
    options, extraction = BatchOptions(workers=1, report=True), ExtractionConfig(cache_dir=str(cache_dir))
    first = run_batch(videos, out, options, extraction, progress=False)
    again = run_batch(videos, out, options, extraction, progress=False)
    assert [o.status for o in first.outcomes + again.outcomes] == ["processed", "skipped"], first.outcomes
    written = sorted(p.name for p in out.iterdir() if p.is_file() and p.name != "mtmm-summary.json")
    assert len(written) == 5 and all(n.startswith("é" * 100) and len(n.encode("utf-8")) <= 255 for n in written)
    labels = out / next(n for n in written if n.endswith(".json"))
    jsonschema.validate(json.loads(labels.read_text(encoding="utf-8")), schema())
    assert {p.name for p in report_files(report_path(labels))} >= set(written) - {labels.name}


def test_a_live_temporary_file_renamed_while_listed_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: the clean-up looked twice at each temporary file (is_file, then stat); another
    run's live write renamed into place in between raised FileNotFoundError."""
    from mtmm_es.core.files import remove_stale_temporaries

    temp = tmp_path / ".talk.mp4.json.wr1t1ng_.tmp"
    temp.write_text("{")
    stat, looks = Path.stat, []

    def renamed_after_the_first_look(self: Path, **kwargs):
        if self == temp:
            looks.append(self)
            if len(looks) > 1:
                temp.unlink()
        return stat(self, **kwargs)

    monkeypatch.setattr(Path, "stat", renamed_after_the_first_look)
    assert remove_stale_temporaries([tmp_path / "talk.mp4.json"]) == 0 and looks


def test_an_output_folder_that_cannot_be_created_is_one_clear_error(folder: Path, tmp_path: Path) -> None:
    """Runs as root too: permissions do not stop root (CI), a file where the folder should be does."""
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a folder")
    for out in (blocker, blocker / "labels"):
        result = cli(str(folder), "--out", str(out))
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith(f"error: {out}: ")
    assert blocker.read_text() == "a file, not a folder"


def test_read_only_output_folder_under_root_is_refused_via_api(folder: Path, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "locked"
    out.mkdir()
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != out)
    with pytest.raises(MtmmError, match="output folder is not writable"):
        run_batch(folder, out, progress=False)


def test_a_folder_that_refuses_files_is_refused_before_any_work(fixture_video: Path) -> None:
    """Regression: the check asked access(), which says yes to root even where no file can be made
    (/proc), so analyze-video extracted and labelled for seconds, then failed to write."""
    out = Path("/proc/mtmm-labels.json")
    with pytest.raises(MtmmError, match="^/proc: output folder is not writable"):
        check_file_output(out, [fixture_video])


def test_two_runs_into_one_folder_both_complete(folder: Path, tmp_path: Path, cache_dir: Path) -> None:
    (folder / "corrupt.mp4").unlink()
    out = tmp_path / "shared-out"
    code = "import sys, cli; sys.exit(cli.analyze_video())"
    args = [sys.executable, "-c", code, str(folder), "--out", str(out), "--recursive", "--cache-dir", str(cache_dir)]
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert first.wait() == 0 and second.wait() == 0
    for name in ("talk.mp4.json", "nested/späti café.mp4.json"):
        jsonschema.validate(json.loads((out / name).read_text()), schema())
    assert json.loads((out / "mtmm-summary.json").read_text())["counts"]["failed"] == 0


@pytest.fixture(scope="module")
def result(cache_dir: Path, fixture_video: Path):
    return Pipeline(ExtractionConfig(cache_dir=str(cache_dir))).analyze(fixture_video)


def test_subtitle_formats_carry_the_labels(result) -> None:
    for fmt in ("srt", "vtt"):
        subtitles = pysubs2.SSAFile.from_string(render(result, fmt), format_=fmt)
        assert len(subtitles) == len(result.utterances)
        first = subtitles[0].plaintext
        assert first.startswith("[positive") or first.startswith("[negative")
        assert result.utterances[0].text in first and "sarcasm" in first
        assert subtitles[0].start == round(result.utterances[0].start * 1000)


def test_subtitles_keep_the_words_as_recognised(result) -> None:
    """Regression: pysubs2 read the words as its markup, so "{laugh}" vanished and a "\\N" in a
    transcript broke the line; in WebVTT, cue text is markup, so &, < and > are entities."""
    from dataclasses import replace

    words = r"I said {laugh} C:\New & <b>bold</b>"
    labelled = replace(result, utterances=(replace(result.utterances[0], text=words),))
    srt, vtt = render(labelled, "srt"), render(labelled, "vtt")
    assert srt.splitlines()[3] == f"S1: {words}"
    assert vtt.splitlines()[5] == r"S1: I said {laugh} C:\New &amp; &lt;b&gt;bold&lt;/b&gt;"


def test_two_results_compare_without_comparing_attention_arrays(result) -> None:
    """Regression from a user test of the API: == compared the attention arrays, and raised."""
    assert result == copy.deepcopy(result)


def test_a_translation_shows_its_original_words_in_every_format(result, tmp_path: Path) -> None:
    """Regression (user test): a translated utterance's original words were only in the JSON; the
    CSV, the subtitles and the report showed the English as if it had been said."""
    from dataclasses import replace

    from mtmm_es.pipeline.segmentation import read_segments

    said = replace(result.utterances[0], text="I loved this film.", source_text="Me encantó\nesta película.")
    translated = replace(result, utterances=(said, *result.utterances[1:]))
    rows = list(csv.DictReader(io.StringIO(render(translated, "csv"))))
    assert list(rows[0])[-2:] == ["p_sarcasm", "source_text"]
    assert rows[0]["source_text"] == "Me encantó\nesta película." and rows[1]["source_text"] == ""
    for fmt in ("srt", "vtt"):
        path = tmp_path / f"talk.{fmt}"
        path.write_text(render(translated, fmt), encoding="utf-8")
        assert "\nS1: I loved this film.\n(original: Me encantó esta película.)\n" in path.read_text(encoding="utf-8")
        assert read_segments(path)[0].text == "I loved this film."  # given back: the words the model read
    page = write_report(translated, tmp_path / "talk.html")[0].read_text(encoding="utf-8")
    assert "original: Me encantó\nesta película." in page


def test_a_carriage_return_in_the_words_makes_no_blank_line_in_a_cue(result) -> None:
    """Regression: only \\n became a line break; the \\r of a CRLF segments file stayed, and left a
    blank line in the cue, where strict SRT and WebVTT readers end it."""
    from dataclasses import replace

    labelled = replace(result, utterances=(replace(result.utterances[0], text="first line\r\nsecond line\rthird"),))
    for fmt in ("srt", "vtt"):
        text = render(labelled, fmt)
        assert "\r" not in text and "first line\nsecond line\nthird" in text


def test_the_report_s_subtitles_and_base_rate_read_as_the_labels_do(result, tmp_path: Path) -> None:
    """Regression: the page's cues went to VTTCue unescaped (markup: "<b>&amp;</b>" showed as "&"),
    and the base rate was rounded to a whole percent ("0%" for 0.004)."""
    from dataclasses import replace

    labelled = replace(
        result,
        utterances=(replace(result.utterances[0], text="café <b>&amp;</b>"),),
        model=replace(result.model, sarcasm_base_rate=0.004),
    )
    page = write_report(labelled, tmp_path / "talk.html")[0].read_text(encoding="utf-8")
    cues = json.loads(page.split('<script type="application/json" id="cues">')[1].split("</script>")[0])
    assert "café &lt;b&gt;&amp;amp;&lt;/b&gt;" in cues[0]["text"]
    assert "P(sarcasm) at a 0.4% base rate of sarcasm" in page


def test_the_report_of_a_name_that_is_not_utf8_links_and_embeds_the_file(
    result, tmp_path: Path, fixture_video: Path
) -> None:
    """Regression: the report took the labels' printable path (caf\\xe9.mp4) for the file: the page
    linked a file that does not exist, and --embed-video failed after the labels were written."""
    from dataclasses import replace

    from mtmm_es.core.errors import printable

    media = os.fsdecode(bytes(tmp_path) + b"/caf\xe9.mp4")
    shutil.copy(fixture_video, media)
    named = replace(result, source=replace(result.source, path=printable(media)))
    page = write_report(named, tmp_path / "talk.html", media=media)[0].read_text(encoding="utf-8")
    assert 'src="caf%E9.mp4"' in page
    embedded = write_report(named, tmp_path / "embedded.html", embed_video=True, media=media)[0]
    assert "data:video/webm;base64," in embedded.read_text(encoding="utf-8")


def test_labelled_subtitles_come_back_as_segments_with_their_words(result, tmp_path: Path) -> None:
    """Regression: our own subtitles given back as --segments (say, with edited times) fed the label
    line and the speaker tag to the text model as words, and WebVTT entities stayed literal."""
    from dataclasses import replace

    from mtmm_es.pipeline.segmentation import read_segments

    words = [*(u.text for u in result.utterances[:-2]), r"Fish & chips {laugh} in C:\new", ""]
    edited = [replace(u, text=text) for u, text in zip(result.utterances[-2:], words[-2:])]
    edited[0] = replace(edited[0], sentiment=None, emotions=None, sarcasm=None)  # no usable input
    labelled = replace(result, utterances=(*result.utterances[:-2], *edited))
    for fmt in ("srt", "vtt"):
        path = tmp_path / f"talk.{fmt}"
        path.write_text(render(labelled, fmt), encoding="utf-8")
        assert "\n[no labels]\nS1: Fish" in path.read_text(encoding="utf-8")  # said, not an empty "[]"
        assert [s.text for s in read_segments(path)] == [*words[:-1], None]  # voice only: no words
        # regression: without speakers such a cue is the label line alone, which was read as words
        unnamed = replace(labelled, utterances=tuple(replace(u, speaker=None) for u in labelled.utterances))
        path.write_text(render(unnamed, fmt), encoding="utf-8")
        assert [s.text for s in read_segments(path)] == [*words[:-1], None]
    plain = tmp_path / "plain.srt"  # a third party's subtitles keep their bracketed lines
    cues = ["<i>Hello</i> there\n[laughs] again", "[MUSIC PLAYING]\nS2: I love you"]
    plain.write_text("".join(f"{k}\n00:00:0{k},000 --> 00:00:0{k},900\n{c}\n\n" for k, c in enumerate(cues, 1)))
    assert [s.text for s in read_segments(plain)] == ["Hello there [laughs] again", "[MUSIC PLAYING] S2: I love you"]


def test_csv_format_has_one_row_per_utterance(result) -> None:
    lines = render(result, "csv").splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS) and len(lines) == len(result.utterances) + 1


def test_report_writes_html_and_pictures(result, tmp_path: Path) -> None:
    written = write_report(result, tmp_path / "talk.html")
    names = sorted(p.name for p in written)
    assert names == ["talk.attention.text-acoustic.png", "talk.html", "talk.timeline.png", "talk.vtt"]
    assert set(written) <= set(report_files(tmp_path / "talk.html"))  # what a killed run's cleanup covers
    for png in (tmp_path / "talk.timeline.png", tmp_path / "talk.attention.text-acoustic.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    page = (tmp_path / "talk.html").read_text()
    assert page.count('<li class="utt"') == len(result.utterances) and page.count("data:image/png;base64,") == 1
    assert "P(sarcasm) at a 10% base rate of sarcasm" in page  # the reader knows what P assumes


def test_a_report_without_sentiment_says_n_a(result, tmp_path: Path) -> None:
    """Regression: where no utterance had a sentiment label the page said "P(positive) nan", the
    speakers table "+0.00" and each bar "P(positive) 0.50", coloured as a neutral 0.5."""
    from dataclasses import replace

    silent = replace(result, utterances=tuple(replace(u, sentiment=None) for u in result.utterances))
    page = write_report(silent, tmp_path / "talk.html")[0].read_text(encoding="utf-8")
    assert "nan" not in page and "P(positive) 0.50" not in page and "+0.00" not in page
    assert "P(positive) n/a (no sentiment label)" in page and "<td>n/a</td>" in page
    assert page.count('fill="#bbbbbb"') == len(silent.utterances)


def test_analyze_many_in_two_processes_keeps_order_and_isolates_errors(folder: Path, cache_dir: Path) -> None:
    # regression: a list of modalities made the jobs unhashable (TypeError) in analyze_many only
    pipeline = Pipeline(ExtractionConfig(cache_dir=str(cache_dir), modalities=["text", "acoustic", "visual"]))
    with pytest.raises(MtmmError, match="analyze_many takes a list of paths"):  # it analysed each character
        pipeline.analyze_many(str(folder / "talk.mp4"))
    paths = [folder / "talk.mp4", folder / "corrupt.mp4", None, folder / "nested" / "späti café.mp4"]
    results = pipeline.analyze_many(paths, workers=2)  # type: ignore[arg-type]
    assert [type(r).__name__ for r in results] == ["VideoResult", "MtmmError", "MtmmError", "VideoResult"]
    assert results[0].to_dict()["utterances"] == results[3].to_dict()["utterances"]
    assert "not a readable media file" in str(results[1])
    assert "give the path of a media file" in str(results[2])  # its own error, not the whole call's


@pytest.mark.slow
def test_the_ray_backend_without_ray_is_refused_before_any_work(folder: Path, tmp_path: Path) -> None:
    """Regression: `import ray` came before the check that names the extra, so a machine without Ray
    got "unexpected ModuleNotFoundError", exit 1, and an empty output folder."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "ray.py").write_text("raise ModuleNotFoundError(\"No module named 'ray'\")\n")
    done = cli(
        str(folder), "--out", str(tmp_path / "out"), "--backend", "ray", env={**os.environ, "PYTHONPATH": str(blocker)}
    )
    assert done.returncode == 2 and "--backend ray needs Ray: pip install 'mtmm-es[ray]'" in done.stderr
    assert "unexpected" not in done.stderr and not (tmp_path / "out").exists()


def test_an_unreachable_ray_address_is_one_line_before_any_work() -> None:
    """Regression: Ray retried 127.0.0.1:1 for minutes, logging, before failing."""
    pytest.importorskip("ray", reason="Ray is the optional extra mtmm-es[ray]")
    with pytest.raises(MtmmError, match="--ray-address 127.0.0.1:1: cannot reach it"):
        BatchOptions(backend="ray", ray_address="127.0.0.1:1")
    with pytest.raises(MtmmError, match="not HOST:PORT"):
        BatchOptions(backend="ray", ray_address="cluster")
    BatchOptions(backend="ray", ray_address="auto")  # Ray's to find


def test_ray_backend_runs_the_same_job(folder: Path, tmp_path: Path, cache_dir: Path) -> None:
    ray = pytest.importorskip("ray", reason="Ray is the optional extra mtmm-es[ray]")
    (folder / "corrupt.mp4").unlink()
    try:
        summary = run_batch(
            folder,
            tmp_path / "ray-out",
            BatchOptions(backend="ray", recursive=True),
            ExtractionConfig(cache_dir=str(cache_dir)),
            progress=False,
        )
    finally:
        ray.shutdown()
    assert summary.counts() == {"processed": 2, "skipped": 0, "failed": 0}
    jsonschema.validate(json.loads((tmp_path / "ray-out" / "talk.mp4.json").read_text()), schema())


def test_sigterm_ends_a_folder_run_with_its_own_status_and_a_whole_summary(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, sigterm_raises: None
) -> None:
    """SIGTERM to a folder's run exits 143, as the README says (it was 130, as for Ctrl-C)."""
    from mtmm_es import cli
    from mtmm_es.core.signals import Terminated
    from mtmm_es.pipeline import batch

    def terminated(jobs, options):
        raise Terminated(signal.SIGTERM)
        yield

    monkeypatch.setattr(batch, "_execute", terminated)
    status = cli.analyze_video([str(folder), "--out", str(tmp_path / "out"), "--recursive", "-q"])
    assert status == 143
    assert (
        capsys.readouterr()
        .out.strip()
        .endswith(f"0 processed, 0 skipped, 0 failed (interrupted) -> {tmp_path / 'out'}")
    )
    written = json.loads((tmp_path / "out" / "mtmm-summary.json").read_text())
    assert written["interrupted"] is True
    # regression: the files the run never reached were nowhere in the summary
    assert sorted(written["not_started"]) == ["corrupt.mp4", "nested/späti café.mp4", "talk.mp4"]
