"""One executor for many files: `run_jobs(function, jobs, workers)` yields (job, result or MtmmError)
as each job finishes, with one error boundary per job.

workers == 1 runs in this process. workers > 1 starts fresh interpreters (`python -c`, not
multiprocessing's spawn, so a user's script needs no `if __name__ == "__main__":` guard: nothing of
`__main__` is imported again) that each take one job at a time over a pipe. A worker that dies (the
out-of-memory killer, a native crash) fails its own job only; a new worker takes the next job. A
worker's log records come back over its pipe to the `mtmm_es` loggers here, so they reach the
handlers the caller set up."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.reduction import ForkingPickler
from typing import Any, Protocol, TypeVar

from mtmm_es.core.errors import MtmmError
from mtmm_es.core.signals import exit_now_if_threads_remain, interrupt_behind, signals_end_the_process

log = logging.getLogger(__name__)


def default_workers() -> int:
    """One worker per two cores: each worker already runs ASR and face tracking on two threads."""
    return max(1, (os.cpu_count() or 1) // 2)


class Job(Protocol):
    @property
    def input(self) -> str: ...


J = TypeVar("J", bound=Job)


def guarded(function: Callable[[J], Any], job: J) -> Any:
    """`function(job)`; a failure becomes the job's MtmmError (a bug says 'unexpected')."""
    try:
        return function(job)
    except Exception as error:
        interrupt = interrupt_behind(error)
        if interrupt is not None:  # an interrupt ends the whole run, not this job
            raise interrupt from None
        if isinstance(error, MtmmError):
            return error
        log.debug("job %s failed", job.input, exc_info=True)
        return MtmmError(f"unexpected {type(error).__name__}: {error}", job.input)


def run_jobs(function: Callable[[J], Any], jobs: Sequence[J], workers: int = 1) -> Iterator[tuple[J, Any]]:
    """(job, function(job) or MtmmError) for every job, in order of completion."""
    if workers < 1:
        raise MtmmError(f"workers must be at least 1, not {workers}")
    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            yield job, guarded(function, job)
        return
    queue = deque(jobs)
    level = logging.getLogger("mtmm_es").getEffectiveLevel()
    busy: dict[Connection, _Worker] = {}
    worker: _Worker | None = None  # the one whose result is being handed out (not in busy then)
    try:
        for _ in range(min(workers, len(queue))):
            worker = _Worker(level)
            busy[worker.give(function, queue.popleft())] = worker
        worker = None
        while busy:
            for inbox in wait(list(busy)):
                try:
                    kind, result = inbox.recv()  # type: ignore[union-attr]
                except EOFError:
                    kind, result = "died", None
                except Exception as error:  # a result that cannot be read back
                    kind, result = "unreadable", error
                if kind == "log":  # a message the worker logged: to this process's loggers, at their levels
                    logger = logging.getLogger(result.name)
                    if logger.isEnabledFor(result.levelno):
                        logger.handle(result)
                    continue
                worker = busy.pop(inbox)  # type: ignore[arg-type]
                job = worker.job
                if kind == "died":
                    result = MtmmError(f"the worker process died ({worker.death()}); other files go on", job.input)
                    worker = _Worker(level) if queue else None
                elif kind == "unreadable":
                    result = MtmmError(f"unexpected {type(result).__name__}: {result}", job.input)
                yield job, result  # the caller may stop here (Ctrl-C, break): `finally` closes every worker
                if worker is not None and queue:
                    busy[worker.give(function, queue.popleft())] = worker
                elif worker is not None:
                    worker.close()
                worker = None
    finally:
        for left in [*busy.values(), *([worker] if worker is not None else [])]:
            left.close(kill=True)


_BOOT = "import sys; sys.path[:0] = {path!r}; from mtmm_es.pipeline.executor import serve; serve({r}, {w}, {level})"


class _Worker:
    """A fresh Python interpreter serving jobs over two pipes (its stdout goes to our stderr)."""

    def __init__(self, level: int):
        to_child, from_parent = os.pipe()
        from_child, to_parent = os.pipe()
        path = [p for p in sys.path if p]
        boot = _BOOT.format(path=path, r=to_child, w=to_parent, level=level)
        self.process = subprocess.Popen(
            [sys.executable, "-c", boot], pass_fds=(to_child, to_parent), stdin=subprocess.DEVNULL, stdout=2
        )
        os.close(to_child)
        os.close(to_parent)
        self.outbox = Connection(from_parent, readable=False)
        self.inbox = Connection(from_child, writable=False)
        self.job: Any = None

    def give(self, function: Callable, job: Any) -> Connection:
        self.job = job
        try:
            self.outbox.send((function, job))
        except OSError:
            pass  # it died already: the inbox reports EOF
        return self.inbox

    def death(self) -> str:
        code = self.close(kill=True)
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            return f"killed by {name}" + (", e.g. by the out-of-memory killer" if name == "SIGKILL" else "")
        return f"exit status {code}"

    def close(self, kill: bool = False) -> int | None:
        for connection in (self.outbox, self.inbox):
            connection.close()
        if kill and self.process.poll() is None:
            self.process.kill()
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def _send(outbox: Connection, sending: threading.Lock, message: tuple[str, Any]) -> None:
    """One message to the parent, pickled before the lock is taken (pickling may log)."""
    data = ForkingPickler.dumps(message)
    with sending:
        outbox.send_bytes(data)


class _ToParent(logging.Handler):
    """Sends a worker's log records to the parent, between the results on the same pipe: the
    message formatted (its arguments need not pickle), a traceback as text in `exc_text`."""

    def __init__(self, outbox: Connection, sending: threading.Lock):
        super().__init__()
        self.outbox, self.sending = outbox, sending

    def emit(self, record: logging.LogRecord) -> None:
        traceback = logging.Formatter().formatException(record.exc_info) if record.exc_info else record.exc_text
        plain = {**record.__dict__, "msg": record.getMessage(), "args": None, "exc_info": None, "exc_text": traceback}
        try:
            _send(self.outbox, self.sending, ("log", logging.makeLogRecord(plain)))
        except OSError:
            pass  # the parent has closed this worker's pipe (the run is ending): nobody to tell


def serve(read_fd: int, write_fd: int, level: int) -> None:
    """A worker's loop: receive (function, job), send back guarded(function, job), until EOF."""
    inbox, outbox = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    sending = threading.Lock()  # records may come from other threads while a result goes
    logger = logging.getLogger("mtmm_es")
    logger.setLevel(level)
    logger.addHandler(_ToParent(outbox, sending))
    logger.propagate = False
    try:
        while True:
            try:
                function, job = inbox.recv()
            except EOFError:
                return
            _send(outbox, sending, ("result", guarded(function, job)))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the parent reports it
        signals_end_the_process()
        exit_now_if_threads_remain(130)
        sys.exit(130)
