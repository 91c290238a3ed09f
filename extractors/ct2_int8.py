"""Int8 copies of the bundled CTranslate2 Whisper models, written once into the model cache.

The bundled models are stored in float16, and CTranslate2 quantizes them to int8 on every load:
about 1.3 s of CPU for Whisper base and 0.5 s for tiny.en, paid by every run. The copy holds the
weights CTranslate2 would compute at load (each 2-D weight as int8 rows with a float32 scale per
row, everything else float32), so it loads in about 0.1 s and decodes exactly as the float16 model
loaded with compute_type "int8" does (tested). When no copy can be written (a read-only cache, a
model.bin in another format) the model is loaded as shipped.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import threading
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import BinaryIO

import numpy as np

from mtmm_es.core.errors import MtmmError
from mtmm_es.core.files import atomic_write_bytes, atomic_write_text

logger = logging.getLogger("mtmm_es.asr")

BINARY_VERSION = 6  # the model.bin layout read and written here (CTranslate2 4.x)
DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")  # CTranslate2's DataType order
MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt", "vocabulary.json", "preprocessor_config.json")
STAMP = "source.stamp"
_WRITING = threading.Lock()

Variable = tuple[str, np.ndarray]


def models_dir() -> Path:
    """Where joined and prepared model files live: $MTMM_MODELS_DIR, else the models folder of
    $MTMM_CACHE_DIR (default ~/.cache/mtmm-es)."""
    if folder := os.getenv("MTMM_MODELS_DIR"):
        return Path(folder)
    root = os.getenv("MTMM_CACHE_DIR") or Path(os.getenv("XDG_CACHE_HOME", Path.home() / ".cache")) / "mtmm-es"
    return Path(root) / "models"


def int8_model(source: Path, name: str) -> Path:
    """Folder of the int8 copy of the CTranslate2 model in `source` (written on first use, and again
    when the source changes), or `source` itself when no copy can be made. Threads that load the same
    model at once (the recogniser and the encoder features) write it once."""
    folder = models_dir() / name
    stamp = _stamp(source)
    with _WRITING:
        expected = _stamped(stamp, folder / "model.bin")
        if expected is not None and _read(folder / STAMP) == expected:
            return folder
        logger.info("writing an int8 copy of %s into %s (once)", source, folder)
        try:
            _write_copy(source, folder, stamp)
        except (MtmmError, OSError, ValueError, struct.error) as error:
            logger.warning("cannot write an int8 copy of %s (%s): loading it as shipped", source, error)
            return source
        return folder


def _stamp(source: Path) -> str:
    stat = (source / "model.bin").stat()
    version = metadata.version("ctranslate2")
    return f"{source.resolve()} {stat.st_size} {stat.st_mtime_ns} ctranslate2 {version} format {BINARY_VERSION}\n"


def _stamped(stamp: str, copy: Path) -> str | None:
    """The source's stamp with the copy's size: a copy cut short (a full disk, a bad restore) no
    longer matches, so it is written again instead of failing every run."""
    try:
        return f"{stamp}copy {copy.stat().st_size}\n"
    except OSError:
        return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _write_copy(source: Path, folder: Path, stamp: str) -> None:
    """The other model files, then model.bin, then the stamp: a copy is complete when stamped."""
    (folder / STAMP).unlink(missing_ok=True)
    for name in MODEL_FILES:
        if (source / name).is_file():
            atomic_write_bytes(folder / name, (source / name).read_bytes())
    model = io.BytesIO()
    _write_int8((source / "model.bin").read_bytes(), model)
    atomic_write_bytes(folder / "model.bin", model.getvalue())
    atomic_write_text(folder / STAMP, _stamped(stamp, folder / "model.bin"))


class _Reader:
    """CTranslate2's model.bin: a header, then named arrays, then aliases (name -> variable name)."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def string(self) -> str:
        (length,) = self.take("H")  # counts the terminating NUL
        text = self.data[self.pos : self.pos + length - 1].decode("utf-8")
        self.pos += length
        return text

    def variables(self, count: int) -> Iterator[Variable]:
        for _ in range(count):
            name = self.string()
            (rank,) = self.take("B")
            shape = self.take("I" * rank)
            (dtype,) = self.take("B")
            (size,) = self.take("I")
            if dtype >= len(DTYPES) or DTYPES[dtype] == "bfloat16":
                raise ValueError(f"unsupported data type {dtype} in {name}")
            array = np.frombuffer(self.data, DTYPES[dtype], size // np.dtype(DTYPES[dtype]).itemsize, self.pos)
            self.pos += size
            yield name, array.reshape(shape)


def _quantized(name: str, array: np.ndarray) -> list[Variable]:
    """What CTranslate2 holds after loading `array` with compute_type int8."""
    if array.dtype.kind != "f":
        return [(name, array)]
    values = array.astype(np.float32)
    if not (name.endswith("weight") and values.ndim == 2):
        return [(name, values)]
    peak = np.abs(values).max(axis=1)
    peak[peak == 0] = 127.0
    scale = (127.0 / np.maximum(peak, np.float32(127) / np.finfo(np.float32).max)).astype(np.float32)
    return [(name, np.rint(values * scale[:, None]).astype(np.int8)), (f"{name}_scale", scale)]


def _write_int8(data: bytes, out: BinaryIO) -> None:
    reader = _Reader(data)
    (version,) = reader.take("I")
    if version != BINARY_VERSION:
        raise ValueError(f"model.bin format {version}, not {BINARY_VERSION}")
    spec = reader.string()
    (revision,) = reader.take("I")
    (count,) = reader.take("I")
    variables = [quantized for name, array in reader.variables(count) for quantized in _quantized(name, array)]
    (alias_count,) = reader.take("I")
    aliases = [(reader.string(), reader.string()) for _ in range(alias_count)]
    if reader.pos != len(data):
        raise ValueError("model.bin has trailing bytes")

    def string(text: str) -> bytes:
        encoded = text.encode("utf-8")
        return struct.pack("<H", len(encoded) + 1) + encoded + b"\0"

    out.write(struct.pack("<I", version) + string(spec) + struct.pack("<II", revision, len(variables)))
    for name, array in variables:
        out.write(string(name) + struct.pack(f"<B{array.ndim}I", array.ndim, *array.shape))
        out.write(struct.pack("<BI", DTYPES.index(array.dtype.name), array.nbytes))
        out.write(array.tobytes(order="C"))
    out.write(struct.pack("<I", len(aliases)))
    for alias, target in aliases:
        out.write(string(alias) + string(target))
