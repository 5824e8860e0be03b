"""``record``: link a run submitted by hand to its submission item, so ``sync`` follows it."""

from __future__ import annotations

import logging

from ..config import Config, data_dir
from ..core.records import RunIdentity, SubmissionRecord
from ..errors import JiraCampaignError
from ..locks import exclusive, lock_path
from ..plugins import source_for
from ..trackers.base import Tracker
from .items import campaign_items, campaign_of, folder_for
from .ledger import add_runs
from .submit import LOCK_WAIT, Submitter, SubmitResult

__all__ = ["record_run"]

log = logging.getLogger(__name__)


def record_run(tracker: Tracker, config: Config, key: str, run_name: str, run_id: str | None = None,
               wms: str = "panda", submit_dir: str | None = None, submitted: str | None = None) -> SubmitResult:
    """Record a run on the submission item ``key`` and add it to the campaign's sync ledger."""
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
                      submitted=submitted or submitter.now())
    with exclusive(lock_path(data_dir()), LOCK_WAIT):
        submitter.record(item, run)
        add_runs(tracker, epic, [submitter.entry(item, run)], items, find)
    log.info("%s: recorded run %s", item.key, run_name)
    return SubmitResult(item.key, item.ident, "recorded", "", run)
