"""The extraction pipeline end to end: API, output folder, cache, user segments, degraded inputs, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from helpers import ffmpeg, late_audio_video, plain_colour_video, two_track_recording

from mtmm_es.core.errors import MtmmError
from mtmm_es.pipeline import ExtractionConfig, FeaturePipeline, read_feature_set, write_extraction


def test_fixture_yields_aligned_utterances_and_features(fixture_extraction) -> None:
    extraction = fixture_extraction
    texts = [u.text.lower() for u in extraction.utterances]
    assert 3 <= len(texts) <= 5
    assert "movie" in texts[0] and "ending" in texts[1] and "friends" in texts[-1]
    starts = [u.start for u in extraction.utterances]
    assert starts == sorted(starts) and all(u.end > u.start for u in extraction.utterances)
    ends = [u.end for u in extraction.utterances]
    assert all(end <= start for end, start in zip(ends[:-1], starts[1:]))  # windows do not overlap
    for u in extraction.utterances:  # each window lies on its words, fitted to the voice
        assert u.words and abs(u.words[0].start - u.start) < 0.7 and abs(u.words[-1].end - u.end) < 0.7
    n = len(texts)
    for modality, dim in (("text", 50), ("acoustic", 75), ("visual", 117)):
        features = extraction.features[modality]
        assert features.values.shape == (n, dim) and features.mask.all()
        assert np.isfinite(features.values).all()
    assert extraction.media.duration == pytest.approx(18.7, abs=0.1) and extraction.warnings == []


def test_spec_names_every_dimension_and_extractor(fixture_extraction) -> None:
    spec = fixture_extraction.spec()
    assert set(spec["modalities"]) == {"text", "acoustic", "visual"}
    for modality_spec in spec["modalities"].values():
        assert modality_spec["dim"] == len(modality_spec["feature_names"])
        assert modality_spec["version"] and modality_spec["config"] and modality_spec["libraries"]
    assert spec["asr"]["extractor"] == "faster-whisper"
    assert spec["media"]["sample_rate"] == 16000 and spec["media"]["fps"] == 10.0
    assert spec["segmentation"]["method"] == "pauses" and len(spec["source"]["sha256"]) == 64


def test_output_folder_round_trip(tmp_path: Path, fixture_extraction) -> None:
    write_extraction(fixture_extraction, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features.npz", "spec.json", "utterances.json"]
    loaded = read_feature_set(tmp_path)
    assert loaded.utterances == fixture_extraction.utterances
    for modality, features in fixture_extraction.features.items():
        np.testing.assert_array_equal(loaded.values[modality], features.values)
        np.testing.assert_array_equal(loaded.masks[modality], features.mask)
    with np.load(tmp_path / "features.npz") as archive:
        assert set(archive.files) == {"text", "acoustic", "visual", "text_mask", "acoustic_mask", "visual_mask"}


def test_a_rewrite_cut_short_leaves_no_folder_that_reads_as_whole(
    tmp_path: Path, fixture_extraction, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: re-extracting into a folder and dying after utterances.json kept the old spec.json,
    so the new utterances read back with the old features. A mask of the wrong length is refused."""
    import mtmm_es.pipeline.outputs as outputs

    write_extraction(fixture_extraction, tmp_path)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs, "atomic_save_npz", killed)
    with pytest.raises(KeyboardInterrupt):
        write_extraction(replace(fixture_extraction, utterances=fixture_extraction.utterances[:1]), tmp_path)
    with pytest.raises(MtmmError, match="missing spec.json"):
        read_feature_set(tmp_path)
    monkeypatch.undo()
    write_extraction(fixture_extraction, tmp_path)
    with np.load(tmp_path / "features.npz") as archive:
        arrays = {name: archive[name] for name in archive.files}
    np.savez(tmp_path / "features.npz", **arrays | {"text_mask": arrays["text_mask"][:-1]})
    with pytest.raises(MtmmError, match="'text_mask' has shape"):
        read_feature_set(tmp_path)
    # regression: these raised BadZipFile, KeyError and AttributeError, or hid the utterance count
    utterances = json.loads((tmp_path / "utterances.json").read_text())
    (tmp_path / "utterances.json").write_text(json.dumps(utterances[:-1]))
    np.savez(tmp_path / "features.npz", **arrays)
    with pytest.raises(
        MtmmError, match=rf"'text' has shape \({len(utterances)}, 50\), not \({len(utterances) - 1}, 50\)"
    ):
        read_feature_set(tmp_path)
    (tmp_path / "utterances.json").write_text("[1]")
    with pytest.raises(MtmmError, match="unreadable features folder: "):
        read_feature_set(tmp_path)
    (tmp_path / "utterances.json").write_text(json.dumps(utterances))
    (tmp_path / "features.npz").write_bytes((tmp_path / "features.npz").read_bytes()[:200])
    with pytest.raises(MtmmError, match="unreadable features folder: BadZipFile"):
        read_feature_set(tmp_path)


