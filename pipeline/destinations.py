"""Where outputs go, decided and checked in one place before any expensive work: never over an input,
never one output over another, never into a folder that cannot hold it."""

from __future__ import annotations

import hashlib
import itertools
import os
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mtmm_es.core.errors import MtmmError, quoted
from mtmm_es.core.files import NAME_MAX, fitting_name
from mtmm_es.extractors.base import MODALITIES

from .formats import FORMATS

STDOUT = "-"
REPORT_SUFFIXES = (  # the page, its WebVTT and its pictures, one per modality pair the model attends over
    ".html",
    ".vtt",
    ".timeline.png",
    *(f".attention.{a}-{b}.png" for a, b in itertools.product(MODALITIES, repeat=2)),
)


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file (by inode when both exist, else by resolved path)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def refuse_overwriting(output: str | Path, inputs: list[str | Path], what: str = "--out") -> None:
    for source in inputs:
        if same_file(output, source):
            raise MtmmError(f"{what} names an input file; refusing to overwrite it", output)


def check_file_output(output: str | Path, inputs: list[str | Path]) -> None:
    """A file output: a name the file system takes, not a folder, not a pipe or device, not an input,
    in a folder that can take it."""
    output = Path(output)
    check_name_lengths(output)
    if output.is_dir():
        raise MtmmError("is a folder; give --out a file name", output)
    _refuse_special_file(output)
    _writable_folder(output.parent, output, "cannot write")
    refuse_overwriting(output, inputs)


def _refuse_special_file(output: Path) -> None:
    """A named pipe, device or socket at `output` would be replaced by a file (the write renames one
    over it), not written to: refused."""
    try:
        mode = output.stat().st_mode
    except FileNotFoundError:  # a new file (or a link to one)
        return
    except OSError as error:
        raise MtmmError(f"cannot write ({error.strerror or error})", output) from error
    if not stat.S_ISREG(mode):
        raise MtmmError(
            f"is not a regular file ({special_kind(mode)}); give --out a file name, or --out - for standard output",
            output,
        )


def special_kind(mode: int) -> str:
    """What a file that is not a regular file or a folder is, in words."""
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"


def written_through(output: Path) -> Path:
    """Where a write to `output` lands: a symbolic link's target (a shell's > writes through the
    link), since the atomic write would otherwise replace the link with a file; else `output`."""
    return Path(os.path.realpath(output)) if os.path.islink(output) else output


def format_for(out: str, explicit: str | None) -> str:
    """The label format: the explicit choice, else --out's extension (json when it has none)."""
    if explicit:
        return explicit
    suffix = Path(out).suffix.lower().lstrip(".")
    if out == STDOUT or not suffix:
        return "json"
    if suffix not in FORMATS:
        raise MtmmError(f"cannot tell the format from '.{suffix}' (choose --format: {', '.join(FORMATS)})", out)
    return suffix


def check_name_lengths(path: Path) -> None:
    """Refuse a path with a name longer than a file system takes, before the work, not at the write after it."""
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > NAME_MAX:
            what = "its name" if part == path.name else "a folder name in it"
            raise MtmmError(f"{what} is {size} bytes long, past the file system limit of {NAME_MAX}", path)


def _writable_folder(folder: Path, shown: str | Path, what: str) -> None:
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise MtmmError(f"{what} ({quoted(existing)} is a file)", shown)
    if not os.access(existing, os.W_OK):
        raise MtmmError("output folder is not writable", existing)
    try:  # access() says yes to root everywhere, and knows nothing of /proc and the like: try it
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".mtmm-write-check-"):
            pass
    except OSError as error:
        raise MtmmError(f"output folder is not writable ({error.strerror or error})", existing) from error


@dataclass(frozen=True)
class SingleOutput:
    """Where one input's labels (None: stdout) and report go, and in which format."""

    labels: Path | None
    format: str
    report: Path | None


def check_report_options(report: bool, embed_video: bool) -> None:
    if embed_video and not report:
        raise MtmmError("--embed-video puts the video inside the report: it needs --report")


