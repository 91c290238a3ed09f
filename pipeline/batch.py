"""Folders of videos: one labels file per input (mirrored relative paths), resume, per-file error
isolation, parallel workers (processes, or Ray tasks), progress, and a run summary.

Every output is written atomically (temp file + rename) together with a sidecar under
OUTDIR/.mtmm/ recording the input's SHA-256 and the configuration; a later run skips an input
whose sidecar matches, so an interrupted run (Ctrl-C, kill -9) resumes where it stopped.
"""

from __future__ import annotations

import fnmatch
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mtmm_es.core.errors import MtmmError
from mtmm_es.core.files import atomic_write_json, atomic_write_text, file_sha256

from .cache import cache_key
from .config import ExtractionConfig
from .formats import FORMATS, render

MEDIA_SUFFIXES = frozenset(
    ".mp4 .m4v .mkv .webm .mov .avi .flv .wmv .mpg .mpeg .ts .3gp .ogv "
    ".wav .mp3 .m4a .aac .flac .ogg .opus .wma".split()
)
SIDECARS = ".mtmm"
SUMMARY = "mtmm-summary.json"


@dataclass(frozen=True)
class BatchOptions:
    format: str = "json"
    recursive: bool = False
    pattern: str | None = None  # glob on the file name, e.g. "*.mp4"
    overwrite: bool = False
    workers: int = 1
    report: bool = False
    backend: str = "local"  # or "ray"
    ray_address: str | None = None


@dataclass
class Outcome:
    input: str  # relative to the input folder
    status: str  # processed | skipped | failed
    output: str | None = None
    reason: str | None = None
    seconds: float = 0.0
    utterances: int | None = None


@dataclass
class RunSummary:
    input_dir: str
    output_dir: str
    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: bool = False

    def counts(self) -> dict[str, int]:
        return {s: sum(o.status == s for o in self.outcomes) for s in ("processed", "skipped", "failed")}

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_dir": self.input_dir,
            "output_dir": self.output_dir,
            "counts": self.counts(),
            "interrupted": self.interrupted,
            "files": [asdict(o) for o in self.outcomes],
        }


