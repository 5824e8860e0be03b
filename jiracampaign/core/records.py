"""Typed, versioned records: what a ticket stores about its campaign, step or submission, and its last sync.

Trackers store records as JSON (a JIRA issue property, a column of the local store) and hand them
back through `record_from_json`, which checks every field, so no module reads a dict by key. A
record without a ``version`` was written before versions existed; it has the layout of version 1.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

from ..errors import TrackerError

__all__ = ["RECORD_VERSION", "NO_RUN_ID", "RecordError", "RunIdentity", "StepInfo", "CampaignRecord", "StepRecord",
           "SubmissionRecord", "SyncRecord", "Record", "record_from_json", "current_sync"]

RECORD_VERSION = 1


class RecordError(TrackerError):
    """A stored record does not have the expected shape (written by hand, or by a newer jiracampaign)."""


def _check(kind: str, data: dict, name: str, types: tuple, required: bool = True) -> Any:
    if name not in data or data[name] is None:
        if required:
            raise RecordError(f"{kind} record: field '{name}' is missing")
        return None
    value = data[name]
    if not isinstance(value, types) or isinstance(value, bool) and bool not in types:
        wanted = " or ".join(t.__name__ for t in types)
        raise RecordError(f"{kind} record: field '{name}' should be {wanted}, not {type(value).__name__}")
    return value


def _text(kind: str, data: dict, name: str, required: bool = True) -> str | None:
    value = _check(kind, data, name, (str, int), required)
    return None if value is None else str(value)


#: what ``bps submit`` prints as the Run Id of a plugin that has none (Parsl): no id, not an id
NO_RUN_ID = ("None", "none", "null")


@dataclass(frozen=True)
class RunIdentity:
    """The BPS run a submission became: its name, id, workload system, submit folder and times.

    ``submitted`` is when ``bps submit`` started, ``returned`` when it returned (for Parsl, whose
    ``bps submit`` blocks, when the run ended); both ISO 8601, UTC. A run recorded by hand, or
    before ``returned`` existed, has only ``submitted``. ``run_id`` is `None` when the workload
    system gives none (Parsl prints ``Run Id: None``).
    """

    run_name: str
    run_id: str | None = None
    wms: str = ""
    submit_dir: str | None = None
    submitted: str | None = None  # ISO 8601, UTC: when bps submit started
    returned: str | None = None   # ISO 8601, UTC: when bps submit returned

    def __post_init__(self):
        if isinstance(self.run_id, str) and self.run_id.strip() in NO_RUN_ID + ("",):
            object.__setattr__(self, "run_id", None)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v}

    @classmethod
    def from_json(cls, data: Any) -> "RunIdentity":
        """The run as stored; a run id stored as the text ``None`` (Parsl runs, by earlier versions) reads as no id."""
        if not isinstance(data, dict):
            raise RecordError(f"run record: expected a mapping, not {type(data).__name__}")
        return cls(run_name=_text("run", data, "run_name"), run_id=_text("run", data, "run_id", False),
                   wms=_text("run", data, "wms", False) or "", submit_dir=_text("run", data, "submit_dir", False),
                   submitted=_text("run", data, "submitted", False), returned=_text("run", data, "returned", False))


@dataclass(frozen=True)
class StepInfo:
    """A step as the campaign record lists it: its name, the steps it follows, its group count."""

    name: str
    after: tuple[str, ...] = ()
    groups: int = 0


class _Record:
    KIND: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        out = {"type": self.KIND, "version": RECORD_VERSION}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            out[item.name] = value.to_json() if hasattr(value, "to_json") else value
        return out


@dataclass
class CampaignRecord(_Record):
    """Kept with a campaign's epic."""

    KIND: ClassVar[str] = "campaign"
    campaign: str
    spec_sha256: str = ""
    steps: list[StepInfo] = field(default_factory=list)
    text_sha: str = ""

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["steps"] = [{"name": s.name, "after": list(s.after), "groups": s.groups} for s in self.steps]
        return out

    def step(self, name: str) -> StepInfo | None:
        return next((s for s in self.steps if s.name == name), None)

    @classmethod
    def from_json(cls, data: dict) -> "CampaignRecord":
        steps = _check("campaign", data, "steps", (list,), False) or []
        infos = []
        for raw in steps:
            if not isinstance(raw, dict):
                raise RecordError("campaign record: each of 'steps' should be a mapping")
            after = _check("campaign", raw, "after", (list,), False) or []
            infos.append(StepInfo(_text("campaign", raw, "name"), tuple(map(str, after)),
                                  _check("campaign", raw, "groups", (int,), False) or 0))
        return cls(campaign=_text("campaign", data, "campaign"), spec_sha256=_text("campaign", data, "spec_sha256", False) or "",
                   steps=infos, text_sha=_text("campaign", data, "text_sha", False) or "")


@dataclass
class StepRecord(_Record):
    """Kept with a step ticket (in the sub-task hierarchy)."""

    KIND: ClassVar[str] = "step"
    campaign: str
    step: str

    @classmethod
    def from_json(cls, data: dict) -> "StepRecord":
        return cls(campaign=_text("step", data, "campaign"), step=_text("step", data, "step"))


