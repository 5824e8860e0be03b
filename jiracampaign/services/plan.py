"""``plan``: render a campaign's BPS files into its folder, touching nothing else."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..config import Config
from ..planning.plan import Plan, build_plan, manifest_tickets, write_plan
from .inputs import load_spec
from .items import folder_for

__all__ = ["PlanResult", "plan"]

log = logging.getLogger(__name__)


@dataclass
class PlanResult:
    plan: Plan
    folder: Path

    def rows(self) -> list[dict]:
        return [{"id": s.id, "step": s.step, "group": f"{s.group.index}/{s.group.count}", "inputs": s.group.inputs,
                 "data_query": s.data_query, "file": s.file, "run_name": s.run_name, "sha256": self.plan.file_sha(s)}
                for s in self.plan.submissions]


def plan(config: Config, spec_path: str, output_dir: str | None = None, force: bool = False) -> PlanResult:
    """Plan the campaign of ``spec_path`` and write its folder (ticket keys kept from an earlier ``create``)."""
    spec = load_spec(spec_path)
    folder = folder_for(config.get("campaigns_dir"), output_dir, spec.campaign.id)
    result = build_plan(spec, tickets=manifest_tickets(folder))
    write_plan(result, folder, force=force)
    log.info("planned %d submissions of %s in %s", len(result.submissions), spec.campaign.id, folder)
    return PlanResult(result, folder)
