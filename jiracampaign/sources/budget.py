"""A request budget per host over a rolling hour, shared by every process of this user on this machine.

The PanDA monitor blocks a client (by IP) past a few hundred to 1000 requests an hour. A scheduled
``sync`` every few minutes, an operator's ``jiracampaign panda`` and a second campaign's sync all
draw on the same allowance, so the count lives in a small SQLite file that every process updates
in one transaction per request. A 429 from the server is recorded too, so other processes wait
instead of piling on.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Callable, Iterator

from ..errors import SourceError
from ..sqlite_files import use_wal

__all__ = ["RequestBudget", "BudgetExhausted", "WINDOW"]

WINDOW = 3600.0  # seconds


class BudgetExhausted(SourceError):
    """No request may be sent now; ``wait`` says for how long."""

    def __init__(self, message: str, wait: float):
        super().__init__(message)
        self.wait = wait


class RequestBudget:
    """At most ``per_hour`` requests to ``host`` in any rolling hour, across processes.

    Parameters
    ----------
    path : `Path`
        SQLite file (created on first use).
    host : `str`
        What the budget is for (the monitor's host name).
    per_hour : `int`
        Allowance.
    clock : callable
        Seconds since the epoch (tests pass their own).
    """

    def __init__(self, path: Path, host: str, per_hour: int, clock: Callable[[], float] = time.time):
        self.path, self.host, self.per_hour, self.clock = Path(path), host, per_hour, clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS sent (host TEXT NOT NULL, at REAL NOT NULL)")
            db.execute("CREATE INDEX IF NOT EXISTS sent_host_at ON sent (host, at)")
            db.execute("CREATE TABLE IF NOT EXISTS blocked (host TEXT PRIMARY KEY, until REAL NOT NULL)")

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            use_wal(db)
            yield db
        finally:
            db.close()

    def _advice(self) -> str:
        return ("raise panda.requests_per_hour if the monitor allows more, or sync less often" if self.per_hour
                else "panda.requests_per_hour is 0")

    def take(self) -> None:
        """Count one request, or raise `BudgetExhausted` (nothing counted) if none may be sent now."""
        now = self.clock()
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")  # one writer at a time: no two processes take the last request
            db.execute("DELETE FROM sent WHERE at < ?", (now - WINDOW,))
            row = db.execute("SELECT until FROM blocked WHERE host = ?", (self.host,)).fetchone()
            if row and row[0] > now:
                db.execute("ROLLBACK")
                wait = row[0] - now
                raise BudgetExhausted(f"the PanDA monitor at {self.host} asked this machine to slow down (HTTP 429); "
                                      f"next request allowed in {wait:.0f} s", wait)
            used, oldest = db.execute("SELECT COUNT(*), MIN(at) FROM sent WHERE host = ?", (self.host,)).fetchone()
            if used >= self.per_hour:
                db.execute("ROLLBACK")
                wait = (oldest + WINDOW - now) if oldest is not None else WINDOW
                raise BudgetExhausted(
                    f"request budget for the PanDA monitor at {self.host} is used up ({used} of {self.per_hour} "
                    f"in the last hour, shared by every jiracampaign process on this machine); next request "
                    f"possible in {wait / 60:.0f} min: {self._advice()}", wait)
            db.execute("INSERT INTO sent (host, at) VALUES (?, ?)", (self.host, now))
            db.execute("COMMIT")

    def remaining(self) -> int:
        """Requests that may still be sent in the current hour (0 while the server's block lasts)."""
        now = self.clock()
        with self._connect() as db:
            row = db.execute("SELECT until FROM blocked WHERE host = ?", (self.host,)).fetchone()
            if row and row[0] > now:
                return 0
            (used,) = db.execute("SELECT COUNT(*) FROM sent WHERE host = ? AND at >= ?",
                                 (self.host, now - WINDOW)).fetchone()
        return max(0, self.per_hour - used)

    def block(self, seconds: float) -> None:
        """Record that the server refused us (429): no process sends before ``seconds`` have passed."""
        until = self.clock() + seconds
        with self._connect() as db:
            db.execute("INSERT INTO blocked (host, until) VALUES (?, ?) "
                       "ON CONFLICT(host) DO UPDATE SET until = MAX(until, excluded.until)", (self.host, until))
