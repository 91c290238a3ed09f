"""Termination signals: SIGTERM raises `Terminated`, and a block run with the signals held is never cut in half."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mtmm_es.core.errors import MtmmError
from mtmm_es.core.signals import Terminated, interrupt_behind, raise_on_termination, signals_held


@pytest.fixture
def sigterm_raises() -> Iterator[None]:
    """SIGTERM raises `Terminated` for the test, as under the command line; the previous action after."""
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise_on_termination()
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _sigterm_to_self() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.05)  # the Python handler runs here at the latest


def test_sigterm_raises_terminated_with_the_shell_exit_status(sigterm_raises: None) -> None:
    with pytest.raises(Terminated) as raised:
        _sigterm_to_self()
    assert raised.value.exit_status == 143 and str(raised.value) == "SIGTERM"


def test_a_signal_inside_signals_held_is_raised_when_the_block_ends(sigterm_raises: None) -> None:
    handler = signal.getsignal(signal.SIGTERM)
    finished = []
    with pytest.raises(Terminated):
        with signals_held():
            _sigterm_to_self()
            finished.append("the rest of the block")
    assert finished == ["the rest of the block"] and signal.getsignal(signal.SIGTERM) is handler


def test_a_held_signal_wins_over_the_error_that_ended_the_block(sigterm_raises: None) -> None:
    with pytest.raises(Terminated) as raised:
        with signals_held():
            _sigterm_to_self()
            raise ValueError("the block failed")
    assert isinstance(raised.value.__context__, ValueError)


def test_a_block_without_signals_runs_as_usual(sigterm_raises: None) -> None:
    with signals_held():
        value = 1 + 1
    assert value == 2


def test_a_signal_while_the_stages_start_still_joins_every_stage(
    monkeypatch: pytest.MonkeyPatch, sigterm_raises: None, tmp_path: Path, fixture_video: Path
) -> None:
    """Regression: SIGTERM inside `submit` (a thread started, not yet registered with the pool) left
    the face tracker running past the process's exit, which printed a traceback from its cleanup."""
    from mtmm_es.pipeline import ExtractionConfig, FeaturePipeline, extract

    submitted = []

    class SignalledPool(ThreadPoolExecutor):
        def submit(self, *args, **kwargs):
            if len(submitted) == 1:
                os.kill(os.getpid(), signal.SIGTERM)
            submitted.append(super().submit(*args, **kwargs))
            return submitted[-1]

    monkeypatch.setattr(extract, "ThreadPoolExecutor", SignalledPool)
    pipeline = FeaturePipeline(ExtractionConfig(cache_dir=str(tmp_path / "cache")))
    with pytest.raises(Terminated):
        pipeline.extract(fixture_video)
    assert len(submitted) == len(pipeline.extractors) == 3
    assert all(future.done() for future in submitted)


@pytest.mark.parametrize(
    ("interrupt", "status", "message"),
    [
        ("KeyboardInterrupt()", 130, "interrupted"),
        ("Terminated(signal.SIGTERM)", 143, "error: terminated by SIGTERM (temporary files removed)"),
    ],
)
def test_an_interrupted_command_leaves_at_once_while_threads_still_run(interrupt: str, status: int, message: str):
    """Regression: a second Ctrl-C cut the stages loose from their cleanup; the process then waited
    for their threads and tore their native code down under them (an abort, or a MediaPipe traceback)."""
    code = (
        "import signal, sys, threading, time\n"
        "from mtmm_es import cli\n"
        "from mtmm_es.core.signals import Terminated\n"
        "threading.Thread(target=time.sleep, args=(300,)).start()  # a stage still running\n"
        "def run():\n"
        f"    raise {interrupt}\n"
        "sys.exit(cli.run_guarded(run))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (status, message + "\n")


def _interrupted_import() -> RuntimeError:
    """What faster-whisper raised when Ctrl-C cut onnxruntime's initialisation short (pybind11
    reports an interrupted module init as an ImportError, and faster-whisper rewords that)."""
    try:
        try:
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt as interrupt:
                raise ImportError("initialization failed") from interrupt
        except ImportError as error:
            raise RuntimeError("Applying the VAD filter requires the onnxruntime package") from error
    except RuntimeError as error:
        return error


def test_the_interrupt_behind_a_library_error_is_found() -> None:
    error = _interrupted_import()
    assert isinstance(interrupt_behind(error), KeyboardInterrupt)
    assert interrupt_behind(RuntimeError("a plain failure")) is None
    looped = ValueError("a cycle")
    looped.__context__ = OSError("back")
    looped.__context__.__context__ = looped
    assert interrupt_behind(looped) is None


def test_an_interrupt_behind_a_job_error_ends_the_run_not_only_the_job() -> None:
    from mtmm_es.pipeline.executor import guarded

    class Job:
        input = "talk.mp4"

    def interrupted(job: Job) -> None:
        raise _interrupted_import()

    def failing(job: Job) -> None:
        raise RuntimeError("a bug")

    with pytest.raises(KeyboardInterrupt):
        guarded(interrupted, Job())
    assert str(guarded(failing, Job())) == "talk.mp4: unexpected RuntimeError: a bug"
    assert isinstance(guarded(failing, Job()), MtmmError)


def test_an_interrupt_a_library_reworded_is_reported_as_an_interrupt() -> None:
    code = (
        "import sys\n"
        "from mtmm_es import cli\n"
        "def run():\n"
        "    try:\n"
        "        raise KeyboardInterrupt\n"
        "    except KeyboardInterrupt as interrupt:\n"
        "        raise RuntimeError('Applying the VAD filter requires the onnxruntime package') from interrupt\n"
        "sys.exit(cli.run_guarded(run))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (130, "interrupted\n")


@pytest.mark.parametrize("entry", ["analyze_video", "main"])
def test_ctrl_c_while_the_arguments_are_parsed_is_one_line(entry: str) -> None:
    """Regression: the parsers were built (a few tenths of a second of imports) before the guard."""
    parser = "build_analyze_parser" if entry == "analyze_video" else "build_parser"
    code = (
        "import sys\n"
        "from mtmm_es import cli\n"
        "def interrupted():\n"
        "    raise KeyboardInterrupt\n"
        f"cli.{parser} = interrupted\n"
        f"sys.exit(cli.{entry}(['--help']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (130, "interrupted\n")
