"""`pool.run_bounded`: results in item order, progress in the caller's thread as calls end, at most
``limit`` calls at once, and after a failure no further call starts (calls are handed out a window at
a time, so a long list is never all queued behind a failure)."""

from __future__ import annotations

import threading
import time

import pytest

from jiracampaign.pool import InFlight, run_bounded


def test_results_in_item_order_with_progress_in_the_callers_thread():
    caller, seen = threading.get_ident(), []

    def slow_first(n: int) -> int:
        time.sleep(0.02 if n % 7 == 0 else 0)
        return n * n

    out = run_bounded(slow_first, list(range(200)), 4,
                      done=lambda n, r: seen.append((n, r, threading.get_ident() == caller)))
    assert out == [n * n for n in range(200)]
    assert sorted(seen) == [(n, n * n, True) for n in range(200)]
    assert [n for n, _, _ in seen] != list(range(200)), "calls overlapped, so some ended out of order"


def test_never_more_than_limit_calls_at_once():
    flight = InFlight()
    run_bounded(lambda n: time.sleep(0.005), list(range(60)), 3, in_flight=flight)
    assert flight.peak == 3 and flight.now == 0


def test_no_call_starts_after_a_failure():
    started, lock = [], threading.Lock()

    def call(n: int) -> int:
        with lock:
            started.append(n)
        if n == 5:
            raise RuntimeError("boom")
        time.sleep(0.01)
        return n

    with pytest.raises(RuntimeError, match="boom"):
        run_bounded(call, list(range(1000)), 4)
    assert 5 in started
    assert len(started) <= 5 + 4 * 2 + 4, "calls went on long after the failure"  # the window handed out
