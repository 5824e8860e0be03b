"""The ``report`` command: the campaigns as one self-contained HTML page."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from . import State

__all__ = ["report", "write_atomically"]


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it, renamed over it once complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@click.command()
@click.argument("campaigns", nargs=-1, metavar="[CAMPAIGN]...")
@click.option("--html", "html_file", required=True, metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the page to FILE (replaced whole, never left half-written).")
@click.option("--since", "since_days", type=click.FloatRange(min=0), default=7, show_default=True, metavar="DAYS",
              help="Also show campaigns closed within DAYS days (open ones are always shown).")
@click.option("--all", "every", is_flag=True, help="Show every campaign, open or closed.")
@click.pass_obj
def report(state: State, campaigns: tuple[str, ...], html_file: Path, since_days: float, every: bool) -> None:
    """Write one self-contained HTML page of the campaigns: steps, groups, states, failures, links.

    Reads the tracker only (states and counts as the last sync wrote them; no status source is
    asked): the open campaigns and those closed within --since days, or every one with --all, or the
    CAMPAIGNs named. Per campaign a table of its steps, then per step its groups, each by its latest
    attempt, with their ticket (and earlier attempts), state (and verdict), input files done and
    failed, run, site and links (ticket, monitor, failure summary), and the latest failure summary's
    groups (count, task, error, message, data IDs). The page loads
    nothing from elsewhere: open it from disk, mail it, or publish it as it is.

    \b
    Example:
        jiracampaign report --html campaigns.html
        jiracampaign report --html dp02.html --all dp02-w38
    """
    from ..render.html import render
    from ..services.report import report as read_report

    since = None if every else since_days
    result = read_report(state.config, campaigns, since)
    write_atomically(html_file, render(result))
    tally = result.tally
    states = ", ".join(f"{count} {name}" for name, count in sorted(tally.states.items(), key=lambda kv: -kv[1]))
    click.echo(str(html_file))
    click.echo(f"{len(result.campaigns)} campaigns, {tally.submissions} submissions ({states or 'none'}), "
               f"{tally.attention} needing attention, {result.notes_read} failure summaries read, "
               f"in {result.seconds:.2f} s", err=True)
