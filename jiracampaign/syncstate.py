"""The compact record of every submitted run of a campaign, kept on the campaign's epic.

``sync`` must not page through thousands of tickets to learn that nothing changed. Each campaign
epic therefore carries one small gzip-compressed JSON attachment listing its submitted runs with
what was last synced (state, counts, the source's digest, the failure signature, the ticket status).
An idle sync reads the open epics (one search), this attachment (one download each) and the
status source (one request), and writes nothing. Each submission ticket also keeps its own
last-synced record, so the digest can be rebuilt from the tickets when it is lost.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import asdict, dataclass, fields
from typing import Any, Iterable

from .states import BatchState

__all__ = ["DIGEST_FILE", "Entry", "SyncState", "entry_from_ticket"]

DIGEST_FILE = "jiracampaign-sync.json.gz"
VERSION = 1


@dataclass
class Entry:
    """One submitted run and what was last synced about it."""

    key: str
    ident: str
    step: str
    source: str
    run_name: str
    run_id: str | None = None
    submitted: str | None = None
    digest: str | None = None
    state: str = ""        # BatchState value last written to the ticket ("" before the first sync)
    status: str = ""       # ticket status last set
    total: int = 0
    finished: int = 0
    failed: int = 0
    failures: str = ""     # signature of the failure summary last posted
    changed_at: str = ""   # when sync last saw the run change (UTC)
    running: int | None = None

    @property
    def final(self) -> bool:
        return self.state in {s.value for s in BatchState if s.final}

    def record(self) -> dict[str, Any]:
        """What the submission ticket keeps of its last sync."""
        return {k: v for k, v in asdict(self).items() if k not in ("key", "ident", "step")}


_FIELDS = [f.name for f in fields(Entry)]


def entry_from_ticket(ticket) -> Entry | None:
    """An entry from a submission ticket's metadata (its run and its last-synced record), or `None` if never submitted."""
    meta = ticket.metadata or {}
    run = meta.get("run") or {}
    if not run.get("run_name"):
        return None
    synced = ticket.sync if isinstance(ticket.sync, dict) else {}
    same_run = synced.get("run_name") == run["run_name"]
    entry = Entry(key=ticket.key, ident=ticket.ident, step=str(meta.get("step", "")),
                  source=source_of(run.get("wms", "")), run_name=run["run_name"],
                  run_id=str(run["run_id"]) if run.get("run_id") else None, submitted=run.get("submitted"))
    if same_run:  # a resubmission starts afresh
        for name in ("digest", "state", "status", "total", "finished", "failed", "failures", "changed_at", "running"):
            if name in synced:
                setattr(entry, name, synced[name])
    return entry


def source_of(wms: str) -> str:
    """Status source for a workload system: PanDA runs are followed on the PanDA monitor, the rest through BPS."""
    return "panda" if (wms or "panda").casefold() == "panda" else "bps"


class SyncState:
    """Every submitted run of one campaign, keyed by ticket."""

    def __init__(self, campaign: str, entries: Iterable[Entry] = ()):
        self.campaign = campaign
        self.entries: dict[str, Entry] = {e.key: e for e in entries}

    def to_bytes(self) -> bytes:
        rows = [[getattr(e, name) for name in _FIELDS] for e in sorted(self.entries.values(), key=lambda e: e.ident)]
        text = json.dumps({"version": VERSION, "campaign": self.campaign, "fields": _FIELDS, "entries": rows},
                          separators=(",", ":"))
        return gzip.compress(text.encode(), mtime=0)  # same content, same bytes

    @classmethod
    def from_bytes(cls, data: bytes) -> "SyncState | None":
        """The state, or `None` when the attachment is unreadable (it is then rebuilt from the tickets)."""
        try:
            body = json.loads(gzip.decompress(data))
            names = body["fields"]
            entries = [Entry(**{n: v for n, v in zip(names, row) if n in _FIELDS}) for row in body["entries"]]
            return cls(body["campaign"], entries)
        except (OSError, ValueError, KeyError, TypeError, EOFError):
            return None
