"""Reading and writing a campaign's sync ledger (the digest attached to its campaign item), shared by
``submit``, ``record`` and ``sync``."""

from __future__ import annotations

import logging
from typing import Callable, Iterable

from ..core.ledger import DIGEST_FILE, Entry, SyncState, entry_for
from ..core.records import SubmissionRecord
from ..errors import TrackerError
from ..trackers.base import Item, Tracker

__all__ = ["load_ledger", "ledger_from_items", "add_runs", "entry_of"]

log = logging.getLogger(__name__)


def load_ledger(tracker: Tracker, epic: Item) -> SyncState | None:
    """The campaign's ledger, or `None` when it has none or it cannot be read (it is then rebuilt)."""
    if DIGEST_FILE not in epic.attachments:
        return None
    try:
        data = tracker.read_attachment(epic.key, DIGEST_FILE)
    except TrackerError:  # e.g. a lagging search named an attachment replaced since
        log.warning("%s: cannot read the sync ledger; rebuilding it from the tickets", epic.key)
        return None
    state = SyncState.from_bytes(data) if data else None
    if state is None:
        log.warning("%s: the sync ledger is unreadable; rebuilding it from the tickets", epic.key)
    return state


def entry_of(item: Item, source_for: Callable[[str], str]) -> Entry | None:
    """The ledger entry of a submission item, or `None` if it was never submitted."""
    if not isinstance(item.record, SubmissionRecord):
        return None
    return entry_for(item.key, item.ident, item.record, item.sync, source_for)


def ledger_from_items(epic: Item, items: Iterable[Item], source_for: Callable[[str], str]) -> SyncState:
    """A ledger rebuilt from the submission items' run and sync records."""
    return SyncState(epic.ident, [e for e in (entry_of(i, source_for) for i in items) if e])


def add_runs(tracker: Tracker, epic: Item, entries: list[Entry], items: Iterable[Item],
             source_for: Callable[[str], str]) -> None:
    """Put newly submitted runs into the campaign's ledger; without a readable ledger, start from the
    campaign's ``items`` so no earlier run is forgotten."""
    state = load_ledger(tracker, epic) or ledger_from_items(epic, items, source_for)
    for entry in entries:
        state.entries[entry.key] = entry
    tracker.attach(epic.key, DIGEST_FILE, state.to_bytes())
    log.info("%s: sync ledger now lists %d runs", epic.key, len(state.entries))
