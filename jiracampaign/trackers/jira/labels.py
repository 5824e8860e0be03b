"""How jiracampaign marks its JIRA tickets: labels to find them by, issue properties for records, and the
marker line of a comment it keeps up to date."""

from __future__ import annotations

from ...core.attempts import Verdict
from ...core.records import CampaignRecord, StepRecord, SubmissionRecord
from ..base import NewItem

__all__ = ["PROPERTY", "SYNC_PROPERTY", "LEASE_PROPERTY", "LABEL", "EPIC_LABEL", "RETIRED_LABEL", "campaign_label", "ident_label", "labels_of",
           "marker_line", "verdict_label", "verdict_labels", "verdict_of"]

PROPERTY = "jiracampaign"  # issue property holding an item's record
SYNC_PROPERTY = "jiracampaign.sync"  # issue property holding what sync last wrote to a submission
LEASE_PROPERTY = "jiracampaign.lease"  # issue property on an epic: who is creating or syncing it now
LABEL = "jiracampaign"  # on every ticket jiracampaign creates
EPIC_LABEL = "jc-epic"  # on campaign epics, so sync finds them with one search
RETIRED_LABEL = "jc-retired"  # replaces the others on an epic created twice by a race (the older one is kept)


def campaign_label(campaign_id: str) -> str:
    """Label shared by a campaign's epic and every ticket under it."""
    return f"jc-{campaign_id}"


def ident_label(ident: str) -> str:
    """Label unique to one ticket (epic, step or submission): the handle for idempotent creation."""
    return f"jcid-{ident}"


def verdict_label(verdict: str) -> str:
    """Label of a submission ticket closed on a decision (``jc-accepted``, ``jc-rescued``...): JQL finds them by it."""
    return f"jc-{Verdict(verdict).value}"


def verdict_labels() -> set[str]:
    """Every verdict label."""
    return {verdict_label(v.value) for v in Verdict}


def verdict_of(labels: list[str]) -> str | None:
    """The verdict a ticket's labels show (the last verdict label, should there be two), or `None`."""
    found = [label for label in labels if label in verdict_labels()]
    return found[-1][len("jc-"):] if found else None


def labels_of(item: NewItem) -> list[str]:
    """Standard labels, then the kind's own: the epic label, or the step label."""
    out = [LABEL, campaign_label(item.campaign), ident_label(item.ident)]
    if isinstance(item.record, CampaignRecord):
        out.append(EPIC_LABEL)
    elif isinstance(item.record, (StepRecord, SubmissionRecord)):
        out.append(f"jc-step-{item.record.step}")
    return out


def marker_line(marker: str) -> str:
    """The unobtrusive last line that identifies a comment jiracampaign keeps up to date."""
    return "{color:#97a0af}jiracampaign:" + marker + "{color}"
