"""``create``: record a planned campaign in a tracker: one campaign item, one child item per submission,
the YAML attached; then write the campaign folder.

Idempotent: what exists is found first (one bulk read), only missing items are created (in bulk), and
only what changed is updated, with a note saying what changed. The plan is rendered once.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shlex
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from ..config import Config, data_dir
from ..core import texts
from ..core.attempts import group_key
from ..core.documents import Document
from ..core.leases import Lease
from ..core.model import Campaign, Submission
from ..core.records import CampaignRecord, StepInfo, StepRecord, SubmissionRecord
from ..planning.plan import Plan, build_plan, check_folder, write_plan
from ..planning.rescue import settings_between
from ..planning.spec import LoadedSpec
from ..planning.render import same_file
from ..plugins import open_tracker
from ..pool import run_bounded
from ..trackers.base import Item, NewItem, Tracker
from .inputs import load_spec
from .items import campaign_items, folder_for
from .journal import Journal, open_journal
from .leases import release_lease, renew_lease, take_lease, wait_for_lease

__all__ = ["CreateResult", "create", "create_from_spec", "submission_record", "campaign_record"]

log = logging.getLogger(__name__)

#: seconds a create's lease on its campaign lasts unless renewed (it is renewed while the create writes)
CREATE_LEASE_TTL = 600.0


@dataclass
class CreateResult:
    """What `create` did."""

    campaign: str
    epic: str
    epic_created: bool
    tracker: str
    folder: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    orphans: list[Item] = field(default_factory=list)
    duplicates: list[Item] = field(default_factory=list)
    plan: Plan | None = None

    def count(self, action: str) -> int:
        return sum(1 for r in self.rows if r["action"] == action)


def create_from_spec(config: Config, spec_path: str, output_dir: str | None = None, force: bool = False,
                     start: Callable[[int], None] | None = None,
                     progress: Callable[[int], None] | None = None) -> CreateResult:
    """`create` for the spec file ``spec_path`` in the configured tracker; ``start`` and ``progress`` as there."""
    spec = load_spec(spec_path)
    folder = folder_for(config.get("campaigns_dir"), output_dir, spec.campaign.id)
    tracker = open_tracker(config)
    try:
        with open_journal(data_dir(), tracker.describe(), spec.campaign.id) as journal:
            return create(spec, tracker, folder, force=force, progress=progress, journal=journal, start=start)
    finally:
        tracker.close()


def submission_record(sub: Submission, campaign: Campaign, sha256: str | None, run=None) -> SubmissionRecord:
    """What a submission item stores (enough to rebuild the campaign, and its description)."""
    return SubmissionRecord(
        campaign=sub.campaign, submission=sub.id, step=sub.step, group=sub.group.index, groups=sub.group.count,
        data_query=sub.data_query, inputs=sub.group.inputs, output_run=sub.output_run, run_name=sub.run_name,
        file=Path(sub.file).name, sha256=sha256, label=sub.group.label, pipeline=sub.pipeline_yaml,
        input_collection=campaign.step(sub.step).input_collection, site=sub.site, run=run)


def campaign_record(campaign: Campaign, groups: dict[str, int]) -> CampaignRecord:
    return CampaignRecord(campaign=campaign.id, spec_sha256=campaign.spec_sha256,
                          steps=[StepInfo(s.name, tuple(s.after), groups[s.name]) for s in campaign.steps])


def _retitle(tracker: Tracker, item: Item, title: str, body, digest: str) -> list[str]:
    """Rewrite title and description when what jiracampaign would write changed (compared by digest)."""
    if item.record.text_sha == digest:
        return []
    tracker.update_item(item.key, title=title, body=body)
    return ["description"]


def _ensure_epic(tracker: Tracker, campaign: Campaign, counts: dict[str, int], existing: dict[str, Item],
                 journal: Journal | None) -> tuple[Item, bool]:
    """The campaign's item, created when missing, else brought up to date; and whether it was created."""
    title = (f"Campaign {campaign.id}" + (f": {campaign.description}" if campaign.description else ""))[:250]
    doc = texts.campaign_doc(campaign, counts)
    record = campaign_record(campaign, counts)
    record.text_sha = texts.doc_sha(title, doc)
    epic = existing.get(campaign.id)
    if epic is None:
        (epic,) = tracker.ensure_items([NewItem(campaign.id, campaign.id, title, doc, record)], journal=journal)
        return epic, True
    _retitle(tracker, epic, title, doc, record.text_sha)
    if epic.record != record:
        tracker.set_record(epic.key, record)
    return epic, False


