"""``rescue``: the next attempt of a failed or partial submission, as a new submission linked to it.

For one submission (or, with ``--advised``, each one of a campaign whose failures the known-errors
table advises rescuing): checks that its run ended without succeeding and that no earlier attempt of
its group still runs; derives the next attempt's BPS file from the file it was submitted with
(`planning.rescue.derive_attempt`: output run ``.../attempt<N+1>``, ``--skip-existing-in`` naming
every earlier attempt's output run but rejected ones, the overrides asked for); writes it to the
campaign folder; creates the new submission item in the same campaign (`create`'s journal makes a
re-run after a crash find it instead of creating it twice), attaches the file, links it to the
attempt it follows (``rescues``) and leaves a note on that one pointing to it. A re-run of the same
rescue repairs what a crash left out and creates nothing twice. ``--submit`` then submits it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from ..config import Config, data_dir
from ..core import texts
from ..core.attempts import Verdict, attempt_ident, by_group, earlier, first_ident, group_key
from ..core.documents import Bullet, Bullets, Document, Mono, Paragraph
from ..core.records import SubmissionRecord, current_sync
from ..core.states import BatchState
from ..errors import InputError, JiraCampaignError
from ..locks import exclusive, lock_path
from ..planning.render import file_sha, same_file
from ..planning.rescue import Derived, Overrides, derive_attempt
from ..sources.bps.provenance import report_name
from ..trackers.base import Item, NewItem, Tracker
from .items import campaign_items, folder_for, items_around, submission_item
from .journal import open_journal
from ..childenv import secret_variables
from ..plugins import source_for
from .ledger import add_runs
from .submit import LOCK_WAIT, Submitter

__all__ = ["RescueResult", "Rescuer", "rescue", "restart", "advised", "parse_advice", "RESCUABLE", "RESTARTABLE"]

log = logging.getLogger(__name__)

#: run states an attempt may be rescued from
RESCUABLE = frozenset({BatchState.PARTIAL.value, BatchState.FAILED.value, BatchState.CANCELLED.value})


@dataclass
class RescueResult:
    """One rescue: the attempt it follows, the new one, what changed."""

    key: str                 # the attempt rescued
    ident: str
    action: str              # prepared, repaired, unchanged, would prepare
    new_key: str = ""
    new_ident: str = ""
    attempt: int = 0
    file: str = ""
    changes: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)  # what a re-run added that a crash had left out

    def row(self) -> dict[str, Any]:
        return {"key": self.key, "id": self.ident, "action": self.action, "new_key": self.new_key or None,
                "new_id": self.new_ident, "attempt": self.attempt, "file": self.file, "changes": "; ".join(self.changes)}


def parse_advice(advice: str) -> Overrides:
    """The `Overrides` of an advice stored by sync (``--memory x2 --task isr``)."""
    words = shlex.split(advice)
    out = Overrides()
    tasks = []
    i = 0
    while i < len(words):
        word, value = words[i], words[i + 1] if i + 1 < len(words) else ""
        if word == "--memory":
            out.memory = value
        elif word == "--task":
            tasks.append(value)
        elif word == "--retries":
            out.retries = int(value)
        else:
            raise JiraCampaignError(f"cannot read the advised rescue '{advice}' (at '{word}')")
        i += 2
    out.tasks = tuple(tasks)
    return out


def _state(item: Item) -> str:
    """What the last sync saw of the item's current run ("" when it was not synced since it was submitted)."""
    synced = current_sync(item.record, item.sync)
    return synced.state if synced else ""


def _verdict(item: Item) -> str:
    """The verdict on the item's current run ("" when there is none)."""
    synced = current_sync(item.record, item.sync)
    return synced.verdict if synced else ""


