"""Speech recognition backends: bundled faster-whisper, openai-whisper with a test-built model, chunking."""

from __future__ import annotations

import warnings
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from helpers import shared_path

from mtmm_es.core.errors import MtmmError
from mtmm_es.extractors.asr import (
    AsrConfig,
    FasterWhisperTranscriber,
    make_transcriber,
    quiet_cut_points,
    recognise_long,
    whisper_words,
)
from mtmm_es.extractors.base import SAMPLE_RATE
from mtmm_es.pipeline.media import Media


@pytest.fixture(scope="module")
def fixture_audio(fixture_video: Path) -> np.ndarray:
    with Media(fixture_video) as media:
        return np.array(media.audio())


@pytest.fixture(scope="module")
def faster_whisper() -> FasterWhisperTranscriber:
    return FasterWhisperTranscriber(AsrConfig())


def test_bundled_model_transcribes_with_word_times(faster_whisper, fixture_audio: np.ndarray) -> None:
    words = faster_whisper.transcribe(fixture_audio)
    text = " ".join(w.text.lower() for w in words)
    for expected in ("movie", "acting", "wonderful", "ending", "angry", "worst", "friends"):
        assert expected in text
    assert all(0 <= w.start <= w.end <= 18.8 and 0 <= w.probability <= 1 for w in words)
    assert [w.start for w in words] == sorted(w.start for w in words)
    assert faster_whisper.info.config["model"] == "bundled:tiny.en"


def test_a_piece_after_an_apostrophe_continues_its_word(faster_whisper) -> None:
    """Regression: Whisper starts a word at an apostrophe, and its pieces were joined with a space:
    "It's 11 o 'clock." reached the text model as "o" and "'clock" (not a GloVe word)."""
    pieces = [(" It's", 0.0, 0.3, 0.9), (" 11", 0.3, 0.6, 0.9), (" o", 0.6, 0.7, 0.8), ("'clock.", 0.7, 1.0, 0.6)]
    words = whisper_words(pieces)
    assert [w.text for w in words] == ["It's", "11", "o'clock."]
    assert (words[-1].start, words[-1].end, words[-1].probability) == (0.6, 1.0, 0.6)
    late = [(" o", 72.02, 72.56, 0.9), ("'clock.", 74.42, 74.64, 0.8)]  # CREMA-D 1013: the piece 1.9 s late
    assert [(w.text, w.start, w.end) for w in whisper_words(late)] == [("o'clock.", 72.02, pytest.approx(72.78))]
    unspaced = [("我", 0.0, 0.1, 0.9), ("喜欢", 0.1, 0.3, 0.9)]  # a language without spaces: each piece a word
    assert [w.text for w in whisper_words(unspaced)] == ["我", "喜欢"]
    audio, _ = soundfile.read(shared_path("speech", "cremad", "clips", "1002_IEO_NEU_XX.opus"), dtype="float32")
    assert [w.text for w in faster_whisper.transcribe(audio)] == ["It's", "11", "o'clock."]


def test_a_last_word_aligned_to_nothing_stays_with_its_sentence() -> None:
    """Regression: tiny.en often gives a segment's last word zero length at the segment's late end
    ("the" ends at 3.84 s, "door." at 5.98-5.98 s); the pause before it split the sentence, and
    "door." opened the next utterance ("Dogs are sitting by the" / "door. Dogs are ...")."""
    pieces = [(" by", 2.5, 2.78, 0.9), (" the", 2.78, 3.84, 0.9), (" door.", 5.98, 5.98, 0.7)]
    assert [(w.text, w.start, w.end) for w in whisper_words(pieces)][1:] == [("the", 2.78, 3.84), ("door.", 3.84, 3.84)]
    aligned = [(" by", 2.5, 2.78, 0.9), (" the", 2.78, 3.84, 0.9), (" door.", 5.5, 5.98, 0.7)]
    assert whisper_words(aligned)[-1].start == 5.5  # a word with a length keeps its time
    two = [(" by", 2.5, 2.78, 0.9), (" the", 5.98, 5.98, 0.9), (" door.", 5.98, 5.98, 0.7)]  # a longer tail
    assert [(w.start, w.end) for w in whisper_words(two)] == [(2.5, 2.78), (2.78, 2.78), (2.78, 2.78)]


