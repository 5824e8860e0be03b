"""BPS's own view of runs as a status source: the WMS plug-ins' ``get_status``/``report``, and quantum provenance.

A run is followed through the plug-in its ``wmsServiceClass`` names (``htcondor``, ``parsl``; see
`settings.WMS_CLASSES`), in the Rubin stack's own interpreter (`bridge.StackBridge`): one ``status``
call of the helper (`stack/stack_wms.py`) answers all the runs of one `BpsSource.statuses` call, in
one process.

- **HTCondor** reads the DAGMan files in the run's submit directory (no daemon needed). The helper
  asks ``get_status`` first and reads the full ``report`` only when the state differs from the one
  stored in the run's digest (or when every detail is asked): job counts per state and per task
  label, exit codes, the final job's state, the failed jobs and their output files. HTCondor calls a
  run FAILED as soon as one job failed; with a successful final job it is a partial run
  (`states.run_state`).
- **Parsl** has no ``get_status`` nor ``report``, and its ``bps submit`` blocks until the run has
  ended: its runs are followed through their quantum provenance (`provenance`), which decides their
  state.
- Runs that just reached a final state also get their tasks and failures from quantum provenance
  (quanta, data IDs, exceptions, logs) when it can be read; the plug-in's state stands.

The digest of a run (``b1:<WmsStates name>:<report hash>:<state>``) keeps the plug-in's last state,
the last report read and the state derived from it, so a run that did not change gets the same
answer without a report, and an idle sync of runs that ended makes no helper call at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from ...core.runs import FailureExample, FailureGroup, RunRef, RunStatus, TaskProgress
from ...core.states import BatchState, combine
from ...errors import SourceError
from ..base import StatusSource
from . import provenance
from .bridge import StackBridge, StackUnavailable
from .settings import PROVENANCE_ONLY, SETTINGS, WMS_CLASSES
from .states import WMS_STATE_VALUES, from_wms_state, job_bucket, run_state

if TYPE_CHECKING:  # pragma: no cover
    from ...config import Config

__all__ = ["BpsSource", "DIGEST_VERSION", "MAX_FAILED_JOBS"]

log = logging.getLogger(__name__)

DIGEST_VERSION = "b1"
MAX_FAILED_JOBS = 100  # failed jobs listed per run by the helper (the counts cover them all)
EXAMPLES_PER_GROUP = 3
SERVICE_LABELS = ("pipetaskInit", "finalJob")  # jobs of BPS itself, not of a pipeline task
_CODES = {BatchState.PENDING: "p", BatchState.RUNNING: "r", BatchState.SUCCEEDED: "s", BatchState.PARTIAL: "a",
          BatchState.FAILED: "f", BatchState.HELD: "h", BatchState.CANCELLED: "c", BatchState.UNKNOWN: "u"}
_STATES = {code: state for state, code in _CODES.items()}


@dataclass(frozen=True)
class _Digest:
    """What the digest of a run remembers: the plug-in's state, the report read with it, our state."""

    wms_state: str = ""
    report: str = ""
    state: BatchState | None = None

    @classmethod
    def parse(cls, text: str | None) -> "_Digest":
        parts = (text or "").split(":")
        if len(parts) != 4 or parts[0] != DIGEST_VERSION or parts[3] not in _STATES:
            return cls()
        return cls(parts[1], parts[2], _STATES[parts[3]])

    def text(self) -> str:
        return f"{DIGEST_VERSION}:{self.wms_state}:{self.report}:{_CODES[self.state or BatchState.UNKNOWN]}"


