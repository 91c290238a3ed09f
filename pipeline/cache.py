"""Extraction cache keyed by the file's content hash and the stage's configuration."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mtmm_es.core.errors import MtmmError
from mtmm_es.core.files import atomic_save_npz, atomic_write_json, load_npz

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    if os.getenv("MTMM_CACHE_DIR"):
        return Path(os.environ["MTMM_CACHE_DIR"])
    return Path(os.getenv("XDG_CACHE_HOME", Path.home() / ".cache")) / "mtmm-es"


def cache_key(**parts: Any) -> str:
    """A stable digest of JSON-serialisable parts (file hash, stage, config, ...)."""
    canonical = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class Cache:
    """A folder of JSON and NPZ entries. An unreadable entry (truncated, damaged) is a miss, logged as
    a warning, and is recomputed and replaced; a failed write is logged and never fails the
    extraction. Disabled: always misses."""

    def __init__(self, root: str | Path | None = None, enabled: bool = True):
        self.root = Path(root) if root else default_cache_dir()
        self.enabled = enabled
        self._warned = False

    def _not_written(self, error: Exception) -> None:
        """Log a failed write: the first as a warning, the rest (a read-only or full cache fails
        every write) for -v only."""
        if self._warned:
            log.debug("cache entry not written: %s", error)
            return
        self._warned = True
        log.warning("cache entry not written, continuing without it: %s (further failures: -v)", error)

    def _path(self, key: str, suffix: str) -> Path:
        return self.root / key[:2] / f"{key}{suffix}"

    def get_json(self, key: str, parse: Callable[[Any], Any] | None = None) -> Any | None:
        """The entry, through `parse` when given: an entry `parse` cannot read (a damaged or older
        layout) is a miss like an unreadable file."""
        path = self._path(key, ".json")
        if not self.enabled or not path.is_file():
            return None
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            return _miss(path, error)
        return _parsed(path, value, parse)

    def put_json(self, key: str, value: Any) -> bool:
        """Whether the entry was written (a failure is logged and never raised)."""
        if not self.enabled:
            return False
        try:
            atomic_write_json(self._path(key, ".json"), value)
        except Exception as error:  # a read-only or full cache must never fail an extraction
            self._not_written(error)
            return False
        return True

    def get_arrays(self, key: str, parse: Callable[[dict[str, np.ndarray]], Any] | None = None) -> Any | None:
        """The arrays, through `parse` when given (a miss when it cannot read them, as for get_json)."""
        path = self._path(key, ".npz")
        if not self.enabled or not path.is_file():
            return None
        try:
            arrays = load_npz(path)
        except Exception as error:  # a truncated zip raises BadZipFile, EOFError, zlib.error, ...
            return _miss(path, error)
        return _parsed(path, arrays, parse)

    def drop_json(self, key: str) -> None:
        """Remove an entry if it is there (a failure is logged, as for writes)."""
        if self.enabled:
            try:
                self._path(key, ".json").unlink(missing_ok=True)
            except OSError as error:
                log.warning("cache entry not removed, continuing: %s", error)

    def put_arrays(self, key: str, arrays: dict[str, np.ndarray]) -> None:
        if self.enabled:
            try:
                atomic_save_npz(self._path(key, ".npz"), arrays)
            except Exception as error:  # a read-only or full cache must never fail an extraction
                self._not_written(error)


class CacheMemo:
    """Entries of `cache` under fixed key parts, named by what varies (a long recognition's chunks),
    kept until `forget` (once what they add up to is cached itself)."""

    def __init__(self, cache: Cache, **parts: Any):
        self.cache = cache
        self.parts = parts
        self.keys: set[str] = set()

    def _key(self, name: dict[str, Any]) -> str:
        key = cache_key(**self.parts, name=name)
        self.keys.add(key)
        return key

    def get(self, name: dict[str, Any], parse: Callable[[Any], Any]) -> Any | None:
        return self.cache.get_json(self._key(name), parse)

    def put(self, name: dict[str, Any], value: Any) -> None:
        self.cache.put_json(self._key(name), value)

    def forget(self) -> None:
        """Remove every entry this memo read or wrote."""
        for key in self.keys:
            self.cache.drop_json(key)
        self.keys.clear()


def _miss(path: Path, error: BaseException) -> None:
    log.warning("%s: unreadable cache entry, recomputing (%s: %s)", path, type(error).__name__, error)
    return None


def _parsed(path: Path, value: Any, parse: Callable[[Any], Any] | None) -> Any | None:
    """`value` through `parse`; an entry of another layout (what a reader's lookups and conversions
    raise) is a miss, while a bug in the reader itself still fails loudly."""
    if parse is None:
        return value
    try:
        return parse(value)
    except (LookupError, TypeError, ValueError, MtmmError) as error:
        return _miss(path, error)
