"""Read a campaign spec (YAML), check it thoroughly, and build the `Campaign` model."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import SpecError
from ..core.model import Campaign, Group, Step
from ..schema import Key, check_section
from .querycheck import check_query, combine_query
from .split import ButlerView, SplitContext, split_step
from ..yamlsrc import Located, load_located

__all__ = ["CAMPAIGN_KEYS", "STEP_KEYS", "RESOURCE_KEYS", "AUDIT_KEYS", "LoadedSpec", "load_spec"]

RESOURCE_KEYS: tuple[Key, ...] = (
    Key("requestMemory", "posint", "Memory per job, MB (BPS default 2048)."),
    Key("requestMemoryMax", "posint", "Ceiling for automatic memory increases, MB."),
    Key("memoryMultiplier", "number", "Factor applied to memory on each retry after running out."),
    Key("memoryLimit", "posint", "Hard cap on memory per job, MB."),
    Key("requestCpus", "posint", "Cores per job."),
    Key("requestWalltime", "posint", "Wall time per job, seconds."),
    Key("numberOfRetries", "int", "Automatic retries of a failed job."),
    Key("retryUnlessExit", "any", "Exit code (or list) that is never retried."),
)

_OVERRIDABLE: tuple[Key, ...] = (
    Key("site", "str", "Compute site (`computeSite`): SLAC, CC-IN2P3, LANCS, ... ."),
    Key("template", "str", "BPS template: `panda`, `htcondor`, or a path to a Jinja2 file, relative to the spec."),
    Key("input_collection", "str", "Input collection(s), comma-separated (`payload.inCollection`)."),
    Key("resources", "mapping", "BPS resource keys (see the resources table)."),
    Key("bps", "mapping", "Further BPS keys, written verbatim at the top level of the submit file."),
    Key("include_configs", "strlist", "Files for `includeConfigs`, e.g. a site's BPS defaults."),
)

STEP_KEYS: tuple[Key, ...] = (
    Key("name", "slug", "Step name (step1, step2a, ...); unique in the campaign.", required=True),
    Key("subset", "str", "Pipeline subset label appended as `#subset`; default: the step name."),
    Key("pipeline", "str", "Pipeline YAML for this step only, instead of the campaign's."),
    Key("after", "strlist", "Steps that must be done before this one is submitted.", default=[]),
    Key("query", "str", "Base data query (butler `where` expression) for every group of the step.", default=""),
    Key("split", "mapping", "How to split the inputs into groups (see split rules); default: one group."),
    Key("audit", "mapping", "What `jiracampaign audit` counts for the step: `{dataset: visit_summary}` (see audit keys)."),
) + _OVERRIDABLE

AUDIT_KEYS: tuple[Key, ...] = (
    Key("dataset", "str", "Dataset type each input has once processed, in the run's output collection "
        "(`visit_summary` for step1).", required=True),
    Key("dimension", "str", "The input dimension counted; default: the split's dimension for `ranges`, else `visit`."),
    Key("instrument", "str", "Instrument of the inputs; default: the `instrument = '...'` of the step's query."),
)

_INSTRUMENT = re.compile(r"\binstrument\s*=\s*'([^']+)'")

CAMPAIGN_KEYS: tuple[Key, ...] = (
    Key("campaign", "slug", "Campaign id: names the epic, every submission and every run.", required=True),
    Key("description", "str", "What the campaign is for; goes into the epic.", default=""),
    Key("operator", "str", "Who runs it (BPS `operator`).", required=True),
    Key("project", "str", "BPS `project` label, e.g. DP0.2.", default=""),
    Key("butler_repo", "str", "Butler repository (`payload.butlerConfig`).", required=True),
    Key("output_root", "str", "Root of the output collections; default `u/<operator>/<campaign>`."),
    Key("pipeline", "str", "Pipeline YAML, e.g. `$DRP_PIPE_DIR/pipelines/LSSTCam-imSim/DRP-test-med-1.yaml`.", required=True),
    Key("software", "str", "Software stack version or image tag (`LSST_VERSION`), e.g. w_2024_30.", required=True),
    Key("steps", "list", "The steps, in order.", required=True),
    *(Key(k.name, k.kind, k.help, required=(k.name in ("site", "input_collection")),
          default=("panda" if k.name == "template" else k.default)) for k in _OVERRIDABLE),
)


@dataclass(frozen=True)
class LoadedSpec:
    """A checked campaign and the groups of each step."""

    campaign: Campaign
    groups: dict[str, list[Group]]
    source: Located
    audits: dict[str, dict] = field(default_factory=dict)  # step -> {dataset, dimension, instrument} (`audit:`)


def _check_audit(src: Located, i: int, raw: dict, query: str) -> dict | None:
    """A step's ``audit`` mapping, checked, with its dimension and instrument filled in."""
    if raw["audit"] is None:
        return None
    path = ("steps", i, "audit")
    audit = check_section(src, path, raw["audit"], AUDIT_KEYS)
    split = raw["split"] if isinstance(raw["split"], dict) else {}
    if not audit["dimension"]:
        audit["dimension"] = (split.get("dimension") or "visit") if split.get("rule") == "ranges" else "visit"
    if not audit["instrument"]:
        found = _INSTRUMENT.search(query)
        if not found:
            raise src.fail(path, "expected the instrument of the inputs: add 'instrument: NAME' here, or "
                                 "instrument = 'NAME' to the step's query")
        audit["instrument"] = found.group(1)
    return audit


