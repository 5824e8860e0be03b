"""``show`` and ``logs``: one submission as the tracker holds it, and the logs of its failed jobs.

``show`` reads the submission's item (record, sync record, attachments), its campaign's items (for its
campaign item and the other attempts of its group: earlier ones, and the rescues that followed), and its
latest status note and failure summary (read back in bulk): about 4 requests on JIRA (one more search per
100 tickets of the campaign), a few queries on the local store. ``--live`` adds one status-source call
for the run, with every detail.

``logs`` lists the failed jobs of the submission's current run with their errors and log locations,
from the best record at hand: the full failure report sync attached (quantum provenance: every
failed quantum with its log files in the submit directory; HTCondor: the failed jobs' output files),
else the failure summary's example jobs (PanDA: log URLs); ``--live`` asks the status source
instead. ``--tail N`` reads the last N lines of each job's log: a file in the submit directory, or a
web address (a range request for its last ``status.tail_bytes`` bytes; PanDA's monitor host within
the shared request budget); a log that cannot be read gets one line saying why.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from ..config import Config, data_dir
from ..core import texts
from ..core.records import CampaignRecord, SubmissionRecord
from ..core.runs import RunStatus
from ..core.states import BatchState
from ..errors import InputError, JiraCampaignError, SourceError
from ..sources.bps.provenance import compact_data_id, report_name
from ..trackers.base import Item, Note, Tracker
from .groups import attempts_of, read_run
from .report import Failures, monitor_link, read_failures, span_text
from .status import GroupRow, Live, Target, tasks_from_note

__all__ = ["Shown", "LogFile", "FailedJob", "Logs", "show", "logs", "tail_log", "monitor_link", "MAX_DOWNLOAD"]

log = logging.getLogger(__name__)

#: a web log that ignores range requests is read at most this many times ``status.tail_bytes``
MAX_DOWNLOAD = 16
_ENDED = {BatchState.SUCCEEDED.value, BatchState.PARTIAL.value, BatchState.FAILED.value}


def _submission(target: Target) -> tuple[Item, SubmissionRecord]:
    item = target.item
    if target.kind != "submission" or not isinstance(item.record, SubmissionRecord):
        raise InputError("KEY|RUN", None, None, f"{target.text} is a campaign{' step' if target.step else ''} "
                         f"({target.campaign}), not a submission: name a submission's ticket key or its run name, or "
                         f"use 'jiracampaign status {target.text}'")
    return item, item.record


# ---- show -------------------------------------------------------------------------------------------------

@dataclass
class Shown:
    """One submission: its item, record, state, notes, files and links (and, with ``--live``, the run now).

    ``row.attempts`` is every attempt of its group, latest first (this one among them); ``row.verdict`` the
    decision on this attempt's run, if any, with its reason.
    """

    tracker: str
    key: str
    url: str
    record: SubmissionRecord
    row: GroupRow
    ticket_status: str
    campaign_key: str = ""
    campaign_url: str = ""
    attachments: list[str] = field(default_factory=list)
    file_attached: bool = False
    reports: list[str] = field(default_factory=list)  # full failure reports attached by sync
    status_note: Note | None = None
    failures: Failures | None = None
    monitor: str = ""
    live: RunStatus | None = None
    live_problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        record = self.record.to_json()
        record.pop("type", None)
        record.pop("version", None)
        record.pop("text_sha", None)
        out: dict[str, Any] = {
            "key": self.key, "url": self.url, "ident": self.record.submission, "campaign": self.record.campaign,
            "campaign_key": self.campaign_key or None, "campaign_url": self.campaign_url or None,
            "ticket_status": self.ticket_status, "record": record, "file_attached": self.file_attached,
            "attachments": self.attachments, "reports": self.reports, "monitor": self.monitor or None,
            "state": self.row.state, "unit": self.row.unit, "files": self.row.total, "done": self.row.finished,
            "failed": self.row.failed,
            "running": self.row.running, "changed": self.row.changed_at or None,
            "tasks": [asdict(t) for t in self.row.tasks],
            "verdict": self.row.verdict or None, "verdict_reason": self.row.verdict_reason or None,
            "attempts": [a.to_dict() for a in self.row.attempts],
            "status_note": self.status_note.url or None if self.status_note else None,
            "failures": None,
        }
        if self.failures is not None:
            out["failures"] = {"headline": self.failures.headline, "url": self.failures.url or None,
                               "groups": [{"count": g.count, "task": g.task, "error": g.error, "message": g.message,
                                           "also": g.also or None, "data_ids": g.data_ids, "more_ids": g.more_ids}
                                          for g in self.failures.groups]}
        if self.live is not None:
            out["live"] = self.live.to_dict()
        if self.live_problems:
            out["live_problems"] = self.live_problems
        return out


def show(tracker: Tracker, config: Config, target: Target, live: Live | None = None,
         now: datetime | None = None) -> Shown:
    """The submission ``target`` names, from the tracker (and the run now from its source with ``live``)."""
    now = now or datetime.now(timezone.utc)
    item, record = _submission(target)
    items = [i for i in tracker.find_items(record.campaign) if i.key != item.key] + [item]
    epic = next((i for i in items if isinstance(i.record, CampaignRecord)), None)
    if epic is None:  # not found by the campaign's search (yet): asked by name
        epics = tracker.list_campaigns([record.campaign], 0.0)
        epic = epics[0] if epics else None
    row = read_run(tracker, item, GroupRow)  # this attempt, whichever is the latest
    row.attempts = attempts_of(tracker, items, record)
    shown = Shown(tracker.describe(), item.key, tracker.url(item.key), record, row, item.status,
                  campaign_key=epic.key if epic else "", campaign_url=tracker.url(epic.key) if epic else "",
                  attachments=sorted(item.attachments), file_attached=record.file in item.attachments)
    if row.run_name:
        shown.reports = [name for name in (report_name(row.run_name), f"{row.run_name}.bps-report.json")
                         if name in item.attachments]
        shown.status_note = tracker.latest_notes([item.key], texts.STATUS_SLOT).get(item.key)
        row.tasks = tasks_from_note(shown.status_note, row.run_name, row)
        if item.sync is not None and item.sync.run_name == row.run_name and item.sync.failures:
            note = tracker.latest_notes([item.key], texts.failure_slot("")).get(item.key)
            shown.failures = read_failures(note, row.run_name) if note is not None else None
    shown.monitor = monitor_link(row, config.get("panda.monitor_url") or "", int(config.get("panda.days") or 30), now)
    if live is not None and row.run_name:
        answers = live.ask([row.ref()])
        shown.live = answers.get(row.run_name.casefold())
        shown.live_problems = list(live.problems) + [f"{run}: {what} not read" for run, what in live.deferred]
    return shown


# ---- logs -------------------------------------------------------------------------------------------------

@dataclass
class LogFile:
    """A log of a failed job: ``name`` (``stdout``, ``stderr``, ``log``, ``job page``) and where it is (a web
    address or a path)."""

    name: str
    where: str


@dataclass
class FailedJob:
    """A failed job (or quantum): its task, what it processed, its error, and its logs."""

    task: str
    job: str
    error: str
    message: str
    data_id: str = ""
    attempt: int | None = None
    site: str = ""
    files: list[LogFile] = field(default_factory=list)
    kind: str = "job"         # ``job`` (``job`` is its id), or ``quantum`` (``job`` is its quantum id)
    tail_from: str = ""       # the log whose end ``--tail`` prints
    tail: list[str] | None = None
    tail_note: str = ""       # why there is no tail, or what part of the log it is from


@dataclass
class Logs:
    """The failed jobs of a submission's current run, and where they were read from."""

    key: str
    url: str
    run_name: str
    wms: str
    origin: str  # what the jobs were read from, in words
    jobs: list[FailedJob] = field(default_factory=list)
    failed: int = 0  # failed jobs (or quanta) in all, as the origin counts them (more than listed when examples)
    notes: list[str] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        """Stable columns, one row per job (the logs joined as ``name=where`` pairs)."""
        return [{"key": self.key, "run": self.run_name, "task": j.task, "kind": j.kind, "job": j.job or None,
                 "data_id": j.data_id or None,
                 "attempt": j.attempt, "site": j.site or None, "error": j.error, "message": j.message,
                 "logs": " ".join(f"{f.name}={f.where}" for f in j.files) or None,
                 "tail": None if j.tail is None else "\n".join(j.tail), "tail_note": j.tail_note or None}
                for j in self.jobs]


