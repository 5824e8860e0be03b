"""Bounded concurrency: call a function on many items with at most ``workers`` calls in flight.

Used where requests are independent and latency, not CPU, sets the pace (PanDA monitor reads, the
writes of sync for each changed run, the attachments of `create` on trackers that are safe to call
from several threads). Results come back in the order of the items. With one worker (or one item)
everything runs in the calling thread, so a sequential run is exactly the old code path.
`bounded_map` is the plain form; `run_bounded` also reports each result as it comes (progress) and
stops starting calls at the first failure.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Callable, Iterable, Sequence, TypeVar

__all__ = ["bounded_map", "run_bounded", "InFlight"]

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


class InFlight:
    """Counts the calls running at once, and the most seen (tests check that work overlapped)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def __enter__(self) -> "InFlight":
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            self.now -= 1


def run_bounded(fn: Callable[[T], R], items: Sequence[T], limit: int,
                done: Callable[[int, R], None] | None = None, name: str = "worker",
                in_flight: InFlight | None = None) -> list[R]:
    """``[fn(item) for item in items]`` with at most ``limit`` calls running at once.

    Parameters
    ----------
    fn : callable
        Called once per item, from a worker thread when ``limit`` > 1.
    items : sequence
        What to call it with.
    limit : `int`
        Most calls at once; 1 (or fewer items than 2) runs them in the caller's thread, in order.
    done : callable, optional
        ``done(index, result)``, called in the caller's thread as each call returns (for progress).
    name : `str`
        Prefix of the worker threads' names (shown in debug logs).
    in_flight : `InFlight`, optional
        Told when each call starts and ends.

    Returns
    -------
    results : `list`
        The results, in the order of ``items``.

    Raises
    ------
    Exception
        The first exception a call raised: no call starts after it, the calls running are waited
        for (so that what they write is complete), and it is raised in the caller's thread. An
        interrupt (Ctrl-C) of the caller does the same.
    """
    def call(item: T) -> R:
        if in_flight is None:
            return fn(item)
        with in_flight:
            return fn(item)

    if limit <= 1 or len(items) <= 1:
        results = []
        for n, item in enumerate(items):
            results.append(call(item))
            if done:
                done(n, results[-1])
        return results
    results: list = [None] * len(items)
    pool = ThreadPoolExecutor(max_workers=min(limit, len(items)), thread_name_prefix=name)
    # calls are handed to the pool a window at a time: waiting on every pending call at once would cost
    # time in proportion to their number at each wait (quadratic over 10,000 items)
    window = 2 * limit
    upcoming = iter(enumerate(items))
    futures: dict[Future, int] = {}  # handed to the pool, not yet collected
    try:
        while True:
            for n, item in upcoming:
                futures[pool.submit(call, item)] = n
                if len(futures) >= window:
                    break
            if not futures:
                break
            finished, _ = wait(futures, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=futures.__getitem__):
                n = futures.pop(future)
                results[n] = future.result()  # raises the call's exception
                if done:
                    done(n, results[n])
    except BaseException:
        running = [f for f in futures if not f.cancel() and not f.done()]
        if running:
            log.info("waiting for %d request%s in flight to finish", len(running), "s" if len(running) > 1 else "")
        pool.shutdown(wait=True)
        raise
    pool.shutdown(wait=True)
    return results
