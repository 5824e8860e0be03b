"""Every text jiracampaign writes to a tracker, as a `Document`: campaign and submission descriptions,
edit notes, submit failures, the living status note, failure summaries and the campaign roll-up.

Nothing here is markup: trackers render these documents (and escape what came from elsewhere).
"""

from __future__ import annotations

import difflib
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .documents import Bullet, Bullets, Code, Document, Emph, Fields, Heading, Inline, Link, Mono, Paragraph, Strong, \
    Table, Warn
from .known_errors import KnownError, classify
from .attempts import Verdict
from .ledger import Entry, entry_groups
from .model import Campaign, Step
from .records import RunIdentity, StepInfo, SubmissionRecord
from .runs import FailureGroup, RunStatus, merged_tasks
from .states import BatchState

__all__ = ["STATUS_SLOT", "ROLLUP_SLOT", "failure_slot", "failure_signatures", "doc_sha", "yaml_diff",
           "campaign_doc", "step_doc", "submission_doc", "run_rows", "replaced_file_doc", "edited_file_doc", "run_replaced_doc", "submit_failed_doc",
           "status_doc", "failure_doc", "rollup_doc", "AUDIT_SLOT", "AuditCount", "REASONS_NOT_READ", "compact_ranges",
           "audit_doc"]

STATUS_SLOT = "status"
ROLLUP_SLOT = "rollup"
AUDIT_SLOT = "audit"
REASONS_NOT_READ = "not read yet"
ROLLUP_STATES = [s.value for s in BatchState]
DIAG_LIMIT = 300
TOP_GROUPS = 5        # failure groups shown in a failure summary (the others are counted)
DATA_IDS_SHOWN = 5    # data IDs shown per failure group
EXAMPLES_SHOWN = 2    # example quanta shown per failure group
NOT_YET = Emph("not yet submitted")


def doc_sha(title: str, doc: Document) -> str:
    """Digest of a title and document as jiracampaign wrote them (a tracker may reformat what it stores)."""
    return hashlib.sha256(f"{title}\n{doc.blocks!r}".encode()).hexdigest()[:16]


def yaml_diff(old: bytes | None, new: str, name: str) -> str:
    """A unified diff of two versions of a file, cut at 20,000 characters."""
    before = (old or b"").decode("utf-8", "replace").splitlines()
    lines = difflib.unified_diff(before, new.splitlines(), f"{name} (before)", f"{name} (after)", lineterm="", n=1)
    text = "\n".join(lines)
    return text if len(text) < 20000 else text[:20000] + "\n... (diff cut at 20000 characters)"


# ---- descriptions ------------------------------------------------------------------------------------
def campaign_doc(campaign: Campaign, groups: dict[str, int]) -> Document:
    """The campaign item's description."""
    doc = Document()
    if campaign.description:
        doc.add(Paragraph(campaign.description))
    return doc.add(
        Fields([
            ("Campaign", Mono(campaign.id)),
            ("Operator", campaign.operator),
            ("Project", campaign.project or "-"),
            ("Butler repository", Mono(campaign.butler_repo)),
            ("Input collection", Mono(campaign.input_collection)),
            ("Output collections", Mono(campaign.output_root + "/...")),
            ("Pipeline", Mono(campaign.pipeline)),
            ("Software", Mono(campaign.software)),
            ("Site", campaign.site),
            ("Spec", Mono(f"{Path(campaign.spec_path).name} (sha256 {campaign.spec_sha256[:12]})")),
        ]),
        Heading("Steps"),
        Table(["Step", "Pipeline", "After", "Submissions"],
              [[s.name, Mono(s.pipeline_yaml), ", ".join(s.after) or "-", groups[s.name]] for s in campaign.steps]),
        Paragraph(Emph("Recorded by jiracampaign; each submission is a child ticket with its BPS submit file attached.")),
    )


def step_doc(campaign: Campaign, step: Step) -> Document:
    """A step item's description (in the sub-task hierarchy)."""
    return Document([Paragraph(["Step ", Mono(step.name), " of campaign ", Mono(campaign.id), ": ",
                                Mono(step.pipeline_yaml)])])


