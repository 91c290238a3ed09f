"""Corpus loaders: each yields videos (or dialogues) of ordered utterances with the labels it has."""

from __future__ import annotations

from pathlib import Path

from extractors.errors import MtmmError

from ..data import Corpus
from .mosi import load_mosi

LOADERS = {"mosi": load_mosi}


def load_corpus(name: str, data_dir: str | Path, split: str = "train") -> Corpus:
    """A corpus by dataset name (see LOADERS) from its folder."""
    loader = LOADERS.get(name)
    if loader is None:
        raise MtmmError(f"unknown dataset '{name}' (choose from {', '.join(sorted(LOADERS))})")
    if not Path(data_dir).is_dir():
        raise MtmmError("dataset folder not found", data_dir)
    return loader(data_dir, split)