def plan_single(
    media: str,
    out: str,
    explicit_format: str | None,
    report: bool,
    embed_video: bool = False,
    given: Iterable[str] = (),
) -> SingleOutput:
    """Where one file's labels (and report) go; refused when they would replace the media or a
    file another option names (`given`: a --segments file beside the video, say)."""
    check_report_options(report, embed_video)
    fmt = format_for(out, explicit_format)
    if out == STDOUT:
        if report:
            raise MtmmError("--report writes an HTML file next to the labels: give --out a file, not -")
        return SingleOutput(None, fmt, None)
    if out.endswith(("/", os.sep)):
        raise MtmmError("names a folder (it ends with /); one input's labels go to a file: give a file name", out)
    labels, inputs = written_through(Path(out)), [media, *given]
    check_file_output(labels, inputs)
    html = report_path(Path(out)) if report else None  # beside the name given
    if html is not None:
        replaced = [f for f in report_files(html) if same_file(f, labels)]
        if replaced and not (fmt == "vtt" and replaced[0].suffix == ".vtt"):  # the same subtitles: no loss
            raise MtmmError("the report would replace the labels: name --out with the labels' extension", labels)
        for written in report_files(html):
            refuse_overwriting(written, inputs, "the report (its page, subtitles or pictures)")
    return SingleOutput(labels, fmt, html)


def report_path(labels: Path) -> Path:
    """The HTML report of a labels file: same name, .html (talk.mp4.json -> talk.mp4.html); a name
    too long for the report's longest file name is shortened, the same way for all its files."""
    longest = max(len(suffix) for suffix in REPORT_SUFFIXES)
    return labels.with_name(f"{fitting_name(labels.stem, longest)}.html")


def report_files(html: Path) -> list[Path]:
    """Every file a report at `html` may write, for removing what a killed run left."""
    stem = html.name.removesuffix(".html")
    return [html.with_name(f"{stem}{suffix}") for suffix in REPORT_SUFFIXES]


def check_output_folder(out_dir: Path) -> None:
    check_name_lengths(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise MtmmError("cannot create the output folder (a file of that name exists)", out_dir)
    if not out_dir.exists() and out_dir.suffix.lower().lstrip(".") in (*FORMATS, "html"):
        raise MtmmError("an output folder is wanted here, and this names a labels file: give a folder name", out_dir)
    _writable_folder(out_dir, out_dir, "cannot create the output folder")


def safe_relative(path: Path, root: Path) -> Path:
    """`path` relative to `root` with every part made a plain, harmless file name."""
    parts = []
    for part in path.relative_to(root).parts:
        cleaned = "".join(c if c.isprintable() and c not in '<>:"|?*\\' else "_" for c in part).strip()
        parts.append("_" if cleaned in ("", ".", "..") else cleaned)
    return Path(*parts)


def folder_outputs(inputs: list[Path], root: Path, out_dir: Path, fmt: str) -> dict[Path, Path]:
    """The output of every input: its relative path made safe, plus the format's suffix. A name that
    had to change, or that would meet another output (also in case), gets a tag from its original
    bytes, so no two inputs share an output; one too long for the file system with the suffix is
    shortened (`fitting_name`)."""
    planned: dict[Path, Path] = {}
    for path in inputs:
        relative = safe_relative(path, root)
        changed = str(relative) != str(path.relative_to(root))
        planned[path] = (
            out_dir / relative.parent / (f"{relative.name}.{_tag(path, root)}" if changed else relative.name)
        )
    seen: dict[str, int] = {}
    for target in planned.values():
        seen[str(target).casefold()] = seen.get(str(target).casefold(), 0) + 1
    outputs = {}
    for path, target in planned.items():
        name = f"{target.name}.{_tag(path, root)}" if seen[str(target).casefold()] > 1 else target.name
        outputs[path] = target.with_name(f"{fitting_name(name, len(fmt) + 1)}.{fmt}")
    return outputs


def _tag(path: Path, root: Path) -> str:
    return hashlib.sha256(os.fsencode(path.relative_to(root))).hexdigest()[:8]
