"""Attempts of one group, and the decisions that settle a run whatever its state.

A group of a step (``step1`` group 3) is submitted as attempt 1; ``rescue`` makes attempt 2 from it,
and so on, each a submission of its own whose record names the attempt it follows (``rescues``).
A group counts once, by its latest attempt. An operator can settle a run with a `Verdict`; sync
closes an attempt as rescued once a later one succeeds or is accepted.
"""

from __future__ import annotations

import enum
from typing import Iterable, Sequence, TypeVar

from .records import SubmissionRecord

__all__ = ["Verdict", "SETTLING", "SETTLED", "GroupKey", "group_key", "by_group", "attempt_ident", "first_ident", "attempt_run",
           "earlier"]


class Verdict(str, enum.Enum):
    """A decision on one attempt's run, kept with its sync record; the run is no longer followed after it."""

    ACCEPTED = "accepted"                # a partial or failed run's outputs are kept as they are
    REJECTED = "rejected"                # its outputs are not used: not by the next step, not by later attempts
    FORCE_COMPLETED = "force-completed"  # declared complete by an operator, whatever its state
    RESCUED = "rescued"                  # a later attempt succeeded or was accepted (set by sync)

    def __str__(self) -> str:
        return self.value


#: verdicts that settle a group for the views: it counts as its verdict, not as its run's state
SETTLED = (Verdict.REJECTED.value, Verdict.ACCEPTED.value, Verdict.FORCE_COMPLETED.value)

#: verdicts that let the steps after the group go on (a rejected group is left out of what they read)
SETTLING = frozenset({Verdict.ACCEPTED, Verdict.FORCE_COMPLETED, Verdict.REJECTED, Verdict.RESCUED})

GroupKey = tuple[str, int]  # (step, group)
T = TypeVar("T")


def group_key(record: SubmissionRecord) -> GroupKey:
    return record.step, record.group


def by_group(pairs: Iterable[tuple[SubmissionRecord, T]]) -> dict[GroupKey, list[T]]:
    """Things keyed by their submission record's group, each group's list in attempt order (latest last)."""
    groups: dict[GroupKey, list[tuple[int, str, T]]] = {}
    for record, thing in pairs:
        groups.setdefault(group_key(record), []).append((record.attempt, record.submission, thing))
    return {k: [t for _, _, t in sorted(v, key=lambda x: (x[0], x[1]))] for k, v in groups.items()}


def attempt_ident(first: str, attempt: int) -> str:
    """The submission id of an attempt: the first attempt's id, then ``<id>-a2``, ``<id>-a3``..."""
    return first if attempt <= 1 else f"{first}-a{attempt}"


def first_ident(ident: str, attempt: int) -> str:
    """The first attempt's submission id, from any attempt's."""
    suffix = f"-a{attempt}"
    return ident[: -len(suffix)] if attempt > 1 and ident.endswith(suffix) else ident


def attempt_run(name: str, attempt: int, sep: str) -> str:
    """A run name or collection for ``attempt``: its ``attempt<N>`` ending replaced (``.../attempt1`` ->
    ``.../attempt2``, ``u_x_step1_group001_attempt1`` -> ``..._attempt2``), else ``<sep>attempt<N>`` added."""
    head, found, tail = name.rpartition("attempt")
    if found and tail.isdigit() and (not head or head.endswith(sep)):
        return f"{head}attempt{attempt}"
    return f"{name}{sep}attempt{attempt}"


def earlier(records: Sequence[SubmissionRecord], record: SubmissionRecord) -> list[SubmissionRecord]:
    """The attempts of ``record``'s group before it, latest first."""
    return sorted((r for r in records if group_key(r) == group_key(record) and r.attempt < record.attempt),
                  key=lambda r: -r.attempt)
