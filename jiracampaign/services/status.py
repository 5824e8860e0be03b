"""``status``: where campaigns stand, read from the tracker (fast, works offline), with live detail from the
status sources only when asked (``--live``, ``--watch``).

Three views, one model:

- the **overview** (`overview`): the campaigns open now and those closed within a window, one line each
  (submissions by state, files done, failures, stuck runs, last sync), read from each campaign's sync
  ledger (`jiracampaign.core.ledger`): one bulk read of the campaigns and one download per campaign,
  whatever their size;
- a **campaign** (`campaign_status`): one row per step and group, with its tasks, read from the
  campaign's items (one bulk read) and their status notes (read back in bulk);
- the **sites** (`by_site`): submissions, files, failures and failure rate per site, worst first.

Each group of a step counts once, by its latest attempt (`services.groups`): a rescued group shows its
latest run, with the chain of its attempts; a group a verdict settled (accepted, rejected, force-completed)
counts as that verdict, needs no attention and is never stuck.

A run is *stuck* (`StuckRules`) when it has not ended and sync has seen no progress for longer than
``status.stuck_hours``, or it has been going for longer than its step's ``status.expected_hours``.

`resolve` turns what a person types (a campaign id, a ticket key, a run name) into what it names;
`Live` asks the status sources about the runs that have not ended, carrying each run's digest from
one refresh to the next, so a run that did not change costs the PanDA monitor nothing beyond its one
bulk request, and the BPS source's helper is not run for runs that ended.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Sequence

from ..config import Config
from ..core import texts
from ..core.ledger import SyncState
from ..core.records import CampaignRecord, StepRecord, SubmissionRecord
from ..core.runs import RunRef, RunStatus, merged_tasks
from ..core.states import BatchState
from ..errors import ConfigError, InputError, JiraCampaignError, SourceError
from ..plugins import SOURCES, load_class, open_source, source_for
from ..schema import SLUG
from ..trackers.base import Item, Note, Tracker
from .groups import SETTLED, GroupRun, entry_attempt, entry_groups, latest_runs, standing
from .ledger import load_ledger
from .report import ATTENTION, NOT_SUBMITTED, STATES, SUBMITTED, parse_time

__all__ = ["StuckRules", "TaskRow", "GroupRow", "CampaignLine", "CampaignStatus", "Overview", "SiteRow", "Target",
           "Live", "resolve", "overview", "campaign_status", "by_site", "site_rows", "parse_time", "KEY",
           "WATCH_SHARE", "watch_interval", "tasks_from_note", "campaign_rows", "states_text", "panda_refs", "find_run",
           "parse_expected"]

log = logging.getLogger(__name__)

#: what a ticket key looks like (``JC-12``, ``PREOPS-4711``)
KEY = re.compile(r"^[A-Z][A-Z0-9_]*-\d+$")
#: run states a run may be stuck in (it has not ended)
GOING = frozenset({BatchState.PENDING.value, BatchState.RUNNING.value, BatchState.HELD.value,
                   BatchState.UNKNOWN.value, SUBMITTED})
#: the share of the PanDA request budget a ``--watch`` may use (the rest is left to sync and others)
WATCH_SHARE = 0.5
_TASK_HEAD = re.compile(r"^Task \| State \| (Files|Quanta) \| Done \| Failed \| Running \| Left$")


# ---- times ------------------------------------------------------------------------------------------------

def _show_time(when: datetime | None) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if when else ""


def _hours(seconds: float) -> str:
    """``under a minute``, ``40 min``, ``30 h``, ``3 d 4 h``."""
    if seconds < 60:
        return "under a minute"
    if seconds < 3600:
        return f"{max(0, int(seconds // 60))} min"
    if seconds < 72 * 3600:
        return f"{int(seconds // 3600)} h"
    days, rest = divmod(int(seconds // 3600), 24)
    return f"{days} d {rest} h" if rest else f"{days} d"


# ---- stuck runs -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StuckRules:
    """When a run that has not ended counts as stuck.

    Parameters
    ----------
    stuck_hours : `float`
        No progress seen by sync for longer than this.
    expected : `dict` [`str`, `float`]
        Expected duration of each step's runs in hours (``*``: every step not named).
    """

    stuck_hours: float = 24.0
    expected: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Config) -> "StuckRules":
        """The rules of ``status.stuck_hours`` and ``status.expected_hours``.

        Raises
        ------
        ConfigError
            ``status.expected_hours`` is not ``step=hours`` pairs (or one number).
        """
        return cls(float(config.get("status.stuck_hours")),
                   parse_expected(str(config.get("status.expected_hours") or ""),
                                  config.sources.get("status.expected_hours") or "config"))

    def reason(self, state: str, step: str, submitted: datetime | None, progress: datetime | None,
               now: datetime) -> str:
        """Why a run in ``state`` is stuck, or ``""``; ``progress`` is when sync last saw it change."""
        if state not in GOING:
            return ""
        since = progress or submitted
        if since is not None and (now - since).total_seconds() > self.stuck_hours * 3600:
            return f"no progress for {_hours((now - since).total_seconds())}"
        hours = self.expected.get(step, self.expected.get("*"))
        if hours is not None and submitted is not None and (now - submitted).total_seconds() > hours * 3600:
            return f"going for {_hours((now - submitted).total_seconds())}, {step} expects {hours:g} h"
        return ""


def parse_expected(text: str, where: str = "config") -> dict[str, float]:
    """``step1=6, step2=24`` (or one number, for every step) as ``{step: hours}``; ``*`` names every other step."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        step, _, hours = part.rpartition("=") if "=" in part else ("*", "", part)
        try:
            value = float(hours)
        except ValueError:
            value = -1.0
        if not step.strip() or not math.isfinite(value) or value <= 0:
            raise ConfigError(where, None, "status.expected_hours",
                              f"expected step=hours pairs separated by commas, such as 'step1=6, step2=24' "
                              f"(or one number of hours for every step), got '{part}'")
        out[step.strip()] = value
    return out


