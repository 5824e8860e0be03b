"""``provenance``: what happened to every quantum of finished (or running) BPS runs, whatever WMS ran them.

Request::

    {"op": "provenance",
     "runs": [{"name": RUN NAME, "submit_dir": PATH,
               "repo": BUTLER REPO (optional), "qgraph": PREDICTED GRAPH (optional),
               "mock_storage_classes": true|false (optional; default: detected)}],
     "max_quanta": 1000 (optional: failed, blocked and caveat quanta listed per run and kind)}

For each run: the predicted graph (``qgraph``, else ``{submit_dir}/{name}.qg``, else the only
``.qg`` there); the repository (``repo``, else the one the graph was built from, as its header
records it); the graph aggregator run in **dry-run** mode into a temporary provenance graph (nothing
is written to the registry); that graph read with ``ProvenanceQuantumGraph``.

Answer: ``{"runs": {NAME: RUN}}``; a run that cannot be read is ``{"ok": false, "error": TEXT,
"kind": EXCEPTION TYPE}`` and the others are still answered. RUN is::

    {"ok": true, "qgraph", "repo", "output_run", "mock_storage_classes", "seconds",
     "final_job": {"state": "succeeded"|"failed"|"started"|"absent", "log": PATH|null},
     "tasks": [{"label", "expected", "successful", "caveats", "failed", "blocked", "aborted",
                "aborted_success", "unknown", "peak_memory" (bytes or null),
                "caveat_flags": {FLAG: count}, "exceptions": {TYPE: count}}],
     "failed":  [QUANTUM] (FAILED and ABORTED), "unknown": [QUANTUM] (not run yet, or lost without a trace),
     "blocked": [{"quantum_id", "task", "status", "data_id", "data_id_full"}],
     "caveats": [QUANTUM] (succeeded with caveats, and ABORTED_SUCCESS: finished but its log was lost),
     "recovered": [QUANTUM] (succeeded after a failed attempt),
     "truncated": {"failed": n, ...} (quanta left out of the lists; the task counts cover all)}

    QUANTUM = {"quantum_id", "task", "status", "data_id": {dimension: value} (required dimensions),
               "data_id_full": {dimension: value} (implied ones too),
               "logs": [PATH...], "caveats": [FLAG...],
               "attempts": [{"attempt", "status", "caveats", "exception": {"type", "message"}|null,
                             "memory" (bytes)|null, "run_time" (s)|null, "start" (ISO)|null,
                             "stdout", "stderr", "log" (PATHs or ""), "log_tail" (last lines, for
                             attempts without an exception)}]}

Log files: BPS writes one pair per job under ``{submit_dir}/logs`` (Parsl:
``logs/<label>/<subdir>/<quantum id>_<label>_<data id>.stdout|.stderr`` unclustered,
``logs/<cluster>/<subdir>/<cluster>_<data id>.*`` clustered, attempts appended to the same files) or
``{submit_dir}/jobs`` (HTCondor: ``.out``/``.err``, one pair per attempt). A quantum's files are found
by its id in the file name, else by the ``--qgraph-node-id`` list in the command line each job
writes at the head of its output.

Standard library and ``lsst`` only (run by the stack's interpreter).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

log = logging.getLogger("jiracampaign.stack.provenance")

MAX_QUANTA = 1000
LOG_SUFFIXES = (".stderr", ".stdout", ".err", ".out")
HEADER_LIMIT = 4 * 1024 * 1024  # bytes of a job's output searched for its command line
TAIL_BYTES = 4096
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_NODE_IDS = re.compile(r"--qgraph-node-id[ =]+([0-9a-f,\- ]+)")
_END_OF_COMMAND = "--> end executable <--"
_AGGREGATED = "All aggregation tasks complete"
_PAIRS = {".stderr": (".stdout",), ".stdout": (".stderr",), ".err": (".out",), ".out": (".err",)}


def provenance(request: dict) -> dict:
    """Answer a ``provenance`` request (see the module docstring)."""
    runs = request.get("runs") or []
    limit = int(request.get("max_quanta") or MAX_QUANTA)
    out = {}
    for run in runs:
        name = str(run.get("name") or "")
        started = time.perf_counter()
        try:
            answer = read_run(run, limit)
        except Exception as exc:  # one unreadable run must not hide the others
            log.debug("provenance of %s failed", name, exc_info=True)
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            answer = {"ok": False, "kind": type(exc).__name__, "error": text}
        answer["seconds"] = round(time.perf_counter() - started, 2)
        out[name] = answer
    return {"runs": out}


class RunNotReadable(Exception):
    """The run's graph or repository cannot be found."""


