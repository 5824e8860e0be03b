"""Commands about runs: ``submit``, ``record``, ``sync`` and ``panda``."""

from __future__ import annotations

import time

import click

from ..errors import ExitStatus
from . import State, fail
from .output import output_options, render_rows

__all__ = ["panda", "submit", "record", "sync"]

SUBMIT_COLUMNS = [("key", "KEY"), ("id", "SUBMISSION"), ("action", "ACTION"), ("run_name", "RUN"), ("detail", "DETAIL")]
SYNC_COLUMNS = [("key", "KEY"), ("kind", "WRITE"), ("text", "WHAT")]
SUBMIT_ACTIONS = ("submitted", "would submit", "skipped", "refused", "failed")


@click.command()
@click.argument("runs", nargs=-1, required=True, metavar="RUN|KEY|CAMPAIGN...")
@click.option("--days", type=click.IntRange(min=1), help="Look back this many days (default: panda.days).")
@output_options
@click.pass_obj
def panda(state: State, runs: tuple[str, ...], days: int | None, fmt: str) -> None:
    """Show where BPS runs stand on PanDA: state, progress per task label, failures with log links.

    RUN is a run name as `bps submit` printed it (any case) or its numeric Run Id; a ticket KEY
    stands for its run, a CAMPAIGN id (or a step's ticket) for every PanDA run it records (read from
    the tracker). Reads the PanDA monitor (panda.monitor_url) within the request budget shared by
    every jiracampaign process on this machine. Looks back panda.days (default 30), or --days,
    widened to the time a run was submitted. Exits 1 when a run is not found; 7 when some details
    could not be read (budget used up, the monitor failing): what was read is printed, the rest is
    marked.

    \b
    Example:
        jiracampaign panda u_jdoe_DM-12345_step1_20261124T101010Z
        jiracampaign panda 6123 6124 --json
        jiracampaign panda JC-12
    """
    from ..plugins import open_tracker
    from ..services.panda import panda_status
    from ..services.status import panda_refs
    from .views import render_runs

    refs, notes = panda_refs(state.config, runs, open_tracker)
    for note in notes:
        click.echo(f"Note: {note}", err=True)
    if not refs:
        click.echo("No PanDA run to show.", err=True)
        fail(ExitStatus.ERROR)
    result = panda_status(state.config, (), days, refs=refs)
    click.echo(render_runs(result.statuses, fmt), nl=False)
    click.echo(f"{len(result.statuses)} runs, {result.requests} monitor requests", err=True)
    incomplete = [s for s in result.statuses if s.deferred]
    for status in incomplete:
        click.echo(f"Deferred: {status.name}: {status.message}", err=True)
    if result.missing:
        click.echo(f"Not found or unknown: {', '.join(result.missing)}", err=True)
        fail(ExitStatus.ERROR)
    if incomplete:
        fail(ExitStatus.PARTIAL)


@click.command()
@click.argument("targets", nargs=-1, required=True, metavar="SPEC | KEY...")
@click.option("--step", "steps", multiple=True, help="Only this step (repeatable).")
@click.option("--group", "groups", multiple=True, type=int, help="Only this group number (repeatable).")
@click.option("-o", "--output-dir", type=click.Path(file_okay=False), help="Campaign folder; default: <campaigns_dir>/<campaign id>.")
@click.option("--force", is_flag=True, help="Submit even if earlier steps are not done. A submission that already ran "
              "is never submitted again (its next attempt needs a file of its own).")