class Rescuer:
    """Prepares next attempts in one campaign.

    Parameters
    ----------
    tracker : `Tracker`
    folder : `Path`
        The campaign folder (the new files go to ``<folder>/<step>/``).
    items : `list` [`Item`]
        The campaign's items (read once).
    """

    def __init__(self, tracker: Tracker, folder: Path, items: list[Item]):
        self.tracker, self.folder, self.items = tracker, Path(folder), items
        subs = [i for i in items if isinstance(i.record, SubmissionRecord)]
        self.groups = by_group((i.record, i) for i in subs)
        self.by_ident = {i.ident: i for i in subs}
        self._files: dict[str, bytes] = {}
        self._derived: dict[tuple[str, str], tuple[SubmissionRecord, Derived]] = {}

    def attempts(self, item: Item) -> list[Item]:
        return self.groups.get(group_key(item.record), [item])

    def check(self, item: Item) -> Item | None:
        """Why ``item`` cannot be rescued (an error), or the next attempt already prepared from it (a re-run)."""
        record: SubmissionRecord = item.record
        chain = self.attempts(item)
        following = next((i for i in chain if i.record.rescues == record.submission), None)
        if following is not None:
            return following
        later = [i for i in chain if i.record.attempt > record.attempt]
        if later:
            latest = later[-1]
            raise JiraCampaignError(f"{item.key} is attempt {record.attempt} of {record.step} group {record.group}; "
                                    f"its latest attempt is {latest.key} (attempt {latest.record.attempt}): rescue that")
        if record.run is None:
            raise JiraCampaignError(f"{item.key} was never submitted: submit it (jiracampaign submit {item.key}); "
                                    "a rescue follows a run that failed")
        state, verdict = _state(item), _verdict(item)
        if verdict in (Verdict.ACCEPTED.value, Verdict.FORCE_COMPLETED.value):
            raise JiraCampaignError(f"{item.key} was {verdict} ({item.sync.verdict_reason or 'no reason given'}): "
                                    "there is nothing to rescue")
        if not state:
            raise JiraCampaignError(f"{item.key} was not synced since its run {record.run.run_name} was submitted: "
                                    "run 'jiracampaign sync' first, so the rescue knows how it ended")
        if state == BatchState.SUCCEEDED.value:
            raise JiraCampaignError(f"{item.key} succeeded ({record.run.run_name}): there is nothing to rescue")
        if state not in RESCUABLE and verdict != Verdict.REJECTED.value:
            raise JiraCampaignError(f"{item.key} is still {state} ({record.run.run_name}): wait until it ends and sync, "
                                    "or cancel it (bps cancel), sync, and rescue then")
        for before in chain:
            if before.record.attempt < record.attempt and before.record.run is not None and not _verdict(before) \
                    and _state(before) not in {s.value for s in BatchState if s.final}:
                raise JiraCampaignError(f"{item.key} follows {before.key} (attempt {before.record.attempt}), which is "
                                        f"still {_state(before) or 'not synced'}: wait until it ends and sync, or "
                                        f"force-complete or reject it first")
        return None

    def submitted_file(self, item: Item) -> bytes:
        """The file ``item`` was submitted with: from the campaign folder when it is the same (its checksum is the
        record's), else its attachment; read once."""
        if item.key in self._files:
            return self._files[item.key]
        record: SubmissionRecord = item.record
        path = self.folder / record.step / record.file
        content = path.read_bytes() if path.is_file() else None
        if content is None or (record.sha256 and not same_file(record.sha256, content)):
            content = self.tracker.read_attachment(item.key, record.file)
        if content is None:
            raise JiraCampaignError(f"{item.key}: the file it was submitted with ({record.file}) is neither in "
                                    f"{path.parent} nor attached")
        self._files[item.key] = content
        return content

    def failed_ids(self, item: Item) -> list[dict[str, Any]]:
        """The data IDs of the failed quanta, from the provenance report attached by sync."""
        name = report_name(item.record.run.run_name)
        data = self.tracker.read_attachment(item.key, name) if name in item.attachments else None
        if data is None:
            raise InputError("--failed-only", None, None, f"{item.key} has no provenance report ({name}) naming its "
                             "failed data IDs (sync attaches one for BPS runs read from quantum provenance); rescue "
                             "without --failed-only: --skip-existing-in already runs only what did not succeed")
        report = json.loads(data)
        return [q.get("data_id") or {} for q in (report.get("failed") or []) + (report.get("unknown") or [])]

    def derive(self, item: Item, overrides: Overrides) -> tuple[SubmissionRecord, Derived]:
        """The next attempt's record and file (made once per submission and options)."""
        key = (item.key, repr(overrides))
        if key not in self._derived:
            self._derived[key] = self._derive(item, overrides)
        record, derived = self._derived[key]
        return dataclasses.replace(record), derived

    def _derive(self, item: Item, overrides: Overrides) -> tuple[SubmissionRecord, Derived]:
        record: SubmissionRecord = item.record
        attempt = record.attempt + 1
        first = first_ident(record.submission, record.attempt)
        ident = attempt_ident(first, attempt)
        earlier_ones = [item] + [self.by_ident.get(r.submission) or item for r in
                                 earlier([i.record for i in self.attempts(item)], record)]
        skip = [i.record.output_run for i in earlier_ones
                if i.record.run is not None and _verdict(i) != Verdict.REJECTED.value and i.record.output_run]
        tasks = [t for t in (item.sync.failed_tasks.split(",") if item.sync else []) if t]
        if overrides.failed_ids is not None:
            overrides = dataclasses.replace(overrides, failed_ids=self.failed_ids(item))
        header = [f"jiracampaign submission {ident}",
                  f"campaign {record.campaign}, step {record.step}, group {record.group}/{record.groups} "
                  f"({record.label}), attempt {attempt}",
                  f"rescues {item.key} ({record.submission}, run {record.run.run_name})"]
        derived = derive_attempt(self.submitted_file(item).decode("utf-8"), record.file, attempt, ident, skip,
                                 overrides, tasks, header)
        file = f"{ident}.yaml"
        new = dataclasses.replace(record, submission=ident, attempt=attempt, output_run=derived.output_run,
                                  run_name=derived.run_name, file=file, data_query=derived.data_query, run=None,
                                  sha256=file_sha(derived.text), text_sha="",
                                  rescues=record.submission, changes=derived.changes)
        return new, derived

    def title(self, item: Item, attempt: int) -> str:
        base = re.sub(r" \(attempt \d+\)$", "", item.title)
        return f"{base} (attempt {attempt})"

    def prepare(self, item: Item, overrides: Overrides, journal=None, dry_run: bool = False) -> RescueResult:
        """Prepare (or, for a re-run, complete) the next attempt of ``item``."""
        existing = self.check(item)
        record: SubmissionRecord = item.record
        new_record, derived = self.derive(item, overrides)
        result = RescueResult(item.key, item.ident, "would prepare" if dry_run else "prepared",
                              new_ident=new_record.submission, attempt=new_record.attempt,
                              file=str(self.folder / record.step / new_record.file), changes=derived.changes)
        if existing is not None and existing.record.run is not None:
            result.action, result.new_key = "unchanged", existing.key
            result.changes = existing.record.changes
            result.repaired = self._links(item, existing)
            return result
        if dry_run:
            return result
        path = self.folder / record.step / new_record.file
        _write_atomically(path, derived.text.encode())
        doc = texts.submission_doc(new_record)
        title = self.title(item, new_record.attempt)
        new_record.text_sha = texts.doc_sha(title, doc)
        if existing is None:
            [made] = self.tracker.ensure_items([NewItem(new_record.submission, record.campaign, title, doc, new_record,
                                                        parent=item.parent)], journal=journal)
        else:
            made = existing
            result.action = "repaired"
        if made.record != new_record:  # a re-run with other options, before the attempt was submitted
            if existing is not None:
                result.action = "updated"
                self.tracker.update_item(made.key, title=title, body=doc)
            self.tracker.set_record(made.key, new_record)
            made.record = new_record
        result.new_key = made.key
        name = new_record.file
        if name not in made.attachments or self.tracker.read_attachment(made.key, name) != derived.text.encode():
            self.tracker.attach(made.key, name, derived.text.encode())
            result.repaired.append("file")
        result.repaired += self._links(item, made)
        if result.action == "repaired" and not result.repaired:
            result.action = "unchanged"
        return result

    def _links(self, item: Item, new: Item) -> list[str]:
        """The link and the note on the attempt rescued (both idempotent); what they changed."""
        done = []
        self.tracker.link(new.key, item.key, "rescues")
        if self.tracker.put_note(item.key, f"rescue-a{new.record.attempt}", rescue_doc(new)) != "unchanged":
            done.append("note")
        return done


