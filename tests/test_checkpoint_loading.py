"""Damaged or inconsistent checkpoint folders: one line in our words, never torch's multi-line error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from mtmm_es.core.errors import MtmmError
from mtmm_es.model.checkpoint import load_checkpoint

DEFAULT = Path(__file__).resolve().parents[1] / "model" / "default"


@pytest.fixture()
def checkpoint(tmp_path: Path) -> Path:
    folder = tmp_path / "ckpt"
    shutil.copytree(DEFAULT, folder)
    return folder


def _edit_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    (folder / "config.json").write_text(json.dumps(config))


def _refused(folder: Path) -> str:
    with pytest.raises(MtmmError) as error:
        load_checkpoint(folder)
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_the_shipped_checkpoint_loads(checkpoint: Path) -> None:
    assert len(load_checkpoint(checkpoint).members) >= 1


@pytest.mark.parametrize(
    "changes, cause",
    [
        ({"members": 0}, "'members' must be a whole number of networks, 1 or more (got 0)"),
        ({"members": "3"}, "'members' must be a whole number of networks, 1 or more (got '3')"),
        ({"feature_spec": None}, "has no usable 'feature_spec' (which extractor made each modality's features)"),
        ({"thresholds": {"emotion_f1": [0.5, 0.5]}}, "thresholds 'emotion_f1' must be 6 numbers in 0..1"),
        ({"model": None}, "has no 'model' architecture"),
        (
            {"sarcasm_base_rate": {"trained": 0.5, "reported": 1}},
            "'sarcasm_base_rate' must give 'trained' and 'reported' as shares between 0 and 1",
        ),
        (
            {"sarcasm_base_rate": "0.1"},
            "'sarcasm_base_rate' must give 'trained' and 'reported' as shares between 0 and 1",
        ),
        # its labels would fall back to 0.5 for every emotion, silently
        ({"emotion_label_metric": "WAcc"}, "the checkpoint has no 'WAcc' emotion thresholds (it has: f1, wacc)"),
        # regression: read letter by letter, or a crash (exit 1) when analysing
        (
            {"task_modalities": {"sentiment": "text"}},
            "'task_modalities' must map tasks (sentiment, intensity, emotion, sarcasm) to lists of the "
            "checkpoint's modalities (text, acoustic), not {'sentiment': 'text'}",
        ),
        ({"task_modalities": ["text"]}, "'task_modalities' must map tasks"),
        ({"task_modalities": {"sentiment": ["bogus"]}}, "'task_modalities' must map tasks"),
        ({"task_modalities": {"sentiment": [["text"]]}}, "'task_modalities' must map tasks"),
        ({"training": [1, 2]}, "'training' must be a record of how the checkpoint was trained"),
    ],
)
def test_inconsistent_configs_are_one_line(checkpoint: Path, changes: dict, cause: str) -> None:
    _edit_config(checkpoint, **changes)
    assert _refused(checkpoint).startswith(f"{checkpoint / 'config.json'}: {cause}")


@pytest.mark.parametrize(
    "damage, cause",
    [  # regression: both loaded, and the labels came out as NaN (bare NaN tokens in the JSON)
        (lambda t: t * float("nan"), "weights of member 0 are not all finite (NaN or infinite), e.g. "),
        (lambda t: (t * 1000).long(), "weights of member 0: "),
    ],
)
def test_weights_that_are_not_finite_floats_are_refused(checkpoint: Path, damage, cause: str) -> None:
    tensors = load_file(str(checkpoint / "model.safetensors"))
    save_file(
        {k: damage(v) if v.is_floating_point() else v for k, v in tensors.items()},
        str(checkpoint / "model.safetensors"),
    )
    assert _refused(checkpoint).startswith(f"{checkpoint}: {cause}")


def test_dims_that_disagree_with_the_weights_are_one_line(checkpoint: Path) -> None:
    config = json.loads((checkpoint / "config.json").read_text())
    config["model"]["hidden"] = config["model"]["hidden"] + 4
    (checkpoint / "config.json").write_text(json.dumps(config))
    message = _refused(checkpoint)
    assert message.startswith(f"{checkpoint}: weights of member 0 do not match the architecture in config.json (")
    assert "of another shape" in message


def test_missing_tensors_are_one_line(checkpoint: Path) -> None:
    tensors = load_file(str(checkpoint / "model.safetensors"))
    dropped = next(k for k in tensors if k.startswith("member0."))
    del tensors[dropped]
    save_file(tensors, str(checkpoint / "model.safetensors"))
    assert "1 missing, 0 unexpected" in _refused(checkpoint)


def test_tensors_of_no_member_are_refused(checkpoint: Path) -> None:
    """Regression: tensors beyond config.json's member count were ignored in silence."""
    tensors = load_file(str(checkpoint / "model.safetensors"))
    tensors |= {k.replace("member0.", "member7.", 1): v.clone() for k, v in tensors.items() if k.startswith("member0.")}
    save_file(tensors, str(checkpoint / "model.safetensors"))
    assert "the weights hold tensors of no member of the 3 in config.json, e.g. 'member7." in _refused(checkpoint)


def test_truncated_weights_are_one_line(checkpoint: Path) -> None:
    weights = checkpoint / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    assert _refused(checkpoint).startswith(f"{checkpoint}: unreadable checkpoint (")


def test_sarcasm_rates_of_old_and_new_checkpoints(checkpoint: Path) -> None:
    """A checkpoint from before base rates reports P as trained; a user's rate on it assumes the
    balanced 0.5 its sarcasm sets have; equal rates are no shift."""
    assert load_checkpoint(checkpoint).sarcasm_rates == (0.5124, 0.1)
    _edit_config(checkpoint, sarcasm_base_rate=None)
    old = load_checkpoint(checkpoint)
    assert old.sarcasm_rates is None
    old.sarcasm_base_rate = {"reported": 0.2}
    assert old.sarcasm_rates == (0.5, 0.2)
    old.sarcasm_base_rate = {"trained": 0.3, "reported": 0.3}
    assert old.sarcasm_rates is None


def test_a_spec_naming_more_than_the_model_reads_is_narrowed_for_every_reader(checkpoint: Path) -> None:
    """Regression: such a checkpoint (fit() saved a corpus's whole spec before) was narrowed only by
    load_checkpoint, so analysing with --modalities text,acoustic was refused for lacking the face."""
    from mtmm_es.pipeline import ExtractionConfig
    from mtmm_es.pipeline.analyze import Pipeline

    spec = json.loads((checkpoint / "config.json").read_text())["feature_spec"]
    visual = {"extractor": "mediapipe-face-expression", "version": "2", "config": {}, "dim": 117}
    _edit_config(checkpoint, feature_spec={**spec, "visual": visual})
    assert list(load_checkpoint(checkpoint).feature_spec) == ["text", "acoustic"]
    pipeline = Pipeline(ExtractionConfig(modalities=("text", "acoustic"), cache=False), checkpoint=str(checkpoint))
    assert pipeline.extraction_config.modalities == ("text", "acoustic")
