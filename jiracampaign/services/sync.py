"""``sync``: ask the status sources about every submitted run, and write to items only what changed.

Reads: the open campaigns (one bulk read), each campaign's sync ledger (one download), and each
status source once for all of its runs. For a run that changed: the item shows the new run state,
its one status note is edited in place, a failure summary is posted when the errors change (edited
in place while only their counts grow) with, when the source has one (quantum provenance), the full
JSON failure report attached beside it (uploaded only when its content changed), its sync record is
updated; then the campaign's roll-up note and ledger. Nothing is written when nothing changed. A write that fails leaves the run's ledger
entry as it was, so the next sync tries again.

The writes of different runs are independent: a tracker that takes concurrent writes (its ``concurrency``
attribute, e.g. JIRA) gets that many runs written at once, each run's writes in order. The ids of the living
notes are kept in the sync record (`SyncRecord.notes`), so a tracker that takes them (``put_note(...,
note_id=...)``) edits a status note with one request, without reading the item's comments first.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from ..config import Config, data_dir
from ..core import texts
from ..core.documents import Mono, Paragraph
from ..core.known_errors import advised_rescue, load_known_errors
from ..core.leases import Lease
from ..core.ledger import DIGEST_FILE, Entry, SyncState
from ..core.records import CampaignRecord
from ..core.runs import RunRef, RunStatus
from ..core.states import BatchState
from ..errors import ConfigError, InputError, JiraCampaignError, SourceError
from ..locks import hold, lock_path
from ..plugins import SOURCES, load_class, open_source, open_tracker, source_for
from ..pool import run_bounded
from ..sources.base import StatusSource
from ..trackers.base import Item, Tracker
from .leases import release_lease, take_lease
from .ledger import ledger_from_items, load_ledger
from .verdict import close_superseded

__all__ = ["Action", "SyncReport", "Syncer", "sync", "ATTENTION", "report_bytes"]

log = logging.getLogger(__name__)

ATTENTION = {BatchState.FAILED, BatchState.PARTIAL, BatchState.HELD}


@dataclass
class Action:
    """One write sync makes (or, with ``--dry-run``, would make)."""

    key: str
    kind: str  # transition, status, report, failures, record, rollup, digest
    text: str
    run: Callable[[], object] = field(repr=False, default=lambda: None)


@dataclass
class _Write:
    """The writes planned for one changed run; its ledger entry becomes ``new`` once they are all made."""

    epic: Item
    state: SyncState
    new: Entry
    actions: list[Action]


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
    deferred: list[tuple[str, str, str]] = field(default_factory=list)   # key, run, what the source could not read
    source_requests: int = 0
    skipped: str = ""  # the lock another sync holds, when this pass did not run
    busy: list[tuple[str, str, str]] = field(default_factory=list)  # key, campaign, the lease another sync holds
    tidied: list[str] = field(default_factory=list)  # notes or files written twice, folded into one


def sync(config: Config, campaign: str | None = None, dry_run: bool = False, full: bool = False) -> SyncReport:
    """One pass over every open campaign (or one), unless another sync holds the lock."""
    path = lock_path(data_dir())
    with hold(path) as got:
        if not got:
            return SyncReport(skipped=str(path))
        tracker = open_tracker(config)
        syncer = Syncer(tracker, config)
        try:
            return syncer.run(campaign, dry_run=dry_run, full=full)
        finally:
            syncer.close()
            tracker.close()


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
    workers : `int`, optional
        Runs written at once; default: the tracker's ``concurrency``.
    """

    def __init__(self, tracker: Tracker, config: Config, sources: dict[str, StatusSource] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc), workers: int | None = None):
        self.tracker, self.config, self.clock = tracker, config, clock
        self.workers = workers if workers is not None else tracker.concurrency
        self.sources: dict[str, StatusSource] = dict(sources or {})
        self.known = load_known_errors(config.get("sync.known_errors") or None)
        self.leases: dict[str, Lease | None] = {}  # epic key -> our lease (`None`: another sync holds it)
        self.started = time.time()

    def source(self, name: str) -> StatusSource:
        if name not in self.sources:
            self.sources[name] = open_source(name, self.config)
        return self.sources[name]

    def _followed(self, name: str) -> bool:
        """Whether ``name`` is a status source this sync can use."""
        if not name:
            return False
        if name in self.sources:
            return True
        try:
            load_class(name, SOURCES, "sync.sources", "status source")
        except ConfigError:
            return False
        return True

    def source_for(self, wms: str) -> str:
        return source_for(wms, self.config)

    def _release(self) -> None:
        """Release the leases this pass took (one that cannot be released expires by itself)."""
        for key, lease in self.leases.items():
            if lease is not None:
                try:
                    release_lease(self.tracker, key, lease)
                except JiraCampaignError as exc:
                    log.warning("%s: could not release the sync lease: %s", key, exc)
        self.leases.clear()

    def close(self) -> None:
        self._release()
        for source in self.sources.values():
            source.close()

    def _may_write(self, epic: Item, report: SyncReport) -> bool:
        """Whether this sync holds (or now takes) the campaign's lease; a campaign another sync holds is
        reported once and left to it."""
        if epic.key not in self.leases:
            ttl = float(self.config.get("sync.lease_minutes")) * 60
            ours, other = take_lease(self.tracker, epic.key, "sync", ttl, current=epic.lease, since=self.started)
            self.leases[epic.key] = ours
            if ours is None:
                holder = (f"{other.describe()}; released a moment ago, after this sync read the campaign: it is "
                          f"up to date" if other and other.released else other.describe() if other else "another sync")
                log.warning("%s (%s): skipped: %s", epic.key, epic.ident, holder)
                report.busy.append((epic.key, epic.ident, holder))
        return self.leases[epic.key] is not None

    def _no_such_campaign(self, name: str) -> InputError:
        names = sorted({e.ident for e in self.tracker.open_campaigns()})
        close = difflib.get_close_matches(name, names, n=1)
        hint = (f"did you mean '{close[0]}'?" if close else
                f"open campaigns: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}" if names else
                "there are no open campaigns")
        return InputError("--campaign", None, None, f"no open campaign '{name}' in {self.tracker.describe()}; {hint}")

    def _check_due(self, state: SyncState, full: bool) -> bool:
        if full or not state.checked:
            return True
        try:
            last = datetime.fromisoformat(state.checked)
        except ValueError:
            return True
        return (self.clock() - last).total_seconds() >= float(self.config.get("sync.check_minutes")) * 60

    def _check(self, epic: Item, state: SyncState, items: list[Item] | None, dry_run: bool,
               report: SyncReport) -> None:
        """Compare every submitted ticket with its run's state (correcting one a race or a person left
        wrong) and fold notes or files written twice."""
        items = items if items is not None else self.tracker.find_items(epic.ident)
        actions = []
        for item in items:
            entry = state.entries.get(item.key)
            try:
                run_state = BatchState(entry.state) if entry and entry.state else None
            except ValueError:
                run_state = None
            if run_state is None or run_state is BatchState.UNKNOWN or entry.verdict \
                    or self.tracker.shows_state(item, run_state):
                continue  # a settled run's item is closed by its verdict, whatever the run did
            what = self.tracker.state_action(run_state)
            actions.append(Action(item.key, "transition", f"{item.key}: shows {item.status or 'nothing'}, its run is "
                                  f"{run_state.value}: {what}",
                                  lambda e=entry, k=item.key, s=run_state: setattr(e, "status", self.tracker.set_run_state(k, s))))
        doubles = self.tracker.tidy([epic, *items], apply=False)
        actions += [Action(epic.key, "tidy", text) for text in doubles] if dry_run else []
        if dry_run:
            _execute(actions, dry_run, report)
            return
        if (actions or doubles) and not self._may_write(epic, report):
            return
        if not _execute(actions, dry_run, report):
            return
        if doubles:
            try:
                report.tidied += self.tracker.tidy([epic, *items])
            except JiraCampaignError as exc:
                report.problems.append(f"{epic.key}: {exc}")
                return
        state.checked = self.clock().isoformat(timespec="seconds")

    # ---- one pass -------------------------------------------------------------------------------------
    def run(self, campaign: str | None = None, dry_run: bool = False, full: bool = False) -> SyncReport:
        """One pass; the campaign leases it takes are released at its end."""
        try:
            return self._pass(campaign, dry_run, full)
        finally:
            self._release()

    def _pass(self, campaign: str | None, dry_run: bool, full: bool) -> SyncReport:
        report = SyncReport()
        self.started = time.time()
        now = self.clock().strftime("%Y-%m-%d %H:%M UTC")
        epics = self.tracker.open_campaigns(campaign)
        if campaign and not epics:
            raise self._no_such_campaign(campaign)
        report.campaigns = len(epics)
        states: dict[str, tuple[Item, SyncState]] = {}
        dirty: set[str] = set()
        for epic in epics:
            state = None if full else load_ledger(self.tracker, epic)
            items = None
            if state is None:
                items = self.tracker.find_items(epic.ident)
                state = ledger_from_items(epic, items, self.source_for)
                dirty.add(epic.key)
            states[epic.key] = (epic, state)
            if self._check_due(state, full):
                self._check(epic, state, items, dry_run, report)
                dirty.add(epic.key)
        pending: dict[str, list[tuple[str, Entry]]] = {}
        for epic_key, (_, state) in states.items():
            for entry in state.entries.values():
                if not entry.final:
                    pending.setdefault(entry.source, []).append((epic_key, entry))
        writes: list[_Write] = []
        for name, items in pending.items():
            report.runs += len(items)
            if not self._followed(name):
                sources = self.config.get("sync.sources") or "none"
                report.unknown += [(e.key, e.run_name, f"no status source follows '{e.wms or name or 'these'}' runs "
                                    f"(sync.sources: {sources}); use 'bps report'") for _, e in items]
                continue
            try:
                source = self.source(name)
                before = source.requests_made
                found = source.statuses([RunRef(e.run_name, e.run_id, e.digest, _when(e.submitted), e.wms,
                                                  e.submit_dir or None, _when(e.returned)) for _, e in items])
                report.source_requests += source.requests_made - before
            except (SourceError, NotImplementedError, JiraCampaignError) as exc:
                log.warning("%s: %s", name, exc)
                report.problems.append(f"{name}: {exc}")
                continue
            for (epic_key, entry), status in zip(items, found, strict=True):
                if status.deferred:  # what was read is written below; the rest is asked again next time
                    report.deferred.append((entry.key, entry.run_name, status.message))
                planned = self._plan(states[epic_key][0], states[epic_key][1], entry, status, now, report)
                if isinstance(planned, _Write):
                    writes.append(planned)
                elif planned:
                    dirty.add(epic_key)
        dirty.update(w.epic.key for w in self._write(writes, dry_run, report))
        for epic_key, (epic, state) in states.items():
            if self._close_superseded(epic, state, dry_run, report):
                dirty.add(epic_key)
        for epic_key in sorted(dirty):
            epic, state = states[epic_key]
            self._finish_epic(epic, state, now, dry_run, report)
        return report

    def _apply(self, epic: Item, state: SyncState, entry: Entry, status: RunStatus, now: str, dry_run: bool,
               report: SyncReport) -> bool:
        """Write what changed for one run; returns whether the ledger changed."""
        planned = self._plan(epic, state, entry, status, now, report)
        if isinstance(planned, _Write):
            return bool(self._write([planned], dry_run, report))
        return planned

    def _write(self, writes: list[_Write], dry_run: bool, report: SyncReport) -> list[_Write]:
        """Make the planned writes, `workers` runs at once (each run's writes in order); returns those made.

        The leases are taken first, from this thread; a run whose writes fail keeps its ledger entry (the
        next sync tries again) and its error is reported.
        """
        if dry_run:
            report.actions += [a for w in writes for a in w.actions]
            return []
        allowed = [w for w in writes if self._may_write(w.epic, report)]
        report.actions += [a for w in allowed for a in w.actions]
        errors = run_bounded(_run, [w.actions for w in allowed], self.workers, name="sync-write")
        made = []
        for write, error in zip(allowed, errors):
            if error:
                report.problems.append(f"{write.new.key}: {error}")
                continue
            write.state.entries[write.new.key] = write.new
            made.append(write)
        return made

    def _put_note(self, entry: "Entry | SyncState", key: str, slot: str, body) -> str:
        """The living note in ``slot`` of ``key``, edited by the id kept in ``entry.notes`` (a run's sync record,
        or the ledger for the epic's roll-up) when the tracker takes it; the id the tracker reports back is kept
        there for the next time."""
        ids = _note_ids(entry.notes)
        known = ids.get(slot)
        result = self.tracker.put_note(key, slot, body, note_id=known)
        found = self.tracker.note_id(key, slot)
        if found and found != known and ";" not in slot and "=" not in slot:
            ids[slot] = str(found)
            entry.notes = ";".join(f"{k}={v}" for k, v in sorted(ids.items()))
        return result

    def _plan(self, epic: Item, state: SyncState, entry: Entry, status: RunStatus, now: str,
              report: SyncReport) -> "_Write | bool":
        """What to write for one run: the writes, or whether the ledger changed without any."""
        if status.state is BatchState.UNKNOWN:
            report.unknown.append((entry.key, entry.run_name, status.message or "state unknown"))
            return False
        if status.state in ATTENTION:
            report.attention.append((entry.key, entry.run_name, status.state.value))
        kinds, full = texts.failure_signatures(status.failures) if status.failures_read else ("", entry.failures)
        new = dataclasses.replace(entry, state=status.state.value, digest=status.digest or entry.digest, failures=full)
        if status.failures_read:
            new.failed_tasks = ",".join(dict.fromkeys(g.label for g in status.failures if g.label))
            new.advice = advised_rescue(status.failures, self.known) if status.state.final else ""
        if status.detail:  # counts are exact only when the tasks were read; otherwise keep the last ones
            new.total, new.finished, new.failed, new.running = (status.total, status.finished, status.failed,
                                                                status.running)
        visible = (new.state, new.total, new.finished, new.failed, new.running, new.failures) != (
            entry.state, entry.total, entry.finished, entry.failed, entry.running, entry.failures)
        if not visible:
            if new.digest != entry.digest:  # progress the item does not show: remember, write nothing else
                state.entries[entry.key] = new
                return True
            return False
        report.changed += 1
        new.changed_at = now
        key = entry.key
        actions = []
        if new.state != entry.state:
            what = self.tracker.state_action(status.state)
            if what:
                actions.append(Action(key, "transition", f"{key}: {entry.state or 'new'} -> {new.state}: {what}",
                                      lambda: setattr(new, "status", self.tracker.set_run_state(key, status.state))))
        body = texts.status_doc(status, new, now)
        actions.append(Action(key, "status", f"{key}: status comment ({new.state}, {new.finished}/{new.total} done)",
                              lambda: self._put_note(new, key, texts.STATUS_SLOT, body)))
        if status.failures_read and status.failures and full != entry.failures:
            summary = texts.failure_doc(status, new, self.known)
            if new.advice:
                summary.add(Paragraph(["Advised: ", Mono(f"jiracampaign rescue {key} {new.advice}"),
                                       " (or, for every advised rescue of the campaign, ",
                                       Mono(f"jiracampaign rescue --campaign {epic.ident} --advised"), ")."]))
            if status.report is not None and status.report_name:  # attached first: the summary points to it
                content = report_bytes(status.report)
                actions.append(Action(key, "report", f"{key}: failure report {status.report_name} "
                                      f"({len(content)} bytes, attached when it changed)",
                                      lambda: self._attach_changed(key, status.report_name, content)))
            actions.append(Action(key, "failures", f"{key}: failure summary ({status.failed_jobs} failed jobs, "
                                  f"{len(status.failures)} errors)",
                                  lambda: self._put_note(new, key, texts.failure_slot(kinds), summary)))
        actions.append(Action(key, "record", f"{key}: sync record", lambda: self.tracker.set_sync(key, new.record())))
        return _Write(epic, state, new, actions)

    def _close_superseded(self, epic: Item, state: SyncState, dry_run: bool, report: SyncReport) -> bool:
        """Close the earlier attempts of groups whose latest attempt succeeded or was accepted; whether any was."""
        actions = [Action(key, "verdict", text, write) for key, text, write in close_superseded(self.tracker, state)]
        if not actions or (not dry_run and not self._may_write(epic, report)):
            return False
        closed = False
        for action in actions:  # one by one: a failure leaves the others to be closed
            closed = _execute([action], dry_run, report) or closed
        return closed

    def _attach_changed(self, key: str, filename: str, content: bytes) -> str:
        """Attach ``content`` unless the item already has it under that name (the tracker replaces a file
        of the same name); returns ``attached`` or ``unchanged``."""
        if self.tracker.read_attachment(key, filename) == content:
            log.info("%s: %s unchanged", key, filename)
            return "unchanged"
        self.tracker.attach(key, filename, content)
        return "attached"

    def _finish_epic(self, epic: Item, state: SyncState, now: str, dry_run: bool, report: SyncReport) -> None:
        steps = epic.record.steps if isinstance(epic.record, CampaignRecord) else []
        body = texts.rollup_doc(state.entries.values(), steps, now)
        actions = [Action(epic.key, "rollup", f"{epic.key}: campaign roll-up",
                          lambda: self._put_note(state, epic.key, texts.ROLLUP_SLOT, body)),
                   Action(epic.key, "digest", f"{epic.key}: sync digest ({len(state.entries)} runs)",
                          lambda: self.tracker.attach(epic.key, DIGEST_FILE, state.to_bytes()))]
        if not dry_run and not self._may_write(epic, report):
            return
        _execute(actions, dry_run, report)


def _execute(actions: list[Action], dry_run: bool, report: SyncReport) -> bool:
    """Report the actions and, unless a dry run, make them in order; `True` when all were made."""
    report.actions += actions
    if dry_run:
        return False
    problem = _run(actions)
    if problem:
        report.problems.append(f"{actions[0].key}: {problem}")
    return not problem


def _run(actions: list[Action]) -> str:
    """Make one run's actions in order (in a worker thread); the error that stopped them, or ``""``."""
    try:
        for action in actions:
            log.info("%s", action.text)
            action.run()
    except JiraCampaignError as exc:
        log.warning("%s: %s", actions[0].key, exc)
        return str(exc)
    return ""


def _note_ids(text: str) -> dict[str, str]:
    """``slot=id;slot=id`` (`SyncRecord.notes`) as a mapping."""
    pairs = (part.rpartition("=") for part in (text or "").split(";"))
    return {slot: cid for slot, _, cid in pairs if slot and cid}


def report_bytes(report: dict) -> bytes:
    """A run's full failure report as the file attached: stable JSON (sorted keys), so an unchanged report
    is an unchanged file."""
    return json.dumps(report, sort_keys=True, indent=1, default=str).encode("utf-8")


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
