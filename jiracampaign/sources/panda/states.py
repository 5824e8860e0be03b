"""PanDA's state vocabularies and how they map onto `~jiracampaign.core.states.BatchState`.

A BPS run is one iDDS request on PanDA; its tasks are JEDI tasks (one per pipeline task label, or
per label and chunk); its jobs are PanDA jobs. Each layer has its own state names; this module is
the single place they are translated. ``docs/states.md`` is generated from these tables.
"""

from __future__ import annotations

from ...core.states import BatchState

__all__ = [
    "IDDS_REQUEST_STATES",
    "IDDS_PROCESSING_STATES",
    "JEDI_TASK_STATES",
    "JOB_BUCKETS",
    "PANDA_JOB_STATES",
    "from_idds_request",
    "from_idds_processing",
    "from_jedi_task",
    "job_bucket",
]

_S = BatchState

#: iDDS ``RequestStatus`` (wfprogress ``r_status``): the state of the whole run.
IDDS_REQUEST_STATES: dict[str, BatchState] = {
    "New": _S.PENDING, "Ready": _S.PENDING, "Building": _S.PENDING, "Built": _S.PENDING, "Throttling": _S.PENDING,
    "Transforming": _S.RUNNING, "Extend": _S.RUNNING, "ToResume": _S.RUNNING, "Resuming": _S.RUNNING,
    "ToFinish": _S.RUNNING, "ToForceFinish": _S.RUNNING, "Terminating": _S.RUNNING, "ToClose": _S.RUNNING,
    "Finished": _S.SUCCEEDED,
    "SubFinished": _S.PARTIAL,
    "Failed": _S.FAILED, "ToExpire": _S.FAILED, "Expiring": _S.FAILED, "Expired": _S.FAILED,
    "ToCancel": _S.CANCELLED, "Cancelling": _S.CANCELLED, "Cancelled": _S.CANCELLED,
    "ToSuspend": _S.HELD, "Suspending": _S.HELD, "Suspended": _S.HELD,
}

#: iDDS ``ProcessingStatus`` (the keys of wfprogress ``tasks_statuses``): the state of one task.
IDDS_PROCESSING_STATES: dict[str, BatchState] = {
    "New": _S.PENDING, "Submitting": _S.PENDING, "Submitted": _S.PENDING, "Prepared": _S.PENDING,
    "ToTrigger": _S.PENDING, "Triggering": _S.PENDING,
    "Running": _S.RUNNING, "Synchronizing": _S.RUNNING, "ToFinish": _S.RUNNING, "ToForceFinish": _S.RUNNING,
    "Terminating": _S.RUNNING, "ToResume": _S.RUNNING, "Resuming": _S.RUNNING,
    "Finished": _S.SUCCEEDED, "FinishedOnStep": _S.SUCCEEDED, "FinishedOnExec": _S.SUCCEEDED,
    "FinishedTerm": _S.SUCCEEDED,
    "SubFinished": _S.PARTIAL,
    "Failed": _S.FAILED, "Lost": _S.FAILED, "Broken": _S.FAILED, "TimeOut": _S.FAILED,
    "ToExpire": _S.FAILED, "Expiring": _S.FAILED, "Expired": _S.FAILED,
    "Cancel": _S.CANCELLED, "ToCancel": _S.CANCELLED, "Cancelling": _S.CANCELLED, "Cancelled": _S.CANCELLED,
    "ToSuspend": _S.HELD, "Suspending": _S.HELD, "Suspended": _S.HELD,
}

#: JEDI task ``status`` (monitor ``/tasks/``): ``done`` is full success, ``finished`` partial success.
JEDI_TASK_STATES: dict[str, BatchState] = {
    "registered": _S.PENDING, "defined": _S.PENDING, "assigning": _S.PENDING, "ready": _S.PENDING,
    "pending": _S.PENDING, "scouting": _S.PENDING, "scouted": _S.PENDING, "topreprocess": _S.PENDING,
    "preprocessing": _S.PENDING, "prepared": _S.PENDING, "throttled": _S.PENDING,
    "running": _S.RUNNING, "toretry": _S.RUNNING, "toincexec": _S.RUNNING, "rerefine": _S.RUNNING,
    "finishing": _S.RUNNING, "passed": _S.RUNNING, "toreassign": _S.RUNNING, "reassigning": _S.RUNNING,
    "done": _S.SUCCEEDED,
    "finished": _S.PARTIAL,
    "failed": _S.FAILED, "broken": _S.FAILED, "tobroken": _S.FAILED,
    "aborting": _S.CANCELLED, "aborted": _S.CANCELLED, "toabort": _S.CANCELLED,
    "paused": _S.HELD, "exhausted": _S.HELD,
}

JOB_BUCKETS = ("pending", "running", "finished", "failed", "cancelled")

#: PanDA job ``jobstatus`` -> the count it adds to. ``subfinished`` (fg_partial) counts as failed: it needs a look.
PANDA_JOB_STATES: dict[str, str] = {
    "pending": "pending", "defined": "pending", "assigned": "pending", "activated": "pending",
    "waiting": "pending", "throttled": "pending",
    "sent": "running", "starting": "running", "running": "running", "holding": "running",
    "merging": "running", "transferring": "running",
    "finished": "finished",
    "failed": "failed", "subfinished": "failed",
    "closed": "cancelled", "cancelled": "cancelled",
}


def _lookup(table: dict[str, BatchState], name: str | None) -> BatchState:
    if not name:
        return BatchState.UNKNOWN
    found = table.get(name)
    if found is None:  # the 2021-22 monitor lower-cased every value
        folded = str(name).casefold()
        found = next((state for key, state in table.items() if key.casefold() == folded), BatchState.UNKNOWN)
    return found


def from_idds_request(name: str | None) -> BatchState:
    """State of a run from its iDDS request status (any case)."""
    return _lookup(IDDS_REQUEST_STATES, name)


def from_idds_processing(name: str | None) -> BatchState:
    """State of a task from an iDDS processing status (a ``tasks_statuses`` key)."""
    return _lookup(IDDS_PROCESSING_STATES, name)


def from_jedi_task(name: str | None) -> BatchState:
    """State of a task from its JEDI status."""
    return _lookup(JEDI_TASK_STATES, name)


def job_bucket(name: str | None) -> str:
    """Which count a PanDA job status adds to (``pending`` for anything unrecognised)."""
    return PANDA_JOB_STATES.get((name or "").casefold(), "pending")