@click.option("--dry-run", is_flag=True, help="Show the bps commands; change nothing.")
@output_options
@click.pass_obj
def submit(state: State, targets, steps, groups, output_dir, force: bool, dry_run: bool, fmt: str) -> None:
    """Run `bps submit` for a campaign's submissions and record each run on its ticket.

    SPEC selects a campaign (narrowed with --step/--group); KEY... selects tickets. Refuses a
    submission whose earlier steps are not done; skips one that already ran. Checks once that
    bps runs (bps.command) before any ticket is touched. Each bps runs in its own working folder,
    <campaign folder>/runs/<submission>-a<attempt>/, without jiracampaign's settings and token in
    its environment. A BPS file edited after planning is attached again with a diff comment before
    it is submitted. Exits 1 if any submission failed or was refused, or bps cannot be run.

    \b
    Example:
        jiracampaign submit examples/demo/campaign.yaml --step step1 --dry-run
        jiracampaign submit JC-2 JC-3
    """
    from ..plugins import open_tracker
    from ..services.submit import submit as submit_runs

    rows = _RowPrinter(fmt)
    tracker = open_tracker(state.config)
    try:
        report = submit_runs(tracker, state.config, targets, steps, groups, output_dir, force, dry_run,
                             planned=rows.start, on_result=rows.print)
    finally:
        tracker.close()
    if fmt == "json":  # one array: printed whole at the end
        click.echo(render_rows([r.row() for r in report.results], SUBMIT_COLUMNS, fmt), nl=False)
    click.echo("; ".join(f"{report.count(a)} {a}" for a in SUBMIT_ACTIONS if report.count(a)), err=True)
    if not report.ok:
        fail(ExitStatus.ERROR)


class _RowPrinter:
    """Prints `submit`'s rows as they come (a submitted one as its bps returns): the table's columns are as wide
    as the selection's keys, ids and planned run names; CSV and newline-delimited JSON row by row."""

    def __init__(self, fmt: str):
        self.fmt, self.widths = fmt, {}

    def start(self, selection: list[tuple[str, str, str]]) -> None:
        if self.fmt == "table":
            self.widths = {key: max([len(heading)] + [len(str(v)) for v in values]) for (key, heading), values in zip(
                SUBMIT_COLUMNS[:2], zip(*selection) if selection else ((), ()))}
            self.widths["action"] = max(len(a) for a in SUBMIT_ACTIONS)
            self.widths["run_name"] = max([len("RUN")] + [len(run or "-") for _, _, run in selection])
            self._line({key: heading for key, heading in SUBMIT_COLUMNS})
        elif self.fmt == "csv":
            click.echo(render_rows([], SUBMIT_COLUMNS, "csv"), nl=False)

    def _line(self, row: dict) -> None:
        cells = [("-" if row.get(key) is None else str(row[key])).ljust(self.widths.get(key, 0))
                 for key, _ in SUBMIT_COLUMNS]
        click.echo("  ".join(cells).rstrip())

    def print(self, result) -> None:
        if self.fmt == "table":
            self._line(result.row())
        elif self.fmt == "csv":
            click.echo(render_rows([result.row()], SUBMIT_COLUMNS, "csv").split("\n", 1)[1], nl=False)
        elif self.fmt == "nl":
            click.echo(render_rows([result.row()], SUBMIT_COLUMNS, "nl"), nl=False)


@click.command()
@click.argument("key")
@click.option("--run-name", required=True, help="The Run Name bps printed.")
@click.option("--run-id", help="The Run Id bps printed (the iDDS request id on PanDA).")
@click.option("--wms", default="panda", show_default=True, help="Workload system the run went to (panda, htcondor, parsl).")
@click.option("--submit-dir", help="The Submit dir bps printed.")
@click.option("--submitted", metavar="TIME", help="When bps submit ran: an ISO 8601 date-time such as "
              "2026-11-24T10:10:10Z (no offset: local time), or 'now' (the default).")
@click.option("--force", is_flag=True, help="Replace the run the ticket records already (a comment names the "
              "replaced run; a done ticket is reopened).")