def run_rows(run: RunIdentity | None) -> list[tuple[str, Inline]]:
    """The description rows naming a submission's run (placeholders before it is submitted)."""
    if run is None:
        return [("Submitted", NOT_YET), ("Run", NOT_YET), ("Run id", NOT_YET)]
    rows: list[tuple[str, Inline]] = [("Submitted", run.submitted or Emph("unknown"))]
    if run.returned:  # bps submit returns once the run is queued (PanDA, HTCondor) or, for Parsl, when it ended
        rows.append(("bps returned", run.returned))
    return rows + [
        ("Run", Mono(run.run_name)),
        ("Run id", Mono(f"{run.wms} {run.run_id}".strip()) if run.run_id
         else Emph(f"no run id ({run.wms})" if run.wms else "no run id")),
    ]


def submission_doc(record: SubmissionRecord) -> Document:
    """A submission item's description, entirely from its record (so `submit` re-renders it, never edits it)."""
    return Document([
        Fields([
            ("Campaign", Mono(record.campaign)),
            ("Step", f"{record.step} (group {record.group}/{record.groups}: {record.label})"),
            ("Pipeline", Mono(record.pipeline)),
            ("Input collection", Mono(record.input_collection)),
            ("Output run", Mono(record.output_run)),
            ("Site", record.site),
            ("Inputs", record.inputs if record.inputs is not None else "-"),
            *run_rows(record.run),
        ]),
        Heading("Data query"),
        Code(record.data_query),
        Paragraph(["The BPS submit file is attached as ", Mono(record.file), "."]),
    ])


# ---- notes on a submission -----------------------------------------------------------------------------
def replaced_file_doc(name: str, old: bytes | None, old_sha: str | None, new_text: str, new_sha: str) -> Document:
    """The note left when `create` replaces a submit file because the spec changed."""
    was = f"sha256 {old_sha[:12]}" if old_sha else "no file"
    return Document([
        Paragraph(["jiracampaign replaced the BPS submit file ", Mono(name), f" ({was} → sha256 {new_sha[:12]}) "
                   "because the campaign spec changed:"]),
        Code(yaml_diff(old, new_text, name)),
    ])


def edited_file_doc(name: str, sha: str, diff: str) -> Document:
    """The note left when a submit file edited after planning is attached again before it is submitted."""
    return Document([
        Paragraph([Mono(name), f" was edited after it was planned; the version submitted (sha256 {sha[:12]}) is "
                   "now attached:"]),
        Code(diff),
    ])


def run_replaced_doc(old: RunIdentity, new: RunIdentity, reopened: str = "") -> Document:
    """The note left when ``record --force`` replaces the run a ticket recorded."""
    def ident(run: RunIdentity) -> list[Inline]:
        return [Mono(run.run_name), f" (run id {run.run_id})" if run.run_id else " (no run id)"]
    text: list[Inline] = ["The run recorded on this ticket, ", *ident(old), ", was replaced by ", *ident(new),
                          " (jiracampaign record --force)."]
    if reopened:
        text.append(f" The ticket was {reopened} and now follows the new run.")
    return Document([Paragraph(text)])


def submit_failed_doc(command: str, why: str, tail: str) -> Document:
    """The note left when ``bps submit`` fails."""
    return Document([
        Paragraph([Mono(command), f" failed ({why}); the ticket stays as it was. Last lines of its output:"]),
        Code(tail),
    ])


# ---- what sync writes ------------------------------------------------------------------------------------
def _sha(parts: Iterable[object]) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:12]


def failure_signatures(groups: list[FailureGroup]) -> tuple[str, str]:
    """``(kinds, full)``: which distinct errors there are, and the same with their counts.

    A new kind of error starts a new failure summary; a change in counts edits the latest one. Messages
    differing only in numbers and hex ids (`FailureGroup.shape`) are the same kind.
    """
    kinds = sorted((g.label, g.error, g.also, (g.shape or g.message)[:80]) for g in groups)
    full = sorted((g.label, g.error, g.also, (g.shape or g.message)[:80], g.count) for g in groups)
    return (_sha(kinds), _sha(full)) if groups else ("", "")