@dataclass
class SubmissionRecord(_Record):
    """Kept with a submission ticket: enough to rebuild the campaign, and the run once submitted."""

    KIND: ClassVar[str] = "submission"
    campaign: str
    submission: str
    step: str
    group: int
    groups: int
    data_query: str
    inputs: int | None
    output_run: str
    run_name: str
    file: str
    sha256: str | None = None
    label: str = ""            # the group, in words (``visit 159471..160510``)
    pipeline: str = ""
    input_collection: str = ""
    site: str = ""
    attempt: int = 1
    run: RunIdentity | None = None
    text_sha: str = ""
    rescues: str = ""          # attempt 2 onwards: the submission id of the attempt it follows
    changes: list[str] = field(default_factory=list)  # what the rescue changed from that attempt, in words

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        if self.run is None:
            del out["run"]
        for name in ("rescues", "changes"):  # attempt-1 records keep their earlier shape
            if not out[name]:
                del out[name]
        return out

    @classmethod
    def from_json(cls, data: dict) -> "SubmissionRecord":
        k = "submission"
        run = data.get("run")
        return cls(campaign=_text(k, data, "campaign"), submission=_text(k, data, "submission"),
                   step=_text(k, data, "step"), group=_check(k, data, "group", (int,)),
                   groups=_check(k, data, "groups", (int,)), data_query=_text(k, data, "data_query", False) or "",
                   inputs=_check(k, data, "inputs", (int,), False), output_run=_text(k, data, "output_run", False) or "",
                   run_name=_text(k, data, "run_name", False) or "", file=_text(k, data, "file"),
                   sha256=_text(k, data, "sha256", False), label=_text(k, data, "label", False) or "",
                   pipeline=_text(k, data, "pipeline", False) or "",
                   input_collection=_text(k, data, "input_collection", False) or "",
                   site=_text(k, data, "site", False) or "", attempt=_check(k, data, "attempt", (int,), False) or 1,
                   run=RunIdentity.from_json(run) if run else None, text_sha=_text(k, data, "text_sha", False) or "",
                   rescues=_text(k, data, "rescues", False) or "",
                   changes=[str(c) for c in _check(k, data, "changes", (list,), False) or []])


Record = Union[CampaignRecord, StepRecord, SubmissionRecord]
_KINDS = {cls.KIND: cls for cls in (CampaignRecord, StepRecord, SubmissionRecord)}


def record_from_json(data: Any) -> Record:
    """The record stored with a ticket, checked.

    Raises
    ------
    RecordError
        Not a mapping, an unknown type, a newer version, or a field of the wrong type.
    """
    if not isinstance(data, dict):
        raise RecordError(f"expected a record (a mapping), not {type(data).__name__}")
    version = data.get("version", 1)
    if not isinstance(version, int) or version > RECORD_VERSION:
        raise RecordError(f"record version {version!r} is newer than this jiracampaign understands "
                          f"({RECORD_VERSION}): upgrade jiracampaign")
    kind = data.get("type", "submission")
    if kind not in _KINDS:
        raise RecordError(f"unknown record type {kind!r} (expected one of {', '.join(_KINDS)})")
    return _KINDS[kind].from_json(data)


@dataclass(kw_only=True)
class SyncRecord:
    """What sync last wrote for a submitted run; each submission ticket keeps its own."""

    source: str            # the status source following the run ("" when none does)
    run_name: str
    run_id: str | None = None
    wms: str = ""          # the workload system it runs on
    submitted: str | None = None
    digest: str | None = None
    state: str = ""        # BatchState value last written to the ticket ("" before the first sync)
    status: str = ""       # what the tracker shows for it (a workflow status on JIRA)
    total: int = 0
    finished: int = 0
    failed: int = 0
    failures: str = ""     # signature of the failure summary last posted
    changed_at: str = ""   # when sync last saw the run change (UTC)
    running: int | None = None
    submit_dir: str = ""   # BPS's submit directory, where HTCondor and Parsl runs are read from
    returned: str | None = None  # when bps submit returned (for Parsl: when the run ended)
    failed_tasks: str = ""  # task labels with failures, comma-separated (what ``rescue --memory`` raises)
    advice: str = ""        # the rescue the known-errors table advises, as ``rescue`` options (``--memory x2``)
    verdict: str = ""       # an operator's or a later attempt's decision (`Verdict`); the run is then no longer followed
    verdict_reason: str = ""
    notes: str = ""         # ids of the living notes sync keeps on the item: ``slot=id`` joined by ``;``

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(SyncRecord)} | {"version": RECORD_VERSION}

    @classmethod
    def from_json(cls, data: Any) -> "SyncRecord | None":
        """The record, or `None` when there is none or it cannot be read (the run is then synced afresh)."""
        if not isinstance(data, dict) or not data.get("run_name"):
            return None
        values = {}
        for item in dataclasses.fields(SyncRecord):
            value = data.get(item.name)
            if value is None:
                continue
            wanted = int if item.name in _SYNC_COUNTS else str
            if not isinstance(value, wanted) or isinstance(value, bool):
                return None
            values[item.name] = value
        try:
            return cls(**values)
        except TypeError:
            return None


_SYNC_COUNTS = {"total", "finished", "failed", "running"}


def current_sync(record: Record, synced: SyncRecord | None) -> SyncRecord | None:
    """What sync last wrote about ``record``'s run: `None` when it was never submitted or synced, or when the
    sync record is about an earlier run of the same ticket (a resubmission starts afresh)."""
    run = record.run if isinstance(record, SubmissionRecord) else None
    if run is None or not run.run_name or synced is None or synced.run_name != run.run_name:
        return None
    return synced