@click.pass_obj
def record(state: State, key: str, run_name: str, run_id, wms: str, submit_dir, submitted, force: bool) -> None:
    """Link a run submitted by hand to its ticket, so sync follows it.

    Refuses a ticket that records another run already, unless --force. Recording the same run
    again changes nothing.

    \b
    Example:
        jiracampaign record JC-2 --run-name u_jdoe_demo_step1_20261124T101010Z --run-id 6123
    """
    from ..errors import InputError
    from ..plugins import open_tracker
    from ..services.record import TimeError, parse_time, record_run

    try:
        when = parse_time(submitted) if submitted else None
    except TimeError as exc:
        raise InputError("--submitted", None, None, str(exc)) from None
    tracker = open_tracker(state.config)
    try:
        result = record_run(tracker, state.config, key, run_name, run_id, wms, submit_dir, when, force=force)
    finally:
        tracker.close()
    run = f"run {run_name}" + (f" (run id {result.run.run_id})" if result.run and result.run.run_id else "")
    if result.action == "unchanged":
        click.echo(f"{result.key}: records {run} already; nothing changed.")
    elif result.action == "replaced":
        click.echo(f"{result.key}: recorded {run}, {result.detail}; sync follows it now.")
    else:
        click.echo(f"{result.key}: recorded {run}; sync follows it now.")


@click.command()
@click.option("--campaign", help="Only this campaign (default: every open campaign epic).")
@click.option("--dry-run", is_flag=True, help="Print the writes it would make; write nothing.")
@click.option("--watch", type=click.IntRange(min=10), metavar="SECONDS", help="Repeat every SECONDS until interrupted.")
@click.option("--full", is_flag=True, help="Rebuild each campaign's sync digest from its tickets first, and check every ticket's status.")
@output_options
@click.pass_obj
def sync(state: State, campaign, dry_run: bool, watch, full: bool, fmt: str) -> None:
    """Update every submitted run's ticket from its status source: status, status comment, failure summary, roll-up.

    Writes only what changed since the last sync (a second run with nothing new writes nothing).

    Safe from cron or a systemd timer: a lock keeps two syncs on one machine apart, and a lease on
    each campaign ticket keeps two machines apart (the second skips the campaign, naming the holder).
    Every sync.check_minutes it also corrects ticket statuses that do not show their run's state.
    Exits 1 if anything could not be read or written; runs that failed are reported, not errors.

    \b
    Example:
        jiracampaign sync --dry-run
        jiracampaign --log-file sync.log sync --watch 300
    """
    from ..services.sync import sync as sync_once

    while True:
        report = sync_once(state.config, campaign, dry_run=dry_run, full=full)
        _print_sync(report, dry_run, fmt)
        if not watch:
            fail(ExitStatus.ERROR if report.problems else ExitStatus.PARTIAL if report.deferred else ExitStatus.OK)
        time.sleep(watch)


def _print_sync(report, dry_run: bool, fmt: str) -> None:
    if report.skipped:
        click.echo(f"Another jiracampaign sync holds {report.skipped}; skipped.", err=True)
        return
    rows = [{"key": a.key, "kind": a.kind, "text": a.text} for a in report.actions]
    if rows or fmt != "table":
        click.echo(render_rows(rows, SYNC_COLUMNS, fmt), nl=False)
    for key, run, why in report.unknown:
        click.echo(f"Unknown: {key} {run}: {why}", err=True)
    for key, run, what in report.deferred:
        click.echo(f"Deferred: {key} {run}: {what}", err=True)
    for key, run, what in report.attention:
        click.echo(f"Attention: {key} {run} is {what}", err=True)
    for key, campaign, holder in report.busy:
        click.echo(f"Skipped: {key} (campaign {campaign}): another sync holds its lease: {holder}", err=True)
    for text in report.tidied:
        click.echo(f"Folded: {text}", err=True)
    for problem in report.problems:
        click.echo(f"Problem: {problem}", err=True)
    verb = "would write" if dry_run else "wrote"
    click.echo(f"Synced {report.runs} runs in {report.campaigns} campaigns: {report.changed} changed, {verb} "
               f"{len(report.actions)} updates; {len(report.attention)} need attention; "
               f"{report.source_requests} status-source requests", err=True)