def failure_slot(kinds: str) -> str:
    return f"failures-{kinds}"


def _counts_quanta(status: RunStatus) -> bool:
    """Whether a status counts quanta (read from quantum provenance) rather than input files."""
    return str((status.report or {}).get("format", "")).startswith("jiracampaign-provenance")


def status_doc(status: RunStatus, entry: Entry, since: str) -> Document:
    """The one status note of a submission, edited in place whenever the run changes."""
    source = status.source_label or status.source
    word = f" ({status.raw_state})" if status.raw_state else ""
    run: list[Inline] = [Mono(entry.run_name)]
    if status.run_id:
        run.append(f" (run id {status.run_id}, {source})")
    rows: list[tuple[str, Inline]] = [
        ("Run", run),
        ("State", [Strong(status.state.value.upper()), word]),
        ("Quanta" if _counts_quanta(status) else "Input files", status.counts_text()),
        ("Since", since),
    ]
    if status.url:
        rows.append(("Monitor", Link(f"this run on the {source} monitor", status.url)))
    if status.message:
        rows.append(("Note", status.message))
    doc = Document([Heading(f"Run status: {status.state.value.upper()}"), Fields(rows)])
    if status.tasks:
        doc.add(Table(["Task", "State", "Quanta" if _counts_quanta(status) else "Files", "Done", "Failed", "Running",
                       "Left"], [
            [t.label, Link(t.state.value, t.url) if t.url else t.state.value, t.total, t.finished, t.failed,
             "-" if t.running is None else t.running, t.remaining]
            for t in merged_tasks(status.tasks)]))
    return doc.add(Paragraph(Emph("Kept current by jiracampaign sync: edited in place when the run changes.")))


def _examples(group: FailureGroup, limit: int | None = None) -> list[Bullet]:
    out = []
    for job in group.examples[:limit]:
        if job.url or not job.data_id:
            content: list[Inline] = [Link(f"job {job.id}", job.url)]
        else:  # a quantum from provenance: its data ID says which; its logs are files
            content = ["quantum ", Mono(job.data_id)]
        if job.site:
            content.append(f" at {job.site}")
        if job.attempt is not None:
            content.append(f", attempt {job.attempt}")
        links: list[Inline] = [Link(name, url) if url.startswith(("http://", "https://")) else [f"{name} ", Mono(url)]
                               for name, url in job.links()]
        if not job.url and job.log:  # a file: the log alone (stdout and stderr sit beside it)
            links = [["log ", Mono(job.log)]]
        if links:
            content.append(": ")
            for i, item in enumerate(links):
                content += [" · ", item] if i else [item]
        out.append(Bullet(content))
    return out


def _head(group: FailureGroup) -> list[Inline]:
    message = group.message[:DIAG_LIMIT] + ("..." if len(group.message) > DIAG_LIMIT else "")
    head: list[Inline] = [Strong(group.count), f" x {group.label} ", Mono(group.error)]
    if group.also:
        head.append(f" (also {group.also})")
    return head + [": ", message if message else Emph("no diagnostic")]


def _size(amount: float) -> str:
    """Bytes as ``512 MiB`` / ``3.2 GiB``."""
    if amount >= 1024 ** 3:
        return f"{amount / 1024 ** 3:.1f} GiB"
    return f"{amount / 1024 ** 2:.0f} MiB"


def _data_ids(group: FailureGroup, limit: int) -> Bullet | None:
    if not group.data_ids:
        return None
    shown = group.data_ids[:limit]
    more = group.count - len(shown)
    text: list[Inline] = ["Data IDs: "]
    for i, data_id in enumerate(shown):
        text += ["; ", Mono(data_id)] if i else [Mono(data_id)]
    if more > 0:
        text.append(f" (+{more} more)")
    return Bullet(text)


