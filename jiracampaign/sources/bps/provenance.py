"""Failure summaries from quantum provenance, whatever WMS ran the jobs (our side: no ``lsst`` import).

The stack helper's ``provenance`` op (`stack/stack_provenance.py`) runs the graph aggregator in
dry-run mode on a run's predicted graph and answers, per run, task counts and the failed, blocked,
caveat and recovered quanta with their data IDs, exceptions per attempt, peak memory and job log
files. This module turns that answer into `jiracampaign.core.runs` objects.

API (used by the BPS status source, `jiracampaign.sources.bps.source`)::

    results = read_provenance(bridge, refs, max_quanta=1000, mock_storage_classes=None, repo=None)
    # -> {run name: ProvenanceResult}; one helper call for all refs; a ref without a submit dir,
    #    or a run the helper could not read, gives a result with ``ok`` false and ``error`` set.
    #    Raises SourceError (StackUnavailable) when the helper itself cannot run.
    apply_provenance([(ref, status), ...], results, set_state=None)
    # fills each RunStatus from its result (see `apply_result`)
    apply_result(status, result, set_state=None)
    # tasks (TaskProgress per label, counts in quanta), totals, failures (FailureGroup per task,
    # exception type and message shape), failed_jobs, retried (attempts that failed and then
    # succeeded), report / report_name (the full JSON report to attach), detail; the state when
    # ``set_state`` is true, or when it is None and the status has no state yet (UNKNOWN).

`result_from_answer(name, answer)` is the pure conversion (tested on hand-written JSON).

A run's state from provenance: quanta not run yet and no sign that the run ended (its final job has
not run, and the caller did not say it ended) -> RUNNING; every quantum succeeded (caveats
included) -> SUCCEEDED; none did -> FAILED; else PARTIAL. Once a run has ended, quanta that left no
trace (UNKNOWN: killed, or never started) count as failed.

Failure groups: quanta of one task whose last attempt raised the same exception type with the same
message *shape* (`message_shape`: data IDs, UUIDs, hex ids and numbers masked). A quantum without
an exception is grouped under its status (``aborted``, ``unknown``) with the last lines of its log
as the message, so the known-errors table can recognise ``Killed`` or ``std::bad_alloc`` there.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from ...core.runs import FailureExample, FailureGroup, RunRef, RunStatus, TaskProgress
from ...core.states import BatchState
from .bridge import StackBridge

__all__ = ["ProvenanceResult", "read_provenance", "apply_provenance", "apply_result", "result_from_answer",
           "message_shape", "compact_data_id", "report_name", "REPORT_FORMAT"]

log = logging.getLogger(__name__)

REPORT_FORMAT = "jiracampaign-provenance/1"
EXAMPLES = 3          # example quanta per failure group
GROUP_DATA_IDS = 20   # data IDs kept on a group (the report has them all)
_DIMENSION_ORDER = ("tract", "patch", "visit", "exposure", "detector", "band", "physical_filter", "day_obs", "skymap")

_DATA_ID = re.compile(r"\{[^{}]*\b\w+: [^{}]*\}")   # {instrument: 'Toy', detector: 2, visit: 1003, ...}
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE)
_HEX = re.compile(r"\b0x[0-9a-f]+\b|(?<![0-9a-z])(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{6,}(?![0-9a-z])",
                  re.IGNORECASE)
_NUMBER = re.compile(r"\d+(\.\d+)?")
_SIGNS = re.compile(r"killed|signal|sigkill|bad_alloc|memory|exit (code|status)|error|exception", re.IGNORECASE)


def message_shape(message: str) -> str:
    """A message with its data IDs, UUIDs, hex ids and numbers masked: what makes two messages "the same".

    >>> message_shape("Simulated failure: task=isr dataId={instrument: 'Toy', detector: 1, exposure: 2002}")
    'Simulated failure: task=isr dataId={…}'
    """
    text = _DATA_ID.sub("{…}", message)
    text = _UUID.sub("#", text)
    return _NUMBER.sub("#", _HEX.sub("#", text))


def compact_data_id(data_id: dict[str, Any]) -> str:
    """``visit=1003 detector=2``: a data ID's values, instrument left out, the usual dimensions first."""
    keys = [k for k in data_id if k != "instrument"]
    keys.sort(key=lambda k: (_DIMENSION_ORDER.index(k) if k in _DIMENSION_ORDER else len(_DIMENSION_ORDER), k))
    return " ".join(f"{k}={data_id[k]}" for k in keys)


