"""The PanDA monitor as a status source: few requests, planned inside the shared hourly budget.

One call to ``/idds/wfprogress/`` covers every run asked about. Its row for a run is reduced to a
digest; when the caller passes the digest it stored last time and it is unchanged, nothing more is
read for that run. Otherwise one ``/tasks/?reqid=a|b|...`` call per 50 runs reads per-task
progress, and only runs whose failed-file count changed get two ``/jobs/`` calls for their failed
jobs (capped): the final failures (the monitor's default view, which hides attempts superseded by a
retry) and every failed attempt (``mode=nodrop``), so retried attempts are reported apart; plus a
``/job/<id>/`` call for an example job whose log links need the Harvester record.

The detail requests (``/tasks/`` batches, each run's ``/jobs/`` and ``/job/`` reads) are independent:
``concurrency`` of them (``panda.concurrency``, default 3) are kept in flight at once. How many may be
sent is settled before the first one leaves (`RequestBudget.remaining`), and each request is still
taken from the budget one by one (`RequestBudget.take`, one SQLite transaction), so concurrent
requests never go over the hourly budget, in this process or with others.

A run's state is a function of the monitor's data: the request state refined by its tasks' states.
The task states last read are kept in the digest with the row they belong to, so a pass that does
not read the tasks (nothing changed, or the budget ran out) reaches the same state as the pass that
did. What the budget or a failing request does not allow this time is marked deferred on the run
(`RunStatus.deferred`) and asked again next time, never guessed; what was read is returned.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Callable, Sequence

from ...config import Config, data_dir
from ...core.runs import RunRef, RunStatus
from ...core.states import BatchState, combine
from ...errors import ConfigError, SourceError
from ..base import StatusSource
from ...pool import run_bounded
from ..budget import RequestBudget
from .client import NOT_FOUND, MonitorClient
from .parse import WfRow, as_int, group_failures, log_links, parse_task, parse_wfprogress, run_name_time

__all__ = ["PandaSource", "TASK_BATCH", "DIGEST_VERSION"]

TASK_BATCH = 50  # run ids per /tasks/ request (keeps URLs short and answers well under the 5000-task limit)
DIGEST_VERSION = "p2"  # p1 (no task states) is read as "changed": the tasks are read once more
LOG_DETAILS_PER_RUN = 3  # /job/<id>/ reads per run for log links missing from the job list
MAX_DAYS = 3650
_CODES = {BatchState.PENDING: "p", BatchState.RUNNING: "r", BatchState.SUCCEEDED: "s", BatchState.PARTIAL: "a",
          BatchState.FAILED: "f", BatchState.HELD: "h", BatchState.CANCELLED: "c", BatchState.UNKNOWN: "u"}
_STATES = {code: state for state, code in _CODES.items()}


def _digest(row: WfRow, failed: int, tasks: Sequence[BatchState] | None) -> str:
    """``p2:<row hash>:<failed>:<task states>``: the row, the failed count and the task states read with it."""
    return f"{DIGEST_VERSION}:{row.hash}:{failed}:{''.join(sorted({_CODES[t] for t in tasks or ()}))}"


def _split_digest(digest: str | None) -> tuple[str | None, int | None, list[BatchState]]:
    parts = (digest or "").split(":")
    if len(parts) != 4 or parts[0] != DIGEST_VERSION:
        return None, None, []
    return parts[1], as_int(parts[2]), [_STATES[c] for c in parts[3] if c in _STATES]


class _Stop(Exception):
    """A detail request failed: the details not yet read this pass are deferred."""


class PandaSource(StatusSource):
    """Runs on PanDA, as the BigPanDA monitor sees them.

    Parameters
    ----------
    client : `MonitorClient`
        HTTP to the monitor.
    days : `int`
        Smallest look-back window; widened to cover the oldest run's submit time.
    max_failed_jobs : `int`
        Failed jobs read per run (the failure summary shows groups and examples, not every job).
    username : `str`
        Restrict wfprogress to this submitter (empty: every user).
    clock : callable
        The current UTC time (tests pass their own).
    concurrency : `int`
        Detail requests in flight at once (1: one at a time).
    """

    name = "panda"
    label = "PanDA"
    handles = ("panda",)

    def __init__(self, client: MonitorClient, days: int = 30, max_failed_jobs: int = 100, username: str = "",
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc), concurrency: int = 3):
        self.client, self.days, self.max_failed_jobs, self.username, self.clock = (
            client, days, max_failed_jobs, username, clock)
        self.concurrency = max(1, int(concurrency))
        self._stopped = ""  # why detail requests stopped in this pass (empty: they did not)

    @classmethod
    def from_config(cls, config: Config, sleep: Callable[[float], None] | None = None, **kwargs) -> "PandaSource":
        url = config.get("panda.monitor_url")
        if not url:
            raise ConfigError(str(config.file or "config"), None, "panda.monitor_url",
                              "is empty: set it to the PanDA monitor's base URL, e.g. "
                              "https://usdf-panda-bigmon.slac.stanford.edu:8443")
        client = MonitorClient(url, timeout=config.get("panda.timeout"), max_retries=config.get("panda.max_retries"),
                               sleep=sleep, budget=None)
        client.budget = RequestBudget(data_dir() / "panda-budget.sqlite", client.host,
                                      config.get("panda.requests_per_hour"))
        return cls(client, days=config.get("panda.days"), max_failed_jobs=config.get("panda.max_failed_jobs"),
                   username=config.get("panda.username"), concurrency=config.get("panda.concurrency"), **kwargs)

    @property
    def requests_made(self) -> int:
        return self.client.requests_made

    def close(self) -> None:
        self.client.close()

    def ping(self) -> str:
        rows = self.client.get("/idds/wfprogress/", {"days": 1})
        if not isinstance(rows, list):
            raise SourceError(f"PanDA monitor at {self.client.base} answered wfprogress with something other than a list")
        left = self.client.remaining()
        return (f"PanDA monitor {self.client.base}: answering ({len(rows)} runs in the last day)"
                + (f"; {left} requests left in this hour's budget" if left is not None else ""))

    # ---- planning -------------------------------------------------------------------------------------
    def window_days(self, runs: Sequence[RunRef]) -> int:
        """Days to look back: at least ``days``, and enough to reach the oldest run's submit time (or, when
        not recorded, the time BPS wrote into its name)."""
        now = self.clock()
        times = [r.submitted or run_name_time(r.name) for r in runs]
        oldest = min((t for t in times if t), default=None)
        need = math.ceil((now - oldest).total_seconds() / 86400) + 1 if oldest else 0
        return max(self.days, min(need, MAX_DAYS))

    def _afford(self, wanted: int) -> int:
        left = self.client.remaining()
        return wanted if left is None else max(0, min(wanted, left))

    def _get(self, path: str, params: dict | None = None, **kwargs):
        """A detail request; once one fails, the pass reads no more details (they are deferred, not lost)."""
        if self._stopped:
            raise _Stop(self._stopped)
        try:
            return self.client.get(path, params, **kwargs)
        except SourceError as exc:
            self._stopped = str(exc)
            raise _Stop(self._stopped) from None

    # ---- the one entry point --------------------------------------------------------------------------
    def statuses(self, runs: Sequence[RunRef], detail: str = "changed") -> list[RunStatus]:
        if not runs:
            return []
        self._stopped = ""
        days = self.window_days(runs)
        since = (self.clock() - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")
        params = {"days": days}
        if self.username:
            params["username"] = self.username
        answer = self.client.get("/idds/wfprogress/", params)
        if not isinstance(answer, list):
            raise SourceError(f"PanDA monitor at {self.client.base} answered wfprogress with "
                              f"{type(answer).__name__}, not a list of runs")
        if not answer:  # the monitor's way of saying its database query failed
            return [RunStatus(name=r.name, source=self.name, source_label=self.label, state=BatchState.UNKNOWN, run_id=r.run_id,
                              message=f"the PanDA monitor listed no runs at all for the last {days} days: its database "
                                      "query probably failed (it answers [] then); state unknown, asking again next "
                                      "time") for r in runs]
        rows = parse_wfprogress(answer)
        by_id = {row.request_id: row for row in rows}
        by_name = {row.name.casefold(): row for row in rows}
        results: list[RunStatus] = []
        wanted: list[tuple[RunStatus, WfRow, RunRef]] = []
        for ref in runs:
            row = by_id.get(as_int(ref.run_id)) if ref.run_id else None
            row = row or by_name.get(ref.name.casefold())
            if row is None:
                results.append(RunStatus(name=ref.name, source=self.name, source_label=self.label, state=BatchState.UNKNOWN, run_id=ref.run_id,
                                         message=f"not among the PanDA monitor's runs of the last {days} days; if it "
                                                 "is older, look further back (jiracampaign panda --days N, or the "
                                                 "panda.days setting)"))
                continue
            previous_hash, _, previous_tasks = _split_digest(ref.digest)
            status = self._from_row(ref, row, days, previous_tasks if previous_hash else [])
            results.append(status)
            if detail == "all" or (detail == "changed" and previous_hash != row.hash):
                wanted.append((status, row, ref))
            else:
                status.changed = previous_hash != row.hash
                status.digest = ref.digest if not status.changed else None
        self._read_tasks(wanted, since)
        self._read_failures([w for w in wanted if w[0].detail], since, detail)
        return results

    def _from_row(self, ref: RunRef, row: WfRow, days: int, tasks: list[BatchState]) -> RunStatus:
        """What the run's row says, refined by the task states last read with this same row."""
        return RunStatus(name=ref.name, source=self.name, source_label=self.label,
                         state=combine(row.refined_state(), tasks), raw_state=row.status,
                         run_id=str(row.request_id), created=row.created, total=row.total, finished=row.finished,
                         failed=row.failed, running=row.running, split_known=not row.legacy,
                         url=self.client.link("/tasks/", {"reqid": row.request_id, "days": days}),
                         digest=_digest(row, row.failed, tasks))

    def _read_tasks(self, wanted: list[tuple[RunStatus, WfRow, RunRef]], since: str) -> None:
        batches = [wanted[i:i + TASK_BATCH] for i in range(0, len(wanted), TASK_BATCH)]
        affordable = self._afford(len(batches))
        run_bounded(lambda job: self._read_task_batch(job[1], since, job[0] < affordable),
                    list(enumerate(batches)), self.concurrency, name="panda-tasks")

    def _read_task_batch(self, batch: list[tuple[RunStatus, WfRow, RunRef]], since: str, affordable: bool) -> None:
        """One ``/tasks/`` request for up to `TASK_BATCH` runs (run in a worker thread: touches only its batch)."""
        try:
            if not affordable:
                raise _Stop("PanDA request budget")
            answer = self._get("/tasks/", {"reqid": "|".join(str(row.request_id) for _, row, _ in batch),
                                           "date_from": since})
            if not isinstance(answer, list):
                raise _Stop(f"PanDA monitor at {self.client.base} answered /tasks/ with "
                            f"{type(answer).__name__}, not a list of tasks")
        except _Stop as stop:
            for status, _, _ in batch:  # the state stays what the row and the last task states say
                status.defer("task details", str(stop))
            return
        by_request: dict[int, list[dict]] = {}
        for task in answer:
            if isinstance(task, dict):
                by_request.setdefault(as_int(task.get("reqid")), []).append(task)
        for status, row, ref in batch:
            tasks = [parse_task(t, status.name, self.client.base) for t in by_request.get(row.request_id, [])]
            tasks.sort(key=lambda t: (t.task_id or 0))
            status.tasks, status.detail = tasks, True
            if tasks:
                status.total = sum(t.total for t in tasks)
                status.finished = sum(t.finished for t in tasks)
                status.failed = sum(t.failed for t in tasks)
                running = [t.running for t in tasks if t.running is not None]
                status.running = sum(running) if running else status.running
                status.split_known = True
            elif not status.split_known:
                status.note("the monitor listed no tasks for this run, and its run list counts processed "
                            "inputs only: how many of them failed is unknown")
            states = [t.state for t in tasks]
            status.state = combine(row.refined_state(), states)
            status.digest = _digest(row, status.failed, states)

    def _read_failures(self, wanted: list[tuple[RunStatus, WfRow, RunRef]], since: str, detail: str) -> None:
        need = []
        for status, row, ref in wanted:
            failing = [t.task_id for t in status.tasks if t.task_id and (t.failed or t.state is BatchState.FAILED)]
            _, previous_failed, _ = _split_digest(ref.digest)
            if failing and (detail == "all" or previous_failed != status.failed):
                need.append((status, row, failing))
        affordable = self._afford(2 * len(need)) // 2  # final failures and every failed attempt: 2 requests a run
        run_bounded(lambda job: self._read_run_failures(*job[1], since, job[0] < affordable),
                    list(enumerate(need)), self.concurrency, name="panda-jobs")

    def _read_run_failures(self, status: RunStatus, row: WfRow, failing: list[int], since: str,
                           affordable: bool) -> None:
        """One run's failed jobs: two ``/jobs/`` reads, then log links (run in a worker thread)."""
        query = {"jeditaskid": "|".join(map(str, failing)), "jobstatus": "failed", "limit": self.max_failed_jobs,
                 "date_from": since}
        try:
            if not affordable:
                raise _Stop("PanDA request budget")
            final = self._jobs(query)  # the monitor hides attempts superseded by a retry
            every = "|".join(str(t.task_id) for t in status.tasks if t.task_id)
            attempts = self._jobs(dict(query, jeditaskid=every, mode="nodrop"))  # every failed attempt, every task
        except _Stop as stop:
            status.defer("failure details", str(stop))
            return
        labels = {t.task_id: t.label for t in status.tasks if t.task_id}
        finals = {as_int(j.get("pandaid")) for j in final}
        superseded = [j for j in attempts if as_int(j.get("pandaid")) not in finals]
        status.failures = group_failures(final, labels, self.client.base)
        status.retried = group_failures(superseded, labels, self.client.base)
        status.failed_jobs, status.retried_jobs, status.failures_read = len(final), len(superseded), True
        if len(final) >= self.max_failed_jobs or len(attempts) >= self.max_failed_jobs:
            status.note(f"failure summary covers the newest {self.max_failed_jobs} failed jobs "
                        "(panda.max_failed_jobs)")
        self._fill_harvester_logs(status)

    def _jobs(self, query: dict) -> list[dict]:
        answer = self._get("/jobs/", query)
        jobs = answer.get("jobs") if isinstance(answer, dict) else None
        if not isinstance(jobs, list):
            raise _Stop(f"PanDA monitor at {self.client.base} answered /jobs/ without a job list")
        return [j for j in jobs if isinstance(j, dict)]

    def _fill_harvester_logs(self, status: RunStatus) -> None:
        """Example jobs without a log URL in ``pilotid`` get one from the Harvester record on their detail page."""
        lacking = [job for group in status.failures for job in group.examples if not job.stdout and not job.log]
        affordable = self._afford(min(len(lacking), LOG_DETAILS_PER_RUN))
        for number, job in enumerate(lacking[:LOG_DETAILS_PER_RUN]):
            try:
                if number >= affordable:
                    raise _Stop("PanDA request budget")
                answer = self._get(f"/job/{job.id}/", html_means_missing=True)
            except _Stop as stop:
                status.defer("log links", str(stop))
                return
            if answer is not NOT_FOUND and isinstance(answer, dict) and isinstance(answer.get("job"), dict):
                job.stdout, job.stderr, job.log = log_links(answer["job"])