def failure_doc(status: RunStatus, entry: Entry, table: list[KnownError], top: int = TOP_GROUPS) -> Document:
    """Final failures of a run grouped by error, each with its meaning and advice (or marked for review) and
    examples; then, apart and without advice, failed attempts that were retried (they are not failures).

    When the source has a full report (`RunStatus.report`, attached beside the note as
    ``status.report_name``) the note stays short: the ``top`` largest groups are shown (the others are
    counted), each with a few data IDs and example quanta, the report's ``peak_memory`` (bytes per task
    label, from quantum provenance) for the failing tasks, and a pointer to the attachment.
    """
    quanta = _counts_quanta(status)
    unit = "quanta" if quanta else "jobs"
    per_label: Counter = Counter()
    for group in status.failures:
        per_label[group.label] += group.count
    doc = Document([
        Heading(["Failures in run ", Mono(entry.run_name),
                 f": {status.failed_jobs} failed {unit}, {len(status.failures)} distinct errors"]),
        Paragraph(f"Failed {unit} per task: " + ", ".join(f"{k} {v}" for k, v in per_label.most_common())),
    ])
    peak = (status.report or {}).get("peak_memory") or {}
    if status.report is None:  # nothing attached to hold the rest: every group is shown
        top = len(status.failures)
    actions: Counter = Counter()
    items = []
    for i, group in enumerate(status.failures):
        known = classify(group, table)
        if known:
            actions[known.action] += 1
        else:
            actions["review"] += 1
        if i >= top:
            continue
        if known:
            ticket = f" (see {known.ticket})" if known.ticket else ""
            advice = Bullet([f"Known: {known.meaning} ", Strong(known.action), f": {known.advice}{ticket}"])
        else:
            advice = Bullet([Warn(), " ", Strong("Unknown error: needs review."),
                             " Add it to the known-errors table once understood."])
        details = [advice]
        ids = _data_ids(group, DATA_IDS_SHOWN)
        if ids:
            details.append(ids)
        if isinstance(peak.get(group.label), (int, float)):
            details.append(Bullet(f"Peak memory of {group.label}: {_size(peak[group.label])} (largest attempt of any quantum)"))
        items.append(Bullet(_head(group), [*details, *_examples(group, EXAMPLES_SHOWN if quanta else None)]))
    doc.add(Bullets(items))
    hidden = status.failures[top:]
    if hidden:
        doc.add(Paragraph(f"... and {len(hidden)} more errors ({sum(g.count for g in hidden)} failed {unit})"
                          + (" in the attached report." if status.report is not None else ".")))
    if status.retried:
        doc.add(Paragraph([f"Retried: {status.retried_jobs} failed attempts were retried (the workload system ran "
                           "them again); they are not counted as failures above."]),
                Bullets([Bullet(_head(group)) for group in status.retried[:top]]))
    if status.message:
        doc.add(Paragraph(Emph(status.message)))
    if status.report is not None and status.report_name:
        doc.add(Paragraph(["The full report (every failed and blocked quantum, each attempt's exception, log "
                           "file and memory) is attached as ", Mono(status.report_name), "."]))
    order = ["review", "rescue", "retry", "investigate", "accept"]
    return doc.add(Paragraph([Strong("Next:"), " " + "; ".join(
        f"{a} ({actions[a]} error{'s' if actions[a] > 1 else ''})" for a in order if actions[a])]))


