"""Settings that weaken safety come only from the user's own flags, never from a checkpoint's
config.json; extractor configs rebuild themselves from a feature spec (`from_spec`)."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mtmm_es.core.errors import MtmmError
from mtmm_es.extractors.text import TextConfig
from mtmm_es.extractors.visual import VisualConfig
from mtmm_es.pipeline import ExtractionConfig
from mtmm_es.pipeline.analyze import default_checkpoint_dir, extraction_config_for


class _Payload:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def _spec(**text_config) -> dict:
    spec = json.loads((default_checkpoint_dir() / "config.json").read_text())["feature_spec"]
    spec["text"]["config"] |= text_config
    return spec


def test_spec_cannot_switch_on_pickle_loading(tmp_path: Path) -> None:
    vectors = tmp_path / "vectors.kv"
    vectors.write_bytes(b"x")
    user = ExtractionConfig(text=TextConfig(vectors=str(vectors)))
    config = extraction_config_for(_spec(vectors="vectors.kv:1", allow_pickle=True, negation=False), user)
    assert config.text.allow_pickle is False and config.text.vectors == str(vectors)
    assert config.text.negation is False  # feature-shaping settings do come from the spec


def test_spec_cannot_choose_files_to_load() -> None:
    spec = {"visual": {"extractor": "mediapipe-face-expression", "config": {"model": "/tmp/evil.task", "fps": 2.0}}}
    config = extraction_config_for(spec, ExtractionConfig())
    assert config.visual == VisualConfig(fps=2.0, model=None)


def test_default_checkpoint_refuses_other_text_vectors(tmp_path: Path) -> None:
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("hello 0.1 0.2\n")
    with pytest.raises(MtmmError, match="trained on the bundled GloVe vectors"):
        extraction_config_for(_spec(), ExtractionConfig(text=TextConfig(vectors=str(vectors))))


def test_checkpoint_trained_on_other_vectors_needs_them() -> None:
    with pytest.raises(MtmmError, match="pass them with --text-vectors"):
        extraction_config_for(_spec(vectors="mine.txt:10"), ExtractionConfig())


def test_checkpoint_allow_pickle_does_not_run_a_pickle(tmp_path: Path, fixture_video: Path, cache_dir: Path) -> None:
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(default_checkpoint_dir(), checkpoint)
    config = json.loads((checkpoint / "config.json").read_text())
    config["feature_spec"]["text"]["config"] |= {"vectors": "vectors.kv:200", "allow_pickle": True}
    (checkpoint / "config.json").write_text(json.dumps(config))
    marker = tmp_path / "payload-ran"
    vectors = tmp_path / "vectors.kv"
    vectors.write_bytes(pickle.dumps(_Payload(str(marker))))
    code = "import sys; from mtmm_es.cli import analyze_video; sys.exit(analyze_video())"
    args = [str(fixture_video), "--out", str(tmp_path / "x.json"), "--checkpoint", str(checkpoint)]
    args += ["--text-vectors", str(vectors), "--cache-dir", str(cache_dir)]
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)
    assert not marker.exists()
    assert result.returncode == 2 and "--text-allow-pickle" in result.stderr and result.stderr.count("\n") == 1


def test_settings_the_checkpoint_replaces_are_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    """Regression: --acoustic egemaps (or --no-negation) with the default model was dropped in silence."""
    from mtmm_es.extractors.acoustic import AcousticConfig

    user = ExtractionConfig(acoustic=AcousticConfig(extractor="egemaps"), text=TextConfig(negation=False))
    with caplog.at_level("WARNING", logger="mtmm_es"):
        config = extraction_config_for(_spec(), user)
    assert config.acoustic.extractor == "covarep+egemaps+whisper" and config.text.negation is True
    assert "acoustic setting extractor='egemaps' is not used" in caplog.text
    assert "text setting negation=False is not used" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="mtmm_es"):
        extraction_config_for(_spec(), ExtractionConfig())
    assert caplog.text == ""


def test_modalities_the_checkpoint_reads_cannot_be_left_out_of_extraction(tmp_path: Path) -> None:
    """Regression: `--modalities text` with the default model failed only after a full extraction
    (in a folder run: every file, one by one)."""
    from mtmm_es.pipeline.analyze import Pipeline
    from mtmm_es.pipeline.batch import run_batch

    cause = r"the checkpoint needs text, acoustic features \(its feature spec\); --modalities leaves out acoustic"
    with pytest.raises(MtmmError, match=cause):
        Pipeline(ExtractionConfig(modalities=("text",)))
    with pytest.raises(MtmmError, match=cause):
        run_batch(tmp_path, tmp_path / "out", extraction=ExtractionConfig(modalities=("text",)), progress=False)
    assert not (tmp_path / "out").exists()