def report_name(run_name: str) -> str:
    """The file name of a run's provenance report on its ticket."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", run_name) or "run"
    return f"provenance-{safe}.json"


@dataclass
class ProvenanceResult:
    """One run's provenance, converted.

    ``ok`` false: the run could not be read (``error`` says why) and nothing else is set.
    ``counts`` adds the task counts up (``expected``, ``successful``, ``caveats``, ``failed``,
    ``blocked``, ``unknown``); ``peak_memory`` is per task label, in bytes.
    """

    name: str
    ok: bool
    error: str = ""
    state: BatchState = BatchState.UNKNOWN
    tasks: list[TaskProgress] = field(default_factory=list)
    failures: list[FailureGroup] = field(default_factory=list)
    failed_quanta: int = 0
    retried: list[FailureGroup] = field(default_factory=list)
    retried_attempts: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    peak_memory: dict[str, float] = field(default_factory=dict)
    final_job: str = ""
    report: dict[str, Any] | None = None
    report_name: str = ""
    digest: str = ""

    @property
    def ended(self) -> bool:
        return self.state in (BatchState.SUCCEEDED, BatchState.PARTIAL, BatchState.FAILED)


# ---- reading --------------------------------------------------------------------------------------------

def read_provenance(bridge: StackBridge, refs: Sequence[RunRef], *, max_quanta: int | None = None,
                    mock_storage_classes: bool | None = None, repo: str | None = None,
                    ended: dict[str, bool] | None = None) -> dict[str, ProvenanceResult]:
    """The provenance of ``refs``, read by one helper call.

    Parameters
    ----------
    bridge : `StackBridge`
        The way to the Rubin stack.
    refs : `list` [`RunRef`]
        The runs; each needs its ``submit_dir``.
    max_quanta : `int`, optional
        Quanta listed per run and kind (failed, blocked, ...); the counts cover all of them.
    mock_storage_classes : `bool`, optional
        Load the mock storage classes of ``lsst.pipe.base.tests.mocks`` (default: when the pipeline
        uses them).
    repo : `str`, optional
        Butler repository for all runs (default: the one each graph was built from).
    ended : `dict` [`str`, `bool`], optional
        Run name -> whether the caller knows the run has ended (Parsl: ``bps submit`` returned).
        Default: ``ref.wms == "parsl"`` and ``ref.returned`` set.

    Returns
    -------
    results : `dict` [`str`, `ProvenanceResult`]
        By run name, one per ref.

    Raises
    ------
    SourceError
        The helper could not run or failed as a whole (`StackUnavailable` when there is no stack).
    """
    results: dict[str, ProvenanceResult] = {}
    asked = []
    for ref in refs:
        if not ref.submit_dir:
            results[ref.name] = ProvenanceResult(ref.name, False, error="its submit directory is not recorded")
            continue
        run: dict[str, Any] = {"name": ref.name, "submit_dir": ref.submit_dir}
        if repo:
            run["repo"] = repo
        if mock_storage_classes is not None:
            run["mock_storage_classes"] = mock_storage_classes
        asked.append((ref, run))
    if not asked:
        return results
    request: dict[str, Any] = {"runs": [run for _, run in asked]}
    if max_quanta:
        request["max_quanta"] = max_quanta
    answer = bridge.call("provenance", **request).get("runs") or {}
    for ref, _ in asked:
        one = answer.get(ref.name)
        if one is None:
            results[ref.name] = ProvenanceResult(ref.name, False, error="the stack helper did not answer for it")
            continue
        done = (ended or {}).get(ref.name, ref.wms == "parsl" and ref.returned is not None)
        results[ref.name] = result_from_answer(ref.name, one, ended=done)
    return results


# ---- converting ----------------------------------------------------------------------------------------

def _sorted_quanta(quanta: Iterable[dict], tasks: list[str]) -> list[dict]:
    order = {label: i for i, label in enumerate(tasks)}
    return sorted(quanta, key=lambda q: (order.get(q.get("task"), len(order)), str(q.get("task")),
                                         compact_data_id(q.get("data_id") or {}), str(q.get("quantum_id"))))


def _last(quantum: dict) -> dict:
    attempts = quantum.get("attempts") or []
    return attempts[-1] if attempts else {}


def _why(quantum: dict) -> tuple[str, str]:
    """``(kind, message)`` of a quantum's final failure: its exception, else its status and log tail."""
    last = _last(quantum)
    exception = last.get("exception") or {}
    if exception.get("type"):
        return str(exception["type"]), str(exception.get("message") or "")
    kind = str(quantum.get("status") or "unknown").lower()
    tail = [line.strip() for line in str(last.get("log_tail") or "").splitlines() if line.strip()]
    telling = [line for line in tail if _SIGNS.search(line)]
    if telling:
        return kind, telling[-1]
    if kind == "unknown":
        return kind, "no exception, log or metadata recorded (killed, or never started)"
    return kind, "no exception recorded"


