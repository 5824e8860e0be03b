"""``accept``, ``reject`` and ``force-complete``: an operator settles a submission's run, whatever sync says.

The verdict is kept with the run's sync record (on the item and in the campaign's ledger), the item is
closed as done (on JIRA: the done status and a ``jc-<verdict>`` label, so a filter finds it) and a
note gives the reason. Sync no longer follows a settled run. Step gating counts an accepted or
force-completed group as done; a rejected group no longer holds the next step, which leaves its
outputs out of the collections it reads, and later attempts do not skip what it produced.

`close_superseded` is the same for attempts a later one made moot: once a group's latest attempt
succeeded (or was accepted or force-completed), sync closes the earlier ones as ``rescued``.

Every write can be repeated: a re-run after a crash completes what is missing and changes nothing else.
"""

from __future__ import annotations

import dataclasses
import getpass
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterable

from ..config import Config, data_dir
from ..core.attempts import Verdict, by_group
from ..core.documents import Document, Emph, Mono, Paragraph, Strong
from ..core import texts
from ..core.ledger import DIGEST_FILE, Entry, SyncState, entry_groups
from ..core.records import CampaignRecord, SubmissionRecord
from ..core.states import BatchState
from ..errors import InputError, JiraCampaignError
from ..locks import exclusive, lock_path
from ..plugins import source_for
from ..trackers.base import Item, Tracker
from .items import folder_for, items_around, submission_item
from .ledger import entry_of, ledger_from_items, load_ledger
from .submit import LOCK_WAIT

__all__ = ["VerdictResult", "decide", "close_superseded", "verdict_doc", "VERDICT_SLOT", "RUNNING"]

log = logging.getLogger(__name__)

VERDICT_SLOT = "verdict"
RUNNING = frozenset({BatchState.PENDING.value, BatchState.RUNNING.value})

#: for each verdict an operator gives: the run states it cannot follow, and why not
_REFUSED = {
    Verdict.ACCEPTED: ({"succeeded": "it succeeded: there is nothing to accept",
                        "": "it was not synced since it was submitted: run 'jiracampaign sync' first, or "
                            "force-complete it",
                        **{s: "it is still {s}: wait until it ends and sync, or force-complete it" for s in
                           ("pending", "running", "held", "unknown")}}),
    Verdict.FORCE_COMPLETED: {"succeeded": "it succeeded: it is complete already"},
    Verdict.REJECTED: {s: "it is still {s}: cancel it first (bps cancel), sync, then reject it" for s in RUNNING},
}


@dataclass
class VerdictResult:
    key: str
    ident: str
    verdict: str
    action: str  # recorded, unchanged (repairs what was missing)
    state: str = ""
    shows: str = ""

    def row(self) -> dict:
        return {"key": self.key, "id": self.ident, "verdict": self.verdict, "action": self.action,
                "state": self.state or None, "shows": self.shows}


def verdict_doc(verdict: Verdict, reason: str, who: str, state: str, by: str = "") -> Document:
    """The note that records a verdict on the item."""
    words = {Verdict.ACCEPTED: "Accepted as it is", Verdict.REJECTED: "Rejected: its outputs are not used",
             Verdict.FORCE_COMPLETED: "Force-completed", Verdict.RESCUED: "Rescued"}[verdict]
    text = [Strong(words), f" (run state {state or 'not synced'})"]
    if by:
        text += [" by ", Mono(by)]
    text += [f", by {who} with jiracampaign." if who else "."]
    blocks = [Paragraph(text)]
    if reason:
        blocks.append(Paragraph(["Reason: ", reason]))
    follow = {Verdict.ACCEPTED: "The next steps treat this group as done.",
              Verdict.FORCE_COMPLETED: "The next steps treat this group as done; sync no longer follows the run.",
              Verdict.REJECTED: "The next steps leave this group's outputs out, and a rescue does not reuse them.",
              Verdict.RESCUED: "A later attempt of this group stands for it."}[verdict]
    blocks.append(Paragraph(Emph(follow)))
    return Document(blocks)


def _record(tracker: Tracker, key: str, entry: Entry, verdict: Verdict, reason: str, who: str,
            by: str = "") -> str:
    """Write a verdict (sync record first: it is what counts), close the item, note why; returns what it shows."""
    entry.verdict, entry.verdict_reason = verdict.value, reason
    tracker.set_sync(key, entry.record())
    shows = tracker.set_verdict(key, verdict.value)
    tracker.put_note(key, VERDICT_SLOT, verdict_doc(verdict, reason, who, entry.state, by))
    return shows


