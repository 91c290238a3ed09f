"""Checkpoints: a folder with `model.safetensors` (weights, no code) and `config.json` (architecture,
feature spec, label sets, thresholds, training provenance). Pickled files are refused unread."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save

from mtmm_es.core.errors import MtmmError

from .data import Video
from .meta import CONFIG, FORMAT, FORMAT_VERSION, WEIGHTS, label_metric, read_meta
from .network import MTMMES, ModelConfig
from .tasks import EMOTION_LABELS, SENTIMENT_LABELS
from .train import predict


@dataclass
class Checkpoint:
    """One or more member networks (an ensemble averages their predictions) and their metadata."""

    members: list[MTMMES]
    feature_spec: dict[str, dict[str, Any]]
    thresholds: dict[str, list[float]] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    emotion_label_metric: str = "f1"  # whose validation thresholds turn emotion scores into labels
    task_modalities: dict[str, list[str]] = field(default_factory=dict)  # a task predicted from these only
    sarcasm_base_rate: dict[str, float] = field(default_factory=dict)  # {"trained": ..., "reported": ...}

    @property
    def label_thresholds(self) -> list[float] | None:
        return self.thresholds.get(f"emotion_{self.emotion_label_metric}")

    @property
    def sarcasm_rates(self) -> tuple[float, float] | None:
        """(trained, reported) base rates of P(sarcasm), or None when P is reported as trained."""
        rates = self.sarcasm_base_rate
        if "reported" not in rates or rates["reported"] == rates.get("trained", 0.5):
            return None
        return rates.get("trained", 0.5), rates["reported"]

    def relabel(self, emotion_thresholds: str | None = None, sarcasm_base_rate: float | None = None) -> None:
        """Label with the other validation thresholds ("f1" or "wacc") and/or state P(sarcasm) at
        another base rate (checked: a share strictly between 0 and 1); None keeps the checkpoint's."""
        from .labels import base_rate

        if emotion_thresholds is not None:
            self.emotion_label_metric = label_metric(self.thresholds, emotion_thresholds)
        if sarcasm_base_rate is not None:
            self.sarcasm_base_rate = {**self.sarcasm_base_rate, "reported": base_rate(sarcasm_base_rate)}

    @property
    def config(self) -> ModelConfig:
        return self.members[0].config

    def predict(self, videos: Sequence[Video], attention: bool = False) -> list[dict[str, np.ndarray]]:
        """Per video and task, the members' mean prediction (attention: the mean attention maps).

        A task listed in `task_modalities` is predicted with the other modalities masked off (for a
        head whose training data had only those modalities, e.g. sentiment learnt from transcripts)."""
        results = self._predict(videos, attention)
        for kept in {tuple(m) for m in self.task_modalities.values()}:
            tasks = [t for t, m in self.task_modalities.items() if tuple(m) == kept and t in self.config.tasks]
            if not tasks or set(kept) >= set(self.config.modalities):
                continue
            restricted = self._predict([only(video, kept) for video in videos], False)
            for result, part in zip(results, restricted):
                result.update({t: part[t] for t in tasks})
        return results

    def _predict(self, videos: Sequence[Video], attention: bool) -> list[dict[str, np.ndarray]]:
        runs = [predict(member, videos, attention=attention) for member in self.members]
        return [{key: np.mean([run[i][key] for run in runs], axis=0) for key in runs[0][i]} for i in range(len(videos))]


def only(video: Video, modalities: Sequence[str]) -> Video:
    """The video with every modality but `modalities` masked off."""
    masks = {m: mask if m in modalities else np.zeros_like(mask) for m, mask in video.masks.items()}
    return Video(video.id, video.utterance_ids, video.features, masks, video.targets, video.weights, video.texts)


