"""A campaign's groups as the views show them: each group of a step once, by its latest attempt, with the chain of
its attempts and the verdicts on them (`jiracampaign.core.attempts`).

`status`, `report` and `show` read their rows through here: `read_run` turns one submission item into what a view
shows of it (its ticket, its run, what sync last wrote about that run, its verdict), `latest_runs` does so for the
latest attempt of each group and gives it its chain, and `entry_groups` groups a sync ledger's entries the same way.

A verdict that settles a group (`SETTLED`: accepted, rejected, force-completed) is what the group counts as: its
column in the tallies, never "needing attention", never stuck, not asked about live. An attempt closed as
``rescued`` is superseded by a later one, which is the one counted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterable, Sequence, TypeVar

from ..core.attempts import SETTLED, Verdict, by_group, group_key
from ..core.ledger import Entry, entry_groups
from ..core.records import SubmissionRecord, SyncRecord, current_sync
from ..core.states import BatchState
from ..trackers.base import Item, Tracker

__all__ = ["NOT_SUBMITTED", "SUBMITTED", "SETTLED", "Attempt", "GroupRun", "standing", "state_text", "read_run",
           "attempt_of", "latest_runs", "attempts_of", "entry_groups", "entry_attempt", "chain_text"]

log = logging.getLogger(__name__)

NOT_SUBMITTED = "not submitted"
SUBMITTED = "submitted"  # submitted, not synced yet
#: what the local store shows as an item's status (a run state, a verdict, or open/closed): no ticket status apart
_RUN_WORDS = frozenset({s.value for s in BatchState} | {v.value for v in Verdict} | {"open", "closed"})

V = TypeVar("V", bound="GroupRun")


def standing(state: str, verdict: str) -> str:
    """What a run counts as: the verdict when one settled it (`SETTLED`), else its state."""
    return verdict if verdict in SETTLED else state


def state_text(state: str, verdict: str) -> str:
    """A run's state for people: ``partial``, or with its verdict ``partial (accepted)``."""
    return f"{state} ({verdict})" if verdict else state


@dataclass
class Attempt:
    """One attempt of a group as a chain shows it: its ticket, its run's state, the verdict on it and what its
    rescue changed."""

    key: str
    url: str
    ident: str
    attempt: int
    state: str  # a `BatchState` value, `SUBMITTED` or `NOT_SUBMITTED`
    verdict: str = ""
    verdict_reason: str = ""
    run_name: str = ""
    rescues: str = ""  # the submission id of the attempt it follows ("" for the first)
    changes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """``JC-9 (a2)``."""
        return f"{self.key} (a{self.attempt})"

    @property
    def shown(self) -> str:
        """Its state for people, with its verdict: ``partial (rescued)``."""
        return state_text(self.state, self.verdict)

    def to_dict(self) -> dict:
        return {"key": self.key, "url": self.url, "ident": self.ident, "attempt": self.attempt, "state": self.state,
                "verdict": self.verdict or None, "verdict_reason": self.verdict_reason or None,
                "run": self.run_name or None, "rescues": self.rescues or None, "changes": self.changes}


def chain_text(attempts: Sequence[Attempt]) -> str:
    """A group's attempts, latest first: ``JC-9 (a2) <- JC-4 (a1)``."""
    return " <- ".join(a.name for a in attempts)


@dataclass(kw_only=True)
class GroupRun:
    """A submission's ticket and its run as sync last wrote them: what `status`, `report` and `show` all show of a
    group (each view adds its own fields in a subclass).

    ``state`` is the run's state as sync last wrote it; ``verdict`` the decision on it, if any; ``standing`` what
    it counts as. ``attempts`` holds every attempt of its group known to the view, latest first (empty when the
    view read this one alone).
    """

    campaign: str = ""
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
    submit_dir: str = ""
    submitted: str = ""
    returned: str = ""
    changed_at: str = ""
    digest: str = ""
    total: int = 0
    finished: int = 0
    failed: int = 0
    running: int | None = None
    verdict: str = ""
    verdict_reason: str = ""
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def settled(self) -> bool:
        """A verdict settled it (accepted, rejected, force-completed): it needs nothing more."""
        return self.verdict in SETTLED

    @property
    def standing(self) -> str:
        """What it counts as: its verdict when one settled it, else its run's state."""
        return standing(self.state, self.verdict)

    @property
    def state_text(self) -> str:
        """``partial``, or ``partial (accepted)``."""
        return state_text(self.state, self.verdict)

    @property
    def chain(self) -> str:
        """``JC-9 (a2) <- JC-4 (a1)`` when the group has more than one attempt, else ``""``."""
        return chain_text(self.attempts) if len(self.attempts) > 1 else ""