# ---- what is shown ----------------------------------------------------------------------------------------

@dataclass
class TaskRow:
    """One pipeline task of a run: its state and counts (input files, or quanta for provenance)."""

    label: str
    state: str
    total: int = 0
    finished: int = 0
    failed: int = 0
    running: int | None = None

    @property
    def percent(self) -> float | None:
        return 100.0 * self.finished / self.total if self.total else None


@dataclass(kw_only=True)
class GroupRow(GroupRun):
    """One group of a step, by its latest attempt: its ticket, its run, its state and counts (what sync last wrote,
    or live), its tasks, the chain of its attempts and the verdict on it (`GroupRun`)."""

    tasks: list[TaskRow] = field(default_factory=list)
    unit: str = "files"  # what the counts count: input ``files`` (PanDA), or ``quanta`` (quantum provenance)
    stuck: str = ""
    live: bool = False  # state and counts were read from the status source just now
    moved: bool = False  # the live read differs from what sync last wrote (it progressed since)
    note: str = ""      # what the live read says (a source's message, what it could not read)

    @property
    def percent(self) -> float | None:
        return 100.0 * self.finished / self.total if self.total else None

    @property
    def attention(self) -> bool:
        """Failed, ended partly, held, or with failed files; and no verdict settled it."""
        return not self.settled and (self.state in ATTENTION or self.failed > 0)

    @property
    def going(self) -> bool:
        """Submitted, not ended, and no verdict on it (the status sources may know more)."""
        return bool(self.run_name) and self.state in GOING and not self.verdict

    def ref(self) -> RunRef:
        return RunRef(self.run_name, self.run_id or None, self.digest or None, parse_time(self.submitted), self.wms,
                      self.submit_dir or None, parse_time(self.returned))

    def row(self) -> dict[str, Any]:
        """Stable columns for JSON and CSV (tasks nested): ``state`` is the run's, ``verdict`` the decision on it;
        ``attempt`` is the latest attempt's number, ``attempts`` the keys of the group's attempts, latest first."""
        return {"campaign": self.campaign, "step": self.step, "group": f"{self.group}/{self.groups}",
                "label": self.label, "state": self.state, "files": self.total, "done": self.finished,
                "failed": self.failed, "running": self.running, "percent": _percent(self.percent), "unit": self.unit,
                "key": self.key,
                "run": self.run_name or None, "run_id": self.run_id or None, "wms": self.wms or None,
                "site": self.site or None, "stuck": self.stuck or None, "changed": self.changed_at or None,
                "live": self.live, "note": self.note or None, "url": self.url,
                "tasks": [{"task": t.label, "state": t.state, "files": t.total, "done": t.finished, "failed": t.failed,
                           "running": t.running, "percent": _percent(t.percent)} for t in self.tasks],
                "attempt": self.attempt, "attempts": [a.key for a in self.attempts] or [self.key],
                "verdict": self.verdict or None, "verdict_reason": self.verdict_reason or None}


