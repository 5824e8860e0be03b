"""Plain-text views of run statuses for the terminal (JIRA texts are in `jiracampaign.summary`)."""

from __future__ import annotations

from typing import Sequence

from .output import render_rows
from .runs import RunStatus, TaskProgress

__all__ = ["run_text", "task_rows", "TASK_COLUMNS", "by_label"]

TASK_COLUMNS = [("label", "TASK"), ("state", "STATE"), ("total", "FILES"), ("finished", "DONE"), ("failed", "FAILED"),
                ("running", "RUNNING"), ("remaining", "LEFT"), ("url", "MONITOR")]


def by_label(tasks: Sequence[TaskProgress]) -> list[TaskProgress]:
    """Tasks merged per pipeline label (chunks of one label add up); the worst state wins."""
    order = ["held", "failed", "partial", "running", "pending", "cancelled", "unknown", "succeeded"]
    merged: dict[str, TaskProgress] = {}
    for task in tasks:
        if task.label not in merged:
            merged[task.label] = TaskProgress(task.label, task.task_id, task.state, task.raw_state, task.total,
                                              task.finished, task.failed, task.running, task.url)
            continue
        into = merged[task.label]
        into.total += task.total
        into.finished += task.finished
        into.failed += task.failed
        into.running = None if into.running is None or task.running is None else into.running + task.running
        if order.index(str(task.state)) < order.index(str(into.state)):
            into.state, into.raw_state = task.state, task.raw_state
        into.task_id, into.url = None, ""  # several tasks: no single link
    return list(merged.values())


def task_rows(status: RunStatus) -> list[dict]:
    """One row per pipeline task label."""
    return [{"run": status.name, "label": t.label, "task_id": t.task_id, "state": str(t.state), "total": t.total,
             "finished": t.finished, "failed": t.failed, "running": t.running, "remaining": t.remaining, "url": t.url}
            for t in by_label(status.tasks)]


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
        for group in status.failures:
            also = f" (also {group.also})" if group.also else ""
            lines.append(f"    {group.count} x {group.label} {group.error}{also}: {group.diagnostic or '(no diagnostic)'}")
            for job in group.examples:
                attempt = f" attempt {job.attempt}" if job.attempt is not None else ""
                lines.append(f"      job {job.job_id} at {job.site}{attempt}: {job.url}")
                for name, url in (("stdout", job.stdout), ("stderr", job.stderr), ("log", job.log)):
                    if url:
                        lines.append(f"        {name}: {url}")
    return "\n".join(lines) + "\n"
