"""Folders of videos: one labels file per input (mirrored relative paths), resume, per-file error
isolation, parallel workers (processes, or Ray tasks), progress, and a run summary.

Every output is written atomically (temp file + rename), then a sidecar OUTDIR/.mtmm/<output>.record
(JSON) recording the input's SHA-256, the configuration and the size and SHA-256 of every file written;
a later run skips an input whose sidecar matches and whose outputs are intact on disk, so an
interrupted run (Ctrl-C, kill -9) resumes where it stopped, and removes the temporary files a
killed run left (once an hour old: another run may be writing into the same folder). With --format csv, OUTDIR/mtmm-labels.csv
gathers every input's rows.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mtmm_es.core.errors import MtmmError, printable, quoted
from mtmm_es.core.files import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    file_sha256,
    fitting_name,
    path_state,
    remove_stale_temporaries,
)
from mtmm_es.core.labels import SCHEMA_VERSION
from mtmm_es.core.signals import Terminated, signals_held
from mtmm_es.core.version import own_version
from mtmm_es.model.meta import CONFIG, WEIGHTS

from .analyze import AnalyzerSpec, analyzer_for, check_label_options, checked_extraction, default_checkpoint_dir
from .cache import cache_key
from .config import ExtractionConfig
from .destinations import (
    check_output_folder,
    check_report_options,
    folder_outputs,
    refuse_overwriting,
    report_files,
    report_path,
)
from .executor import guarded, run_jobs
from .extract import check_given_files
from .formats import FORMATS, csv_text, get_writer

log = logging.getLogger(__name__)

MEDIA_SUFFIXES = frozenset(
    ".mp4 .m4v .mkv .webm .mov .avi .flv .wmv .mpg .mpeg .ts .mts .m2ts .mxf .vob .3gp .ogv "
    ".wav .mp3 .m4a .aac .flac .ogg .oga .opus .wma .aif .aiff .caf .mka .amr".split()
)
SIDECARS = ".mtmm"
SIDECAR_SUFFIX = ".record"
SUMMARY = "mtmm-summary.json"
COMBINED_CSV = "mtmm-labels.csv"


@dataclass(frozen=True)
class BatchOptions:
    format: str = "json"
    recursive: bool = False
    pattern: str | None = None  # glob on the file name, any case, e.g. "*.mp4"
    overwrite: bool = False
    workers: int = 1
    report: bool = False
    embed_video: bool = False  # a low-resolution copy of each video inside its report
    backend: str = "local"  # or "ray"
    ray_address: str | None = None

    def __post_init__(self) -> None:
        check_report_options(self.report, self.embed_video)
        if self.format not in FORMATS:
            raise MtmmError(f"unknown format '{self.format}' (choose from {', '.join(FORMATS)})")
        if self.workers < 1:
            raise MtmmError(f"workers must be at least 1, not {self.workers}")
        if self.backend not in ("local", "ray"):
            raise MtmmError(f"unknown backend '{self.backend}' (choose local or ray)")
        if self.backend == "ray":
            _ray()  # missing: refused before any work
            if self.ray_address:
                check_reachable(self.ray_address)
        elif self.ray_address:
            raise MtmmError("--ray-address: for --backend ray, not the local workers (add --backend ray)")


@dataclass
class Outcome:
    input: str  # relative to the input folder, printable
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
    exit_status: int = 0  # for an interrupted run: 130 (Ctrl-C), 128 + the signal (SIGTERM, SIGHUP)
    not_started: list[str] = field(default_factory=list)  # inputs with no outcome yet (a run going or stopped)
    finished: bool = False  # False while the run goes, and after one killed outright (kill -9, a crash)

    def counts(self) -> dict[str, int]:
        return {s: sum(o.status == s for o in self.outcomes) for s in ("processed", "skipped", "failed")}

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_dir": self.input_dir,
            "output_dir": self.output_dir,
            "counts": self.counts(),
            "finished": self.finished,
            "interrupted": self.interrupted,
            "files": [asdict(o) for o in self.outcomes],
            "not_started": self.not_started,
        }


@dataclass(frozen=True)
class FileJob:
    """One input of a folder run and everything its worker needs."""

    input: str
    relative: str  # printable, for messages and the summary
    output: str
    sidecar: str
    format: str
    report: bool
    fingerprint: str
    analyzer: AnalyzerSpec
    embed_video: bool = False


def find_inputs(root: Path, recursive: bool = False, pattern: str | None = None) -> list[Path]:
    """Media files under `root` (by extension, any case), sorted; hidden files and our own outputs
    skipped. `pattern` is matched without regard to case. A broken link with a media name is kept,
    so that it fails with its cause instead of vanishing from the run. `recursive` enters linked
    subfolders too, each real folder once (a link to a folder above cannot loop)."""
    candidates = _files_below(root) if recursive else root.iterdir()
    found = []
    for path in candidates:
        relative = path.relative_to(root)
        broken_link = path.is_symlink() and not path.exists()
        if any(part.startswith(".") for part in relative.parts) or not (path.is_file() or broken_link):
            continue
        matches = pattern is None or fnmatch.fnmatchcase(path.name.lower(), pattern.lower())
        if path.suffix.lower() in MEDIA_SUFFIXES and matches:
            found.append(path)
    return sorted(found)


def _files_below(root: Path) -> Iterator[Path]:
    """Every entry that is not a folder under `root`, through linked folders, each real folder once;
    hidden folders (our own .mtmm records) are not entered."""
    seen: set[str] = set()
    for folder, subfolders, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            subfolders.clear()
            continue
        seen.add(real)
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        yield from (Path(folder) / name for name in names)


def _sidecar(output: Path, out_dir: Path) -> Path:
    return (
        out_dir
        / SIDECARS
        / output.relative_to(out_dir).parent
        / f"{fitting_name(output.name, len(SIDECAR_SUFFIX))}{SIDECAR_SUFFIX}"
    )


def run_fingerprint(
    extraction: ExtractionConfig,
    checkpoint: str | None,
    fmt: str,
    report: bool,
    emotion_thresholds: str | None,
    sarcasm_base_rate: float | None = None,
    embed_video: bool = False,
) -> str:
    """What decides an output besides the input's bytes: the extraction config and the state of
    every file it names (an edited --segments file or a replaced model redoes outputs), whether the
    speaker encoder is installed (labels made without one are redone once it is), the
    checkpoint (weights and config.json, where thresholds and label settings live), the labels'
    schema version, mtmm-es's own version (an upgrade redoes outputs; a development checkout that
    changes how labels are made without a new version should use --overwrite), the format, the
    report options and the labelling options."""
    from .analyze import default_checkpoint_dir

    folder = Path(checkpoint) if checkpoint else default_checkpoint_dir()
    model_id = [
        file_sha256(folder / name) if (folder / name).is_file() else str(folder / name) for name in (WEIGHTS, CONFIG)
    ]
    config = {k: v for k, v in extraction.to_dict().items() if k not in ("cache", "cache_dir")}
    weights = extraction.speaker_weights()
    return cache_key(
        extraction=config,
        files={option: path_state(path) for option, path in extraction.given_files().items()},
        speaker_weights=path_state(weights) if weights else None,
        model=model_id,
        format=fmt,
        report=report,
        embed_video=embed_video,
        thresholds=emotion_thresholds,
        sarcasm_base_rate=sarcasm_base_rate,
        schema=SCHEMA_VERSION,
        version=own_version(),
    )


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_record(sidecar: Path) -> dict[str, Any] | None:
    """A sidecar's record; anything unreadable or not a record (null, garbage) counts as absent."""
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def is_done(path: Path, output: Path, out_dir: Path, fingerprint: str) -> bool:
    """Whether `output` is up to date: same input bytes, path (the outputs name it) and settings, and
    every file the run wrote still on disk with its recorded size and SHA-256 (a truncated or edited
    output is redone)."""
    record = _read_record(_sidecar(output, out_dir))
    if record is None or record.get("fingerprint") != fingerprint or record.get("input") != printable(str(path)):
        return False
    files = record.get("files")
    if not isinstance(files, list) or not any(isinstance(f, dict) and f.get("path") == output.name for f in files):
        return False
    for entry in files:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            return False
        written = output.parent / entry["path"]
        try:
            if written.stat().st_size != entry.get("size") or file_sha256(written) != entry.get("sha256"):
                return False
        except OSError:
            return False
    try:
        return record.get("sha256") == file_sha256(path)
    except OSError:
        return False


