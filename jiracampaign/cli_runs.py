"""Commands about runs: ``panda``, ``submit``, ``record``, ``sync``. Registered on `jiracampaign.cli.cli`."""

from __future__ import annotations

import time
from pathlib import Path

import click

from .cli import _State, cli
from .config import data_dir
from .errors import JiraCampaignError
from .output import output_options, render_rows
from .record import campaign_tickets
from .runs import RunRef
from .sources import open_source
from .spec import load_spec
from .states import BatchState
from .submit import Submitter
from .sync import Syncer, status_targets, sync_lock
from .trackers import open_tracker
from .views import TASK_COLUMNS, run_text, task_rows

__all__ = ["panda", "submit", "record", "sync"]


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
        click.echo(render_rows([s.to_dict() for s in statuses], [], fmt), nl=False)
    missing = [s.name for s in statuses if s.state is BatchState.UNKNOWN]
    click.echo(f"{len(statuses)} runs, {source.requests_made} monitor requests", err=True)
    if missing:
        click.echo(f"Not found or unknown: {', '.join(missing)}", err=True)
        click.get_current_context().exit(1)


# ---- submit, record, sync ----------------------------------------------------------------------------
SUBMIT_COLUMNS = [("key", "KEY"), ("id", "SUBMISSION"), ("action", "ACTION"), ("run_name", "RUN"), ("detail", "DETAIL")]
SYNC_COLUMNS = [("key", "KEY"), ("kind", "WRITE"), ("text", "WHAT")]


def _lock_path():
    return data_dir() / "sync.lock"


def _named_campaign(tracker, targets: tuple[str, ...]) -> str:
    """The one campaign the tickets named in ``targets`` belong to."""
    named = [t for t in (tracker.get_ticket(key) for key in targets) if t is not None]
    missing = sorted(set(targets) - {t.key for t in named})
    if missing:
        raise JiraCampaignError(f"no such ticket in {tracker.describe()}: {', '.join(missing)}")
    campaigns = {t.metadata.get("campaign") for t in named}
    if len(campaigns) != 1 or None in campaigns:
        raise JiraCampaignError(f"tickets {', '.join(targets)} must belong to one campaign (found {sorted(map(str, campaigns))})")
    return campaigns.pop()


def _folder_of(config, output_dir: str | None, campaign: str) -> Path:
    return Path(output_dir) if output_dir else Path(config.get("campaigns_dir")) / campaign


@cli.command()
@click.argument("targets", nargs=-1, required=True, metavar="SPEC | KEY...")
@click.option("--step", "steps", multiple=True, help="Only this step (repeatable).")
@click.option("--group", "groups", multiple=True, type=int, help="Only this group number (repeatable).")
@click.option("-o", "--output-dir", type=click.Path(file_okay=False), help="Campaign folder; default: <campaigns_dir>/<campaign id>.")
@click.option("--force", is_flag=True, help="Submit even if earlier steps are not done, or the submission already ran.")
@click.option("--dry-run", is_flag=True, help="Show the bps commands; change nothing.")
@output_options
@click.pass_obj
def submit(state: _State, targets, steps, groups, output_dir, force: bool, dry_run: bool, fmt: str) -> None:
    """Run `bps submit` for a campaign's submissions and record each run on its ticket.

    SPEC selects a campaign (narrowed with --step/--group); KEY... selects tickets. Refuses a
    submission whose earlier steps are not done. A BPS file edited after planning is attached
    again with a diff comment before it is submitted. Exits 1 if any submission failed or was refused.

    \b
    Example:
        jiracampaign submit examples/demo/campaign.yaml --step step1 --dry-run
        jiracampaign submit JC-2 JC-3
    """
    config = state.config
    tracker = open_tracker(config)
    try:
        keys = None if Path(targets[0]).is_file() else set(targets)
        campaign = load_spec(targets[0]).campaign.id if keys is None else _named_campaign(tracker, targets)
        folder = _folder_of(config, output_dir, campaign)
        tickets = campaign_tickets(tracker, campaign, folder)
        epic = next((t for t in tickets if t.kind == "campaign"), None)
        if epic is None:
            raise JiraCampaignError(f"campaign {campaign} is not recorded in {tracker.describe()}: run 'jiracampaign create SPEC' first")
        selected = [t for t in tickets if t.kind == "submission" and (keys is None or t.key in keys)
                    and (not steps or t.metadata.get("step") in steps) and (not groups or t.metadata.get("group") in groups)]
        if not selected:
            raise JiraCampaignError("no submission matches the selection")
        submitter = Submitter(tracker, folder, config.get("bps.command"), status_targets(config)["running"])
        with sync_lock(_lock_path(), wait=120) as locked:
            if not locked and not dry_run:
                raise JiraCampaignError(f"a sync has held {_lock_path()} for 2 minutes; try again when it is done")
            results = submitter.submit(selected, epic, tickets, force=force, dry_run=dry_run)
    finally:
        tracker.close()
    click.echo(render_rows([r.row() for r in results], SUBMIT_COLUMNS, fmt), nl=False)
    counts = {a: sum(r.action == a for r in results) for a in ("submitted", "would submit", "skipped", "refused", "failed")}
    click.echo("; ".join(f"{n} {a}" for a, n in counts.items() if n), err=True)
    if counts["failed"] or counts["refused"]:
        click.get_current_context().exit(1)