def rescue_doc(new: Item) -> Document:
    """The note on a rescued attempt pointing to the next one."""
    record: SubmissionRecord = new.record
    return Document([
        Paragraph([f"Attempt {record.attempt} of this group was prepared as ", Mono(new.key), " (",
                   Mono(record.submission), ", output run ", Mono(record.output_run), ")."]),
        *([Paragraph("What it changes from this attempt:"), Bullets([Bullet(c) for c in record.changes])]
          if record.changes else []),
        Paragraph(["Submit it with ", Mono(f"jiracampaign submit {new.key}"), "."]),
    ])


def _write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file() and path.read_bytes() == content:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)


def advised(items: list[Item]) -> list[tuple[Item, Overrides]]:
    """The campaign's latest attempts whose last sync advises a rescue, with the advised options."""
    subs = [i for i in items if isinstance(i.record, SubmissionRecord)]
    out = []
    for chain in by_group((i.record, i) for i in subs).values():
        latest = chain[-1]
        if latest.sync and latest.sync.advice and _state(latest) in RESCUABLE and not _verdict(latest):
            out.append((latest, parse_advice(latest.sync.advice)))
    return out


#: workload systems whose BPS plugin implements ``bps restart`` (by submit folder; PanDA by run id)
RESTARTABLE = ("htcondor", "parsl", "panda")


