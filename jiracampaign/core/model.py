"""The campaign model: what a campaign, a step, a group and a submission are, free of any service."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Campaign", "Step", "Group", "Submission", "submission_id", "group_output"]


@dataclass(frozen=True)
class Group:
    """One slice of a step's inputs.

    Parameters
    ----------
    index : `int`
        1-based position within the step.
    count : `int`
        Number of groups in the step.
    clause : `str`
        Data-query clause selecting this group (empty for an unsplit step).
    inputs : `int` or `None`
        Number of inputs (ids, values or days) in the group; `None` when unknown.
    label : `str`
        Short human description (``visit 159471..160510``).
    """

    index: int
    count: int
    clause: str
    inputs: int | None
    label: str


@dataclass(frozen=True)
class Step:
    """One pipeline step of a campaign (a pipeline subset run over split inputs).

    ``input_collection`` is the whole comma-separated search path the step reads (``inCollection``):
    for a step with ``inputs_from``, the output collections of those earlier steps' groups come first,
    then the step's own input collection. ``after`` includes the steps of ``inputs_from``.
    """

    name: str
    pipeline_yaml: str
    after: tuple[str, ...]
    query: str
    split: dict[str, Any]
    site: str
    template: str
    input_collection: str
    resources: dict[str, Any]
    bps: dict[str, Any]
    include_configs: tuple[str, ...]
    inputs_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class Campaign:
    """A campaign as its spec describes it."""

    id: str
    description: str
    operator: str
    project: str
    butler_repo: str
    input_collection: str
    output_root: str
    pipeline: str
    software: str
    site: str
    steps: tuple[Step, ...]
    spec_path: str = ""
    spec_sha256: str = ""

    def step(self, name: str) -> Step:
        """Return the step called ``name``."""
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)


def submission_id(campaign: str, step: str, index: int) -> str:
    """Deterministic submission id: ``<campaign>_<step>_<index:03d>``."""
    return f"{campaign}_{step}_{index:03d}"


def group_output(output_root: str, step: str, index: int) -> str:
    """A group's output (CHAINED) collection: ``<output_root>/<step>/group<index:03d>``.

    Its runs are ``<output>/attempt<n>``; once a run's final job has run, the chain holds that run and
    the inputs the run read.
    """
    return f"{output_root}/{step}/group{index:03d}"


@dataclass
class Submission:
    """One BPS submission: one step applied to one group, rendered to one YAML file."""

    id: str
    campaign: str
    step: str
    group: Group
    data_query: str
    pipeline_yaml: str
    output: str
    output_run: str
    run_name: str
    site: str
    file: str
    yaml_text: str = ""  # rendered once; the ticket key is stamped into the header when the file is written
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """Summary line, as a ticket would carry it: ``dp02 step1 group 3/40``."""
        return f"{self.campaign} {self.step} group {self.group.index}/{self.group.count}"
