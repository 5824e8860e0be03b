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


# ---- status, show, logs ---------------------------------------------------------------------------------------

OVERVIEW_COLUMNS = [("campaign", "CAMPAIGN"), ("key", "EPIC"), ("submissions", "SUBMISSIONS"), ("states", "BY STATE"),
                    ("percent_text", "FILES DONE"), ("failed", "FILES FAILED"), ("stuck", "STUCK"),
                    ("last_sync", "LAST SYNC")]
CAMPAIGN_COLUMNS = [("step", "STEP"), ("group", "GROUP"), ("task", "TASK"), ("state", "STATE"), ("files", "FILES"),
                    ("done", "DONE"), ("failed", "FAILED"), ("percent_text", "DONE%"), ("key", "KEY"), ("run", "RUN"),
                    ("site", "SITE"), ("note", "NOTE")]
#: the table's column of a group's attempts (``JC-9 (a2) <- JC-4 (a1)``), shown when some group has more than one
CHAIN_COLUMN = ("chain", "ATTEMPTS")
CAMPAIGN_CSV = [("campaign", "CAMPAIGN"), ("step", "STEP"), ("group", "GROUP"), ("task", "TASK"), ("state", "STATE"),
                ("files", "FILES"), ("done", "DONE"), ("failed", "FAILED"), ("running", "RUNNING"),
                ("percent", "PERCENT"), ("key", "KEY"), ("run", "RUN"), ("run_id", "RUN ID"), ("wms", "WMS"),
                ("site", "SITE"), ("stuck", "STUCK"), ("changed", "CHANGED"), ("live", "LIVE"), ("note", "NOTE"),
                ("url", "URL"), ("attempt", "ATTEMPT"), ("attempts", "ATTEMPTS"), ("verdict", "VERDICT")]
SITE_COLUMNS = [("site", "SITE"), ("submissions", "SUBMISSIONS"), ("runs", "RUNS"), ("files", "FILES"),
                ("done", "DONE"), ("failed", "FAILED"), ("rate_text", "FAILURE RATE"), ("attention", "ATTENTION"),
                ("stuck", "STUCK")]
SITE_CSV = [("site", "SITE"), ("submissions", "SUBMISSIONS"), ("runs", "RUNS"), ("files", "FILES"), ("done", "DONE"),
            ("failed", "FAILED"), ("failure_rate", "FAILURE RATE"), ("attention", "ATTENTION"), ("stuck", "STUCK")]
LOG_COLUMNS = [("key", "KEY"), ("run", "RUN"), ("task", "TASK"), ("kind", "KIND"), ("job", "JOB"),
               ("data_id", "DATA ID"), ("attempt", "ATTEMPT"), ("site", "SITE"), ("error", "ERROR"),
               ("message", "MESSAGE"), ("logs", "LOGS"), ("tail", "TAIL"), ("tail_note", "TAIL NOTE")]


def percent_text(value: float | None) -> str | None:
    """``66.7%``, or `None` (shown ``-``) when nothing is counted yet."""
    return None if value is None else f"{value:.1f}%".replace(".0%", "%")


def overview_rows(lines) -> list[dict]:
    """The overview's rows: `CampaignLine.row` plus what the table shows."""
    out = []
    for line in lines:
        row = line.row()
        row["percent_text"] = percent_text(line.percent)
        if line.closed:
            row["campaign"] = f"{line.campaign} (closed)"
        out.append(row)
    return out


def overview_csv_columns() -> list[tuple[str, str]]:
    """One column per run state (how many groups are in it), then the files (``FILES DONE``...), then one column
    per verdict that settles a group (``REJECTED``, ``FORCE-COMPLETED``, ``ACCEPTED``: last, so that the columns
    before them keep their places)."""
    from ..services.groups import SETTLED
    from ..services.report import STATES

    return ([("campaign", "CAMPAIGN"), ("key", "EPIC"), ("closed", "CLOSED"), ("submissions", "SUBMISSIONS")]
            + [(f"state:{s}", s.upper()) for s in STATES if s not in SETTLED]
            + [("files", "FILES"), ("done", "FILES DONE"), ("failed", "FILES FAILED"), ("percent", "PERCENT DONE"),
               ("attention", "ATTENTION"), ("stuck", "STUCK"), ("last_sync", "LAST SYNC"), ("url", "URL")]
            + [(f"state:{s}", s.upper()) for s in STATES if s in SETTLED])


