"""Corpus loaders on the real ../shared files (and SDK-layout files the tests write themselves)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from helpers import shared_path

from mtmm_es.core.errors import MtmmError
from mtmm_es.model.corpora import load_corpus
from mtmm_es.model.corpora.meld import load_meld
from mtmm_es.model.corpora.mosei import average_in_intervals, load_mosei
from mtmm_es.model.corpora.mustard import load_mustard, load_mustardpp
from mtmm_es.model.corpora.transcripts import load_transcripts
from mtmm_es.model.csd import ComputationalSequence
from mtmm_es.model.tasks import EMOTION_LABELS
from mtmm_es.pipeline import ExtractionConfig, FeaturePipeline


def emotion_names(target: np.ndarray) -> set[str]:
    return {EMOTION_LABELS[k] for k in np.flatnonzero(target)}


def test_a_dataset_without_features_says_what_its_loader_reads() -> None:
    """Regression from a user test: `mtmm evaluate --dataset mosei` on the labels-only folder said
    "see the loader's documentation", not which files it needs."""
    with pytest.raises(MtmmError, match=r"no features found for mosei \(valid\); what it reads: CMU-MOSEI: labels"):
        load_corpus("mosei", shared_path("mosei"), "valid")


def test_mosei_labels_from_the_sdk_file_match_the_table() -> None:
    folder = shared_path("mosei")
    corpus = load_mosei(folder, "valid")
    table = pd.read_csv(folder / "labels.csv")
    assert len(corpus.videos) == 300 and corpus.n_utterances() == (table.split == "valid").sum()
    video = next(v for v in corpus.videos if v.id == "--qXJuDtHPw")
    assert video.utterance_ids == ["--qXJuDtHPw[0]"]
    row = table[(table.video_id == "--qXJuDtHPw") & (table.segment_id == 0)].iloc[0]
    assert video.targets["intensity"][0] == pytest.approx(row.sentiment)
    assert video.targets["sentiment"][0] == float(row.sentiment >= 0)
    expected = {name for name in ("happy", "sad", "anger", "surprise", "disgust", "fear") if row[name] > 0}
    assert emotion_names(video.targets["emotion"][0]) == expected == {"happy"}
    starts = [float(s) for s in table[table.video_id == corpus.videos[1].id].sort_values("start").start]
    assert len(starts) == len(corpus.videos[1])  # utterances follow time order


def test_mosei_none_emotion_when_no_intensity_is_positive() -> None:
    corpus = load_mosei(shared_path("mosei"), "test")
    targets = np.concatenate([v.targets["emotion"] for v in corpus.videos])
    assert (targets[:, -1] == (targets[:, :-1].sum(1) == 0)).all()
    assert 0.05 < targets[:, -1].mean() < 0.5


def write_csd(path: Path, root: str, entries: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    with h5py.File(path, "w") as handle:
        data = handle.create_group(root).create_group("data")
        handle[root].create_group("metadata")
        for video_id, (features, intervals) in entries.items():
            group = data.create_group(video_id)
            group["features"] = features
            group["intervals"] = intervals


def test_sdk_features_are_averaged_per_labelled_segment(tmp_path: Path) -> None:
    labels = {
        "vid": (np.array([[1.0, 1, 0, 0, 0, 0, 0], [-2.0, 0, 1, 0, 0, 0, 0]]), np.array([[0.0, 2.0], [2.0, 4.0]]))
    }
    words = np.array([[1.0, 0], [3.0, 2], [5.0, 4], [7.0, 6]], np.float32)
    word_times = np.array([[0.0, 0.5], [0.5, 1.5], [2.5, 3.0], [3.0, 3.5]])
    write_csd(tmp_path / "CMU_MOSEI_Labels.csd", "All Labels", labels)
    write_csd(tmp_path / "CMU_MOSEI_TimestampedWordVectors.csd", "glove_vectors", {"vid": (words, word_times)})
    (tmp_path / "standard_folds.json").write_text(json.dumps({"train": ["vid"], "valid": [], "test": []}))
    corpus = load_mosei(tmp_path, "train")
    video = corpus.videos[0]
    np.testing.assert_allclose(video.features["text"], [[2.0, 1.0], [6.0, 5.0]])
    assert (
        corpus.spec["text"]["extractor"] == "cmu-sdk:CMU_MOSEI_TimestampedWordVectors"
        and corpus.spec["text"]["dim"] == 2
    )
    assert list(video.targets["sentiment"]) == [1.0, 0.0] and emotion_names(video.targets["emotion"][1]) == {"sad"}


def test_average_in_intervals_masks_empty_windows(tmp_path: Path) -> None:
    write_csd(tmp_path / "f.csd", "f", {"v": (np.array([[1.0], [np.inf]]), np.array([[0.0, 1.0], [1.0, 2.0]]))})
    with ComputationalSequence(tmp_path / "f.csd") as sequence:
        values, mask = average_in_intervals(sequence["v"], np.array([[0.0, 2.0], [5.0, 6.0]]))
    np.testing.assert_allclose(values, [[0.5], [0.0]])
    assert list(mask) == [True, False]


def test_meld_mapping_and_neutral_sentiment() -> None:
    corpus = load_meld(shared_path("meld"), "dev")
    assert corpus.n_utterances() == 1109 and len(corpus.videos) == 114
    table = pd.read_csv(shared_path("meld") / "dev_sent_emo.csv")
    first = table[(table.Dialogue_ID == 0)].sort_values("Utterance_ID")
    video = corpus.videos[0]
    assert video.texts == first.Utterance.tolist()
    mapping = {"joy": "happy", "sadness": "sad", "neutral": "none"}
    for k, (emotion, sentiment) in enumerate(zip(first.Emotion, first.Sentiment)):
        assert emotion_names(video.targets["emotion"][k]) == {mapping.get(emotion, emotion)}
        assert video.weights["sentiment"][k] == (0.0 if sentiment == "neutral" else 1.0)


def test_mustard_splits_agree_with_mustardpp() -> None:
    train, val = load_mustard(shared_path("mustard"), "train"), load_mustard(shared_path("mustard"), "val")
    assert len(train.videos) + len(val.videos) == 690 and len(val.videos) == 138
    folds = json.loads((shared_path("mustard") / "folds_5.json").read_text())
    assert {v.id.removeprefix("mustard-") for v in val.videos} == set(folds[0]["test"])
    plus_train = {v.id.removeprefix("mustardpp-") for v in load_mustardpp(shared_path("mustardpp"), "train").videos}
    assert not plus_train & {v.id.removeprefix("mustard-") for v in val.videos}  # no leak across the two
    video = train.videos[0]
    assert video.weights["sarcasm"][:-1].sum() == 0 and video.weights["sarcasm"][-1] == 1.0


def test_mustardpp_labels_sit_on_the_target_utterance() -> None:
    corpus = load_mustardpp(shared_path("mustardpp"), "all")
    labelled = sum(v.weights["sarcasm"].sum() for v in corpus.videos if "sarcasm" in v.weights)
    raw = pd.read_csv(shared_path("mustardpp") / "mustard++_text.csv")
    # 1,202 sarcasm labels, all used (review: the one on a malformed row, whose KEY column holds
    # "Disgust", was read as context and its labels dropped without a word)
    assert labelled == raw.Sarcasm.notna().sum() == 1202
    repaired = next(v for v in corpus.videos if v.id == "mustardpp-1_S11E03_067")
    assert repaired.utterance_ids[-2:] == ["1_S11E03_067_c_9", "1_S11E03_067_u"]
    assert repaired.weights["sarcasm"].tolist() == [0.0] * 10 + [1.0] and repaired.targets["sarcasm"][-1] == 0.0
    assert repaired.texts[-1] == "I'm not setting her up with Raj." and repaired.targets["emotion"][-1, 1] == 1.0
    table = pd.read_csv(shared_path("mustardpp") / "mustard++_text.csv", dtype={"SCENE": str})
    row = table[table.KEY.str.endswith("_u")].iloc[0]
    video = next(v for v in corpus.videos if v.id == f"mustardpp-{row.SCENE}")
    assert video.utterance_ids[-1] == row.KEY and video.targets["sarcasm"][-1] == row.Sarcasm
    assert video.targets["intensity"][-1] == pytest.approx((row.Valence - 5) * 0.75)


def test_transcripts_order_by_start_or_numeric_segment(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("video_id,segment_id,text\nv1,10,third\nv1,2,second\nv1,1,first\nv2,a,only\n")
    corpus = load_transcripts(path)
    assert [v.texts for v in corpus.videos] == [["first", "second", "third"], ["only"]]
    path.write_text("video_id,segment_id,text,start\nv1,1,late,9.0\nv1,2,early,1.0\n")
    assert load_transcripts(path).videos[0].texts == ["early", "late"]
    path.write_text("video,text\nv1,hello\n")
    with pytest.raises(MtmmError, match="lacks columns: video_id, segment_id.*found: video, text"):
        load_transcripts(path)
    path.write_text("video_id;segment_id;text\nv1;1;hello\n")  # regression: the columns found were not named
    with pytest.raises(MtmmError, match="comma-separated.*found: video_id;segment_id;text"):
        load_transcripts(path)
    path.write_text("video_id,segment_id,text\n")  # regression: 0 predictions, exit 0, no word
    with pytest.raises(MtmmError, match="no rows under its header"):
        load_transcripts(path)
    path.write_text("video_id,segment_id,text\nv1,u2,second said\nv1,u10,then this\nv1,a,last\n")
    assert load_transcripts(path).videos[0].texts == ["second said", "then this", "last"]  # file order


def test_transcripts_without_start_times_warn_that_the_order_is_assumed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # MOSEI's segment ids are not in the order said in a third of its videos (review: a file without
    # start times was read in that order without a word, and its figures differ from the timed file's)
    path = tmp_path / "t.csv"
    path.write_text("video_id,segment_id,text\nv1,1,said second\nv1,0,said first\nv2,0,alone\nv3,a,x\nv3,b,y\n")
    with caplog.at_level("WARNING"):
        load_transcripts(path)
    # regression: "2 of 3 videos" counted v2, whose one utterance has no order to lose
    assert f"{path}: 2 of the 2 videos with more than one utterance have utterances without a start time" in caplog.text
    caplog.clear()
    path.write_text("video_id,segment_id,start,text\nv1,1,5.0,said second\nv1,0,2.0,said first\n")
    with caplog.at_level("WARNING"):
        load_transcripts(path)
    assert caplog.text == ""


@pytest.mark.parametrize(
    "content, cause",
    [  # each was read silently: columns shifted, videos merged, utterances reordered or unjoinable
        ("video_id,segment_id,text\nv1,0,Well, I loved it\nv1,1,fine\n", "line 2: 4 fields where the header has 3"),
        ("video_id,segment_id,text\nv1,0,fine\nv1,1\n", "line 3: 2 fields where the header has 3"),
        ("video_id,segment_id,text,start\nv1,0,a,9.5\nv1,1,b,n/a\n", "line 3: start must be seconds, not 'n/a'"),
        ("video_id,segment_id,text\nv1,0,a\nv1,0,b\n", "line 3: video v1 segment 0 already on line 2"),
        ('video_id,segment_id,text\nv1,0,"one\ntwo"\nv1,0,b\n', "line 4: video v1 segment 0 already on line 2"),
        ("video_id,segment_id,text\n,0,a\n", "line 2: empty video_id or segment_id"),
        (b"video_id,segment_id,text\nv1,0,caf\xe9\n", "line 2: not UTF-8"),
    ],
)
def test_bad_transcript_rows_are_errors_naming_the_line(tmp_path: Path, content: str | bytes, cause: str) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(MtmmError) as error:
        load_transcripts(path)
    assert str(error.value).startswith(f"{path}: {cause}")


def test_text_corpora_get_text_features_by_name() -> None:
    corpus = load_corpus("meld", shared_path("meld"), "dev")
    assert corpus.spec["text"]["extractor"] == "glove-mean" and corpus.videos[0].features["text"].shape[1] == 50


def test_mosei_raw_layout_runs_our_extractors(
    tmp_path: Path, fixture_video: Path, cache_dir: Path, monkeypatch
) -> None:
    monkeypatch.setenv("MTMM_CACHE_DIR", str(cache_dir))
    labels = {
        "talk": (np.array([[2.0, 1, 0, 0, 0, 0, 0], [-1.0, 0, 0, 1, 0, 0, 0]]), np.array([[5.5, 9.0], [0.1, 4.2]]))
    }
    write_csd(tmp_path / "CMU_MOSEI_Labels.csd", "All Labels", labels)
    (tmp_path / "standard_folds.json").write_text(json.dumps({"train": ["talk"], "valid": [], "test": []}))
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "talk.mp4").write_bytes(fixture_video.read_bytes())
    corpus = load_mosei(tmp_path, "train", FeaturePipeline(ExtractionConfig()).extract)
    video = corpus.videos[0]
    assert "loved" in video.texts[0] and "ending" in video.texts[1]  # time order, ASR within each window
    assert list(video.targets["intensity"]) == [-1.0, 2.0]
    assert corpus.spec["visual"]["extractor"] == "mediapipe-face-expression" and video.masks["visual"].all()


def test_own_labelled_videos(tmp_path: Path, fixture_video: Path, cache_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("MTMM_CACHE_DIR", str(cache_dir))
    (tmp_path / "talk.mp4").write_bytes(fixture_video.read_bytes())
    (tmp_path / "labels.csv").write_text(
        "file,start,end,text,sentiment,emotions,sarcasm\n"
        "talk.mp4,5.5,9.0,,negative,anger;sad,0\n"
        "talk.mp4,0.1,4.2,I loved it,2.5,happy,\n"
        "missing.mp4,0,1,,1,,\n"
    )
    corpus = load_corpus("videos", tmp_path, "train", FeaturePipeline(ExtractionConfig()).extract)
    video = corpus.videos[0]
    assert video.texts[0] == "I loved it" and "ending" in video.texts[1]
    assert list(video.targets["sentiment"]) == [1.0, 0.0] and list(video.weights["intensity"]) == [1.0, 0.0]
    assert emotion_names(video.targets["emotion"][1]) == {"anger", "sad"}
    assert list(video.weights["sarcasm"]) == [0.0, 1.0]
    assert set(corpus.spec) == {"text", "acoustic", "visual"}
    (tmp_path / "labels.csv").write_text("file,start,end,emotions\ntalk.mp4,0,1,joyful\n")
    with pytest.raises(MtmmError, match="unknown emotion names"):
        load_corpus("videos", tmp_path, "train", FeaturePipeline(ExtractionConfig()).extract)


@pytest.mark.parametrize(
    "rows, cause",
    [
        ("talk.mp4,0,1\ntalk.mp4,,2\n", "line 3: 'start' must be seconds"),
        ("talk.mp4,0,1\n,1,2\n", "line 3: 'file' must be a file name"),
        ("talk.mp4,0,nan\n", "line 2: 'end' must be seconds"),
        ("talk.mp4,zero,1\n", "line 2: 'start' must be seconds"),
        # each of these was read silently (a row dropped, a label turned to 0, a target out of range)
        ("talk.mp4,4,2\n", "line 2: the window 4-2 s must start at 0 or later and end after it starts"),
        ("talk.mp4,-1,2\n", "line 2: the window -1-2 s must start at 0 or later and end after it starts"),
        ("talk.mp4,0,1,,,,valid\n", "line 2: split 'valid' is not one of train, val, test"),
        # one recording in training and validation (a leak)
        (
            "talk.mp4,0,1,,,,train\nother.mp4,0,1,,,,val\ntalk.mp4,2,3,,,,val\n",
            "line 4: 'talk.mp4' is in split val here and in split train at line 2: a file is one context unit, "
            "so all its rows take one split (else one recording is in both)",
        ),
        ("talk.mp4,0,1,,,sarcastic,\n", "line 2: sarcasm 'sarcastic' is neither 1 / 0 nor true / false"),
        ("talk.mp4,0,1,7,,,\n", "line 2: sentiment '7' is neither a score in -3..3 nor positive/negative/neutral"),
        ("talk.mp4,0,1,inf,,,\n", "line 2: sentiment 'inf' is neither a score in -3..3 nor positive/negative/neutral"),
        (
            "talk.mp4,0,1,,joy,,\n",
            "line 2: unknown emotion names ['joy'] (use anger, disgust, fear, happy, sad, surprise or none)",
        ),
        # regression (user test): read silently as sad
        (
            "talk.mp4,0,1,,none;sad,,\n",
            "line 2: emotions 'none;sad' name none beside an emotion: give the emotions, or none alone",
        ),
    ],
)
def test_empty_or_bad_cells_in_own_labels_are_one_line(tmp_path: Path, rows: str, cause: str) -> None:
    header = "file,start,end,sentiment,emotions,sarcasm,split\n" if rows.count(",") > 2 else "file,start,end\n"
    (tmp_path / "labels.csv").write_text(header + rows)
    with pytest.raises(MtmmError) as error:
        load_corpus("videos", tmp_path, "train", lambda path, segments: None)
    assert str(error.value) == f"{tmp_path / 'labels.csv'}: {cause}"


def test_none_beside_an_emotion_in_a_json_list_is_refused(tmp_path: Path) -> None:
    """Regression (user test): ["none", "sad"] was read silently as sad."""
    (tmp_path / "labels.json").write_text('[{"file": "a.mp4", "start": 0, "end": 1, "emotions": ["none", "sad"]}]')
    with pytest.raises(MtmmError, match="record 1: emotions 'none;sad' name none beside an emotion"):
        load_corpus("videos", tmp_path, "train", lambda path, segments: None)


@pytest.mark.parametrize(
    "name, content, cause",
    [
        ("labels.csv", "", "the label table is empty (its first line names the columns: file,start,end,...)"),
        (
            "labels.json",
            '{"file": "talk.mp4", "start": 0, "end": 1}',
            'must be a list of records such as {"file": "a.mp4", "start": 0.1, "end": 4.2}',
        ),
        ("labels.json", '[{"file": "talk.mp4"', "unreadable label table: "),
        ("labels.csv", "file,start,end\ntalk.mp4,0,1\ntalk.mp4,1,2,3\n", "unreadable label table: "),
    ],
)
def test_a_malformed_label_table_is_one_error_naming_it(tmp_path: Path, name: str, content: str, cause: str) -> None:
    """Regression: an empty labels.csv and a labels.json object failed with "unexpected EmptyDataError"
    and "unexpected ValueError" (exit 1)."""
    (tmp_path / name).write_text(content)
    with pytest.raises(MtmmError) as error:
        load_corpus("videos", tmp_path, "train", lambda path, segments: None)
    assert str(error.value).startswith(f"{tmp_path / name}: {cause}") and "\n" not in str(error.value)


def test_the_shipped_model_scores_your_own_labelled_videos(tmp_path: Path, fixture_video: Path) -> None:
    """Regression: own videos were extracted with the default extraction settings, not the
    checkpoint's, so `mtmm evaluate --dataset videos --checkpoint model/default` was refused
    ("acoustic dim is 75, trained with 547")."""
    from mtmm_es.pipeline.analyze import default_checkpoint_dir
    from mtmm_es.pipeline.training import evaluate_checkpoint

    (tmp_path / "talk.mp4").write_bytes(fixture_video.read_bytes())
    (tmp_path / "labels.csv").write_text(
        "file,start,end,sentiment,split\ntalk.mp4,0.1,4.4,2,test\ntalk.mp4,4.9,9.2,-2,test\n"
    )
    metrics = evaluate_checkpoint(default_checkpoint_dir(), "videos", tmp_path, "test")
    assert metrics["sentiment_accuracy"] == 1.0


def test_training_on_videos_without_label_columns_says_so(tmp_path: Path, fixture_video: Path) -> None:
    """Regression: a table whose label columns were misspelled failed training with "monitor
    'sentiment_accuracy' is not measured", which did not say that nothing was labelled."""
    from mtmm_es.pipeline.training import train_and_save

    (tmp_path / "talk.mp4").write_bytes(fixture_video.read_bytes())
    (tmp_path / "labels.csv").write_text("file,start,end,rating\ntalk.mp4,0.1,4.4,2\n")
    with pytest.raises(MtmmError, match="videos's train split has no labelled utterance"):
        train_and_save(tmp_path / "out", tmp_path, dataset="videos")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "header, cause",
    [  # user test: "emotion" and "sarcasm " were not read, and training dropped those tasks without a word
        ("file,start,end,sentiment,emotion", "column 'emotion' is not one the table reads: did you mean 'emotions'?"),
        ("file,start,end,sentimnet", "column 'sentimnet' is not one the table reads: did you mean 'sentiment'?"),
        (
            "file;start;end",
            "label table lacks columns: end, file, start; found: file;start;end (columns are separated by commas)",
        ),
    ],
)
def test_label_columns_that_are_not_read_are_named(tmp_path: Path, header: str, cause: str) -> None:
    (tmp_path / "labels.csv").write_text(header + "\n" + "talk.mp4,0,1,2,happy\n")
    with pytest.raises(MtmmError, match=re.escape(f"{tmp_path / 'labels.csv'}: {cause}")):
        load_corpus("videos", tmp_path, "train", lambda path, segments: None)


