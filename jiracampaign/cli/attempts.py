"""Commands about attempts and decisions: ``rescue``, ``accept``, ``reject`` and ``force-complete``."""

from __future__ import annotations

import click

from ..errors import ExitStatus
from . import State, fail
from .output import output_options, render_rows

__all__ = ["rescue", "accept", "reject", "force_complete"]

RESCUE_COLUMNS = [("key", "KEY"), ("action", "ACTION"), ("new_key", "NEXT"), ("attempt", "ATTEMPT"),
                  ("new_id", "SUBMISSION"), ("changes", "CHANGES")]
VERDICT_COLUMNS = [("key", "KEY"), ("id", "SUBMISSION"), ("verdict", "VERDICT"), ("action", "ACTION"),
                   ("state", "RUN STATE"), ("shows", "SHOWS")]


@click.command()
@click.argument("keys", nargs=-1, metavar="KEY...")
@click.option("--campaign", help="With --advised: the campaign whose advised rescues to prepare.")
@click.option("--advised", is_flag=True, help="Prepare every rescue the known-errors table advises in --campaign "
              "(shown first; asks unless --yes).")
@click.option("--yes", is_flag=True, help="With --advised: do not ask.")
@click.option("--memory", default="", metavar="xN|MB", help="Memory for the failed tasks (or --task): x2 doubles "
              "what the file asked (BPS's 2048 MB when it asked nothing), 8192 or 8GB sets it.")
@click.option("--task", "tasks", multiple=True, metavar="LABEL", help="The task labels --memory applies to "
              "(repeatable; default: those that failed).")
@click.option("--retries", type=click.IntRange(min=0), help="Automatic retries of a failed job (numberOfRetries).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Set any BPS key (dotted, YAML value; "
              "null removes it), e.g. --set pipetask.isr.requestMemory=8192 (repeatable). An unknown key is an error.")
@click.option("--failed-only", is_flag=True, help="Restrict the data query to the failed data IDs (from the run's "
              "provenance report).")
@click.option("--submit", "then_submit", is_flag=True, help="Submit the new attempts at once.")
@click.option("--restart", is_flag=True, help="Run `bps restart` of KEY's run instead of a new attempt (HTCondor, "
              "Parsl: from its submit folder; PanDA: by run id): the same run goes on with what did not succeed.")
@click.option("-o", "--output-dir", type=click.Path(file_okay=False), help="Campaign folder; default: "
              "<campaigns_dir>/<campaign id>.")