def test_second_run_is_served_from_the_cache(feature_pipeline, fixture_video: Path, fixture_extraction) -> None:
    again = feature_pipeline.extract(fixture_video)
    assert set(again.timings) == {"hash", "total"}  # no stage ran
    assert again.timings["total"] < 0.5
    for modality, features in fixture_extraction.features.items():
        np.testing.assert_array_equal(again.features[modality].values, features.values)


def test_user_segments_with_and_without_text(tmp_path: Path, fixture_video: Path, cache_dir: Path) -> None:
    segments = tmp_path / "segments.csv"
    segments.write_text("start,end,text\n0.0,4.5,\n5.4,9.2,my own words here\n")
    config = ExtractionConfig(segments=str(segments), cache_dir=str(cache_dir))
    extraction = FeaturePipeline(config).extract(fixture_video)
    first, second = extraction.utterances
    assert "movie" in first.text.lower() and first.words and 0.0 <= first.words[0].start < first.words[-1].end <= 4.5
    assert (second.start, second.end, second.text, second.words) == (5.4, 9.2, "my own words here", ())
    assert extraction.spec()["segmentation"] == {"method": "segments", "source": str(segments), "count": 2}


def test_silence_gives_zero_utterances_and_a_message(tmp_path: Path, cache_dir: Path) -> None:
    silent = tmp_path / "silent.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "3", str(silent))
    extraction = FeaturePipeline(ExtractionConfig(cache_dir=str(cache_dir))).extract(silent)
    assert extraction.utterances == [] and extraction.warnings == ["no speech found: 0 utterances"]
    assert extraction.features["text"].values.shape == (0, 50)
    write_extraction(extraction, tmp_path / "out")
    assert read_feature_set(tmp_path / "out").utterances == []


def test_a_segments_window_over_silence_is_not_called_speech(
    tmp_path: Path, fixture_video: Path, cache_dir: Path
) -> None:
    """Regression: a --segments window over digital silence (no words, no voice) was counted in
    "1 stretch(es) of speech without recognised words"."""
    padded, segments = tmp_path / "padded.wav", tmp_path / "segments.csv"
    ffmpeg("-i", str(fixture_video), "-vn", "-af", "adelay=3000", "-ac", "1", "-ar", "16000", "-t", "8", str(padded))
    segments.write_text("start,end\n0.5,2.5\n3.0,7.5\n")
    config = ExtractionConfig(segments=str(segments), modalities=("text", "acoustic"), cache_dir=str(cache_dir))
    extraction = FeaturePipeline(config).extract(padded)
    silent, spoken = extraction.utterances
    assert not silent.words and "movie" in spoken.text.lower()
    assert not extraction.features["acoustic"].mask[0] and extraction.warnings == []


def test_audio_only_file_masks_the_visual_modality(tmp_path: Path, fixture_video: Path, cache_dir: Path) -> None:
    audio_only = tmp_path / "speech.m4a"
    ffmpeg("-i", str(fixture_video), "-vn", "-c:a", "copy", str(audio_only))
    extraction = FeaturePipeline(ExtractionConfig(cache_dir=str(cache_dir))).extract(audio_only)
    assert len(extraction.utterances) >= 3
    assert extraction.features["text"].mask.all() and extraction.features["acoustic"].mask.all()
    assert not extraction.features["visual"].mask.any()


