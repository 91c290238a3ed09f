"""Reading CMU-MultimodalSDK computational sequences (.csd, HDF5): `<root>/data/<id>/{features,intervals}`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from mtmm_es.core.errors import MtmmError


@dataclass(frozen=True)
class Sequence:
    """One video's entries: features [n, d] (numbers, or bytes for word sequences) and intervals [n, 2]."""

    features: np.ndarray
    intervals: np.ndarray


class ComputationalSequence:
    """Read-only access to a .csd file; entries are loaded per video on demand."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._file = h5py.File(self.path, "r")
        except (OSError, ValueError) as error:
            raise MtmmError(f"not a computational sequence (.csd/HDF5): {error}", self.path) from error
        roots = list(self._file.keys())
        if len(roots) != 1 or "data" not in self._file[roots[0]]:
            self._file.close()
            raise MtmmError("not a computational sequence: expected one root group with 'data'", self.path)
        self.name = roots[0]
        self._data = self._file[self.name]["data"]

    def __enter__(self) -> ComputationalSequence:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    @property
    def dim(self) -> int:
        """Feature width of the entries (read from the first one)."""
        first = self.ids()[0]
        return int(self._data[first]["features"].shape[1])

    def __contains__(self, video_id: str) -> bool:
        return video_id in self._data

    def __len__(self) -> int:
        return len(self._data)

    def ids(self) -> list[str]:
        return list(self._data.keys())

    def __getitem__(self, video_id: str) -> Sequence:
        group = self._data[video_id]
        return Sequence(group["features"][()], group["intervals"][()].astype(np.float64))

    def items(self) -> Iterator[tuple[str, Sequence]]:
        for video_id in self.ids():
            yield video_id, self[video_id]

    def words(self, video_id: str) -> list[tuple[str, float, float]]:
        """(word, start, end) of a word-sequence entry, SDK pause markers ('sp') dropped."""
        entry = self[video_id]
        rows = []
        for feature, (start, end) in zip(entry.features[:, 0], entry.intervals):
            word = feature.decode("utf-8", errors="replace") if isinstance(feature, bytes) else str(feature)
            if word != "sp":
                rows.append((word, float(start), float(end)))
        return rows