def restart(tracker: Tracker, config: Config, key: str, output_dir: str | None = None,
            run: Callable[..., Any] | None = None):
    """``bps restart`` of a submission's run instead of a new attempt (same run, same output run), where its
    workload system supports it; the item shows it running again and sync follows it afresh.

    Returns the `SubmitResult` (``restarted`` or ``failed``).
    """
    item = submission_item(tracker, key)
    record: SubmissionRecord = item.record
    folder = folder_for(config.get("campaigns_dir"), output_dir, record.campaign)
    with exclusive(lock_path(data_dir()), LOCK_WAIT):
        items, item = items_around(tracker, item, folder)
        rescuer = Rescuer(tracker, folder, items)
        if rescuer.check(item) is not None:
            raise JiraCampaignError(f"{key} already has a next attempt: restart or rescue that one")
        wms = record.run.wms
        if wms not in RESTARTABLE:
            raise JiraCampaignError(f"{key} ran on '{wms or 'an unknown workload system'}', whose BPS plugin has no "
                                    f"restart here ({', '.join(RESTARTABLE)} have): rescue it without --restart")
        if wms != "panda" and not record.run.submit_dir:
            raise JiraCampaignError(f"{key}: its submit folder is not recorded, which bps restart needs: rescue it "
                                    "without --restart")
        text = rescuer.submitted_file(item).decode("utf-8")
        wms_class = str((yaml.safe_load(text) or {}).get("wmsServiceClass") or "")
        submitter = Submitter(tracker, folder, config.get("bps.command"), lambda w: source_for(w, config),
                              run=run or subprocess.run, secrets=secret_variables(config))
        submitter.check_bps()
        result, entry = submitter.restart(item, wms_class)
        epic = next((i for i in items if i.kind == "campaign"), None)
        if entry is not None and epic is not None:
            add_runs(tracker, epic, [entry], items, lambda w: source_for(w, config))
        return result


def rescue(tracker: Tracker, config: Config, keys: tuple[str, ...] = (), campaign: str | None = None,
           overrides: Overrides | None = None, use_advice: bool = False, output_dir: str | None = None,
           dry_run: bool = False, confirm: Callable[[list[tuple[Item, Overrides]]], bool] | None = None,
           ) -> list[RescueResult]:
    """Prepare the next attempts of ``keys`` (with ``overrides``), or of every advised submission of ``campaign``.

    ``confirm`` is shown the advised list before anything is written and may decline (nothing is then done).
    """
    if keys:
        campaign = submission_item(tracker, keys[0]).record.campaign
    if not campaign:
        raise InputError("KEY", None, None, "name a submission ticket, or --campaign with --advised")
    folder = folder_for(config.get("campaigns_dir"), output_dir, campaign)
    with exclusive(lock_path(data_dir()), LOCK_WAIT), open_journal(data_dir(), tracker.describe(), campaign) as journal:
        since = journal.pending_since or 0.0
        items = campaign_items(tracker, campaign, folder, journal.refs, since=since)
        journal.settled(items)
        rescuer = Rescuer(tracker, folder, items)
        by_key = {i.key: i for i in items}
        if use_advice:
            todo = advised(items)
            if not todo:
                return []
            if confirm is not None and not confirm(todo):
                return []
        else:
            missing = [k for k in keys if k not in by_key or not isinstance(by_key[k].record, SubmissionRecord)]
            if missing:
                raise InputError("KEY", None, None, f"not submissions of campaign {campaign}: {', '.join(missing)}")
            todo = [(by_key[k], overrides or Overrides()) for k in keys]
        for item, wanted in todo:  # every check and file derivation before anything is written
            rescuer.check(item)
            rescuer.derive(item, wanted)
        return [rescuer.prepare(item, wanted, journal=journal, dry_run=dry_run) for item, wanted in todo]