def _index(found: list[Item]) -> tuple[dict[str, Item], list[Item]]:
    """Items by ident (the oldest wins) and the later duplicates."""
    existing: dict[str, Item] = {}
    duplicates: list[Item] = []
    for item in sorted(found, key=lambda t: (t.ident, int(t.id or 0))):
        if item.ident not in existing:
            existing[item.ident] = item
        elif item.key != existing[item.ident].key:
            duplicates.append(item)
    return existing, duplicates


def create(spec: LoadedSpec, tracker: Tracker, folder: Path, force: bool = False,
           progress: Callable[[int], None] | None = None, journal: Journal | None = None,
           start: Callable[[int], None] | None = None) -> CreateResult:
    """Create or bring up to date a campaign's items, then write the campaign folder.

    Parameters
    ----------
    spec : `LoadedSpec`
        The checked campaign.
    tracker : `Tracker`
        Where to record it.
    folder : `pathlib.Path`
        The campaign folder (checked first, written last, with ticket keys in the file headers).
    force : `bool`
        Overwrite hand-edited files in the folder.
    progress : callable, optional
        Called with the number of units of work done since the last call: one per ticket created, and
        one per submission brought up to date (its file attached and its record written, or found
        unchanged), so the count reaches ``start``'s total when the last file is attached.
    start : callable, optional
        Told the number of units of work once it is known (after the campaign's items were read).
    journal : `Journal`, optional
        Told before every create and about every key as soon as it is known; what an interrupted
        earlier run left in it is found first (by key, or after the tracker's index caught up).

    Returns
    -------
    result : `CreateResult`
    """
    campaign = spec.campaign
    check_folder(campaign.id, folder, force)
    counts = {name: len(groups) for name, groups in spec.groups.items()}
    since = (journal.pending_since if journal else None) or 0.0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="create-cpu") as cpu:
        # the plan is rendered while the tracker is read (the tracker is called from this thread only)
        planning = cpu.submit(build_plan, spec)
        read_at = time.time()  # a create lease released after this read means its holder wrote since: read again
        found = campaign_items(tracker, campaign.id, folder, journal.refs if journal else None, since=since)
        plan = planning.result()  # a template error stops the create before anything is written
        wanted = _Wanted(plan, campaign)
        # each submission's record and description are made while the epic is written and read back
        describing = cpu.submit(lambda: [wanted(sub) for sub in plan.submissions])
        if journal:
            journal.settled(found)
        existing, duplicates = _index(found)
        epic, epic_created = _ensure_epic(tracker, campaign, counts, existing, journal)
        describing.result()

    step_wanted = [NewItem(f"{campaign.id}_{s.name}", campaign.id, f"{campaign.id} {s.name}",
                           texts.step_doc(campaign, s), StepRecord(campaign.id, s.name), parent=epic.key)
                   for s in campaign.steps] if tracker.step_items else []
    born = epic.lease if epic_created and _ours(epic.lease) else None  # the new epic came with our lease

    existing, lease = _lease_if_writing(tracker, campaign, folder, epic, existing, step_wanted, plan, journal, wanted,
                                        born, read_at)
    result = CreateResult(campaign.id, epic.key, epic_created, tracker.describe(), Path(folder), plan=plan,
                          duplicates=duplicates)
    if start:
        start(len(plan.submissions) + (sum(1 for s in plan.submissions if s.id not in existing) if lease else 0))
    try:
        new_items = _create_missing(tracker, campaign, epic, existing, step_wanted, plan, progress, journal,
                                    wanted) if lease else []
        items = {t.ident: t for t in new_items} | existing
        step_items = [items[w.ident] for w in step_wanted]
        plan.tickets = {s.id: items[s.id].key for s in plan.submissions}
        plan.ticket_ids = {s.id: items[s.id].id for s in plan.submissions if items[s.id].id}
        plan.others = {t.ident: {"key": t.key, "id": t.id} for t in [epic, *step_items]}
        created = {t.ident for t in new_items}

        def bring(sub: Submission) -> dict[str, Any]:
            """One submission's writes (run by up to ``tracker.concurrency`` workers at once)."""
            item, is_new = items[sub.id], sub.id in created
            changes = _update_submission(tracker, item, plan, sub, campaign, is_new, folder, wanted)
            rescue = ""
            if changes[:1] == [FROZEN]:
                action, (ran, planned_text), changes = FROZEN, changes[1:], []
                latest = _latest_attempt(existing.values(), item)
                if latest is not item:  # compared with the latest attempt's file: it may carry the change
                    ran = tracker.read_attachment(latest.key, latest.record.file) or b""
                settings = settings_between(ran.decode("utf-8"), planned_text) if ran else []
                if latest is not item and not settings:
                    action = "unchanged"
                else:
                    rescue = shlex.join(["jiracampaign", "rescue", latest.key,
                                         *(w for s in settings for w in ("--set", s))])
            else:
                action = "created" if is_new else ("updated" if changes else "unchanged")
            return {"id": sub.id, "key": item.key, "step": sub.step,
                    "group": f"{sub.group.index}/{sub.group.count}", "action": action,
                    "changes": ",".join(changes), "file": sub.file, "rescue": rescue}

        def done(_: int, row: dict[str, Any]) -> None:
            if progress:
                progress(1)
            if lease and row["changes"]:
                renew_lease(tracker, epic.key, lease, CREATE_LEASE_TTL)

        limit = tracker.concurrency if lease else 1
        # with every key known and no submission that ran (whose file is kept as it ran), the folder is
        # written while the files are attached, on trackers that take several writers
        early = limit > 1 and not any(isinstance(t.record, SubmissionRecord) and t.record.run is not None
                                      for t in existing.values())
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="create-folder") as folder_writer:
            writing = folder_writer.submit(write_plan, plan, folder, force=force) if early else None
            result.rows = run_bounded(bring, plan.submissions, limit, done=done, name="create")
            if writing is not None:
                writing.result()
    except BaseException:
        if lease:
            release_lease(tracker, epic.key, lease)
        raise
    planned = {s.id for s in plan.submissions}
    result.orphans = [t for t in existing.values() if t.kind == "submission" and t.ident not in planned
                      and not t.record.rescues]  # later attempts are made by rescue, not planned
    # the lease is released (one request) while the folder is written: both come after the last ticket write
    last = ([] if early else [lambda: write_plan(plan, folder, force=force)]) + (
        [lambda: release_lease(tracker, epic.key, lease)] if lease else [])
    run_bounded(lambda job: job(), last, tracker.concurrency, name="create-end")
    log.info("campaign %s: %d created, %d updated, %d unchanged, %d changed after submit", campaign.id,
             result.count("created"), result.count("updated"), result.count("unchanged"), result.count(FROZEN))
    return result