def _from_provenance(report: dict) -> tuple[list[FailedJob], int]:
    quanta = list(report.get("failed") or [])
    if report.get("state") in _ENDED:  # quanta lost without a trace count as failed once the run ended
        quanta += list(report.get("unknown") or [])
    jobs = []
    for quantum in quanta:
        attempts = quantum.get("attempts") or []
        last = attempts[-1] if attempts else {}
        exception = last.get("exception") or {}
        error = str(exception.get("type") or str(quantum.get("status") or "unknown").lower())
        message = str(exception.get("message") or "")
        if not message:
            tail = [line for line in str(last.get("log_tail") or "").splitlines() if line.strip()]
            message = tail[-1].strip() if tail else "no exception recorded"
        files = [LogFile(name, str(last[name])) for name in ("stderr", "stdout") if last.get(name)]
        if not files:
            files = [LogFile("log", str(path)) for path in quantum.get("logs") or []]
        attempt = last.get("attempt")
        jobs.append(FailedJob(task=str(quantum.get("task") or ""), job=str(quantum.get("quantum_id") or ""),
                              error=error, message=message, data_id=compact_data_id(quantum.get("data_id") or {}),
                              attempt=attempt + 1 if isinstance(attempt, int) else None, files=files,
                              kind="quantum", tail_from=str(last.get("log") or (files[0].where if files else ""))))
    counts = report.get("counts") or {}
    return jobs, int(counts.get("failed") or len(jobs))


