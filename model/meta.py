"""A checkpoint folder's config.json, read and checked without torch (so callers can prepare
feature extraction while the weights load)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from mtmm_es.core.errors import MtmmError

from .tasks import EMOTIONS, TASKS

FORMAT = "mtmm-es/checkpoint"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def read_meta(folder: str | Path) -> dict[str, Any]:
    """The checked config.json of a checkpoint folder; any problem is one MtmmError line."""
    folder = Path(folder)
    if not folder.exists():
        raise MtmmError("checkpoint not found", folder)
    if folder.is_file():
        _refuse_non_folder(folder)
    if not (folder / CONFIG).is_file() or not (folder / WEIGHTS).is_file():
        raise MtmmError(f"not a checkpoint folder (expected {CONFIG} and {WEIGHTS})", folder)
    try:
        meta = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise MtmmError(f"unreadable {CONFIG} ({error})", folder) from None
    _check_meta(meta, folder)
    dims = meta["model"].get("input_dims")
    if isinstance(dims, dict):  # a spec naming more than the model reads (fit() saved a corpus's whole spec before)
        meta["feature_spec"] = {m: spec for m, spec in meta["feature_spec"].items() if m in dims}
    return meta


def _refuse_non_folder(path: Path) -> None:
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head[:2] in PICKLE_MAGIC or zipfile.is_zipfile(path):
        raise MtmmError(
            "is a pickle/torch.save file; only checkpoint folders with safetensors weights are loaded "
            "(unpickling can run arbitrary code)",
            path,
        )
    raise MtmmError(f"not a checkpoint folder (expected {CONFIG} and {WEIGHTS})", path)


def _check_meta(meta: Any, folder: Path) -> None:
    """The config.json fields loading relies on, each refused in one line naming what is wrong."""
    where = folder / CONFIG
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise MtmmError("is not an mtmm-es checkpoint config", where)
    if not isinstance(meta.get("model"), dict):
        raise MtmmError("has no 'model' architecture", where)
    members = meta.get("members")
    if isinstance(members, bool) or not isinstance(members, int) or members < 1:
        raise MtmmError(f"'members' must be a whole number of networks, 1 or more (got {members!r})", where)
    spec = meta.get("feature_spec")
    if (
        not isinstance(spec, dict)
        or not spec
        or not all(isinstance(s, dict) and "extractor" in s for s in spec.values())
    ):
        raise MtmmError("has no usable 'feature_spec' (which extractor made each modality's features)", where)
    thresholds = meta.get("thresholds", {})
    if not isinstance(thresholds, dict):
        raise MtmmError("'thresholds' must map a metric to one threshold per emotion", where)
    for name, values in thresholds.items():
        if (
            not isinstance(values, list)
            or len(values) != len(EMOTIONS)
            or not all(isinstance(v, int | float) and 0 <= v <= 1 for v in values)
        ):
            raise MtmmError(f"thresholds '{name}' must be {len(EMOTIONS)} numbers in 0..1", where)
    if thresholds:  # the labels' own choice must be thresholds it has (else emotions label at 0.5)
        label_metric(thresholds, str(meta.get("emotion_label_metric", "f1")), where)
    routes = meta.get("task_modalities", {})
    if not isinstance(routes, dict) or not all(
        task in TASKS
        and isinstance(modalities, list)
        and modalities
        and all(isinstance(m, str) and m in spec for m in modalities)
        for task, modalities in routes.items()
    ):
        raise MtmmError(
            f"'task_modalities' must map tasks ({', '.join(TASKS)}) to lists of the checkpoint's modalities "
            f"({', '.join(spec)}), not {routes!r}",
            where,
        )
    if not isinstance(meta.get("training", {}), dict):
        raise MtmmError("'training' must be a record of how the checkpoint was trained", where)
    rates = meta.get("sarcasm_base_rate", {})
    if not isinstance(rates, dict) or not all(
        key in ("trained", "reported") and isinstance(v, int | float) and not isinstance(v, bool) and 0 < v < 1
        for key, v in rates.items()
    ):
        raise MtmmError("'sarcasm_base_rate' must give 'trained' and 'reported' as shares between 0 and 1", where)


def label_metric(thresholds: dict[str, Any], metric: str, where: str | Path | None = None) -> str:
    """`metric` ("f1", "wacc") checked against the emotion thresholds a checkpoint carries."""
    if f"emotion_{metric}" not in thresholds:
        known = ", ".join(k.removeprefix("emotion_") for k in thresholds) or "none"
        raise MtmmError(f"the checkpoint has no '{metric}' emotion thresholds (it has: {known})", where)
    return metric