# --- the per-file job (runs in this process, in worker processes or in Ray tasks) ---


def process_file(job: FileJob) -> dict[str, Any]:
    """Analyse one file and write its outputs, then its sidecar; raises MtmmError for a bad input."""
    started = time.perf_counter()
    result = analyzer_for(job.analyzer).analyze(job.input)
    output = Path(job.output)
    data = get_writer(job.format)().render(result).encode("utf-8")
    atomic_write_bytes(output, data)
    files = [{"path": output.name, "size": len(data), "sha256": _digest(data)}]
    if job.report:
        from .report import write_report

        ffmpeg = job.analyzer.extraction.ffmpeg
        report = write_report(result, report_path(output), embed_video=job.embed_video, ffmpeg=ffmpeg, media=job.input)
        for written in report:
            files.append({"path": written.name, "size": written.stat().st_size, "sha256": file_sha256(written)})
    atomic_write_json(
        job.sidecar,
        {
            "input": printable(job.input),
            "sha256": result.source.sha256,
            "fingerprint": job.fingerprint,
            "format": job.format,
            "files": files,
            "warnings": list(result.warnings),
        },
    )
    return {
        "status": "processed",
        "seconds": time.perf_counter() - started,
        "utterances": len(result.utterances),
        "reason": "; ".join(result.warnings) or None,
    }