@cli.command()
@click.argument("key")
@click.option("--run-name", required=True, help="The Run Name bps printed.")
@click.option("--run-id", help="The Run Id bps printed (the iDDS request id on PanDA).")
@click.option("--wms", default="panda", show_default=True, help="Workload system the run went to (panda, htcondor, parsl).")
@click.option("--submit-dir", help="The Submit dir bps printed.")
@click.option("--submitted", help="Submit time, ISO 8601 (default: now).")
@click.pass_obj
def record(state: _State, key: str, run_name: str, run_id, wms: str, submit_dir, submitted) -> None:
    """Link a run submitted by hand to its ticket, so sync follows it.

    \b
    Example:
        jiracampaign record JC-2 --run-name u_jdoe_demo_step1_20261124T101010Z --run-id 6123
    """
    config = state.config
    tracker = open_tracker(config)
    try:
        campaign = _named_campaign(tracker, (key,))
        folder = _folder_of(config, None, campaign)
        tickets = campaign_tickets(tracker, campaign, folder)
        ticket = next(t for t in tickets if t.key == key)
        epic = next((t for t in tickets if t.kind == "campaign"), None)
        if epic is None:
            raise JiraCampaignError(f"the epic of campaign {campaign} is missing in {tracker.describe()}")
        submitter = Submitter(tracker, folder, config.get("bps.command"),
                              status_targets(config)["running"])
        run = {"run_name": run_name, "run_id": run_id, "wms": wms, "submit_dir": submit_dir, "submitted": submitted}
        with sync_lock(_lock_path(), wait=120) as locked:
            if not locked:
                raise JiraCampaignError(f"a sync has held {_lock_path()} for 2 minutes; try again when it is done")
            result = submitter.record_by_hand(ticket, epic, {k: v for k, v in run.items() if v}, tickets)
    finally:
        tracker.close()
    click.echo(f"{result.key}: recorded run {run_name}" + (f" (run id {run_id})" if run_id else "") + "; sync follows it now.")


@cli.command()
@click.option("--campaign", help="Only this campaign (default: every open campaign epic).")
@click.option("--dry-run", is_flag=True, help="Print the writes it would make; write nothing.")
@click.option("--watch", type=click.IntRange(min=10), metavar="SECONDS", help="Repeat every SECONDS until interrupted.")
@click.option("--full", is_flag=True, help="Rebuild each campaign's sync digest from its tickets first.")
@output_options
@click.pass_obj
def sync(state: _State, campaign, dry_run: bool, watch, full: bool, fmt: str) -> None:
    """Update every submitted run's ticket from PanDA: status, status comment, failure summary, epic roll-up.

    Writes only what changed since the last sync (a second run with nothing new writes nothing).
    Safe from cron or a systemd timer: a lock keeps two syncs apart (the second one is skipped).
    Exits 1 if anything could not be read or written; runs that failed are reported, not errors.

    \b
    Example:
        jiracampaign sync --dry-run
        jiracampaign sync --watch 300
    """
    config = state.config
    while True:
        status = _sync_once(config, campaign, dry_run, full, fmt)
        if not watch:
            click.get_current_context().exit(status)
        time.sleep(watch)


def _sync_once(config, campaign, dry_run: bool, full: bool, fmt: str) -> int:
    with sync_lock(_lock_path()) as locked:
        if not locked:
            click.echo(f"Another jiracampaign sync holds {_lock_path()}; skipped.", err=True)
            return 0
        tracker = open_tracker(config)
        syncer = Syncer(tracker, config)
        try:
            report = syncer.run(campaign, dry_run=dry_run, full=full)
        finally:
            syncer.close()
            tracker.close()
    rows = [{"key": a.key, "kind": a.kind, "text": a.text} for a in report.actions]
    if rows or fmt != "table":
        click.echo(render_rows(rows, SYNC_COLUMNS, fmt), nl=False)
    for key, run, why in report.unknown:
        click.echo(f"Unknown: {key} {run}: {why}", err=True)
    for key, run, what in report.attention:
        click.echo(f"Attention: {key} {run} is {what}", err=True)
    for problem in report.problems:
        click.echo(f"Problem: {problem}", err=True)
    verb = "would write" if dry_run else "wrote"
    click.echo(f"Synced {report.runs} runs in {report.campaigns} campaigns: {report.changed} changed, {verb} "
               f"{len(report.actions)} updates; {len(report.attention)} need attention; "
               f"{report.source_requests} status-source requests", err=True)
    return 1 if report.problems else 0