class BpsSource(StatusSource):
    """Runs on HTCondor and Parsl, as BPS's own WMS plug-ins and quantum provenance see them.

    Parameters
    ----------
    bridge : `StackBridge`
        How to reach the Rubin stack (its interpreter, or this process when it can import it).
    max_failed_jobs : `int`
        Failed jobs listed per run (with their output files).
    """

    name = "bps"
    label = "BPS"
    handles = tuple(WMS_CLASSES)
    settings = SETTINGS

    def __init__(self, bridge: StackBridge, max_failed_jobs: int = MAX_FAILED_JOBS):
        self.bridge = bridge
        self.max_failed_jobs = max_failed_jobs
        self.report_calls = 0      # plug-in report() calls made by the helper (get_status ones below)
        self.status_calls = 0
        self.provenance_reads = 0  # runs whose quantum provenance the helper read
        self.stack_states: dict[str, int] = {}  # the stack's own WmsStates table, from the last answer

    @classmethod
    def from_config(cls, config: "Config", **kwargs) -> "BpsSource":
        from ...childenv import secret_variables

        bridge = StackBridge(python=config.get("bps.python") or None, command=config.get("bps.command") or "bps",
                             timeout=float(config.get("bps.helper_timeout")), secrets=secret_variables(config))
        return cls(bridge, **kwargs)

    @property
    def requests_made(self) -> int:
        """Helper processes run (or in-process helper calls made) so far."""
        return self.bridge.calls

    def ping(self) -> str:
        answer = self.bridge.call("ping")
        packages = answer.get("packages") or {}
        plugins = ", ".join(f"{name} {version}" for name, version in sorted(packages.items())
                            if name.startswith("lsst-ctrl-bps"))
        return (f"Rubin stack at {answer.get('python')} (Python {answer.get('python_version')}): "
                f"{plugins or 'no lsst-ctrl-bps package found'}")

    # ---- the one entry point ----------------------------------------------------------------------
    def statuses(self, runs: Sequence[RunRef], detail: str = "changed") -> list[RunStatus]:
        results: list[RunStatus] = []
        asked: list[tuple[RunRef, RunStatus, _Digest]] = []
        for ref in runs:
            status = RunStatus(name=ref.name, source=self.name, source_label=self.label, state=BatchState.UNKNOWN,
                               run_id=ref.run_id)
            results.append(status)
            previous = _Digest.parse(ref.digest)
            wms = (ref.wms or "").casefold()
            if previous.state is not None and previous.state.final and detail != "all":
                _unchanged(status, ref, previous)  # an ended run stays as it ended: nothing to ask
            elif wms not in WMS_CLASSES:
                status.message = (f"the BPS source follows {', '.join(WMS_CLASSES)} runs, not '{ref.wms}' "
                                  "(sync.sources names the source for each)")
            elif not ref.submit_dir and (wms in PROVENANCE_ONLY or not ref.run_id):
                status.message = ("its submit directory is not recorded, and BPS reads runs from there: record it "
                                  f"with 'jiracampaign record KEY --run-name NAME --wms {wms} --submit-dir DIR --force'")
            else:
                asked.append((ref, status, previous))
        if asked:
            try:
                self._ask(asked, detail)
            except StackUnavailable as exc:
                raise StackUnavailable(f"cannot follow {len(asked)} run{'s' if len(asked) != 1 else ''} on "
                                       f"{', '.join(WMS_CLASSES)}: {exc}") from None
        return results

    def _ask(self, asked: list[tuple[RunRef, RunStatus, _Digest]], detail: str) -> None:
        """One ``status`` helper call for all runs: the plug-ins' ``get_status`` (and ``report`` where the
        state changed), and quantum provenance for Parsl runs and for runs that just ended."""
        request = [{"name": ref.name, "wms_class": WMS_CLASSES[(ref.wms or "").casefold()], "run_id": ref.run_id,
                    "submit_dir": ref.submit_dir, "previous": previous.wms_state or None,
                    "provenance_only": (ref.wms or "").casefold() in PROVENANCE_ONLY}
                   for ref, _, previous in asked]
        answer = self.bridge.call("status", runs=request, details=detail, max_failed_jobs=self.max_failed_jobs,
                                  provenance=True)
        self.stack_states = {str(k): int(v) for k, v in (answer.get("states") or {}).items()}
        if self.stack_states and self.stack_states != WMS_STATE_VALUES:
            log.warning("the Rubin stack's WmsStates differ from the ones jiracampaign knows: %s", self.stack_states)
        calls = answer.get("calls") or {}
        self.status_calls += int(calls.get("get_status") or 0)
        self.report_calls += int(calls.get("report") or 0)
        self.provenance_reads += int(calls.get("provenance") or 0)
        runs = answer.get("runs") or []
        if len(runs) != len(asked):
            raise SourceError(f"the Rubin stack helper answered for {len(runs)} runs instead of {len(asked)}")
        for (ref, status, previous), one in zip(asked, runs):
            if one.get("implemented", True):
                _from_plugin(status, ref, previous, one)
                if "provenance" in one:  # it just ended: tasks and failures per quantum, the plug-in's state stands
                    provenance.apply_result(status, provenance.result_from_answer(ref.name, one["provenance"],
                                                                                  ended=True), set_state=False)
            else:
                _from_provenance(status, ref, one.get("provenance") or {})


