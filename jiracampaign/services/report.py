"""``report``: the campaigns as the tracker holds them (steps, groups, states, counts, failures, links), for
one page (`jiracampaign.render.html`). A neutral model: no markup.

It reads the tracker only (fast, works without the status sources): what sync last wrote is what it
shows. Per report: the campaigns (`Tracker.list_campaigns`: open ones, and those closed within the
window); per campaign: its items with their records and sync records (`Tracker.find_items`) and, for
the submissions whose sync record says a failure summary was posted for their current run, that
summary read back in bulk (`Tracker.latest_notes`). The summary's groups are read from its plain text
(`failure_doc`'s lines: ``N x task kind:code: message``, then its details).

Cost on JIRA, in requests: 2 searches for the campaigns (open, then closed; pages of 100), then per
campaign 1 search per 100 items and 1 search per 50 submissions with failures (plus one comment page
for a ticket with more comments than a search shows): proportional to campaigns, never one request per
ticket. The local store answers the same calls with a few SQL queries.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Sequence
from urllib.parse import urlencode

from ..config import Config
from ..core import texts
from ..core.records import CampaignRecord, StepRecord, SubmissionRecord
from ..core.states import BatchState
from ..errors import InputError
from ..trackers.base import Item, Note, Span, Tracker

__all__ = ["NOT_SUBMITTED", "SUBMITTED", "STATES", "ATTENTION", "FailureRow", "Failures", "Tally", "SubmissionView",
           "StepView", "CampaignView", "Report", "build_report", "report", "read_failures", "span_text", "parse_time",
           "monitor_link"]

log = logging.getLogger(__name__)

NOT_SUBMITTED = "not submitted"
SUBMITTED = "submitted"  # submitted, not synced yet
#: every state a submission can show, worst first (the order of the page's columns and badges)
STATES = ["held", "failed", "partial", "running", "pending", SUBMITTED, "unknown", "cancelled", "succeeded", NOT_SUBMITTED]
ATTENTION = frozenset({BatchState.HELD.value, BatchState.FAILED.value, BatchState.PARTIAL.value})

_RUN_WORDS = frozenset({s.value for s in BatchState} | {"open", "closed"})  # what the local store shows
_HEADLINE = re.compile(r"^Failures in run (\S+): (.+)$")
_GROUP = re.compile(r"^- (\d+) x (\S+) (\S+?)(?: \(also (.+?)\))?: (.*)$")
_MORE_IDS = re.compile(r"^(.*?)(?: \(\+(\d+) more\))?$")


@dataclass
class FailureRow:
    """One group of a failure summary: how many failed, in which task, the error and its message."""

    count: int
    task: str
    error: str  # ``kind:code`` as the source writes it (``pilot:1305``, ``ValueError``)
    message: str
    also: str = ""
    data_ids: list[str] = field(default_factory=list)
    more_ids: int = 0  # data IDs the summary counts but does not list
    details: list[tuple[Span, ...]] = field(default_factory=list)  # advice, memory, example jobs with their links


@dataclass
class Failures:
    """The latest failure summary on a submission's ticket, read back.

    ``groups`` are its final failures; ``lines`` what else it says (per-task counts, retried attempts,
    the next actions), or all of it when its groups could not be read; lines are spans of text and links.
    """

    run: str
    headline: str
    groups: list[FailureRow] = field(default_factory=list)
    lines: list[tuple[Span, ...]] = field(default_factory=list)
    url: str = ""
    updated: float = 0.0


@dataclass
class Tally:
    """Submissions by state, and input files in all, done and failed (what sync last saw)."""

    states: Counter = field(default_factory=Counter)
    total: int = 0
    finished: int = 0
    failed: int = 0

    @classmethod
    def of(cls, submissions: Iterable["SubmissionView"]) -> "Tally":
        tally = cls()
        for sub in submissions:
            tally.states[sub.state] += 1
            tally.total += sub.total
            tally.finished += sub.finished
            tally.failed += sub.failed
        return tally

    def add(self, other: "Tally") -> "Tally":
        self.states.update(other.states)
        self.total += other.total
        self.finished += other.finished
        self.failed += other.failed
        return self

    @property
    def submissions(self) -> int:
        return sum(self.states.values())

    @property
    def attention(self) -> int:
        return sum(self.states[s] for s in ATTENTION)

    @property
    def percent(self) -> float | None:
        """Files done, in percent of all files (`None` when no file is known yet)."""
        return 100.0 * self.finished / self.total if self.total else None


@dataclass
class SubmissionView:
    """One group of a step: its ticket, its run and what sync last wrote about it."""

    key: str
    url: str
    ident: str
    step: str
    group: int
    groups: int
    label: str
    state: str  # a `BatchState` value, `SUBMITTED` or `NOT_SUBMITTED`
    ticket_status: str = ""  # what the ticket shows, when it is not a run state's name (a workflow status on JIRA)
    attempt: int = 1
    site: str = ""
    run_name: str = ""
    run_id: str = ""
    wms: str = ""
    submitted: str = ""
    changed_at: str = ""
    total: int = 0
    finished: int = 0
    failed: int = 0
    running: int | None = None
    monitor: str = ""  # the run on its monitor (PanDA), when known
    submit_dir: str = ""
    failures: Failures | None = None

    @property
    def attention(self) -> bool:
        return self.state in ATTENTION


@dataclass
class StepView:
    """A step of a campaign, its groups in order."""

    name: str
    after: list[str] = field(default_factory=list)
    planned: int = 0
    key: str = ""  # the step's own ticket (JIRA with sub-tasks)
    url: str = ""
    submissions: list[SubmissionView] = field(default_factory=list)

    @property
    def tally(self) -> Tally:
        return Tally.of(self.submissions)


@dataclass
class CampaignView:
    """A campaign: its epic and its steps."""

    ident: str
    key: str
    url: str
    title: str
    status: str
    closed: bool
    steps: list[StepView] = field(default_factory=list)

    @property
    def tally(self) -> Tally:
        return Tally.of(s for step in self.steps for s in step.submissions)

    @property
    def last_change(self) -> str:
        """When sync last saw one of its runs change (UTC), or ``""``."""
        return max((s.changed_at for step in self.steps for s in step.submissions), default="")


@dataclass
class Report:
    """What ``report`` read: the campaigns, where from, and which window."""

    generated: str  # ISO 8601, UTC
    tracker: str
    window: str  # in words
    campaigns: list[CampaignView] = field(default_factory=list)
    notes_read: int = 0  # failure summaries read back
    seconds: float = 0.0

    @property
    def tally(self) -> Tally:
        total = Tally()
        for campaign in self.campaigns:
            total.add(campaign.tally)
        return total


def span_text(line: Sequence[Span]) -> str:
    """A line of a note read back, as plain text (a link as its title)."""
    return "".join(text for text, _ in line)


def parse_time(text: str | None) -> datetime | None:
    """A time as jiracampaign stores it (ISO 8601, or sync's ``2026-12-01 17:42 UTC``) as UTC; `None` if absent
    or unreadable."""
    if not text:
        return None
    value = text.strip()
    if value.endswith(" UTC"):
        value = value[:-4]
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)




def _unbullet(line: tuple[Span, ...]) -> tuple[Span, ...]:
    """A bullet line without its indent and ``- ``."""
    first = re.sub(r"^\s*- ", "", line[0][0]) if line else ""
    return tuple(span for span in ((first, line[0][1]), *line[1:]) if span[0]) if line else line


def read_failures(note: Note, run_name: str) -> Failures | None:
    """A failure summary read back (`core.texts.failure_doc`'s lines) as groups; `None` when it is about
    another run than ``run_name`` (an earlier attempt's)."""
    lines = list(note.lines)
    head = _HEADLINE.match(span_text(lines[0])) if lines else None
    if head and head.group(1) != run_name:
        return None
    out = Failures(run_name, head.group(2) if head else "", url=note.url, updated=note.updated)
    listing, listed = False, False  # in the first bullet list (the final failures); after it
    for line in lines[1:] if head else lines:
        text = span_text(line)
        found = None if listed else _GROUP.match(text)
        if found:
            count, task, error, also, message = found.groups()
            out.groups.append(FailureRow(int(count), task, error, message, also or ""))
            listing = True
        elif listing and text.startswith("  "):
            detail = _unbullet(line)
            if span_text(detail).startswith("Data IDs: ") and not out.groups[-1].data_ids:
                ids, more = _MORE_IDS.match(span_text(detail)[len("Data IDs: "):]).groups()
                out.groups[-1].data_ids = [i for i in ids.split("; ") if i]
                out.groups[-1].more_ids = int(more or 0)
            else:
                out.groups[-1].details.append(detail)
        else:
            listed = listed or listing
            listing = False
            if not text.startswith(("- ", "  ")) or not out.groups:
                out.lines.append(line)
    return out


def monitor_link(run: Any, monitor_url: str, days: int, now: datetime) -> str:
    """The PanDA monitor's page of a run's tasks (as `sources.panda` links it), when it is a PanDA run.

    ``run`` is a group as a view holds it (``wms``, ``run_id``, ``submitted``); the window covers its submit time.
    """
    if run.wms != "panda" or not run.run_id or not monitor_url:
        return ""
    submitted = parse_time(run.submitted)
    if submitted is not None:
        days = max(days, (now - submitted).days + 1)
    return f"{monitor_url.rstrip('/')}/tasks/?" + urlencode({"reqid": run.run_id, "days": days})


def _submission(tracker: Tracker, item: Item, record: SubmissionRecord) -> SubmissionView:
    sub = SubmissionView(key=item.key, url=tracker.url(item.key), ident=item.ident, step=record.step, group=record.group,
                         groups=record.groups, label=record.label, state=NOT_SUBMITTED,
                         ticket_status="" if item.status.casefold() in _RUN_WORDS else item.status,
                         attempt=record.attempt, site=record.site)
    run = record.run
    if run is None or not run.run_name:
        return sub
    sub.state, sub.run_name, sub.run_id, sub.wms = SUBMITTED, run.run_name, run.run_id or "", run.wms
    sub.submitted, sub.submit_dir = run.submitted or "", run.submit_dir or ""
    synced = item.sync
    if synced is not None and synced.run_name == run.run_name:  # a resubmission starts afresh
        sub.state = synced.state or SUBMITTED
        sub.total, sub.finished, sub.failed, sub.running = synced.total, synced.finished, synced.failed, synced.running
        sub.changed_at = synced.changed_at
    return sub


def _campaign(tracker: Tracker, epic: Item, items: list[Item], notes: dict[str, Note], monitor_url: str,
              monitor_days: int, now: datetime) -> CampaignView:
    view = CampaignView(epic.ident, epic.key, tracker.url(epic.key), epic.title, epic.status, epic.done)
    steps: dict[str, StepView] = {}
    if isinstance(epic.record, CampaignRecord):
        for info in epic.record.steps:
            steps[info.name] = StepView(info.name, list(info.after), info.groups)
    for item in items:
        if isinstance(item.record, StepRecord):
            step = steps.setdefault(item.record.step, StepView(item.record.step))
            step.key, step.url = item.key, tracker.url(item.key)
    for item in items:
        if not isinstance(item.record, SubmissionRecord):
            continue
        sub = _submission(tracker, item, item.record)
        sub.monitor = monitor_link(sub, monitor_url, monitor_days, now)
        if item.key in notes and sub.run_name:
            sub.failures = read_failures(notes[item.key], sub.run_name)
        steps.setdefault(sub.step, StepView(sub.step)).submissions.append(sub)
    for step in steps.values():
        step.submissions.sort(key=lambda s: (s.group, s.ident))
        step.planned = max(step.planned, len(step.submissions))
    view.steps = list(steps.values())
    return view


def _window(names: Sequence[str], since_days: float | None) -> str:
    if names:
        return "the campaigns named"
    if since_days is None:
        return "every campaign, open or closed"
    return f"open campaigns, and those closed within {since_days:g} days"


def build_report(tracker: Tracker, names: Sequence[str] = (), since_days: float | None = 7.0,
                 now: datetime | None = None, monitor_url: str = "", monitor_days: int = 30,
                 failures: bool = True) -> Report:
    """Read the campaigns from ``tracker``.

    Parameters
    ----------
    names : sequence of `str`
        Only these campaigns (open or closed); every one must exist.
    since_days : `float` or `None`
        Closed campaigns are shown when closed within this many days; `None`: all of them.
    monitor_url, monitor_days : `str`, `int`
        The PanDA monitor (``panda.monitor_url``, ``panda.days``), to link each PanDA run's page.
    failures : `bool`
        Read the latest failure summary of each submission whose run has failures.

    Raises
    ------
    InputError
        A campaign named is not in the tracker.
    """
    started = time.perf_counter()
    now = now or datetime.now(timezone.utc)
    closed_since = 0.0 if names or since_days is None else (now - timedelta(days=since_days)).timestamp()
    epics = tracker.list_campaigns(list(names), closed_since)
    missing = [name for name in names if name not in {e.ident for e in epics}]
    if missing:
        known = sorted({e.ident for e in tracker.list_campaigns((), 0.0)})
        hint = f"campaigns there: {', '.join(known[:10])}{' ...' if len(known) > 10 else ''}" if known else "it has none"
        raise InputError("CAMPAIGN", None, None, f"no campaign '{missing[0]}' in {tracker.describe()}; {hint}")
    out = Report(now.replace(microsecond=0).isoformat(), tracker.describe(), _window(names, since_days))
    for epic in epics:
        items = tracker.find_items(epic.ident)
        failing = [i.key for i in items if isinstance(i.record, SubmissionRecord) and i.record.run and i.sync
                   and i.sync.run_name == i.record.run.run_name and i.sync.failures]
        notes = tracker.latest_notes(failing, texts.failure_slot("")) if failures and failing else {}
        out.notes_read += len(notes)
        out.campaigns.append(_campaign(tracker, epic, items, notes, monitor_url, monitor_days, now))
        log.debug("%s: %d items, %d failure summaries", epic.ident, len(items), len(notes))
    out.seconds = time.perf_counter() - started
    log.info("report: %d campaigns from %s in %.2f s", len(out.campaigns), out.tracker, out.seconds)
    return out


def report(config: Config, names: Sequence[str] = (), since_days: float | None = 7.0, tracker: Any = None,
           now: datetime | None = None) -> Report:
    """`build_report` on the configured tracker (opened and closed here unless ``tracker`` is given)."""
    own = tracker is None
    if own:
        from ..plugins import open_tracker

        tracker = open_tracker(config)
    try:
        return build_report(tracker, names, since_days, now, monitor_url=config.get("panda.monitor_url") or "",
                            monitor_days=int(config.get("panda.days") or 30))
    finally:
        if own:
            tracker.close()