def overview_csv_rows(lines) -> list[dict]:
    out = []
    for line in lines:
        row = line.row()
        out.append(row | {f"state:{s}": n for s, n in row.pop("by_state").items()})
    return out


def campaign_columns(rows) -> list[tuple[str, str]]:
    """The table's columns: `CAMPAIGN_COLUMNS`, and the chain of attempts after ``KEY`` when some group of ``rows``
    has more than one attempt."""
    if not any(group.chain for group in rows):
        return list(CAMPAIGN_COLUMNS)
    at = CAMPAIGN_COLUMNS.index(("key", "KEY")) + 1
    return CAMPAIGN_COLUMNS[:at] + [CHAIN_COLUMN] + CAMPAIGN_COLUMNS[at:]


def group_table_rows(rows) -> list[dict]:
    """A campaign's groups for the table: each group's row (its state with the verdict on it: ``partial
    (accepted)``; the verdict's reason as its note when it has no other), then one row per task (task columns
    only)."""
    out = []
    for group in rows:
        row = group.row()
        row.update(task="", percent_text=percent_text(group.percent), note=group.stuck or group.note or "",
                   run=group.run_name or "", site=group.site or "", state=group.state_text, chain=group.chain)
        if group.stuck:
            row["note"] = f"stuck: {group.stuck}"
        elif not row["note"] and group.verdict_reason:
            row["note"] = f"{group.verdict}: {group.verdict_reason}"
        out.append(row)
        for task in group.tasks:
            out.append({"step": "", "group": "", "task": task.label, "state": task.state, "files": task.total,
                        "done": task.finished, "failed": task.failed, "percent_text": percent_text(task.percent),
                        "key": "", "chain": "", "run": "", "site": "", "note": ""})
    return out


def group_csv_rows(rows) -> list[dict]:
    """A campaign's groups for CSV: every column on every row (the attempts' keys joined by spaces, latest first);
    a task's row has its task and counts."""
    out = []
    for group in rows:
        row = group.row()
        row["task"] = ""
        row["attempts"] = " ".join(row["attempts"])
        out.append(row)
        for task in row.pop("tasks"):
            out.append({**row, "task": task["task"], "state": task["state"], "files": task["files"],
                        "done": task["done"], "failed": task["failed"], "running": task["running"],
                        "percent": task["percent"]})
    return out


def site_table_rows(sites) -> list[dict]:
    return [{**s.row(), "rate_text": percent_text(s.rate)} for s in sites]


def _fields(pairs: list[tuple[str, str]], indent: str = "  ") -> list[str]:
    """``label:  value`` lines, aligned; an empty label continues the field above on a line of its own."""
    width = max((len(label) for label, value in pairs if value), default=0)
    return [f"{indent}{(label + ':' if label else '').ljust(width + 1)}  {value}" for label, value in pairs if value]