def _from_bps_report(report: dict) -> tuple[list[FailedJob], int]:
    jobs = []
    for job in report.get("problem_jobs") or []:
        files = [LogFile(name, str(job[name])) for name in ("stderr", "stdout", "log") if job.get(name)]
        state = str(job.get("state") or "FAILED")
        message = ("held by HTCondor: release or remove it (condor_release, condor_rm)" if state == "HELD"
                   else "the job failed; see its output")
        jobs.append(FailedJob(task=str(job.get("label") or ""), job=str(job.get("name") or job.get("wms_id") or ""),
                              error=state.lower(), message=message, files=files,
                              tail_from=str(job.get("stderr") or job.get("stdout") or "")))
    return jobs, int(report.get("problem_jobs_total") or len(jobs))


def _from_live(status: RunStatus) -> tuple[list[FailedJob], int]:
    jobs = []
    for group in status.failures:
        for example in group.examples:
            files = [LogFile(name, url) for name, url in example.links()]
            if example.url and example.url not in {f.where for f in files}:
                files.insert(0, LogFile("job page", example.url))
            quantum = bool(example.data_id) and not example.url  # from provenance: a quantum, its logs files
            jobs.append(FailedJob(task=group.label, job=example.id, error=group.error, message=group.message,
                                  data_id=example.data_id, attempt=example.attempt, site=example.site, files=files,
                                  kind="quantum" if quantum else "job",
                                  tail_from=example.log if quantum else example.stdout or example.log or example.stderr))
    return jobs, status.failed_jobs


def _from_note(failures: Failures) -> tuple[list[FailedJob], int]:
    """The example jobs of a failure summary read back: ``job N at SITE, attempt A: stdout · stderr · log``
    (links) or ``quantum DATA-ID, attempt A: log PATH``."""
    jobs = []
    for group in failures.groups:
        for detail in group.details:
            text = span_text(detail)
            if not text.startswith(("job ", "quantum ")):
                continue
            head, _, rest = text.partition(": ")
            links = [(t, url) for t, url in detail if url]
            page = next((url for t, url in links if t.startswith("job ")), "")
            files = [LogFile("job page", page)] if page else []
            files += [LogFile(t, url) for t, url in links if t in ("stdout", "stderr", "log")]
            if not links and rest.startswith("log "):
                files.append(LogFile("log", rest[len("log "):].strip()))
            words = head.split(", attempt ")
            attempt = int(words[1]) if len(words) > 1 and words[1].isdigit() else None
            who, _, site = words[0].partition(" at ")
            kind, _, ident = who.partition(" ")
            stdout = next((f.where for f in files if f.name == "stdout"), "")
            logged = next((f.where for f in files if f.name == "log"), "")
            jobs.append(FailedJob(task=group.task, job=ident if kind == "job" else "",
                                  data_id=ident if kind == "quantum" else "", error=group.error, message=group.message,
                                  attempt=attempt, site=site, files=files, kind=kind, tail_from=stdout or logged))
    return jobs, sum(g.count for g in failures.groups)