def test_label_tables_read_as_users_write_them(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """User test: column names in another case or with spaces were refused as missing; "./a.mp4"
    and "a.mp4" were two videos (one recording in training and validation); a JSON list of
    emotions was an unknown name "['anger']"; a column the table does not read went unmentioned.
    Review: an extra column close to one present ("sentiment_score") is not refused."""
    from mtmm_es.model.corpora.videos import read_label_table

    (tmp_path / "labels.csv").write_text(
        "File, Start ,End,Sentiment,SARCASM,Text,sentiment_score\n"
        "a.mp4,0,1,2,1,007,x\n./a.mp4,1,2,-1,0,,y\n\n007 ,0,1,,,,\n"
    )
    with caplog.at_level("WARNING"):
        table, _ = read_label_table(tmp_path)
    assert list(table.file) == ["a.mp4", "a.mp4", "007"] and table.sarcasm.tolist()[:2] == [1, 0]
    assert table.text.tolist()[0] == "007"  # text as written, in any case of its column name (review)
    assert "columns not read: sentiment_score (columns: file, start, end, text" in caplog.text
    assert table["_where"].tolist() == ["line 2", "line 3", "line 5"]  # after a blank line (review)
    (tmp_path / "labels.csv").write_text("file,start,end,split\na.mp4,0,1,train\n./a.mp4,1,2,val\n")
    with pytest.raises(MtmmError, match="line 3: 'a.mp4' is in split val here and in split train at line 2"):
        read_label_table(tmp_path)
    (tmp_path / "labels.csv").write_text("file,start,end,Sentiment,sentiment\na.mp4,0,1,2,2\n")
    with pytest.raises(MtmmError, match="column 'sentiment' is given twice"):
        read_label_table(tmp_path)
    (tmp_path / "labels.csv").unlink()
    (tmp_path / "labels.json").write_text(
        '[{"file": "a.mp4", "start": 0, "end": 1, "emotions": ["anger", "sad"]},'
        ' {"file": "a.mp4", "start": 1, "end": 2, "emotions": []}]'
    )
    assert read_label_table(tmp_path)[0].emotions.tolist() == ["anger;sad", "none"]


def test_a_recipe_on_own_videos_uses_their_val_rows_and_its_word_vectors(
    tmp_path: Path, fixture_video: Path, cache_dir: Path, monkeypatch
) -> None:
    """Regression: a recipe on `videos` carved validation from the training rows (its folds and
    val_fraction defaulted to 1 and 0.2, so `split=val` rows were never read; here that failed
    training outright) and dropped its "text" settings, so no checkpoint for --text-vectors could be trained."""
    import json

    from mtmm_es.extractors.text import load_vectors
    from mtmm_es.pipeline.training import train_and_save

    monkeypatch.setenv("MTMM_CACHE_DIR", str(cache_dir))
    for name in ("talk.mp4", "again.mp4"):
        (tmp_path / name).write_bytes(fixture_video.read_bytes())
    (tmp_path / "labels.csv").write_text(
        "file,start,end,sentiment,split\ntalk.mp4,0.1,4.4,2,train\ntalk.mp4,4.9,9.2,-2,train\n"
        "again.mp4,0.1,4.4,2,val\nagain.mp4,4.9,9.2,-2,val\n"
    )
    bundled, vectors = load_vectors(None), tmp_path / "halved.txt"
    words = [w for w in ("i", "loved", "this", "movie", "ending", "was", "terrible") if w in bundled]
    rows = [f"{w} " + " ".join(f"{x / 2:.4f}" for x in bundled[w]) for w in words]
    vectors.write_text(f"{len(rows)} 50\n" + "\n".join(rows) + "\n")
    recipe = tmp_path / "recipe.json"
    recipe.write_text(
        json.dumps(
            {
                "name": "own",
                "dataset": "videos",
                "text": {"vectors": str(vectors)},
                "train": {"tasks": ["sentiment"], "modalities": ["text"], "epochs": 2},
            }
        )
    )
    report = train_and_save(tmp_path / "model", tmp_path, recipe=str(recipe))
    assert report["validation_kind"] == "videos val split"
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["feature_spec"]["text"]["config"]["vectors"] == f"halved.txt:{vectors.stat().st_size}"


def test_training_on_one_video_without_validation_rows_says_what_to_give(tmp_path: Path, fixture_video: Path) -> None:
    """Regression: the only video went to validation, and training failed with "corpus
    'videos-train-train' has no labels for sentiment", which named neither cause nor remedy."""
    from mtmm_es.pipeline.training import train_and_save

    (tmp_path / "talk.mp4").write_bytes(fixture_video.read_bytes())
    (tmp_path / "labels.csv").write_text("file,start,end,sentiment\ntalk.mp4,0.1,4.4,2\ntalk.mp4,4.9,9.2,-2\n")
    with pytest.raises(MtmmError, match=r"has 1 video: validation takes whole videos .* \(split=val\)"):
        train_and_save(tmp_path / "out", tmp_path, dataset="videos")


def test_a_skipped_file_is_named_with_its_rows(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """User test: a file skipped for a bad window was named without the table's lines ("segment 4")."""

    def refuse(path: Path, segments: list) -> None:
        raise MtmmError(f"segment {len(segments)} (25.00-30.00 s) starts after the media ends (19.10 s)", path)

    (tmp_path / "labels.csv").write_text("file,start,end,sentiment\na.mp4,0,1,1\n\nb.mp4,0,1,1\nb.mp4,25,30,1\n")
    with caplog.at_level("WARNING"), pytest.raises(MtmmError, match="no readable labelled videos"):
        load_corpus("videos", tmp_path, "train", refuse)
    assert "skipped 'b.mp4' (labels.csv line 4 and 1 more): segment 2 (25.00-30.00 s) starts after" in caplog.text