def _example(quantum: dict) -> FailureExample:
    last = _last(quantum)
    logs = quantum.get("logs") or []
    stderr = str(last.get("stderr") or next((p for p in logs if p.endswith((".stderr", ".err"))), ""))
    stdout = str(last.get("stdout") or next((p for p in logs if p.endswith((".stdout", ".out"))), ""))
    attempt = last.get("attempt")
    return FailureExample(id=str(quantum.get("quantum_id") or ""), label=str(quantum.get("task") or ""), site="",
                          attempt=attempt + 1 if isinstance(attempt, int) else None, url="",
                          stdout=stdout, stderr=stderr, log=str(last.get("log") or stderr or stdout),
                          data_id=compact_data_id(quantum.get("data_id") or {}))


def _group(quanta: Iterable[dict], examples: int) -> tuple[list[FailureGroup], list[dict]]:
    groups: dict[tuple, FailureGroup] = {}
    members: dict[tuple, list[dict]] = {}
    for quantum in quanta:
        kind, message = _why(quantum)
        shape = message_shape(message)
        key = (str(quantum.get("task") or ""), kind, shape)
        group = groups.get(key)
        if group is None:
            group = groups[key] = FailureGroup(label=key[0], kind=kind, code="", message=message, shape=shape)
            members[key] = []
        group.count += 1
        members[key].append(quantum)
        data_id = compact_data_id(quantum.get("data_id") or {})
        if len(group.data_ids) < GROUP_DATA_IDS:
            group.data_ids.append(data_id)
        if len(group.examples) < examples:
            group.examples.append(_example(quantum))
    ordered = sorted(groups, key=lambda k: (-groups[k].count, k))
    summary = [{"task": k[0], "kind": k[1], "message": groups[k].message, "shape": k[2], "count": groups[k].count,
                "data_ids": [compact_data_id(q.get("data_id") or {}) for q in members[k]],
                "quanta": [q.get("quantum_id") for q in members[k]]} for k in ordered]
    return [groups[k] for k in ordered], summary