def logs(tracker: Tracker, config: Config, target: Target, task: str = "", tail: int = 0, live: Live | None = None,
         fetch: Callable[..., tuple[list[str] | None, str]] | None = None) -> Logs:
    """The failed jobs of the run of the submission ``target`` names (of task ``task`` only, when given), with
    their logs' last ``tail`` lines when ``tail`` > 0.

    Raises
    ------
    InputError
        ``target`` is not a submission, or its run was never submitted.
    """
    item, record = _submission(target)
    if record.run is None or not record.run.run_name:
        raise InputError("KEY|RUN", None, None, f"{item.key} ({item.ident}) was never submitted: it has no run, "
                         "so no logs")
    run = record.run
    out = Logs(item.key, tracker.url(item.key), run.run_name, run.wms, "")
    if live is not None:
        row = read_run(tracker, item, GroupRow)
        status = live.ask([row.ref()]).get(run.run_name.casefold())
        out.notes += live.problems + [f"{what} not read this time" for _, what in live.deferred]
        if status is None or status.state is BatchState.UNKNOWN:
            out.origin = f"the {status.source_label or status.source if status else 'status'} source (live)"
            out.notes.append(status.message if status is not None and status.message
                             else "the status source could not say anything about this run")
        else:
            out.origin = f"the {status.source_label or status.source} source, live"
            out.jobs, out.failed = _from_live(status)
            if out.failed > len(out.jobs):
                out.notes.append(f"{len(out.jobs)} example jobs of {out.failed} failed ones (examples per error)")
    else:
        _from_tracker(tracker, item, run.run_name, out)
    if task:
        labels = sorted({j.task for j in out.jobs})
        out.jobs = [j for j in out.jobs if j.task == task]
        if not out.jobs and labels:
            out.notes.append(f"no failed job of task {task}; failed tasks: {', '.join(labels)}")
    if tail > 0:
        cap = int(config.get("status.tail_bytes"))
        reader = fetch or _Fetcher(config)
        for job in out.jobs:
            if not job.tail_from:
                job.tail_note = "no log location is known for this job"
                continue
            job.tail, job.tail_note = reader(job.tail_from, tail, cap)
    return out


def _from_tracker(tracker: Tracker, item: Item, run_name: str, out: Logs) -> None:
    for name, reader in ((report_name(run_name), _from_provenance), (f"{run_name}.bps-report.json", _from_bps_report)):
        if name not in item.attachments:
            continue
        data = tracker.read_attachment(item.key, name)
        try:
            report = json.loads(data) if data else None
        except ValueError:
            report = None
        if isinstance(report, dict):
            out.origin = f"the failure report attached to {item.key} ({name})"
            out.jobs, out.failed = reader(report)
            return
        out.notes.append(f"the attached {name} cannot be read as JSON")
    synced = item.sync
    if synced is None or synced.run_name != run_name or not synced.failures:
        out.origin = "the ticket"
        out.notes.append("sync has seen no failed job in this run (yet): 'jiracampaign sync' reads it, --live asks "
                         "its status source now")
        return
    note = tracker.latest_notes([item.key], texts.failure_slot("")).get(item.key)
    failures = read_failures(note, run_name) if note is not None else None
    if failures is None:
        out.origin = "the ticket"
        out.notes.append("the ticket's failure summary is about another run; --live asks the status source")
        return
    out.origin = f"the failure summary on {item.key}"
    out.jobs, out.failed = _from_note(failures)
    if out.failed > len(out.jobs):
        out.notes.append(f"{len(out.jobs)} example jobs of {out.failed} failed ones (the summary shows examples per "
                         "error; --live asks the status source)")


# ---- reading the end of a log -----------------------------------------------------------------------------

def _last_lines(data: bytes, lines: int, cut: bool) -> list[str]:
    text = data.decode("utf-8", "replace").splitlines()
    if cut and text:
        text = text[1:]  # the first line read may be the end of a longer one
    return text[-lines:]


def _size(amount: int) -> str:
    return f"{amount / 1024 ** 2:.1f} MiB" if amount >= 1024 ** 2 else f"{amount / 1024:.0f} KiB"


