"""``panda``: where named runs stand on the PanDA monitor, with every detail."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from ..config import Config
from ..core.runs import RunRef, RunStatus
from ..core.states import BatchState
from ..plugins import open_source

__all__ = ["PandaResult", "panda_status"]


@dataclass
class PandaResult:
    statuses: list[RunStatus] = field(default_factory=list)
    requests: int = 0

    @property
    def missing(self) -> list[str]:
        return [s.name for s in self.statuses if s.state is BatchState.UNKNOWN]


def panda_status(config: Config, runs: Sequence[str], days: int | None = None,
                 refs: Sequence[RunRef] = ()) -> PandaResult:
    """Every detail of each run (a run name in any case, or a numeric Run Id), and of ``refs`` (runs a
    campaign's tickets record)."""
    if days:
        config.set("panda.days", days, "--days")
    source = open_source("panda", config)
    refs = list(refs) + [RunRef(name=r, run_id=r) if r.isdigit() else RunRef(name=r) for r in runs]
    try:
        return PandaResult(source.statuses(refs, detail="all"), source.requests_made)
    finally:
        source.close()
