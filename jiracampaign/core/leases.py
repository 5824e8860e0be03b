"""Leases: a claim, kept in the tracker itself, that one process is working on a campaign.

`create` takes a ``create`` lease on the campaign item while it creates the submissions, and `sync`
a ``sync`` lease while it writes; another machine that finds a live lease waits for it (create) or
skips with a message naming the holder (sync). A lease names its holder and host and expires by
itself, so a killed process blocks nobody for long.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .records import RecordError

__all__ = ["Lease", "new_lease"]


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass
class Lease:
    """Who works on a campaign, from when, until when at the latest.

    ``owner`` is unique per process run; ``released`` is set when the holder is done (a released
    lease is not live, and tells a waiting process when the last write happened).
    """

    purpose: str
    owner: str
    host: str
    pid: int
    user: str
    taken: float
    expires: float
    released: float | None = None

    def live(self, now: float | None = None) -> bool:
        return self.released is None and (time.time() if now is None else now) < self.expires

    def describe(self) -> str:
        return (f"{self.purpose} by {self.user}@{self.host} (pid {self.pid}) since {_iso(self.taken)}, "
                f"until {_iso(self.expires)} at the latest")

    def to_json(self) -> dict[str, Any]:
        return {"purpose": self.purpose, "owner": self.owner, "host": self.host, "pid": self.pid, "user": self.user,
                "taken": self.taken, "expires": self.expires, "released": self.released}

    @classmethod
    def from_json(cls, data: Any) -> "Lease | None":
        """The lease stored as ``data``; `None` for nothing stored."""
        if not data:
            return None
        try:
            return cls(str(data["purpose"]), str(data["owner"]), str(data["host"]), int(data["pid"]),
                       str(data.get("user", "")), float(data["taken"]), float(data["expires"]),
                       None if data.get("released") is None else float(data["released"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordError(f"lease record is malformed ({exc.__class__.__name__}: {exc})") from None


def new_lease(purpose: str, ttl: float, now: float | None = None) -> Lease:
    """A lease for this process, valid ``ttl`` seconds."""
    now = time.time() if now is None else now
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid
        user = str(os.getuid()) if hasattr(os, "getuid") else "?"
    return Lease(purpose, uuid.uuid4().hex, socket.gethostname(), os.getpid(), user, now, now + ttl)
