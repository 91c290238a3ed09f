"""GloVe-averaged text features: tokenisation, averaging, masks and user vector files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors

from mtmm_es.core.errors import MtmmError
from mtmm_es.extractors.base import Utterance
from mtmm_es.extractors.text import GloveTextExtractor, TextConfig, load_vectors, tokenize


def test_tokenize_follows_glove_conventions() -> None:
    assert tokenize("Don't you LOVE it?! It's well-known.") == [
        "do",
        "n't",
        "you",
        "love",
        "it",
        "?",
        "!",
        "it",
        "'s",
        "well-known",
        ".",
    ]
    assert tokenize("I CAN'T – won’t") == ["i", "ca", "n't", "–", "wo", "n't"]


def test_bundled_vectors_average_known_words() -> None:
    extractor = GloveTextExtractor()
    kv = extractor.vectors
    values, mask = extractor.embed(["I loved it!", "", "zzqxv blorptang"])
    assert values.shape == (3, 50) and list(mask) == [True, False, False]
    expected = np.mean([kv["i"], kv["loved"], kv["it"]], axis=0)
    np.testing.assert_allclose(values[0], expected, rtol=1e-6)
    assert not values[1].any() and not values[2].any()


def test_corpus_transcript_and_asr_output_embed_alike() -> None:
    extractor = GloveTextExtractor()
    values, _ = extractor.embed(["I DONT KNOW WHY", "I dont know why."])
    np.testing.assert_allclose(values[0], values[1])


def test_negation_flips_words_until_the_clause_ends() -> None:
    extractor = GloveTextExtractor()
    kv = extractor.vectors
    values, _ = extractor.embed(["not good , fun", "good fun"])
    np.testing.assert_allclose(values[0], (kv["not"] - kv["good"] + kv["fun"]) / 3, rtol=1e-5)
    plain, _ = GloveTextExtractor(TextConfig(negation=False)).embed(["not good , fun"])
    np.testing.assert_allclose(plain[0], (kv["not"] + kv["good"] + kv["fun"]) / 3, rtol=1e-5)


def test_sif_weighting_discounts_frequent_words() -> None:
    kv = GloveTextExtractor().vectors
    values, _ = GloveTextExtractor(TextConfig(weighting="sif")).embed(["the movie"])
    weight = {
        w: 1e-4 / (1e-4 + 1 / ((kv.key_to_index[w] + 1) * (np.log(len(kv.index_to_key)) + 0.5772)))
        for w in ("the", "movie")
    }
    expected = (weight["the"] * kv["the"] + weight["movie"] * kv["movie"]) / (weight["the"] + weight["movie"])
    np.testing.assert_allclose(values[0], expected, rtol=1e-4)
    assert weight["the"] < weight["movie"] / 10


def test_info_describes_the_features_without_loading_vectors() -> None:
    info = GloveTextExtractor().info
    assert info.dim == 50 and info.feature_names[0] == "glove_0"
    assert info.config["vectors"] == "bundled:glove-6B-50d"


def test_pool_masks_utterances_without_known_words() -> None:
    utterances = [Utterance(0, 0.0, 1.0, "great movie"), Utterance(1, 1.0, 2.0, "hmmzz")]
    features = GloveTextExtractor().pool(None, None, utterances)
    assert features.values.shape == (2, 50) and list(features.mask) == [True, False]


def _toy_vectors() -> KeyedVectors:
    kv = KeyedVectors(3)
    kv.add_vectors(["good", "bad", "Movie"], np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32))
    return kv


def test_user_glove_and_word2vec_files(tmp_path: Path) -> None:
    glove = tmp_path / "toy.glove.txt"
    glove.write_text("good 1 0 0\nbad 0 1 0\nMovie 0 0 1\n")
    word2vec = tmp_path / "toy.w2v.bin"
    _toy_vectors().save_word2vec_format(str(word2vec), binary=True)
    for path in (glove, word2vec):
        extractor = GloveTextExtractor(TextConfig(vectors=str(path)))
        values, mask = extractor.embed(["good Movie", "good movie"])
        np.testing.assert_allclose(values[0], [0.5, 0, 0.5])
        np.testing.assert_allclose(values[1], [1, 0, 0])  # cased vocabulary: "movie" is unknown
        assert extractor.info.dim == 3 and extractor.info.config["vectors"].startswith(path.name)


def test_pickled_keyed_vectors_need_explicit_consent(tmp_path: Path) -> None:
    path = tmp_path / "toy.kv"
    _toy_vectors().save(str(path))
    with pytest.raises(MtmmError, match="pickles"):
        load_vectors(str(path))
    assert load_vectors(str(path), allow_pickle=True).vector_size == 3


def test_missing_or_broken_vectors_file(tmp_path: Path) -> None:
    with pytest.raises(MtmmError, match="not found"):
        load_vectors(str(tmp_path / "nope.txt"))
    broken = tmp_path / "broken.txt"
    broken.write_text("good 1 0\nbad 0 1 0 7\n")
    with pytest.raises(MtmmError, match="cannot read word vectors"):
        load_vectors(str(broken))


def test_word_vectors_load_once_per_process_until_their_file_changes(tmp_path: Path) -> None:
    """Regression: keying the cache by the file's state dropped it for the bundled vectors, which
    were then read again (0.3-0.5 s) for every extractor made."""
    assert load_vectors(None) is load_vectors(None)
    vectors = tmp_path / "v.txt"
    vectors.write_text("movie 1 0\n")
    first = load_vectors(str(vectors))
    assert load_vectors(str(vectors)) is first
    written = vectors.stat().st_mtime_ns
    vectors.write_text("movie 0 1\n")  # same size, other vectors, a second later (coarse clocks: set it)
    os.utime(vectors, ns=(written + 10**9, written + 10**9))
    assert list(load_vectors(str(vectors))["movie"]) == [0.0, 1.0]
