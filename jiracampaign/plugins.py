"""The plug-in registry: trackers and status sources by short name or dotted ``module.Class`` path.

A plug-in is a class. It may declare its own settings as ``settings`` (a tuple of section `Key`s),
and a status source declares the workload systems it follows (``handles``) and its display name
(``label``). Built-in plug-ins keep their settings in a light module of their own, so reading the
config never imports an HTTP client.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from .config import Config
    from .schema import Key

__all__ = ["TRACKERS", "SOURCES", "BUILTIN_SETTINGS", "load_class", "builtin_settings", "plugin_settings",
           "open_tracker", "open_source", "source_for"]

log = logging.getLogger(__name__)

TRACKERS = {
    "local": "jiracampaign.trackers.local.LocalTracker",
    "jira": "jiracampaign.trackers.jira.tracker.JiraTracker",
}
SOURCES = {
    "panda": "jiracampaign.sources.panda.source.PandaSource",
    "bps": "jiracampaign.sources.bps.source.BpsSource",
}
#: where the built-in plug-ins declare their settings (modules that import nothing heavy)
BUILTIN_SETTINGS = (
    "jiracampaign.trackers.local_settings",
    "jiracampaign.trackers.jira.settings",
    "jiracampaign.sources.panda.settings",
    "jiracampaign.sources.bps.settings",
)


def load_class(name: str, aliases: dict[str, str], setting: str, what: str) -> type:
    """The class ``name`` stands for; a `ConfigError` naming ``setting`` if it cannot be loaded."""
    target = aliases.get(name, name)
    module_name, _, class_name = target.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):
        known = ", ".join(aliases)
        raise ConfigError("config", None, setting,
                          f"cannot load {what} '{target}': expected one of {known}, or a dotted module.Class path") from None


def builtin_settings() -> tuple["Key", ...]:
    """The setting sections the built-in plug-ins declare."""
    out: list[Key] = []
    for module in BUILTIN_SETTINGS:
        out.extend(importlib.import_module(module).SETTINGS)
    return tuple(out)


def plugin_settings(named: list[tuple[str, str]]) -> tuple["Key", ...]:
    """Setting sections declared by plug-ins named by dotted path, as ``(name, the setting naming it)``
    (built-in ones are in `builtin_settings`)."""
    out: list[Key] = []
    for name, setting in named:
        if name in TRACKERS or name in SOURCES or "." not in name:
            continue
        aliases, what = (TRACKERS, "tracker") if setting == "tracker" else (SOURCES, "status source")
        cls = load_class(name, aliases, setting, what)
        out.extend(getattr(cls, "settings", ()) or ())
    return tuple(out)


def open_tracker(config: "Config") -> Any:
    """The tracker the config names (``tracker``: an alias, or a dotted ``module.Class`` path)."""
    cls = load_class(config.get("tracker"), TRACKERS, "tracker", "tracker")
    log.debug("tracker %s", cls.__name__)
    return cls.from_config(config)


def _source_names(config: "Config") -> list[str]:
    return [part.strip() for part in str(config.get("sync.sources") or "").split(",") if part.strip()]


def open_source(name: str, config: "Config", **kwargs) -> Any:
    """Build the status source ``name`` (an alias, or a dotted ``module.Class`` path) from the config."""
    return load_class(name, SOURCES, "sync.sources", "status source").from_config(config, **kwargs)


def source_for(wms: str, config: "Config") -> str:
    """Name of the configured status source that follows runs of workload system ``wms`` ('' if none does)."""
    wanted = (wms or "").casefold()
    for name in _source_names(config):
        cls = load_class(name, SOURCES, "sync.sources", "status source")
        if wanted in {h.casefold() for h in getattr(cls, "handles", ())}:
            return name
    return ""
