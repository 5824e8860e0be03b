"""The next attempt's BPS file, derived from the file the last attempt was submitted with (not from the spec).

`derive_attempt` takes the submitted YAML and returns the next attempt's: its output run and run name
for attempt N+1 (same output chain), ``--skip-existing-in`` naming the output runs of every earlier
attempt whose outputs may be used (so quanta that succeeded are not run again), and the overrides an
operator asked for (`Overrides`): more memory for the failed tasks, retries, any BPS key, and a data
query restricted to the failed data IDs. Every change is listed in words for the ticket.

An override key must be one BPS knows (`BPS_KEYS`, from ctrl_bps's defaults and its plugins' documented
keys) or one the submitted file has; the keys that make an attempt an attempt (output run, run name,
payload name, output chain, repository) are set here only.
"""

from __future__ import annotations

import copy
import difflib
import logging
import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Sequence

import yaml

from ..core.attempts import attempt_run
from ..errors import InputError

__all__ = ["Overrides", "Derived", "derive_attempt", "BPS_KEYS", "JOB_KEYS", "DEFAULT_MEMORY", "MAX_FAILED_IDS",
           "failed_query", "parse_memory", "settings_between"]

log = logging.getLogger(__name__)

#: BPS's ``requestMemory`` when a file sets none (MB; ctrl_bps's bps_defaults.yaml)
DEFAULT_MEMORY = 2048
#: data IDs a ``--failed-only`` query lists at most (the butler's expression depth on SQLite)
MAX_FAILED_IDS = 900

#: top-level keys of a BPS submit file: ctrl_bps's defaults, the keys its docs name, and the plugins'
BPS_KEYS = frozenset("""
    LSST_VERSION bpsBatchSubmission bpsMakeCommand bpsPreCommandOpts bpsUseRunTempSpace bpsUseShared
    buildQuantumGraph campaign cluster clusterAlgorithm computeCloud computeSite concurrencyLimit
    createQuantumGraph defaultPreCmdOpts environment executionButler extraAggregateOptions extraInitOptions
    extraQgraphOptions extraRunQuantumOptions extraUpdateQgraphOptions fileDistributionEndPoint finalJob
    idLinkPath includeConfigs initPreCmdOpts makeIdLink maxattempt maxwalltime memoryLimit memoryMultiplier
    numberOfRetries operator payload pipelineYaml pipetask pipetaskDataQuery pipetaskInput pipetaskOutput
    preemptible preparePayloadWorkflow priority processingType profile project qgraphFile qgraphFileTemplate
    qgraphPreCmdOpts requestCpus requestDisk requestMemory requestWalltime retryUnlessExit runPreCmdOpts
    runQuantumCommand saveClusteredQgraph saveDot saveGenericWorkflow site subDirTemplate submitPath
    templateDataId updateQgraphPreCmdOpts updateQuantumGraph useLazyCommands uniqProcName
    validateClusteredQgraph whenSaveJobQgraph wmsServiceClass
""".split())

#: keys of one kind of job (``pipetask.<label>.*``, ``cluster.<name>.*``, ``finalJob.*``)
JOB_KEYS = frozenset("""
    requestMemory requestCpus requestDisk requestWalltime numberOfRetries retryUnlessExit memoryMultiplier
    memoryLimit priority computeSite computeCloud queue concurrencyLimit extraRunQuantumOptions
    runQuantumCommand preemptible pipetasks dimensions equalDimensions partitionDimensions partitionMaxClusters
    maxwalltime maxattempt processingType environment
""".split())

PAYLOAD_KEYS = frozenset("payloadName butlerConfig inCollection output outputRun dataQuery runInit".split())

#: set by `derive_attempt` itself: what makes attempt N+1 a new run in the same output chain
PROTECTED = {"payload.outputRun": "the output run of the new attempt",
             "uniqProcName": "the run name of the new attempt",
             "payload.payloadName": "the submission id of the new attempt",
             "payload.output": "the output chain every attempt shares",
             "payload.butlerConfig": "the repository every attempt writes to"}

_SKIP = "--skip-existing-in"
_SECTIONS = ("pipetask", "cluster", "site", "payload", "finalJob", "environment", "executionButler")


