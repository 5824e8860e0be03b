"""``status``: where runs stand, asked of their own WMS plug-in (``get_status`` first, ``report`` when needed).

Request::

    {"runs": [{"name": RUN NAME, "wms_class": "lsst.ctrl.bps.htcondor.HTCondorService",
               "run_id": ID, "submit_dir": DIR, "previous": WMS STATE NAME or null,
               "provenance_only": false}, ...],
     "details": "changed", "max_failed_jobs": 100, "hist": 1,
     "provenance": true, "max_quanta": 1000}

Answer::

    {"states": {WmsStates name: value}, "runs": [ANSWER per run, in order],
     "calls": {"get_status": N, "report": N, "provenance": N}}

A run's answer is ``{"name", "implemented": false}`` when its plug-in has no ``get_status`` (Parsl;
``provenance_only`` says so without loading the plug-in); else ``{"name", "implemented": true,
"state": NAME, "message": TEXT}`` plus, when ``report`` was read (``details`` is ``changed`` and the
state differs from ``previous``, or ``details`` is ``all``; never with ``none``), ``"report"``: the
run's report reduced to JSON (state, job counts per state and per label, exit codes per label, the
final job's state, the failed and held jobs with their output and log files). A failure for one run
is ``"error"`` on that run's answer (state ``UNKNOWN``); it never fails the other runs.

With ``"provenance": true``, the runs without ``get_status`` and the runs whose report was read in a
final state also get ``"provenance"``: their entry of the ``provenance`` op's answer
(`stack_provenance`), read in this same process.

One service object serves every run of one ``wmsServiceClass``. The id asked about is the submit
directory when known (HTCondor reads its DAGMan files there, with no daemon), else the run id.
Standard library and ``lsst`` only (see `helper`).
"""

from __future__ import annotations

import glob
import logging
import os
import re
from pathlib import Path
from typing import Any

log = logging.getLogger("jiracampaign.stack.wms")

MAX_FAILED_JOBS = 100  # problem jobs listed per run (the counts cover them all)
FINAL_LABEL = "finalJob"
_PROBLEM_STATES = ("FAILED", "HELD", "DELETED")
_FINAL_STATES = ("SUCCEEDED", "FAILED", "DELETED", "PRUNED")


def status(request: dict) -> dict:
    """Every run's state from its plug-in; see the module docstring for the request and the answer."""
    from lsst.ctrl.bps import WmsStates

    details = str(request.get("details") or "changed")
    limit = int(request.get("max_failed_jobs") or MAX_FAILED_JOBS)
    hist = float(request.get("hist") or 1)
    services: dict[str, Any] = {}
    calls = {"get_status": 0, "report": 0, "provenance": 0}
    runs = [run if isinstance(run, dict) else {} for run in request.get("runs") or []]
    answers = [_one(run, services, details, limit, hist, calls) for run in runs]
    if request.get("provenance"):
        _add_provenance(runs, answers, request.get("max_quanta"), calls)
    return {"states": {state.name: state.value for state in WmsStates}, "runs": answers, "calls": calls}


def _add_provenance(runs: list[dict], answers: list[dict], max_quanta: Any, calls: dict[str, int]) -> None:
    """The quantum provenance of the runs without a plug-in state and of the runs that just ended."""
    wanted = [(run, answer) for run, answer in zip(runs, answers)
              if run.get("submit_dir") and (not answer.get("implemented", True)
                                            or (answer.get("report") or {}).get("found")
                                            and answer.get("state") in _FINAL_STATES)]
    if not wanted:
        return
    request = {"runs": [{"name": answer["name"], "submit_dir": run["submit_dir"]} for run, answer in wanted]}
    if max_quanta:
        request["max_quanta"] = int(max_quanta)
    calls["provenance"] += len(wanted)
    try:
        from stack_provenance import provenance

        found = provenance(request).get("runs") or {}
    except Exception as exc:  # e.g. a stack without pipe_base's provenance graph: the plug-in's answer stands
        log.debug("provenance failed", exc_info=True)
        found = {answer["name"]: {"ok": False, "kind": type(exc).__name__, "error": _error(exc)} for _, answer in wanted}
    for _, answer in wanted:
        answer["provenance"] = found.get(answer["name"]) or {"ok": False, "kind": "Missing",
                                                             "error": "the provenance op did not answer for it"}


