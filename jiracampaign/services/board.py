"""``board``: a saved query and a board of one campaign's submissions, or of every campaign's, made once.

The tracker does the work (`jiracampaign.trackers.base.Tracker.board`; JIRA: `jiracampaign.trackers.jira.boards`);
this service finds the campaign's item ref in its campaign folder, when there is one, and turns a tracker
that has no boards (the local store) into a one-line error.
"""

from __future__ import annotations

import logging
from typing import Any

from ..config import Config
from ..errors import TrackerError
from ..planning.plan import manifest_refs
from ..trackers.base import Board
from .items import folder_for

__all__ = ["make_board"]

log = logging.getLogger(__name__)


def make_board(config: Config, campaign: str | None = None, output_dir: str | None = None,
               tracker: Any = None) -> Board:
    """Find, or create once, the board of ``campaign`` (every campaign's when `None`).

    Parameters
    ----------
    config : `Config`
        The effective configuration (opens the tracker unless ``tracker`` is given).
    campaign : `str`, optional
        The campaign id.
    output_dir : `str`, optional
        The campaign folder (default ``<campaigns_dir>/<campaign>``); its manifest names the campaign's
        item, read directly instead of searched for.
    tracker : `Tracker`, optional
        An open tracker (left open).

    Raises
    ------
    TrackerError
        The tracker has no boards, the campaign has no item, or the tracker refused.
    """
    own = tracker is None
    if own:
        from ..plugins import open_tracker

        tracker = open_tracker(config)
    try:
        known = None
        if campaign:
            known = manifest_refs(folder_for(config.get("campaigns_dir"), output_dir, campaign)).get(campaign)
        try:
            board = tracker.board(campaign, known)
        except NotImplementedError as exc:
            raise TrackerError(str(exc) or f"the {tracker.name} tracker has no boards") from None
        log.info("board %s (%s) on filter %s: %s", board.id, board.name, board.query_id,
                 ", ".join(f"{what} created" for what in board.created) or "nothing changed")
        return board
    finally:
        if own:
            tracker.close()