def _percent(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def states_text(states: Counter) -> str:
    """``1 failed, 2 running, 3 not submitted``: worst first, as the report orders them."""
    order = STATES + sorted(s for s in states if s not in STATES)
    return ", ".join(f"{states[s]} {s}" for s in order if states.get(s))


@dataclass
class CampaignLine:
    """One campaign in the overview: its groups (each once, by its latest attempt) by what they count as (a run
    state, or the verdict that settled them), their files, and their stuck runs."""

    campaign: str
    key: str
    url: str
    closed: bool
    states: Counter = field(default_factory=Counter)
    total: int = 0
    finished: int = 0
    failed: int = 0
    stuck: int = 0
    last_sync: str = ""  # when a sync last wrote the campaign's digest (it did or checked something)
    live: int = 0  # runs read live just now
    failing: int = 0  # groups needing attention: failed, partial or held, or with failed files, and not settled

    @property
    def submissions(self) -> int:
        return sum(self.states.values())

    @property
    def attention(self) -> int:
        return sum(self.states[s] for s in ATTENTION)

    @property
    def percent(self) -> float | None:
        return 100.0 * self.finished / self.total if self.total else None

    def row(self) -> dict[str, Any]:
        """Stable columns: ``by_state`` holds every state of `STATES`, with 0 when none is in it."""
        out = {"campaign": self.campaign, "key": self.key, "closed": self.closed, "submissions": self.submissions,
               "states": states_text(self.states) or None,
               "by_state": {state: self.states.get(state, 0) for state in STATES}}
        out |= {"files": self.total, "done": self.finished, "failed": self.failed, "percent": _percent(self.percent),
                "attention": self.attention, "stuck": self.stuck, "last_sync": self.last_sync or None,
                "live": self.live, "url": self.url}
        return out


@dataclass
class Overview:
    """The campaigns, one line each, and where they were read from."""

    tracker: str
    window: str
    lines: list[CampaignLine] = field(default_factory=list)
    seconds: float = 0.0
    live: "Live | None" = None


@dataclass
class CampaignStatus:
    """One campaign, its groups in step order."""

    line: CampaignLine
    tracker: str
    rows: list[GroupRow] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    seconds: float = 0.0
    live: "Live | None" = None


@dataclass
class SiteRow:
    """One site: its submissions, runs and files, failed files and the failure rate of the files that ended."""

    site: str
    submissions: int = 0
    runs: int = 0
    total: int = 0
    finished: int = 0
    failed: int = 0
    attention: int = 0
    stuck: int = 0

    @property
    def rate(self) -> float | None:
        """Failed files in percent of the files that ended (done or failed)."""
        ended = self.finished + self.failed
        return 100.0 * self.failed / ended if ended else None

    def row(self) -> dict[str, Any]:
        return {"site": self.site, "submissions": self.submissions, "runs": self.runs, "files": self.total,
                "done": self.finished, "failed": self.failed, "failure_rate": _percent(self.rate),
                "attention": self.attention, "stuck": self.stuck}


# ---- resolving a name -------------------------------------------------------------------------------------

@dataclass
class Target:
    """What a campaign id, ticket key or run name names: a campaign (``item`` is its campaign item; ``step``
    narrows it to one step when a step ticket was named) or a submission (``item``, with its campaign id)."""

    text: str
    kind: str  # "campaign" or "submission"
    campaign: str
    item: Item
    step: str = ""

    @property
    def run_name(self) -> str:
        record = self.item.record
        return record.run.run_name if isinstance(record, SubmissionRecord) and record.run else ""


def resolve(tracker: Tracker, text: str, what: str = "CAMPAIGN|KEY|RUN") -> Target:
    """The campaign, step or submission that ``text`` names: a ticket key (``JC-12``), a campaign id, or the
    run name of a submitted run (any case; found in the campaigns' sync ledgers).

    Raises
    ------
    InputError
        Nothing of that name in the tracker (the message lists some campaigns there).
    """
    name = text.strip()
    if KEY.match(name):
        item = tracker.get_item(name)
        if item is None:
            raise InputError(what, None, None, f"no ticket {name} in {tracker.describe()}")
        return _target_of(tracker, name, item)
    if SLUG.match(name):
        epics = tracker.list_campaigns([name], 0.0)
        if epics:
            return Target(name, "campaign", epics[0].ident, epics[0])
    found = find_run(tracker, name)
    if found is not None:
        return Target(name, "submission", found.record.campaign, found)
    known = sorted({e.ident for e in tracker.list_campaigns((), 0.0)})
    hint = (f"campaigns there: {', '.join(known[:10])}{' ...' if len(known) > 10 else ''}" if known
            else "it has no campaigns")
    raise InputError(what, None, None, f"no campaign, ticket or run named '{name}' in {tracker.describe()}; {hint}")


def _target_of(tracker: Tracker, text: str, item: Item) -> Target:
    record = item.record
    if isinstance(record, CampaignRecord):
        return Target(text, "campaign", record.campaign, item)
    if isinstance(record, StepRecord):
        epics = tracker.list_campaigns([record.campaign], 0.0)
        if not epics:
            raise InputError("KEY", None, None, f"{text} is a step of campaign {record.campaign}, which "
                             f"{tracker.describe()} does not list")
        return Target(text, "campaign", record.campaign, epics[0], step=record.step)
    return Target(text, "submission", record.campaign, item)


def find_run(tracker: Tracker, name: str) -> Item | None:
    """The submission item whose current run is named ``name`` (any case): looked up in the campaigns' sync
    ledgers (one download each, campaigns whose id the name contains first)."""
    wanted = name.casefold()
    epics = sorted(tracker.list_campaigns((), 0.0), key=lambda e: e.ident.casefold() not in wanted)
    for epic in epics:
        state = load_ledger(tracker, epic)
        if state is None:
            continue
        for entry in state.entries.values():
            if entry.run_name.casefold() == wanted:
                item = tracker.get_item(entry.key)
                if item is not None and isinstance(item.record, SubmissionRecord) and item.record.run \
                        and item.record.run.run_name.casefold() == wanted:
                    return item
    return None


# ---- reading the tracker ----------------------------------------------------------------------------------

def tasks_from_note(note: Note | None, run_name: str, row: GroupRow | None = None) -> list[TaskRow]:
    """The task table of a run's status note (`core.texts.status_doc`), read back; empty when the note is
    about another run or has no table. ``row`` is told what the counts count (its ``unit``)."""
    if note is None:
        return []
    lines = note.text.splitlines()
    if not any(line.startswith(f"- Run: {run_name}") for line in lines[:3]):
        return []
    if row is not None and any(line.startswith("- Quanta: ") for line in lines[:6]):
        row.unit = "quanta"
    out: list[TaskRow] = []
    reading = False
    for line in lines:
        if _TASK_HEAD.match(line):
            reading = True
            continue
        cells = line.split(" | ")
        if not reading:
            continue
        if len(cells) != 7:
            break
        try:
            out.append(TaskRow(cells[0], cells[1], int(cells[2]), int(cells[3]), int(cells[4]),
                               None if cells[5] == "-" else int(cells[5])))
        except ValueError:
            break
    return out


def campaign_rows(tracker: Tracker, epic: Item, items: Sequence[Item], tasks: bool = True) -> list[GroupRow]:
    """The campaign's groups in step order (the campaign record's, then any other), each once by its latest attempt
    with the chain of its attempts, and with its tasks as its status note shows them (read back in bulk) when
    ``tasks``."""
    order = [s.name for s in epic.record.steps] if isinstance(epic.record, CampaignRecord) else []
    rows = latest_runs(tracker, items, GroupRow)
    rows.sort(key=lambda r: (order.index(r.step) if r.step in order else len(order), r.step, r.group, r.ident))
    synced = [r.key for r in rows if r.run_name and r.state != SUBMITTED]
    if tasks and synced:
        notes = tracker.latest_notes(synced, texts.STATUS_SLOT)
        for row in rows:
            row.tasks = tasks_from_note(notes.get(row.key), row.run_name, row)
    return rows


def _line(epic: Item, tracker: Tracker) -> CampaignLine:
    return CampaignLine(epic.ident, epic.key, tracker.url(epic.key), epic.done)


def _planned(epic: Item) -> dict[str, int]:
    return {s.name: s.groups for s in epic.record.steps} if isinstance(epic.record, CampaignRecord) else {}


def _line_from_ledger(tracker: Tracker, epic: Item, state: SyncState, rules: StuckRules, now: datetime) -> CampaignLine:
    """A campaign's line from its ledger: each group once, by its latest attempt's entry."""
    line = _line(epic, tracker)
    latest = [attempts[-1] for attempts in entry_groups(state.entries.values())]
    submitted = Counter(e.step for e in latest)
    for entry in latest:
        counted = standing(entry.state or SUBMITTED, entry.verdict)
        line.states[counted] += 1
        line.total += entry.total
        line.finished += entry.finished
        line.failed += entry.failed
        line.failing += entry.verdict not in SETTLED and (entry.state in ATTENTION or entry.failed > 0)
        if rules.reason(counted, entry.step, parse_time(entry.submitted), parse_time(entry.changed_at), now):
            line.stuck += 1
    waiting = sum(max(0, groups - submitted.get(step, 0)) for step, groups in _planned(epic).items())
    if waiting:
        line.states[NOT_SUBMITTED] += waiting
    times = [parse_time(state.checked)] + [parse_time(e.changed_at) for e in state.entries.values()]
    line.last_sync = _show_time(max((t for t in times if t), default=None))
    return line


def _line_from_rows(tracker: Tracker, epic: Item, rows: Iterable[GroupRow], last_sync: str) -> CampaignLine:
    line = _line(epic, tracker)
    for row in rows:
        line.states[row.standing] += 1
        line.total += row.total
        line.finished += row.finished
        line.failed += row.failed
        line.failing += row.attention
        line.stuck += bool(row.stuck)
        line.live += row.live
    line.last_sync = last_sync
    return line


def _last_sync(tracker: Tracker, epic: Item) -> str:
    state = load_ledger(tracker, epic)
    if state is None:
        return ""
    times = [parse_time(state.checked)] + [parse_time(e.changed_at) for e in state.entries.values()]
    return _show_time(max((t for t in times if t), default=None))


def _window(since_days: float | None) -> str:
    if since_days is None:
        return "every campaign, open or closed"
    return f"open campaigns, and those closed within {since_days:g} days"


def _closed_since(since_days: float | None, now: datetime) -> float | None:
    return 0.0 if since_days is None else (now - timedelta(days=since_days)).timestamp()


def overview(tracker: Tracker, config: Config, since_days: float | None = 7.0, site: str = "",
             live: "Live | None" = None, now: datetime | None = None) -> Overview:
    """Every campaign open now or closed within ``since_days`` (`None`: all), one line each.

    Reads the campaigns in bulk and each one's sync ledger (one download); a campaign without a readable
    ledger, and every campaign when ``site`` narrows the view to one site (the ledger does not know
    sites), is read from its items instead (one bulk read). ``live`` asks the status sources about the
    runs that have not ended.
    """
    started = time.perf_counter()
    now = now or datetime.now(timezone.utc)
    rules = StuckRules.from_config(config)
    out = Overview(tracker.describe(), _window(since_days), live=live)
    for epic in tracker.list_campaigns((), _closed_since(since_days, now)):
        state = None if site else load_ledger(tracker, epic)
        if state is not None and live is None:
            out.lines.append(_line_from_ledger(tracker, epic, state, rules, now))
            continue
        if state is not None:  # live: the ledger's entries as rows (no per-item read)
            rows = _rows_from_ledger(tracker, epic, state)
            last = _line_from_ledger(tracker, epic, state, rules, now).last_sync
        else:
            items = tracker.find_items(epic.ident)
            rows = campaign_rows(tracker, epic, items, tasks=False)
            last = _last_sync(tracker, epic) if epic.attachments else ""
        if site:
            rows = [r for r in rows if r.site.casefold() == site.casefold()]
            if not rows:
                continue
        if live is not None:
            live.apply(rows, now)
        for row in rows:
            row.stuck = rules.reason(row.standing, row.step, parse_time(row.submitted), _progress(row, now), now)
        line = _line_from_rows(tracker, epic, rows, last)
        if not site:  # planned groups without a row: not submitted (or their tickets not found yet)
            present = Counter(r.step for r in rows)
            waiting = sum(max(0, n - present.get(step, 0)) for step, n in _planned(epic).items())
            if waiting:
                line.states[NOT_SUBMITTED] += waiting
        out.lines.append(line)
    out.seconds = time.perf_counter() - started
    return out


def _rows_from_ledger(tracker: Tracker, epic: Item, state: SyncState) -> list[GroupRow]:
    """The groups of a ledger as rows, each by its latest attempt's run (no group counts, labels or sites: the
    ledger does not keep them)."""
    rows = []
    for attempts in sorted(entry_groups(state.entries.values()), key=lambda g: g[0].ident):
        entry = attempts[-1]
        rows.append(GroupRow(campaign=epic.ident, key=entry.key, url=tracker.url(entry.key), ident=entry.ident,
                             step=entry.step, group=entry.group, groups=0, label="", state=entry.state or SUBMITTED,
                             attempt=entry.attempt, run_name=entry.run_name, run_id=entry.run_id or "", wms=entry.wms,
                             submit_dir=entry.submit_dir, submitted=entry.submitted or "",
                             returned=entry.returned or "",
                             changed_at=entry.changed_at, digest=entry.digest or "", total=entry.total,
                             finished=entry.finished, failed=entry.failed, running=entry.running,
                             verdict=entry.verdict, verdict_reason=entry.verdict_reason,
                             attempts=[entry_attempt(tracker, e) for e in reversed(attempts)]))
    return rows


def _progress(row: GroupRow, now: datetime) -> datetime | None:
    """When the row last moved: now when a live read differs from what sync wrote, else sync's time."""
    if row.moved:
        return now
    return parse_time(row.changed_at)


def campaign_status(tracker: Tracker, config: Config, target: Target, live: "Live | None" = None,
                    now: datetime | None = None, site: str = "") -> CampaignStatus:
    """One campaign's groups (of one step when ``target`` names a step ticket), with their tasks, read
    from its items and their status notes; ``live`` asks the status sources about the runs that have not
    ended (at ``site`` only, when given: ``rows`` then holds that site's groups, the totals are the
    campaign's)."""
    started = time.perf_counter()
    now = now or datetime.now(timezone.utc)
    rules = StuckRules.from_config(config)
    epic = target.item
    items = tracker.find_items(epic.ident)
    rows = campaign_rows(tracker, epic, items)
    if target.step:
        rows = [r for r in rows if r.step == target.step]
    if live is not None:
        live.apply([r for r in rows if not site or r.site.casefold() == site.casefold()], now)
    for row in rows:
        row.stuck = rules.reason(row.standing, row.step, parse_time(row.submitted), _progress(row, now), now)
    last = _last_sync(tracker, epic) if epic.attachments else ""
    order = [s.name for s in epic.record.steps] if isinstance(epic.record, CampaignRecord) else []
    steps = order + sorted({r.step for r in rows} - set(order))
    out = CampaignStatus(_line_from_rows(tracker, epic, rows, last), tracker.describe(),
                         [r for r in rows if not site or r.site.casefold() == site.casefold()],
                         [s for s in steps if not target.step or s == target.step], live=live)
    submitted = Counter(r.step for r in rows)
    waiting = sum(max(0, n - submitted.get(step, 0)) for step, n in _planned(epic).items()
                  if not target.step or step == target.step)
    if waiting:  # planned groups with no ticket yet (a create interrupted, or not run since the spec grew)
        out.line.states[NOT_SUBMITTED] += waiting
    out.seconds = time.perf_counter() - started
    return out


def site_rows(rows: Iterable[GroupRow]) -> list[SiteRow]:
    """Per site (a submission's ``computeSite``), worst first: highest failure rate, then most failed files."""
    sites: dict[str, SiteRow] = {}
    for row in rows:
        site = sites.setdefault(row.site or "-", SiteRow(row.site or "-"))
        site.submissions += 1
        site.runs += bool(row.run_name)
        site.total += row.total
        site.finished += row.finished
        site.failed += row.failed
        site.attention += row.standing in ATTENTION
        site.stuck += bool(row.stuck)
    return sorted(sites.values(), key=lambda s: (-(s.rate if s.rate is not None else -1.0), -s.failed, s.site))


def by_site(tracker: Tracker, config: Config, target: Target | None = None, since_days: float | None = 7.0,
            live: "Live | None" = None, now: datetime | None = None) -> tuple[list[SiteRow], list[GroupRow]]:
    """Per-site totals over one campaign (``target``) or over the campaigns of the window, with the rows
    they add up."""
    now = now or datetime.now(timezone.utc)
    if target is not None:
        rows = campaign_status(tracker, config, target, live, now).rows
    else:
        rules = StuckRules.from_config(config)
        rows = []
        for epic in tracker.list_campaigns((), _closed_since(since_days, now)):
            rows += campaign_rows(tracker, epic, tracker.find_items(epic.ident), tasks=False)
        if live is not None:
            live.apply(rows, now)
        for row in rows:
            row.stuck = rules.reason(row.standing, row.step, parse_time(row.submitted), _progress(row, now), now)
    return site_rows(rows), rows


# ---- live detail ------------------------------------------------------------------------------------------

@dataclass
class SourceCost:
    """What one source cost in the last refresh."""

    requests: int = 0
    seconds: float = 0.0
    runs: int = 0


class Live:
    """Asks the status sources about runs that have not ended; keeps each run's last answer and digest, so
    the next refresh asks for details only where something changed.

    Parameters
    ----------
    config : `Config`
    sources : `dict`, optional
        Status sources by name (opened from the config on first use otherwise).
    detail : `str`
        ``changed`` (details of runs whose digest changed) or ``all``.
    """

    def __init__(self, config: Config, sources: dict[str, Any] | None = None, detail: str = "changed"):
        self.config, self.detail = config, detail
        self.sources: dict[str, Any] = dict(sources or {})
        self.answers: dict[str, RunStatus] = {}  # by run name, folded: the last answer with a known state
        self.costs: dict[str, SourceCost] = {}
        self.problems: list[str] = []
        self.deferred: list[tuple[str, str]] = []  # run, what could not be read
        self.refreshes = 0

    def close(self) -> None:
        for source in self.sources.values():
            source.close()

    def _source(self, name: str) -> Any:
        if name not in self.sources:
            load_class(name, SOURCES, "sync.sources", "status source")  # a clear error for an unknown one
            self.sources[name] = open_source(name, self.config)
        return self.sources[name]

    def ask(self, refs: Sequence[RunRef]) -> dict[str, RunStatus]:
        """One ``statuses`` call per source for ``refs``; answers by run name (folded). A source that cannot
        answer is noted in ``problems`` (its runs are left out)."""
        self.refreshes += 1
        self.problems, self.deferred, self.costs = [], [], {}
        groups: dict[str, list[RunRef]] = {}
        for ref in refs:
            groups.setdefault(source_for(ref.wms, self.config), []).append(ref)
        found: dict[str, RunStatus] = {}
        for name, runs in groups.items():
            if not name:
                self.problems.append(f"no status source follows {', '.join(sorted({r.wms or '?' for r in runs}))} "
                                     f"runs (sync.sources: {self.config.get('sync.sources') or 'none'})")
                continue
            cost = self.costs.setdefault(name, SourceCost(runs=len(runs)))
            started = time.perf_counter()
            try:
                source = self._source(name)
                before = source.requests_made
                asked = [dataclasses.replace(r, digest=self._digest(r)) for r in runs]
                answers = source.statuses(asked, detail=self.detail)
                cost.requests = source.requests_made - before
            except (SourceError, NotImplementedError, JiraCampaignError) as exc:
                log.warning("%s: %s", name, exc)
                self.problems.append(f"{name}: {exc}")
                continue
            finally:
                cost.seconds = time.perf_counter() - started
            for ref, status in zip(runs, answers, strict=True):
                if status.deferred:
                    self.deferred.append((ref.name, ", ".join(status.deferred)))
                found[ref.name.casefold()] = self._keep(ref, status)
        return found

    def _digest(self, ref: RunRef) -> str | None:
        last = self.answers.get(ref.name.casefold())
        return (last.digest or ref.digest) if last is not None else ref.digest

    def _keep(self, ref: RunRef, status: RunStatus) -> RunStatus:
        """The answer to show: a run whose details were not read this time keeps the last ones read."""
        last = self.answers.get(ref.name.casefold())
        if status.state is BatchState.UNKNOWN:
            return last if last is not None else status
        if not status.detail and last is not None and last.detail:
            kept = dataclasses.replace(last, state=status.state, raw_state=status.raw_state or last.raw_state,
                                       digest=status.digest or last.digest, deferred=status.deferred,
                                       message=status.message or last.message)
            status = kept
        self.answers[ref.name.casefold()] = status
        return status

    def apply(self, rows: Sequence[GroupRow], now: datetime | None = None) -> None:
        """Ask about the rows' runs that have not ended (or ended since the last refresh) and show the answers
        on them: state, and counts and tasks when the source read them."""
        going = [r for r in rows if r.going and not self._ended(r)]
        self.problems, self.deferred, self.costs = [], [], {}
        answers = self.ask([r.ref() for r in going]) if going else {}
        for row in rows:
            status = answers.get(row.run_name.casefold()) or (self.answers.get(row.run_name.casefold())
                                                              if row.run_name else None)
            if status is None:
                continue
            _overlay(row, status)

    def _ended(self, row: GroupRow) -> bool:
        last = self.answers.get(row.run_name.casefold())
        return last is not None and last.state.final

    @property
    def requests(self) -> int:
        return sum(c.requests for c in self.costs.values())

    def budget_left(self) -> int | None:
        """Requests left in this hour's PanDA budget, when a PanDA source was used."""
        source = self.sources.get("panda")
        client = getattr(source, "client", None)
        try:
            return client.remaining() if client is not None else None
        except (SourceError, OSError):
            return None


def _overlay(row: GroupRow, status: RunStatus) -> None:
    """Show a live answer on a row; its counts only when the source read them (as sync does)."""
    if status.state is BatchState.UNKNOWN:
        row.note = status.message or "state unknown"
        return
    before = (row.state, row.total, row.finished, row.failed)
    row.state, row.live = status.state.value, True
    if status.detail:
        row.total, row.finished, row.failed, row.running = status.total, status.finished, status.failed, status.running
        quanta = str((status.report or {}).get("format", "")).startswith("jiracampaign-provenance")
        row.unit = "quanta" if quanta else "files"
        row.tasks = [TaskRow(t.label, t.state.value, t.total, t.finished, t.failed, t.running)
                     for t in merged_tasks(status.tasks)] or row.tasks
    if status.deferred:
        row.note = f"not read this time: {', '.join(status.deferred)}"
    if (row.state, row.total, row.finished, row.failed) != before:
        row.moved = True
        row.note = row.note or "moved since the last sync"
    row.digest = status.digest or row.digest


def watch_interval(wanted: float, live: Live | None, per_hour: int) -> tuple[float, str]:
    """The seconds to wait before the next refresh, and why when longer than ``wanted``: a watch uses at
    most `WATCH_SHARE` of the PanDA request budget (``panda.requests_per_hour``) at the pace of its last
    refresh, and leaves the BPS source's helper idle at least twice as long as it ran."""
    if live is None:
        return wanted, ""
    out, why = wanted, ""
    panda = live.costs.get("panda")
    if panda and panda.requests and per_hour > 0:
        budget = 3600.0 * panda.requests / (per_hour * WATCH_SHARE)
        if budget > out:
            out, why = budget, (f"{panda.requests} PanDA request{'s' if panda.requests != 1 else ''} a refresh, at "
                                f"most {WATCH_SHARE:.0%} of panda.requests_per_hour ({per_hour})")
    for name, cost in live.costs.items():
        if name != "panda" and 3 * cost.seconds > out:
            out, why = 3 * cost.seconds, f"the {name} source took {cost.seconds:.1f} s"
    return out, why


def panda_refs(config: Config, names: Sequence[str], open_tracker: Callable[[Config], Tracker]) -> tuple[
        list[RunRef], list[str]]:
    """The PanDA runs ``names`` name, for ``jiracampaign panda``: a numeric Run Id or a run name is taken as it
    is (the tracker is not read); a ticket key, or a campaign id, is looked up in the tracker (opened only then)
    and stands for its run, or for every PanDA run of the campaign (or step). Returns the runs and notes on
    what was left out (runs on another workload system)."""
    refs: list[RunRef] = []
    notes: list[str] = []
    tracker = None
    try:
        for name in names:
            if name.isdigit() or not (KEY.match(name) or SLUG.match(name)):
                refs.append(RunRef(name=name, run_id=name) if name.isdigit() else RunRef(name=name))
                continue
            if tracker is None:
                tracker = open_tracker(config)
            try:
                target = resolve(tracker, name, "RUN")
            except InputError:
                if KEY.match(name):
                    raise
                refs.append(RunRef(name=name))  # not a campaign: a run name that looks like one
                continue
            rows = _target_rows(tracker, target)
            panda = [r for r in rows if r.run_name and r.wms == "panda"]
            others = [r for r in rows if r.run_name and r.wms != "panda"]
            if others:
                notes.append(f"{name}: {len(others)} run{'s' if len(others) != 1 else ''} not on PanDA left out ("
                             f"{', '.join(sorted({r.wms or '?' for r in others}))}: 'jiracampaign show KEY --live' "
                             "asks their status source)")
            if not panda and not others:
                notes.append(f"{name}: no run submitted yet")
            refs += [RunRef(r.run_name, r.run_id or None, None, parse_time(r.submitted), r.wms) for r in panda]
    finally:
        if tracker is not None:
            tracker.close()
    return refs, notes


def _target_rows(tracker: Tracker, target: Target) -> list[GroupRow]:
    """The runs a target stands for: a submission's, or a campaign's (a step's) from its ledger."""
    if target.kind == "submission":
        return campaign_rows(tracker, target.item, [target.item], tasks=False)
    state = load_ledger(tracker, target.item)
    if state is None:
        rows = campaign_rows(tracker, target.item, tracker.find_items(target.campaign), tasks=False)
    else:
        rows = _rows_from_ledger(tracker, target.item, state)
    return [r for r in rows if not target.step or r.step == target.step]
