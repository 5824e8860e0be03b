"""Commands about runs: ``panda`` (and, next, ``submit``, ``record``, ``sync``). Registered on `jiracampaign.cli.cli`."""

from __future__ import annotations

import json

import click

from .cli import _State, cli
from .output import output_options, render_rows
from .runs import RunRef
from .sources import open_source
from .states import BatchState
from .views import TASK_COLUMNS, run_text, task_rows

__all__ = ["panda"]


@cli.command()
@click.argument("runs", nargs=-1, required=True, metavar="RUN...")
@click.option("--days", type=click.IntRange(min=1), help="Look back this many days (default: panda.days).")
@output_options
@click.pass_obj
def panda(state: _State, runs: tuple[str, ...], days: int | None, fmt: str) -> None:
    """Show where BPS runs stand on PanDA: state, progress per task label, failures with log links.

    RUN is a run name as `bps submit` printed it (any case) or its numeric Run Id. Reads the
    PanDA monitor (panda.monitor_url) within the request budget shared by every jiracampaign
    process on this machine. Exits 1 when a run is not found.

    \b
    Example:
        jiracampaign panda u_jdoe_DM-12345_step1_20261124T101010Z
        jiracampaign panda 6123 6124 --json
    """
    config = state.config
    if days:
        config.set("panda.days", days, "--days")
    source = open_source("panda", config)
    refs = [RunRef(name=r, run_id=r) if r.isdigit() else RunRef(name=r) for r in runs]
    try:
        statuses = source.statuses(refs, detail="all")
    finally:
        source.close()
    if fmt == "table":
        click.echo("\n".join(run_text(s) for s in statuses), nl=False)
    elif fmt == "csv":
        rows = [row for s in statuses for row in task_rows(s)]
        click.echo(render_rows(rows, [("run", "RUN")] + TASK_COLUMNS, "csv"), nl=False)
    else:
        data = [s.to_dict() for s in statuses]
        click.echo(json.dumps(data, indent=2) + "\n" if fmt == "json" else "".join(json.dumps(d) + "\n" for d in data),
                   nl=False)
    missing = [s.name for s in statuses if s.state is BatchState.UNKNOWN]
    click.echo(f"{len(statuses)} runs, {source.requests_made} monitor requests", err=True)
    if missing:
        click.echo(f"Not found or unknown: {', '.join(missing)}", err=True)
        click.get_current_context().exit(1)