def save_checkpoint(checkpoint: Checkpoint, folder: str | Path) -> Path:
    """Write weights then config (config.json last: its presence marks a complete checkpoint)."""
    from mtmm_es.core.files import atomic_write_bytes, atomic_write_json

    folder = Path(folder)
    tensors = {
        f"member{i}.{name}": tensor.detach().contiguous()
        for i, member in enumerate(checkpoint.members)
        for name, tensor in member.state_dict().items()
    }
    atomic_write_bytes(folder / WEIGHTS, save(tensors, metadata={"format": FORMAT}))
    atomic_write_json(
        folder / CONFIG,
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": checkpoint.config.to_dict(),
            "members": len(checkpoint.members),
            "feature_spec": checkpoint.feature_spec,
            "labels": {"sentiment": list(SENTIMENT_LABELS), "emotion": list(EMOTION_LABELS)},
            "thresholds": checkpoint.thresholds,
            "emotion_label_metric": checkpoint.emotion_label_metric,
            "task_modalities": checkpoint.task_modalities,
            "sarcasm_base_rate": checkpoint.sarcasm_base_rate,
            "training": checkpoint.training,
        },
    )
    return folder


def _load_member(member: MTMMES, weights: dict[str, Any], index: int, folder: Path) -> None:
    """Load one member's weights, or say in one line how they disagree with the architecture."""
    expected = member.state_dict()
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    reshaped = [k for k in expected if k in weights and tuple(weights[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or reshaped:
        if reshaped:
            key = reshaped[0]
            example = (
                f"'{key}' is {list(weights[key].shape)} in the weights, {list(expected[key].shape)} in config.json"
            )
        else:
            example = f"e.g. '{(missing or unexpected)[0]}'"
        raise MtmmError(
            f"weights of member {index} do not match the architecture in {CONFIG} ({len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(reshaped)} of another shape; {example})",
            folder,
        )
    retyped = [k for k in expected if weights[k].dtype != expected[k].dtype]
    if retyped:
        key = retyped[0]
        raise MtmmError(
            f"weights of member {index}: '{key}' is {weights[key].dtype}, not {expected[key].dtype}", folder
        )
    broken = [k for k in expected if weights[k].is_floating_point() and not bool(torch.isfinite(weights[k]).all())]
    if broken:
        raise MtmmError(f"weights of member {index} are not all finite (NaN or infinite), e.g. '{broken[0]}'", folder)
    member.load_state_dict(weights)


def _dims(dims: Mapping[str, Any]) -> str:
    return ", ".join(f"{m} {d}" for m, d in dims.items()) or "none"


def load_checkpoint(folder: str | Path) -> Checkpoint:
    """Load a checkpoint folder; never unpickles anything. Any inconsistency is one MtmmError line."""
    folder = Path(folder)
    meta = read_meta(folder)
    try:
        tensors = load_file(str(folder / WEIGHTS))
    except Exception as error:
        cause = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise MtmmError(f"unreadable checkpoint ({type(error).__name__}: {cause})", folder) from None
    try:
        config = ModelConfig.from_dict(meta["model"])
    except Exception as error:
        cause = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise MtmmError(f"the 'model' architecture in {CONFIG} is not valid ({cause})", folder) from None
    spec_dims = {m: spec.get("dim") for m, spec in meta["feature_spec"].items()}
    if spec_dims != dict(config.input_dims):
        raise MtmmError(
            f"the feature_spec in {CONFIG} ({_dims(spec_dims)}) does not match the architecture's inputs "
            f"({_dims(config.input_dims)})",
            folder,
        )
    strays = [k for k in tensors if not any(k.startswith(f"member{i}.") for i in range(meta["members"]))]
    if strays:
        raise MtmmError(
            f"the weights hold tensors of no member of the {meta['members']} in {CONFIG}, e.g. '{strays[0]}'", folder
        )
    members = []
    for i in range(meta["members"]):
        try:
            member = MTMMES(config)
        except Exception as error:
            cause = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise MtmmError(f"the architecture in {CONFIG} cannot be built ({cause})", folder) from None
        prefix = f"member{i}."
        _load_member(member, {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}, i, folder)
        member.eval()
        members.append(member)
    return Checkpoint(
        members,
        meta["feature_spec"],
        meta.get("thresholds", {}),
        meta.get("training", {}),
        meta.get("emotion_label_metric", "f1"),
        meta.get("task_modalities", {}),
        meta.get("sarcasm_base_rate", {}),
    )