def default_workers() -> int:
    """One worker per two cores: each worker already runs ASR and face tracking on two threads."""
    return max(1, (os.cpu_count() or 1) // 2)


def find_inputs(root: Path, recursive: bool = False, pattern: str | None = None) -> list[Path]:
    """Media files under `root` (by extension), sorted; hidden files and our own outputs skipped."""
    candidates = root.rglob("*") if recursive else root.iterdir()
    found = []
    for path in candidates:
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        if path.suffix.lower() in MEDIA_SUFFIXES and (pattern is None or fnmatch.fnmatch(path.name, pattern)):
            found.append(path)
    return sorted(found)


def safe_relative(path: Path, root: Path) -> Path:
    """`path` relative to `root` with every part made a plain, harmless file name."""
    parts = []
    for part in path.relative_to(root).parts:
        cleaned = "".join(c if c.isprintable() and c not in '<>:"|?*\\' else "_" for c in part).strip()
        parts.append("_" if cleaned in ("", ".", "..") else cleaned)
    return Path(*parts)


def output_path(path: Path, root: Path, out_dir: Path, fmt: str) -> Path:
    relative = safe_relative(path, root)
    return out_dir / relative.parent / f"{relative.name}.{fmt}"


def _sidecar(output: Path, out_dir: Path) -> Path:
    return out_dir / SIDECARS / output.relative_to(out_dir).parent / f"{output.name}.json"


def run_fingerprint(
    extraction: ExtractionConfig, checkpoint: str | None, fmt: str, report: bool, emotion_thresholds: str | None
) -> str:
    """What decides an output besides the input's bytes: extraction config, model weights, format."""
    from .analyze import default_checkpoint_dir

    folder = Path(checkpoint) if checkpoint else default_checkpoint_dir()
    weights = folder / "model.safetensors"
    model_id = file_sha256(weights) if weights.is_file() else str(folder)
    config = {k: v for k, v in extraction.to_dict().items() if k not in ("cache", "cache_dir")}
    return cache_key(extraction=config, model=model_id, format=fmt, report=report, thresholds=emotion_thresholds)


def is_done(path: Path, output: Path, out_dir: Path, fingerprint: str) -> bool:
    sidecar = _sidecar(output, out_dir)
    if not output.is_file() or not sidecar.is_file():
        return False
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return record.get("fingerprint") == fingerprint and record.get("sha256") == file_sha256(path)


# --- the per-file job (runs in worker processes or Ray tasks) ---

_PIPELINE = None


def _pipeline(extraction: ExtractionConfig, checkpoint: str | None, emotion_thresholds: str | None):
    global _PIPELINE
    if _PIPELINE is None:
        from .analyze import Pipeline

        _PIPELINE = Pipeline(extraction, checkpoint, emotion_thresholds)
    return _PIPELINE


def process_file(
    path: str,
    output: str,
    sidecar: str,
    fmt: str,
    report: bool,
    fingerprint: str,
    extraction: ExtractionConfig,
    checkpoint: str | None,
    emotion_thresholds: str | None = None,
) -> dict[str, Any]:
    """Analyse one file and write its outputs; never raises for a bad input (status 'failed')."""
    started = time.perf_counter()
    try:
        result = _pipeline(extraction, checkpoint, emotion_thresholds).analyze(path)
        atomic_write_text(output, render(result, fmt))
        if report:
            from .report import write_report

            write_report(result, Path(output).with_suffix(".html"))
        atomic_write_json(
            sidecar,
            {
                "input": path,
                "sha256": result.source["sha256"],
                "fingerprint": fingerprint,
                "output": output,
                "format": fmt,
                "warnings": result.warnings,
            },
        )
        return {
            "status": "processed",
            "seconds": time.perf_counter() - started,
            "utterances": len(result.utterances),
            "reason": "; ".join(result.warnings) or None,
        }
    except MtmmError as error:
        return {
            "status": "failed",
            "reason": error.cause if error.path == path else str(error),
            "seconds": time.perf_counter() - started,
        }
    except Exception as error:  # isolate a bug in one file from the rest of the run
        return {
            "status": "failed",
            "reason": f"unexpected {type(error).__name__}: {error}",
            "seconds": time.perf_counter() - started,
        }


def _ray_runner(options: BatchOptions) -> Callable[..., Any]:
    try:
        import ray
    except ImportError as error:
        raise MtmmError("--backend ray needs Ray: pip install 'mtmm-es[ray]'") from error
    if not ray.is_initialized():
        ray.init(address=options.ray_address, include_dashboard=False, log_to_driver=False)
    remote = ray.remote(process_file)

    def submit(*args: Any) -> Any:
        return remote.remote(*args)

    return submit


def run_batch(
    input_dir: str | Path,
    out_dir: str | Path,
    options: BatchOptions = BatchOptions(),
    extraction: ExtractionConfig | None = None,
    checkpoint: str | None = None,
    emotion_thresholds: str | None = None,
    progress: bool = True,
) -> RunSummary:
    """Analyse every media file of `input_dir` into `out_dir`; see the module docstring."""
    input_dir, out_dir = Path(input_dir), Path(out_dir)
    if not input_dir.is_dir():
        raise MtmmError("input folder not found", input_dir)
    if options.format not in FORMATS:
        raise MtmmError(f"unknown format '{options.format}' (choose from {', '.join(FORMATS)})")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MtmmError(f"cannot create the output folder ({error.strerror})", out_dir) from error
    if not os.access(out_dir, os.W_OK):
        raise MtmmError("output folder is not writable", out_dir)
    extraction = extraction or ExtractionConfig()
    fingerprint = run_fingerprint(extraction, checkpoint, options.format, options.report, emotion_thresholds)
    summary = RunSummary(str(input_dir), str(out_dir))
    jobs = []
    for path in find_inputs(input_dir, options.recursive, options.pattern):
        relative = str(path.relative_to(input_dir))
        output = output_path(path, input_dir, out_dir, options.format)
        if not options.overwrite and is_done(path, output, out_dir, fingerprint):
            summary.outcomes.append(Outcome(relative, "skipped", str(output), "up to date"))
            continue
        jobs.append(
            (
                relative,
                (
                    str(path),
                    str(output),
                    str(_sidecar(output, out_dir)),
                    options.format,
                    options.report,
                    fingerprint,
                    extraction,
                    checkpoint,
                    emotion_thresholds,
                ),
            )
        )
    bar = tqdm(total=len(jobs), unit="file", desc="analyze-video", disable=not progress or not jobs, file=sys.stderr)
    try:
        for relative, outcome in _execute(jobs, options):
            summary.outcomes.append(Outcome(relative, output=outcome.pop("output", None), **outcome))
            bar.set_postfix_str(relative[-40:])
            bar.update()
            atomic_write_json(out_dir / SUMMARY, summary.to_dict())
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        bar.close()
    atomic_write_json(out_dir / SUMMARY, summary.to_dict())
    return summary


def _execute(jobs: list[tuple[str, tuple]], options: BatchOptions) -> Iterable[tuple[str, dict[str, Any]]]:
    """(relative input, outcome) as each job finishes, in-process, in worker processes or on Ray."""
    if options.backend == "ray":
        import ray

        submit = _ray_runner(options)
        pending = {submit(*args): (relative, args[1]) for relative, args in jobs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            relative, output = pending.pop(done[0])
            yield relative, ray.get(done[0]) | {"output": output}
        return
    if options.backend != "local":
        raise MtmmError(f"unknown backend '{options.backend}' (choose local or ray)")
    if options.workers <= 1 or len(jobs) <= 1:
        for relative, args in jobs:
            yield relative, process_file(*args) | {"output": args[1]}
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=options.workers, mp_context=context) as pool:
        pending: dict[Future, tuple[str, str]] = {
            pool.submit(process_file, *args): (relative, args[1]) for relative, args in jobs
        }
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    relative, output = pending.pop(future)
                    yield relative, future.result() | {"output": output}
        except KeyboardInterrupt:
            for future in pending:
                future.cancel()
            raise
