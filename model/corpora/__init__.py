"""Corpus loaders: each yields videos (or dialogues) of ordered utterances with the labels it has."""

from __future__ import annotations

import sys
from pathlib import Path

from mtmm_es.core.errors import MtmmError
from mtmm_es.extractors.text import GloveTextExtractor, TextConfig

from ..data import Corpus
from .common import ExtractFunction, add_text_features
from .house import load_house
from .meld import load_meld
from .mosei import load_mosei
from .mosei_text import load_mosei_text
from .mosi import load_mosi
from .mustard import load_mustard, load_mustardpp
from .videos import load_videos

LOADERS = {
    "mosi": load_mosi,
    "mosei": load_mosei,
    "mosei-text": load_mosei_text,
    "meld": load_meld,
    "mustard": load_mustard,
    "mustardpp": load_mustardpp,
    "videos": load_videos,
    "house": load_house,
}


# loaders that read media and so need the pipeline's extract function
MEDIA_LOADERS = {"mosei", "videos", "house"}


def check_dataset(name: str) -> str:
    """The name of a dataset a loader exists for, or an error listing them."""
    if name not in LOADERS:
        raise MtmmError(f"unknown dataset '{name}' (choose from {', '.join(sorted(LOADERS))})")
    return name


def load_corpus(
    name: str,
    data_dir: str | Path,
    split: str = "train",
    extract: ExtractFunction | None = None,
    text: TextConfig | None = None,
) -> Corpus:
    """A corpus by dataset name from its folder; transcript-only corpora get our text features,
    configured by `text` (default: the default configuration).

    `extract(path, segments)` runs the feature extractors on media (corpora with videos need it)."""
    loader = LOADERS[check_dataset(name)]
    if not Path(data_dir).is_dir():
        raise MtmmError("dataset folder not found", data_dir)
    corpus = loader(data_dir, split, extract) if name in MEDIA_LOADERS else loader(data_dir, split)
    if not corpus.videos:
        return corpus
    if not corpus.spec and corpus.videos and corpus.videos[0].texts is not None:
        corpus = add_text_features(corpus, GloveTextExtractor(text or TextConfig()))
    if not corpus.spec:
        layout = " ".join((sys.modules[loader.__module__].__doc__ or "").split("\n\n")[0].split())
        raise MtmmError(f"no features found for {name} ({split}); what it reads: {layout}", data_dir)
    return corpus
