"""BPS's own state vocabulary (``lsst.ctrl.bps.WmsStates``) and how it maps onto `~jiracampaign.core.states.BatchState`.

Every WMS plug-in of BPS reports runs and jobs in ``WmsStates``; their values double as the exit
codes of ``bps status --id RUN`` (``SUCCEEDED`` is 0, so a finished good run exits 0). This module
is the single place they are translated, as ``sources/panda/states.py`` is for PanDA's. The helper
sends the stack's own ``WmsStates`` table with every ``status`` answer, and the tests compare it
with `WMS_STATE_VALUES`.

One rule is BPS-specific: HTCondor calls a run FAILED as soon as one job failed, even when the
final job (which registers the outputs) succeeded. Such a run ended with some work done and some
failed, which is what `BatchState.PARTIAL` means (PanDA's SubFinished).
"""

from __future__ import annotations

from ...core.states import BatchState

__all__ = ["WMS_STATE_VALUES", "WMS_RUN_STATES", "WMS_JOB_BUCKETS", "from_wms_state", "from_exit_code",
           "job_bucket", "run_state"]

_S = BatchState

#: ``WmsStates`` name -> value (and ``bps status`` exit code), as in lsst.ctrl.bps.wms_service.
WMS_STATE_VALUES: dict[str, int] = {
    "SUCCEEDED": 0, "UNKNOWN": 10, "MISFIT": 11, "UNREADY": 12, "READY": 13, "PENDING": 14, "RUNNING": 15,
    "DELETED": 16, "HELD": 17, "FAILED": 19, "PRUNED": 20,
}

#: ``WmsStates`` name of a whole run -> its state. MISFIT ("determined, but fits no other state") and
#: UNKNOWN say nothing certain about a run, so they stay unknown; a run whose jobs wait for their
#: parents (UNREADY, READY) has not started.
WMS_RUN_STATES: dict[str, BatchState] = {
    "UNKNOWN": _S.UNKNOWN, "MISFIT": _S.UNKNOWN,
    "UNREADY": _S.PENDING, "READY": _S.PENDING, "PENDING": _S.PENDING,
    "RUNNING": _S.RUNNING,
    "SUCCEEDED": _S.SUCCEEDED,
    "FAILED": _S.FAILED, "PRUNED": _S.FAILED,
    "DELETED": _S.CANCELLED,
    "HELD": _S.HELD,
}

#: ``WmsStates`` name of one job -> the count it adds to (as ``PANDA_JOB_STATES`` does for PanDA jobs).
#: A PRUNED job never runs because a job it needs failed: it is a failure of the run, counted as failed.
#: MISFIT is a job whose PRE or POST script runs: in progress.
WMS_JOB_BUCKETS: dict[str, str] = {
    "UNREADY": "pending", "READY": "pending", "PENDING": "pending", "UNKNOWN": "pending",
    "RUNNING": "running", "MISFIT": "running", "HELD": "running",
    "SUCCEEDED": "finished",
    "FAILED": "failed", "PRUNED": "failed",
    "DELETED": "cancelled",
}

_BY_VALUE = {value: name for name, value in WMS_STATE_VALUES.items()}


def from_wms_state(name: str | None) -> BatchState:
    """State of a run from its ``WmsStates`` name (any case); unknown for anything else."""
    return WMS_RUN_STATES.get(str(name or "").upper(), BatchState.UNKNOWN)


def from_exit_code(code: int) -> BatchState:
    """State of a run from the exit code of ``bps status --id RUN`` (the ``WmsStates`` value)."""
    return from_wms_state(_BY_VALUE.get(code))


def job_bucket(name: str | None) -> str:
    """Which count a job in ``WmsStates`` ``name`` adds to (``pending`` for anything unrecognised)."""
    return WMS_JOB_BUCKETS.get(str(name or "").upper(), "pending")


def run_state(wms_state: str | None, final_job: str | None = None, failed_jobs: int = 0,
              succeeded_jobs: int = 0) -> BatchState:
    """A run's state from what its plug-in said, with BPS's own rule for partial runs.

    Parameters
    ----------
    wms_state : `str`
        The run's ``WmsStates`` name (``get_status`` or the report).
    final_job : `str`, optional
        The ``WmsStates`` name of its final job, when the report was read.
    failed_jobs, succeeded_jobs : `int`
        Pipeline jobs (neither ``pipetaskInit`` nor ``finalJob``) that failed or were pruned, and
        that succeeded, when the report was read.

    Returns
    -------
    state : `BatchState`
        FAILED with a successful final job and some successful pipeline jobs is PARTIAL; SUCCEEDED
        with failed jobs is PARTIAL too; otherwise the mapping of ``wms_state``.
    """
    state = from_wms_state(wms_state)
    if state is BatchState.FAILED and str(final_job or "").upper() == "SUCCEEDED" and succeeded_jobs > 0:
        return BatchState.PARTIAL
    if state is BatchState.SUCCEEDED and failed_jobs:
        return BatchState.PARTIAL  # never claim full success while jobs failed
    return state