def _from_provenance(status: RunStatus, ref: RunRef, answer: dict) -> None:
    """A run followed through its quantum provenance alone (Parsl): state, tasks and failures from it."""
    ended = ref.returned is not None  # Parsl's bps submit returns when the run has ended
    result = provenance.result_from_answer(ref.name, answer, ended=ended)
    provenance.apply_result(status, result)
    if not result.ok:
        return  # unknown, with the reason noted; asked again next time
    status.raw_state = status.raw_state or f"provenance: {result.state.value}"
    status.digest = _Digest("-", result.digest[:12], status.state).text()
    status.changed = status.digest != ref.digest


def _unchanged(status: RunStatus, ref: RunRef, previous: _Digest) -> None:
    """A run whose digest says nothing changed: same state, same digest, no details read."""
    status.state = previous.state or BatchState.UNKNOWN
    status.raw_state = previous.wms_state if previous.wms_state != "-" else ""
    status.digest, status.changed, status.detail = ref.digest, False, False


def _from_plugin(status: RunStatus, ref: RunRef, previous: _Digest, answer: dict) -> None:
    """Fill ``status`` from the helper's answer for one run."""
    wms_state = str(answer.get("state") or "UNKNOWN")
    message = str(answer.get("message") or "").strip()
    status.raw_state = wms_state
    if answer.get("error"):
        status.message = f"the BPS {ref.wms} plug-in could not read this run: {answer['error']}"
        return
    report = answer.get("report")
    if report is None:  # unchanged since the last report: keep what it said
        if previous.state is not None and previous.wms_state == wms_state:
            _unchanged(status, ref, previous)
            return
        status.state = from_wms_state(wms_state)
        status.digest = _Digest(wms_state, previous.report or "-", status.state).text()
        status.changed = status.digest != ref.digest
        return
    if not report.get("found"):
        status.state = BatchState.UNKNOWN
        why = report.get("error") or report.get("message") or message
        status.message = f"BPS has no report of this run ({_first_line(why)})" if why else "BPS has no report of this run"
        return
    _from_report(status, report)
    status.detail = True
    status.digest = _Digest(wms_state, _hash(report), status.state).text()
    status.changed = status.digest != ref.digest
    if message:
        status.note(_first_line(message))


def _from_report(status: RunStatus, report: dict) -> None:
    """Counts, tasks, state and failures of a run from its plug-in's report."""
    summary: dict[str, dict[str, int]] = report.get("job_summary") or {}
    order = [part.split(":")[0] for part in str(report.get("run_summary") or "").split(";") if part]
    labels = order + [label for label in summary if label not in order]
    tasks = [_task(label, summary.get(label) or {}) for label in labels if label in summary]
    buckets = _buckets(report.get("job_state_counts") or {})
    status.total = int(report.get("total_jobs") or sum(buckets.values()))
    status.finished, status.failed, status.running = buckets["finished"], buckets["failed"], buckets["running"]
    status.tasks = tasks
    status.run_id = str(report.get("wms_id") or status.run_id or "") or None
    pipeline = [t for t in tasks if t.label not in SERVICE_LABELS]
    state = run_state(report.get("state"), report.get("final_job"),
                      failed_jobs=sum(t.failed for t in pipeline), succeeded_jobs=sum(t.finished for t in pipeline))
    status.state = combine(state, [t.state for t in tasks])
    if status.state is BatchState.PARTIAL and from_wms_state(report.get("state")) is BatchState.FAILED:
        status.note("HTCondor calls it FAILED, but its final job succeeded: the outputs of the jobs that succeeded "
                    "are registered")
    status.failures = _failures(report, summary)
    status.failed_jobs = sum(g.count for g in status.failures)
    status.failures_read = True
    if status.failures:
        status.report, status.report_name = report, f"{status.name}.bps-report.json"
    listed, total = len(report.get("problem_jobs") or []), int(report.get("problem_jobs_total") or 0)
    if total > listed:
        status.note(f"the failure summary lists {listed} of {total} failed or held jobs")
    for line in str(report.get("specific_info") or "").splitlines():
        if "held" in line.lower():
            status.note(line.strip())


def _buckets(counts: dict[str, int]) -> dict[str, int]:
    out = dict.fromkeys(("pending", "running", "finished", "failed", "cancelled"), 0)
    for name, number in counts.items():
        out[job_bucket(name)] += int(number)
    return out