@dataclass
class Overrides:
    """What an operator changes in the next attempt.

    ``memory`` is ``x<factor>`` or a value in MB (``8192``, ``8GB``); it applies to ``tasks`` (default:
    the tasks that failed). ``sets`` are ``key=value`` texts (dotted keys, YAML values; ``null``
    removes a key). ``failed_ids`` restricts the data query to these data IDs (``[{"visit": 1003}]``).
    """

    memory: str = ""
    tasks: tuple[str, ...] = ()
    retries: int | None = None
    sets: tuple[str, ...] = ()
    failed_ids: list[dict[str, Any]] | None = None

    def words(self) -> list[str]:
        """The options as typed (``--memory x2 --retries 3``), for the advice and the ticket."""
        out = [f"--memory {self.memory}"] if self.memory else []
        out += [f"--task {t}" for t in self.tasks]
        out += [f"--retries {self.retries}"] if self.retries is not None else []
        out += [f"--set {shlex.quote(s)}" for s in self.sets]
        out += ["--failed-only"] if self.failed_ids is not None else []
        return out


@dataclass
class Derived:
    """The next attempt's file and what it changed."""

    text: str
    output_run: str
    run_name: str
    data_query: str
    changes: list[str] = field(default_factory=list)


def parse_memory(text: str, option: str = "--memory") -> tuple[str, float]:
    """``("x", 2.0)`` for ``x2``, ``("mb", 8192)`` for ``8192``, ``8192MB`` or ``8GB``."""
    raw = text.strip()
    found = re.fullmatch(r"[x*]\s*(\d+(?:\.\d+)?)", raw, re.IGNORECASE)
    if found:
        factor = float(found.group(1))
        if factor <= 1:
            raise InputError(option, None, None, f"'{text}': a factor must be above 1 (x2 doubles the memory)")
        return "x", factor
    found = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(mb|mib|gb|gib)?", raw, re.IGNORECASE)
    if not found:
        raise InputError(option, None, None, f"'{text}': expected x<factor> (x2) or memory in MB (8192, or 8GB)")
    value = float(found.group(1)) * (1024 if (found.group(2) or "").lower().startswith("g") else 1)
    if value <= 0:
        raise InputError(option, None, None, f"'{text}': memory must be positive")
    return "mb", value


def _check_key(data: dict, path: list[str], setting: str) -> None:
    """An override key must be BPS's or the file's; a job section's keys are checked too."""
    dotted = ".".join(path)
    if dotted in PROTECTED:
        raise InputError("--set", None, dotted, f"'{setting}': {dotted} is {PROTECTED[dotted]}, set by rescue itself")

    def present(keys: Sequence[str]) -> bool:
        node: Any = data
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return False
            node = node[key]
        return True

    head = path[0]
    if len(path) == 1 and head in _SECTIONS:
        raise InputError("--set", None, dotted, f"'{setting}': {head} is a section: set a key under it "
                         f"({head}.<name>.<key>)" if head in ("pipetask", "cluster", "site") else
                         f"'{setting}': {head} is a section: set a key under it ({head}.<key>)")
    if present(path):
        return
    known = head in BPS_KEYS
    if known and head in ("pipetask", "cluster", "site") and len(path) >= 3:
        known = head == "site" or path[2] in JOB_KEYS  # a site's keys are its plugin's own
    elif known and head == "finalJob" and len(path) >= 2:
        known = path[1] in JOB_KEYS or present(path[:2])
    elif known and head == "payload" and len(path) >= 2:
        known = path[1] in PAYLOAD_KEYS
    elif known and head in ("pipetask", "cluster", "site") and len(path) == 2:
        known = False  # a whole section: name the key under it
    elif head == "environment":
        known = True
    if known:
        return
    candidates = sorted(BPS_KEYS | set(data)) if len(path) == 1 else sorted(JOB_KEYS | PAYLOAD_KEYS)
    close = difflib.get_close_matches(path[-1], candidates, n=1)
    hint = f"; did you mean '{'.'.join(path[:-1] + [close[0]])}'?" if close else ""
    raise InputError("--set", None, dotted, f"'{setting}': unknown BPS key {dotted} (neither in the submitted file "
                     f"nor among BPS's keys){hint}")


def _assign(data: dict, path: list[str], value: Any) -> Any:
    """Set (or, for `None`, remove) a dotted key; returns the value it had."""
    node = data
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    old = node.get(path[-1])
    if value is None:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return old


def _memory_of(data: dict, label: str) -> float:
    task = ((data.get("pipetask") or {}).get(label) or {})
    for value in (task.get("requestMemory"), data.get("requestMemory")):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return float(DEFAULT_MEMORY)