def _service(name: str, services: dict[str, Any]) -> Any:
    """The service object for ``name`` (built once; a class that cannot be built is remembered as the error)."""
    if name not in services:
        from lsst.ctrl.bps import BpsConfig
        from lsst.utils import doImportType

        try:
            services[name] = doImportType(name)(BpsConfig({}))
        except Exception as exc:  # an unknown or broken plug-in: an error for each of its runs
            services[name] = exc
    found = services[name]
    if isinstance(found, Exception):
        raise found
    return found


def _error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _one(run: dict, services: dict[str, Any], details: str, limit: int, hist: float, calls: dict[str, int]) -> dict:
    name = str(run.get("name") or "")
    ident = str(run.get("submit_dir") or run.get("run_id") or "")
    wms_class = str(run.get("wms_class") or "")
    answer: dict[str, Any] = {"name": name, "implemented": True, "id": ident}
    if run.get("provenance_only"):  # a plug-in known to have no get_status: not even loaded
        return {"name": name, "implemented": False, "id": ident}
    if not wms_class or not ident:
        missing = "its wmsServiceClass" if not wms_class else "its submit directory or run id"
        return {**answer, "state": "UNKNOWN", "message": "", "error": f"{missing} is not known"}
    try:
        service = _service(wms_class, services)
        calls["get_status"] += 1
        state, message = service.get_status(ident, hist=hist, is_global=False)
    except NotImplementedError:
        return {"name": name, "implemented": False, "id": ident}
    except Exception as exc:  # this run only: e.g. a numeric HTCondor id without a schedd to ask
        log.debug("get_status %s failed", ident, exc_info=True)
        return {**answer, "state": "UNKNOWN", "message": "", "error": _error(exc)}
    answer.update(state=state.name, message=str(message or "").strip())
    if details == "all" or (details == "changed" and state.name != run.get("previous")):
        calls["report"] += 1
        try:
            answer["report"] = _report(service, ident, limit)
        except NotImplementedError:
            answer["report"] = {"found": False, "implemented": False, "message": "the plug-in has no report"}
        except Exception as exc:
            log.debug("report %s failed", ident, exc_info=True)
            answer["report"] = {"found": False, "error": _error(exc), "message": ""}
    return answer


def _report(service: Any, ident: str, limit: int) -> dict:
    """The plug-in's report of one run, reduced to JSON."""
    from lsst.ctrl.bps.bps_reports import compile_code_summary, compile_job_summary

    reports, message = service.report(wms_workflow_id=ident, hist=0, is_global=False, return_exit_codes=True)
    messages = [line for line in str(message or "").splitlines() if line.strip()]
    if not reports:
        return {"found": False, "message": "\n".join(messages)}
    report = reports[0]
    for compile_ in (compile_job_summary, compile_code_summary):
        messages += compile_(report)
    jobs = list(report.jobs or [])
    finals = [job for job in jobs if job.label == FINAL_LABEL or job.name == FINAL_LABEL]
    problems = [job for job in jobs if job.state is not None and job.state.name in _PROBLEM_STATES]
    files = _JobFiles(Path(report.path or ident))
    listed = []
    for job in problems[:limit]:
        listed.append({"name": job.name, "label": job.label, "wms_id": str(job.wms_id), "state": job.state.name,
                       **files.of(job.name, str(job.wms_id))})
    specific = str(report.specific_info) if report.specific_info else ""
    return {
        "found": True,
        "wms_id": report.wms_id,
        "global_wms_id": report.global_wms_id,
        "path": report.path,
        "run": report.run,
        "state": report.state.name if report.state is not None else "UNKNOWN",
        "run_summary": report.run_summary or "",
        "total_jobs": report.total_number_jobs or 0,
        "job_state_counts": {s.name: n for s, n in (report.job_state_counts or {}).items() if n},
        "job_summary": {label: {s.name: n for s, n in counts.items() if n}
                        for label, counts in (report.job_summary or {}).items()},
        "exit_code_summary": {label: [int(c) for c in codes] for label, codes in (report.exit_code_summary or {}).items()},
        "final_job": finals[-1].state.name if finals and finals[-1].state is not None else None,
        "problem_jobs": listed,
        "problem_jobs_total": len(problems),
        "specific_info": specific,
        "message": "\n".join(str(m) for m in messages),
    }


