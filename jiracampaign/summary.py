"""The texts sync writes to tickets (JIRA wiki markup): the living status comment, the failure summary
and the epic roll-up. Everything that comes from PanDA is escaped or linked through `jiracampaign.wiki`.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Iterable

from . import wiki
from .known_errors import KnownError, classify
from .runs import FailureGroup, RunStatus
from .states import BatchState
from .syncstate import Entry
from .views import by_label

__all__ = ["STATUS_MARKER", "ROLLUP_MARKER", "failure_marker", "failure_signatures", "status_comment",
           "failure_summary", "rollup"]

STATUS_MARKER = "status"
ROLLUP_MARKER = "rollup"
ROLLUP_STATES = [s.value for s in BatchState]
SOURCE_NAMES = {"panda": "PanDA", "bps": "BPS"}
DIAG_LIMIT = 300


def _sha(parts: Iterable[object]) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:12]


def failure_signatures(groups: list[FailureGroup]) -> tuple[str, str]:
    """``(kinds, full)``: which distinct errors there are, and the same with their counts.

    A new kind of error starts a new failure summary; a change in counts edits the latest one.
    """
    kinds = sorted((g.label, g.error, g.also, g.diagnostic[:80]) for g in groups)
    full = sorted((g.label, g.error, g.also, g.diagnostic[:80], g.count) for g in groups)
    return (_sha(kinds), _sha(full)) if groups else ("", "")


def failure_marker(kinds: str) -> str:
    return f"failures-{kinds}"


def status_comment(status: RunStatus, entry: Entry, since: str) -> str:
    """The one status comment of a submission ticket, edited in place whenever the run changes."""
    source = SOURCE_NAMES.get(status.source, status.source)
    word = f" ({wiki.escape(status.raw_state)})" if status.raw_state else ""
    rows = [
        ("Run", f"{wiki.mono(entry.run_name)}" + (f" (run id {wiki.escape(status.run_id)}, {source})" if status.run_id else "")),
        ("State", f"*{status.state.value.upper()}*{word}"),
        ("Input files", status.counts_text()),
        ("Since", wiki.escape(since)),
    ]
    if status.url:
        rows.append(("Monitor", wiki.link(f"this run on the {source} monitor", status.url)))
    if status.message:
        rows.append(("Note", wiki.escape(status.message)))
    text = f"h4. Run status: {status.state.value.upper()}\n{wiki.table(rows)}"
    if status.tasks:
        lines = ["||Task||State||Files||Done||Failed||Running||Left||"]
        for t in by_label(status.tasks):
            state = wiki.link(t.state.value, t.url) if t.url else t.state.value
            running = "-" if t.running is None else t.running
            lines.append(f"|{wiki.escape(t.label)}|{state}|{t.total}|{t.finished}|{t.failed}|{running}|{t.remaining}|")
        text += "\n\n" + "\n".join(lines)
    return text + "\n\n_Kept current by jiracampaign sync: edited in place when the run changes._"


def _job_links(group: FailureGroup) -> list[str]:
    out = []
    for job in group.examples:
        links = [wiki.link(f"job {job.job_id}", job.url)]
        links += [wiki.link(name, url) for name, url in (("stdout", job.stdout), ("stderr", job.stderr), ("log", job.log))
                  if url]
        where = f" at {wiki.escape(job.site)}" if job.site else ""
        attempt = f", attempt {job.attempt}" if job.attempt is not None else ""
        out.append(f"** {links[0]}{where}{attempt}" + (": " + " · ".join(links[1:]) if links[1:] else ""))
    return out


def failure_summary(status: RunStatus, entry: Entry, table: list[KnownError]) -> str:
    """Failures of a run grouped by error, each with its meaning and advice (or marked for review) and example links."""
    per_label = Counter()
    for group in status.failures:
        per_label[group.label] += group.count
    head = (f"h4. Failures in run {wiki.mono(entry.run_name)}: {status.failed_jobs} failed jobs, "
            f"{len(status.failures)} distinct errors")
    lines = [head, "Failed jobs per task: " + ", ".join(f"{wiki.escape(k)} {v}" for k, v in per_label.most_common()), ""]
    actions: Counter = Counter()
    for group in status.failures:
        known = classify(group, table)
        also = f" (also {wiki.escape(group.also)})" if group.also else ""
        diag = group.diagnostic[:DIAG_LIMIT] + ("..." if len(group.diagnostic) > DIAG_LIMIT else "")
        lines.append(f"* *{group.count}* x {wiki.escape(group.label)} {wiki.mono(group.error)}{also}: "
                     f"{wiki.escape(diag) if diag else '_no diagnostic_'}")
        if known:
            ticket = f" (see {wiki.escape(known.ticket)})" if known.ticket else ""
            lines.append(f"** Known: {wiki.escape(known.meaning)} *{known.action}*: {wiki.escape(known.advice)}{ticket}")
            actions[known.action] += 1
        else:
            lines.append("** (!) *Unknown error: needs review.* Add it to the known-errors table once understood.")
            actions["review"] += 1
        lines += _job_links(group)
    if status.message:
        lines += ["", f"_{wiki.escape(status.message)}_"]
    order = ["review", "rescue", "retry", "investigate", "accept"]
    lines += ["", "*Next:* " + "; ".join(f"{a} ({actions[a]} error{'s' if actions[a] > 1 else ''})"
                                          for a in order if actions[a])]
    return "\n".join(lines)


def rollup(entries: Iterable[Entry], steps: list[dict], since: str) -> str:
    """The epic's per-step table: submissions by state, files done and failed."""
    rows: dict[str, Counter] = {s["name"]: Counter() for s in steps}
    files: dict[str, list[int]] = {s["name"]: [0, 0, 0] for s in steps}
    for entry in entries:
        rows.setdefault(entry.step, Counter())[entry.state or "pending"] += 1
        total = files.setdefault(entry.step, [0, 0, 0])
        total[0] += entry.total
        total[1] += entry.finished
        total[2] += entry.failed
    planned = {s["name"]: int(s.get("groups") or 0) for s in steps}
    used = [s for s in ROLLUP_STATES if any(c[s] for c in rows.values())]
    head = "||Step||Submissions||Not submitted||" + "".join(f"{s.capitalize()}||" for s in used) + \
        "Files||Done||Failed||"
    lines = ["h4. Campaign progress", head]
    sums = Counter()
    for step, counts in rows.items():
        submitted = sum(counts.values())
        count = max(planned.get(step, 0), submitted)
        cells = [wiki.escape(step), count, count - submitted] + [counts[s] for s in used] + files[step]
        lines.append("|" + "|".join(map(str, cells)) + "|")
        sums.update(counts)
        sums.update({"#count": count, "#not": count - submitted, "#files": files[step][0],
                     "#done": files[step][1], "#failed": files[step][2]})
    cells = ["*All*", sums["#count"], sums["#not"]] + [sums[s] for s in used] + [sums["#files"], sums["#done"],
                                                                                   sums["#failed"]]
    lines.append("|" + "|".join(map(str, cells)) + "|")
    return "\n".join(lines) + f"\n\n_Kept current by jiracampaign sync; last change {wiki.escape(since)}._"
