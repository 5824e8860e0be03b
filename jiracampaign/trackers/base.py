"""The tracker interface, in the campaign's own terms: items (a campaign, a step, a submission), their
records, files, living notes and run states. JIRA and the local store implement it; so can anything else.

What a tracker does with these is its own business: the JIRA tracker maps a run state to a workflow
status and walks the transitions, hides its search index lag, and renders documents as wiki markup;
the local store keeps run states as such and renders Markdown.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, ContextManager, Mapping, Protocol, Sequence

from ..core.documents import Document
from ..core.leases import Lease
from ..core.records import Record, SyncRecord
from ..core.states import BatchState

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config

__all__ = ["NewItem", "Item", "ItemRef", "Tracker", "Progress", "CreateLog", "Board", "BoardColumn", "Note", "Span"]

#: ``(key, id)`` of an item created earlier (the campaign folder's manifest keeps them)
ItemRef = tuple[str, str]
Progress = Callable[[int], None]


class CreateLog(Protocol):
    """Told about every create before it is sent and as soon as its keys are known (`create`'s journal)."""

    def pending(self, idents: list[str]) -> None:
        """These items are about to be created."""

    def created(self, items: list["Item"]) -> None:
        """These items exist (their keys and ids are known)."""


#: ``(text, url)``: a piece of a line of text, ``url`` empty unless it is a link
Span = tuple[str, str]


@dataclass(frozen=True)
class Note:
    """A living note as a view reads it back (`Tracker.latest_notes`): its slot, its ``lines`` as plain text
    (the tracker's markup undone: bullets as ``- `` indented two spaces per level) made of spans that keep
    its links, where a person sees it (``url``, empty when it has no web address) and when it last changed
    (epoch seconds, 0 when unknown)."""

    key: str
    slot: str
    lines: tuple[tuple[Span, ...], ...]
    url: str = ""
    updated: float = 0.0

    @property
    def text(self) -> str:
        """The note as plain text, one line per line."""
        return "\n".join("".join(text for text, _ in line) for line in self.lines)


@dataclass
class NewItem:
    """An item to create.

    Parameters
    ----------
    ident : `str`
        Unique id: the campaign id, ``<campaign>_<step>``, or the submission id.
    campaign : `str`
        The campaign id.
    title : `str`
        One line.
    body : `Document`
        Its description.
    record : `Record`
        What it stores; its type says what the item is (campaign, step, submission).
    parent : `str`, optional
        Key of the campaign or step item it belongs to.
    """

    ident: str
    campaign: str
    title: str
    body: Document
    record: Record
    parent: str | None = None

    @property
    def kind(self) -> str:
        return self.record.KIND


@dataclass
class Item:
    """An item as the tracker holds it.

    ``status`` is what a person sees (a workflow status on JIRA, the run state in the local store);
    ``done`` whether that counts as finished (a later step may follow).
    """

    key: str
    ident: str
    title: str
    record: Record
    status: str = ""
    done: bool = False
    attachments: dict[str, str] = field(default_factory=dict)
    parent: str | None = None
    id: str = ""
    sync: SyncRecord | None = None
    lease: Lease | None = None  # campaign items: the lease stored on it when it was read

    @property
    def kind(self) -> str:
        return self.record.KIND


@dataclass
class BoardColumn:
    """One column of a board: the statuses it holds, and the run states whose items show in it."""

    name: str
    statuses: list[str]
    states: list[str] = field(default_factory=list)


@dataclass
class Board:
    """A board over a saved query of submission items, one campaign's or every campaign's (`Tracker.board`).

    ``created`` names what this call made (``filter``, ``board``; empty when both existed); ``notes``
    what a person should know (a run state whose items show in no column).
    """

    name: str
    id: str
    url: str
    query: str
    query_id: str
    query_url: str
    campaign: str | None = None
    columns: list[BoardColumn] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Tracker:
    """Where campaigns are recorded. A method a tracker cannot support raises `NotImplementedError`."""

    #: short name (``local``, ``jira``)
    name = "tracker"
    #: whether `create` should add one item per step between the campaign and its submissions
    step_items = False
    #: seconds between writing a lease and reading it back, for trackers where two writers can race
    lease_settle = 0.0
    #: how many writes to different items may be sent at once from several threads (``create``'s
    #: attachments, ``sync``'s runs); 1: the tracker is called from one thread
    concurrency = 1

    def batch(self) -> ContextManager[None]:
        """A context in which writes may be committed together, once, at its end (the local store); by
        default each write stands alone."""
        return nullcontext()

    @classmethod
    def from_config(cls, config: "Config") -> "Tracker":
        """Build the tracker from the effective configuration."""
        raise NotImplementedError

    def describe(self) -> str:
        """Where items go, for messages (``JIRA Cloud https://x project PREOPS``)."""
        raise NotImplementedError

    def url(self, key: str) -> str:
        """Where a person can look at the item."""
        raise NotImplementedError

    # ---- reading --------------------------------------------------------------------------------
    def find_items(self, campaign: str, known: Mapping[str, ItemRef] | None = None,
                   since: float | None = None) -> list[Item]:
        """Every item of a campaign, in bulk; ``known`` (ident -> ref) names items created earlier, which
        are returned even if the tracker's search does not show them yet; ``since`` (epoch seconds) says
        items may have been created then whose keys were never learnt: a tracker whose search lags
        behind its writes waits until its search shows them."""
        raise NotImplementedError

    def get_item(self, key: str) -> Item | None:
        """One item by key, read directly; `None` if there is none."""
        raise NotImplementedError

    def get_items(self, keys: Sequence[str]) -> list[Item]:
        """Items by key, read directly (never behind a write), in bulk where the tracker can; keys
        without an item are left out. This default reads them one at a time."""
        return [item for item in (self.get_item(key) for key in dict.fromkeys(keys)) if item is not None]

    def open_campaigns(self, campaign: str | None = None) -> list[Item]:
        """Campaign items not closed (one campaign, or all), with records and attachments."""
        raise NotImplementedError

    def list_campaigns(self, names: Sequence[str] = (), closed_since: float | None = None) -> list[Item]:
        """Campaign items for a view: the open ones then, with ``closed_since`` (epoch seconds; ``0`` for
        every one), the closed ones last changed at or after it; only the campaigns ``names`` when given.

        This default lists the open campaigns alone (for a tracker that cannot list closed ones)."""
        return [c for c in self.open_campaigns() if not names or c.ident in names]

    def latest_notes(self, keys: Sequence[str], prefix: str) -> dict[str, Note]:
        """For each of the items ``keys``, its most recently changed living note whose slot starts with
        ``prefix`` (`put_note`), read in bulk; items without one are left out. This default reads none."""
        return {}

    # ---- writing --------------------------------------------------------------------------------
    def ensure_items(self, items: list[NewItem], progress: Progress | None = None,
                     journal: CreateLog | None = None) -> list[Item]:
        """Create the items that do not exist yet (an existing ident is returned, never duplicated);
        ``journal`` is told before each create and as soon as keys are known."""
        raise NotImplementedError

    def update_item(self, key: str, title: str | None = None, body: Document | None = None) -> None:
        """Change an item's title or description."""
        raise NotImplementedError

    def set_record(self, key: str, record: Record) -> None:
        """Replace what the item stores."""
        raise NotImplementedError

    def set_sync(self, key: str, record: SyncRecord) -> None:
        """Replace what sync last wrote for a submission (kept apart from the record `create` manages)."""
        raise NotImplementedError

    def attach(self, key: str, filename: str, content: bytes) -> None:
        """Attach a file, replacing an attachment of the same name."""
        raise NotImplementedError

    def read_attachment(self, key: str, filename: str) -> bytes | None:
        """Content of the named attachment, or `None`."""
        raise NotImplementedError

    def put_note(self, key: str, slot: str, body: Document, note_id: str | None = None) -> str:
        """Keep one living note per slot on an item: add it, or edit it in place.

        ``note_id``: the note's id as `note_id` reported it after an earlier call, where the caller kept
        it; a tracker that can edits the note by it directly (a note gone since is made again), one
        that has no use for it ignores it.

        Returns ``added``, ``updated`` or ``unchanged``.
        """
        raise NotImplementedError

    def note_id(self, key: str, slot: str) -> str | None:
        """The id of the living note in ``slot`` of ``key`` written or read by this tracker object, for
        a caller to keep and pass back to `put_note`; `None` where the tracker needs none."""
        return None

    def add_note(self, key: str, body: Document) -> None:
        """Add a note (a comment) to an item."""
        raise NotImplementedError

    def set_run_state(self, key: str, state: BatchState) -> str:
        """Show that a submission's run is in ``state``; returns what the item shows now."""
        raise NotImplementedError

    def shows_state(self, item: Item, state: BatchState) -> bool:
        """Whether ``item`` shows its run in ``state`` (a later sync corrects an item that does not)."""
        return item.status == state.value

    def tidy(self, items: list[Item], apply: bool = True) -> list[str]:
        """Fold what two writers racing may have doubled on these items (a living note posted twice, a file
        attached twice) into one; returns what was (with ``apply`` false: would be) folded, in words."""
        return []

    def state_action(self, state: BatchState) -> str:
        """What `set_run_state` would do, in words (for dry runs)."""
        return f"set state {state.value}"

    def link(self, key: str, other: str, relation: str) -> None:
        """Link two items: ``key`` ``relation`` ``other`` (``JC-9 rescues JC-4``); linking twice changes nothing."""
        raise NotImplementedError

    def set_verdict(self, key: str, verdict: str) -> str:
        """Close a submission item on a decision (`core.attempts.Verdict`: ``accepted``, ``rejected``,
        ``force-completed``, ``rescued``), so it counts as done and can be found by it; returns what the
        item shows now. Setting the same verdict twice changes nothing."""
        raise NotImplementedError

    # ---- views ----------------------------------------------------------------------------------
    def board(self, campaign: str | None = None, known: ItemRef | None = None) -> Board:
        """Find, or create once, a board showing one campaign's submissions (or every campaign's when
        ``campaign`` is `None`), columns following the run states; ``known`` is the campaign item's ref
        when the campaign folder knows it. Calling it again finds what the first call made."""
        raise NotImplementedError(f"the {self.name} tracker has no boards")

    # ---- leases ---------------------------------------------------------------------------------
    def read_lease(self, key: str) -> Lease | None:
        """The lease stored on an item (live or not), read directly (never from a lagging index)."""
        raise NotImplementedError

    def write_lease(self, key: str, lease: Lease) -> None:
        """Store a lease on an item, replacing the one there."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections or files."""
