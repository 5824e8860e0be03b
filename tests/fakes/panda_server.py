"""A fake BigPanDA monitor served over HTTP on loopback, with the real one's quirks.

It serves ``/idds/wfprogress/``, ``/tasks/``, ``/task/<id>/``, ``/jobs/`` and ``/job/<id>/`` as the
monitor does (``../shared/reference/panda-monitor.md``):

- JSON only with the ``json`` query key (or an exact ``Accept: application/json``); otherwise a
  302 to ``/login/``; any ``Authorization`` header is rejected with 401;
- wfprogress in the current shape (original case, percentages) or the 2021-22 shape (every value
  lower-cased, ``tasks_links`` pipe-joined, processed counts), honouring only ``days``;
- ``/tasks/`` windowed on ``modificationtime`` (7 days unless ``days``/``date_from``; ``reqid`` does
  not widen it, ``jeditaskid`` does), 400 for a non-integer id, ``%`` in a name or a bad date;
- ``/jobs/`` hiding retried attempts unless ``mode=nodrop``;
- an unknown task or job id answers an HTML page with status 200;
- a per-client hourly quota answered with 429 and ``{"error": ...}`` (``{"message": ...}`` before
  2025-10), an injected database failure answering ``[]``, injected 500/503/lost responses;
- datetimes in both formats (space and ``T``) within one object, numbers as strings.

Scenarios are built with `add_run` and `progress`; recorded real rows can be loaded verbatim.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable
from urllib.parse import parse_qs, quote, urlsplit

from tests.fakes.loopback import Loopback

# JEDI task status -> iDDS processing status name (the wfprogress tasks_statuses keys), as iDDS's PanDA
# work plug-in maps them (get_processing_status_from_panda_status): a scouting task is only "Submitted",
# an exhausted one "Failed" and a paused one "SubFinished" there; only the task list tells them apart
PROCESSING = {"registered": "Submitting", "defined": "Submitting", "assigning": "Submitting", "ready": "Submitted",
              "pending": "Submitted", "scouting": "Submitted", "scouted": "Submitted", "prepared": "Submitted",
              "running": "Running", "toretry": "Running", "throttled": "Running", "done": "Finished",
              "finished": "SubFinished", "paused": "SubFinished", "failed": "Failed", "aborted": "Failed",
              "exhausted": "Failed", "broken": "Broken"}
# job error columns as the monitor names them in ``errorinfo`` (BigPanDA's job error components)
ERROR_COMPONENTS = (("brokerage", "brokerageerrorcode", "brokerageerrordiag"), ("ddm", "ddmerrorcode", "ddmerrordiag"),
                    ("exe", "exeerrorcode", "exeerrordiag"),
                    ("jobdispatcher", "jobdispatchererrorcode", "jobdispatchererrordiag"),
                    ("pilot", "piloterrorcode", "piloterrordiag"), ("sup", "superrorcode", "superrordiag"),
                    ("taskbuffer", "taskbuffererrorcode", "taskbuffererrordiag"),
                    ("transformation", "transexitcode", None))
HTML = b"<!DOCTYPE html><html><head><title>PanDA monitor</title></head><body>%s</body></html>"


def space(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S")


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace(" ", "T")).replace(tzinfo=timezone.utc)


@dataclass
class Fault:
    path: str  # regex searched in the path
    kind: str  # "429", "429-message", "500", "503", "lost", "dbfail", "302" (a login redirect)
    times: int = 1
    retry_after: str | None = "2"


class FakeBigPanda(Loopback):
    """The monitor's state and its HTTP front end.

    Parameters
    ----------
    shape : `str`
        ``current`` or ``legacy`` (2021-22) wfprogress rows.
    quota : `int`
        Requests per client per rolling hour before 429 (rejected requests do not count).
    now : callable
        The monitor's clock (UTC).
    latency : `float`
        Seconds added to every answer (benchmarks).
    """

    def __init__(self, shape: str = "current", quota: int = 1000, now: Callable[[], datetime] | None = None,
                 latency: float = 0.0):
        self.shape, self.quota, self.latency = shape, quota, latency
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.runs: list[dict] = []     # wfprogress rows (built ones get their counts from their tasks)
        self.tasks: dict[int, dict] = {}
        self.jobs: dict[int, dict] = {}
        self.request_ids = itertools.count(6000)
        self.task_ids = itertools.count(90000)
        self.transform_ids = itertools.count(30000)
        self.panda_ids = itertools.count(7000000)
        self.faults: list[Fault] = []
        self.log: list[dict] = []
        self.counted: list[datetime] = []
        self.lock = threading.RLock()

    # ---- life cycle -------------------------------------------------------------------------
    def start(self) -> "FakeBigPanda":
        return self.serve(_Handler)

    def inject(self, path: str, kind: str, times: int = 1, retry_after: str | None = "2") -> None:
        self.faults.append(Fault(path, kind, times, retry_after))

    def requests(self, path: str = "") -> list[dict]:
        return [r for r in self.log if re.search(path, r["path"])]

    # ---- scenario building ------------------------------------------------------------------
    def add_run(self, name: str, labels: dict[str, int], status: str = "Transforming", created: datetime | None = None,
                username: str = "jdoe", site: str = "SLAC_Rubin", request_id: int | None = None) -> dict:
        """A BPS run: one iDDS request and one JEDI task per label with that many input files."""
        created = created or self.now()
        run = {"request_id": request_id or next(self.request_ids), "r_status": status, "created_at": space(created),
               "r_name": name, "username": username, "site": site, "cloud": "US", "_tasks": []}
        for label, nfiles in labels.items():
            task_id = next(self.task_ids)
            self.tasks[task_id] = {
                "jeditaskid": task_id, "reqid": run["request_id"], "status": "defined", "superstatus": "defined",
                "taskname": f"{name}_{label}_{run['request_id']}_{next(self.transform_ids)}",
                "username": "iDDS", "site": site, "creationdate": space(created), "starttime": space(created),
                "modificationtime": space(created), "statechangetime": space(created), "endtime": None,
                "errordialog": "", "nfiles": nfiles, "nfilesfinished": 0, "nfilesfailed": 0, "_running": 0,
                "_files": itertools.count(1)}
            run["_tasks"].append(task_id)
        self.runs.insert(0, run)  # newest request first, as the monitor lists them
        return run

    def run(self, name: str) -> dict:
        return next(r for r in self.runs if r["r_name"] == name)

    def task(self, name: str, label: str) -> dict:
        run = self.run(name)
        return next(self.tasks[t] for t in run["_tasks"] if self.tasks[t]["taskname"].startswith(f"{name}_{label}_"))

    def progress(self, name: str, label: str, finished: int | None = None, failed: int | None = None,
                 running: int | None = None, status: str | None = None, error: dict | None = None,
                 logs: str = "pilot", retried: int = 0) -> None:
        """Move one task on: counts, JEDI status, and a failed job per newly failed file.

        ``error`` holds the job's error columns (``piloterrorcode``, ``piloterrordiag``, ``transexitcode``,
        ...); ``logs`` is ``pilot`` (log URL in pilotid), ``harvester`` (batch log on the detail page
        only) or ``none``; ``retried`` adds that many failed attempts later retried successfully
        (hidden unless ``mode=nodrop``).
        """
        with self.lock:
            task = self.task(name, label)
            now = self.now()
            if failed is not None and failed > task["nfilesfailed"]:
                for _ in range(failed - task["nfilesfailed"]):
                    self._job(task, "failed", error or {}, logs, attempt=1 + retried, file_id=next(task["_files"]))
            for _ in range(retried):
                file_id = next(task["_files"])
                self._job(task, "failed", error or {}, logs, attempt=1, file_id=file_id)
                self._job(task, "finished", {}, logs, attempt=2, file_id=file_id)
            for key, value in (("nfilesfinished", finished), ("nfilesfailed", failed), ("_running", running)):
                if value is not None:
                    task[key] = value
            if status is None and task["status"] == "defined" and any(v for v in (finished, failed, running)):
                status = "running"  # work started
            if status:
                task["status"] = task["superstatus"] = status
                if status in ("done", "finished", "failed", "broken", "aborted"):
                    task["endtime"] = iso(now)
            task["modificationtime"] = task["statechangetime"] = space(now)

    def set_status(self, name: str, status: str) -> None:
        self.run(name)["r_status"] = status

    def _job(self, task: dict, status: str, error: dict, logs: str, attempt: int, file_id: int) -> dict:
        pandaid = next(self.panda_ids)
        site = task["site"]
        base = f"https://storage.googleapis.com/drp-us-central1-logging/logs/{site}/PandaJob_{pandaid}"
        job = {"pandaid": pandaid, "jeditaskid": task["jeditaskid"], "reqid": task["reqid"], "jobsetid": task["reqid"],
               "taskid": task["jeditaskid"], "jobname": f"{task['taskname']}.{pandaid}", "jobstatus": status,
               "jobsubstatus": "", "computingsite": site, "produsername": "iDDS", "attemptnr": attempt,
               "maxattempt": 5, "creationtime": iso(self.now()), "modificationtime": iso(self.now()),
               "endtime": iso(self.now()), "transexitcode": "0", "piloterrorcode": 0, "piloterrordiag": "",
               "exeerrorcode": 0, "exeerrordiag": "", "ddmerrorcode": 0, "superrorcode": 0, "taskbuffererrorcode": 0,
               "brokerageerrorcode": 0, "jobdispatchererrorcode": 0, "cpuconversion": "1.0000",
               "pilotid": f"{base}/pilotlog.txt|PR|3.7.2 (1)" if logs == "pilot" else "unknown|PR|3.7.2",
               "_file": file_id,
               "_harvester": {"workerid": pandaid - 6000000, "harvesterid": "USDF_Harvester",
                              "batchlog": f"https://usdf-logs.example.org/{site}/{pandaid}/job.log" if logs == "harvester"
                              else "", "errorcode": 0}}
        job.update(error)
        if status == "failed":  # as the monitor writes it: "component:code diag " per error, cut at 300
            info = ""
            for component, code_key, diag_key in ERROR_COMPONENTS:
                if str(job.get(code_key) or "0") != "0":
                    diag = job.get(diag_key) if diag_key else (job.get("_transdiag")
                                                               or f"Unknown transformation exit code {job[code_key]}")
                    info += f"{component}:{job[code_key]} {diag or ''} "
            job["errorinfo"] = info[:300] + ("..." if len(info) > 300 else "")
        self.jobs[pandaid] = job
        return job

    def load_recorded(self, folder) -> None:
        """Serve real recorded answers (``../shared/data/panda-doma-2022``) verbatim."""
        from pathlib import Path

        folder = Path(folder)
        for row in json.loads((folder / "idds-wfprogress.json").read_text()):
            self.runs.append(dict(row, _verbatim=True))
        for task in json.loads((folder / "tasks-by-taskname.json").read_text()):
            self.tasks[task["jeditaskid"]] = dict(task, _verbatim=True)
        for path in sorted(folder.glob("jobs-jeditaskid-*.json")):
            for job in json.loads(path.read_text())["jobs"]:
                self.jobs[job["pandaid"]] = dict(job, _verbatim=True)

    # ---- rendering as the monitor does --------------------------------------------------------
    def wf_row(self, run: dict) -> dict:
        if run.get("_verbatim"):
            return {k: v for k, v in run.items() if not k.startswith("_")}
        tasks = [self.tasks[t] for t in run["_tasks"]]
        total = sum(t["nfiles"] for t in tasks)
        done = sum(t["nfilesfinished"] for t in tasks)
        failed = sum(t["nfilesfailed"] for t in tasks)
        running = sum(t["_running"] for t in tasks)
        statuses: dict[str, int] = {}
        for t in tasks:
            key = PROCESSING.get(t["status"], "Running")
            statuses[key] = statuses.get(key, 0) + 1
        row = {"request_id": run["request_id"], "r_status": run["r_status"], "created_at": run["created_at"],
               "total_tasks": len(tasks), "tasks_statuses": statuses, "processing_files": running, "total_files": total}
        if self.shape == "legacy":
            links: dict[str, list[str]] = {}
            for t in tasks:
                links.setdefault(PROCESSING.get(t["status"], "Running"), []).append(str(t["jeditaskid"]))
            row.update({"tasks_links": {k: "|".join(v) for k, v in links.items()}, "remaining_files": total - done,
                        "processed_files": done, "tasks_links_all": "|".join(str(t) for t in run["_tasks"]),
                        "r_name": run["r_name"].lower(), "username": "Not set", "r_status": run["r_status"].lower()})
            return row
        pct = (lambda n: round(100.0 * n / total, 1)) if total else (lambda n: 0)
        row.update({"finished_files": pct(done), "failed_files": pct(failed), "released_files": done + failed,
                    "unreleased_files": total - done - failed, "total_jedi_files": total, "transform_type": "Processing",
                    "transform_tag": "2", "campaign": "", "r_name": run["r_name"], "cloud": run["cloud"],
                    "site": run["site"], "username": run["username"]})
        return row

    def task_row(self, task: dict) -> dict:
        if task.get("_verbatim"):
            return {k: v for k, v in task.items() if not k.startswith("_")}
        out = {k: v for k, v in task.items() if not k.startswith("_")}
        n, fin, fail = task["nfiles"], task["nfilesfinished"], task["nfilesfailed"]
        dsinfo = {"nfiles": n, "nfilesfinished": fin, "nfilesfailed": fail,
                  "pctfinished": round(100.0 * fin / n, 1) if n else 0, "pctfailed": round(100.0 * fail / n, 1) if n else 0}
        out.update(dsinfo)
        out["dsinfo"] = dsinfo
        out["datasets"] = [{"datasetid": task["jeditaskid"] * 10, "jeditaskid": task["jeditaskid"], "type": "pseudo_input",
                            "masterid": None, "nfiles": n, "nfilesused": fin + fail + task["_running"],
                            "nfilesfinished": fin, "nfilesfailed": fail, "nfilesonhold": 0,
                            "modificationtime": task["modificationtime"].replace(" ", "T")}]
        return out

    def job_row(self, job: dict) -> dict:
        return {k: v for k, v in job.items() if not k.startswith("_")}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    state: FakeBigPanda

    def log_message(self, *args):
        pass

    def send(self, status: int, body: Any = None, raw: bytes | None = None, ctype: str = "application/json",
             headers: dict | None = None) -> None:
        data = raw if raw is not None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "max-age=600")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def html(self, status: int, text: str) -> None:
        self.send(status, raw=HTML % text.encode(), ctype="text/html; charset=utf-8")

    def do_GET(self):  # noqa: C901 - one dispatcher mirroring the monitor's URL table
        fake = self.state
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query, keep_blank_values=True)
        q = {k: v[-1] for k, v in query.items()}
        record = {"path": path, "query": q, "headers": dict(self.headers)}
        fake.log.append(record)
        if fake.latency:
            time.sleep(fake.latency)
        with fake.lock:
            fault = next((f for f in fake.faults if f.times > 0 and re.search(f.path, path)), None)
            if fault:
                fault.times -= 1
        wants_json = "json" in q or self.headers.get("Accept", "") in ("application/json", "text/json")
        if fault and fault.kind == "lost":
            self.close_connection = True
            return
        if fault and fault.kind.startswith("429"):
            key = "message" if fault.kind == "429-message" else "error"
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return self.send(429, {key: "too many requests per hour, please try later"}, headers=headers)
        if fault and fault.kind in ("500", "503"):
            return self.html(int(fault.kind), "Server Error (500)")
        if self.headers.get("Authorization"):
            return self.send(401, {"detail": "Invalid token."})
        if (fault and fault.kind == "302") or (not wants_json and not path.startswith("/login")):
            self.send_response(302)
            self.send_header("Location", f"/login/?next={quote(self.path)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        now = fake.now()
        with fake.lock:
            fake.counted = [t for t in fake.counted if t > now - timedelta(hours=1)]
            if len(fake.counted) >= fake.quota:
                return self.send(429, {"error": "too many requests per hour, please try later"})
            fake.counted.append(now)
            try:
                status, body = self.route(path, q, now, fault)
            except _Bad as exc:
                return self.send(400, {"error": str(exc)})
        record["status"] = status
        if body is None:
            return self.html(200 if status == 200 else status, "Not found" if status == 200 else "Page not found")
        self.send(status, body)

    def route(self, path: str, q: dict, now: datetime, fault: Fault | None):
        fake = self.state
        if path.startswith("/login"):
            return 200, None
        if path == "/idds/wfprogress/":
            if fault and fault.kind == "dbfail":
                return 200, []
            since = now - timedelta(days=_int(q.get("days", "7"), "days"))
            rows = [fake.wf_row(r) for r in fake.runs if parse(r["created_at"]) >= since]
            if q.get("requestid"):
                rows = [r for r in rows if str(r["request_id"]) == q["requestid"]]
            if q.get("username"):
                rows = [r for r in rows if str(r.get("username")).casefold() == q["username"].casefold()]
            return 200, rows
        if path == "/tasks/":
            return 200, self.tasks(q, now)
        if path in ("/task", "/task/") and "jeditaskid" in q:  # the same view as /task/<id>/
            path = f"/task/{_int(q['jeditaskid'], 'jeditaskid')}/"
        if path in ("/job", "/job/") and "pandaid" in q:
            path = f"/job/{_int(q['pandaid'], 'pandaid')}/"
        if m := re.fullmatch(r"/task/(\d+)/", path):
            task = fake.tasks.get(int(m.group(1)))
            if task is None:
                return 200, None
            row = fake.task_row(task)
            return 200, {"task": dict(row, pctfinished="", totev=0, rating=-1, idds_info={"task_type": "idds"}),
                         "taskparams": {"taskName": row["taskname"], "userName": "iDDS"},
                         "datasets": [{k: ("" if v is None else v) for k, v in d.items()} for d in row.get("datasets", [])]}
        if path == "/jobs/":
            return 200, self.jobs(q, now)
        if m := re.fullmatch(r"/job/(\d+)/", path):
            job = fake.jobs.get(int(m.group(1)))
            if job is None:
                return 200, None
            row = fake.job_row(job)
            row["harvesterInfo"] = dict(job.get("_harvester") or {})
            row["endtime"] = row.get("endtime", "").replace("T", " ")
            return 200, {"job": row, "files": [], "dsfiles": []}
        return 404, None

    def window(self, q: dict, now: datetime, widened: bool) -> datetime:
        if "date_from" in q:
            try:
                return parse(q["date_from"])
            except ValueError:
                raise _Bad(f"Illegal value '{q['date_from']}' for date_from") from None
        if widened:
            return now - timedelta(days=180)
        return now - timedelta(days=_int(q.get("days", "7"), "days"))

    def tasks(self, q: dict, now: datetime) -> list[dict]:
        fake = self.state
        rows = list(fake.tasks.values())
        if "taskname" in q:
            if "%" in q["taskname"]:
                raise _Bad("Use * symbol for pattern search instead of %")
            pattern = re.compile(re.escape(q["taskname"]).replace(r"\*", ".*"), re.IGNORECASE)
            rows = [t for t in rows if pattern.fullmatch(t["taskname"])]
        if "reqid" in q:
            ids = {_int(v, "reqid") for v in re.split(r"[|,]", q["reqid"])}
            rows = [t for t in rows if t["reqid"] in ids]
        if "jeditaskid" in q:
            ids = {_int(v, "jeditaskid") for v in q["jeditaskid"].split("|")}
            rows = [t for t in rows if t["jeditaskid"] in ids]
        since = self.window(q, now, widened="jeditaskid" in q)
        rows = [t for t in rows if parse(t["modificationtime"]) >= since]
        return [fake.task_row(t) for t in rows][: _int(q.get("limit", "5000"), "limit")]

    def jobs(self, q: dict, now: datetime) -> dict:
        fake = self.state
        rows = list(fake.jobs.values())
        if "jeditaskid" in q:
            ids = {_int(v, "jeditaskid") for v in q["jeditaskid"].split("|")}
            rows = [j for j in rows if j["jeditaskid"] in ids]
        if "pandaid" in q:
            ids = {_int(v, "pandaid") for v in q["pandaid"].split(",")}
            rows = [j for j in rows if j["pandaid"] in ids]
        if "jeditaskid" in q and q.get("mode", "drop") == "drop":  # hide attempts superseded by a retry
            latest: dict[tuple, int] = {}
            for j in rows:
                key = (j["jeditaskid"], j.get("_file"))
                latest[key] = max(latest.get(key, 0), j["attemptnr"])
            rows = [j for j in rows if j.get("_file") is None or j["attemptnr"] == latest[(j["jeditaskid"], j["_file"])]]
        if "jobstatus" in q:
            wanted = set(re.split(r"[|,]", q["jobstatus"]))
            rows = [j for j in rows if j["jobstatus"] in wanted]
        since = self.window(q, now, widened="jeditaskid" in q or "pandaid" in q)
        rows = [j for j in rows if parse(j["modificationtime"]) >= since]
        rows.sort(key=lambda j: -j["pandaid"])
        rows = rows[: _int(q.get("limit", "10000"), "limit")]
        counts: dict[str, int] = {}
        errors: dict[str, dict] = {}
        for j in rows:
            counts[j["jobstatus"]] = counts.get(j["jobstatus"], 0) + 1
            if j["jobstatus"] == "failed" and _int(str(j.get("piloterrorcode") or 0), "code"):
                key = f"pilot:{j['piloterrorcode']}"
                entry = errors.setdefault(key, {"error": key, "codename": "piloterrorcode", "codeval": j["piloterrorcode"],
                                                "diag": j.get("piloterrordiag", ""), "example_pandaid": j["pandaid"],
                                                "count": 0})
                entry["count"] += 1
        return {"selectionsummary": [{"field": "jobstatus", "list": [{"kname": k, "kvalue": v} for k, v in counts.items()]}],
                "jobs": [fake.job_row(j) for j in rows], "errsByCount": list(errors.values())}


class _Bad(Exception):
    pass


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _Bad(f"Illegal value '{value}' for {name}") from None
