"""``audit``: per submission, how many inputs the butler holds, how many have outputs, and which do not.

Everything audit needs is in the campaign folder's manifest (written by ``plan``/``create``): the
butler repository, each submission's data query and output collections, and each step's ``audit:``
(dataset type, input dimension, instrument). The butler is asked through
`jiracampaign.sources.butler.inputs.ButlerInputs` (the ``butler`` extra). Why an input has no output
(failed quanta) is the job of a `MissingReasons` reader; none exists yet, so every row says
`~jiracampaign.core.texts.REASONS_NOT_READ`.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Protocol

from ..config import Config
from ..core import texts
from ..core.texts import AuditCount
from ..errors import ExitStatus, JiraCampaignError
from ..planning.plan import read_manifest
from .items import campaign_items, folder_for

__all__ = ["AuditResult", "MissingReasons", "NoReasons", "audit_campaign", "audit_counts", "AuditError"]

log = logging.getLogger(__name__)


class AuditError(JiraCampaignError):
    """The campaign cannot be audited as planned (no manifest, no ``audit:`` for a step)."""

    exit_status = ExitStatus.BAD_INPUT


class MissingReasons(Protocol):
    """The hook for *why* inputs have no outputs: given a submission's counts, a one-line reason summary
    (e.g. from the run's provenance: failed quanta by task). Not implemented yet (`NoReasons`)."""

    def reasons(self, count: AuditCount) -> str: ...


class NoReasons:
    """Reads nothing: every row says `~jiracampaign.core.texts.REASONS_NOT_READ`."""

    def reasons(self, count: AuditCount) -> str:
        return texts.REASONS_NOT_READ if count.missing else ""


@dataclass
class AuditResult:
    """What ``audit`` found, and what it wrote on the tracker."""

    campaign: str
    counts: list[AuditCount]
    epic: str | None = None
    note: str = ""  # added, updated, unchanged, or why none was written
    seconds: float = 0.0
    butler_seconds: dict[str, float] = field(default_factory=dict)


def _output_collections(entry: dict) -> list[str]:
    """The submission's output run and, when known, the chain bps makes of every attempt (``output``)."""
    run = entry["output_run"]
    chain = entry.get("output") or re.sub(r"/attempt\d+$", "", run)
    return [chain, run] if chain != run else [run]


def audit_counts(manifest: dict, steps: tuple[str, ...] = (), open_butler: Callable[..., Any] | None = None,
                 why: MissingReasons | None = None) -> tuple[list[AuditCount], dict[str, float]]:
    """Each submission's counts, for the manifest's steps (or ``steps``) that declare ``audit:``.

    Raises
    ------
    AuditError
        The manifest predates audit, a step named is unknown or has no ``audit:``.
    ButlerMissingError
        The ``butler`` extra is not installed.
    SourceError
        The repository cannot be opened, or has no such instrument or dataset type.
    """
    name = manifest.get("campaign", "?")
    known = manifest.get("steps")
    butler = manifest.get("butler")
    if not isinstance(known, dict) or not isinstance(butler, dict):
        raise AuditError(f"the manifest of campaign {name} was written before audit existed: run "
                         "`jiracampaign plan SPEC` (or create) again to record the butler repository and each step's audit")
    for step in steps:
        if step not in known:
            raise AuditError(f"campaign {name} has no step {step!r} (steps are: {', '.join(known)})")
        if "audit" not in known[step]:
            raise AuditError(f"step {step} of campaign {name} declares no audit: add "
                             "'audit: {dataset: DATASET_TYPE}' to the step in the spec and plan again")
    chosen = [s for s in (steps or known) if "audit" in known[s]]
    if not chosen:
        raise AuditError(f"no step of campaign {name} declares an audit: add 'audit: {{dataset: DATASET_TYPE}}' "
                         "(e.g. visit_summary for step1) to a step in the spec and plan again")
    if open_butler is None:
        from ..sources.butler.inputs import ButlerInputs as open_butler
    why = why or NoReasons()
    counts: list[AuditCount] = []
    timings: dict[str, float] = {}
    by_instrument: dict[str, list[str]] = {}
    for step in chosen:
        by_instrument.setdefault(known[step]["audit"]["instrument"], []).append(step)
    for instrument, names in by_instrument.items():
        started = time.perf_counter()
        with open_butler(butler["repo"], (), instrument) as source:
            timings["open"] = timings.get("open", 0.0) + time.perf_counter() - started
            started = time.perf_counter()
            for entry in manifest.get("submissions", []):
                if entry["step"] not in names:
                    continue
                audit = known[entry["step"]]["audit"]
                dim, dataset = audit["dimension"], audit["dataset"]
                wanted = source.ids(dim, entry["data_query"])
                have = source.output_ids(dataset, _output_collections(entry), dim)
                missing = tuple(i for i in wanted if i not in have)
                count = AuditCount(entry["id"], entry["step"], entry["group"], entry["groups"], entry.get("label", ""),
                                   entry["output_run"], dataset, dim, len(wanted), len(wanted) - len(missing), missing,
                                   key=entry.get("ticket", ""))
                counts.append(replace(count, reasons=why.reasons(count)))
                log.debug("%s: %d inputs, %d with %s", entry["id"], count.inputs, count.done, dataset)
            timings["queries"] = timings.get("queries", 0.0) + time.perf_counter() - started
    return counts, timings


def audit_campaign(config: Config, campaign: str, steps: tuple[str, ...] = (), output_dir: str | None = None,
                   note: bool = True, tracker: Any = None, open_butler: Callable[..., Any] | None = None,
                   now: Callable[[], datetime] | None = None) -> AuditResult:
    """Audit a planned campaign against its butler; with ``note``, keep one living note on its epic.

    The note is written only when the campaign has an epic in the tracker (``create`` ran) and
    ``tracker`` is given (or the configured one can be opened); otherwise `AuditResult.note` says why not.
    """
    started = time.perf_counter()
    folder = folder_for(config.get("campaigns_dir"), output_dir, campaign)
    manifest = read_manifest(folder) if folder.is_dir() else None
    if manifest is None:
        raise AuditError(f"no campaign folder with a manifest at {folder}: plan campaign {campaign} first "
                        "(jiracampaign plan SPEC), or name its folder with --output-dir")
    if manifest.get("campaign") != campaign:
        raise AuditError(f"{folder} holds campaign {manifest.get('campaign')!r}, not {campaign!r}")
    counts, timings = audit_counts(manifest, steps, open_butler)
    result = AuditResult(campaign, counts, butler_seconds=timings)
    if note:
        result.epic, result.note = _write_note(config, tracker, campaign, folder, counts, now)
    result.seconds = time.perf_counter() - started
    log.info("audit of %s: %d submissions in %.2f s", campaign, len(counts), result.seconds)
    return result


def _write_note(config: Config, tracker: Any, campaign: str, folder: Path, counts: list[AuditCount],
                now: Callable[[], datetime] | None) -> tuple[str | None, str]:
    own = tracker is None
    if own:
        from ..plugins import open_tracker

        tracker = open_tracker(config)
    try:
        items = campaign_items(tracker, campaign, folder)
        epic = next((i for i in items if i.kind == "campaign"), None)
        if epic is None:
            return None, f"no note: campaign {campaign} has no epic in {tracker.describe()} (create it first)"
        keys = {i.ident: i.key for i in items}
        counts = [replace(c, key=c.key or keys.get(c.submission, "")) for c in counts]
        when = (now or (lambda: datetime.now(timezone.utc)))().replace(microsecond=0).isoformat()
        outcome = tracker.put_note(epic.key, texts.AUDIT_SLOT, texts.audit_doc(counts, when))
        log.info("%s: audit note %s", epic.key, outcome)
        return epic.key, outcome
    finally:
        if own:
            tracker.close()