def tail_log(where: str, lines: int, cap: int, get: Callable[..., Any] | None = None,
             budget: Callable[[str], None] | None = None, timeout: float = 30) -> tuple[list[str] | None, str]:
    """The last ``lines`` lines of a log (a path, or an http(s) address), reading at most ``cap`` bytes from
    its end (a server that ignores range requests is read up to `MAX_DOWNLOAD` times ``cap``).

    Returns ``(lines, note)``: the lines (`None` when the log cannot be read) and a note saying why it cannot
    be read, or which part of a large log the lines come from (empty otherwise).
    """
    if where.startswith(("http://", "https://")):
        return _tail_url(where, lines, cap, get, budget, timeout)
    path = Path(where)
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            start = max(0, size - cap)
            handle.seek(start)
            data = handle.read(cap)
    except OSError as exc:
        return None, f"not reachable: {where}: {exc.strerror or exc}"
    note = f"from the last {_size(cap)} of {_size(size)}" if start else ""
    return _last_lines(data, lines, bool(start)), note


def _tail_url(url: str, lines: int, cap: int, get: Callable[..., Any] | None,
              budget: Callable[[str], None] | None, timeout: float) -> tuple[list[str] | None, str]:
    import requests

    try:
        if budget is not None:
            budget(url)
        response = (get or requests.get)(url, headers={"Range": f"bytes=-{cap}"}, stream=True, timeout=timeout)
    except SourceError as exc:
        return None, f"not read: {url}: {exc}"
    except requests.RequestException as exc:
        return None, f"not reachable: {url}: {_why(exc, url, timeout)}"
    try:
        if response.status_code == 416:  # an empty log
            return [], ""
        if response.status_code not in (200, 206):
            return None, f"not reachable: {url}: HTTP {response.status_code}"
        limit = cap if response.status_code == 206 else cap * MAX_DOWNLOAD
        data, read, whole = b"", 0, True
        for chunk in response.iter_content(64 * 1024):
            data = (data + chunk)[-cap:] if response.status_code == 200 else data + chunk
            read += len(chunk)
            if read >= limit and response.status_code == 200:
                whole = False
                break
    except requests.RequestException as exc:
        return None, f"not reachable: {url}: {_why(exc, url, timeout)}"
    finally:
        response.close()
    if response.status_code == 206:
        total = str(response.headers.get("Content-Range") or "").rpartition("/")[2]
        cut = total.isdigit() and int(total) > len(data)
        return _last_lines(data[-cap:], lines, cut), (f"from the last {_size(cap)} of {_size(int(total))}" if cut
                                                      else "")
    if not whole:
        return _last_lines(data, lines, True), (f"the server sends the whole log: only its first "
                                                f"{_size(cap * MAX_DOWNLOAD)} were read")
    return _last_lines(data, lines, read > cap), (f"from the last {_size(cap)} of {_size(read)}" if read > cap else "")


def _why(exc: Exception, url: str, timeout: float) -> str:
    """Why a web log could not be read, in a few words."""
    import requests

    host = urlsplit(url).netloc
    if isinstance(exc, requests.Timeout):
        return f"no answer from {host} within {timeout:g} s"
    if isinstance(exc, requests.ConnectionError):
        return f"cannot connect to {host}"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:120] if text else ''}"


class _Fetcher:
    """`tail_log` with the PanDA monitor's request budget for logs on the monitor's own host."""

    def __init__(self, config: Config):
        self.config = config
        self.monitor = urlsplit(config.get("panda.monitor_url") or "").netloc
        self.timeout = float(config.get("panda.timeout") or 30)
        self._budget = None

    def take(self, url: str) -> None:
        if not self.monitor or urlsplit(url).netloc != self.monitor:
            return
        if self._budget is None:
            from ..sources.budget import RequestBudget

            self._budget = RequestBudget(data_dir() / "panda-budget.sqlite", self.monitor,
                                         self.config.get("panda.requests_per_hour"))
        self._budget.take()

    def __call__(self, where: str, lines: int, cap: int) -> tuple[list[str] | None, str]:
        try:
            return tail_log(where, lines, cap, budget=self.take, timeout=self.timeout)
        except JiraCampaignError as exc:
            return None, f"not read: {where}: {exc}"
