"""Record a planned campaign in a tracker: one epic, one child ticket per submission, the YAML attached.

Idempotent: what exists is found first (one bulk search), only missing tickets are created (in
bulk), and only what changed is updated, with a comment saying what changed.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import wiki
from .model import Campaign, Submission, submission_id
from .plan import Plan, build_plan, check_folder, manifest_refs, write_plan
from .render import Renderer
from .spec import LoadedSpec
from .trackers.base import EPIC_LABEL, NewTicket, Ticket, Tracker

__all__ = ["RecordResult", "record_campaign", "describe_campaign", "describe_submission", "submission_metadata",
           "run_rows", "text_sha", "yaml_diff", "campaign_tickets"]

NOT_YET = "_not yet submitted_"


@dataclass
class RecordResult:
    """What `record_campaign` did."""

    epic: str
    epic_created: bool
    rows: list[dict[str, Any]] = field(default_factory=list)
    orphans: list[Ticket] = field(default_factory=list)
    plan: Plan | None = None
    duplicates: list[Ticket] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for r in self.rows if r["action"] == action)


def describe_campaign(campaign: Campaign, groups: dict[str, int]) -> str:
    """The epic's description (wiki markup)."""
    rows = [
        ("Campaign", wiki.mono(campaign.id)),
        ("Operator", wiki.escape(campaign.operator)),
        ("Project", wiki.escape(campaign.project or "-")),
        ("Butler repository", wiki.mono(campaign.butler_repo)),
        ("Input collection", wiki.mono(campaign.input_collection)),
        ("Output collections", wiki.mono(campaign.output_root + "/...")),
        ("Pipeline", wiki.mono(campaign.pipeline)),
        ("Software", wiki.mono(campaign.software)),
        ("Site", wiki.escape(campaign.site)),
        ("Spec", wiki.mono(f"{Path(campaign.spec_path).name} (sha256 {campaign.spec_sha256[:12]})")),
    ]
    steps = "\n".join(
        f"|{wiki.escape(s.name)}|{wiki.mono(s.pipeline_yaml)}|{wiki.escape(', '.join(s.after) or '-')}|{groups[s.name]}|"
        for s in campaign.steps
    )
    body = wiki.escape(campaign.description) + "\n\n" if campaign.description else ""
    return (
        f"{body}{wiki.table(rows)}\n\nh4. Steps\n||Step||Pipeline||After||Submissions||\n{steps}\n\n"
        "_Recorded by jiracampaign; each submission is a child ticket with its BPS submit file attached._"
    )


def describe_submission(sub: Submission, campaign: Campaign, run: dict[str, Any] | None = None) -> str:
    """A submission ticket's description (wiki markup); ``run`` fills the submit time and run identity."""
    run = run or {}
    rows = [
        ("Campaign", wiki.mono(campaign.id)),
        ("Step", f"{wiki.escape(sub.step)} (group {sub.group.index}/{sub.group.count}: {wiki.escape(sub.group.label)})"),
        ("Pipeline", wiki.mono(sub.pipeline_yaml)),
        ("Input collection", wiki.mono(campaign.step(sub.step).input_collection)),
        ("Output run", wiki.mono(sub.output_run)),
        ("Site", wiki.escape(sub.site)),
        ("Inputs", wiki.escape(sub.group.inputs if sub.group.inputs is not None else "-")),
    ] + run_rows(run)
    return (
        f"{wiki.table(rows)}\n\nh4. Data query\n{wiki.noformat(sub.data_query)}\n\n"
        f"The BPS submit file is attached as {wiki.mono(Path(sub.file).name)}."
    )


def run_rows(run: dict[str, Any]) -> list[tuple[str, str]]:
    """The description rows naming a submission's run (placeholders before it is submitted)."""
    return [
        ("Submitted", wiki.escape(run["submitted"]) if run.get("submitted") else NOT_YET),
        ("Run", wiki.mono(run["run_name"]) if run.get("run_name") else NOT_YET),
        ("Run id", wiki.mono(f"{run.get('wms', '')} {run['run_id']}".strip()) if run.get("run_id") else NOT_YET),
    ]


