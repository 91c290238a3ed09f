"""Slow loads started off the start-up path: one worker thread per load, its result (or its error)
collected from the Future when first needed."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


def in_background(function: Callable[..., Any], *args: Any, thread_name: str = "mtmm-load") -> Future:
    """`function(*args)` running in a thread of its own (named `thread_name`); the Future holds its result."""
    loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
    future = loader.submit(function, *args)
    loader.shutdown(wait=False)  # the thread ends with the load; nothing else is ever submitted
    return future
