"""The one exception type users see: a clear, one-line message naming the file and the cause."""

from __future__ import annotations

import os
from pathlib import Path


def printable(path: str | Path) -> str:
    """`path` as text that encodes as UTF-8: bytes a file name could not decode become \\xNN escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def quoted(path: str | Path) -> str:
    """`path` for a one-line message: as is when plain, else quoted with escapes (newlines, odd bytes)."""
    text = printable(path)
    return text if text.isprintable() else repr(text)


class MtmmError(Exception):
    """An expected failure (bad input, missing asset, incompatible checkpoint).

    The CLI prints it as a single line and exits non-zero; anything else is a bug.
    """

    def __init__(self, cause: str, path: str | Path | None = None):
        self.cause = cause
        self.path = None if path is None else str(path)
        super().__init__(f"{quoted(self.path)}: {cause}" if self.path else cause)