def _run_state(item: Item, record: SubmissionRecord) -> tuple[str, SyncRecord | None]:
    """The state of an item's run, and the sync record that is about that run (`None` when there is none)."""
    run = record.run
    if run is None or not run.run_name:
        return NOT_SUBMITTED, None
    synced = current_sync(record, item.sync)
    return (synced.state or SUBMITTED, synced) if synced is not None else (SUBMITTED, None)


def read_run(tracker: Tracker, item: Item, cls: type[V] = GroupRun) -> V:
    """One submission item as the view ``cls`` shows it: its record, its run, and what sync last wrote about that
    run (a sync record about an earlier run of the same ticket is not used)."""
    record = item.record
    state, synced = _run_state(item, record)
    view = cls(campaign=record.campaign, key=item.key, url=tracker.url(item.key), ident=item.ident, step=record.step,
               group=record.group, groups=record.groups, label=record.label, state=state,
               ticket_status="" if item.status.casefold() in _RUN_WORDS else item.status, attempt=record.attempt,
               site=record.site)
    run = record.run
    if run is None or not run.run_name:
        return view
    view.run_name, view.run_id, view.wms = run.run_name, run.run_id or "", run.wms
    view.submit_dir, view.submitted, view.returned = run.submit_dir or "", run.submitted or "", run.returned or ""
    if synced is not None:
        view.total, view.finished, view.failed, view.running = synced.total, synced.finished, synced.failed, \
            synced.running
        view.changed_at, view.digest = synced.changed_at, synced.digest or ""
        view.verdict, view.verdict_reason = synced.verdict, synced.verdict_reason
    return view


def attempt_of(tracker: Tracker, item: Item) -> Attempt:
    """One submission item as a chain shows it."""
    record = item.record
    state, synced = _run_state(item, record)
    return Attempt(item.key, tracker.url(item.key), item.ident, record.attempt, state,
                   synced.verdict if synced is not None else "", synced.verdict_reason if synced is not None else "",
                   record.run.run_name if record.run else "", record.rescues, list(record.changes))


def latest_runs(tracker: Tracker, items: Iterable[Item], cls: type[V] = GroupRun) -> list[V]:
    """Each group of the submission items once, by its latest attempt (`core.attempts.by_group`), as the view
    ``cls`` shows it, with its ``attempts`` (latest first); in no particular order."""
    groups = by_group((item.record, item) for item in items if isinstance(item.record, SubmissionRecord))
    out = []
    for attempts in groups.values():
        view = read_run(tracker, attempts[-1], cls)
        view.attempts = [attempt_of(tracker, item) for item in reversed(attempts)]
        out.append(view)
    superseded = sum(len(a) - 1 for a in groups.values())
    if superseded:
        log.debug("%d groups; %d earlier attempts counted by their latest", len(out), superseded)
    return out


def attempts_of(tracker: Tracker, items: Iterable[Item], record: SubmissionRecord) -> list[Attempt]:
    """Every attempt of ``record``'s group among ``items``, latest first."""
    wanted = group_key(record)
    found = by_group((item.record, item) for item in items
                     if isinstance(item.record, SubmissionRecord) and group_key(item.record) == wanted)
    return [attempt_of(tracker, item) for item in reversed(found.get(wanted, []))]


def entry_attempt(tracker: Tracker, entry: Entry) -> Attempt:
    """A ledger entry as a chain shows it."""
    return Attempt(entry.key, tracker.url(entry.key), entry.ident, entry.attempt, entry.state or SUBMITTED,
                   entry.verdict, entry.verdict_reason, entry.run_name)
