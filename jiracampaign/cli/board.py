"""The ``board`` command: a saved JQL filter and a Kanban board of a campaign's submissions (or of all), made once."""

from __future__ import annotations

import json

import click

from . import State
from .output import render_rows

__all__ = ["board", "COLUMN_COLUMNS"]

COLUMN_COLUMNS = [("name", "COLUMN"), ("statuses", "STATUSES"), ("states", "RUN STATES")]


@click.command()
@click.argument("campaign", required=False)
@click.option("-o", "--output-dir", type=click.Path(file_okay=False),
              help="Campaign folder whose manifest names the epic; default: <campaigns_dir>/<campaign id>.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: URLs, ids, JQL, columns, what was created.")
@click.pass_obj
def board(state: State, campaign: str | None, output_dir: str | None, as_json: bool) -> None:
    """Make a saved JQL filter and a Kanban board of a campaign's submissions, once, and print their URLs.

    Without CAMPAIGN, the board shows the submissions of every campaign in the project. The filter
    is shared with the project and kept as a favourite of its creator; the board's columns are
    JIRA's (its REST API cannot set them): the table shows in which column each run state's tickets
    appear, and a note names any run state whose tickets appear in none. Running it again finds the
    filter and the board and changes nothing, also after an interrupted run. JIRA only: the local
    store has no boards (exit status 5).

    \b
    Example:
        jiracampaign board dp02-w38
        jiracampaign board --json
    """
    from ..services.board import make_board

    made = make_board(state.config, campaign, output_dir)
    rows = [{"name": c.name, "statuses": ", ".join(c.statuses) or None, "states": ", ".join(c.states) or None}
            for c in made.columns]
    if as_json:
        click.echo(json.dumps({
            "campaign": made.campaign, "name": made.name, "board_id": made.id, "board_url": made.url,
            "filter_id": made.query_id, "filter_url": made.query_url, "jql": made.query,
            "columns": [{"name": c.name, "statuses": c.statuses, "states": c.states} for c in made.columns],
            "created": made.created, "notes": made.notes}, indent=2))
    else:
        click.echo(f"board   {made.url}\nfilter  {made.query_url}\njql     {made.query}\n")
        click.echo(render_rows(rows, COLUMN_COLUMNS, "table"), nl=False)
    for note in made.notes:
        click.echo(f"Note: {note}", err=True)
    what = " and ".join(f"the {thing}" for thing in made.created)
    whose = f"campaign {made.campaign}" if made.campaign else "all campaigns"
    click.echo(f"Board '{made.name}' of {whose}: " + (f"created {what}" if what else "already there, nothing changed"),
               err=True)
