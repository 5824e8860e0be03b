"""The tracker interface: what jiracampaign needs from JIRA, or from anything standing in for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Ticket", "NewTicket", "Tracker", "PROPERTY", "SYNC_PROPERTY", "LABEL", "EPIC_LABEL", "campaign_label",
           "ident_label", "CATEGORIES"]

PROPERTY = "jiracampaign"  # issue property holding a ticket's machine-readable metadata
SYNC_PROPERTY = "jiracampaign.sync"  # issue property holding what sync last wrote to a submission ticket
LABEL = "jiracampaign"  # on every ticket jiracampaign creates
EPIC_LABEL = "jc-epic"  # on campaign epics, so sync finds them with one search
CATEGORIES = ("new", "indeterminate", "done")  # JIRA status categories, in workflow order


def campaign_label(campaign_id: str) -> str:
    """Label shared by a campaign's epic and every ticket under it."""
    return f"jc-{campaign_id}"


def ident_label(ident: str) -> str:
    """Label unique to one ticket (epic, step or submission): the handle for idempotent creation."""
    return f"jcid-{ident}"


@dataclass
class NewTicket:
    """A ticket to create.

    Parameters
    ----------
    kind : `str`
        ``campaign`` (the epic), ``step`` (a step ticket, in the sub-task hierarchy) or ``submission``.
    ident : `str`
        Unique id: campaign id, ``<campaign>_<step>`` or the submission id.
    campaign : `str`
        The campaign id.
    summary, description : `str`
        Title and wiki-markup body.
    labels : `list` of `str`
        Extra labels (the standard ones are added by the tracker).
    metadata : `dict`
        Machine-readable data stored with the ticket.
    parent : `str` or `None`
        Key of the epic or step ticket this one belongs to.
    """

    kind: str
    ident: str
    campaign: str
    summary: str
    description: str
    labels: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None

    def all_labels(self) -> list[str]:
        """Standard labels first, then the extra ones, without repeats."""
        out = [LABEL, campaign_label(self.campaign), ident_label(self.ident)]
        return out + [label for label in self.labels if label not in out]


@dataclass
class Ticket:
    """A ticket as the tracker holds it."""

    key: str
    kind: str
    ident: str
    summary: str
    status: str
    category: str
    labels: list[str]
    metadata: dict[str, Any]
    description: str = ""
    attachments: dict[str, str] = field(default_factory=dict)
    parent: str | None = None
    id: str = ""
    sync: dict[str, Any] = field(default_factory=dict)  # what sync last wrote (submission tickets)


class Tracker:
    """Interface every tracker implements; a method a tracker cannot support raises `NotImplementedError`."""

    name = "tracker"

    @classmethod
    def from_config(cls, config):
        """Build the tracker from the effective configuration."""
        raise NotImplementedError

    def describe(self) -> str:
        """Where tickets go, for messages (``JIRA Cloud https://x PREOPS``)."""
        raise NotImplementedError

    def browse_url(self, key: str) -> str:
        """Link a person can open for the ticket."""
        raise NotImplementedError

    def find_tickets(self, campaign: str) -> list[Ticket]:
        """Every ticket of a campaign (epic, steps, submissions) with metadata, attachments and status, in bulk."""
        raise NotImplementedError

    def get_ticket(self, key: str) -> Ticket | None:
        """One ticket by key, with its description, read directly (never through a lagging search); `None` if
        there is none. (Bulk reads may leave the description out.)"""
        raise NotImplementedError

    def find_known(self, refs: list[tuple[str, str]]) -> list[Ticket]:
        """Tickets by ``(key, id)`` this machine created before, read consistently (not through a lagging search)."""
        raise NotImplementedError

    def create_tickets(self, items: list[NewTicket], progress=None) -> list[Ticket]:
        """Create tickets, in bulk where possible; a ticket whose ident already exists is returned, not duplicated."""
        raise NotImplementedError

    def update_ticket(self, key: str, summary: str | None = None, description: str | None = None,
                      labels: list[str] | None = None) -> None:
        """Change a ticket's summary, description or labels."""
        raise NotImplementedError

    def attach(self, key: str, filename: str, content: bytes) -> None:
        """Attach a file, replacing an attachment of the same name."""
        raise NotImplementedError

    def read_attachment(self, key: str, filename: str) -> bytes | None:
        """Content of the named attachment, or `None`."""
        raise NotImplementedError

    def upsert_comment(self, key: str, marker: str, body: str) -> str:
        """Keep one comment identified by a hidden marker: add it, or edit it in place.

        Returns ``added``, ``updated`` or ``unchanged``.
        """
        raise NotImplementedError

    def add_comment(self, key: str, body: str) -> None:
        """Add a comment."""
        raise NotImplementedError

    def set_metadata(self, key: str, metadata: dict[str, Any]) -> None:
        """Replace the ticket's machine-readable metadata."""
        raise NotImplementedError

    def transition(self, key: str, target: str) -> bool:
        """Move the ticket to the status named ``target`` (or to a status of category ``target``).

        Returns `False` when it is already there.
        """
        raise NotImplementedError

    def list_open_submissions(self, campaign: str | None = None) -> list[Ticket]:
        """Submission tickets not in a done status, with their metadata, in bulk."""
        raise NotImplementedError

    def open_epics(self, campaign: str | None = None) -> list[Ticket]:
        """Campaign epics not in a done status (one campaign, or all), with metadata and attachments: one request."""
        raise NotImplementedError

    def set_sync_record(self, key: str, record: dict[str, Any]) -> None:
        """Replace what sync last wrote to a submission ticket (kept apart from the metadata `create` manages)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections or files."""