def _check_query(src: Located, path: tuple, query: str) -> None:
    problems = check_query(query)
    if problems:
        raise src.fail(path, problems[0])


def _check_group_queries(src: Located, i: int, step: Step, groups: list[Group],
                         parse: Callable[[str], list[str]] | None) -> None:
    """Check each group's whole data query, as it will be written; the first problem is the error.

    Our own rules first; then, when given, ``parse`` (the butler's parser and dimension universe).
    """
    if parse is not None and step.query and (problems := parse(step.query)):
        raise src.fail(("steps", i, "query"), f"the butler would refuse this query: {problems[0]}")
    where = ("steps", i, "split") if step.split.get("rule", "none") != "none" else ("steps", i, "query")
    if step.split.get("butler") is not None:
        parse = None  # the split has checked each query against the repository's own dimensions
    for g in groups:
        query = combine_query(step.query, g.clause)
        problems = check_query(query) or (parse(query) if parse is not None and query else [])
        if problems:
            raise src.fail(where, f"step {step.name}, group {g.index} of {g.count} ({g.label}): "
                                  f"the data query would fail in the butler: {problems[0]}")


def _check_order(src: Located, steps: list[dict]) -> None:
    index = {s["name"]: i for i, s in enumerate(steps)}
    for i, step in enumerate(steps):
        for j, dep in enumerate(step["after"]):
            if dep not in index:
                known = ", ".join(index)
                raise src.fail(("steps", i, "after", j), f"unknown step '{dep}' (steps are: {known})")
    done: set[str] = set()

    def visit(name: str, stack: list[str]) -> None:
        i = index[name]
        for j, dep in enumerate(steps[i]["after"]):
            if dep in stack or dep == name:
                cycle = (stack[stack.index(dep):] if dep in stack else []) + [name, dep]
                raise src.fail(("steps", i, "after", j), "steps form a cycle: " + " -> ".join(cycle))
            if dep not in done:
                visit(dep, stack + [name])
        done.add(name)

    for step in steps:
        if step["name"] not in done:
            visit(step["name"], [])


def _collections(text: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in (text or "").split(",") if c.strip())


def _given(values: dict) -> dict:
    return {k: v for k, v in values.items() if v is not None}