def _failed(job: FileJob, error: MtmmError) -> dict[str, Any]:
    """A failed job's outcome. When the input's bytes changed since an earlier run, that run's
    outputs (its record names them) are removed, so none is taken for labels of the input as it is
    now; an input that cannot be read (a drive not mounted) keeps them."""
    outcome = {"status": "failed", "reason": error.cause if error.path == job.input else str(error)}
    record = _read_record(Path(job.sidecar)) or {}
    files = record.get("files")
    with contextlib.suppress(OSError):  # unreadable, or a stale output that cannot be removed: no second failure
        if not Path(job.input).is_file() or file_sha256(job.input) == record.get("sha256"):
            return outcome  # the outputs still label the input as it is
        for written in files if isinstance(files, list) else []:
            path = Path(job.output).parent / str(written.get("path") if isinstance(written, dict) else "")
            if path.is_file() and file_sha256(path) == written.get("sha256"):  # ours, unchanged since
                path.unlink()
        Path(job.sidecar).unlink(missing_ok=True)
    return outcome | {"output": None}


def run_batch(
    input_dir: str | Path,
    out_dir: str | Path,
    options: BatchOptions = BatchOptions(),
    extraction: ExtractionConfig | None = None,
    checkpoint: str | None = None,
    emotion_thresholds: str | None = None,
    progress: bool = False,
    sarcasm_base_rate: float | None = None,
) -> RunSummary:
    """Analyse every media file of `input_dir` into `out_dir`; see the module docstring. `progress`
    draws a bar on stderr (the CLI's, with -v or on a terminal)."""
    input_dir, out_dir = Path(input_dir), Path(out_dir)
    checkpoint_dir = Path(checkpoint) if checkpoint else default_checkpoint_dir()
    meta, sarcasm_base_rate = check_label_options(checkpoint_dir, emotion_thresholds, sarcasm_base_rate)
    check_given_files(checked_extraction(meta, extraction or ExtractionConfig(), checkpoint_dir))  # once, first
    if not input_dir.is_dir():
        raise MtmmError("input folder not found", input_dir)
    check_output_folder(out_dir)
    inputs = find_inputs(input_dir, options.recursive, options.pattern)
    if not inputs:
        matching = f" matching '{options.pattern}'" if options.pattern else ""
        where = " (with --recursive: in its subfolders too)" if options.recursive else ""
        raise MtmmError(f"no media files{matching} in this folder{where}", input_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MtmmError(f"cannot create the output folder ({error.strerror})", out_dir) from error
    extraction = extraction or ExtractionConfig()
    analyzer = AnalyzerSpec(extraction, checkpoint, emotion_thresholds, sarcasm_base_rate)
    fingerprint = run_fingerprint(
        extraction,
        checkpoint,
        options.format,
        options.report,
        emotion_thresholds,
        sarcasm_base_rate,
        options.embed_video,
    )
    summary = RunSummary(printable(input_dir), printable(out_dir))
    jobs = []
    outputs = folder_outputs(inputs, input_dir, out_dir, options.format)
    ours = [
        out_dir / SUMMARY,
        out_dir / COMBINED_CSV,
        *outputs.values(),
        *(_sidecar(o, out_dir) for o in outputs.values()),
        *(f for o in outputs.values() if options.report for f in report_files(report_path(o))),
    ]
    given = list(extraction.given_files().values())  # our labelled subtitles given back as --segments, say
    for written in ours:
        refuse_overwriting(written, given, "an output of this run")
    if removed := remove_stale_temporaries(ours):
        log.info("%s: removed %d temporary file(s) a killed run left", quoted(out_dir), removed)
    labelled: set[Path] = set()  # the labels files of this folder's inputs, for the combined CSV
    for path in inputs:
        relative, output = printable(path.relative_to(input_dir)), outputs[path]
        if not options.overwrite and is_done(path, output, out_dir, fingerprint):
            warnings = (_read_record(_sidecar(output, out_dir)) or {}).get("warnings") or []
            reason = "; ".join(["up to date", *map(str, warnings)])  # the warnings of the run that wrote it
            summary.outcomes.append(Outcome(relative, "skipped", printable(output), reason))
            labelled.add(output)
            continue
        sidecar = str(_sidecar(output, out_dir))
        jobs.append(
            FileJob(
                str(path),
                relative,
                str(output),
                sidecar,
                options.format,
                options.report,
                fingerprint,
                analyzer,
                options.embed_video,
            )
        )
    bar = tqdm(total=len(jobs), unit="file", desc="analyze-video", disable=not progress or not jobs, file=sys.stderr)
    summary.not_started = [job.relative for job in jobs]
    atomic_write_json(out_dir / SUMMARY, summary.to_dict())  # an earlier run's finished summary goes
    try:
        for job, outcome in _execute(jobs, options):
            if isinstance(outcome, MtmmError):
                outcome = _failed(job, outcome)
                log.debug("failed: %s: %s", quoted(job.relative), outcome["reason"])
            else:
                labelled.add(Path(job.output))
            summary.outcomes.append(Outcome(job.relative, **{"output": printable(job.output), **outcome}))
            summary.not_started.remove(job.relative)
            bar.set_postfix_str(quoted(job.relative)[-40:])
            bar.update()
            atomic_write_json(out_dir / SUMMARY, summary.to_dict())
    except KeyboardInterrupt as interrupt:
        summary.interrupted = True
        summary.exit_status = interrupt.exit_status if isinstance(interrupt, Terminated) else 130
    finally:
        bar.close()
    summary.finished = True
    with signals_held():  # a second Ctrl-C comes after the summary and the combined CSV are whole
        atomic_write_json(out_dir / SUMMARY, summary.to_dict())
        if options.format == "csv":
            _combine_csv(sorted(labelled), out_dir)
    return summary


def _combine_csv(outputs: list[Path], out_dir: Path) -> None:
    """OUTDIR/mtmm-labels.csv: the rows of every labelled input (its `file` column tells them apart)."""
    parts = [csv_text([])]  # the header
    for output in outputs:
        try:
            lines = output.read_text(encoding="utf-8").splitlines(keepends=True)
        except OSError as error:
            log.warning("%s: left out of %s (%s)", quoted(output), COMBINED_CSV, error.strerror)
            continue
        parts.append("".join(lines[1:]))
    atomic_write_text(out_dir / COMBINED_CSV, "".join(parts))


def _execute(jobs: list[FileJob], options: BatchOptions) -> Iterable[tuple[FileJob, dict[str, Any] | MtmmError]]:
    """(job, outcome or its MtmmError) as each job finishes, in-process, in worker processes or on Ray."""
    if options.backend == "ray":
        ray = _ray()
        remote = _ray_runner(ray, options)
        pending = {remote.remote(process_file, job): job for job in jobs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(done[0])
            try:
                outcome = ray.get(done[0])
            except Exception as error:  # the task's worker died
                outcome = MtmmError(f"the Ray task failed ({type(error).__name__})", job.input)
            yield job, outcome
        return
    yield from run_jobs(process_file, jobs, options.workers)


def _ray() -> Any:
    """The ray module, or an error naming the extra."""
    try:
        import ray
    except ImportError as error:
        raise MtmmError("--backend ray needs Ray: pip install 'mtmm-es[ray]'") from error
    return ray


RAY_CONNECT_S = 5.0


def check_reachable(address: str) -> None:
    """A Ray cluster's HOST:PORT (or ray://HOST:PORT) that takes a connection within RAY_CONNECT_S;
    "auto" and "local" are Ray's to find. Ray itself retries an unreachable address for minutes."""
    if address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise MtmmError(f"--ray-address {address}: not HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=RAY_CONNECT_S).close()
    except OSError as error:
        raise MtmmError(f"--ray-address {address}: cannot reach it ({error.strerror or error})") from error


def _ray_runner(ray: Any, options: BatchOptions) -> Any:
    if not ray.is_initialized():
        ray.init(address=options.ray_address, include_dashboard=False, log_to_driver=False)
    return ray.remote(guarded)