def _skip_list(options: str, runs: Sequence[str]) -> tuple[str, list[str]]:
    """``extraQgraphOptions`` with one ``--skip-existing-in`` naming ``runs`` then what it named before."""
    try:
        words = shlex.split(options or "")
    except ValueError as exc:
        raise InputError("extraQgraphOptions", None, None, f"cannot be read as options ({exc})") from None
    kept, named = [], []
    i = 0
    while i < len(words):
        word = words[i]
        if word == _SKIP and i + 1 < len(words):
            named += words[i + 1].split(",")
            i += 2
            continue
        if word.startswith(_SKIP + "="):
            named += word.split("=", 1)[1].split(",")
        else:
            kept.append(word)
        i += 1
    chain = list(dict.fromkeys([*runs, *(n for n in named if n)]))
    return shlex.join([*kept, _SKIP, ",".join(chain)]) if chain else shlex.join(kept), chain


def failed_query(query: str, data_ids: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """``(query, dimension)``: ``query`` restricted to the failed data IDs by the coarsest dimension they
    all have (visit, exposure, tract, day_obs, detector)."""
    if not data_ids:
        raise InputError("--failed-only", None, None, "no failed data ID is known for this run")
    for dimension in ("visit", "exposure", "tract", "day_obs", "detector"):
        if all(dimension in d for d in data_ids):
            break
    else:
        raise InputError("--failed-only", None, None, "the failed data IDs share no visit, exposure, tract or day_obs "
                         "to select them by")
    values = sorted({d[dimension] for d in data_ids}, key=lambda v: (str(type(v)), v))
    if len(values) > MAX_FAILED_IDS:
        raise InputError("--failed-only", None, None, f"{len(values)} failed {dimension}s are more than a query can "
                         f"list ({MAX_FAILED_IDS}); rescue without --failed-only (--skip-existing-in already runs "
                         "only what did not succeed)")
    listed = ", ".join(str(v) if isinstance(v, int) else "'" + str(v).replace("'", "''") + "'" for v in values)
    restricted = f"{dimension} IN ({listed})"
    return (f"({query}) AND {restricted}" if query.strip() else restricted), dimension


def derive_attempt(text: str, name: str, attempt: int, ident: str, skip_runs: Sequence[str], overrides: Overrides,
                   failed_tasks: Sequence[str], header: Sequence[str]) -> Derived:
    """The BPS file of ``attempt`` (N+1) from the text of attempt N's file.

    Parameters
    ----------
    text : `str`
        The submitted file of the attempt it follows.
    name : `str`
        That file's name, for errors.
    attempt : `int`
        The new attempt's number.
    ident : `str`
        The new attempt's submission id (``payloadName``).
    skip_runs : `list` [`str`]
        Output runs of the earlier attempts whose outputs may be used, latest first.
    overrides : `Overrides`
    failed_tasks : `list` [`str`]
        Task labels with failures (what ``--memory`` applies to without ``--task``).
    header : `list` [`str`]
        Comment lines for the top of the file.

    Raises
    ------
    InputError
        An override that is not a BPS key, a bad value, a file that is not a BPS submit file.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(name, None, None, f"the submitted file cannot be read as YAML: {exc}") from None
    payload = data.get("payload") if isinstance(data, dict) else None
    if not isinstance(payload, dict) or not payload.get("outputRun"):
        raise InputError(name, None, "payload.outputRun", "the submitted file has no payload.outputRun: it is not a "
                         "BPS submit file jiracampaign wrote")
    data = copy.deepcopy(data)
    payload = data["payload"]
    changes: list[str] = []
    for setting in overrides.sets:
        key, sep, value_text = setting.partition("=")
        path = [p for p in key.strip().split(".")]
        if not sep or not key.strip() or any(not p for p in path):
            raise InputError("--set", None, None, f"'{setting}': expected key=value (a dotted BPS key, e.g. "
                             "pipetask.isr.requestMemory=8192)")
        _check_key(data, path, setting)
        try:
            value = yaml.safe_load(value_text) if value_text.strip() else ""
        except yaml.YAMLError as exc:
            raise InputError("--set", None, key, f"'{setting}': the value is not YAML: {exc}") from None
        old = _assign(data, path, value)
        changes.append(f"{key.strip()}: {old!r} -> {value!r}" if value is not None else f"{key.strip()} removed")
    if overrides.memory:
        how, amount = parse_memory(overrides.memory)
        labels = list(overrides.tasks) or list(failed_tasks)
        if not labels:
            raise InputError("--memory", None, None, "no failed task is known for this run: name the tasks with "
                             "--task LABEL")
        clusters = data.get("cluster") if isinstance(data.get("cluster"), dict) else {}
        for label in labels:
            before = _memory_of(data, label)
            after = int(round(before * amount)) if how == "x" else int(round(amount))
            _assign(data, ["pipetask", label, "requestMemory"], after)
            changes.append(f"pipetask.{label}.requestMemory: {int(before)} -> {after} MB")
            for name, cluster in clusters.items():  # a cluster's own requestMemory wins over its tasks'
                members = [t.strip() for t in str((cluster or {}).get("pipetasks") or "").split(",")]
                held = (cluster or {}).get("requestMemory")
                if label in members and isinstance(held, (int, float)) and not isinstance(held, bool):
                    grown = int(round(held * amount)) if how == "x" else max(int(held), int(round(amount)))
                    if grown != held:
                        cluster["requestMemory"] = grown
                        changes.append(f"cluster.{name}.requestMemory: {int(held)} -> {grown} MB")
    if overrides.retries is not None:
        if overrides.retries < 0:
            raise InputError("--retries", None, None, f"{overrides.retries}: expected 0 or more")
        old = data.get("numberOfRetries")
        data["numberOfRetries"] = overrides.retries
        changes.append(f"numberOfRetries: {old!r} -> {overrides.retries}")
        site = (data.get("site") or {}).get(str(data.get("computeSite"))) if isinstance(data.get("site"), dict) else None
        if isinstance(site, dict) and "retries" in site:  # Parsl's sites retry by their own key
            changes.append(f"site.{data.get('computeSite')}.retries: {site['retries']!r} -> {overrides.retries}")
            site["retries"] = overrides.retries
    query = str(payload.get("dataQuery") or "")
    if overrides.failed_ids is not None:
        query, dimension = failed_query(query, overrides.failed_ids)
        payload["dataQuery"] = query
        changes.append(f"payload.dataQuery restricted to the failed {dimension}s")
    old_run = str(payload["outputRun"])
    payload["outputRun"] = attempt_run(old_run, attempt, "/")
    run_name = attempt_run(str(data.get("uniqProcName") or old_run.replace("/", "_")), attempt, "_")
    data["uniqProcName"] = run_name
    payload["payloadName"] = ident
    options, chain = _skip_list(str(data.get("extraQgraphOptions") or ""), skip_runs)
    if options:
        data["extraQgraphOptions"] = options
    else:
        data.pop("extraQgraphOptions", None)
    if chain:
        changes.append(f"{_SKIP} {','.join(chain)} (quanta that succeeded there are not run again)")
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000, allow_unicode=True)
    top = "".join(f"# {line}\n" for line in header)
    return Derived(top + body, payload["outputRun"], run_name, query, changes)


def settings_between(old_text: str, new_text: str) -> list[str]:
    """The ``--set key=value`` texts that turn the file that ran into the newly planned one, leaving out what
    ``rescue`` sets itself (the attempt's names, its ``--skip-existing-in``); the keys the new plan dropped
    become ``key=null``."""
    try:
        old, new = yaml.safe_load(old_text) or {}, yaml.safe_load(new_text) or {}
    except yaml.YAMLError:
        return []
    for data in (old, new):
        if isinstance(data, dict) and data.get("extraQgraphOptions"):
            words = shlex.split(str(data["extraQgraphOptions"]))
            if _SKIP in words:
                i = words.index(_SKIP)
                del words[i:i + 2]
            data["extraQgraphOptions"] = shlex.join(words)
            if not words:
                del data["extraQgraphOptions"]

    def leaves(node: Any, path: tuple[str, ...] = ()) -> dict[str, Any]:
        if isinstance(node, dict) and node:
            out: dict[str, Any] = {}
            for key, value in node.items():
                out.update(leaves(value, path + (str(key),)))
            return out
        return {".".join(path): node}

    before, after = leaves(old), leaves(new)
    settings = []
    for key in sorted(set(before) | set(after)):
        if key in PROTECTED or before.get(key) == after.get(key):
            continue
        value = after.get(key)
        text = "null" if key not in after else yaml.safe_dump(value, default_flow_style=True, width=10000).strip()
        settings.append(f"{key}={text.removesuffix(chr(10) + '...').removesuffix(' ...')}")
    return settings
