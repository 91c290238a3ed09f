"""Termination signals become an exception, so every cleanup (finally blocks, context managers,
temporary files, partial outputs) runs before the process exits with 128 + the signal number; a
block that must not be cut in half holds them (`signals_held`); an interrupt that a library reworded
is found (`interrupt_behind`); once a signal has ended the run, a second one cannot turn the exit
into a traceback or an abort (`signals_end_the_process`, `exit_now_if_threads_remain`)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

_STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived (a `timeout`, systemd or container stop, a closed terminal)."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


def _raise(signum: int, frame: object) -> None:
    raise Terminated(signum)


def _raise_once(signum: int, frame: object) -> None:
    """The first stopping signal of a program: the next one ends the process at once, since the
    cleanup this one starts may wait on native threads (speech recognition), and a second interrupt
    unwinding past them would end the interpreter under them (an abort)."""
    signals_end_the_process()
    raise KeyboardInterrupt if signum == signal.SIGINT else Terminated(signum)


def raise_on_termination(program: bool = False) -> None:
    """Make SIGTERM and SIGHUP raise `Terminated` in the main thread; handlers the host program
    installed itself are left alone. `program` (the console scripts, which end with the command):
    SIGINT too, and the first of them makes the next end the process at once. Does nothing outside
    the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) in (signal.SIG_DFL, None):
            signal.signal(signum, _raise_once if program else _raise)
    if program and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _raise_once)


@contextmanager
def signals_held() -> Iterator[None]:
    """Run a block that an exception must not cut in half (starting threads the caller then joins:
    one cut short runs on unjoined; a run's last summary) with SIGINT, SIGTERM and SIGHUP held: the
    Python handler of one that arrives runs when the block ends, even if the block raised, and one
    whose action is the default (a second signal of a program already ending) then takes it.
    Ignored signals stay ignored, and every signal outside the main thread is left alone."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handlers = {s: signal.getsignal(s) for s in _STOPPING}
    handlers = {s: h for s, h in handlers.items() if callable(h) or h == signal.SIG_DFL}
    arrived: list[int] = []
    for signum in handlers:
        signal.signal(signum, lambda signum, frame: arrived.append(signum))
    try:
        yield
    finally:
        raised = _reinstall(handlers)
        if raised is not None:
            raise raised
        if arrived:
            first = arrived[0]
            if callable(handlers[first]):
                handlers[first](first, None)
            else:
                signal.raise_signal(first)


def _reinstall(handlers: dict[int, Any]) -> BaseException | None:
    """Put every handler back. `signal.signal` first runs the handlers of signals pending, and one of
    those may raise (SIGINT's, just put back): the call is then repeated, and the first exception
    returned once all are back, so no signal keeps the holding handler."""
    raised = None
    for signum, handler in handlers.items():
        while True:
            try:
                signal.signal(signum, handler)
                break
            except BaseException as error:
                raised = raised or error
    return raised


def interrupt_behind(error: BaseException) -> KeyboardInterrupt | None:
    """The interrupt (Ctrl-C, or `Terminated`) behind an error, if a library reported it as an error of
    its own: an extension's initialisation cut short becomes an ImportError, which a caller may turn
    into a RuntimeError ("Applying the VAD filter requires the onnxruntime package")."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def signals_end_the_process() -> None:
    """From now on SIGINT, SIGTERM and SIGHUP end the process at once (their default action, no
    traceback): for a process already ending on a signal, its cleanup done. Ignored signals stay
    ignored (nohup, a background job). Main thread only."""
    if threading.current_thread() is threading.main_thread():
        for signum in _STOPPING:
            if callable(signal.getsignal(signum)):
                signal.signal(signum, signal.SIG_DFL)


def exit_now_if_threads_remain(status: int) -> None:
    """For a process ending on a signal: if threads still run (stages that a second Ctrl-C cut loose
    from their cleanup), exit with `status` now. Every Python cleanup ran as the interrupt unwound,
    and temporary files are anonymous; an ordinary interpreter shutdown would wait for those
    threads, then tear their native code down under them (MediaPipe, CTranslate2), which aborts
    the process or prints a traceback."""
    current = threading.current_thread()
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not current):
        for finish in (logging.shutdown, sys.stdout.flush, sys.stderr.flush):
            with suppress(Exception):  # a closed pipe (`| tee`, killed by the same Ctrl-C)
                finish()
        os._exit(status)
