"""DAGMan's run-time files, written by the test for a DAG that ``bps prepare`` made.

No HTCondor daemon can run here, so the files DAGMan would write while running a BPS workflow are
written by these helpers instead, in the formats the HTCondor plug-in's report reads from a submit
directory (see lsst.ctrl.bps.htcondor ``lssthtc.read_dag_log``, ``read_dag_nodes_log``,
``read_node_status``, ``read_dag_info``, ``htc_check_dagman_output``):

- ``<run>.dag.dagman.log``: the DAGMan job's own event log (submitted, executing, terminated with its
  exit code);
- ``<run>.dag.nodes.log``: every node job's events, each submit event noting ``DAG Node: <name>``;
- ``<run>.node_status``: the DAG summary and one ``NodeStatus`` ClassAd per node that DAGMan knows;
- ``<run>.info.json``: the DAGMan job's id and ``bps_*`` attributes, as the plug-in saves them;
- ``<run>.dag.dagman.out``: DAGMan's own output;
- each job's output and log file, named as its submit description says (``<name>.<cluster>.out``).

A node's outcome is one of ``done``, ``failed:<exit code>``, ``running``, ``idle``, ``futile``
(pruned: a parent failed) and ``unready`` (waiting for its parents; DAGMan has not submitted it).
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

__all__ = ["dag_nodes", "write_run", "copy_prepared"]

_START = datetime(2026, 12, 1, 10, 0, 0, tzinfo=timezone.utc)
_HOST = "<127.0.0.1:9618?addrs=127.0.0.1-9618&alias=localhost>"
_NODE_CODES = {"unready": 0, "ready": 1, "idle": 3, "running": 3, "done": 5, "failed": 6, "futile": 7}
_NODE_WORDS = {0: "STATUS_NOT_READY", 1: "STATUS_READY", 3: "STATUS_SUBMITTED", 5: "STATUS_DONE", 6: "STATUS_ERROR",
               7: "STATUS_FUTILE"}


def dag_nodes(submit_dir: Path) -> dict[str, tuple[str, str]]:
    """``node name -> (label, kind)`` of the DAG in ``submit_dir`` (kind ``JOB`` or ``FINAL``), in DAG order."""
    dag = next(Path(submit_dir).glob("*.dag"))
    nodes = {}
    for line in dag.read_text().splitlines():
        match = re.match(r'(JOB|FINAL)\s+(\S+)\s+"?[^"\s]+"?\s+DIR\s+"?jobs/([^/"\s]+)', line)
        if match:
            nodes[match.group(2)] = (match.group(3), match.group(1))
    return nodes


def copy_prepared(prepared: Path, to: Path, graph: bool = False) -> Path:
    """A copy of a prepared submit directory; without its quantum graph unless ``graph`` (the report never
    reads it, and without it quantum provenance cannot be read: the plug-in's report alone answers)."""
    shutil.copytree(prepared, to, ignore=None if graph else shutil.ignore_patterns("*.qg"))
    return to


def _stamp(minutes: float) -> str:
    return (_START + timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S")


def _event(code: int, cluster: int, minutes: float, text: str, body: list[str] = ()) -> str:
    lines = [f"{code:03d} ({cluster}.000.000) {_stamp(minutes)} {text}", *body, "..."]
    return "\n".join(lines) + "\n"


def _terminated(cluster: int, minutes: float, code: int) -> str:
    usage = [f"\t\tUsr 0 00:00:0{i}, Sys 0 00:00:00  -  {what}" for i, what in enumerate(
        ("Run Remote Usage", "Run Local Usage", "Total Remote Usage", "Total Local Usage"))]
    size = [f"\t0  -  {what}" for what in ("Run Bytes Sent By Job", "Run Bytes Received By Job",
                                           "Total Bytes Sent By Job", "Total Bytes Received By Job")]
    return _event(5, cluster, minutes, "Job terminated.", [f"\t(1) Normal termination (return value {code})", *usage, *size])


def write_run(submit_dir: Path, outcomes: dict[str, str], dag_exit: int | None, dag_cluster: int = 9000) -> dict:
    """Write DAGMan's files into a prepared ``submit_dir`` for the given node ``outcomes``.

    Parameters
    ----------
    submit_dir : `pathlib.Path`
        A submit directory written by ``bps prepare`` (HTCondor plug-in).
    outcomes : `dict` [`str`, `str`]
        Node name -> outcome (see the module docstring); nodes not named are ``unready``.
    dag_exit : `int` or `None`
        DAGMan's exit code once it ended (0: every node done; 1: some failed); `None`: still running.
    dag_cluster : `int`
        Cluster id of the DAGMan job; node jobs get the following ones.

    Returns
    -------
    written : `dict`
        ``{"run": run name, "dag_id": "9000.0", "jobs": {node: cluster id}, "outputs": {node: output file}}``.
    """
    submit_dir = Path(submit_dir)
    dag = next(submit_dir.glob("*.dag"))
    run = dag.name[: -len(".dag")]
    nodes = dag_nodes(submit_dir)
    unknown = set(outcomes) - set(nodes)
    assert not unknown, f"not nodes of the DAG: {sorted(unknown)}"

    dag_log = _event(0, dag_cluster, 0, f"Job submitted from host: {_HOST}")
    dag_log += _event(1, dag_cluster, 0.1, f"Job executing on host: {_HOST}")
    if dag_exit is not None:
        dag_log += _terminated(dag_cluster, 30, dag_exit)
    (submit_dir / f"{run}.dag.dagman.log").write_text(dag_log)

    nodes_log, ads, jobs, outputs = "", [], {}, {}
    counts = dict.fromkeys(("done", "failed", "futile", "unready", "queued", "ready"), 0)
    for number, (name, (label, _)) in enumerate(nodes.items(), start=1):
        outcome = outcomes.get(name, "unready")
        kind, _, code = outcome.partition(":")
        node_status = _NODE_CODES[kind]
        details, queued = "", 0
        if kind in ("done", "failed", "running", "idle"):
            cluster = dag_cluster + number
            jobs[name] = cluster
            start = number * 0.5
            nodes_log += _event(0, cluster, start, f"Job submitted from host: {_HOST}", [f"    DAG Node: {name}"])
            if kind != "idle":
                nodes_log += _event(1, cluster, start + 0.2, f"Job executing on host: {_HOST}")
            if kind in ("done", "failed"):
                exit_code = int(code or 1) if kind == "failed" else 0
                nodes_log += _terminated(cluster, start + 0.4, exit_code)
                if kind == "failed":
                    details = f"Job proc ({cluster}.0.0) failed with status {exit_code}"
                out = submit_dir / "jobs" / label / _job_dir(submit_dir, name) / f"{name}.{cluster}.out"
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(f"{name}: exit {exit_code}\n")
                outputs[name] = str(out)
            else:
                details, queued = ("not_idle" if kind == "running" else "idle"), 1
        counts["done" if kind == "done" else "failed" if kind == "failed" else "futile" if kind == "futile"
               else "queued" if kind in ("running", "idle") else "unready"] += 1
        if kind != "unready":  # DAGMan lists a node once it has a state beyond "waiting"
            ads.append({"Type": "NodeStatus", "Node": name, "NodeStatus": node_status, "StatusDetails": details,
                        "RetryCount": 0, "JobProcsQueued": queued, "JobProcsHeld": 0})
    (submit_dir / f"{run}.dag.nodes.log").write_text(nodes_log)

    dag_status = 3 if dag_exit is None else (5 if dag_exit == 0 else 6)
    summary = {"Type": "DagStatus", "DagFiles": [dag.name], "Timestamp": int(_START.timestamp()) + 1800,
               "DagStatus": dag_status, "NodesTotal": len(nodes), "NodesDone": counts["done"], "NodesPre": 0,
               "NodesQueued": counts["queued"], "NodesPost": 0, "NodesReady": counts["ready"],
               "NodesUnready": counts["unready"], "NodesFutile": counts["futile"], "NodesFailed": counts["failed"],
               "JobProcsHeld": 0, "JobProcsIdle": 0}
    end = {"Type": "StatusEnd", "EndTime": int(_START.timestamp()) + 1800, "NextUpdate": int(_START.timestamp()) + 1920}
    (submit_dir / f"{run}.node_status").write_text("".join(_classad(ad) for ad in [summary, *ads, end]))

    attrs = _dag_attributes(dag)
    info = {"sched.example": {f"{dag_cluster}.0": {"ClusterId": dag_cluster,
                                                   "GlobalJobId": f"sched.example#{dag_cluster}.0#1764583200",
                                                   **attrs}}}
    (submit_dir / f"{run}.info.json").write_text(json.dumps(info))

    out = [f"12/01/26 10:00:00 ** condor_scheduniv_exec.{dag_cluster}.0 (CONDOR_DAGMAN) STARTING UP",
           "12/01/26 10:00:00 DAG status: 0 (DAG_STATUS_OK)"]
    if dag_exit:
        out.append("12/01/26 10:30:00 ERROR: the following job(s) failed:")
    if dag_exit is not None:
        out.append(f"12/01/26 10:30:00 **** condor_scheduniv_exec.{dag_cluster}.0 (condor_DAGMAN) pid 1 EXITING WITH "
                   f"STATUS {dag_exit}")
    (submit_dir / f"{run}.dag.dagman.out").write_text("\n".join(out) + "\n")
    return {"run": run, "dag_id": f"{dag_cluster}.0", "jobs": jobs, "outputs": outputs}


def _job_dir(submit_dir: Path, name: str) -> str:
    """The folder of a node's job under ``jobs/<label>/`` (BPS groups payload jobs by a data ID value)."""
    dag = next(submit_dir.glob("*.dag"))
    match = re.search(rf'^(?:JOB|FINAL)\s+{re.escape(name)}\s+\S+\s+DIR\s+"?jobs/[^/"\s]+/?([^"\s]*)"?',
                      dag.read_text(), re.M)
    return match.group(1) if match else ""


def _dag_attributes(dag: Path) -> dict[str, str]:
    """The ``SET_JOB_ATTR bps_*`` values of the DAG (what the plug-in keeps in ``<run>.info.json``)."""
    attrs = {}
    for match in re.finditer(r'^SET_JOB_ATTR (bps_\w+)\s*=\s*"(.*)"$', dag.read_text(), re.M):
        attrs[match.group(1)] = match.group(2)
    return attrs


def _classad(ad: dict) -> str:
    """One ClassAd in the "new" syntax DAGMan uses for its node status file."""
    lines = ["["]
    for key, value in ad.items():
        if isinstance(value, list):
            text = "{ " + ", ".join(json.dumps(v) for v in value) + " }"
        elif isinstance(value, str):
            text = json.dumps(value)
        else:
            text = str(value)
        comment = f' /* "{_NODE_WORDS[value]}" */' if key == "NodeStatus" else ""
        lines.append(f"  {key} = {text};{comment}")
    lines.append("]")
    return "\n".join(lines) + "\n"
