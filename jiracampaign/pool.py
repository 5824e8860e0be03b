"""Bounded concurrency: call a function on many items with at most ``workers`` calls in flight.

Used where requests are independent and latency, not CPU, sets the pace (PanDA monitor reads, the
writes of sync for each changed run). Results come back in the order of the items. With one worker
(or one item) everything runs in the calling thread, so a sequential run is exactly the old code path.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

__all__ = ["bounded_map"]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


def bounded_map(fn: Callable[[T], R], items: Iterable[T], workers: int, name: str = "jc") -> list[R]:
    """``[fn(item) for item in items]`` with at most ``workers`` calls running at once.

    Parameters
    ----------
    fn : callable
        Called once per item, from a worker thread when ``workers`` > 1; it must be safe to run
        concurrently with itself.
    items : iterable
        The arguments.
    workers : `int`
        Largest number of calls in flight (values below 1 count as 1).
    name : `str`
        Prefix of the worker threads' names (seen in debug logs).

    Returns
    -------
    results : `list`
        ``fn(item)`` for each item, in the order of ``items``.

    Raises
    ------
    Exception
        The first exception ``fn`` raised (in item order), once every call already started has ended.
    """
    items = list(items)
    workers = max(1, min(int(workers or 1), len(items)))
    if workers == 1:
        return [fn(item) for item in items]
    log.debug("%d calls, %d at a time", len(items), workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        return list(pool.map(fn, items))