@click.option("--dry-run", is_flag=True, help="Check and show what would be prepared; change nothing.")
@output_options
@click.pass_obj
def rescue(state: State, keys, campaign, advised, yes, memory, tasks, retries, sets, failed_only, then_submit,
           restart, output_dir, dry_run, fmt) -> None:
    """Prepare the next attempt of a failed or partial submission, as a new ticket linked to it.

    The new BPS file is derived from the file KEY was submitted with: output run .../attempt<N+1> in
    the same output chain, --skip-existing-in naming the output runs of every earlier attempt (not
    rejected ones), so quanta that succeeded are not run again, and the overrides given. The new
    ticket joins the same campaign, links to KEY ("rescues"), carries the file, and KEY gets a note
    pointing to it. Refused, changing nothing: a run that succeeded or still runs, one an earlier
    attempt of which still runs, an unknown BPS key. Running it again completes what an interrupted
    run left out and creates nothing twice.

    \b
    Example:
        jiracampaign rescue JC-4 --memory x2
        jiracampaign rescue JC-4 --set extraQgraphOptions= --failed-only --submit
        jiracampaign rescue --campaign dp02-w38 --advised --yes
        jiracampaign rescue JC-7 --restart
    """
    from ..planning.rescue import Overrides
    from ..plugins import open_tracker
    from ..services.rescue import rescue as prepare

    if advised and (keys or not campaign):
        raise click.UsageError("--advised takes --campaign C and no KEY")
    if not advised and not keys:
        raise click.UsageError("name a submission KEY, or --campaign C --advised")
    if advised and (memory or tasks or retries is not None or sets or failed_only):
        raise click.UsageError("--advised applies the advised options; give no other override")
    if restart:
        if len(keys) != 1 or advised or memory or tasks or retries is not None or sets or failed_only or dry_run:
            raise click.UsageError("--restart takes one KEY and no override: the run restarts as it was submitted")
        from ..services.rescue import restart as restart_run

        tracker = open_tracker(state.config)
        try:
            result = restart_run(tracker, state.config, keys[0], output_dir)
        finally:
            tracker.close()
        click.echo(render_rows([result.row()], [("key", "KEY"), ("action", "ACTION"), ("run_id", "RUN ID"),
                                                ("run_name", "RUN"), ("detail", "DETAIL")], fmt), nl=False)
        if result.action != "restarted":
            fail(ExitStatus.ERROR)
        return
    overrides = Overrides(memory=memory, tasks=tuple(tasks), retries=retries, sets=tuple(sets),
                          failed_ids=[] if failed_only else None)

    def confirm(todo) -> bool:
        click.echo(f"{len(todo)} advised rescue{'s' if len(todo) != 1 else ''}:", err=True)
        for item, wanted in todo:
            click.echo(f"  {item.key}  {item.ident}  ({item.sync.state}): {' '.join(wanted.words())}", err=True)
        if yes or dry_run:
            return True
        return click.confirm("Prepare them?", default=False, err=True)

    tracker = open_tracker(state.config)
    try:
        results = prepare(tracker, state.config, tuple(keys), campaign, overrides, advised, output_dir, dry_run,
                          confirm=confirm)
        click.echo(render_rows([r.row() for r in results], RESCUE_COLUMNS, fmt), nl=False)
        if advised and not results:
            click.echo("No advised rescue (or declined): nothing was prepared.", err=True)
        for r in results:
            if r.file and fmt == "table":
                click.echo(f"{r.new_key or r.new_ident}: {r.file}", err=True)
        fresh = [r.new_key for r in results if r.new_key and r.action != "unchanged"] or \
            [r.new_key for r in results if r.new_key]
        if then_submit and fresh and not dry_run:
            from ..services.submit import submit as submit_runs

            report = submit_runs(tracker, state.config, tuple(fresh), output_dir=output_dir)
            for result in report.results:
                click.echo(f"{result.key}: {result.action} {result.run.run_name if result.run else ''} "
                           f"{result.detail}".rstrip(), err=True)
            if not report.ok:
                fail(ExitStatus.ERROR)
        elif fresh and not dry_run:
            click.echo(f"Submit with: jiracampaign submit {' '.join(fresh)}", err=True)
    finally:
        tracker.close()


def _decide(state: State, key: str, verdict: str, reason: str, output_dir: str | None, fmt: str) -> None:
    from ..core.attempts import Verdict
    from ..plugins import open_tracker
    from ..services.verdict import decide

    tracker = open_tracker(state.config)
    try:
        result = decide(tracker, state.config, key, Verdict(verdict), reason or "", output_dir)
    finally:
        tracker.close()
    click.echo(render_rows([result.row()], VERDICT_COLUMNS, fmt), nl=False)


_KEY = click.argument("key")
_OUT = click.option("-o", "--output-dir", type=click.Path(file_okay=False),
                    help="Campaign folder; default: <campaigns_dir>/<campaign id>.")


@click.command()
@_KEY
@click.option("--reason", default="", help="Why (recorded on the ticket).")
@_OUT
@output_options
@click.pass_obj
def accept(state: State, key: str, reason: str, output_dir, fmt: str) -> None:
    """Accept what a partial or failed run produced: its group counts as done for the next steps.

    The verdict goes on the ticket (closed as done, a note with the reason) and in the sync ledger;
    sync no longer follows the run. Only the latest attempt of a group can be accepted.

    \b
    Example:
        jiracampaign accept JC-4 --reason "NoWorkFound only: expected for these visits"
    """
    _decide(state, key, "accepted", reason, output_dir, fmt)


@click.command()
@_KEY
@click.option("--reason", required=True, help="Why (recorded on the ticket).")
@_OUT
@output_options
@click.pass_obj
def reject(state: State, key: str, reason: str, output_dir, fmt: str) -> None:
    """Reject a run's outputs: the next steps leave its group out, and a rescue does not reuse them.

    \b
    Example:
        jiracampaign reject JC-4 --reason "wrong calibration collection"
    """
    _decide(state, key, "rejected", reason, output_dir, fmt)


@click.command(name="force-complete")
@_KEY
@click.option("--reason", required=True, help="Why (recorded on the ticket).")
@_OUT
@output_options
@click.pass_obj
def force_complete(state: State, key: str, reason: str, output_dir, fmt: str) -> None:
    """Declare a submission complete whatever its run's state (a stuck run, say): its group counts as done.

    \b
    Example:
        jiracampaign force-complete JC-4 --reason "last 3 jobs stuck at the site; outputs are enough"
    """
    _decide(state, key, "force-completed", reason, output_dir, fmt)
