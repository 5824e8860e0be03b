"""Turn the PanDA monitor's JSON (both the 2021-22 and the current shape) into `RunStatus` pieces.

Pure functions, no HTTP: tested against the real recorded responses in ``../shared/data``.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from typing import Any, Iterable

from ...core.runs import FailureExample, FailureGroup, TaskProgress
from ...core.states import BatchState
from .states import from_idds_processing, from_idds_request, from_jedi_task

__all__ = [
    "as_int",
    "parse_time",
    "WfRow",
    "parse_wfprogress",
    "run_name_time",
    "task_label",
    "parse_task",
    "job_errors",
    "component_name",
    "COMPONENT_ALIASES",
    "error_shape",
    "log_links",
    "failed_job",
    "group_failures",
]

_BPS_STAMP = re.compile(r"_\d{8}T\d{6}Z_", re.IGNORECASE)  # BPS run names end in a UTC timestamp
_IDS_SUFFIX = re.compile(r"_(\d+)_(\d+)$")  # iDDS appends _<request id>_<transform id> to task names
_NEW_STYLE = re.compile(r"^\d+_(.+?)(?:_\d+)?$")  # ctrl_bps_panda >= 2023: {NN}_{label}_{chunk}


def as_int(value: Any) -> int:
    """Counts arrive as ints, floats, numeric strings, ``""``, ``None`` or ``"nan"``: always an int."""
    if value is None or value == "":
        return 0
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0
    return 0 if number != number else int(round(number))  # NaN


def parse_time(value: Any) -> datetime | None:
    """Monitor datetimes: ``2022-01-27T21:01:31`` or ``2022-01-27 21:01:31[.ffffff]``, naive UTC."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


_WF_HASHED = ("r_status", "total_tasks", "tasks_statuses", "remaining_files", "processed_files", "processing_files",
              "total_files", "finished_files", "failed_files", "released_files", "unreleased_files", "total_jedi_files")


class WfRow:
    """One wfprogress row (one run), whichever shape it came in."""

    def __init__(self, row: dict[str, Any]):
        self.raw = row
        self.request_id = as_int(row.get("request_id"))
        self.name = str(row.get("r_name") or "")
        self.status = str(row.get("r_status") or "")
        self.state = from_idds_request(self.status)
        self.created = parse_time(row.get("created_at"))
        self.legacy = "finished_files" not in row  # 2021-22: processed_files counts, no percentages
        self.task_states = {str(k): as_int(v) for k, v in (row.get("tasks_statuses") or {}).items()}
        self.total = as_int(row.get("total_files"))
        self.running = as_int(row.get("processing_files"))
        if self.legacy:
            self.finished, self.failed = as_int(row.get("processed_files")), 0
        else:  # percentages of the JEDI input files
            base = as_int(row.get("total_jedi_files")) or self.total
            self.finished = as_int(float(row.get("finished_files") or 0) * base / 100)
            self.failed = as_int(float(row.get("failed_files") or 0) * base / 100)
        links = str(row.get("tasks_links_all") or "")
        self.task_ids = [int(t) for t in links.split("|") if t.strip().isdigit()]
        blob = json.dumps({k: row.get(k) for k in _WF_HASHED}, sort_keys=True, default=str).casefold()
        self.hash = hashlib.sha1(blob.encode()).hexdigest()[:10]

    def refined_state(self) -> BatchState:
        """The request state, held if one of its tasks is suspended while it runs."""
        if self.state is BatchState.RUNNING and any(
                from_idds_processing(name) is BatchState.HELD and count for name, count in self.task_states.items()):
            return BatchState.HELD
        return self.state


_RUN_STAMP = re.compile(r"(\d{8}T\d{6})Z", re.IGNORECASE)