def _build_step(src: Located, i: int, raw: dict, top: dict, base_dir: Path) -> Step:
    path = ("steps", i)
    own = check_section(src, path + ("resources",), raw["resources"] or {}, RESOURCE_KEYS)
    resources = {k: v for k, v in {**top["resources"], **_given(own)}.items() if v is not None}
    bps = {**(top["bps"] or {}), **(raw["bps"] or {})}
    template = raw["template"] or top["template"]
    if template not in ("panda", "htcondor"):
        template = str((base_dir / template)) if not Path(template).is_absolute() else template
    pipeline = raw["pipeline"] or top["pipeline"]
    subset = raw["subset"] or raw["name"]
    if "#" in subset:
        raise src.fail(path + ("subset",), f"expected a subset label without '#', got {subset!r}")
    return Step(
        name=raw["name"],
        pipeline_yaml=f"{pipeline}#{subset}",
        after=tuple(raw["after"]),
        query=raw["query"].strip(),
        split=raw["split"] or {"rule": "none"},
        site=raw["site"] or top["site"],
        template=template,
        input_collection=raw["input_collection"] or top["input_collection"],
        resources=resources,
        bps=bps,
        include_configs=tuple(raw["include_configs"] or top["include_configs"] or ()),
    )


def load_spec(path: str | Path, text: str | None = None,
              open_butler: Callable[[str, list[str], str], ButlerView] | None = None,
              parse_query: Callable[[str], list[str]] | None = None) -> LoadedSpec:
    """Read and check a campaign spec.

    Parameters
    ----------
    path : `str` or `pathlib.Path`
        The spec file; relative id files and templates resolve against its folder.
    text : `str`, optional
        The spec content, when already read.
    open_butler : callable, optional
        ``open_butler(repo, collections, instrument)`` returns a `ButlerView`, for splits that read
        their inputs from the butler (`jiracampaign.services.inputs` passes one when the butler
        extra is installed); without it such a split is an error naming the extra.
    parse_query : callable, optional
        ``parse_query(where)`` returns every reason the butler's own parser rejects a data query
        (empty when none); each group's query is checked by it after our own rules.

    Returns
    -------
    spec : `LoadedSpec`
        The campaign and the groups of every step.

    Raises
    ------
    SpecError
        Naming file, line and field for any problem.
    """
    src = load_located(path, SpecError, text=text)
    raw_text = Path(path).read_bytes() if text is None else text.encode()
    if src.data is not None and not isinstance(src.data, dict):
        raise src.fail((), "expected a mapping of campaign keys at the top level")
    top = check_section(src, (), src.data, CAMPAIGN_KEYS)
    top["resources"] = _given(check_section(src, ("resources",), top["resources"] or {}, RESOURCE_KEYS))
    if not top["steps"]:
        raise src.fail(("steps",), "empty: a campaign needs at least one step")
    base_dir = Path(path).parent
    raw_steps = []
    for i, raw in enumerate(top["steps"]):
        step = check_section(src, ("steps", i), raw, STEP_KEYS)
        if step["name"] in [s["name"] for s in raw_steps]:
            raise src.fail(("steps", i, "name"), f"duplicate step name '{step['name']}'")
        _check_query(src, ("steps", i, "query"), step["query"])
        raw_steps.append(step)
    _check_order(src, raw_steps)
    steps = tuple(_build_step(src, i, s, top, base_dir) for i, s in enumerate(raw_steps))
    groups = {
        s.name: split_step(src, ("steps", i, "split"), raw_steps[i]["split"], base_dir,
                           SplitContext(s.name, s.query, top["butler_repo"], _collections(s.input_collection),
                                        open_butler))
        for i, s in enumerate(steps)
    }
    for i, s in enumerate(steps):
        _check_group_queries(src, i, s, groups[s.name], parse_query)
    campaign = Campaign(
        id=top["campaign"],
        description=top["description"],
        operator=top["operator"],
        project=top["project"],
        butler_repo=top["butler_repo"],
        input_collection=top["input_collection"],
        output_root=(top["output_root"] or f"u/{top['operator']}/{top['campaign']}").rstrip("/"),
        pipeline=top["pipeline"],
        software=top["software"],
        site=top["site"],
        steps=steps,
        spec_path=str(path),
        spec_sha256=hashlib.sha256(raw_text).hexdigest(),
    )
    audits = {s.name: a for i, s in enumerate(steps) if (a := _check_audit(src, i, raw_steps[i], s.query))}
    return LoadedSpec(campaign, groups, src, audits)


