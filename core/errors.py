"""The one exception type users see: a clear, one-line message naming the file and the cause."""

from __future__ import annotations

from pathlib import Path


class MtmmError(Exception):
    """An expected failure (bad input, missing asset, incompatible checkpoint).

    The CLI prints it as a single line and exits non-zero; anything else is a bug.
    """

    def __init__(self, cause: str, path: str | Path | None = None):
        self.cause = cause
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {cause}" if self.path else cause)