# ---- where the pieces are --------------------------------------------------------------------------

def find_qgraph(name: str, submit_dir: str | None, qgraph: str | None) -> Path:
    """The predicted graph of a run: given, ``{submit_dir}/{name}.qg``, or the only ``.qg`` there."""
    if qgraph:
        path = Path(qgraph)
        if not path.is_file():
            raise RunNotReadable(f"quantum graph {path} does not exist")
        return path
    if not submit_dir:
        raise RunNotReadable("neither a submit directory nor a quantum graph is known")
    folder = Path(submit_dir)
    if not folder.is_dir():
        raise RunNotReadable(f"submit directory {folder} does not exist")
    named = folder / f"{name}.qg"
    if named.is_file():
        return named
    found = sorted(p for p in folder.glob("*.qg") if p.is_file())
    if len(found) == 1:
        return found[0]
    if not found:
        raise RunNotReadable(f"no quantum graph (.qg) in {folder}")
    raise RunNotReadable(f"{len(found)} quantum graphs in {folder} and none is named {name}.qg")


def _submit_pwd(submit_dir: Path | None) -> str | None:
    """The working directory ``bps submit`` ran in (from its ``*.env.info.yaml``), if recorded."""
    if submit_dir is None:
        return None
    for info in sorted(submit_dir.glob("*.env.info.yaml")):
        try:
            with info.open(encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    key, sep, value = line.strip().partition(":")
                    if sep and key.strip() == "PWD":
                        return value.strip().strip("'\"")
        except OSError:
            continue
    return None


def find_repo(header_repo: str | None, submit_dir: Path | None) -> str:
    """The repository a graph was built from (its header's ``butler_argument``), made absolute."""
    if not header_repo:
        raise RunNotReadable("the quantum graph does not record its butler repository; pass 'repo'")
    if "://" in header_repo or os.path.isabs(header_repo):
        return header_repo
    for base in (_submit_pwd(submit_dir), str(submit_dir) if submit_dir else None):
        if base and (Path(base) / header_repo).exists():
            return str(Path(base) / header_repo)
    if Path(header_repo).exists():
        return str(Path(header_repo).resolve())
    return header_repo  # a butler alias, or a path the butler may resolve itself


class LogFiles:
    """A run's job output files, found once: by quantum id in the file name, else in the command line."""

    def __init__(self, submit_dir: Path | None):
        self.files: list[Path] = []
        self.by_id: dict[str, list[Path]] = defaultdict(list)
        self._scanned = False
        if submit_dir is None:
            return
        for sub in ("logs", "jobs"):
            root = submit_dir / sub
            if not root.is_dir():
                continue
            for dirpath, _, names in os.walk(root):
                for file in names:
                    if file.endswith(LOG_SUFFIXES):
                        path = Path(dirpath) / file
                        self.files.append(path)
                        match = _UUID.match(file)
                        if match:
                            self.by_id[match.group(0)].append(path)
        self.files.sort()

    def final_job(self) -> dict:
        """Whether the final job (aggregation into the registry) ran, as its log tells."""
        logs = [p for p in self.files if "finalJob" in p.parts or p.name.startswith("finalJob")]
        if not logs:
            return {"state": "absent", "log": None}
        text = "".join(_tail(p, 64 * 1024) for p in logs)
        err = next((p for p in logs if p.suffix in (".stderr", ".err")), logs[0])
        if _AGGREGATED in text:
            state = "succeeded"
        elif "Traceback" in text or re.search(r"\bERROR\b", text):
            state = "failed"
        else:
            state = "started"
        return {"state": state, "log": str(err)}

    def _scan(self) -> None:
        """Read the command line at the head of every job output (clustered jobs name their quanta there)."""
        self._scanned = True
        named = {p for paths in self.by_id.values() for p in paths}
        for path in self.files:
            if path in named or "finalJob" in path.parts or "pipetaskInit" in path.parts:
                continue
            for quantum in _command_node_ids(path):
                if path not in self.by_id[quantum]:
                    self.by_id[quantum].append(path)

    def of(self, quantum_id: str) -> list[Path]:
        """A quantum's output files (stderr first, then stdout; HTCondor attempts in time order)."""
        if quantum_id not in self.by_id and not self._scanned:
            self._scan()
        paths = list(self.by_id.get(quantum_id, []))
        for path in list(paths):  # the other stream of the same job (only one of them names the quanta)
            for sibling in (path.with_suffix(s) for s in _PAIRS.get(path.suffix, ())):
                if sibling not in paths and sibling.is_file():
                    paths.append(sibling)

        def order(p: Path) -> tuple:
            try:
                mtime = p.stat().st_mtime
            except OSError:
                mtime = 0.0
            return (0 if p.suffix in (".stderr", ".err") else 1, mtime, str(p))
        return sorted(paths, key=order)


def _command_node_ids(path: Path) -> set[str]:
    """Quantum ids named by ``--qgraph-node-id`` in the command lines a job output holds at its head."""
    ids: set[str] = set()
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            read = 0
            in_command = False
            for line in handle:
                read += len(line)
                if read > HEADER_LIMIT:
                    break
                if "--> executable follows <--" in line:
                    in_command = True
                    continue
                if _END_OF_COMMAND in line:
                    in_command = False
                    continue
                if in_command or "--qgraph-node-id" in line:
                    for match in _NODE_IDS.finditer(line):
                        ids.update(_UUID.findall(match.group(1)))
    except OSError:
        pass
    return ids


def _tail(path: Path, size: int = TAIL_BYTES) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            end = handle.tell()
            handle.seek(max(0, end - size))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


# ---- reading one run ---------------------------------------------------------------------------------

def _uses_mocks(pipeline_graph) -> bool:
    """Whether a pipeline uses the mock storage classes of ``lsst.pipe.base.tests.mocks``."""
    for node in pipeline_graph.dataset_types.values():
        try:
            if node.storage_class_name.startswith("_mock_"):
                return True
        except Exception:  # an unresolved dataset type node
            continue
    return any(".tests.mocks" in task.task_class_name for task in pipeline_graph.tasks.values())


def read_run(run: dict, limit: int = MAX_QUANTA) -> dict:
    """The provenance of one run (see the module docstring); raises when it cannot be read."""
    from lsst.pipe.base.pipeline_graph import TaskImportMode
    from lsst.pipe.base.quantum_graph import PredictedQuantumGraphReader

    name = str(run.get("name") or "")
    submit_dir = Path(run["submit_dir"]).absolute() if run.get("submit_dir") else None
    qgraph = find_qgraph(name, str(submit_dir) if submit_dir else None, run.get("qgraph"))
    with PredictedQuantumGraphReader.open(str(qgraph), import_mode=TaskImportMode.DO_NOT_IMPORT) as reader:
        header = reader.components.header
        pipeline_graph = reader.components.pipeline_graph
        header_repo = (header.metadata or {}).get("butler_argument")
        output_run = header.output_run
        mocks = run.get("mock_storage_classes")
        if mocks is None:
            mocks = _uses_mocks(pipeline_graph)
    repo = str(run["repo"]) if run.get("repo") else find_repo(header_repo, submit_dir)
    if mocks:
        import lsst.pipe.base.tests.mocks  # noqa: F401  (registers the mock storage classes)
    logs = LogFiles(submit_dir)
    with tempfile.TemporaryDirectory(prefix="jc-provenance-") as tmp:
        graph_path = os.path.join(tmp, "provenance.qg")
        _aggregate(str(qgraph), repo, graph_path, bool(mocks))
        summary = _summarise(graph_path, logs, limit)
    return {"ok": True, "qgraph": str(qgraph), "repo": repo, "output_run": output_run,
            "mock_storage_classes": bool(mocks), "final_job": logs.final_job(), **summary}


def _aggregate(qgraph: str, repo: str, output: str, mocks: bool) -> None:
    """The aggregator in dry-run mode: a provenance graph file, nothing written to the repository."""
    from lsst.pipe.base.quantum_graph.aggregator import AggregatorConfig, aggregate_graph

    config = AggregatorConfig(output_path=output, dry_run=True, n_processes=1, mock_storage_classes=mocks,
                              register_dataset_types=False, update_output_chain=False)
    assert config.dry_run  # never ingest from a status source
    aggregate_graph(qgraph, repo, config)
    if not os.path.exists(output):
        raise RunNotReadable("the aggregator wrote no provenance graph")


def _status_name(value) -> str:
    return getattr(value, "name", str(value)) if value is not None else ""


def _caveat_flags(caveats) -> list[str]:
    if caveats is None or not caveats:
        return []
    try:
        return sorted(flag.name for flag in type(caveats) if flag.value and flag in caveats and flag.name)
    except TypeError:
        return [str(caveats)]


def _attempt(attempt, files: list[Path]) -> dict:
    exception = getattr(attempt, "exception", None)
    usage = getattr(attempt, "resource_usage", None)
    out = {
        "attempt": getattr(attempt, "attempt", None),
        "status": _status_name(getattr(attempt, "status", None)),
        "caveats": _caveat_flags(getattr(attempt, "caveats", None)),
        "exception": ({"type": exception.type_name, "message": exception.message} if exception is not None else None),
        "memory": getattr(usage, "memory", None) if usage is not None else None,
        "run_time": getattr(usage, "run_time", None) if usage is not None else None,
        "start": usage.start.isoformat() if usage is not None and getattr(usage, "start", None) else None,
    }
    out.update(_attempt_logs(out["attempt"], files))
    if exception is None and out["status"] not in ("SUCCESSFUL", "BLOCKED") and out["stderr"]:
        out["log_tail"] = "\n".join(_tail(Path(out["stderr"]), 2048).splitlines()[-8:])
    return out


def _attempt_logs(number: int | None, files: list[Path]) -> dict:
    """The files of one attempt: Parsl appends every attempt to one pair; HTCondor writes a pair per attempt."""
    errs = [p for p in files if p.suffix in (".stderr", ".err")]
    outs = [p for p in files if p.suffix in (".stdout", ".out")]

    def pick(paths: list[Path]) -> str:
        if not paths:
            return ""
        if len(paths) > 1 and number is not None and number < len(paths):
            return str(paths[number])
        return str(paths[-1])
    err, out = pick(errs), pick(outs)
    return {"stderr": err, "stdout": out, "log": err or out}


def _task_row(label: str) -> dict:
    return {"label": label, "expected": 0, "successful": 0, "caveats": 0, "failed": 0, "blocked": 0, "aborted": 0,
            "aborted_success": 0, "unknown": 0, "peak_memory": None, "caveat_flags": Counter(),
            "exceptions": Counter()}


def _summarise(graph_path: str, logs: LogFiles, limit: int) -> dict:
    from lsst.pipe.base.quantum_graph import ProvenanceQuantumGraph

    with ProvenanceQuantumGraph.from_args(graph_path) as (graph, _):
        xgraph = graph.quantum_only_xgraph
        tasks = {label: _task_row(label) for label in graph.pipeline_graph.tasks}
        lists: dict[str, list] = {"failed": [], "unknown": [], "blocked": [], "caveats": [], "recovered": []}
        truncated: Counter = Counter()
        for quantum_id, info in xgraph.nodes(data=True):
            label = info["task_label"]
            row = tasks.setdefault(label, _task_row(label))
            row["expected"] += 1
            status = _status_name(info.get("status"))
            attempts = info.get("attempts") or []
            for attempt in attempts:
                usage = getattr(attempt, "resource_usage", None)
                memory = getattr(usage, "memory", None) if usage is not None else None
                if memory is not None and (row["peak_memory"] is None or memory > row["peak_memory"]):
                    row["peak_memory"] = memory
            flags = _caveat_flags(info.get("caveats"))
            exception = info.get("exception")
            if exception is not None:
                row["exceptions"][exception.type_name] += 1
            kinds = []
            if status == "SUCCESSFUL":
                row["successful"] += 1
                if flags:
                    row["caveats"] += 1
                    row["caveat_flags"].update(flags)
                    kinds.append("caveats")
                if any(_status_name(getattr(a, "status", None)) != "SUCCESSFUL" for a in attempts[:-1]):
                    kinds.append("recovered")  # failed first, succeeded when retried
            elif status == "BLOCKED":
                row["blocked"] += 1
                kinds.append("blocked")
            elif status in ("FAILED", "ABORTED"):
                row["failed" if status == "FAILED" else "aborted"] += 1
                kinds.append("failed")
            elif status == "ABORTED_SUCCESS":  # metadata written (the task finished), logs lost
                row["aborted_success"] += 1
                kinds.append("caveats")
            else:
                row["unknown"] += 1
                kinds.append("unknown")
            for kind in kinds:
                if len(lists[kind]) >= limit:
                    truncated[kind] += 1
                    continue
                entry: dict = {"quantum_id": str(quantum_id), "task": label, "status": status,
                               "data_id": dict(info["data_id"].required),
                               "data_id_full": dict(info["data_id"].mapping)}
                if kind != "blocked":
                    files = logs.of(str(quantum_id))
                    entry["caveats"] = flags
                    entry["logs"] = [str(p) for p in files]
                    entry["attempts"] = [_attempt(a, files) for a in attempts]
                lists[kind].append(entry)
        for row in tasks.values():
            row["caveat_flags"] = dict(row["caveat_flags"])
            row["exceptions"] = dict(row["exceptions"])
        return {"tasks": list(tasks.values()), **lists, "truncated": dict(truncated)}
