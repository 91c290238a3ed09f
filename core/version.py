"""mtmm-es's own version, as installed; a source tree that was never installed says 0.0.0+unknown."""

from __future__ import annotations

from importlib import metadata


def own_version() -> str:
    try:
        return metadata.version("mtmm-es")
    except metadata.PackageNotFoundError:
        return "0.0.0+unknown"
