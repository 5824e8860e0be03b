"""``record``: link a run submitted by hand to its submission item, so ``sync`` follows it.

A ticket keeps the run it records: recording another run on it is refused unless ``force`` (the
replaced run is named in a note on the ticket, and a ticket shown done is reopened only then, said
so). Recording the same run again changes nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from ..config import Config, data_dir
from ..core import texts
from ..core.records import RunIdentity, SubmissionRecord
from ..errors import ExitStatus, JiraCampaignError
from ..locks import exclusive, lock_path
from ..plugins import source_for
from ..trackers.base import Tracker
from .items import campaign_items, campaign_of, folder_for
from .ledger import add_runs
from .submit import LOCK_WAIT, Submitter, SubmitResult

__all__ = ["record_run", "parse_time", "TimeError"]

log = logging.getLogger(__name__)

#: how far ahead of this machine's clock a submit time may be (clocks differ a little)
FUTURE_SLACK = timedelta(hours=1)
EXAMPLE = "2026-11-24T10:10:10Z"


class TimeError(JiraCampaignError, ValueError):
    """A submit time that is not an ISO 8601 date-time (or ``now``)."""

    exit_status = ExitStatus.BAD_INPUT


def parse_time(text: str, now: datetime | None = None) -> str:
    """A submit time as recorded: ISO 8601, UTC, whole seconds.

    Accepts ``now`` and ISO 8601 date-times with a time of day (``2026-11-24T10:10:10Z``,
    ``2026-11-24 10:10+01:00``); one without an offset is this machine's local time.

    Raises
    ------
    TimeError
        Anything else (``yesterday``, a date alone, a time more than an hour ahead of now).
    """
    now = now or datetime.now(timezone.utc)
    value = text.strip()
    if value.lower() == "now":
        return now.astimezone(timezone.utc).replace(microsecond=0).isoformat()
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        when = None
    if when is None or len(value) <= 10:  # a date alone has no time of day: which hour was it submitted?
        raise TimeError(f"'{text}' is not an ISO 8601 date-time: expected e.g. {EXAMPLE} (UTC), "
                        "2026-11-24T11:10:10+01:00, or 'now'")
    when = when.astimezone(timezone.utc) if when.tzinfo else when.astimezone().astimezone(timezone.utc)
    if when > now + FUTURE_SLACK:
        raise TimeError(f"'{text}' is in the future ({when.isoformat()} UTC; it is now "
                        f"{now.astimezone(timezone.utc).replace(microsecond=0).isoformat()}): expected the time bps "
                        "submit ran")
    return when.replace(microsecond=0).isoformat()


def record_run(tracker: Tracker, config: Config, key: str, run_name: str, run_id: str | None = None,
               wms: str = "panda", submit_dir: str | None = None, submitted: str | None = None,
               force: bool = False) -> SubmitResult:
    """Record a run on the submission item ``key`` and add it to the campaign's sync ledger.

    Returns a result whose action is ``recorded``, ``replaced`` (``force``: another run was
    recorded; its detail says whether the ticket was reopened) or ``unchanged`` (this run was
    recorded already).

    Raises
    ------
    TimeError
        ``submitted`` is not an ISO 8601 date-time.
    JiraCampaignError
        Not a submission ticket, or it records another run and ``force`` is not set.
    """
    when = parse_time(submitted) if submitted else None
    campaign = campaign_of(tracker, (key,))
    folder = folder_for(config.get("campaigns_dir"), None, campaign)
    items = campaign_items(tracker, campaign, folder)
    item = next(t for t in items if t.key == key)
    if not isinstance(item.record, SubmissionRecord):
        raise JiraCampaignError(f"{item.key} is not a submission ticket (it is the {item.kind} ticket)")
    epic = next((t for t in items if t.kind == "campaign"), None)
    if epic is None:
        raise JiraCampaignError(f"the epic of campaign {campaign} is missing in {tracker.describe()}")
    find = lambda wms_name: source_for(wms_name, config)  # noqa: E731
    submitter = Submitter(tracker, folder, config.get("bps.command"), find)
    run = RunIdentity(run_name=run_name, run_id=run_id, wms=wms, submit_dir=submit_dir,
                      submitted=when or submitter.now())
    old = item.record.run
    if old is not None and old.run_name == run.run_name and (run.run_id is None or old.run_id == run.run_id) \
            and (not submit_dir or old.submit_dir == submit_dir) and (not submitted or old.submitted == when) \
            and old.wms == run.wms:
        return SubmitResult(item.key, item.ident, "unchanged", f"{item.key} records this run already", old)
    if old is not None and not force:
        shown = f", and the ticket shows it finished ({item.status})" if item.done and item.status else ""
        raise JiraCampaignError(
            f"{item.key} already records run {old.run_name}" + (f" (run id {old.run_id})" if old.run_id else "")
            + f"{shown}: a recorded run is not replaced without --force (record --force {item.key} ... replaces it"
            + (" and reopens the ticket" if item.done else "") + ")")
    reopened = f"reopened (it showed {item.status or 'done'})" if old is not None and item.done else ""
    with exclusive(lock_path(data_dir()), LOCK_WAIT):
        if old is not None:
            tracker.add_note(item.key, texts.run_replaced_doc(old, run, reopened))
        submitter.record(item, run)
        add_runs(tracker, epic, [submitter.entry(item, run)], items, find)
    log.info("%s: recorded run %s%s", item.key, run_name, f" (replacing {old.run_name})" if old else "")
    if old is None:
        return SubmitResult(item.key, item.ident, "recorded", "", run)
    detail = f"replaced {old.run_name}" + (f"; {reopened}" if reopened else "")
    return SubmitResult(item.key, item.ident, "replaced", detail, run)
