"""``submit``: run ``bps submit`` for a campaign's submissions and record each run on its item.

Before anything is written, the selection is checked: a submission whose run is recorded is skipped
(``--force`` does not resubmit it: a new attempt needs its own file, :func:`next_attempt_file`), one
whose earlier steps are not done is refused (unless ``--force``; the refusal says, per ticket waited
for, why it is not done and what to do: :func:`waiting_reason`), and the BPS command is checked once
(:meth:`Submitter.check_bps`). Then, for each submission: the YAML on disk is the one attached (a
last-minute edit is attached again, with a diff note); ``bps submit FILE`` runs in a working folder of
its own (``<campaign folder>/runs/<submission>-a<attempt>/``, so BPS's default ``submitPath`` and
Parsl's ``runinfo/`` land there: BPS reads ``${PWD}``, which is set to it), with an environment that
holds no jiracampaign secret and whose ``PATH`` starts with the folder of the ``bps`` it runs (:func:`bps_folder`: the ``pipetask`` and
``butler`` BPS's jobs call are then those of the same environment); its ``Submit dir``, ``Run Id``
and ``Run Name`` are read from its output; the run identity (with the times bps started and
returned) goes into the item's record (its description is re-rendered from it); the item shows the
run as running and the run joins the campaign's sync ledger. A failed ``bps submit`` leaves the
item as it was, with a note quoting the end of the output.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import yaml

from ..childenv import child_environment, secret_variables
from ..config import Config, data_dir
from ..core import texts
from ..core.attempts import SETTLING, Verdict, attempt_ident, by_group, first_ident
from ..core.documents import Document, Mono, Paragraph
from ..core.ledger import Entry
from ..core.records import NO_RUN_ID, CampaignRecord, RunIdentity, SubmissionRecord, current_sync
from ..core.states import BatchState
from ..errors import JiraCampaignError, TrackerError
from ..locks import exclusive, lock_path
from ..planning.plan import read_manifest
from ..planning.render import file_sha, same_file
from .inputs import load_spec
from ..plugins import source_for
from ..trackers.base import Item, Tracker
from .items import campaign_items, campaign_of, folder_for
from .ledger import add_runs

__all__ = ["SubmitResult", "SubmitReport", "submit", "parse_bps_output", "wms_of", "Submitter", "LOCK_WAIT",
           "next_attempt_file", "run_folder", "child_environment", "bps_folder", "waiting_reason"]

log = logging.getLogger(__name__)

_BPS_LINE = re.compile(r"^\s*(Submit dir|Run Id|Run Name)\s*:\s*(\S.*?)\s*$", re.MULTILINE)
_KEYS = {"Submit dir": "submit_dir", "Run Id": "run_id", "Run Name": "run_name"}
#: a top-level ``wmsServiceClass`` line with a plain or quoted value (and perhaps a comment)
_WMS_LINE = re.compile(r"""^wmsServiceClass:[ \t]*(?:"([\w.]*)"|'([\w.]*)'|([\w.]*))[ \t]*(?:#.*)?$""", re.MULTILINE)
TAIL_LINES = 30
LOCK_WAIT = 120
#: seconds the up-front ``bps --help`` check may take (importing the stack takes a few)
CHECK_TIMEOUT = 120


@dataclass
class SubmitResult:
    key: str
    ident: str
    action: str  # submitted, recorded, would submit, skipped, refused, failed
    detail: str = ""
    run: RunIdentity | None = None

    def row(self) -> dict:
        run = self.run
        return {"key": self.key, "id": self.ident, "action": self.action, "run_name": run.run_name if run else None,
                "run_id": run.run_id if run else None, "detail": self.detail}


@dataclass
class SubmitReport:
    """What `submit` did, one result per selected submission."""

    results: list[SubmitResult] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(r.action == action for r in self.results)

    @property
    def ok(self) -> bool:
        return not (self.count("failed") or self.count("refused"))


def parse_bps_output(text: str) -> dict[str, str]:
    """``submit_dir``, ``run_id`` and ``run_name`` from what ``bps submit`` printed (the last of each).

    ``Run Id: None`` (Parsl has no run id) gives no ``run_id``.
    """
    found = {_KEYS[m.group(1)]: m.group(2) for m in _BPS_LINE.finditer(text)}
    if found.get("run_id") in NO_RUN_ID:
        del found["run_id"]
    return found


def next_attempt_file(record: SubmissionRecord) -> str:
    """Where the next attempt of a submission goes in the campaign folder: ``<step>/<submission>-a<n>.yaml``.

    A run that was submitted is never submitted again from the same file: BPS would meet its output
    run and submit folder again. The next attempt has its own file, output run (``.../attempt<n>``)
    and run name.
    """
    return f"{record.step}/{attempt_ident(first_ident(record.submission, record.attempt), record.attempt + 1)}.yaml"


def run_folder(folder: Path, record: SubmissionRecord) -> Path:
    """The working folder ``bps submit`` runs in for one attempt: ``<campaign folder>/runs/<submission>-a<n>``.

    BPS's default ``submitPath`` (``${PWD}/submit/...``) and Parsl's ``runinfo/`` are written there,
    apart from the files ``plan`` and ``create`` replace.
    """
    return Path(folder) / "runs" / f"{first_ident(record.submission, record.attempt)}-a{record.attempt}"


def wms_of(yaml_text: str) -> str:
    """Workload system of a BPS file, from its ``wmsServiceClass`` (``panda``, ``htcondor``, ``parsl``...).

    A top-level ``wmsServiceClass: <plain or quoted value>`` line is read as such; any other shape of
    file is read as YAML (parsing a whole BPS file costs milliseconds per submission).
    """
    line = _WMS_LINE.search(yaml_text)
    if line and len(_WMS_LINE.findall(yaml_text)) == 1:
        service = next(v for v in line.groups() if v is not None)
    else:
        try:
            data = yaml.safe_load(yaml_text) or {}
        except yaml.YAMLError:
            return ""
        service = str(data.get("wmsServiceClass", "")) if isinstance(data, dict) else ""
    parts = service.split(".")
    return parts[3] if len(parts) > 3 and parts[:3] == ["lsst", "ctrl", "bps"] else service.lower()


def bps_folder(words: list[str], path: str | None = None) -> str | None:
    """The folder of the ``bps`` a BPS command runs: of its first word named ``bps``, else of its first word.

    BPS's jobs call ``pipetask`` and ``butler`` by name (``runQuantumCommand``, the final job) and
    Parsl starts its workers by name (``process_worker_pool.py``): with this folder first on the
    child's ``PATH`` they are those of the environment that owns this ``bps``, whatever else is on
    ``PATH``. `None` when the program is not found (a wrapper such as ``singularity exec IMAGE bps``
    whose ``bps`` lives elsewhere: ``PATH`` is then left alone).

    Parameters
    ----------
    words : `list` [`str`]
        The BPS command, split.
    path : `str`, optional
        The ``PATH`` to search (default: this process's).
    """
    if not words:
        return None
    word = next((w for w in words if Path(w).name == "bps"), words[0])
    found = shutil.which(word, path=path)
    return str(Path(found).absolute().parent) if found else None


def verdict_of(item: Item) -> Verdict | None:
    """The verdict settling the item's current run, if any."""
    synced = current_sync(item.record, item.sync)
    try:
        return Verdict(synced.verdict) if synced and synced.verdict else None
    except ValueError:
        return None


def waiting_reason(item: Item) -> tuple[str, str]:
    """Why a submission of an earlier step is not done yet: ``(state, what to do)``.

    The state is what its last sync saw (``partial``, ``running``, ...), or ``not submitted``, or
    ``not synced`` for a run that ended or was submitted since the last sync.
    """
    record = item.record
    if not isinstance(record, SubmissionRecord) or record.run is None:
        return "not submitted", "submit it first"
    synced = current_sync(record, item.sync)
    state = synced.state if synced else ""
    if not state:
        return "not synced", "run 'jiracampaign sync' to read its state"
    if state == BatchState.PARTIAL.value:
        return state, (f"a partial run ended with failed quanta: read its failure summary, then rescue it "
                       f"(jiracampaign rescue {item.key}) or accept what it produced (jiracampaign accept {item.key})")
    if state == BatchState.FAILED.value:
        return state, f"a failed run needs its next attempt: jiracampaign rescue {item.key}"
    return state, "run 'jiracampaign sync' once it has ended"


def rejected_outputs(items: list[Item]) -> set[str]:
    """The output collections of groups whose latest attempt was rejected (``.../group003``)."""
    subs = [t for t in items if isinstance(t.record, SubmissionRecord)]
    return {re.sub(r"/attempt\d+$", "", chain[-1].record.output_run)
            for chain in by_group((t.record, t) for t in subs).values()
            if verdict_of(chain[-1]) is Verdict.REJECTED and chain[-1].record.output_run}


def leave_out(path: Path, rejected: set[str]) -> bytes:
    """The BPS file's content, its ``inCollection`` without the rejected groups' outputs (the file is rewritten,
    so the version submitted is attached again with its diff)."""
    content = path.read_bytes()
    if not rejected:
        return content
    text = content.decode("utf-8")
    line = re.search(r"^(\s+inCollection:\s*)(.+)$", text, re.MULTILINE)
    if not line:
        return content
    value = yaml.safe_load(line.group(2))
    names = [n.strip() for n in str(value).split(",") if n.strip()]
    kept = [n for n in names if n not in rejected]
    if kept == names:
        return content
    log.info("%s: leaving the rejected groups' outputs out of inCollection: %s", path.name,
             ", ".join(n for n in names if n in rejected))
    new = text[:line.start(2)] + json.dumps(",".join(kept)) + text[line.end(2):]
    path.write_text(new, encoding="utf-8")
    return new.encode("utf-8")


def campaign_in(path: Path) -> str:
    """The campaign id a spec names (its ``campaign`` key); a spec that names none is loaded and checked in
    full, for the error that says why.

    `submit` needs nothing else of the spec: its groups are read from the tickets and the campaign
    folder, so it neither splits the inputs again nor has each group's query parsed by the butler
    (which costs tens of milliseconds per group).
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        data = None
    found = data.get("campaign") if isinstance(data, dict) else None
    return found if isinstance(found, str) and found else load_spec(path).campaign.id


#: told, before anything runs, each selected submission's ``(key, id, run name)`` (the planned run name until it ran)
Planned = Callable[[list[tuple[str, str, str]]], None]
#: told each submission's result as soon as it is known (a submitted one as its ``bps submit`` returns)
Told = Callable[[SubmitResult], None]


def submit(tracker: Tracker, config: Config, targets: tuple[str, ...], steps: tuple[str, ...] = (),
           groups: tuple[int, ...] = (), output_dir: str | None = None, force: bool = False, dry_run: bool = False,
           run: Callable[..., subprocess.CompletedProcess] = subprocess.run, planned: Planned | None = None,
           on_result: Told | None = None) -> SubmitReport:
    """Submit the selected submissions of one campaign.

    ``targets`` is a spec file (narrowed by ``steps`` and ``groups``) or item keys; ``planned`` and
    ``on_result`` follow the work (see `Submitter.submit`).
    """
    keys = None if Path(targets[0]).is_file() else set(targets)
    campaign = campaign_in(Path(targets[0])) if keys is None else campaign_of(tracker, targets)
    folder = folder_for(config.get("campaigns_dir"), output_dir, campaign)
    items = campaign_items(tracker, campaign, folder)
    epic = next((t for t in items if t.kind == "campaign"), None)
    if epic is None:
        raise JiraCampaignError(f"campaign {campaign} is not recorded in {tracker.describe()}: "
                                "run 'jiracampaign create SPEC' first")
    selected = [t for t in items if isinstance(t.record, SubmissionRecord) and (keys is None or t.key in keys)
                and (not steps or t.record.step in steps) and (not groups or t.record.group in groups)]
    if not selected:
        raise JiraCampaignError("no submission matches the selection")
    submitter = Submitter(tracker, folder, config.get("bps.command"), lambda wms: source_for(wms, config), run=run,
                          secrets=secret_variables(config))
    if dry_run:
        return submitter.submit(selected, epic, items, force=force, dry_run=True, planned=planned, on_result=on_result)
    with exclusive(lock_path(data_dir()), LOCK_WAIT):
        return submitter.submit(selected, epic, items, force=force, planned=planned, on_result=on_result)


class Unfinished:
    """A campaign's items indexed once by step: the groups whose latest attempt is not done, and for each
    step the ones that hold it (those of the steps it must follow), found once per step.

    Parameters
    ----------
    epic : `Item`
        The campaign item (its record orders the steps).
    items : `list` [`Item`]
        The campaign's items.
    """

    def __init__(self, epic: Item, items: list[Item]):
        self.record = epic.record if isinstance(epic.record, CampaignRecord) else None
        subs = [t for t in items if isinstance(t.record, SubmissionRecord)]
        self.by_step: dict[str, list[Item]] = {}
        for chain in by_group((t.record, t) for t in subs).values():
            latest = chain[-1]
            if not latest.done and verdict_of(latest) not in SETTLING:
                self.by_step.setdefault(latest.record.step, []).append(latest)
        self.held: dict[str, list[Item]] = {}

    def blocking(self, step: str) -> list[Item]:
        """The unfinished groups (latest attempts) of the steps ``step`` must follow, by submission id."""
        if step not in self.held:
            info = self.record.step(step) if self.record else None
            after = set(info.after) if info else set()
            self.held[step] = sorted((t for before in after for t in self.by_step.get(before, ())), key=lambda t: t.ident)
        return self.held[step]


class Submitter:
    """Submits and records runs for one campaign.

    Parameters
    ----------
    tracker : `Tracker`
    folder : `Path`
        The campaign folder (``manifest.json`` and the BPS files).
    command : `str`
        The BPS command (``bps.command``), split like a shell would.
    source_for : callable
        Names the status source that follows a workload system's runs.
    run : callable
        Runs the command (``subprocess.run``; tests may pass their own).
    clock : callable
        The current UTC time.
    secrets : `tuple` [`str`]
        Environment variables never passed to ``bps`` (besides every ``JIRACAMPAIGN_*`` one).
    """

    def __init__(self, tracker: Tracker, folder: Path, command: str, source_for: Callable[[str], str],
                 run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc), secrets: tuple[str, ...] = ()):
        self.tracker, self.folder, self.source_for = tracker, Path(folder), source_for
        self.command_text, self.runner, self.clock = command, run, clock
        try:
            self.command, self.command_problem = shlex.split(command or ""), ""
        except ValueError as exc:  # an unbalanced quote
            self.command, self.command_problem = [], str(exc).lower()
        self.secrets = secrets
        self.rejected: set[str] = set()
        manifest = read_manifest(self.folder) if self.folder.is_dir() else None
        self.files = {e["id"]: self.folder / e["file"] for e in (manifest or {}).get("submissions", [])}

    @staticmethod
    def blockers(item: Item, epic: Item, items: list[Item], index: Unfinished | None = None) -> list[Item]:
        """The groups of the steps ``item``'s step must follow that are not done, each by its latest attempt.

        A group is done when its latest attempt is (it succeeded), or was settled by a verdict (accepted,
        force-completed; a rejected group no longer holds the next step, which leaves its outputs out).
        ``index`` is ``items`` indexed once (`Unfinished`), for a caller that asks for many submissions.
        """
        return (index or Unfinished(epic, items)).blocking(item.record.step)

    @staticmethod
    def waiting_detail(step: str, waiting: list[Item]) -> str:
        """The refusal of a step whose earlier steps are not done: the tickets, why each waits, what to do.

        For example: ``step step2 must wait until JC-2 is done (JC-2: partial; a partial run ended with
        failed quanta: read its failure summary, then submit its next attempt, or accept what it produced
        with --force)``.
        """
        keys = [t.key for t in waiting]
        by_state: dict[str, list[str]] = {}
        advice: dict[str, str] = {}
        for t in waiting:
            state, todo = waiting_reason(t)
            by_state.setdefault(state, []).append(t.key)
            advice.setdefault(todo, state)
        shown = "; ".join(f"{', '.join(k[:10])}{' ...' if len(k) > 10 else ''}: {state}"
                          for state, k in by_state.items())
        todo = "; ".join(advice)
        force = "" if "--force" in todo else "; --force submits anyway"
        return (f"step {step} must wait until {', '.join(keys[:10])}{' ...' if len(keys) > 10 else ''} "
                f"{'is' if len(keys) == 1 else 'are'} done ({shown}; {todo}{force})")

    def submit(self, selected: list[Item], epic: Item, items: list[Item], force: bool = False,
               dry_run: bool = False, planned: Planned | None = None, on_result: Told | None = None) -> SubmitReport:
        """Submit ``selected``; nothing is written before every check passed, the BPS command's included.

        ``planned`` is told the selection (key, id, run name) once it is checked, before ``bps`` runs;
        ``on_result`` each result as soon as it is known, in order (a submitted one as its ``bps submit``
        returns), so a caller can show each row while the others still run.

        Raises
        ------
        JiraCampaignError
            The BPS command cannot be run (no ticket was touched).
        """
        index = Unfinished(epic, items)  # once: each submission's check looks its step up
        decided = [(item, self._check(item, epic, items, force, index))
                   for item in sorted(selected, key=lambda t: t.ident)]
        todo = [item for item, outcome in decided if isinstance(outcome, Path)]
        if todo and not dry_run:
            self.check_bps()
        if planned is not None:
            planned([(item.key, item.ident, item.record.run.run_name if item.record.run else item.record.run_name)
                     for item, _ in decided])
        tell = on_result or (lambda result: None)
        if dry_run:
            report = SubmitReport()
            for item, outcome in decided:
                report.results.append(outcome if isinstance(outcome, SubmitResult) else SubmitResult(
                    item.key, item.ident, "would submit", shlex.join(self.bps_command(outcome))))
                tell(report.results[-1])
            return report
        report, entries = SubmitReport(), []
        self.rejected = rejected_outputs(items)
        for item, outcome in decided:
            result = outcome if isinstance(outcome, SubmitResult) else self._run(item, outcome)
            report.results.append(result)
            tell(result)
            if result.action == "submitted":
                entries.append(self.entry(item, result.run))
        if entries:
            add_runs(self.tracker, epic, entries, items, self.source_for)
        return report

    def _check(self, item: Item, epic: Item, items: list[Item], force: bool,
               index: Unfinished | None = None) -> SubmitResult | Path:
        """What becomes of one submission: its BPS file when it is to be submitted, else the result."""
        record: SubmissionRecord = item.record
        done = record.run.run_name if record.run else None
        if done and force:
            following = self.folder / next_attempt_file(record)
            return SubmitResult(item.key, item.ident, "refused",
                                f"already submitted as {done} (attempt {record.attempt}); a run is never submitted "
                                f"twice from one file: 'jiracampaign rescue {item.key}' prepares the next attempt "
                                f"({following}, output run .../attempt{record.attempt + 1})")
        if done:
            return SubmitResult(item.key, item.ident, "skipped", f"already submitted as {done}")
        waiting = self.blockers(item, epic, items, index)
        if waiting and not force:
            return SubmitResult(item.key, item.ident, "refused", self.waiting_detail(record.step, waiting))
        path = self.files.get(item.ident) or self.folder / record.step / record.file
        if not path.is_file():
            return SubmitResult(item.key, item.ident, "failed",
                                f"{path} does not exist: run 'jiracampaign create SPEC' to write the campaign folder")
        return path.resolve()

    def bps_command(self, path: Path) -> list[str]:
        return self.command + ["submit", str(path)]

    def environment(self) -> dict[str, str]:
        """What ``bps`` runs with: no jiracampaign secret, and the folder of ``bps`` first on ``PATH``."""
        env = child_environment(self.secrets)
        folder = bps_folder(self.command, env.get("PATH"))
        if folder:
            rest = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != folder]
            env["PATH"] = os.pathsep.join([folder, *rest])
        return env

    def check_bps(self) -> None:
        """Check once, before any ticket is touched, that the BPS command runs (``<command> --help``).

        Raises
        ------
        JiraCampaignError
            Not found, not executable, or it fails: names ``bps.command`` and what to do.
        """
        what = f"bps.command is '{self.command_text}'"
        fix = "set up the LSST stack (bps on PATH) or set bps.command to a command that runs bps; no ticket was changed"
        if self.command_problem:
            raise JiraCampaignError(f"cannot submit: {what}, which cannot be read as a command line "
                                    f"({self.command_problem}); no ticket was changed")
        if not self.command:
            raise JiraCampaignError(f"cannot submit: bps.command is empty: {fix}")
        exe = self.command[0]
        if shutil.which(exe) is None:
            where = "does not exist or is not executable" if os.sep in exe else "is not found on PATH"
            raise JiraCampaignError(f"cannot submit: '{exe}' {where} ({what}): {fix}")
        check = self.command + ["--help"]
        try:
            proc = self.runner(check, capture_output=True, text=True, env=self.environment(), timeout=CHECK_TIMEOUT,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise JiraCampaignError(f"cannot submit: '{shlex.join(check)}' did not answer within {CHECK_TIMEOUT} s "
                                    f"({what}); no ticket was changed") from None
        except OSError as exc:
            raise JiraCampaignError(f"cannot submit: '{exe}' cannot be run: {exc.strerror or exc} ({what}): "
                                    f"{fix}") from None
        if proc.returncode != 0:
            out = ((proc.stderr or "") + (proc.stdout or "")).strip()
            last = out.splitlines()[-1] if out else "no output"
            raise JiraCampaignError(f"cannot submit: '{shlex.join(check)}' failed with exit status {proc.returncode} "
                                    f"({last}) ({what}): {fix}")

    def _run(self, item: Item, path: Path) -> SubmitResult:
        record: SubmissionRecord = item.record
        content = leave_out(path, self.rejected)
        command = self.bps_command(path)
        try:
            workdir = self._workdir(record)
        except OSError as exc:
            return SubmitResult(item.key, item.ident, "failed", f"cannot prepare the working folder "
                                f"{run_folder(self.folder, record)}: {exc.strerror or exc}")
        self._sync_yaml(item, path, content)
        started = self.now()
        out, found, why = self._call(item, command, workdir)
        returned = self.now()
        if why:
            return SubmitResult(item.key, item.ident, "failed", f"bps submit failed ({why}): "
                                f"{out.strip().splitlines()[-1] if out.strip() else 'no output'}")
        run = RunIdentity(run_name=found["run_name"], run_id=found.get("run_id"), submit_dir=found.get("submit_dir"),
                          wms=wms_of(content.decode("utf-8", "replace")), submitted=started, returned=returned)
        self.record(item, run)
        return SubmitResult(item.key, item.ident, "submitted", found.get("submit_dir") or "", run)

    def _call(self, item: Item, command: list[str], workdir: Path, verb: str = "submit") -> tuple[str, dict, str]:
        """Run ``bps <verb>`` (``command``) in ``workdir`` (``PWD`` set to it): ``(output, what it printed, why it
        failed)``, the last empty when it succeeded; a failure is noted on the item with the end of the output.
        ``bps restart`` exits 0 on failure and says ``Restart failed: ...``."""
        log.info("%s: %s (in %s)", item.key, shlex.join(command), workdir)
        try:
            proc = self.runner(command, cwd=workdir, capture_output=True, text=True,
                               env={**self.environment(), "PWD": str(workdir)}, stdin=subprocess.DEVNULL)
        except OSError as exc:
            proc = subprocess.CompletedProcess(command, 127, "", f"{command[0]}: {exc.strerror or exc}")
        out = (proc.stdout or "") + (proc.stderr or "")
        found = parse_bps_output(proc.stdout or "")
        failed = next((line for line in out.splitlines() if line.startswith(f"{verb.capitalize()} failed")), "")
        why = ""
        if proc.returncode != 0 or failed or not found.get("run_name"):
            why = failed or (f"exit status {proc.returncode}" if proc.returncode else "no 'Run Name:' in its output")
            tail = "\n".join(out.rstrip().splitlines()[-TAIL_LINES:]) or "(no output)"
            log.warning("%s: bps %s failed (%s)", item.key, verb, why)
            self.tracker.add_note(item.key, texts.submit_failed_doc(shlex.join(command), why, tail))
        return out, found, why

    def restart(self, item: Item, wms_class: str) -> tuple[SubmitResult, Entry | None]:
        """``bps restart`` of the item's run, in the working folder it was submitted from (Parsl reads its
        ``runinfo/`` there): the same run continues with what failed; its new run id goes on the item,
        which shows it running again, and its sync state starts afresh."""
        record: SubmissionRecord = item.record
        run = record.run
        ident = run.run_id if run.wms == "panda" else run.submit_dir
        command = self.command + ["restart", "--id", str(ident)] + (["--wms-service-class", wms_class] if wms_class else [])
        workdir = run_folder(self.folder, record)
        workdir.mkdir(parents=True, exist_ok=True)
        started = self.now()
        out, found, why = self._call(item, command, workdir, verb="restart")
        if why:
            return SubmitResult(item.key, item.ident, "failed", f"bps restart failed ({why})"), None
        again = dataclasses.replace(run, run_id=found.get("run_id") or run.run_id, submitted=started,
                                    returned=self.now())
        self.record(item, again)
        fresh = self.entry(item, again)
        self.tracker.set_sync(item.key, fresh.record())  # the run is followed afresh: no state, no verdict
        self.tracker.add_note(item.key, Document([Paragraph([
            "Restarted with ", Mono(shlex.join(command)), f" (run id {again.run_id or 'none'}): the run goes on "
            "with what had not succeeded."])]))
        return SubmitResult(item.key, item.ident, "restarted", str(workdir), again), fresh

    def _workdir(self, record: SubmissionRecord) -> Path:
        """The attempt's working folder, made empty: what a failed earlier try left is moved aside, not reused
        (BPS stops on an existing submit folder)."""
        workdir = run_folder(self.folder, record)
        if workdir.is_dir() and any(workdir.iterdir()):
            n = 1
            while workdir.with_name(f"{workdir.name}.failed{n}").exists():
                n += 1
            aside = workdir.with_name(f"{workdir.name}.failed{n}")
            workdir.rename(aside)
            log.info("moved what an earlier failed bps submit left to %s", aside)
        workdir.mkdir(parents=True, exist_ok=True)
        return workdir

    def now(self) -> str:
        return self.clock().replace(microsecond=0).isoformat()

    def _sync_yaml(self, item: Item, path: Path, content: bytes) -> None:
        """Attach the file as it is on disk if it differs from the attached one, noting the diff."""
        if same_file(item.record.sha256, content):  # the record's checksum leaves out the ticket line
            return
        sha = file_sha(content)
        name = path.name
        old = self.tracker.read_attachment(item.key, name)
        with self.tracker.batch():
            self.tracker.attach(item.key, name, content)
            diff = texts.yaml_diff(old, content.decode("utf-8", "replace"), name)
            self.tracker.add_note(item.key, texts.edited_file_doc(name, sha, diff))
            item.record = dataclasses.replace(item.record, sha256=sha)
            self.tracker.set_record(item.key, item.record)

    def record(self, item: Item, run: RunIdentity) -> None:
        """Write the run identity to the item (record and description) and show it running.

        On JIRA at most four requests (description, record, the transitions available, the one chosen:
        the ticket's status is known from the read that found it); in the local store one commit.
        """
        record = dataclasses.replace(item.record, run=run)
        doc = texts.submission_doc(record)
        digest = texts.doc_sha(item.title, doc)
        with self.tracker.batch():
            if digest != record.text_sha:
                self.tracker.update_item(item.key, body=doc)
                record.text_sha = digest
            self.tracker.set_record(item.key, record)
            item.record = record
            try:
                self.tracker.set_run_state(item.key, BatchState.RUNNING)
            except TrackerError as exc:
                raise TrackerError(f"run recorded, but {exc}") from None

    def entry(self, item: Item, run: RunIdentity) -> Entry:
        return Entry(key=item.key, ident=item.ident, step=item.record.step, group=item.record.group,
                     attempt=item.record.attempt, source=self.source_for(run.wms),
                     run_name=run.run_name, run_id=run.run_id, wms=run.wms, submitted=run.submitted,
                     submit_dir=run.submit_dir or "", returned=run.returned)
