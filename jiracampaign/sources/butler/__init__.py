"""What a data butler holds: a campaign's inputs learned from the repository (the ``butler`` extra).

Importing this package imports nothing from ``lsst``; `jiracampaign.sources.butler.inputs` and
`jiracampaign.sources.butler.checks` import ``lsst.daf.butler`` when first used, and say how to
install it when it is missing (`require_butler`). docs/butler.md describes both.
"""

from __future__ import annotations

import importlib.util

from jiracampaign.errors import ExitStatus, JiraCampaignError

__all__ = ["ENABLE_HINT", "ButlerMissingError", "ButlerQueryError", "available", "require_butler"]

ENABLE_HINT = "install the butler extra: pip install 'jiracampaign[butler]'"


class ButlerMissingError(JiraCampaignError):
    """A butler option was used but ``lsst-daf-butler`` is not installed."""


class ButlerQueryError(JiraCampaignError):
    """A ``where`` clause the butler would reject; ``problems`` lists each reason in one line."""

    exit_status = ExitStatus.BAD_INPUT

    def __init__(self, where: str, problems: list[str]):
        super().__init__(f"butler query {where!r}: " + "; ".join(problems))
        self.where, self.problems = where, list(problems)


def available() -> bool:
    """Whether ``lsst.daf.butler`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec("lsst.daf.butler") is not None
    except (ImportError, ValueError):
        return False


def require_butler(what: str = "this option"):
    """Import and return ``lsst.daf.butler``, or raise `ButlerMissingError` naming ``what`` and the extra."""
    try:
        import lsst.daf.butler as daf_butler
    except ImportError as exc:
        raise ButlerMissingError(f"{what} needs lsst-daf-butler, which is not installed ({exc}); "
                                 f"{ENABLE_HINT}") from None
    return daf_butler