def _task(label: str, counts: dict[str, int]) -> TaskProgress:
    """One task label's jobs: how many ended well, failed (or were pruned), run; and its state."""
    buckets = _buckets(counts)
    total = sum(buckets.values())
    if counts.get("HELD"):
        state = BatchState.HELD
    elif buckets["running"]:
        state = BatchState.RUNNING
    elif buckets["pending"]:
        state = BatchState.RUNNING if buckets["finished"] or buckets["failed"] else BatchState.PENDING
    elif buckets["failed"]:
        state = BatchState.PARTIAL if buckets["finished"] else BatchState.FAILED
    elif buckets["cancelled"]:
        state = BatchState.CANCELLED
    elif total and buckets["finished"] == total:
        state = BatchState.SUCCEEDED
    else:
        state = BatchState.UNKNOWN
    raw = ", ".join(f"{name} {number}" for name, number in sorted(counts.items()))
    return TaskProgress(label=label, task_id=None, state=state, raw_state=raw, total=total,
                        finished=buckets["finished"], failed=buckets["failed"], running=buckets["running"])


def _failures(report: dict, summary: dict[str, dict[str, int]]) -> list[FailureGroup]:
    """Failed, pruned and held jobs grouped per task label and exit code, with example jobs and their files."""
    jobs_by_label: dict[str, list[dict]] = {}
    for job in report.get("problem_jobs") or []:
        jobs_by_label.setdefault(str(job.get("label") or ""), []).append(job)
    codes_by_label: dict[str, list[int]] = report.get("exit_code_summary") or {}
    groups: list[FailureGroup] = []
    for label, counts in summary.items():
        failed, pruned, held = counts.get("FAILED", 0), counts.get("PRUNED", 0), counts.get("HELD", 0)
        examples = [_example(job) for job in jobs_by_label.get(label, []) if job.get("state") == "FAILED"]
        if failed:
            codes = [int(c) for c in codes_by_label.get(label) or []]
            known = sorted(set(codes), key=lambda c: (-codes.count(c), c))
            for number, code in enumerate(known):
                groups.append(FailureGroup(label=label, kind="exit", code=str(code), message=_exit_meaning(code),
                                           count=codes.count(code),
                                           examples=examples[:EXAMPLES_PER_GROUP] if number == 0 else []))
            rest = failed - len(codes)
            if rest > 0:
                groups.append(FailureGroup(label=label, kind="failed", code="", count=rest,
                                           message="the job failed; its exit code is not in the report",
                                           examples=[] if known else examples[:EXAMPLES_PER_GROUP]))
        if held:
            examples = [_example(job) for job in jobs_by_label.get(label, []) if job.get("state") == "HELD"]
            groups.append(FailureGroup(label=label, kind="held", code="", count=held,
                                       message="held by HTCondor: release or remove it (condor_release, condor_rm)",
                                       examples=examples[:EXAMPLES_PER_GROUP]))
        if pruned:
            groups.append(FailureGroup(label=label, kind="pruned", code="", count=pruned,
                                       message="never ran: a job it needs failed"))
    return groups


def _exit_meaning(code: int) -> str:
    if code in (1, 2):  # what pipetask exits with when a task raises (BPS's retryUnlessExit default)
        return f"the pipeline task failed (exit code {code}); see the job's output"
    if code > 128:
        return f"killed by signal {code - 128} (exit code {code}), often for memory"
    return f"the job exited with code {code}; see the job's output"


def _example(job: dict) -> FailureExample:
    stdout, stderr = str(job.get("stdout") or ""), str(job.get("stderr") or "")
    return FailureExample(id=str(job.get("name") or job.get("wms_id") or ""), label=str(job.get("label") or ""),
                          site="", attempt=None, url=stdout or str(job.get("log") or ""), stdout=stdout,
                          stderr=stderr if stderr != stdout else "", log=str(job.get("log") or ""))


def _hash(report: dict) -> str:
    """What of a report makes the run's note change: counts, exit codes, the final job, the failed jobs."""
    keep = {k: report.get(k) for k in ("state", "job_state_counts", "job_summary", "exit_code_summary", "final_job")}
    keep["jobs"] = sorted(str(j.get("name")) for j in report.get("problem_jobs") or [])
    return hashlib.sha1(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:12]


def _first_line(text: Any) -> str:
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    return lines[0] if lines else ""
