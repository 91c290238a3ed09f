"""Small file helpers: content hashing and atomic writes (temp file in the same folder + rename)."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from stat import S_ISREG
from typing import Any

import numpy as np

from mtmm_es.core.errors import MtmmError


def file_sha256(path: str | Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def read_utf8(path: Path) -> str:
    """A text file's text (CSV, WebVTT): UTF-8 (a byte-order mark allowed), or an error naming the first bad line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise MtmmError(f"line {line}: not UTF-8 text (save the file as UTF-8)", path) from None


def path_state(path: str | Path) -> list[list[Any]]:
    """How a file (or every file under a folder) stands without reading it: resolved path, size and
    modification time; empty when nothing is there. For keys that must change when a user's file does."""
    path = Path(path).expanduser()
    if path.is_dir():  # linked subfolders too (a model folder may link its weights)
        files = sorted(Path(root) / name for root, _, names in os.walk(path, followlinks=True) for name in names)
    else:
        files = [path]
    state = []
    for file in files:
        try:
            stat = file.stat()
        except OSError:
            continue
        state.append([str(file.resolve()), stat.st_size, stat.st_mtime_ns])
    return state


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()
NAME_MAX = 255  # bytes in one file name (ext4, XFS, APFS, NTFS)


def fitting_name(name: str, extra: int) -> str:
    """`name`, or, when `extra` more bytes would take it past NAME_MAX, its start (cut between UTF-8
    characters) and a digest of the whole: the same for the same name, so files derived from it are
    found again."""
    raw = os.fsencode(name)
    if len(raw) + extra <= NAME_MAX:
        return name
    digest = hashlib.sha256(raw).hexdigest()[:16]
    cut = NAME_MAX - extra - len(digest) - 1
    while cut and raw[cut] & 0xC0 == 0x80:  # a UTF-8 continuation byte: the cut would split a character
        cut -= 1
    return f"{os.fsdecode(raw[:cut])}~{digest}"


def _temp_prefix(name: str) -> str:
    return f".{fitting_name(name, len('..XXXXXXXX.tmp'))}."


_TEMP_NAME = re.compile(r"\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.tmp")  # mkstemp(prefix=".NAME.", suffix=".tmp")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` so readers see the old file or the whole new one, never a partial file."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(prefix=_temp_prefix(path.name), suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise MtmmError(f"cannot write ({error.strerror})", path) from error
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual permissions
        os.replace(temp, path)
    except BaseException as error:
        if os.path.exists(temp):
            os.unlink(temp)
        if isinstance(error, OSError):  # a full disk, a quota, a vanished folder: name the file
            raise MtmmError(f"cannot write ({error.strerror or error})", path) from error
        raise


def remove_stale_temporaries(targets: Iterable[str | Path], older_than_s: float = 3600.0) -> int:
    """Delete the temporary files `atomic_write_bytes` left beside `targets` when its process was
    killed between writing and renaming, once they are `older_than_s` old (a live write of another
    run into the same folder lasts seconds). Only `.NAME.XXXXXXXX.tmp` beside NAME is touched; each
    folder is listed once. Returns how many were removed."""
    by_folder: dict[Path, set[str]] = {}
    for target in map(Path, targets):
        by_folder.setdefault(target.parent, set()).add(_temp_prefix(target.name))
    removed, cutoff = 0, time.time() - older_than_s
    for folder, names in by_folder.items():
        for temp in folder.glob(".*.tmp"):
            match = _TEMP_NAME.fullmatch(temp.name)
            if match and f".{match['name']}." in names and _modified(temp) < cutoff:
                temp.unlink(missing_ok=True)
                removed += 1
    return removed


def _modified(path: Path) -> float:
    """A regular file's modification time; +inf for anything else, or a file gone meanwhile (a live
    write of another run renamed into place between the listing and this look)."""
    try:
        stat = path.stat()
    except OSError:
        return math.inf
    return stat.st_mtime if S_ISREG(stat.st_mode) else math.inf


def write_stdout(text: str) -> None:
    """`text` on standard output (`--out -`). A write that fails (a full disk, an I/O error) is one
    line naming it, as for a file; a reader that left (BrokenPipeError) is the caller's to handle."""
    if sys.stdout is None:
        raise MtmmError("stdout is closed: give --out a file")
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as error:
        raise MtmmError(f"cannot write standard output ({error.strerror or error})", "-") from error


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """`obj` as strict JSON: a number that is not finite (a metric undefined on constant predictions)
    is written as null, since NaN and Infinity are not JSON and strict parsers reject them."""
    atomic_write_text(path, json.dumps(_finite(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(value) for value in obj]
    return obj


def atomic_save_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Arrays of an .npz written by this project; object arrays (pickles) are refused."""
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}
