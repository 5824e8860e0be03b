"""One sync pass: ask the status sources about every submitted run, and write to tickets only what changed.

Reads: the open campaign epics (one search), each epic's sync digest (one download), and each
status source once for all of its runs. For a run that changed: the ticket moves through the
workflow, its one status comment is edited in place, a failure summary is posted when the errors
change (edited in place while only their counts grow), its sync record is updated; then the epic's
roll-up comment and digest. Nothing is written when nothing changed. A write that fails leaves the
run's digest entry as it was, so the next sync tries again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .config import Config
from .errors import JiraCampaignError, SourceError, TrackerError
from .known_errors import load_known_errors
from .runs import RunRef, RunStatus
from .sources import ALIASES as SOURCE_ALIASES, StatusSource, open_source
from .states import BatchState
from .summary import (ROLLUP_MARKER, STATUS_MARKER, failure_marker, failure_signatures, failure_summary, rollup,
                      status_comment)
from .syncstate import DIGEST_FILE, Entry, SyncState, entry_from_ticket
from .trackers.base import Ticket, Tracker

__all__ = ["Action", "SyncReport", "Syncer", "sync_lock", "status_targets", "ATTENTION", "add_runs", "load_digest", "digest_from_tickets",
           "move_to_first"]

ATTENTION = {BatchState.FAILED, BatchState.PARTIAL, BatchState.HELD}


@dataclass
class Action:
    """One write sync makes (or, with ``--dry-run``, would make)."""

    key: str
    kind: str  # transition, status, failures, record, rollup, digest
    text: str
    run: Callable[[], object] = field(repr=False, default=lambda: None)


@dataclass
class SyncReport:
    """What a pass found and did."""

    campaigns: int = 0
    runs: int = 0
    changed: int = 0
    actions: list[Action] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    attention: list[tuple[str, str, str]] = field(default_factory=list)  # key, run, state
    unknown: list[tuple[str, str, str]] = field(default_factory=list)    # key, run, why
    source_requests: int = 0


def status_targets(config: Config) -> dict[str, list[str]]:
    """Ticket statuses to try, in order, for each run state (``sync.<state>_status``, comma-separated)."""
    out = {}
    for state in BatchState:
        if state is BatchState.UNKNOWN:  # the ticket is left alone while the source cannot tell
            continue
        text = config.get(f"sync.{state.value}_status") or ""
        out[state.value] = [part.strip() for part in text.split(",") if part.strip()]
    return out


@contextlib.contextmanager
def sync_lock(path: Path, wait: float = 0.0) -> Iterator[bool]:
    """Hold an exclusive lock on ``path``; yields `False` if another process still holds it after ``wait`` seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait
    with open(path, "a+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Syncer:
    """Runs sync passes against one tracker.

    Parameters
    ----------
    tracker : `Tracker`
    config : `Config`
    sources : `dict`, optional
        Status sources by name (built from the config on first use otherwise).
    clock : callable
        The current UTC time.
    """

    def __init__(self, tracker: Tracker, config: Config, sources: dict[str, StatusSource] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.tracker, self.config, self.clock = tracker, config, clock
        self.sources: dict[str, StatusSource] = dict(sources or {})
        self.targets = status_targets(config)
        self.known = load_known_errors(config.get("sync.known_errors") or None)

    def source(self, name: str) -> StatusSource:
        if name not in self.sources:
            self.sources[name] = open_source(name, self.config)
        return self.sources[name]

    def close(self) -> None:
        for source in self.sources.values():
            source.close()

    # ---- one pass -------------------------------------------------------------------------------------
    def run(self, campaign: str | None = None, dry_run: bool = False, full: bool = False) -> SyncReport:
        report = SyncReport()
        now = self.clock().strftime("%Y-%m-%d %H:%M UTC")
        epics = self.tracker.open_epics(campaign)
        report.campaigns = len(epics)
        states: dict[str, tuple[Ticket, SyncState, bool]] = {}
        for epic in epics:
            state = None if full else self._load(epic)
            states[epic.key] = (epic, state, False) if state else (epic, self._rebuild(epic), True)
        pending: dict[str, list[tuple[str, Entry]]] = {}
        for epic_key, (_, state, _) in states.items():
            for entry in state.entries.values():
                if not entry.final:
                    pending.setdefault(entry.source, []).append((epic_key, entry))
        dirty = {key for key, (_, _, rebuilt) in states.items() if rebuilt}
        for name, items in pending.items():
            report.runs += len(items)
            if name not in self.sources and name not in SOURCE_ALIASES:
                report.unknown += [(e.key, e.run_name, f"no status source for '{name}' runs yet (only PanDA runs are "
                                    "followed); use 'bps report'") for _, e in items]
                continue
            try:
                source = self.source(name)
                before = source.requests_made
                found = source.statuses([RunRef(e.run_name, e.run_id, e.digest, _when(e.submitted)) for _, e in items])
                report.source_requests += source.requests_made - before
            except (SourceError, NotImplementedError, JiraCampaignError) as exc:
                report.problems.append(f"{name}: {exc}")
                continue
            for (epic_key, entry), status in zip(items, found, strict=True):
                if self._apply(states[epic_key][1], entry, status, now, dry_run, report):
                    dirty.add(epic_key)
        for epic_key in sorted(dirty):
            epic, state, _ = states[epic_key]
            self._finish_epic(epic, state, now, dry_run, report)
        return report

    def _load(self, epic: Ticket) -> SyncState | None:
        return load_digest(self.tracker, epic)

    def _rebuild(self, epic: Ticket) -> SyncState:
        """The digest from the tickets themselves (first sync, or the attachment was lost)."""
        return digest_from_tickets(epic, self.tracker.find_tickets(epic.ident))

    def _apply(self, state: SyncState, entry: Entry, status: RunStatus, now: str, dry_run: bool,
               report: SyncReport) -> bool:
        """Write what changed for one run; returns whether the digest changed."""
        if status.state is BatchState.UNKNOWN:
            report.unknown.append((entry.key, entry.run_name, status.message or "state unknown"))
            return False
        if status.state in ATTENTION:
            report.attention.append((entry.key, entry.run_name, status.state.value))
        kinds, full = failure_signatures(status.failures) if status.failures_read else ("", entry.failures)
        new = dataclasses.replace(entry, state=status.state.value, digest=status.digest or entry.digest, failures=full)
        if status.detail:  # counts are exact only when the tasks were read; otherwise keep the last ones
            new.total, new.finished, new.failed, new.running = (status.total, status.finished, status.failed,
                                                                status.running)
        visible = (new.state, new.total, new.finished, new.failed, new.running, new.failures) != (
            entry.state, entry.total, entry.finished, entry.failed, entry.running, entry.failures)
        if not visible:
            if new.digest != entry.digest:  # progress the ticket does not show: remember, write nothing else
                state.entries[entry.key] = new
                return True
            return False
        report.changed += 1
        new.changed_at = now
        key = entry.key
        actions = []
        if new.state != entry.state:
            targets = self.targets.get(new.state) or []
            if targets:
                actions.append(Action(key, "transition", f"{key}: {entry.state or 'new'} -> {new.state}: move to "
                                      f"{' or '.join(targets)}", lambda: setattr(new, "status", move_to_first(self.tracker, key, targets))))
        body = status_comment(status, new, now)
        actions.append(Action(key, "status", f"{key}: status comment ({new.state}, {new.finished}/{new.total} done)",
                              lambda: self.tracker.upsert_comment(key, STATUS_MARKER, body)))
        if status.failures_read and status.failures and full != entry.failures:
            summary = failure_summary(status, new, self.known)
            actions.append(Action(key, "failures", f"{key}: failure summary ({status.failed_jobs} failed jobs, "
                                  f"{len(status.failures)} errors)",
                                  lambda: self.tracker.upsert_comment(key, failure_marker(kinds), summary)))
        actions.append(Action(key, "record", f"{key}: sync record", lambda: self.tracker.set_sync_record(key, new.record())))
        if not _execute(actions, dry_run, report):
            return False  # the entry stays as it was: the next sync tries again
        state.entries[key] = new
        return True

    def _finish_epic(self, epic: Ticket, state: SyncState, now: str, dry_run: bool, report: SyncReport) -> None:
        steps = (epic.metadata or {}).get("steps") or []
        body = rollup(state.entries.values(), steps, now)
        actions = [Action(epic.key, "rollup", f"{epic.key}: campaign roll-up",
                          lambda: self.tracker.upsert_comment(epic.key, ROLLUP_MARKER, body)),
                   Action(epic.key, "digest", f"{epic.key}: sync digest ({len(state.entries)} runs)",
                          lambda: self._save(epic, state))]
        _execute(actions, dry_run, report)

    def _save(self, epic: Ticket, state: SyncState) -> None:
        """Write the digest. ``submit`` and ``record`` take the same lock, so no run they add is lost here;
        ``sync --full`` rebuilds it from the tickets in any case."""
        self.tracker.attach(epic.key, DIGEST_FILE, state.to_bytes())


def _execute(actions: list[Action], dry_run: bool, report: SyncReport) -> bool:
    """Report the actions and, unless a dry run, make them in order; `True` when all were made."""
    report.actions += actions
    if dry_run:
        return False
    try:
        for action in actions:
            action.run()
    except JiraCampaignError as exc:
        report.problems.append(f"{actions[0].key}: {exc}")
        return False
    return True


def move_to_first(tracker: Tracker, key: str, targets: list[str]) -> str:
    """Move a ticket to the first of ``targets`` its workflow can reach; returns that status."""
    errors = []
    for target in targets:
        try:
            tracker.transition(key, target)
            return target
        except TrackerError as exc:
            errors.append(str(exc))
    raise TrackerError(f"{key}: could not move to any of {', '.join(targets)}: {'; '.join(errors)}")


def load_digest(tracker: Tracker, epic: Ticket) -> SyncState | None:
    """The epic's sync digest, or `None` when it has none or it cannot be read (it is then rebuilt)."""
    if DIGEST_FILE not in epic.attachments:
        return None
    try:
        data = tracker.read_attachment(epic.key, DIGEST_FILE)
    except TrackerError:  # e.g. a lagging search named an attachment replaced since
        return None
    return SyncState.from_bytes(data) if data else None


def digest_from_tickets(epic: Ticket, tickets: Iterable[Ticket]) -> SyncState:
    """A digest rebuilt from the submission tickets' run and sync records."""
    entries = [e for e in (entry_from_ticket(t) for t in tickets if t.kind == "submission") if e]
    return SyncState(epic.ident, entries)


def add_runs(tracker: Tracker, epic: Ticket, entries: list[Entry], tickets: Iterable[Ticket] = ()) -> None:
    """Put newly submitted runs into the epic's digest (used by ``submit`` and ``record``); without a
    readable digest, start from the campaign's ``tickets`` so no earlier run is forgotten."""
    state = load_digest(tracker, epic) or digest_from_tickets(epic, tickets)
    for entry in entries:
        state.entries[entry.key] = entry
    tracker.attach(epic.key, DIGEST_FILE, state.to_bytes())


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
