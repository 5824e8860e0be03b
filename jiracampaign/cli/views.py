"""Plain-text views of run statuses for the terminal (ticket texts are documents: `jiracampaign.core.texts`)."""

from __future__ import annotations

from ..core.runs import RunStatus, merged_tasks
from .output import render_rows

__all__ = ["run_text", "task_rows", "render_runs", "TASK_COLUMNS"]

TASK_COLUMNS = [("label", "TASK"), ("state", "STATE"), ("total", "FILES"), ("finished", "DONE"), ("failed", "FAILED"),
                ("running", "RUNNING"), ("remaining", "LEFT"), ("url", "MONITOR")]


def task_rows(status: RunStatus) -> list[dict]:
    """One row per pipeline task label."""
    return [{"run": status.name, "label": t.label, "task_id": t.task_id, "state": str(t.state), "total": t.total,
             "finished": t.finished, "failed": t.failed, "running": t.running, "remaining": t.remaining, "url": t.url}
            for t in merged_tasks(status.tasks)]


def run_text(status: RunStatus) -> str:
    """A run's state, per-task counts and grouped failures with links, for a terminal."""
    head = f"{status.name}  {str(status.state).upper()}"
    if status.raw_state:
        head += f" ({status.raw_state})"
    if status.run_id:
        head += f"  run id {status.run_id}"
    lines = [head]
    if status.url:
        lines.append(f"  monitor: {status.url}")
    if status.message:
        lines.append(f"  note: {status.message}")
    if status.total or status.tasks:
        lines.append(f"  files: {status.counts_text()}")
    if status.tasks:
        table = render_rows(task_rows(status), TASK_COLUMNS, "table")
        lines += ["  " + line for line in table.rstrip("\n").splitlines()]
    if status.failures:
        lines.append(f"  failures: {status.failed_jobs} failed jobs in {len(status.failures)} groups")
        lines += _groups(status.failures)
    if status.retried:
        lines.append(f"  retried: {status.retried_jobs} failed attempts were retried (not counted as failures)")
        lines += _groups(status.retried, examples=False)
    if status.deferred:
        lines.append(f"  not read this time: {', '.join(status.deferred)}")
    return "\n".join(lines) + "\n"


def _groups(groups, examples: bool = True) -> list[str]:
    lines = []
    for group in groups:
        also = f" (also {group.also})" if group.also else ""
        lines.append(f"    {group.count} x {group.label} {group.error}{also}: {group.message or '(no diagnostic)'}")
        for job in group.examples if examples else ():
            attempt = f" attempt {job.attempt}" if job.attempt is not None else ""
            lines.append(f"      job {job.id} at {job.site}{attempt}: {job.url}")
            lines += [f"        {name}: {url}" for name, url in job.links()]
    return lines


def render_runs(statuses: list[RunStatus], fmt: str) -> str:
    """Runs for the terminal (``table``), per task (``csv``), or whole (``json``, ``nl``)."""
    if fmt == "table":
        return "\n".join(run_text(s) for s in statuses)
    if fmt == "csv":
        return render_rows([row for s in statuses for row in task_rows(s)], [("run", "RUN")] + TASK_COLUMNS, "csv")
    return render_rows([s.to_dict() for s in statuses], [], fmt)
