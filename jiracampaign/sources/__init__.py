"""Status sources: where jiracampaign learns how BPS runs are doing (the PanDA monitor; BPS's own report next)."""

from __future__ import annotations

import importlib

from ..config import Config
from ..errors import ConfigError
from .base import StatusSource

__all__ = ["StatusSource", "open_source", "ALIASES"]

ALIASES = {
    "panda": "jiracampaign.sources.panda.PandaSource",
}


def open_source(name: str, config: Config, **kwargs) -> StatusSource:
    """Build the status source ``name`` (an alias, or a dotted ``module.Class`` path) from the config."""
    target = ALIASES.get(name, name)
    module_name, _, class_name = target.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):
        raise ConfigError("config", None, "source", f"cannot load status source class '{target}'") from None
    return cls.from_config(config, **kwargs)