def test_chunked_recognition_keeps_global_times(faster_whisper, fixture_audio: np.ndarray, caplog) -> None:
    cuts = quiet_cut_points(fixture_audio, max_chunk_s=8.0)
    assert len(cuts) >= 2 and all(np.abs(fixture_audio[c - 800 : c + 800]).max() < 0.05 for c in cuts)
    whole = faster_whisper.transcribe(fixture_audio)
    with caplog.at_level("INFO", logger="mtmm_es"):
        chunked = [w for s in recognise_long(faster_whisper, fixture_audio, 8.0, "en") for w in s.words]
    # regression: a long file showed no progress with -v between "extracting" and "labelling"
    assert caplog.messages[-1] == "speech recognised: 0.3 of 0.3 min" and len(caplog.messages) == len(cuts) + 1
    matcher = SequenceMatcher(a=[w.text for w in whole], b=[w.text for w in chunked], autojunk=False)
    pairs = [(whole[b.a + k], chunked[b.b + k]) for b in matcher.get_matching_blocks() for k in range(b.size)]
    assert len(pairs) >= 0.8 * len(whole)
    # whisper starts the first word of a chunk up to ~0.6 s early when the chunk opens on silence
    assert all(abs(a.start - b.start) < 0.7 for a, b in pairs)


def test_missing_model_directory_is_explained(tmp_path: Path) -> None:
    with pytest.raises(MtmmError, match="not a CTranslate2 Whisper model directory"):
        make_transcriber(AsrConfig(model=str(tmp_path)))


def build_scripted_whisper(path: Path) -> list[str]:
    """Save a tiny openai-whisper checkpoint whose decoder always says 'hello world' (0-1.5 s).

    The decoder blocks are made the identity, and each position's embedding points the output at
    the next token of a fixed script, so the real decoding, timestamp and alignment code runs fast.
    """
    from whisper.model import ModelDimensions, Whisper
    from whisper.tokenizer import get_tokenizer

    torch.manual_seed(0)
    dims = ModelDimensions(80, 1500, 64, 2, 1, 51864, 448, 64, 2, 1)
    model = Whisper(dims)
    tokenizer = get_tokenizer(multilingual=False)
    script = [tokenizer.timestamp_begin, *tokenizer.encode(" hello world"), tokenizer.timestamp_begin + 75]
    script.append(tokenizer.eot)
    with torch.no_grad():
        decoder = model.decoder
        for block in decoder.blocks:
            for layer in (block.attn.out, block.cross_attn.out, block.mlp[2]):
                layer.weight.zero_()
                layer.bias.zero_()
        decoder.token_embedding.weight.mul_(0.01)
        decoder.positional_embedding.zero_()
        for position, token in enumerate(script):
            decoder.positional_embedding[position, position] = 100.0
            decoder.token_embedding.weight[token, position] = 5.0
    torch.save({"dims": dims.__dict__, "model_state_dict": model.state_dict()}, path)
    return ["hello", "world"]


def test_openai_whisper_backend_with_a_test_built_checkpoint(tmp_path: Path, fixture_audio: np.ndarray) -> None:
    pytest.importorskip("whisper", reason="openai-whisper is the optional extra mtmm-es[openai-whisper]")
    checkpoint = tmp_path / "scripted-tiny.pt"
    expected = build_scripted_whisper(checkpoint)
    transcriber = make_transcriber(AsrConfig(backend="openai-whisper", model=str(checkpoint)))
    audio = fixture_audio[: int(1.5 * SAMPLE_RATE)].copy()
    audio.setflags(write=False)  # as Media gives it: a read-only memmap
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # regression: torch's "NumPy array is not writable" reached stderr
        words = transcriber.transcribe(audio)
    assert [w.text for w in words] == expected
    assert all(0.0 <= w.start <= w.end <= 1.5 for w in words)
    assert transcriber.info.name == "openai-whisper"


def test_openai_whisper_refuses_pickled_payloads(tmp_path: Path) -> None:
    pytest.importorskip("whisper", reason="openai-whisper is the optional extra mtmm-es[openai-whisper]")
    evil = tmp_path / "evil.pt"
    marker = tmp_path / "pwned"
    torch.save({"dims": {}, "payload": _Payload(str(marker))}, evil)
    with pytest.raises(MtmmError, match="cannot load openai-whisper checkpoint: it holds pickled Python objects"):
        make_transcriber(AsrConfig(backend="openai-whisper", model=str(evil)))
    assert not marker.exists()
    noise = tmp_path / "noise.pt"  # regression: random bytes were said to hold pickled objects
    noise.write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(MtmmError, match="cannot load openai-whisper checkpoint: not a PyTorch checkpoint"):
        make_transcriber(AsrConfig(backend="openai-whisper", model=str(noise)))


class _Payload:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_openai_whisper_model_names_need_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("whisper", reason="openai-whisper is the optional extra mtmm-es[openai-whisper]")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(MtmmError, match="not in"):
        make_transcriber(AsrConfig(backend="openai-whisper", model="base.en"))
    with pytest.raises(MtmmError, match="no such openai-whisper"):
        make_transcriber(AsrConfig(backend="openai-whisper", model="gigantic"))


def test_unknown_backend() -> None:
    with pytest.raises(MtmmError, match="unknown ASR backend"):
        make_transcriber(AsrConfig(backend="kaldi"))
