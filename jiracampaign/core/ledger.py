"""The sync ledger: the compact record of every submitted run of a campaign, kept on the campaign's epic.

``sync`` must not page through thousands of tickets to learn that nothing changed. Each campaign
epic therefore carries one small gzip-compressed JSON attachment (the *digest*) listing its
submitted runs with what was last synced (state, counts, the source's digest, the failure
signature, what the ticket shows). An idle sync reads the open epics (one search), this attachment
(one download each) and the status source (one request), and writes nothing. Each submission
ticket also keeps its own `SyncRecord`, so the ledger can be rebuilt from the tickets when lost.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, fields
from typing import Callable, Iterable

from .attempts import first_ident
from .records import SubmissionRecord, SyncRecord
from .states import BatchState

__all__ = ["DIGEST_FILE", "Entry", "SyncState", "entry_for", "entry_groups"]

DIGEST_FILE = "jiracampaign-sync.json.gz"
VERSION = 1
_FINAL = {s.value for s in BatchState if s.final}


@dataclass(kw_only=True)
class Entry(SyncRecord):
    """One submitted run: its ticket, its step, and what was last synced about it."""

    key: str
    ident: str
    step: str
    group: int = 0     # 0 in ledgers written before attempts were counted per group
    attempt: int = 1

    @property
    def final(self) -> bool:
        """Whether sync stops following the run: it ended, or a decision settled it (`Verdict`)."""
        return self.state in _FINAL or bool(self.verdict)

    def record(self) -> SyncRecord:
        """What the submission ticket keeps of its last sync."""
        return SyncRecord(**{f.name: getattr(self, f.name) for f in fields(SyncRecord)})


_FIELDS = [f.name for f in fields(Entry)]


def entry_for(key: str, ident: str, record: SubmissionRecord, synced: SyncRecord | None,
              source_for: Callable[[str], str]) -> Entry | None:
    """The ledger entry of a submission ticket (its run and last-synced record), or `None` if never submitted.

    ``source_for`` names the status source that follows a workload system's runs.
    """
    run = record.run
    if run is None or not run.run_name:
        return None
    entry = Entry(key=key, ident=ident, step=record.step, group=record.group, attempt=record.attempt,
                  source=source_for(run.wms), run_name=run.run_name,
                  run_id=run.run_id, wms=run.wms, submitted=run.submitted, submit_dir=run.submit_dir or "",
                  returned=run.returned)
    if synced is not None and synced.run_name == run.run_name:  # a resubmission starts afresh
        for name in ("digest", "state", "status", "total", "finished", "failed", "failures", "changed_at", "running",
                     "failed_tasks", "advice", "verdict", "verdict_reason", "notes"):
            setattr(entry, name, getattr(synced, name))
    return entry


def entry_groups(entries: Iterable[Entry]) -> list[list[Entry]]:
    """A ledger's entries by group, each group's in attempt order (latest last).

    An entry knows its ``(step, group)``; one from a ledger written before groups were kept (``group`` 0) is put
    with the group of an entry of the same first attempt (a rescue's id is ``<first id>-a<N>``), else counted
    alone by its id.
    """
    entries = list(entries)
    named = {(e.step, first_ident(e.ident, e.attempt)): e.group for e in entries if e.group}
    groups: dict[tuple[str, int, str], list[Entry]] = {}
    for entry in entries:
        first = first_ident(entry.ident, entry.attempt)
        group = entry.group or named.get((entry.step, first), 0)
        groups.setdefault((entry.step, group, "" if group else first), []).append(entry)
    return [sorted(g, key=lambda e: (e.attempt, e.ident)) for g in groups.values()]


class SyncState:
    """Every submitted run of one campaign, keyed by ticket."""

    def __init__(self, campaign: str, entries: Iterable[Entry] = (), checked: str = "", notes: str = ""):
        self.campaign = campaign
        self.entries: dict[str, Entry] = {e.key: e for e in entries}
        self.checked = checked  # when a sync last compared every ticket with its run (ISO 8601, UTC)
        self.notes = notes  # the epic's living notes (the roll-up) as ``slot=id;...``, like `SyncRecord.notes`

    def to_bytes(self) -> bytes:
        rows = [[getattr(e, name) for name in _FIELDS] for e in sorted(self.entries.values(), key=lambda e: e.ident)]
        text = json.dumps({"version": VERSION, "campaign": self.campaign, "fields": _FIELDS, "entries": rows,
                           "checked": self.checked, "notes": self.notes}, separators=(",", ":"))
        return gzip.compress(text.encode(), mtime=0)  # same content, same bytes

    @classmethod
    def from_bytes(cls, data: bytes) -> "SyncState | None":
        """The state, or `None` when the attachment is unreadable (it is then rebuilt from the tickets)."""
        try:
            body = json.loads(gzip.decompress(data))
            names = body["fields"]
            entries = [Entry(**{n: v for n, v in zip(names, row) if n in _FIELDS}) for row in body["entries"]]
            return cls(body["campaign"], entries, str(body.get("checked") or ""), str(body.get("notes") or ""))
        except (OSError, ValueError, KeyError, TypeError, EOFError):
            return None