class _JobFiles:
    """A job's output, error and log files, from its submit description (``jobs/<label>/<name>.sub``).

    BPS's HTCondor plug-in writes ``output``/``error`` as ``<name>.$(Cluster).out`` (or with the
    attempt number, ``<name>.$(Cluster).$$([NumJobStarts ?: 0]).out``) and ``log`` as
    ``<name>.$(Cluster).log``, relative to the job's directory (the DAG's ``DIR``, else the submit
    directory). Paths found on disk are returned; a pattern that matches nothing is left out.
    """

    _LINE = re.compile(r'^(JOB|FINAL)\s+(\S+)\s+"?([^"\s]+)"?(?:\s+DIR\s+"?([^"\s]+)"?)?')

    def __init__(self, submit_dir: Path):
        self.submit_dir = submit_dir
        self._nodes: dict[str, tuple[str, str]] | None = None

    def _read_dags(self) -> dict[str, tuple[str, str]]:
        nodes: dict[str, tuple[str, str]] = {}
        for dag in sorted(self.submit_dir.glob("*.dag")):
            try:
                with open(dag, encoding="utf-8", errors="replace") as handle:
                    for line in handle:
                        match = self._LINE.match(line)
                        if match:
                            nodes.setdefault(match.group(2), (match.group(3), match.group(4) or ""))
            except OSError:
                continue
        return nodes

    def of(self, name: str, wms_id: str) -> dict[str, str]:
        if self._nodes is None:
            self._nodes = self._read_dags()
        if name not in self._nodes:
            return {}
        subfile, directory = self._nodes[name]
        base = self.submit_dir / directory if directory else self.submit_dir
        sub = Path(os.path.expandvars(subfile))
        sub = sub if sub.is_absolute() else base / sub  # DAGMan reads it from the node's DIR
        commands = _submit_commands(sub)
        cluster, _, proc = wms_id.partition(".")
        if not cluster.isdigit():  # never ran (pruned, unready): no files yet
            return {}
        out: dict[str, str] = {}
        for key, field in (("output", "stdout"), ("error", "stderr"), ("log", "log")):
            pattern = commands.get(key)
            if pattern:
                found = _expand(pattern, cluster, proc or "0", base)
                if found:
                    out[field] = found
        return out


def _submit_commands(path: Path) -> dict[str, str]:
    """``key = value`` lines of an HTCondor submit description (keys lower-cased)."""
    commands: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, sep, value = line.partition("=")
                if sep and key.strip() and not key.lstrip().startswith(("#", "+")):
                    commands[key.strip().lower()] = value.strip()
    except OSError:
        pass
    return commands


def _expand(pattern: str, cluster: str, proc: str, base: Path) -> str:
    """The file a submit-file path names for job ``cluster.proc`` (newest match of a runtime expression)."""
    text = pattern.strip().strip('"')
    for macro in ("Cluster", "ClusterId"):
        text = text.replace(f"$({macro})", cluster)
    for macro in ("Process", "ProcId"):
        text = text.replace(f"$({macro})", proc)
    text = re.sub(r"\$\$\(\[[^]]*\]\)|\$\$\([^)]*\)", "*", text)  # evaluated when the job starts: any value
    if "$(" in text:
        return ""
    path = Path(os.path.expandvars(text))
    path = path if path.is_absolute() else base / path
    if "*" not in str(path):
        return str(path) if path.exists() else ""
    matches = sorted(glob.glob(glob.escape(str(path.parent)) + "/" + path.name), key=_mtime)
    return matches[-1] if matches else ""


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0
