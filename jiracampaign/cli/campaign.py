"""Commands that write a campaign: ``plan`` and ``create``."""

from __future__ import annotations

import click

from . import State
from .output import Progress, output_options, render_rows

__all__ = ["plan", "create"]

PLAN_COLUMNS = [("step", "STEP"), ("group", "GROUP"), ("inputs", "INPUTS"), ("data_query", "DATA QUERY"), ("file", "FILE")]
CREATE_COLUMNS = [("key", "KEY"), ("id", "SUBMISSION"), ("step", "STEP"), ("group", "GROUP"), ("action", "ACTION"),
                  ("changes", "CHANGES")]


def campaign_options(fn):
    """SPEC, ``--output-dir`` and ``--force`` (and the output formats), shared by commands that write a campaign folder."""
    fn = output_options(fn)
    fn = click.option("--force", is_flag=True, help="Overwrite submission files edited by hand since the last plan.")(fn)
    fn = click.option("-o", "--output-dir", type=click.Path(file_okay=False),
                      help="Campaign folder to write; default: <campaigns_dir>/<campaign id>.")(fn)
    return click.argument("spec", type=click.Path(dir_okay=False))(fn)


@click.command()
@campaign_options
@click.pass_obj
def plan(state: State, spec: str, output_dir: str | None, force: bool, fmt: str) -> None:
    """Write one BPS submit YAML per step and group, and print the plan.

    Only jiracampaign's own files in the campaign folder are written (or removed when no longer
    planned); bps and Parsl output there is left alone. An interrupted write is completed by the
    next one.

    \b
    Example:
        jiracampaign plan examples/dp02/campaign.yaml
        jiracampaign plan examples/demo/campaign.yaml --json
    """
    from ..services.plan import plan as plan_campaign

    result = plan_campaign(state.config, spec, output_dir, force)
    click.echo(render_rows(result.rows(), PLAN_COLUMNS, fmt), nl=False)
    click.echo(f"Planned {len(result.plan.submissions)} submissions of campaign {result.plan.campaign.id} in "
               f"{result.folder}/", err=True)


@click.command()
@campaign_options
@click.pass_obj
def create(state: State, spec: str, output_dir: str | None, force: bool, fmt: str) -> None:
    """Plan the campaign and record it: an epic, and one ticket per submission with its YAML attached.

    Running it again changes nothing; after a spec edit it creates only the missing tickets and
    updates the changed ones, commenting what changed. A submission that ran keeps its file and
    record: if the plan changed since, it is listed as needing a new attempt. An interrupted create
    is resumed by running it again (nothing is created twice). Without JIRA configured, the campaign
    goes to the embedded local store.

    \b
    Example:
        jiracampaign create examples/dp02/campaign.yaml
        jiracampaign --tracker jira create examples/dp02/campaign.yaml
    """
    from ..services.create import create_from_spec

    with Progress("Recording") as bar:
        result = create_from_spec(state.config, spec, output_dir, force, start=bar.start, progress=bar.update)
    click.echo(render_rows(result.rows, CREATE_COLUMNS, fmt), nl=False)
    _warnings(result)


def _warnings(result) -> None:
    from ..services.create import FROZEN

    for dup in result.duplicates:
        click.echo(f"Warning: {dup.key} duplicates the ticket of {dup.ident}; it is ignored (close it in the tracker).", err=True)
    for orphan in result.orphans:
        click.echo(f"Warning: {orphan.key} ({orphan.ident}) is no longer in the spec; left as it is.", err=True)
    frozen = [row for row in result.rows if row["action"] == FROZEN]
    for row in frozen:
        click.echo(f"Changed after submit: {row['key']} ({row['id']}) ran with its file as it was; the spec now plans "
                   f"it differently: it needs a new attempt (its ticket and file are kept): {row['rescue']}", err=True)
    click.echo(f"Campaign {result.campaign}: epic {result.epic} ({'created' if result.epic_created else 'existing'}) "
               f"in {result.tracker}; {result.count('created')} created, {result.count('updated')} updated, "
               f"{result.count('unchanged')} unchanged" + (f", {len(frozen)} changed after submit" if frozen else "")
               + f"; files in {result.folder}/", err=True)