def decide(tracker: Tracker, config: Config, key: str, verdict: Verdict, reason: str = "",
           output_dir: str | None = None) -> VerdictResult:
    """Record an operator's verdict on one submission.

    Raises
    ------
    InputError
        No such submission, or no reason where one is needed.
    JiraCampaignError
        The run cannot take this verdict (never submitted, still running, succeeded, superseded by a
        later attempt); nothing is written.
    """
    if verdict in (Verdict.REJECTED, Verdict.FORCE_COMPLETED) and not reason.strip():
        raise InputError("--reason", None, None, f"a {verdict.value} submission needs a reason (--reason TEXT): it "
                         "is what the next person reads on the ticket")
    item = submission_item(tracker, key)
    record: SubmissionRecord = item.record
    if record.run is None:
        raise JiraCampaignError(f"{key} was never submitted: there is no run to {_verb(verdict)}")
    folder = folder_for(config.get("campaigns_dir"), output_dir, record.campaign)
    with exclusive(lock_path(data_dir()), LOCK_WAIT):
        items, item = items_around(tracker, item, folder)
        chain = by_group((i.record, i) for i in items if isinstance(i.record, SubmissionRecord)
                         ).get((record.step, record.group), [item])
        if chain[-1].key != key:
            raise JiraCampaignError(f"{key} is attempt {record.attempt}; {chain[-1].key} (attempt "
                                    f"{chain[-1].record.attempt}) is the latest of {record.step} group "
                                    f"{record.group}: {_verb(verdict)} that one")
        entry = entry_of(item, lambda wms: source_for(wms, config))
        state = entry.state
        if entry.verdict == verdict.value and entry.verdict_reason == reason:
            action = "unchanged"
        else:
            refused = _REFUSED.get(verdict, {}).get(state)
            if refused:
                raise JiraCampaignError(f"cannot {_verb(verdict)} {key} ({record.run.run_name}): "
                                        f"{refused.format(s=state or 'not synced')}")
            action = "recorded"
        shows = _record(tracker, key, entry, verdict, reason, _who())  # a re-run repairs what a crash left out
        epic = next((i for i in items if i.kind == "campaign"), None)
        if epic is not None:
            _update_campaign(tracker, epic, items, entry, lambda wms: source_for(wms, config))
        log.info("%s: %s (%s)", key, verdict.value, action)
        return VerdictResult(key, item.ident, verdict.value, action, state, shows)


def _update_campaign(tracker: Tracker, epic: Item, items: list[Item], entry: Entry,
                     source_for: Callable[[str], str]) -> None:
    """The verdict in the campaign's ledger, the earlier attempts it makes moot closed, and the roll-up redrawn
    (what the next sync would do, done now so the campaign reads right at once)."""
    state = load_ledger(tracker, epic) or ledger_from_items(epic, items, source_for)
    state.entries[entry.key] = entry
    for _, _, write in close_superseded(tracker, state):
        write()
    tracker.attach(epic.key, DIGEST_FILE, state.to_bytes())
    steps = epic.record.steps if isinstance(epic.record, CampaignRecord) else []
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    tracker.put_note(epic.key, texts.ROLLUP_SLOT, texts.rollup_doc(state.entries.values(), steps, now))


def _verb(verdict: Verdict) -> str:
    return {Verdict.ACCEPTED: "accept", Verdict.REJECTED: "reject", Verdict.FORCE_COMPLETED: "force-complete",
            Verdict.RESCUED: "rescue"}[verdict]


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def superseded(entries: Iterable[Entry]) -> list[tuple[Entry, Entry]]:
    """``(earlier attempt, latest attempt)`` for each earlier attempt without a verdict in a group whose latest
    attempt succeeded or was accepted or force-completed."""
    out = []
    for members in entry_groups(entries):
        latest = members[-1]
        if latest.state == BatchState.SUCCEEDED.value or latest.verdict in (Verdict.ACCEPTED.value,
                                                                            Verdict.FORCE_COMPLETED.value):
            out += [(e, latest) for e in members[:-1] if not e.verdict]
    return out


def close_superseded(tracker: Tracker, state: SyncState) -> list[tuple[str, str, Callable[[], None]]]:
    """What closing the attempts a later one made moot takes: ``(key, text, write)`` for each, in order."""
    out = []
    for entry, latest in superseded(state.entries.values()):
        new = dataclasses.replace(entry)

        def write(new=new, latest=latest) -> None:
            _record(tracker, new.key, new, Verdict.RESCUED, "", "", by=f"{latest.key} (attempt {latest.attempt}, "
                                                                      f"{latest.verdict or latest.state})")
            state.entries[new.key] = new
        out.append((entry.key, f"{entry.key}: rescued by {latest.key} (attempt {latest.attempt}): closed", write))
    return out
