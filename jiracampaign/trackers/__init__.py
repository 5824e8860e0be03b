"""Trackers record campaigns as an epic and one child ticket per submission: JIRA or a local SQLite store."""

from __future__ import annotations

from ..config import Config
from ..plugins import load_class
from .base import NewTicket, Ticket, Tracker

__all__ = ["Tracker", "Ticket", "NewTicket", "open_tracker", "ALIASES"]

ALIASES = {
    "local": "jiracampaign.trackers.local.LocalTracker",
    "jira": "jiracampaign.trackers.jira.JiraTracker",
}


def open_tracker(config: Config) -> Tracker:
    """Build the tracker the config names (an alias, or a dotted ``module.Class`` path)."""
    return load_class(config.get("tracker"), ALIASES, "tracker", "tracker").from_config(config)