def test_video_without_audio_says_so(tmp_path: Path, fixture_video: Path, cache_dir: Path) -> None:
    mute = tmp_path / "mute.mp4"
    ffmpeg("-i", str(fixture_video), "-an", "-c:v", "copy", str(mute))
    extraction = FeaturePipeline(ExtractionConfig(cache_dir=str(cache_dir))).extract(mute)
    assert extraction.utterances == [] and extraction.warnings == ["no audio stream: no speech"]


@pytest.mark.parametrize(("kept", "last_end"), [(100_000, 11.0), (162_312, 17.5)])
def test_truncated_file_degrades_with_a_warning(
    tmp_path: Path, fixture_video: Path, cache_dir: Path, kept: int, last_end: float
) -> None:
    """Regression (162,312 bytes, 97 % of the file): its audio decodes to 17.1 s of the 18.7 s its
    stream states, and it was not warned about (10 % of a stated length could go missing unsaid)."""
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(fixture_video.read_bytes()[:kept])
    extraction = FeaturePipeline(ExtractionConfig(cache_dir=str(cache_dir))).extract(truncated)
    assert any(w.startswith("truncated or damaged") for w in extraction.warnings), extraction.warnings
    assert all(u.end <= last_end for u in extraction.utterances)
    # regression: a second run, served from the cache, never decodes the audio and lost the warning
    again = FeaturePipeline(ExtractionConfig(cache_dir=str(cache_dir))).extract(truncated)
    assert again.timings.get("asr") is None and again.warnings == extraction.warnings


def test_a_run_served_from_the_cache_keeps_the_audio_decoding_warnings(
    tmp_path: Path, fixture_video: Path, cache_dir: Path
) -> None:
    """Regression: a second run never decodes the audio, so what decoding had warned of (here:
    channels that cancel in a mono mix) was gone from its labels."""
    inverted = tmp_path / "inverted.wav"
    ffmpeg("-i", str(fixture_video), "-vn", "-af", "pan=stereo|c0=c0|c1=-1*c0", str(inverted))
    config = ExtractionConfig(modalities=("text", "acoustic"), cache_dir=str(cache_dir))
    first = FeaturePipeline(config).extract(inverted)
    again = FeaturePipeline(config).extract(inverted)
    assert any("channels cancel out" in w for w in first.warnings)
    assert again.timings.get("asr") is None and again.warnings == first.warnings
    for entry in Path(cache_dir).rglob("*.json"):  # a cache from before these were kept: decoded again
        if '"seconds"' in entry.read_text():
            entry.unlink()
    assert FeaturePipeline(config).extract(inverted).warnings == first.warnings


def test_very_quiet_speech_is_flagged_and_ordinary_speech_is_not(
    tmp_path: Path, fixture_video: Path, cache_dir: Path, fixture_extraction
) -> None:
    """Regression: a recording 45 dB quieter than the fixture changed every emotion label without a
    word; its speech lies far under the levels the voice model learnt from."""
    quiet = tmp_path / "quiet.wav"
    ffmpeg("-i", str(fixture_video), "-vn", "-af", "volume=-45dB", str(quiet))
    config = ExtractionConfig(modalities=("text", "acoustic"), cache_dir=str(cache_dir))
    warned = [w for w in FeaturePipeline(config).extract(quiet).warnings if w.startswith("very quiet speech")]
    assert len(warned) == 1 and "labels read from the voice are less reliable" in warned[0]
    assert not any(w.startswith("very quiet speech") for w in fixture_extraction.warnings)


def test_a_streamed_file_without_a_stated_length_gets_its_decoded_length(
    tmp_path: Path, fixture_video: Path, cache_dir: Path
) -> None:
    """Regression: a Matroska stream written to a pipe (as browsers' MediaRecorder writes WebM) states
    no duration, and the labels said 0.0 s for a file whose utterances run to 17 s."""
    streamed = tmp_path / "streamed.mkv"
    ffmpeg("-i", str(fixture_video), "-vn", "-c", "copy", "-f", "matroska", "-live", "1", str(streamed))
    config = ExtractionConfig(modalities=("text",), cache_dir=str(cache_dir))
    for _ in range(2):  # decoded, then served from the cache
        extraction = FeaturePipeline(config).extract(streamed)
        assert extraction.media.duration == pytest.approx(18.7, abs=0.3)


