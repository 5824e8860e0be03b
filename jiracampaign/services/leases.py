"""Taking, waiting for and releasing the lease on a campaign item (`core.leases`), on any tracker.

Taking is write-then-read-back: after writing its lease, a process waits the tracker's
``lease_settle`` and reads the lease again; only the process whose lease is still there goes on, so of
two processes that wrote a moment apart exactly one wins. A lease held by a process of this host
that no longer exists counts as released.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Callable

from ..core.leases import Lease, new_lease
from ..trackers.base import Tracker

__all__ = ["take_lease", "renew_lease", "release_lease", "wait_for_lease", "in_force"]

log = logging.getLogger(__name__)

def in_force(lease: Lease | None, now: float | None = None) -> bool:
    """Whether ``lease`` still keeps others out: live, and not held by a dead process of this host."""
    if lease is None or not lease.live(now):
        return False
    if lease.host == socket.gethostname() and lease.pid != os.getpid():
        try:
            os.kill(lease.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    return True


def take_lease(tracker: Tracker, key: str, purpose: str, ttl: float, current: Lease | None = None,
               since: float | None = None, sleep: Callable[[float], None] | None = None) -> tuple[Lease | None, Lease | None]:
    """Take the lease on item ``key`` for ``ttl`` seconds.

    Returns ``(ours, other)``: our lease if taken, else `None` and the lease that keeps us out: one in
    force, or, with ``since`` (when the caller read what it is about to write over), one released
    after it (its holder wrote since). ``current`` is the lease read with the item: when it is in
    force, no request is made; otherwise the lease is read again just before it is written.
    """
    if in_force(current):
        return None, current
    before = tracker.read_lease(key)
    if in_force(before) or (before and since and before.released and before.released > since
                            and before.owner != (current.owner if current else None)):
        return None, before
    mine = new_lease(purpose, ttl)
    tracker.write_lease(key, mine)
    if tracker.lease_settle:
        (sleep or time.sleep)(tracker.lease_settle)
        now = tracker.read_lease(key)
        if now is None or now.owner != mine.owner:
            log.info("%s: lease taken a moment earlier by %s", key, now.describe() if now else "someone")
            return None, now
    log.debug("%s: took the %s lease until %s", key, purpose, mine.expires)
    return mine, None


def renew_lease(tracker: Tracker, key: str, lease: Lease, ttl: float) -> None:
    """Extend our lease by ``ttl`` once half of it has passed (a long create keeps others waiting)."""
    now = time.time()
    if now > lease.expires - ttl / 2:
        lease.expires = now + ttl
        tracker.write_lease(key, lease)


def release_lease(tracker: Tracker, key: str, lease: Lease) -> None:
    """Mark our lease released (the time tells a waiting process when our last write was)."""
    lease.released = time.time()
    tracker.write_lease(key, lease)


def wait_for_lease(tracker: Tracker, key: str, other: Lease, poll: float = 2.0,
                   sleep: Callable[[float], None] = time.sleep) -> float:
    """Wait while ``other`` is in force; returns when its holder's last write was (release or expiry)."""
    log.warning("%s: waiting for %s", key, other.describe())
    lease: Lease | None = other
    while in_force(lease):
        sleep(min(poll, max(0.05, lease.expires - time.time())))  # type: ignore[union-attr]
        lease = tracker.read_lease(key)
        if lease is not None and lease.owner != other.owner and in_force(lease):
            other = lease
    if lease is None:
        return time.time()
    return lease.released or min(lease.expires, time.time())
