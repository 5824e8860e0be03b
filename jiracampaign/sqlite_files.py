"""Opening the SQLite files that several processes share (the local store, the PanDA request budget).

Switching a database to write-ahead logging needs a lock that SQLite does not wait for: when two
processes open a new file at the same moment, one gets "database is locked" at once, whatever the
busy timeout. WAL is a property of the file, so it is set once and later openers only read it; the
rare collision on a new file is retried here instead of failing a sync.
"""

from __future__ import annotations

import logging
import sqlite3
import time

__all__ = ["use_wal"]

log = logging.getLogger(__name__)


def use_wal(db: sqlite3.Connection, wait: float = 30.0) -> None:
    """Put the file behind ``db`` in WAL mode, retrying while another process holds the lock."""
    deadline = time.monotonic() + wait
    delay = 0.01
    while True:
        try:
            mode = db.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                raise
            log.debug("journal mode of a shared SQLite file: %s; retrying", exc)
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