def show_text(shown) -> str:
    """One submission for the terminal: its ticket, record, file, run, state, tasks, failures and links."""
    record, row = shown.record, shown.row
    lines = [f"{shown.key}  {record.submission}"]
    ticket = shown.url + (f"  (shows {shown.ticket_status})" if shown.ticket_status else "")
    group = f"{record.step}, group {record.group} of {record.groups}" + (f" ({record.label})" if record.label else "")
    file = f"{record.file}  sha256 {record.sha256 or '-'}  " + ("(attached)" if shown.file_attached
                                                               else "(not attached)")
    campaign = f"{record.campaign}  {shown.campaign_key}  {shown.campaign_url}".rstrip()
    inputs = "" if record.inputs is None else str(record.inputs)
    pairs = [("ticket", ticket), ("campaign", campaign), ("step", group), ("data query", record.data_query),
             ("inputs", inputs), ("pipeline", record.pipeline), ("input collection", record.input_collection),
             ("site", record.site), ("BPS file", file), ("output run", record.output_run)]
    pairs += _attempt_fields(record, row)
    run = record.run
    if run is None:
        planned = f" (planned run name {record.run_name})" if record.run_name else ""
        pairs.append(("run", f"not submitted{planned}"))
    else:
        ident = run.run_name + (f"  run id {run.run_id}" if run.run_id else "") + (f"  on {run.wms}" if run.wms else "")
        pairs += [("run", ident), ("submit dir", run.submit_dir or ""), ("submitted", run.submitted or ""),
                  ("returned", run.returned or "")]
        counts = f"{row.total} {row.unit}, {row.finished} done, {row.failed} failed" if row.total else "no counts yet"
        changed = f"; sync saw it change {row.changed_at}" if row.changed_at else ""
        pairs.append(("state", f"{row.state}: {counts}{changed}" if row.state != "submitted"
                      else "submitted, not synced yet"))
        if row.verdict:
            pairs.append(("verdict", row.verdict + (f": {row.verdict_reason}" if row.verdict_reason else "")))
        pairs += [("monitor", shown.monitor),
                  ("status note", (shown.status_note.url or "on the ticket") if shown.status_note else ""),
                  ("reports", ", ".join(f"{name} (attached)" for name in shown.reports))]
    lines += _fields(pairs)
    if row.tasks:
        table = render_rows([{"label": t.label, "state": t.state, "total": t.total, "finished": t.finished,
                              "failed": t.failed, "running": t.running} for t in row.tasks],
                            [("label", "TASK"), ("state", "STATE"), ("total", row.unit.upper()), ("finished", "DONE"),
                             ("failed", "FAILED"), ("running", "RUNNING")], "table")
        lines += ["  tasks:"] + ["    " + line for line in table.rstrip("\n").splitlines()]
    failures = shown.failures
    if failures is not None:
        where = f"  {failures.url}" if failures.url else ""
        lines.append(f"  failures: {failures.headline}{where}")
        for group in failures.groups:
            also = f" (also {group.also})" if group.also else ""
            lines.append(f"    {group.count} x {group.task} {group.error}{also}: {group.message}")
            if group.data_ids:
                more = f" (+{group.more_ids} more)" if group.more_ids else ""
                lines.append(f"      data IDs: {'; '.join(group.data_ids)}{more}")
    text = "\n".join(lines) + "\n"
    if shown.live is not None:
        text += "\nNow, from its status source:\n" + run_text(shown.live)
    return text


def _attempt_fields(record, row) -> list[tuple[str, str]]:
    """``attempt`` (``2 of 3``), the group's ``attempts`` latest first with their states and verdicts (one line
    each), the attempt this one ``rescues`` and what its rescue ``changed`` (one line each)."""
    attempts = row.attempts
    if len(attempts) <= 1:
        pairs = [("attempt", str(record.attempt))]
    else:
        latest = attempts[0].key == row.key
        pairs = [("attempt", f"{record.attempt} of {len(attempts)}" + (" (the latest)" if latest
                                                                       else f" (latest: {attempts[0].key})"))]
        pairs += [("" if i else "attempts", f"{a.name}  {a.shown}" + ("  <- this one" if a.key == row.key else ""))
                  for i, a in enumerate(attempts)]
    if record.rescues:
        earlier = next((a for a in attempts if a.ident == record.rescues), None)
        pairs.append(("rescues", f"{earlier.key} ({record.rescues})" if earlier else record.rescues))
    for i, change in enumerate(record.changes):
        pairs.append(("changed" if i == 0 else "", change))
    return pairs


def logs_text(result) -> str:
    """The failed jobs of a run for the terminal: task, job, error, log locations and, with ``--tail``, their end."""
    head = (f"{result.key}  {result.run_name}" + (f" ({result.wms})" if result.wms else "")
            + f": {len(result.jobs)} failed job{'s' if len(result.jobs) != 1 else ''} listed"
            + (f" of {result.failed}" if result.failed > len(result.jobs) else "") + f", from {result.origin}")
    lines = [head]
    for job in result.jobs:
        who = f"quantum {job.data_id}" if job.kind == "quantum" else f"job {job.job}"
        where = f" at {job.site}" if job.site else ""
        attempt = f", attempt {job.attempt}" if job.attempt is not None else ""
        lines.append("")
        lines.append(f"{job.task}  {who}{where}{attempt}")
        lines.append(f"  {job.error}: {job.message}")
        lines += _fields([(f.name, f.where) for f in job.files], indent="  ")
        if job.tail is not None:
            lines.append(f"  --- last {len(job.tail)} line{'s' if len(job.tail) != 1 else ''} of {job.tail_from}"
                         + (f" ({job.tail_note})" if job.tail_note else "") + " ---")
            lines += ["  " + line for line in job.tail]
        elif job.tail_note:
            lines.append(f"  log {job.tail_note}")
    return "\n".join(lines) + "\n"