def submission_metadata(sub: Submission, run: dict[str, Any] | None = None) -> dict[str, Any]:
    """The machine-readable record kept with a submission ticket (enough to rebuild the campaign)."""
    meta = {
        "type": "submission",
        "campaign": sub.campaign,
        "submission": sub.id,
        "step": sub.step,
        "group": sub.group.index,
        "groups": sub.group.count,
        "data_query": sub.data_query,
        "inputs": sub.group.inputs,
        "output_run": sub.output_run,
        "run_name": sub.run_name,
        "file": Path(sub.file).name,
        "sha256": sub.sha256,
    }
    if run:
        meta["run"] = run
    return meta


def _campaign_metadata(campaign: Campaign, groups: dict[str, int]) -> dict[str, Any]:
    return {
        "type": "campaign",
        "campaign": campaign.id,
        "spec_sha256": campaign.spec_sha256,
        "steps": [{"name": s.name, "after": list(s.after), "groups": groups[s.name]} for s in campaign.steps],
    }


def yaml_diff(old: bytes | None, new: str, name: str) -> str:
    before = (old or b"").decode("utf-8", "replace").splitlines()
    lines = difflib.unified_diff(before, new.splitlines(), f"{name} (before)", f"{name} (after)", lineterm="", n=1)
    text = "\n".join(lines)
    return text if len(text) < 20000 else text[:20000] + "\n... (diff cut at 20000 characters)"


def _change_comment(sub: Submission, old: bytes | None, old_sha: str | None) -> str:
    name = Path(sub.file).name
    was = f"sha256 {old_sha[:12]}" if old_sha else "no file"
    return (
        f"jiracampaign replaced the BPS submit file {wiki.mono(name)} ({was} → sha256 {sub.sha256[:12]}) "
        f"because the campaign spec changed:\n{wiki.noformat(yaml_diff(old, sub.yaml_text, name))}"
    )


def campaign_tickets(tracker: Tracker, campaign_id: str, folder: Path) -> list[Ticket]:
    """Every ticket of a campaign: one search, plus those the campaign folder's manifest knows that the
    search does not show yet (JIRA Cloud's search lags behind writes), read by key."""
    found = tracker.find_tickets(campaign_id)
    seen = {t.ident for t in found}
    unseen = [ref for ident, ref in manifest_refs(folder).items() if ident not in seen]
    if unseen:
        found += tracker.find_known(unseen)
    return found


