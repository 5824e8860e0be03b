"""Settings of the embedded local store (declared apart from the store, so reading the config stays light)."""

from __future__ import annotations

from ..schema import Key

__all__ = ["SETTINGS"]

SETTINGS: tuple[Key, ...] = (
    Key("local", "section", "The embedded local store.", keys=(
        Key("path", "str", "SQLite file; empty means `$XDG_DATA_HOME/jiracampaign/campaigns.sqlite`."),
    )),
)