def _retried(quanta: Iterable[dict], examples: int) -> tuple[list[FailureGroup], int]:
    """Failed attempts of quanta that succeeded later, grouped like failures (counts are attempts)."""
    groups: dict[tuple, FailureGroup] = {}
    total = 0
    for quantum in quanta:
        for attempt in (quantum.get("attempts") or [])[:-1]:
            if attempt.get("status") == "SUCCESSFUL":
                continue
            exception = attempt.get("exception") or {}
            kind = str(exception.get("type") or str(attempt.get("status") or "unknown").lower())
            message = str(exception.get("message") or "")
            key = (str(quantum.get("task") or ""), kind, message_shape(message))
            group = groups.setdefault(key, FailureGroup(label=key[0], kind=kind, code="", message=message,
                                                        shape=key[2]))
            group.count += 1
            total += 1
            if len(group.data_ids) < GROUP_DATA_IDS:
                group.data_ids.append(compact_data_id(quantum.get("data_id") or {}))
            if len(group.examples) < examples:
                group.examples.append(_example(quantum))
    return sorted(groups.values(), key=lambda g: (-g.count, g.label, g.kind)), total


def _task_state(row: dict, running: bool) -> BatchState:
    expected, done = row["expected"], row["finished"]
    if running and row["unknown"]:
        return BatchState.RUNNING if done or row["failed"] else BatchState.PENDING
    if done >= expected:
        return BatchState.SUCCEEDED
    return BatchState.FAILED if done == 0 else BatchState.PARTIAL


def result_from_answer(name: str, answer: dict[str, Any], *, ended: bool | None = None,
                       examples: int = EXAMPLES) -> ProvenanceResult:
    """Convert the helper's answer for one run (see `stack_provenance`) into a `ProvenanceResult`.

    Parameters
    ----------
    name : `str`
        The run name.
    answer : `dict`
        The helper's entry for the run.
    ended : `bool`, optional
        Whether the run is known to have ended (default: its final job ran).
    examples : `int`
        Example quanta kept per failure group.
    """
    if not answer.get("ok"):
        kind = answer.get("kind") or "error"
        return ProvenanceResult(name, False, error=f"{kind}: {answer.get('error') or 'no detail'}")
    final_job = str((answer.get("final_job") or {}).get("state") or "")
    ended = bool(ended) or final_job in ("succeeded", "failed")
    labels = [str(t.get("label")) for t in answer.get("tasks") or []]
    rows = []
    for task in answer.get("tasks") or []:
        row = {k: int(task.get(k) or 0) for k in ("expected", "successful", "caveats", "failed", "blocked",
                                                 "aborted", "aborted_success", "unknown")}
        row["label"] = str(task.get("label"))
        row["finished"] = row["successful"] + row["aborted_success"]
        row["failed"] = row["failed"] + row["aborted"] + (row["unknown"] if ended else 0)
        rows.append(row)
    unknown = sum(r["unknown"] for r in rows)
    running = unknown > 0 and not ended
    counts = {k: sum(r[k] for r in rows) for k in ("expected", "finished", "caveats", "failed", "blocked", "unknown")}
    if running:
        state = BatchState.RUNNING
    elif counts["finished"] >= counts["expected"]:
        state = BatchState.SUCCEEDED
    elif counts["finished"] == 0:
        state = BatchState.FAILED
    else:
        state = BatchState.PARTIAL
    tasks = []
    for row in rows:
        words = [f"{row['finished']} succeeded"]
        words += [f"{row[k]} {k}" for k in ("caveats", "failed", "blocked") if row[k]]
        if running and row["unknown"]:
            words.append(f"{row['unknown']} not run yet")
        tasks.append(TaskProgress(label=row["label"], task_id=None, state=_task_state(row, running),
                                  raw_state=", ".join(words), total=row["expected"], finished=row["finished"],
                                  failed=row["failed"], running=None))
    failed = _sorted_quanta(answer.get("failed") or [], labels)
    lost = _sorted_quanta(answer.get("unknown") or [], labels) if ended else []
    failures, group_summary = _group(failed + lost, examples)
    recovered = _sorted_quanta(answer.get("recovered") or [], labels)
    retried, retried_attempts = _retried(recovered, examples)
    peak = {str(t.get("label")): t["peak_memory"] for t in answer.get("tasks") or [] if t.get("peak_memory")}
    truncated = answer.get("truncated") or {}
    failed_quanta = counts["failed"]
    report = {
        "format": REPORT_FORMAT, "run": name, "state": state.value, "final_job": answer.get("final_job"),
        "qgraph": answer.get("qgraph"), "repo": answer.get("repo"), "output_run": answer.get("output_run"),
        "counts": counts, "peak_memory": peak, "tasks": answer.get("tasks") or [], "groups": group_summary,
        "failed": failed, "unknown": _sorted_quanta(answer.get("unknown") or [], labels),
        "blocked": _sorted_quanta(answer.get("blocked") or [], labels),
        "caveats": _sorted_quanta(answer.get("caveats") or [], labels), "recovered": recovered,
        "truncated": truncated,
    }
    digest_parts = [state.value, final_job, *(f"{r['label']}:{r['expected']}:{r['finished']}:{r['failed']}:"
                                              f"{r['blocked']}:{r['unknown']}:{r['caveats']}" for r in rows),
                    *(f"{g.label}|{g.kind}|{g.shape}|{g.count}" for g in failures)]
    digest = hashlib.sha256("\x1f".join(digest_parts).encode()).hexdigest()[:16]
    return ProvenanceResult(name, True, state=state, tasks=tasks, failures=failures, failed_quanta=failed_quanta,
                            retried=retried, retried_attempts=retried_attempts, counts=counts, peak_memory=peak,
                            final_job=final_job, report=report, report_name=report_name(name), digest=digest)


