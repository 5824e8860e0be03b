"""A minimal in-memory tracker, written from `jiracampaign.trackers.base.Tracker` alone.

It shows the interface is complete and neutral: plain dicts, documents kept as objects (and rendered
as Markdown to prove they render), records kept as their JSON and read back with `record_from_json`
as a real tracker would. Select it with ``--tracker tests.fakes.memory_tracker.MemoryTracker``;
`from_config` returns the module's shared `STORE`, so a test can look inside after the CLI ran.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from jiracampaign.core.documents import Document
from jiracampaign.core.leases import Lease
from jiracampaign.core.records import Record, SyncRecord, record_from_json
from jiracampaign.core.states import BatchState
from jiracampaign.errors import TrackerError
from jiracampaign.trackers import markdown, markdown_text
from jiracampaign.trackers.base import Item, ItemRef, NewItem, Note, Progress, Tracker

__all__ = ["MemoryTracker", "Stored", "STORE", "reset"]

#: run states after which a later step may follow
FINISHED = frozenset({BatchState.SUCCEEDED.value, BatchState.CANCELLED.value})


@dataclass
class Stored:
    """One item as the memory tracker keeps it."""

    key: str
    ident: str
    campaign: str
    title: str
    body: Document
    text: str                      # the body rendered as Markdown
    record: dict                   # the record's JSON
    parent: str | None = None
    state: str = ""
    closed: bool = False
    attachments: dict[str, bytes] = field(default_factory=dict)
    slots: dict[str, int] = field(default_factory=dict)           # slot -> index in notes
    notes: list[tuple[str | None, Document, str]] = field(default_factory=list)  # (slot, document, Markdown)
    sync: dict | None = None
    links: set[tuple[str, str]] = field(default_factory=set)      # (relation, other key)
    lease: dict | None = None
    states: list[str] = field(default_factory=list)               # every run state shown, in order
    verdict: str | None = None                                    # the decision that closed it (`set_verdict`)


class MemoryTracker(Tracker):
    """Items in dicts (keys ``MEM-1``, ``MEM-2``, ...)."""

    name = "memory"

    def __init__(self) -> None:
        self.items: dict[str, Stored] = {}
        self.numbers = itertools.count(1)
        self.writes: list[tuple[str, str]] = []  # (method, key) of every change
        self.opened = 0
        self.closed = 0

    @classmethod
    def from_config(cls, config) -> "MemoryTracker":
        STORE.opened += 1
        return STORE

    def describe(self) -> str:
        return "memory tracker"

    def url(self, key: str) -> str:
        return f"memory://{key}"

    # ---- helpers --------------------------------------------------------------------------------------
    def _get(self, key: str) -> Stored:
        if key not in self.items:
            raise TrackerError(f"{self.describe()}: no item {key}")
        return self.items[key]

    def _item(self, s: Stored) -> Item:
        return Item(key=s.key, ident=s.ident, title=s.title, record=record_from_json(s.record), status=s.state,
                    done=s.closed or s.state in FINISHED, attachments={name: f"{s.key}/{name}" for name in s.attachments},
                    parent=s.parent, id=s.key.split("-")[1], sync=SyncRecord.from_json(s.sync) if s.sync else None,
                    lease=Lease.from_json(s.lease))

    def _wrote(self, method: str, key: str) -> None:
        self.writes.append((method, key))

    # ---- reading --------------------------------------------------------------------------------------
    def find_items(self, campaign: str, known: Mapping[str, ItemRef] | None = None,
                   since: float | None = None) -> list[Item]:
        keys = {s.key for s in self.items.values() if s.campaign == campaign}
        keys |= {key for key, _ in (known or {}).values() if key in self.items}
        return [self._item(self.items[k]) for k in sorted(keys, key=lambda k: int(k.split("-")[1]))]

    def get_item(self, key: str) -> Item | None:
        return self._item(self.items[key]) if key in self.items else None

    def get_items(self, keys) -> list[Item]:
        return [self._item(self.items[k]) for k in dict.fromkeys(keys) if k in self.items]

    def open_campaigns(self, campaign: str | None = None) -> list[Item]:
        return [self._item(s) for s in self.items.values() if s.record.get("type") == "campaign" and not s.closed
                and (campaign is None or s.campaign == campaign)]

    def list_campaigns(self, names: Sequence[str] = (), closed_since: float | None = None) -> list[Item]:
        """Open campaigns, then the closed ones only when all are asked for (``closed_since`` 0): no times kept."""
        found = [s for s in self.items.values() if s.record.get("type") == "campaign" and (not names or s.campaign in names)]
        return [self._item(s) for s in found if not s.closed] + [self._item(s) for s in found if s.closed
                                                                 and closed_since == 0]

    def latest_notes(self, keys: Sequence[str], prefix: str) -> dict[str, Note]:
        """The note added last among the matching slots (no times kept), read back from its Markdown."""
        out = {}
        for key in keys:
            for slot, _, text in self._get(key).notes:
                if slot and slot.startswith(prefix):
                    out[key] = Note(key, slot, markdown_text.spans(text))
        return out

    # ---- writing --------------------------------------------------------------------------------------
    def ensure_items(self, items: list[NewItem], progress: Progress | None = None, journal=None) -> list[Item]:
        if journal:
            journal.pending([i.ident for i in items])
        by_ident = {s.ident: s for s in self.items.values()}
        out = []
        for new in items:
            stored = by_ident.get(new.ident)
            if stored is None:
                key = f"MEM-{next(self.numbers)}"
                stored = Stored(key, new.ident, new.campaign, new.title, new.body, markdown.render(new.body),
                                new.record.to_json(), new.parent)
                self.items[key] = by_ident[new.ident] = stored
                self._wrote("ensure_items", key)
            out.append(self._item(stored))
            if progress:
                progress(1)
        if journal:
            journal.created(out)
        return out

    def update_item(self, key: str, title: str | None = None, body: Document | None = None) -> None:
        s = self._get(key)
        if title is not None:
            s.title = title
        if body is not None:
            s.body, s.text = body, markdown.render(body)
        self._wrote("update_item", key)

    def set_record(self, key: str, record: Record) -> None:
        self._get(key).record = record.to_json()
        self._wrote("set_record", key)

    def set_sync(self, key: str, record: SyncRecord) -> None:
        self._get(key).sync = record.to_json()
        self._wrote("set_sync", key)

    def attach(self, key: str, filename: str, content: bytes) -> None:
        self._get(key).attachments[filename] = bytes(content)
        self._wrote("attach", key)

    def read_attachment(self, key: str, filename: str) -> bytes | None:
        return self._get(key).attachments.get(filename)

    def put_note(self, key: str, slot: str, body: Document, note_id: str | None = None) -> str:
        s = self._get(key)
        text = markdown.render(body)
        if slot not in s.slots:
            s.slots[slot] = len(s.notes)
            s.notes.append((slot, body, text))
            self._wrote("put_note", key)
            return "added"
        if s.notes[s.slots[slot]][2] == text:
            return "unchanged"
        s.notes[s.slots[slot]] = (slot, body, text)
        self._wrote("put_note", key)
        return "updated"

    def add_note(self, key: str, body: Document) -> None:
        self._get(key).notes.append((None, body, markdown.render(body)))
        self._wrote("add_note", key)

    def set_run_state(self, key: str, state: BatchState) -> str:
        s = self._get(key)
        if s.state != state.value:
            s.state = state.value
            s.states.append(state.value)
            self._wrote("set_run_state", key)
        return s.state

    def link(self, key: str, other: str, relation: str) -> None:
        self._get(other)
        links = self._get(key).links
        if (relation, other) not in links:
            links.add((relation, other))
            self._wrote("link", key)

    def set_verdict(self, key: str, verdict: str) -> str:
        s = self._get(key)
        if s.verdict != verdict or not s.closed:
            s.verdict, s.closed = verdict, True
            self._wrote("set_verdict", key)
        return s.state or "closed"

    def shows_state(self, item: Item, state: BatchState) -> bool:
        return item.status == state.value

    def tidy(self, items: list[Item], apply: bool = True) -> list[str]:
        return []  # one note per slot and one file per name, by construction

    def board(self, campaign: str | None = None, known: ItemRef | None = None):
        raise NotImplementedError("the memory tracker has no boards")

    def read_lease(self, key: str):
        return Lease.from_json(self._get(key).lease)

    def write_lease(self, key: str, lease) -> None:
        self._get(key).lease = lease.to_json()
        self._wrote("write_lease", key)

    def close(self) -> None:
        self.closed += 1


STORE = MemoryTracker()


def reset() -> MemoryTracker:
    """Empty the shared store (each test starts afresh)."""
    STORE.__init__()
    return STORE
