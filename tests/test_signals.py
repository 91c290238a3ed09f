"""Termination signals: SIGTERM raises `Terminated`, and a block run with the signals held is never cut in half."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mtmm_es.core.errors import MtmmError
from mtmm_es.core.signals import Terminated, interrupt_behind, signals_held


def _python(code: str, stdout: int = subprocess.PIPE, env: dict[str, str] | None = None):
    """`python -c code` in a new process, stderr captured, at most a minute. Its SIGINT acts as in a
    terminal even when the tests run as a background job (whose shell ignores SIGINT in them)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


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


def test_a_signal_while_the_handlers_are_put_back_leaves_none_holding(
    monkeypatch: pytest.MonkeyPatch, sigterm_raises: None
) -> None:
    """Regression: Ctrl-C landing just after SIGINT's handler was put back raised from the next
    `signal.signal` call and left SIGTERM and SIGHUP with the holding handler (SIGTERM then did nothing)."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    install, sent = signal.signal, []

    def second_ctrl_c_after_sigint_is_back(signum, handler):
        previous = install(signum, handler)
        if signum == signal.SIGINT and handler is handlers[signal.SIGINT] and not sent:
            sent.append(signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return previous

    with pytest.raises(KeyboardInterrupt):
        with signals_held():
            _sigterm_to_self()
            monkeypatch.setattr(signal, "signal", second_ctrl_c_after_sigint_is_back)
    monkeypatch.undo()
    assert {s: signal.getsignal(s) for s in handlers} == handlers


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
        "sys.exit(cli.run_guarded(run, program=True))\n"
    )
    result = _python(code)
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
        "sys.exit(cli.run_guarded(run, program=True))\n"
    )
    result = _python(code)
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
    result = _python(code)
    assert (result.returncode, result.stderr) == (130, "interrupted\n")


def test_a_caller_in_its_own_process_keeps_its_handlers_and_threads(
    sigterm_raises: None, capsys: pytest.CaptureFixture
) -> None:
    from mtmm_es import cli

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()

    def interrupted() -> int:
        raise KeyboardInterrupt

    try:
        assert cli.run_guarded(interrupted) == 130  # not the program: no exit, no default actions
    finally:
        stop.set()
        worker.join()
    assert {s: signal.getsignal(s) for s in handlers} == handlers
    assert capsys.readouterr().err == "interrupted\n"


def test_the_exit_goes_ahead_when_the_output_pipe_is_gone() -> None:
    """Regression: `analyze-video DIR | tee log` and Ctrl-C: tee died first, the flush before the
    exit raised BrokenPipeError, and the process printed a traceback and waited for the threads."""
    code = (
        "import sys, threading, time\n"
        "from mtmm_es import cli\n"
        "threading.Thread(target=time.sleep, args=(300,)).start()  # a stage still running\n"
        "def run():\n"
        "    sys.stdout.write('x' * 100)  # still in the buffer\n"
        "    return 130\n"
        "sys.exit(cli.run_guarded(run, program=True))\n"
    )
    reader, writer = os.pipe()
    os.close(reader)  # the reader has gone
    try:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout buffered, as usual
        result = _python(code, stdout=writer, env=env)
    finally:
        os.close(writer)
    assert (result.returncode, result.stderr) == (130, "")


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_a_second_signal_while_the_cleanup_waits_ends_the_process_at_once(signum: str) -> None:
    """Regression: a second Ctrl-C (or SIGTERM) that came while the first one's cleanup waited for
    native threads (speech recognition) unwound past them, and the interpreter ended under them:
    "terminate called without an active exception", an abort. Now the first one makes the next end
    the process at once, by the signal's own default action."""
    code = (
        "import os, signal, sys, time\n"
        "from mtmm_es import cli\n"
        "def run():\n"
        "    try:\n"
        f"        os.kill(os.getpid(), signal.{signum})\n"
        "        time.sleep(5)\n"
        "    finally:  # the cleanup, waiting\n"
        f"        os.kill(os.getpid(), signal.{signum})\n"
        "        time.sleep(5)\n"
        "        print('the cleanup went on', file=sys.stderr)\n"
        "    return 0\n"
        "sys.exit(cli.run_guarded(run, program=True))\n"
    )
    result = _python(code)
    assert result.returncode == -getattr(signal, signum) and result.stderr == ""


def test_a_second_signal_waits_for_a_held_block_then_ends_the_process() -> None:
    """Regression (this session): once the first signal set the default action, `signals_held` held
    nothing, so a second Ctrl-C cut a folder run's last summary write in half."""
    code = (
        "import os, signal, sys\n"
        "from mtmm_es import cli\n"
        "from mtmm_es.core.signals import signals_held\n"
        "def run():\n"
        "    try:\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "    except KeyboardInterrupt:\n"
        "        with signals_held():  # the last summary\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "            print('summary written', flush=True)\n"
        "    return 0\n"
        "sys.exit(cli.run_guarded(run, program=True))\n"
    )
    result = _python(code)
    assert result.returncode == -signal.SIGINT and result.stdout == "summary written\n"
