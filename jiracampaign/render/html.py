"""The campaign report (`jiracampaign.services.report.Report`) as one self-contained HTML page.

The page needs nothing but itself: its style and its few lines of script (a filter box, and "only what
needs attention") are inline; no font, image, style sheet or script is loaded from anywhere. Every text
is escaped (jinja2 autoescaping); a link is made only from an ``http(s)`` address, so an address from
a ticket cannot run script. Without script, every row shows.
"""

from __future__ import annotations

import re
from importlib import resources

import jinja2
import markupsafe

from .. import __version__
from ..services.report import ATTENTION, NOT_SUBMITTED, STATES, Report, Tally

__all__ = ["render", "TEMPLATE"]

TEMPLATE = "report.html.j2"


def _href(url: str) -> str:
    """``url`` when a browser may follow it from the page (``http(s)``), else ``""`` (shown as text)."""
    return url if re.match(r"^https?://[^\s\"'<>]+$", url or "") else ""


def _state_class(state: str) -> str:
    return "st-" + re.sub(r"[^a-z]+", "-", state.lower()).strip("-")


def _breakable(text: str) -> markupsafe.Markup:
    """Escaped text that may wrap after each ``_`` (run names are long)."""
    return markupsafe.Markup("_<wbr>").join(markupsafe.escape(part) for part in str(text).split("_"))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _percent(tally: Tally) -> str:
    return "-" if tally.percent is None else f"{tally.percent:.0f}%"


def _states_used(report: Report) -> list[str]:
    """The states some submission is in, in `STATES` order (the columns of the summary tables)."""
    seen = report.tally.states
    return [state for state in STATES if seen[state]] or [NOT_SUBMITTED]


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    env.filters.update(href=_href, state_class=_state_class, percent=_percent, breakable=_breakable, plural=_plural)
    return env


def render(report: Report) -> str:
    """The page, as text (UTF-8 when written)."""
    source = resources.files(__package__).joinpath(TEMPLATE).read_text(encoding="utf-8")
    template = _environment().from_string(source)
    return template.render(report=report, states=_states_used(report), attention=sorted(ATTENTION),
                           version=__version__)
