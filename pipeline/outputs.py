"""The extraction folder format (also what training reads back).

DIR/utterances.json  list of {index, start, end, text, words}
DIR/features.npz     per modality M: array M [n, dim] float32 and M_mask [n] bool
DIR/spec.json        feature spec: extractor names, versions, configs, feature names; media metadata
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mtmm_es.core.errors import MtmmError
from mtmm_es.core.files import atomic_save_npz, atomic_write_json, load_npz
from mtmm_es.extractors.base import Utterance

from .extract import Extraction

UTTERANCES = "utterances.json"
FEATURES = "features.npz"
SPEC = "spec.json"


@dataclass
class FeatureSet:
    """A features folder read back: utterances, {modality: (values, mask)} and the spec."""

    utterances: list[Utterance]
    values: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]
    spec: dict[str, Any]


def write_extraction(extraction: Extraction, out_dir: str | Path) -> Path:
    """Write the three files atomically; spec.json last, so its presence marks a complete folder (an
    earlier extraction's is removed first: a rewrite cut short leaves no folder that reads as whole)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise MtmmError("the features folder is a file", out)
    (out / SPEC).unlink(missing_ok=True)
    arrays: dict[str, np.ndarray] = {}
    for modality, features in extraction.features.items():
        arrays[modality] = features.values
        arrays[f"{modality}_mask"] = features.mask
    atomic_write_json(out / UTTERANCES, [u.to_dict() for u in extraction.utterances])
    atomic_save_npz(out / FEATURES, arrays)
    atomic_write_json(out / SPEC, extraction.spec())
    return out


def read_feature_set(folder: str | Path) -> FeatureSet:
    """Read a folder written by `write_extraction`, checking shapes against the spec."""
    folder = Path(folder)
    for name in (UTTERANCES, FEATURES, SPEC):
        if not (folder / name).is_file():
            raise MtmmError(f"not a features folder (missing {name})", folder)
    try:
        spec = json.loads((folder / SPEC).read_text(encoding="utf-8"))
        dims = {m: int(s["dim"]) for m, s in spec["modalities"].items()}
        utterances = [Utterance.from_dict(u) for u in json.loads((folder / UTTERANCES).read_text(encoding="utf-8"))]
        arrays = load_npz(folder / FEATURES)
    except Exception as error:  # damaged JSON or npz (a truncated zip, a field missing, a wrong type)
        raise MtmmError(f"unreadable features folder: {type(error).__name__}: {error}", folder) from None
    values, masks = {}, {}
    for modality, dim in dims.items():
        if modality not in arrays or f"{modality}_mask" not in arrays:
            raise MtmmError(f"{FEATURES} lacks '{modality}' arrays", folder)
        values[modality] = arrays[modality].astype(np.float32)
        masks[modality] = arrays[f"{modality}_mask"].astype(bool)
        if values[modality].shape != (len(utterances), dim):
            raise MtmmError(
                f"'{modality}' has shape {values[modality].shape}, not ({len(utterances)}, {dim}): "
                f"{len(utterances)} utterances in {UTTERANCES}, dim {dim} in {SPEC}",
                folder,
            )
        if masks[modality].shape != (len(utterances),):
            raise MtmmError(f"'{modality}_mask' has shape {masks[modality].shape}, not one per utterance", folder)
    return FeatureSet(utterances, values, masks, spec)
