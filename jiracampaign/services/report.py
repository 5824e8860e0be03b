"""``report``: the campaigns as the tracker holds them (steps, groups, states, counts, failures, links), for
one page (`jiracampaign.render.html`). A neutral model: no markup.

It reads the tracker only (fast, works without the status sources): what sync last wrote is what it
shows. Per report: the campaigns (`Tracker.list_campaigns`: open ones, and those closed within the
window); per campaign: its items with their records and sync records (`Tracker.find_items`) and, for
the groups whose latest attempt's sync record says a failure summary was posted for its current run,
that summary read back in bulk (`Tracker.latest_notes`). The summary's groups are read from its plain
text (`failure_doc`'s lines: ``N x task kind:code: message``, then its details).

Each group of a step shows once, by its latest attempt (`services.groups`), with the chain of its
attempts and the verdicts on them; a group a verdict settled counts as that verdict (`STATES`).

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
from ..core.attempts import Verdict
from ..core.records import CampaignRecord, StepRecord, SubmissionRecord
from ..core.states import BatchState
from ..errors import InputError
from ..trackers.base import Item, Note, Span, Tracker
from .groups import NOT_SUBMITTED, SUBMITTED, GroupRun, latest_runs

__all__ = ["NOT_SUBMITTED", "SUBMITTED", "STATES", "ATTENTION", "FailureRow", "Failures", "Tally", "SubmissionView",
           "StepView", "CampaignView", "Report", "build_report", "report", "read_failures", "span_text", "parse_time",
           "monitor_link"]

log = logging.getLogger(__name__)

#: every state a group can count as, worst first (the order of the page's columns and badges): its run's state, or
#: the verdict that settled it
STATES = ["held", "failed", "partial", "running", "pending", SUBMITTED, "unknown", "cancelled", Verdict.REJECTED.value,
          Verdict.FORCE_COMPLETED.value, Verdict.ACCEPTED.value, "succeeded", NOT_SUBMITTED]
ATTENTION = frozenset({BatchState.HELD.value, BatchState.FAILED.value, BatchState.PARTIAL.value})
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
        """The groups by what they count as (their run's state, or the verdict that settled them), and their files."""
        tally = cls()
        for sub in submissions:
            tally.states[sub.standing] += 1
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


@dataclass(kw_only=True)
class SubmissionView(GroupRun):
    """One group of a step: its latest attempt's ticket, its run and what sync last wrote about it (`GroupRun`), the
    run on its monitor and the latest failure summary of that run."""

    monitor: str = ""  # the run on its monitor (PanDA), when known
    failures: Failures | None = None

    @property
    def attention(self) -> bool:
        """Failed, ended partly or held, and no verdict settled it."""
        return self.standing in ATTENTION


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


def _campaign(tracker: Tracker, epic: Item, items: list[Item], monitor_url: str, monitor_days: int,
              now: datetime) -> CampaignView:
    view = CampaignView(epic.ident, epic.key, tracker.url(epic.key), epic.title, epic.status, epic.done)
    steps: dict[str, StepView] = {}
    if isinstance(epic.record, CampaignRecord):
        for info in epic.record.steps:
            steps[info.name] = StepView(info.name, list(info.after), info.groups)
    for item in items:
        if isinstance(item.record, StepRecord):
            step = steps.setdefault(item.record.step, StepView(item.record.step))
            step.key, step.url = item.key, tracker.url(item.key)
    for sub in latest_runs(tracker, items, SubmissionView):  # each group once, by its latest attempt
        sub.monitor = monitor_link(sub, monitor_url, monitor_days, now)
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
        view = _campaign(tracker, epic, items, monitor_url, monitor_days, now)
        shown = {s.key: s for step in view.steps for s in step.submissions}  # the latest attempts
        failing = [i.key for i in items if i.key in shown and isinstance(i.record, SubmissionRecord) and i.record.run
                   and i.sync and i.sync.run_name == i.record.run.run_name and i.sync.failures]
        notes = tracker.latest_notes(failing, texts.failure_slot("")) if failures and failing else {}
        for key, note in notes.items():
            if key in shown and shown[key].run_name:
                shown[key].failures = read_failures(note, shown[key].run_name)
        out.notes_read += len(notes)
        out.campaigns.append(view)
        log.debug("%s: %d items, %d groups, %d failure summaries", epic.ident, len(items), len(shown), len(notes))
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