# ---- applying ---------------------------------------------------------------------------------------------

def apply_result(status: RunStatus, result: ProvenanceResult | None, set_state: bool | None = None) -> None:
    """Fill ``status`` from a run's provenance.

    Parameters
    ----------
    status : `RunStatus`
        Filled in place: tasks, totals, failures, retried attempts, the report to attach, ``detail``;
        a note says what provenance could not read.
    result : `ProvenanceResult` or `None`
        The run's provenance (`None`: not asked).
    set_state : `bool`, optional
        Whether provenance decides the run's state; default: only when the status has none (UNKNOWN).
    """
    if result is None:
        return
    if not result.ok:
        status.note(f"quantum provenance not read: {result.error}")
        return
    if set_state or (set_state is None and status.state is BatchState.UNKNOWN):
        status.state = result.state
        if not status.raw_state:
            status.raw_state = f"provenance: {result.state.value}"
    status.tasks = list(result.tasks)
    status.total = result.counts.get("expected", 0)
    status.finished = result.counts.get("finished", 0)
    status.failed = result.counts.get("failed", 0)
    status.running = None
    status.failures = list(result.failures)
    status.failed_jobs = result.failed_quanta
    status.failures_read = True
    status.retried = list(result.retried)
    status.retried_jobs = result.retried_attempts
    status.split_known = True
    status.detail = True
    if result.counts.get("blocked"):
        status.note(f"{result.counts['blocked']} quanta blocked by upstream failures")
    if result.counts.get("caveats"):
        status.note(f"{result.counts['caveats']} quanta succeeded with caveats")
    if result.final_job == "failed":
        status.note("the final job (aggregation into the repository) failed")
    if result.report is not None:
        status.report = result.report
        status.report_name = result.report_name


def apply_provenance(wanted: Sequence[tuple[RunRef, RunStatus]], results: dict[str, ProvenanceResult],
                     set_state: bool | None = None) -> None:
    """`apply_result` for each ``(ref, status)`` with the result of its run name."""
    for ref, status in wanted:
        apply_result(status, results.get(ref.name), set_state)

