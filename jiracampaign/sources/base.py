"""The status-source interface: ask about many runs at once, get one `RunStatus` each."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Sequence

from ..core.runs import RunRef, RunStatus

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config

__all__ = ["StatusSource"]


class StatusSource(abc.ABC):
    """Something that knows how BPS runs are doing.

    A source answers for all runs in one call so it can plan its requests (one bulk query, details
    only where something changed). It never raises for a single run it cannot find: that run comes
    back `~jiracampaign.core.states.BatchState.UNKNOWN` with a message. It raises
    `~jiracampaign.errors.SourceError` only when it cannot answer at all.
    """

    #: short name recorded in the sync ledger (``panda``)
    name: str = ""
    #: display name in ticket texts (``PanDA``)
    label: str = ""
    #: workload systems whose runs it follows (``wmsServiceClass`` short names: ``panda``, ``htcondor``)
    handles: tuple[str, ...] = ()
    #: setting sections it declares (built-in sources declare theirs in a light module)
    settings: tuple = ()

    @classmethod
    @abc.abstractmethod
    def from_config(cls, config: "Config", **kwargs) -> "StatusSource":
        """Build the source from the effective configuration."""

    @abc.abstractmethod
    def statuses(self, runs: Sequence[RunRef], detail: str = "changed") -> list[RunStatus]:
        """One `RunStatus` per run, in order.

        ``detail``: ``changed`` reads tasks and failures only for runs whose digest differs from
        `RunRef.digest`; ``all`` reads them for every run; ``none`` never.
        """

    @abc.abstractmethod
    def ping(self) -> str:
        """A one-line description of the source and whether it answers (raises when it does not)."""

    @property
    def requests_made(self) -> int:
        """Requests sent so far by this source object (for reports and benchmarks)."""
        return 0

    def close(self) -> None:
        """Release connections."""