def test_modalities_can_be_chosen(fixture_video: Path, cache_dir: Path) -> None:
    config = replace(ExtractionConfig(cache_dir=str(cache_dir)), modalities=("text",))
    extraction = FeaturePipeline(config).extract(fixture_video)
    assert set(extraction.features) == {"text"}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mtmm_es", *args], capture_output=True, text=True)


def test_cli_extract_writes_the_folder(tmp_path: Path, fixture_video: Path, cache_dir: Path) -> None:
    out = tmp_path / "features"
    result = run_cli("extract", str(fixture_video), "--out", str(out), "--cache-dir", str(cache_dir))
    assert result.returncode == 0, result.stderr
    assert "utterances" in result.stdout
    utterances = json.loads((out / "utterances.json").read_text())
    assert {"index", "start", "end", "text", "words"} <= set(utterances[0])
    assert json.loads((out / "spec.json").read_text())["modalities"]["visual"]["dim"] == 117


@pytest.mark.parametrize("content", [b"", b"just some text"])
def test_cli_bad_input_is_one_line_without_traceback(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad input.mp4"
    bad.write_bytes(content)
    result = run_cli("extract", str(bad), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {bad}: ")
    assert not (tmp_path / "out").exists()


def test_a_segment_after_the_media_end_is_refused_before_any_work(tmp_path: Path, fixture_video: Path) -> None:
    segments = tmp_path / "segments.csv"
    segments.write_text("start,end,text\n0.0,4.5,hello\n30.0,35.0,from another recording\n")
    pipeline = FeaturePipeline(ExtractionConfig(segments=str(segments), modalities=("text",)))
    with pytest.raises(MtmmError, match="segment 2 \\(30.00-35.00 s\\) starts after the media ends \\(18.70 s\\)"):
        pipeline.extract(fixture_video)
    assert not pipeline.recogniser.loaded  # refused before loading the recogniser


def test_a_segment_running_past_the_end_is_a_warning(tmp_path: Path, fixture_video: Path, cache_dir: Path) -> None:
    segments = tmp_path / "segments.csv"
    segments.write_text("start,end,text\n15.0,25.0,the end\n")
    config = ExtractionConfig(segments=str(segments), modalities=("text",), cache_dir=str(cache_dir))
    extraction = FeaturePipeline(config).extract(fixture_video)
    assert extraction.warnings == [
        "segment 1 ends at 25.00 s, after the media's end (18.70 s): its utterance ends there"
    ]
    segments.write_text("start,end,text\n0.0,9.0,all\n0.0,2.0,hello\n3.5,4.0,again\n10,11,later\n")  # was silent
    extraction = FeaturePipeline(config).extract(fixture_video)
    assert extraction.warnings == [
        "2 segments overlap an earlier one (first 0.00-2.00 s): their utterances share speech"
    ]


def test_an_audio_track_shorter_than_the_video_is_not_called_damaged(
    tmp_path: Path, fixture_video: Path, cache_dir: Path
) -> None:
    """Regression: the decoded audio was compared with the container's length, so an intact file
    whose video runs on after the sound (a still end card) was "truncated or damaged"."""
    longer, matroska = tmp_path / "end_card.mp4", tmp_path / "end_card.mkv"
    pad = ["-vf", "tpad=stop_mode=clone:stop_duration=8", "-c:v", "libx264", "-preset", "ultrafast"]
    ffmpeg("-i", str(fixture_video), *pad, "-c:a", "copy", str(longer))
    ffmpeg("-i", str(longer), "-c", "copy", str(matroska))  # the stream's length in a DURATION tag
    config = ExtractionConfig(cache_dir=str(cache_dir), modalities=("text",))
    for video in (longer, matroska):
        extraction = FeaturePipeline(config).extract(video)
        assert extraction.media.duration > extraction.media.audio_duration + 7 > 25
        assert extraction.utterances and extraction.warnings == []


def test_an_mp3_without_a_length_header_gets_its_decoded_length(
    tmp_path: Path, fixture_video: Path, cache_dir: Path
) -> None:
    """Regression: a variable-bitrate MP3 without a Xing header, starting with 3 s of silence, was
    "truncated or damaged" with a 45 s duration: FFmpeg guessed its length from the quiet first
    frames' bitrate. Speech then a minute of silence gets a guess far too short (45 s of 79 s): a
    segment past it was refused. An MP3 with the header, cut short, is still warned about."""
    speech = tmp_path / "speech.wav"
    ffmpeg("-i", str(fixture_video), "-vn", "-ac", "1", "-ar", "44100", str(speech))
    mp3, join = ["-c:a", "libmp3lame", "-q:a", "4"], ["-filter_complex", "[0:a][1:a]concat=n=2:v=0:a=1"]

    def silence(seconds: int) -> list[str]:
        return ["-f", "lavfi", "-i", f"anullsrc=r=44100:cl=mono:d={seconds}"]

    quiet_first, quiet_last, whole = tmp_path / "quiet_first.mp3", tmp_path / "quiet_last.mp3", tmp_path / "whole.mp3"
    ffmpeg(*silence(3), "-i", str(speech), *join, *mp3, "-write_xing", "0", str(quiet_first))
    ffmpeg(*silence(3), "-i", str(speech), *join, *mp3, str(whole))
    ffmpeg("-i", str(speech), *silence(60), *join, *mp3, "-write_xing", "0", str(quiet_last))
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    config = ExtractionConfig(cache_dir=str(cache_dir), modalities=("text",))
    extraction = FeaturePipeline(config).extract(quiet_first)
    assert extraction.media.duration_estimated and extraction.warnings == []
    assert extraction.media.duration == pytest.approx(21.7, abs=0.2)
    segments = tmp_path / "late.csv"
    segments.write_text("start,end,text\n50.0,55.0,nothing said\n")
    late = FeaturePipeline(replace(config, segments=str(segments))).extract(quiet_last)
    assert late.media.duration == pytest.approx(78.7, abs=0.2) and late.warnings == []
    assert late.spec()["media"]["audio_duration"] == pytest.approx(late.media.duration)
    assert not FeaturePipeline(config).extract(whole).media.duration_estimated
    warnings = FeaturePipeline(config).extract(cut).warnings
    assert any(w.startswith("truncated or damaged") for w in warnings), warnings


def test_late_audio_gives_utterances_on_the_video_timeline(
    tmp_path: Path, fixture_video: Path, cache_dir: Path
) -> None:
    late = late_audio_video(tmp_path / "late.mp4", fixture_video)
    config = ExtractionConfig(cache_dir=str(cache_dir), modalities=("text",))
    extraction = FeaturePipeline(config).extract(late)
    assert extraction.utterances and extraction.utterances[0].start >= 6.0
    assert "movie" in extraction.utterances[0].text.lower()
    assert extraction.warnings == []  # no false "truncated or damaged"
    assert extraction.spec()["media"]["audio_start"] == pytest.approx(6.0, abs=0.1)


def test_the_speech_track_of_a_two_track_recording_is_used(
    tmp_path: Path, fixture_video: Path, cache_dir: Path
) -> None:
    both = two_track_recording(tmp_path / "obs.mkv", 6, fixture_video)
    config = ExtractionConfig(cache_dir=str(cache_dir), modalities=("text",))
    extraction = FeaturePipeline(config).extract(both)
    assert extraction.utterances and "movie" in extraction.utterances[0].text.lower()
    assert extraction.spec()["media"]["audio_stream"] == 1
    assert any("using stream 1" in w for w in extraction.warnings)
    chosen = FeaturePipeline(replace(config, audio_stream=0)).extract(both)
    assert chosen.utterances == [] and chosen.spec()["media"]["audio_stream"] == 0
    # (review) the stream given by the user, after a run that chose it: no "choose another" warning
    given = FeaturePipeline(replace(config, audio_stream=1)).extract(both)
    assert given.spec()["media"]["audio_stream"] == 1 and not any("using stream" in w for w in given.warnings)


def test_black_frames_mask_the_face_with_a_warning(tmp_path: Path, fixture_video: Path, cache_dir: Path) -> None:
    black = plain_colour_video(tmp_path / "black.mp4", "black", 6, fixture_video)
    config = ExtractionConfig(cache_dir=str(cache_dir), modalities=("text", "visual"))
    extraction = FeaturePipeline(config).extract(black)
    assert extraction.utterances and not extraction.features["visual"].mask.any()
    assert "no face found in the video: the visual modality is masked for every utterance" in extraction.warnings


def test_a_truncated_cache_entry_is_a_logged_miss(
    tmp_path: Path, fixture_video: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = ExtractionConfig(cache_dir=str(tmp_path / "cache"), modalities=("text",))
    first = FeaturePipeline(config).extract(fixture_video)
    (entry,) = (tmp_path / "cache").rglob("*.npz")
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
    with caplog.at_level("WARNING", logger="mtmm_es"):
        again = FeaturePipeline(config).extract(fixture_video)
    np.testing.assert_array_equal(again.features["text"].values, first.features["text"].values)
    assert any("unreadable cache entry, recomputing" in r.getMessage() for r in caplog.records)
    assert np.load(entry)["values"].shape == first.features["text"].values.shape  # rewritten whole


def test_a_replaced_asr_model_is_not_served_from_the_cache(tmp_path: Path) -> None:
    """Regression: the words' cache key named a user's --asr-model folder by path only, so a model
    replaced at that path kept returning the old model's words."""
    from mtmm_es.extractors.asr import AsrConfig, bundled_whisper_model

    model = tmp_path / "model"
    model.mkdir()
    for part in bundled_whisper_model().iterdir():
        (model / part.name).symlink_to(part)
    pipeline = FeaturePipeline(ExtractionConfig(asr=AsrConfig(model=str(model)), cache=False))
    before = pipeline._asr_spec()
    assert pipeline._asr_spec() == before
    (model / "config.json").unlink()
    (model / "config.json").write_text((bundled_whisper_model() / "config.json").read_text() + "\n")
    assert pipeline._asr_spec() != before


def test_replaced_face_model_and_text_vectors_are_not_served_from_the_cache(
    tmp_path: Path, fixture_video: Path, cache_dir: Path
) -> None:
    """Regression: the features' cache key named a user's --face-model and --text-vectors by name
    (and size) only, so a file replaced at that path kept returning the old file's features."""
    import shutil

    from mtmm_es.extractors.text import TextConfig
    from mtmm_es.extractors.visual import VisualConfig, bundled_face_model

    face, vectors = tmp_path / "face.task", tmp_path / "vectors.txt"
    shutil.copy(bundled_face_model(), face)
    vectors.write_text("movie 1 0\nending 0 1\n")
    config = ExtractionConfig(
        cache_dir=str(cache_dir),
        modalities=("text", "visual"),
        visual=VisualConfig(model=str(face)),
        text=TextConfig(vectors=str(vectors)),
    )
    first = FeaturePipeline(config).extract(fixture_video)
    assert first.features["visual"].mask.any() and first.features["text"].values.shape[1] == 2
    vectors.write_text("movie 0 5\nending 5 0\n")  # same name, same size, other vectors
    again = FeaturePipeline(replace(config, modalities=("text",))).extract(fixture_video)
    assert not np.array_equal(again.features["text"].values, first.features["text"].values)
    face.write_bytes(b"not a model")
    with pytest.raises(MtmmError, match="cannot load face landmarker"):
        FeaturePipeline(config).extract(fixture_video)


def test_video_decoding_cut_short_is_not_cached(fixture_video: Path, tmp_path: Path) -> None:
    """Regression: face features pooled from a pass over the frames stopped at its time limit were
    cached as whole, so every later run served them (no face found) without the warning."""
    config = ExtractionConfig(cache_dir=str(tmp_path / "cache"), modalities=("text",))
    FeaturePipeline(config).extract(fixture_video)  # the words, cached: no audio decoding below
    visual = replace(config, modalities=("visual",))
    cut = FeaturePipeline(replace(visual, stage_time_limit_s=1e-9)).extract(fixture_video)
    assert not cut.features["visual"].mask.any()
    assert any("video decoding stopped before its first frame: over its time limit" in w for w in cut.warnings)
    whole = FeaturePipeline(visual).extract(fixture_video)
    assert whole.features["visual"].mask.all()


def test_a_voice_over_is_not_called_a_video_without_a_face() -> None:
    """Regression: faces in view of which none speaks were reported as "no face found in the video"."""
    from types import SimpleNamespace

    from mtmm_es.pipeline.extract import _face_warnings

    media = SimpleNamespace(info=SimpleNamespace(has_video=True))
    utterances = [SimpleNamespace(), SimpleNamespace()]
    unseen = SimpleNamespace(mask=np.zeros(2, bool), extras={"faces_in_view": np.zeros(2, int)})
    voice_over = SimpleNamespace(mask=np.zeros(2, bool), extras={"faces_in_view": np.array([2, 1])})
    assert _face_warnings(media, {"visual": unseen}, utterances)[0].startswith("no face found in the video")
    assert _face_warnings(media, {"visual": voice_over}, utterances)[0].startswith("faces are in view but none speaks")


def test_more_speakers_asked_for_than_labelled_is_a_warning(fixture_video: Path, cache_dir: Path) -> None:
    """Regression: --speakers 9 on a short monologue gave fewer speakers with no word said; and
    then left out that those it labelled sound alike (one voice, split)."""
    from mtmm_es.pipeline.diarize import DiarizationConfig

    config = ExtractionConfig(
        cache_dir=str(cache_dir), modalities=("text",), diarization=DiarizationConfig(speakers=40)
    )
    extraction = FeaturePipeline(config).extract(fixture_video)
    found, said = extraction.diarization["speakers"], " ".join(extraction.warnings)
    assert found < 40 and f"40 speakers asked for, {found} labelled" in said
    assert extraction.diarization["similarity"] >= 0.63 and "two of them sound alike" in said


def test_a_count_forced_on_one_voice_is_a_warning(fixture_video: Path, cache_dir: Path) -> None:
    """Regression: --speakers 2 on one voice split its sentences between two "speakers" silently."""
    from mtmm_es.pipeline.diarize import DiarizationConfig

    config = ExtractionConfig(cache_dir=str(cache_dir), modalities=("text",), diarization=DiarizationConfig(speakers=2))
    extraction = FeaturePipeline(config).extract(fixture_video)
    assert extraction.diarization["speakers"] == 2 and extraction.diarization["similarity"] > 0.63
    assert "2 speakers asked for: two of them sound alike" in " ".join(extraction.warnings)


def test_cache_entries_of_the_wrong_layout_are_recomputed(tmp_path: Path, fixture_video: Path, caplog) -> None:
    """Regression: an entry that was valid JSON or NPZ but not what its stage wrote (a damaged or
    older layout) crashed every run (KeyError, ValueError) until deleted by hand."""
    config = ExtractionConfig(cache_dir=str(tmp_path / "cache"), modalities=("text", "acoustic"))
    first = FeaturePipeline(config).extract(fixture_video)
    for suffix in (".npz", ".json"):  # the features first (read only when the words come from the cache)
        entries = sorted((tmp_path / "cache").rglob(f"*{suffix}"))
        for entry in entries:
            if suffix == ".npz":
                np.savez(entry.with_suffix(""), mask=np.ones(2, bool))  # np.savez adds the .npz back
            else:
                entry.write_text("[[1, 2, 3]]" if entry.read_text().startswith("[") else "{}")
        caplog.clear()
        with caplog.at_level("WARNING", logger="mtmm_es"):
            again = FeaturePipeline(config).extract(fixture_video)
        assert entries and "unreadable cache entry, recomputing" in caplog.text
        assert [u.text for u in again.utterances] == [u.text for u in first.utterances]
        np.testing.assert_array_equal(again.features["acoustic"].values, first.features["acoustic"].values)
    caplog.clear()
    with caplog.at_level("WARNING", logger="mtmm_es"):
        third = FeaturePipeline(config).extract(fixture_video)
    assert caplog.text == "" and third.timings.get("asr") is None  # the entries were replaced


def test_visual_features_cached_without_the_faces_in_view_are_recomputed() -> None:
    """Regression (this session): features cached before `faces_in_view` existed were served, so a
    voice-over analysed before the upgrade kept its old "no face found" warning."""
    from types import SimpleNamespace

    from mtmm_es.pipeline.extract import _features_entry

    info = SimpleNamespace(modality="visual", dim=2, name="face")
    old = {"values": np.zeros((3, 2), np.float32), "mask": np.zeros(3, bool), "extra_face_track": np.full(3, -1)}
    with pytest.raises(ValueError, match="cached before the faces in view were recorded"):
        _features_entry(old, info)
    assert (
        _features_entry(old | {"extra_faces_in_view": np.full(3, 2)}, info).extras["faces_in_view"].tolist() == [2] * 3
    )


def test_an_interrupted_long_recognition_resumes_after_its_last_chunk(
    tmp_path: Path, fixture_video: Path, monkeypatch
) -> None:
    """Regression: a long recording's words were cached only once every chunk was recognised, so a
    run killed in its last minutes recognised the whole recording again."""
    from mtmm_es.extractors.asr import AsrConfig, FasterWhisperTranscriber

    config = ExtractionConfig(modalities=("text",), asr=AsrConfig(max_chunk_s=8.0), cache_dir=tmp_path / "cache")
    whole = FeaturePipeline(replace(config, cache=False)).extract(fixture_video).utterances
    recognise = FasterWhisperTranscriber.recognise
    calls: list[int] = []
    kill = {"at call": 2}

    class Killed(Exception):
        pass

    def interrupted(self, audio, *args, **kwargs):
        calls.append(len(audio))
        if len(calls) == kill["at call"]:
            raise Killed
        return recognise(self, audio, *args, **kwargs)

    monkeypatch.setattr(FasterWhisperTranscriber, "recognise", interrupted)
    with pytest.raises(Killed):
        FeaturePipeline(config).extract(fixture_video)
    first_chunk = calls[0]
    calls.clear()
    kill["at call"] = 0
    resumed = FeaturePipeline(config).extract(fixture_video).utterances
    assert len(calls) >= 2 and first_chunk not in calls  # the first chunk is read back, the rest recognised
    assert resumed == whole
    # the chunks' entries went once the whole recognition was cached: as many entries as one chunk leaves
    FeaturePipeline(replace(config, asr=AsrConfig(), cache_dir=tmp_path / "one")).extract(fixture_video)
    assert len(list((tmp_path / "cache").rglob("*.json"))) == len(list((tmp_path / "one").rglob("*.json")))
    calls.clear()
    assert FeaturePipeline(config).extract(fixture_video).utterances == whole and calls == []


def test_chunks_stay_cached_when_the_whole_recognition_cannot_be(
    tmp_path: Path, fixture_video: Path, monkeypatch
) -> None:
    """Regression: the chunks' entries were removed after the whole recognition's write, even when
    that write failed (a full cache), so the next run recognised the recording again."""
    from mtmm_es.extractors.asr import AsrConfig
    from mtmm_es.pipeline.cache import Cache

    config = ExtractionConfig(modalities=("text",), asr=AsrConfig(max_chunk_s=8.0), cache_dir=tmp_path / "cache")
    put_json = Cache.put_json

    def full_for_the_whole(self, key, value):  # the disk fills up as the whole recognition is written
        return False if isinstance(value, dict) and "words" in value else put_json(self, key, value)

    monkeypatch.setattr(Cache, "put_json", full_for_the_whole)
    FeaturePipeline(config).extract(fixture_video)
    chunks = [p for p in (tmp_path / "cache").rglob("*.json") if isinstance(json.loads(p.read_text()), list)]
    assert (
        len(chunks) >= 4
    )  # the 18.7 s in chunks of at most 8 s (3 or more), kept for the next run, and the voice regions


def test_a_new_asr_version_changes_the_words_cache_key(monkeypatch) -> None:
    """Regression: the words' cache key held the ASR options but not the version of how words are
    made from Whisper's pieces, so words joined the old way were served after that changed."""
    from mtmm_es.pipeline import extract

    pipeline = FeaturePipeline(ExtractionConfig(cache=False))
    before = pipeline._asr_spec()
    info = extract.asr_info(pipeline.config.asr)
    monkeypatch.setattr(extract, "asr_info", lambda config: replace(info, version=info.version + "+1"))
    assert pipeline._asr_spec() != before
