"""Status sources: where jiracampaign learns how BPS runs are doing (the PanDA monitor; BPS's own report next)."""

from __future__ import annotations

from ..config import Config
from ..plugins import load_class
from .base import StatusSource

__all__ = ["StatusSource", "open_source", "ALIASES"]

ALIASES = {
    "panda": "jiracampaign.sources.panda.PandaSource",
}


def open_source(name: str, config: Config, **kwargs) -> StatusSource:
    """Build the status source ``name`` (an alias, or a dotted ``module.Class`` path) from the config."""
    return load_class(name, ALIASES, "source", "status source").from_config(config, **kwargs)