def record_campaign(
    spec: LoadedSpec,
    tracker: Tracker,
    folder: Path,
    force: bool = False,
    progress: Callable[[int], None] | None = None,
    step_tickets: bool = False,
) -> RecordResult:
    """Create or bring up to date a campaign's epic and submission tickets, then write the folder.

    Parameters
    ----------
    spec : `LoadedSpec`
        The checked campaign.
    tracker : `Tracker`
        Where to record it.
    folder : `pathlib.Path`
        The campaign folder (checked first, written last, with ticket keys in the headers).
    force : `bool`
        Overwrite hand-edited files in the folder.
    progress : callable, optional
        Called with the number of submissions processed since the last call.
    step_tickets : `bool`
        Also create one ticket per step, parent of that step's submissions (sub-task hierarchy).

    Returns
    -------
    result : `RecordResult`
    """
    campaign = spec.campaign
    check_folder(campaign.id, folder, force)
    counts = {name: len(groups) for name, groups in spec.groups.items()}
    found = campaign_tickets(tracker, campaign.id, folder)
    existing: dict[str, Ticket] = {}
    duplicates: list[Ticket] = []
    for ticket in sorted(found, key=lambda t: (t.ident, int(t.id or 0))):
        if ticket.ident in existing:
            if ticket.key != existing[ticket.ident].key:
                duplicates.append(ticket)
        else:
            existing[ticket.ident] = ticket

    epic_summary = (f"Campaign {campaign.id}" + (f": {campaign.description}" if campaign.description else ""))[:250]
    epic_text = describe_campaign(campaign, counts)
    epic_meta = _campaign_metadata(campaign, counts) | {"text_sha": text_sha(epic_summary, epic_text)}
    epic = existing.get(campaign.id)
    epic_created = epic is None
    if epic is None:
        (epic,) = tracker.create_tickets([NewTicket("campaign", campaign.id, campaign.id, epic_summary, epic_text,
                                                    [EPIC_LABEL], epic_meta)])
    else:
        _refresh_text(tracker, epic, epic_summary, epic_text, epic_meta["text_sha"])
        if epic.metadata != epic_meta:
            tracker.set_metadata(epic.key, epic_meta)

    parents = {s.name: epic.key for s in campaign.steps}
    step_refs: list[Ticket] = []
    if step_tickets:
        wanted = [NewTicket("step", f"{campaign.id}_{s.name}", campaign.id, f"{campaign.id} {s.name}",
                            f"Step {wiki.mono(s.name)} of campaign {wiki.mono(campaign.id)}: {wiki.mono(s.pipeline_yaml)}",
                            [f"jc-step-{s.name}"], {"type": "step", "campaign": campaign.id, "step": s.name},
                            parent=epic.key)
                  for s in campaign.steps]
        made = tracker.create_tickets([w for w in wanted if w.ident not in existing])
        steps_by_ident = {t.ident: t for t in made} | {w.ident: existing[w.ident] for w in wanted if w.ident in existing}
        step_refs = [steps_by_ident[f"{campaign.id}_{s.name}"] for s in campaign.steps]
        parents = {s.name: t.key for s, t in zip(campaign.steps, step_refs, strict=True)}

    renderer = Renderer()
    ids = [submission_id(campaign.id, s.name, g.index) for s in campaign.steps for g in spec.groups[s.name]]
    # Tickets to create need their submissions' queries and names (not their YAML, which names the ticket).
    missing = [sub for sub in build_plan(spec, renderer).submissions if sub.id not in existing] \
        if any(i not in existing for i in ids) else []
    new_tickets = tracker.create_tickets(
        [NewTicket("submission", sub.id, campaign.id, sub.title, describe_submission(sub, campaign),
                   [f"jc-step-{sub.step}"], submission_metadata(sub) | {"sha256": None}, parent=parents[sub.step])
         for sub in missing],
        progress=progress,
    )
    tickets = {t.ident: t for t in new_tickets} | existing
    plan = build_plan(spec, renderer, tickets={i: tickets[i].key for i in ids})
    plan.ticket_ids = {i: tickets[i].id for i in ids if tickets[i].id}
    plan.others = {t.ident: {"key": t.key, "id": t.id} for t in [epic, *step_refs]}

    result = RecordResult(epic.key, epic_created, plan=plan, duplicates=duplicates)
    created = {t.ident for t in new_tickets}
    for sub in plan.submissions:
        ticket, is_new = tickets[sub.id], sub.id in created
        run = ticket.metadata.get("run")
        summary, text = sub.title, describe_submission(sub, campaign, run)
        meta = submission_metadata(sub, run) | {"text_sha": text_sha(summary, text)}
        changes = [] if is_new else _refresh_text(tracker, ticket, summary, text, meta["text_sha"])
        name = Path(sub.file).name
        if ticket.metadata.get("sha256") != sub.sha256 or name not in ticket.attachments:
            replacing = name in ticket.attachments
            old = tracker.read_attachment(ticket.key, name) if replacing else None
            tracker.attach(ticket.key, name, sub.yaml_text.encode())
            if replacing:
                tracker.add_comment(ticket.key, _change_comment(sub, old, ticket.metadata.get("sha256")))
            if not is_new:
                changes.append("yaml")
        if meta != ticket.metadata:
            tracker.set_metadata(ticket.key, meta)
            if not is_new and not changes:
                changes.append("metadata")
        action = "created" if is_new else ("updated" if changes else "unchanged")
        result.rows.append({"id": sub.id, "key": ticket.key, "step": sub.step,
                            "group": f"{sub.group.index}/{sub.group.count}", "action": action,
                            "changes": ",".join(changes), "file": sub.file})
        if progress and not is_new:
            progress(1)
    planned = {s.id for s in plan.submissions}
    result.orphans = [t for t in existing.values() if t.kind == "submission" and t.ident not in planned]
    write_plan(plan, folder, force=force)
    return result


def text_sha(summary: str, description: str) -> str:
    """Digest of the summary and description jiracampaign wrote (JIRA may reformat the text itself)."""
    return hashlib.sha256(f"{summary}\n{description}".encode()).hexdigest()[:16]


def _refresh_text(tracker: Tracker, ticket: Ticket, summary: str, description: str, digest: str) -> list[str]:
    """Rewrite summary and description when what jiracampaign would write changed (compared by digest)."""
    if ticket.metadata.get("text_sha") == digest:
        return []
    tracker.update_ticket(ticket.key, summary=summary, description=description)
    return ["description"]
