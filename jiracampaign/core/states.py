"""The one run-state model every status source maps into.

Each workload system has its own state names (iDDS, JEDI and PanDA job states; HTCondor's; BPS's
``WmsStates``); each status source translates them into `BatchState` in its own package, and each
tracker translates `BatchState` into what it shows (a workflow status on JIRA). ``docs/states.md``
is generated from the sources' tables.
"""

from __future__ import annotations

import enum

__all__ = ["BatchState", "FINAL_STATES", "combine"]


class BatchState(str, enum.Enum):
    """Where a run (or one of its tasks) stands, whatever system reports it."""

    PENDING = "pending"        # accepted, nothing running yet
    RUNNING = "running"        # work in progress (possibly with failures so far)
    SUCCEEDED = "succeeded"    # every input processed
    PARTIAL = "partial"        # ended; some inputs failed (iDDS SubFinished, JEDI finished): needs review
    FAILED = "failed"          # ended without a usable result
    HELD = "held"              # suspended or stuck: needs an operator
    CANCELLED = "cancelled"    # aborted by someone
    UNKNOWN = "unknown"        # the source could not say (unrecognised state, run not found, monitor outage)

    def __str__(self) -> str:
        return self.value

    @property
    def final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset({BatchState.SUCCEEDED, BatchState.PARTIAL, BatchState.FAILED, BatchState.CANCELLED})


def combine(request: BatchState, tasks: list[BatchState]) -> BatchState:
    """A run's state from its request state refined by its tasks' states.

    The request is authoritative once final. While it runs, one held task holds the run (someone must
    act), and a run whose tasks are all still pending is pending.
    """
    if request.final or request in (BatchState.HELD, BatchState.UNKNOWN) or not tasks:
        return request
    if BatchState.HELD in tasks:
        return BatchState.HELD
    if request is BatchState.RUNNING and all(t is BatchState.PENDING for t in tasks):
        return BatchState.PENDING
    if request is BatchState.PENDING and any(t not in (BatchState.PENDING, BatchState.UNKNOWN) for t in tasks):
        return BatchState.RUNNING
    return request
