"""Loading a plug-in class (a tracker, a status source) by short alias or dotted ``module.Class`` path."""

from __future__ import annotations

import importlib

from .errors import ConfigError

__all__ = ["load_class"]


def load_class(name: str, aliases: dict[str, str], setting: str, what: str) -> type:
    """The class ``name`` stands for; a `ConfigError` naming ``setting`` if it cannot be loaded."""
    target = aliases.get(name, name)
    module_name, _, class_name = target.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError):
        raise ConfigError("config", None, setting, f"cannot load {what} class '{target}'") from None
