"""Termination signals become an exception, so every cleanup (finally blocks, context managers,
temporary files, partial outputs) runs before the process exits with 128 + the signal number."""

from __future__ import annotations

import signal
import threading


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


def raise_on_termination() -> None:
    """Make SIGTERM and SIGHUP raise `Terminated` in the main thread; handlers the host program
    installed itself are left alone. Does nothing outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) in (signal.SIG_DFL, None):
            signal.signal(signum, _raise)