#: the action of a submission that ran and whose planned file or record differs from what ran (``rescue`` makes it)
FROZEN = "changed after submit: needs a new attempt"


class _Wanted:
    """Each submission's planned record (with its description's checksum) and description, rendered once."""

    def __init__(self, plan: Plan, campaign: Campaign):
        self.plan, self.campaign = plan, campaign
        self._made: dict[str, tuple[SubmissionRecord, Document]] = {}

    def __call__(self, sub: Submission, old: SubmissionRecord | None = None) -> tuple[SubmissionRecord, Document]:
        """A fresh copy of the record (callers may change it) and the description.

        With the ``old`` record of an existing item whose checksum is the older kind (the sha256 of the
        file with its ticket line, `render.same_file`) of the same file, that checksum is kept: an
        item written by an earlier version is not rewritten for it.
        """
        if sub.id not in self._made:
            record = submission_record(sub, self.campaign, self.plan.file_sha(sub), run=None)
            doc = texts.submission_doc(record)
            record.text_sha = texts.doc_sha(sub.title, doc)
            self._made[sub.id] = (record, doc)
        record, doc = self._made[sub.id]
        record = dataclasses.replace(record)
        if old is not None and old.sha256 and old.sha256 != record.sha256 \
                and same_file(old.sha256, self.plan.file_text(sub)):
            record.sha256 = old.sha256
        return record, doc


def _stale(item: Item, sub: Submission, wanted: _Wanted) -> bool:
    """Whether `_update_submission` would write to ``item`` (without asking the tracker anything)."""
    old = item.record if isinstance(item.record, SubmissionRecord) else None
    if old is None:
        return True
    if old.run is not None:
        return False  # ran: never written again
    return wanted(sub, old)[0] != old or Path(sub.file).name not in item.attachments


def _ours(lease: Lease | None) -> bool:
    """Whether ``lease`` is a live ``create`` lease of this process (one a new epic was created with)."""
    return (lease is not None and lease.purpose == "create" and lease.live() and lease.pid == os.getpid()
            and lease.host == socket.gethostname())


