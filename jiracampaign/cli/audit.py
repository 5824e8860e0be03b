"""The ``audit`` command: what a campaign's runs produced, per submission, as the butler holds it."""

from __future__ import annotations

import click

from . import State
from .output import output_options, render_rows

__all__ = ["audit", "AUDIT_COLUMNS"]

AUDIT_COLUMNS = [("key", "KEY"), ("step", "STEP"), ("group", "GROUP"), ("dataset", "DATASET"), ("inputs", "INPUTS"),
                 ("done", "OUTPUTS"), ("missing_count", "MISSING"), ("missing", "MISSING IDS"), ("reasons", "WHY")]
TABLE_RANGES = 6  # missing-id runs shown per row in the table (--json and --csv give them all)


@click.command()
@click.argument("campaign")
@click.option("--step", "steps", multiple=True, help="Only this step (repeatable); default: every step with an audit.")
@click.option("-o", "--output-dir", type=click.Path(file_okay=False), help="Campaign folder; default: <campaigns_dir>/<campaign id>.")
@click.option("--no-note", is_flag=True, help="Do not write the audit note on the campaign's epic.")
@output_options
@click.pass_obj
def audit(state: State, campaign: str, steps: tuple[str, ...], output_dir: str | None, no_note: bool, fmt: str) -> None:
    """Count, per submission, the inputs in the butler and those with outputs in the run's collection.

    Needs the butler extra (pip install 'jiracampaign[butler]') and a step key in the spec saying
    what a processed input leaves behind, e.g. `audit: {dataset: visit_summary}`. Reads the
    campaign folder's manifest (data queries, output collections, butler repository), asks the
    butler which inputs each query selects and which of them have the dataset in the submission's
    output collections, and prints the missing ones as ranges (100-108, 200). Keeps one note on
    the campaign's epic up to date, unless --no-note. Why inputs are missing is not read yet.

    \b
    Example:
        jiracampaign audit dp02-test-med-1 --step step1
        jiracampaign audit dp02-test-med-1 --csv --no-note > audit.csv
    """
    from ..core.texts import compact_ranges
    from ..services.audit import audit_campaign

    result = audit_campaign(state.config, campaign, steps, output_dir, note=not no_note)
    rows = []
    for c in result.counts:
        rows.append({"key": c.key or c.submission, "submission": c.submission, "step": c.step,
                     "group": f"{c.group}/{c.groups}" if fmt == "table" else c.group, "groups": c.groups,
                     "label": c.label, "output_run": c.output_run, "dataset": c.dataset, "dimension": c.dimension,
                     "inputs": c.inputs, "done": c.done, "missing_count": len(c.missing),
                     "missing": compact_ranges(c.missing, TABLE_RANGES if fmt == "table" else None) or None,
                     "reasons": c.reasons or None})
    click.echo(render_rows(rows, AUDIT_COLUMNS, fmt), nl=False)
    inputs, done = sum(c.inputs for c in result.counts), sum(c.done for c in result.counts)
    summary = f"{len(result.counts)} submissions, {done} of {inputs} inputs with outputs, in {result.seconds:.2f} s"
    if result.epic:
        summary += f"; note on {result.epic}: {result.note}"
    elif result.note:
        summary += f"; {result.note}"
    click.echo(summary, err=True)