def run_name_time(name: str) -> datetime | None:
    """The UTC time BPS wrote into a run name (``..._20261124T101010Z``, any case), or `None`."""
    stamps = _RUN_STAMP.findall(name or "")
    if not stamps:
        return None
    try:
        return datetime.strptime(stamps[-1].upper(), "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def parse_wfprogress(rows: Any) -> list[WfRow]:
    """Every row of a wfprogress answer (a bare array)."""
    return [WfRow(row) for row in rows if isinstance(row, dict)]


def task_label(taskname: str, run_name: str = "") -> str:
    """Pipeline task label of a PanDA task: its name without the run name and the iDDS ids.

    ``<run>_<label>_<request id>_<transform id>``; newer ctrl_bps_panda puts ``NN_<label>_<chunk>``
    in the middle. The run name is matched without regard to case (the 2022 monitor lower-cased it).
    """
    rest = taskname
    if run_name and taskname.casefold().startswith(run_name.casefold() + "_"):
        rest = taskname[len(run_name) + 1:]
    else:
        stamp = None
        for stamp in _BPS_STAMP.finditer(taskname):
            pass
        if stamp is not None:
            rest = taskname[stamp.end():]
    rest = _IDS_SUFFIX.sub("", rest)
    newer = _NEW_STYLE.match(rest)
    return (newer.group(1) if newer else rest) or taskname


def parse_task(row: dict[str, Any], run_name: str, monitor: str) -> TaskProgress:
    """A ``/tasks/`` row as `TaskProgress` (input-file counts from ``dsinfo``, running from the input dataset)."""
    info = row.get("dsinfo") if isinstance(row.get("dsinfo"), dict) else row
    task_id = as_int(row.get("jeditaskid")) or None
    total, finished, failed = (as_int(info.get(k)) for k in ("nfiles", "nfilesfinished", "nfilesfailed"))
    running = None
    for dataset in row.get("datasets") or []:
        if dataset.get("type") in ("input", "pseudo_input") and not dataset.get("masterid") and "nfilesused" in dataset:
            used = as_int(dataset.get("nfilesused"))
            running = max(0, used - as_int(dataset.get("nfilesfinished")) - as_int(dataset.get("nfilesfailed")))
            break
    status = str(row.get("status") or "")
    return TaskProgress(label=task_label(str(row.get("taskname") or ""), run_name), task_id=task_id,
                        state=from_jedi_task(status), raw_state=status, total=total, finished=finished,
                        failed=failed, running=running, url=f"{monitor}/task/{task_id}/" if task_id else "")


# component, code field, diagnostic field: the monitor's own names and order (BigPanDA's job error
# components, as it writes them in ``errorinfo`` and error summaries: ``exe:137``, ``transformation:1``)
_ERROR_FIELDS = (
    ("brokerage", "brokerageerrorcode", "brokerageerrordiag"),
    ("ddm", "ddmerrorcode", "ddmerrordiag"),
    ("exe", "exeerrorcode", "exeerrordiag"),
    ("jobdispatcher", "jobdispatchererrorcode", "jobdispatchererrordiag"),
    ("pilot", "piloterrorcode", "piloterrordiag"),
    ("sup", "superrorcode", "superrordiag"),
    ("taskbuffer", "taskbuffererrorcode", "taskbuffererrordiag"),
    ("transformation", "transexitcode", "transformerrordiag"),
)
#: other spellings of the components (newer monitors and older notes) -> the name used here
COMPONENT_ALIASES = {"dataservice": "ddm", "executor": "exe", "supervisor": "sup", "transform": "transformation",
                     "trans": "transformation"}
_ERRORINFO = re.compile(r"([a-z]+):(-?\d+)(?:\s|$)")


def component_name(name: str) -> str:
    """A job error component as the monitor names it (``executor`` -> ``exe``, ``transform`` -> ``transformation``)."""
    folded = name.strip().casefold()
    return COMPONENT_ALIASES.get(folded, folded)


def _errorinfo(job: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(component, code, diagnostic)`` pieces of the monitor's ``errorinfo`` summary string."""
    text = str(job.get("errorinfo") or "") + " "
    marks = list(_ERRORINFO.finditer(text))
    return [(component_name(mark.group(1)), mark.group(2),
             " ".join(text[mark.end():following.start() if following else len(text)].split())[:300])
            for mark, following in zip(marks, marks[1:] + [None])]


def job_errors(job: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Every error a failed job carries, as ``(component, code, diagnostic)``, in the monitor's order.

    A component whose own diagnostic column is empty (``transexitcode`` has none) keeps the text the
    monitor gave it in ``errorinfo`` (or, as the monitor says, "Unknown transformation exit code N").
    """
    summary = {(c, n): d for c, n, d in _errorinfo(job)}
    found = []
    for component, code_key, diag_key in _ERROR_FIELDS:
        code = as_int(job.get(code_key))
        if code:
            diag = " ".join(str(job.get(diag_key) or "").split())[:300] or summary.get((component, str(code)), "")
            if not diag and component == "transformation":  # the monitor's own words when it knows no more
                diag = f"Unknown transformation exit code {code}"
            found.append((component, str(code), diag))
    return found or _errorinfo(job)


_HEX = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"  # a UUID
                  r"|\b0x[0-9a-f]+\b"                                                  # 0x7f3a
                  r"|(?<![0-9a-z])(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{6,}(?![0-9a-z])",  # digits and letters
                  re.IGNORECASE)
_NUMBER = re.compile(r"\d+")


def error_shape(diagnostic: str) -> str:
    """A diagnostic with its numbers and hex ids blanked: messages differing only in those are one error."""
    return _NUMBER.sub("#", _HEX.sub("#", diagnostic))


def _siblings(url: str, suffix: str, names: Iterable[str]) -> list[str]:
    stem = url[: -len(suffix)]
    return [stem + name for name in names]


def log_links(job: dict[str, Any]) -> tuple[str, str, str]:
    """``(stdout, stderr, log)`` URLs of a job, derived as the monitor does (empty when unknown).

    1. ``pilotid`` starting with ``http`` (``<url>|<pilot type>|<version>``): next to ``pilotlog.txt``
       are ``payload.stdout`` and ``payload.stderr``; otherwise ``.out`` pairs with ``.err`` and ``.log``.
    2. else the Harvester ``batchlog`` (job detail only): ``.log`` is stdout, ``.err`` stderr, ``.out`` the wrapper.
    """
    pilot = str(job.get("pilotid") or "").split("|", 1)[0].strip()
    if pilot.startswith("http"):
        if pilot.endswith("pilotlog.txt"):
            stdout, stderr = _siblings(pilot, "pilotlog.txt", ("payload.stdout", "payload.stderr"))
            return stdout, stderr, pilot
        if pilot.endswith(".out"):
            stdout, stderr = _siblings(pilot, ".out", (".log", ".err"))
            return stdout, stderr, pilot
        return "", "", pilot
    harvester = job.get("harvesterInfo") if isinstance(job.get("harvesterInfo"), dict) else {}
    batchlog = str(harvester.get("batchlog") or "").strip()
    if batchlog.startswith("http") and batchlog.endswith(".log"):
        stderr, wrapper = _siblings(batchlog, ".log", (".err", ".out"))
        return batchlog, stderr, wrapper
    return "", "", batchlog if batchlog.startswith("http") else ""


def failed_job(job: dict[str, Any], labels: dict[int, str], monitor: str) -> FailureExample:
    """A failed job with its monitor page and log links."""
    pandaid = as_int(job.get("pandaid"))
    label = labels.get(as_int(job.get("jeditaskid"))) or task_label(str(job.get("jobname") or "").rsplit(".", 1)[0])
    stdout, stderr, log = log_links(job)
    return FailureExample(id=str(pandaid), label=label, site=str(job.get("computingsite") or ""),
                     attempt=as_int(job.get("attemptnr")) if job.get("attemptnr") not in (None, "") else None,
                     url=f"{monitor}/job?pandaid={pandaid}", stdout=stdout, stderr=stderr, log=log)


def group_failures(jobs: Iterable[dict[str, Any]], labels: dict[int, str], monitor: str,
                   examples: int = 3) -> list[FailureGroup]:
    """Failed jobs grouped by the same error (label, component, code, diagnostic up to numbers and hex
    ids, other errors), largest group first."""
    groups: dict[tuple, FailureGroup] = {}
    for job in jobs:
        item = failed_job(job, labels, monitor)
        errors = job_errors(job) or [("unknown", "", "no error code recorded")]
        component, code, diag = errors[0]
        also = ", ".join(f"{c}:{n}" for c, n, _ in errors[1:])
        shape = error_shape(diag)
        key = (item.label, component, code, shape, also)
        group = groups.get(key)
        if group is None:
            group = groups[key] = FailureGroup(label=item.label, kind=component, code=code, message=diag, also=also,
                                               shape=shape)
        group.count += 1
        if len(group.examples) < examples:
            group.examples.append(item)
    return sorted(groups.values(), key=lambda g: (-g.count, g.label, g.kind, g.code))
