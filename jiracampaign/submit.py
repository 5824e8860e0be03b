"""Submit a campaign's BPS files and record each run on its ticket; or record a run submitted by hand.

For each submission: the steps it must follow are done (or ``--force``); the YAML on disk is the
one attached (a last-minute edit is attached again, with a diff comment); ``bps submit FILE`` runs
and its ``Submit dir``, ``Run Id`` and ``Run Name`` are read from its output; the run identity,
workload system and submit time go into the ticket's description and metadata; the ticket moves
to the running status and the run joins the epic's sync digest. A failed ``bps submit`` leaves the
ticket where it was, with a comment quoting the end of the output.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import yaml

from . import wiki
from .errors import JiraCampaignError, TrackerError
from .plan import read_manifest
from .record import run_rows, text_sha, yaml_diff
from .syncstate import Entry, source_of
from .sync import add_runs, move_to_first
from .trackers.base import Ticket, Tracker

__all__ = ["SubmitResult", "parse_bps_output", "wms_of", "Submitter"]

_BPS_LINE = re.compile(r"^\s*(Submit dir|Run Id|Run Name)\s*:\s*(\S.*?)\s*$", re.MULTILINE)
_KEYS = {"Submit dir": "submit_dir", "Run Id": "run_id", "Run Name": "run_name"}
TAIL_LINES = 30


@dataclass
class SubmitResult:
    key: str
    ident: str
    action: str  # submitted, recorded, would submit, skipped, refused, failed
    detail: str = ""
    run: dict[str, Any] | None = None

    def row(self) -> dict[str, Any]:
        run = self.run or {}
        return {"key": self.key, "id": self.ident, "action": self.action, "run_name": run.get("run_name"),
                "run_id": run.get("run_id"), "detail": self.detail}


def parse_bps_output(text: str) -> dict[str, str]:
    """``submit_dir``, ``run_id`` and ``run_name`` from what ``bps submit`` printed (the last of each)."""
    return {_KEYS[m.group(1)]: m.group(2) for m in _BPS_LINE.finditer(text)}


def wms_of(yaml_text: str) -> str:
    """Workload system of a BPS file, from its ``wmsServiceClass`` (``panda``, ``htcondor``, ``parsl``...)."""
    try:
        data = yaml.safe_load(yaml_text) or {}
    except yaml.YAMLError:
        return ""
    service = str(data.get("wmsServiceClass", "")) if isinstance(data, dict) else ""
    parts = service.split(".")
    return parts[3] if len(parts) > 3 and parts[:3] == ["lsst", "ctrl", "bps"] else service.lower()


def _replace_run_rows(description: str, run: dict[str, Any]) -> str:
    """The description with its Submitted / Run / Run id rows naming ``run`` (appended if absent)."""
    rows = run_rows(run)
    lines = description.split("\n")
    found = 0
    for i, line in enumerate(lines):
        for row in rows:
            if line.startswith(f"||{wiki.escape(row[0])}|"):
                lines[i] = wiki.table([row])
                found += 1
    if found == len(rows):
        return "\n".join(lines)
    return description.rstrip() + "\n\n" + wiki.table(rows)


class Submitter:
    """Submits and records runs for one campaign.

    Parameters
    ----------
    tracker : `Tracker`
    folder : `Path`
        The campaign folder (``manifest.json`` and the BPS files).
    command : `str`
        The BPS command (``bps.command``), split like a shell would.
    running : `list` of `str`
        Ticket statuses to try for a running run (``sync.running_status``).
    run : callable
        Runs the command (``subprocess.run``; tests may pass their own).
    clock : callable
        The current UTC time.
    """

    def __init__(self, tracker: Tracker, folder: Path, command: str, running: list[str],
                 run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.tracker, self.folder, self.running = tracker, Path(folder), running
        self.command, self.runner, self.clock = shlex.split(command), run, clock
        manifest = read_manifest(self.folder) if self.folder.is_dir() else None
        self.files = {e["id"]: self.folder / e["file"] for e in (manifest or {}).get("submissions", [])}

    def blockers(self, ticket: Ticket, epic: Ticket, tickets: list[Ticket]) -> list[str]:
        """Keys of unfinished submissions of the steps ``ticket``'s step must follow."""
        step = ticket.metadata.get("step")
        after = next((s.get("after") or [] for s in (epic.metadata or {}).get("steps", []) if s.get("name") == step), [])
        return [t.key for t in tickets
                if t.kind == "submission" and t.metadata.get("step") in after and t.category != "done"]

    def submit(self, selected: list[Ticket], epic: Ticket, tickets: list[Ticket], force: bool = False,
               dry_run: bool = False) -> list[SubmitResult]:
        results, entries = [], []
        for ticket in sorted(selected, key=lambda t: t.ident):
            result = self._one(ticket, epic, tickets, force, dry_run)
            results.append(result)
            if result.action == "submitted":
                entries.append(self._entry(ticket, result.run))
        if entries:
            add_runs(self.tracker, epic, entries, tickets)
        return results

    def _one(self, ticket: Ticket, epic: Ticket, tickets: list[Ticket], force: bool, dry_run: bool) -> SubmitResult:
        meta = ticket.metadata
        done = (meta.get("run") or {}).get("run_name")
        if done and not force:
            return SubmitResult(ticket.key, ticket.ident, "skipped", f"already submitted as {done} (--force submits again)")
        waiting = self.blockers(ticket, epic, tickets)
        if waiting and not force:
            step = meta.get("step")
            return SubmitResult(ticket.key, ticket.ident, "refused",
                                f"step {step} must wait until {', '.join(waiting[:10])}{' ...' if len(waiting) > 10 else ''} "
                                f"{'is' if len(waiting) == 1 else 'are'} done (--force submits anyway)")
        path = self.files.get(ticket.ident) or self.folder / str(meta.get("step", "")) / str(meta.get("file", ""))
        if not path.is_file():
            return SubmitResult(ticket.key, ticket.ident, "failed",
                                f"{path} does not exist: run 'jiracampaign create SPEC' to write the campaign folder")
        path = path.resolve()  # bps runs in the file's folder
        content = path.read_bytes()
        command = self.command + ["submit", str(path)]
        if dry_run:
            return SubmitResult(ticket.key, ticket.ident, "would submit", shlex.join(command))
        self._sync_yaml(ticket, path, content)
        try:
            proc = self.runner(command, cwd=path.parent, capture_output=True, text=True)
        except OSError as exc:
            proc = subprocess.CompletedProcess(command, 127, "", f"{command[0]}: {exc.strerror or exc}")
        out = (proc.stdout or "") + (proc.stderr or "")
        found = parse_bps_output(proc.stdout or "")
        if proc.returncode != 0 or not found.get("run_name"):
            why = f"exit status {proc.returncode}" if proc.returncode else "no 'Run Name:' in its output"
            tail = "\n".join(out.rstrip().splitlines()[-TAIL_LINES:]) or "(no output)"
            self.tracker.add_comment(ticket.key, f"{wiki.mono(shlex.join(command))} failed ({why}); the ticket stays "
                                                 f"as it was. Last lines of its output:\n{wiki.noformat(tail)}")
            return SubmitResult(ticket.key, ticket.ident, "failed", f"bps submit failed ({why}): "
                                f"{out.strip().splitlines()[-1] if out.strip() else 'no output'}")
        run = {"run_name": found["run_name"], "run_id": found.get("run_id"), "submit_dir": found.get("submit_dir"),
               "wms": wms_of(content.decode("utf-8", "replace")), "submitted": self._now()}
        self.record(ticket, run)
        return SubmitResult(ticket.key, ticket.ident, "submitted", found.get("submit_dir") or "", run)

    def _now(self) -> str:
        return self.clock().replace(microsecond=0).isoformat()

    def _sync_yaml(self, ticket: Ticket, path: Path, content: bytes) -> None:
        """Attach the file as it is on disk if it differs from the attached one, commenting the diff."""
        sha = hashlib.sha256(content).hexdigest()
        meta = ticket.metadata
        if sha == meta.get("sha256"):
            return
        name = path.name
        old = self.tracker.read_attachment(ticket.key, name)
        self.tracker.attach(ticket.key, name, content)
        diff = yaml_diff(old, content.decode("utf-8", "replace"), name)
        self.tracker.add_comment(ticket.key, f"{wiki.mono(name)} was edited after it was planned; the version "
                                             f"submitted (sha256 {sha[:12]}) is now attached:\n{wiki.noformat(diff)}")
        ticket.metadata = dict(meta, sha256=sha)
        self.tracker.set_metadata(ticket.key, ticket.metadata)

    def record(self, ticket: Ticket, run: dict[str, Any]) -> None:
        """Write the run identity to the ticket (description and metadata) and move it to the running status."""
        run = {k: v for k, v in run.items() if v}
        current = self.tracker.get_ticket(ticket.key)  # bulk searches leave descriptions out
        before = current.description if current else ""
        description = _replace_run_rows(before, run) if before else ""
        meta = dict(ticket.metadata, run=run)
        if description and description != before:
            self.tracker.update_ticket(ticket.key, description=description)
            meta["text_sha"] = text_sha(ticket.summary, description)
            ticket.description = description
        self.tracker.set_metadata(ticket.key, meta)
        ticket.metadata = meta
        if self.running:
            try:
                move_to_first(self.tracker, ticket.key, self.running)
            except TrackerError as exc:
                raise TrackerError(f"run recorded, but {exc}") from None

    def record_by_hand(self, ticket: Ticket, epic: Ticket, run: dict[str, Any], tickets: list[Ticket] = ()) -> SubmitResult:
        """Link a run submitted outside jiracampaign (``jiracampaign record``)."""
        if ticket.kind != "submission":
            raise JiraCampaignError(f"{ticket.key} is not a submission ticket (it is the {ticket.kind} ticket)")
        run = dict(run, submitted=run.get("submitted") or self._now())
        self.record(ticket, run)
        add_runs(self.tracker, epic, [self._entry(ticket, ticket.metadata["run"])], tickets)
        return SubmitResult(ticket.key, ticket.ident, "recorded", "", ticket.metadata["run"])

    def _entry(self, ticket: Ticket, run: dict[str, Any]) -> Entry:
        return Entry(key=ticket.key, ident=ticket.ident, step=str(ticket.metadata.get("step", "")),
                     source=source_of(run.get("wms", "")), run_name=run["run_name"], run_id=run.get("run_id"),
                     submitted=run.get("submitted"))
