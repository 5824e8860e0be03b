"""`create`'s journal: what it is about to create and every key it has learnt, on local disk, written
and flushed before each create request and after each answer.

A `create` that is interrupted (Ctrl-C, SIGTERM, SIGKILL, a lost answer) leaves tickets whose keys
only the journal knows; the next `create` of the same campaign in the same tracker reads them by key
(consistent, unlike a search that lags behind writes) and, for a create whose answer never came,
lets the tracker wait until its search shows what that create made. One journal per tracker and
campaign, under ``<data dir>/journal/``; runs on this machine take its lock in turn.

Threads of one run may tell it at the same time (creates and attachments sent concurrently): every
change and the file written for it happen under one lock, and creates in flight at once are pending
together (each create's idents leave the pending set when its answer came; the time kept is the
earliest send).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

from ..errors import JiraCampaignError
from ..locks import hold
from ..trackers.base import Item, ItemRef

__all__ = ["Journal", "journal_path", "open_journal"]

log = logging.getLogger(__name__)

FORMAT = 1
LOCK_WAIT = 600.0


def journal_path(data_dir: Path, tracker: str, campaign: str) -> Path:
    """``<data dir>/journal/<campaign>-<digest of the tracker's description>.json``."""
    digest = hashlib.sha256(tracker.encode()).hexdigest()[:12]
    return Path(data_dir) / "journal" / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', campaign)}-{digest}.json"


class Journal:
    """The journal of one campaign in one tracker (see the module's description)."""

    def __init__(self, path: Path, campaign: str, tracker: str):
        self.path, self.campaign, self.tracker = Path(path), campaign, tracker
        self._lock = threading.RLock()
        self.data: dict = {"format": FORMAT, "campaign": campaign, "tracker": tracker, "items": {}, "pending": None}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                if data.get("format") == FORMAT and data.get("campaign") == campaign:
                    self.data = data
            except (OSError, ValueError) as exc:
                log.warning("%s: unreadable journal ignored (%s); a complete search replaces it", self.path, exc)
                self.data["pending"] = {"idents": [], "since": time.time()}  # assume the worst: a create just happened

    @property
    def refs(self) -> dict[str, ItemRef]:
        """Every item created so far: ident -> (key, id)."""
        with self._lock:
            return {ident: (ref[0], ref[1]) for ident, ref in self.data["items"].items()}

    @property
    def pending_since(self) -> float | None:
        """When a create was sent whose answer was never recorded (`None`: there is none)."""
        with self._lock:
            pending = self.data.get("pending")
            return float(pending["since"]) if pending else None

    def pending(self, idents: list[str]) -> None:
        """Creates of ``idents`` are about to be sent (added to those still pending; written to disk first)."""
        with self._lock:
            before = self.data.get("pending") or {}
            known = list(before.get("idents") or [])
            self.data["pending"] = {"idents": known + [i for i in idents if i not in known],
                                    "since": float(before.get("since") or time.time())}
            self._save()

    def created(self, items: list[Item]) -> None:
        """These items exist: their keys are kept; they are no longer pending."""
        self._record(items, settle=False)

    def settled(self, items: list[Item]) -> None:
        """A complete read found ``items``: nothing is pending any more; keep their keys."""
        self._record(items, settle=True)

    def _record(self, items: list[Item], settle: bool) -> None:
        """Keep the keys of ``items``, no longer pending (none pending with ``settle``); the file is written
        when this changes what it says."""
        with self._lock:
            before = json.dumps(self.data, sort_keys=True)
            if settle:
                self.data["pending"] = None
            for item in items:
                self.data["items"][item.ident] = [item.key, item.id]
            pending = self.data.get("pending")
            if pending:
                left = [i for i in pending["idents"] if i not in self.data["items"]]
                self.data["pending"] = {"idents": left, "since": pending["since"]} if left else None
            if json.dumps(self.data, sort_keys=True) != before:
                self._save()

    def _save(self) -> None:
        """Write the whole journal to a new file, flush it to disk, and swap it in."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".journal.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(self.data, out, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


@contextlib.contextmanager
def open_journal(data_dir: Path, tracker: str, campaign: str, wait: float = LOCK_WAIT) -> Iterator[Journal]:
    """The campaign's journal, held for this process (another `create` of it on this machine waits)."""
    path = journal_path(data_dir, tracker, campaign)
    lock = path.with_suffix(".lock")
    with hold(lock) as free:
        if free:
            yield Journal(path, campaign, tracker)
            return
    log.warning("another create of campaign %s is running on this machine: waiting for it (%s)", campaign, lock)
    with hold(lock, wait) as got:
        if not got:
            raise JiraCampaignError(f"another create of campaign {campaign} has been running on this machine for "
                                    f"{wait / 60:g} minutes ({lock}); try again when it is done")
        yield Journal(path, campaign, tracker)