def _lease_if_writing(tracker: Tracker, campaign: Campaign, folder: Path, epic: Item, existing: dict[str, Item],
                      step_wanted: list[NewItem], plan: Plan, journal: Journal | None,
                      wanted: _Wanted, born: Lease | None = None,
                      read_at: float | None = None) -> tuple[dict[str, Item], Lease | None]:
    """When items are missing or out of date, take the campaign's ``create`` lease (held until this
    create is done); a create elsewhere that holds it, or that released it after ``read_at`` (when
    ``existing`` was read: it wrote since), is waited for, then what it made is read again.
    ``born``: the lease the epic was created with (ours from its first moment: nothing to take).
    Returns the items found and the lease (`None`: nothing to write)."""
    while True:
        plan.tickets = {s.id: existing[s.id].key for s in plan.submissions if s.id in existing}
        if all(w.ident in existing for w in step_wanted) and all(
                s.id in existing and not _stale(existing[s.id], s, wanted) for s in plan.submissions):
            if born is not None:
                release_lease(tracker, epic.key, born)
            return existing, None
        if born is not None:
            return existing, born
        lease, other = take_lease(tracker, epic.key, "create", CREATE_LEASE_TTL, since=read_at)
        if lease is not None:
            return existing, lease
        written = wait_for_lease(tracker, epic.key, other)  # type: ignore[arg-type]
        read_at = time.time()
        found = campaign_items(tracker, campaign.id, folder, journal.refs if journal else None, since=written)
        if journal:
            journal.settled(found)
        existing = _index(found)[0]


def _create_missing(tracker: Tracker, campaign: Campaign, epic: Item, existing: dict[str, Item],
                    step_wanted: list[NewItem], plan: Plan, progress: Callable[[int], None] | None,
                    journal: Journal | None, wanted: "_Wanted") -> list[Item]:
    """Create the step and submission items that do not exist (under the campaign's lease)."""
    missing_steps = [w for w in step_wanted if w.ident not in existing]
    made = tracker.ensure_items(missing_steps, journal=journal) if missing_steps else []
    parents = {s.name: epic.key for s in campaign.steps}
    if step_wanted:
        steps = {t.ident: t for t in made} | existing
        parents = {s.name: steps[w.ident].key for s, w in zip(campaign.steps, step_wanted, strict=True)}
    missing = [sub for sub in plan.submissions if sub.id not in existing]
    if missing:  # with the final record: its file checksum does not depend on the key (`render.file_sha`)
        made += tracker.ensure_items(
            [NewItem(sub.id, campaign.id, sub.title, (w := wanted(sub))[1], w[0], parent=parents[sub.step])
             for sub in missing],
            progress=progress, journal=journal,
        )
    return made


def _update_submission(tracker: Tracker, item: Item, plan: Plan, sub: Submission, campaign: Campaign,
                       new: bool, folder: Path, wanted: _Wanted) -> list[str]:
    """Bring one submission item up to date: description, attached file, record. Returns what changed.

    A submission that ran keeps its file, record and description as they were when it ran: if the
    plan now differs, ``[FROZEN]`` is returned and nothing is written (a new attempt is needed).
    """
    old = item.record if isinstance(item.record, SubmissionRecord) else None
    if old is not None and old.run is not None:
        return _frozen(tracker, item, plan, sub, campaign, old, folder)
    record, doc = wanted(sub, old)
    sha = record.sha256
    title = sub.title
    changes = [] if new else _retitle(tracker, item, title, doc, record.text_sha)
    name = Path(sub.file).name
    if (old.sha256 if old else None) != sha or name not in item.attachments:
        replacing = name in item.attachments
        before = tracker.read_attachment(item.key, name) if replacing else None
        text = plan.file_text(sub)
        tracker.attach(item.key, name, text.encode())
        if replacing:
            tracker.add_note(item.key, texts.replaced_file_doc(name, before, old.sha256 if old else None, text, sha))
        if not new:
            changes.append("yaml")
    if record != old:
        tracker.set_record(item.key, record)
        if not new and not changes:
            changes.append("metadata")
    return changes


def _frozen(tracker: Tracker, item: Item, plan: Plan, sub: Submission, campaign: Campaign, old: SubmissionRecord,
            folder: Path) -> list[str]:
    """A submission that ran: keep the file it ran with in the folder; say whether the plan moved on."""
    planned = submission_record(sub, campaign, plan.file_sha(sub), run=old.run)
    same = dataclasses.replace(planned, text_sha=old.text_sha, sha256=old.sha256, file=old.file) == old
    if same and same_file(old.sha256, plan.file_text(sub)):
        return []
    path = Path(folder) / sub.file
    ran = path.read_bytes() if path.is_file() else b""
    if not same_file(old.sha256, ran):
        ran = tracker.read_attachment(item.key, old.file or Path(sub.file).name) or b""
    planned = plan.file_text(sub)
    if ran:
        plan.kept[sub.id] = ran.decode("utf-8")
    log.info("%s (%s) ran already: its file and record are kept; the plan changed since", sub.id, item.key)
    return [FROZEN, ran, planned]


def _latest_attempt(items: Iterable[Item], item: Item) -> Item:
    """The latest attempt of ``item``'s group (``item`` itself until ``rescue`` made another)."""
    record = item.record
    same = [t for t in items if isinstance(t.record, SubmissionRecord) and group_key(t.record) == group_key(record)]
    return max(same or [item], key=lambda t: t.record.attempt)
