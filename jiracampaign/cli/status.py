"""Commands that look at campaigns: ``status``, ``show`` and ``logs`` (read the tracker; ``--live`` and ``--watch``
also ask the status sources)."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable

import click

from ..errors import ExitStatus, JiraCampaignError
from . import State, fail
from .output import STATE_STYLES, output_options, render_rows, state_style

__all__ = ["status", "show", "logs"]


def _tracker(state: State):
    from ..plugins import open_tracker

    return open_tracker(state.config)


def _live(state: State, wanted: bool, detail: str = "changed"):
    if not wanted:
        return None
    from ..services.status import Live

    return Live(state.config, detail=detail)


def _live_exit(live) -> None:
    """Exit 7 when something could not be read live (what was read was shown)."""
    if live is None:
        return
    for problem in live.problems:
        click.echo(f"Problem: {problem}", err=True)
    for run, what in live.deferred:
        click.echo(f"Deferred: {run}: {what}", err=True)
    if live.problems or live.deferred:
        fail(ExitStatus.PARTIAL)


@click.command()
@click.argument("target", required=False, metavar="[CAMPAIGN|KEY|RUN]")
@click.option("--since", "since_days", type=click.FloatRange(min=0), default=7, show_default=True, metavar="DAYS",
              help="Without CAMPAIGN: also list campaigns closed within DAYS days (open ones are always listed).")
@click.option("--all", "every", is_flag=True, help="Without CAMPAIGN: list every campaign, open or closed.")
@click.option("--site", metavar="SITE", help="Only the submissions that run at SITE (their computeSite; any case).")
@click.option("--failed", is_flag=True, help="Only what needs attention: runs that failed, ended partly or are held, "
              "or have failed files.")
@click.option("--stuck", is_flag=True, help="Only stuck runs: no progress for status.stuck_hours, or going past their "
              "step's status.expected_hours.")
@click.option("--by-site", is_flag=True, help="Per site: submissions, runs, files, failures and failure rate, worst "
              "first.")
@click.option("--live", is_flag=True, help="Also ask the status sources about the runs that have not ended.")
@click.option("--watch", type=click.FloatRange(min=2), metavar="SECONDS",
              help="Refresh in place every SECONDS (longer when the PanDA request budget or the BPS source's cost "
                   "asks for it) with live detail, until Ctrl-C.")
@output_options
@click.pass_obj
def status(state: State, target: str | None, since_days: float, every: bool, site: str | None, failed: bool,
           stuck: bool, by_site: bool, live: bool, watch: float | None, fmt: str) -> None:
    """Show where campaigns stand, from the tracker: submissions by state, files done, failures, stuck runs.

    Without an argument: one line per campaign open now or closed within --since days (--all: every
    one): its epic, submissions by state, files done, failed files, stuck runs and the last sync. Read
    from each campaign's sync digest: one download per campaign, whatever its size.

    With a CAMPAIGN id (or a ticket key, or a run name): one row per step and group, with its tasks
    beneath, in the spirit of `bps report`: state, files (or quanta) done and failed, ticket, run and
    site. A run is stuck when sync has seen no progress for status.stuck_hours, or it goes on past its
    step's status.expected_hours.

    A group counts once, by its latest attempt: a rescued group shows its latest run, and the chain of
    its attempts (ATTEMPTS: JC-9 (a2) <- JC-4 (a1)); a verdict shows with the state (partial
    (accepted)) and counts as its own state. --failed leaves out groups a verdict settled.

    States and counts are what the last sync wrote; --live asks the status sources about the runs
    that have not ended (nothing is written), --watch does so on every refresh. Exits 7 when some
    live detail could not be read.

    \b
    Example:
        jiracampaign status
        jiracampaign status dp02-w38 --failed
        jiracampaign status dp02-w38 --watch 60
        jiracampaign status --by-site --csv
    """
    from ..services import status as views

    if watch and fmt != "table":
        raise click.UsageError("--watch draws a table: it takes no --json, --nl or --csv")
    since = None if every else since_days
    tracker = _tracker(state)
    reader = _live(state, live or bool(watch))
    try:
        aim = views.resolve(tracker, target) if target else None

        def build():
            if by_site:
                return _sites(views, tracker, state, aim, since, reader, site)
            if aim is None:
                return _overview(views, tracker, state, since, reader, site, failed, stuck)
            return _campaign(views, tracker, state, aim, reader, site, failed, stuck)

        if watch:
            _watch(build, watch, reader, int(state.config.get("panda.requests_per_hour") or 0))
            return
        frame = build()
        click.echo(frame.text(fmt), nl=False)
        click.echo(frame.summary, err=True)
    finally:
        if reader is not None:
            reader.close()
        tracker.close()
    _live_exit(reader)


#: the colour of a state cell that a verdict settled (the others: by run state)
_VERDICT_STYLES = {"accepted": {"fg": "green"}, "force-completed": {"fg": "green"}, "rejected": {"dim": True}}


def _state_look(text: str) -> dict | None:
    """A state cell's colour: ``partial (accepted)`` by its verdict, ``partial`` (or ``partial (rescued)``) by its
    run state."""
    state, _, verdict = text.partition(" (")
    return _VERDICT_STYLES.get(verdict.rstrip(")")) or STATE_STYLES.get(state)


def _style(row: dict, key: str) -> dict | None:
    """`render_rows` ``style``: as `state_style`, a state with its verdict coloured by the verdict."""
    if key == "state":
        return _state_look(str(row.get(key) or ""))
    return state_style(row, key)


class _Frame:
    """One rendering of a view: its rows for each output format, a summary line, and a rich table for --watch."""

    def __init__(self, title: str, rows: list[dict], columns, csv_rows: list[dict], csv_columns, json_rows: list[dict],
                 summary: str):
        self.title, self.rows, self.columns = title, rows, columns
        self.csv_rows, self.csv_columns, self.json_rows, self.summary = csv_rows, csv_columns, json_rows, summary

    def text(self, fmt: str) -> str:
        if fmt == "table":
            return render_rows(self.rows, self.columns, "table", style=_style) if self.rows else ""
        if fmt == "csv":
            return render_rows(self.csv_rows, self.csv_columns, "csv")
        return render_rows(self.json_rows, [], fmt)


def _overview(views, tracker, state: State, since, reader, site, failed: bool, stuck: bool) -> _Frame:
    from .views import OVERVIEW_COLUMNS, overview_csv_columns, overview_csv_rows, overview_rows

    result = views.overview(tracker, state.config, since, site=site or "", live=reader)
    lines = [line for line in result.lines if (not failed and not stuck) or (failed and line.failing)
             or (stuck and line.stuck)]
    rows = overview_rows(lines)
    summary = (f"{_count(len(lines), 'campaign')} ({result.window}" + (f"; site {site}" if site else "") + ") from "
               f"{result.tracker} in {result.seconds:.2f} s" + _live_words(reader))
    return _Frame("Campaigns", rows, OVERVIEW_COLUMNS, overview_csv_rows(lines), overview_csv_columns(),
                  [line.row() for line in lines], summary)


def _count(number: int, word: str) -> str:
    return f"{number} {word}{'' if number == 1 else 's'}"


def _filter(rows, site: str | None, failed: bool, stuck: bool):
    if site:
        rows = [r for r in rows if r.site.casefold() == site.casefold()]
    if failed or stuck:
        rows = [r for r in rows if (failed and r.attention) or (stuck and r.stuck)]
    return rows


def _campaign(views, tracker, state: State, aim, reader, site, failed: bool, stuck: bool) -> _Frame:
    from .views import CAMPAIGN_CSV, campaign_columns, group_csv_rows, group_table_rows, percent_text

    if aim.kind == "submission":  # its campaign, narrowed to its group (any attempt names it)
        epic = tracker.list_campaigns([aim.campaign], 0.0)
        campaign = views.Target(aim.text, "campaign", aim.campaign, epic[0] if epic else aim.item)
        result = views.campaign_status(tracker, state.config, campaign, reader, site=site or "")
        result.rows = [r for r in result.rows if aim.item.key in {r.key, *(a.key for a in r.attempts)}]
    else:
        result = views.campaign_status(tracker, state.config, aim, reader, site=site or "")
    rows = _filter(result.rows, None, failed, stuck)
    line = result.line
    what = ("step " + aim.step + " of " if aim.step else "") + f"{line.campaign} ({line.key})"
    summary = (f"{what}: {_count(line.submissions, 'submission')} ({views.states_text(line.states) or 'none'}); "
               f"{line.finished}/{line.total} files done ({percent_text(line.percent) or '-'}), {line.failed} failed; "
               f"{line.stuck} stuck; last sync {line.last_sync or 'never'}; {len(rows)} shown; read from "
               f"{result.tracker} in {result.seconds:.2f} s" + _live_words(reader))
    return _Frame(what, group_table_rows(rows), campaign_columns(rows), group_csv_rows(rows), CAMPAIGN_CSV,
                  [r.row() for r in rows], summary)


def _sites(views, tracker, state: State, aim, since, reader, site) -> _Frame:
    from .views import SITE_COLUMNS, SITE_CSV, site_table_rows

    started = time.perf_counter()
    if aim is not None and aim.kind != "campaign":
        raise click.UsageError("--by-site needs a campaign (or none, for every campaign)")
    sites, rows = views.by_site(tracker, state.config, aim, since, reader)
    if site:
        sites = [s for s in sites if s.site.casefold() == site.casefold()]
    what = f"campaign {aim.campaign}" if aim is not None else "the campaigns"
    seconds = time.perf_counter() - started
    summary = (f"{_count(len(sites), 'site')} of {what}, {_count(len(rows), 'submission')}, read in {seconds:.2f} s"
               + _live_words(reader))
    return _Frame(f"Sites of {what}", site_table_rows(sites), SITE_COLUMNS, [s.row() for s in sites], SITE_CSV,
                  [s.row() for s in sites], summary)


def _live_words(reader) -> str:
    if reader is None:
        return ""
    parts = [f"{name}: {_count(cost.runs, 'run')}, {_count(cost.requests, 'request')}, {cost.seconds:.1f} s"
             for name, cost in sorted(reader.costs.items())]
    return "; live " + ("; ".join(parts) if parts else "(no run going)")


# ---- --watch ------------------------------------------------------------------------------------------------

def _rich_table(frame: _Frame):
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="bold")
    for _, heading in frame.columns:
        table.add_column(heading, no_wrap=True, overflow="ellipsis")
    for row in frame.rows:
        cells = []
        for key, _ in frame.columns:
            value = row.get(key)
            text = "-" if value is None else str(value)
            look = _state_look(text) if key == "state" else ({"fg": "yellow"} if key in ("stuck", "note") and value
                                                             else None)
            style = " ".join(filter(None, [("bold" if look and look.get("bold") else ""),
                                           ("dim" if look and look.get("dim") else ""),
                                           (look or {}).get("fg", "")]))
            cells.append(Text(text, style=style))
        table.add_row(*cells)
    return table


def _screen(frame: _Frame, refreshes: int, wait: float, why: str, left: int | None, problem: str = ""):
    from rich.console import Group
    from rich.text import Text

    now = datetime.now(timezone.utc).strftime("%H:%M:%S UTC")
    head = Text(f"{frame.title}  ·  refresh {refreshes} at {now}  ·  next in {wait:.0f} s  ·  Ctrl-C to stop",
                style="bold")
    pace = "; ".join(filter(None, [
        f"this refresh failed, the screen is the last one read: {problem}" if problem else "",
        f"slower: {why}" if why else "", f"{left} PanDA requests left this hour" if left is not None else ""]))
    return Group(head, Text(pace, style="dim"), Text(frame.summary, style="dim"), Text(""), _rich_table(frame))


def _watch(build: Callable[[], _Frame], seconds: float, reader, per_hour: int) -> None:
    """Refresh ``build`` in place until Ctrl-C: on a terminal with rich (the alternate screen, left clean on
    exit); when piped, each refresh printed plainly after the last."""
    from rich.console import Console
    from rich.live import Live

    from ..services.status import watch_interval

    console = Console()
    refreshes = 0
    if not console.is_terminal:
        try:
            while True:
                frame = build()
                refreshes += 1
                wait, _ = watch_interval(seconds, reader, per_hour)
                click.echo(f"== {frame.title}, refresh {refreshes} ==")
                click.echo(frame.text("table"), nl=False)
                click.echo(frame.summary, err=True)
                time.sleep(wait)
        except KeyboardInterrupt:
            click.echo(f"Stopped after {refreshes} refreshes.", err=True)
        return
    last = None
    try:
        with Live(console=console, screen=True, auto_refresh=False, redirect_stderr=False) as screen:
            while True:
                try:
                    last, problem = build(), ""
                except JiraCampaignError as exc:  # the tracker failed this once: the last screen stays, says so
                    if last is None:
                        raise
                    problem = str(exc)
                refreshes += 1
                wait, why = watch_interval(seconds, reader, per_hour)
                screen.update(_screen(last, refreshes, wait, why, reader.budget_left() if reader else None, problem),
                              refresh=True)
                time.sleep(wait)
    except KeyboardInterrupt:
        pass
    if last is not None:
        click.echo(last.summary, err=True)
    click.echo(f"Stopped watching after {refreshes} refreshes.", err=True)


# ---- show and logs ------------------------------------------------------------------------------------------

@click.command()
@click.argument("target", metavar="KEY|RUN")
@click.option("--live", is_flag=True, help="Also ask the run's status source where it stands now (every detail).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_obj
def show(state: State, target: str, live: bool, as_json: bool) -> None:
    """Show one submission: record, BPS file and checksum, run, attempts, verdict, state, tasks, failures, links.

    KEY|RUN is the submission's ticket key or its run name (any case). Read from the tracker (the
    local store or JIRA): the ticket, its campaign (and its group's other attempts, earlier and later),
    its status note and its latest failure summary.
    --live also asks the run's status source (PanDA, or BPS for HTCondor and Parsl runs); nothing is
    written. Exits 7 when the live read was incomplete.

    \b
    Example:
        jiracampaign show JC-12
        jiracampaign show u_jdoe_dp02-w38_step1_group003_attempt1 --live
    """
    import json

    from ..services.show import show as read_show
    from ..services.status import resolve
    from .views import show_text

    tracker = _tracker(state)
    reader = _live(state, live, detail="all")
    try:
        shown = read_show(tracker, state.config, resolve(tracker, target, "KEY|RUN"), reader)
    finally:
        if reader is not None:
            reader.close()
        tracker.close()
    if as_json:
        click.echo(json.dumps(shown.to_dict(), indent=2))
    else:
        click.echo(show_text(shown), nl=False)
    _live_exit(reader)


@click.command()
@click.argument("target", metavar="KEY|RUN")
@click.option("--task", metavar="LABEL", help="Only the failed jobs of this pipeline task.")
@click.option("--tail", type=click.IntRange(min=1), metavar="N",
              help="Also print the last N lines of each job's log (at most status.tail_bytes read from its end).")
@click.option("--live", is_flag=True, help="Ask the run's status source now instead of reading the ticket.")
@output_options
@click.pass_obj
def logs(state: State, target: str, task: str | None, tail: int | None, live: bool, fmt: str) -> None:
    """List the failed jobs of a submission's run: task, job, error and log locations.

    KEY|RUN is the submission's ticket key or its run name. Read from the ticket: the full failure
    report sync attached (quantum provenance or HTCondor: every failed job, logs in the submit
    directory), else its failure summary's example jobs (PanDA: log URLs). --live asks the run's
    status source instead. --tail N prints the last N lines of each job's log, a file or a web
    address, reading at most status.tail_bytes from its end; a log that cannot be read says why.
    Exits 7 when a log could not be read or the live read was incomplete.

    \b
    Example:
        jiracampaign logs JC-12
        jiracampaign logs JC-12 --task isr --tail 20
    """
    from ..services.show import logs as read_logs
    from ..services.status import resolve
    from .views import LOG_COLUMNS, logs_text

    tracker = _tracker(state)
    reader = _live(state, live, detail="all")
    try:
        result = read_logs(tracker, state.config, resolve(tracker, target, "KEY|RUN"), task or "", tail or 0, reader)
    finally:
        if reader is not None:
            reader.close()
        tracker.close()
    if fmt == "table":
        click.echo(logs_text(result), nl=False)
    else:
        click.echo(render_rows(result.rows(), LOG_COLUMNS, fmt), nl=False)
    for note in result.notes:
        click.echo(f"Note: {note}", err=True)
    unread = [j for j in result.jobs if tail and j.tail is None]
    _live_exit(reader)
    if unread:
        click.echo(f"{len(unread)} of {len(result.jobs)} logs could not be read", err=True)
        fail(ExitStatus.PARTIAL)