def rollup_doc(entries: Iterable[Entry], steps: list[StepInfo], since: str) -> Document:
    """The campaign's per-step table: groups by state, files done and failed.

    Each group of a step counts once, by its latest attempt (its highest ``attempt``; an entry of a ledger
    written before groups were kept, ``group`` 0, goes with the group of an entry of the same first attempt,
    else counts alone by its id). A verdict that settles a group (accepted, rejected, force-completed) is its
    column; an attempt closed as ``rescued`` is superseded by a later one and not counted. Files are the
    latest attempts'. ``Attempts`` (runs submitted, every attempt) shows when some group has more than one.
    """
    settled = [Verdict.ACCEPTED.value, Verdict.FORCE_COMPLETED.value, Verdict.REJECTED.value]
    groups = entry_groups(entries)
    rows: dict[str, Counter] = {s.name: Counter() for s in steps}
    files: dict[str, list[int]] = {s.name: [0, 0, 0] for s in steps}
    runs: Counter = Counter()
    for attempts in groups:
        latest = attempts[-1]
        state = latest.verdict if latest.verdict in settled else (latest.state or "pending")
        rows.setdefault(latest.step, Counter())[state] += 1
        runs[latest.step] += len(attempts)
        total = files.setdefault(latest.step, [0, 0, 0])
        total[0] += latest.total
        total[1] += latest.finished
        total[2] += latest.failed
    several = any(len(attempts) > 1 for attempts in groups)
    planned = {s.name: s.groups for s in steps}
    used = [s for s in ROLLUP_STATES + settled if any(c[s] for c in rows.values())]
    table: list[list[Inline]] = []
    sums: Counter = Counter()
    for step, counts in rows.items():
        submitted = sum(counts.values())
        count = max(planned.get(step, 0), submitted)
        table.append([step, count, count - submitted, *(counts[s] for s in used), *([runs[step]] if several else []),
                      *files[step]])
        sums.update(counts)
        sums.update({"#count": count, "#not": count - submitted, "#runs": runs[step], "#files": files[step][0],
                     "#done": files[step][1], "#failed": files[step][2]})
    table.append([Strong("All"), sums["#count"], sums["#not"], *(sums[s] for s in used),
                  *([sums["#runs"]] if several else []), sums["#files"], sums["#done"], sums["#failed"]])
    return Document([
        Heading("Campaign progress"),
        Table(["Step", "Submissions", "Not submitted", *(s.capitalize() for s in used),
               *(["Attempts"] if several else []), "Files", "Done", "Failed"], table),
        Paragraph(Emph(f"Kept current by jiracampaign sync; last change {since}.")),
    ])


# ---- audit ---------------------------------------------------------------------------------------------
def compact_ranges(ids: Iterable[int], limit: int | None = None) -> str:
    """Sorted ids as runs of consecutive ids: ``100-108, 200, 203-211``; with ``limit``, at most that many
    runs and ``(+N more)``."""
    runs: list[list[int]] = []
    for i in sorted(ids):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        elif not runs or i != runs[-1][1]:
            runs.append([i, i])
    parts = [str(a) if a == b else f"{a}-{b}" for a, b in runs]
    if limit is not None and len(parts) > limit:
        rest = sum(b - a + 1 for a, b in runs[limit:])
        return ", ".join(parts[:limit]) + f" (+{rest} more)"
    return ", ".join(parts)


@dataclass(frozen=True)
class AuditCount:
    """One submission's inputs as the butler holds them: how many exist, how many have outputs, which not.

    ``reasons`` says why the missing ones are missing (failed quanta); `REASONS_NOT_READ` until a
    reader of provenance fills it (`jiracampaign.services.audit.MissingReasons`).
    """

    submission: str
    step: str
    group: int
    groups: int
    label: str
    output_run: str
    dataset: str
    dimension: str
    inputs: int
    done: int
    missing: tuple[int, ...] = ()
    reasons: str = REASONS_NOT_READ
    key: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.inputs if self.inputs else 100.0


def audit_doc(counts: Iterable[AuditCount], when: str, limit: int = 20) -> Document:
    """The campaign's audit: per submission the inputs, those with outputs, the missing ones as ranges."""
    counts = list(counts)
    rows: list[list[Inline]] = []
    for c in counts:
        missing = compact_ranges(c.missing, limit) if c.missing else "-"
        rows.append([c.key or c.submission, c.step, f"{c.group}/{c.groups}", c.dataset, c.inputs, c.done,
                     len(c.missing), Mono(missing) if c.missing else missing])
    inputs, done = sum(c.inputs for c in counts), sum(c.done for c in counts)
    missing = sum(len(c.missing) for c in counts)
    rows.append([Strong("All"), "", "", "", inputs, done, missing, ""])
    return Document([
        Heading("Outputs in the butler"),
        Table(["Submission", "Step", "Group", "Dataset", "Inputs", "With outputs", "Missing", "Missing ids"], rows),
        Paragraph(Emph(f"Written by jiracampaign audit on {when}; why inputs are missing: {REASONS_NOT_READ}.")),
    ])
