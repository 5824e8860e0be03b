"""Trackers record campaigns as an epic and one child ticket per submission: JIRA or a local SQLite store."""

from __future__ import annotations

import importlib

from ..config import Config
from ..errors import ConfigError
from .base import NewTicket, Ticket, Tracker

__all__ = ["Tracker", "Ticket", "NewTicket", "open_tracker", "ALIASES"]

ALIASES = {
    "local": "jiracampaign.trackers.local.LocalTracker",
    "jira": "jiracampaign.trackers.jira.JiraTracker",
}


def open_tracker(config: Config) -> Tracker:
    """Build the tracker the config names (an alias, or a dotted ``module.Class`` path)."""
    name = config.get("tracker")
    target = ALIASES.get(name, name)
    module_name, _, class_name = target.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):
        raise ConfigError("config", None, "tracker", f"cannot load tracker class '{target}'") from None
    return cls.from_config(config)
