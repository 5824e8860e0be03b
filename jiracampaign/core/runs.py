"""What a status source reports about one BPS run: state, per-task progress, failures and links.

Every status source (PanDA monitor, BPS's own report) fills the same `RunStatus`, so `sync`, the
CLI and the ticket texts never look at a source's raw answers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Sequence

from .states import BatchState

__all__ = ["RunRef", "TaskProgress", "FailureExample", "FailureGroup", "RunStatus", "merged_tasks"]


@dataclass(frozen=True)
class RunRef:
    """A run to ask about, as recorded on its ticket.

    Parameters
    ----------
    name : `str`
        BPS run name (``Run Name`` printed by ``bps submit``); compared without regard to case.
    run_id : `str`, optional
        BPS ``Run Id`` (the iDDS request id on PanDA); preferred over the name when known.
    digest : `str`, optional
        What the source returned as `RunStatus.digest` last time; an equal digest means "unchanged",
        so the source may skip reading details.
    submitted : `datetime`, optional
        Submit time (UTC); widens the source's search window to cover old runs.
    wms : `str`, optional
        The workload system it runs on (``panda``, ``htcondor``, ``parsl``).
    submit_dir : `str`, optional
        BPS's submit directory (``Submit dir``): what HTCondor and Parsl runs are read from.
    returned : `datetime`, optional
        When ``bps submit`` returned; for Parsl, whose submit blocks, when the run ended.
    """

    name: str
    run_id: str | None = None
    digest: str | None = None
    submitted: datetime | None = None
    wms: str = ""
    submit_dir: str | None = None
    returned: datetime | None = None


@dataclass
class TaskProgress:
    """One task (pipeline task label, or label and chunk) of a run; counts are input files."""

    label: str
    task_id: int | None
    state: BatchState
    raw_state: str
    total: int = 0
    finished: int = 0
    failed: int = 0
    running: int | None = None  # None: the source cannot tell
    url: str = ""

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.finished - self.failed)


@dataclass
class FailureExample:
    """One failed job (or quantum), with the links a pipeline developer needs to triage it."""

    id: str
    label: str
    site: str
    attempt: int | None
    url: str
    stdout: str = ""
    stderr: str = ""
    log: str = ""
    data_id: str = ""  # the data ID it processed, when the source knows it

    def links(self) -> list[tuple[str, str]]:
        """``(name, url)`` of its logs that are known."""
        return [(name, url) for name, url in (("stdout", self.stdout), ("stderr", self.stderr), ("log", self.log)) if url]


@dataclass
class FailureGroup:
    """Failures sharing one error: task label, kind and code, and message.

    ``kind`` is where the error was raised as the source names it (a PanDA component such as
    ``pilot``, an exception type from quantum provenance); ``code`` its number, if any.
    """

    label: str
    kind: str
    code: str
    message: str
    also: str = ""  # the job's other errors, e.g. ``transformation:1`` beside ``pilot:1305``
    count: int = 0
    examples: list[FailureExample] = field(default_factory=list)
    data_ids: list[str] = field(default_factory=list)
    shape: str = ""  # the message with numbers and hex ids blanked: what makes two messages "the same error"

    @property
    def error(self) -> str:
        """``kind:code`` (or the kind alone), as the source writes it."""
        return f"{self.kind}:{self.code}" if self.code else self.kind


def merged_tasks(tasks: Sequence[TaskProgress]) -> list[TaskProgress]:
    """Tasks merged per pipeline label (chunks of one label add up); the worst state wins."""
    merged: dict[str, TaskProgress] = {}
    for task in tasks:
        if task.label not in merged:
            merged[task.label] = dataclasses.replace(task)
            continue
        into = merged[task.label]
        into.total += task.total
        into.finished += task.finished
        into.failed += task.failed
        into.running = None if into.running is None or task.running is None else into.running + task.running
        if _WORST.index(task.state.value) < _WORST.index(into.state.value):
            into.state, into.raw_state = task.state, task.raw_state
        into.task_id, into.url = None, ""  # several tasks: no single link
    return list(merged.values())


_WORST = ["held", "failed", "partial", "running", "pending", "cancelled", "unknown", "succeeded"]


@dataclass
class RunStatus:
    """Everything a source knows about one run.

    ``digest`` summarises the run's progress compactly: equal digests mean nothing changed. It is
    `None` when the source could not read everything it wanted (budget, outage), so the caller keeps
    the previous one and asks again next time. ``detail`` says whether tasks and failures were read
    on this call (they are skipped for unchanged runs); ``deferred`` names what the source wanted to
    read but could not this time (what it did learn is filled in).

    ``failures`` are the final failures (jobs whose input is given up on, or not yet retried);
    ``retried`` groups failed attempts that were superseded by a later attempt (recovered, or retried
    again): they are not failures of the run. ``split_known`` is false when the source knows how many
    inputs were processed but not how many of them failed (``finished`` then counts processed inputs).
    """

    name: str
    source: str
    state: BatchState
    raw_state: str = ""
    source_label: str = ""  # the source's display name (``PanDA``)
    run_id: str | None = None
    created: datetime | None = None
    total: int = 0
    finished: int = 0
    failed: int = 0
    running: int | None = None
    tasks: list[TaskProgress] = field(default_factory=list)
    failures: list[FailureGroup] = field(default_factory=list)
    failed_jobs: int = 0          # final failed jobs read (the failure groups' counts add up to it)
    failures_read: bool = False   # False: failures were not read this time (unchanged), keep what you had
    retried: list[FailureGroup] = field(default_factory=list)
    retried_jobs: int = 0         # failed attempts superseded by a later attempt (the retried groups add up to it)
    split_known: bool = True      # False: done and failed inputs are not told apart (``finished`` = processed)
    url: str = ""
    message: str = ""
    digest: str | None = None
    detail: bool = False
    changed: bool = True
    deferred: list[str] = field(default_factory=list)  # what could not be read this time ("task details", ...)
    report: dict[str, Any] | None = None  # the full failure report, attached to the ticket beside the short summary
    report_name: str = ""                 # its file name on the ticket

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.finished - self.failed)

    @property
    def complete(self) -> bool:
        """Whether the source read everything it wanted about this run."""
        return not self.deferred

    def note(self, text: str) -> None:
        """Add a sentence to ``message`` (notes accumulate; the same note is kept once)."""
        if text and text not in self.message:
            self.message = f"{self.message}; {text}" if self.message else text

    def defer(self, what: str, why: str) -> None:
        """Mark ``what`` as not read this time, because ``why``; the digest is dropped so it is asked again."""
        if what not in self.deferred:
            self.deferred.append(what)
        self.digest = None
        self.note(f"{what} deferred ({why})")

    def counts_text(self) -> str:
        """``200 total, 135 done, 5 failed, 10 running, 60 left`` (running only when the source knows it).

        When the source cannot tell done from failed inputs: ``200 total, 180 processed (done and failed
        not told apart), 20 left``.
        """
        running = f", {self.running} running" if self.running is not None else ""
        if not self.split_known:
            return (f"{self.total} total, {self.finished} processed (done and failed not told apart by the source)"
                    f"{running}, {self.remaining} left")
        return f"{self.total} total, {self.finished} done, {self.failed} failed{running}, {self.remaining} left"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (states as names, datetimes as ISO 8601 UTC)."""
        out = asdict(self)
        out["state"] = str(self.state)
        out["created"] = self.created.isoformat() if self.created else None
        out["remaining"] = self.remaining
        out["complete"] = self.complete
        if not self.split_known:  # say what is unknown rather than a number that reads as a count
            out["processed"], out["finished"], out["failed"] = self.finished, None, None
        for task, raw in zip(self.tasks, out["tasks"]):
            raw["state"] = str(task.state)
            raw["remaining"] = task.remaining
        return out
