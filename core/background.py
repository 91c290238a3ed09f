"""Slow loads started off the start-up path: one worker thread per load, its result (or its error)
collected from the Future when first needed; the deferred imports of those loads, one at a time."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

_IMPORTING = threading.RLock()


def in_background(function: Callable[..., Any], *args: Any, thread_name: str = "mtmm-load") -> Future:
    """`function(*args)` running in a thread of its own (named `thread_name`); the Future holds its result."""
    loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
    future = loader.submit(function, *args)
    loader.shutdown(wait=False)  # the thread ends with the load; nothing else is ever submitted
    return future


@contextmanager
def deferred_import() -> Iterator[None]:
    """Hold this around the deferred imports (in a function, never at module level) of the large
    packages that background loads and pipeline stages use (torch, faster_whisper, mediapipe,
    openSMILE, scipy, gensim, ...): they then run one thread at a time.

    Python locks each module, not the whole import: while one thread runs torch's `__init__`,
    another importing a torch submodule directly can interleave with it, and Python breaks the
    cycle by failing one import half way. The next `import torch` then initialises torch a second
    time, which aborts the process ("GradBucket ... already defined"). The same interleaving fails
    imports of faster_whisper, mediapipe and the like with a deadlock error."""
    with _IMPORTING:
        yield
