"""Finding a campaign's items: the tracker's bulk read, told which items the campaign folder's manifest
knows (a tracker whose search lags behind its writes returns them all the same)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from ..core.records import SubmissionRecord
from ..errors import InputError, JiraCampaignError
from ..planning.plan import manifest_refs
from ..trackers.base import Item, ItemRef, Tracker

__all__ = ["campaign_items", "campaign_of", "folder_for", "submission_item", "items_around"]


def campaign_items(tracker: Tracker, campaign: str, folder: Path, known: Mapping[str, ItemRef] | None = None,
                   since: float | None = None) -> list[Item]:
    """Every item of a campaign (campaign, steps, submissions); ``known`` adds refs to those of the
    folder's manifest, ``since`` asks for a complete read (see `Tracker.find_items`)."""
    return tracker.find_items(campaign, known={**manifest_refs(folder), **(known or {})}, since=since)


def campaign_of(tracker: Tracker, keys: tuple[str, ...]) -> str:
    """The one campaign the given item keys belong to."""
    named = tracker.get_items(keys)
    missing = sorted(set(keys) - {item.key for item in named})
    if missing:
        raise JiraCampaignError(f"no such ticket in {tracker.describe()}: {', '.join(missing)}")
    campaigns = {item.record.campaign for item in named}
    if len(campaigns) != 1:
        raise JiraCampaignError(f"tickets {', '.join(keys)} must belong to one campaign (found {sorted(campaigns)})")
    return campaigns.pop()


def folder_for(campaigns_dir: str, output_dir: str | None, campaign: str) -> Path:
    """The campaign folder: ``--output-dir``, else ``<campaigns_dir>/<campaign id>``."""
    return Path(output_dir) if output_dir else Path(campaigns_dir) / campaign


def submission_item(tracker: Tracker, key: str) -> Item:
    """The submission item ``key``, read directly.

    Raises
    ------
    InputError
        There is no such item, or it is not a submission.
    """
    item = tracker.get_item(key)
    if item is None or not isinstance(item.record, SubmissionRecord):
        raise InputError("KEY", None, None, f"no submission ticket {key} in {tracker.describe()}")
    return item


def items_around(tracker: Tracker, item: Item, folder: Path) -> tuple[list[Item], Item]:
    """Every item of ``item``'s campaign (``item`` among them even where the tracker's search lags), and
    ``item`` as read with them."""
    items = campaign_items(tracker, item.record.campaign, folder, known={item.ident: (item.key, item.id)})
    return items, next((i for i in items if i.key == item.key), item)
