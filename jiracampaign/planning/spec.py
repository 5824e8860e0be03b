"""Read a campaign spec (YAML), check it thoroughly, and build the `Campaign` model."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import SpecError
from ..core.model import Campaign, Group, Step, group_output
from ..schema import Key, check_section
from .querycheck import check_query, combine_query
from .split import ButlerView, SplitContext, split_step
from ..yamlsrc import Located, load_located

__all__ = ["CAMPAIGN_KEYS", "STEP_KEYS", "RESOURCE_KEYS", "AUDIT_KEYS", "LoadedSpec", "load_spec",
           "chained_collections", "ChainGroups"]

log = logging.getLogger(__name__)

ChainGroups = Callable[[str, list[Group]], list[Group]]
"""``chain_groups(step, groups)``: which of an earlier step's groups a chained step reads from."""

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
    Key("include_configs", "strlist", "Files for `includeConfigs`, e.g. a site's BPS defaults; a relative "
        "path is relative to the spec."),
)

STEP_KEYS: tuple[Key, ...] = (
    Key("name", "slug", "Step name (step1, step2a, ...); unique in the campaign.", required=True),
    Key("subset", "str", "Pipeline subset label appended as `#subset`; default: the step name."),
    Key("pipeline", "str", "Pipeline YAML for this step only, instead of the campaign's."),
    Key("after", "strlist", "Steps that must be done before this one is submitted.", default=[]),
    Key("inputs_from", "strlist", "Earlier steps whose outputs this step reads: their groups' output "
        "collections come first in `inCollection`, newest step first, then `input_collection`; "
        "implies `after`.", default=[]),
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


def _deps(step: dict) -> list[tuple[str, str, int]]:
    """What a step runs after, as ``(step, key, index)``: its ``after``, then its ``inputs_from``."""
    return ([(dep, "after", j) for j, dep in enumerate(step["after"])]
            + [(dep, "inputs_from", j) for j, dep in enumerate(step["inputs_from"])])


def _check_inputs_from(src: Located, steps: list[dict]) -> None:
    """Each step of ``inputs_from`` is listed before the step that reads it, and only once."""
    index = {s["name"]: i for i, s in enumerate(steps)}
    for i, step in enumerate(steps):
        for j, dep in enumerate(step["inputs_from"]):
            path = ("steps", i, "inputs_from", j)
            if dep == step["name"]:
                raise src.fail(path, f"step {dep} cannot read its own outputs; name an earlier step")
            if dep in step["inputs_from"][:j]:
                raise src.fail(path, f"step {dep} is listed twice")
            if dep in index and index[dep] > i:
                raise src.fail(path, f"step {dep} comes after {step['name']} in steps; a step can only read the "
                                     f"outputs of a step listed before it")


def _check_order(src: Located, steps: list[dict]) -> None:
    index = {s["name"]: i for i, s in enumerate(steps)}
    for i, step in enumerate(steps):
        for dep, key, j in _deps(step):
            if dep not in index:
                known = ", ".join(index)
                raise src.fail(("steps", i, key, j), f"unknown step '{dep}' (steps are: {known})")
    done: set[str] = set()

    def visit(name: str, stack: list[str]) -> None:
        i = index[name]
        for dep, key, j in _deps(steps[i]):
            if dep in stack or dep == name:
                cycle = (stack[stack.index(dep):] if dep in stack else []) + [name, dep]
                raise src.fail(("steps", i, key, j), "steps form a cycle: " + " -> ".join(cycle))
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


def _merged(campaign: dict, given: Any, checked: dict) -> dict:
    """A step's ``resources`` or ``bps`` merged key by key over the campaign's.

    ``given`` is the step's mapping as written: a key set to null drops the campaign's value; the
    whole mapping set to null drops them all.
    """
    if given is None:
        return {}
    dropped = {k for k, v in given.items() if v is None}
    merged = {**campaign, **{k: v for k, v in checked.items() if v is not None}}
    return {k: v for k, v in merged.items() if k not in dropped and v is not None}


def _include_path(name: str, base_dir: Path) -> str:
    """A file for ``includeConfigs``: a relative path is made absolute against the spec's folder (bps
    would look for it beside the submit file or in its working folder); a path starting with an
    environment variable (``${CTRL_BPS_PANDA_DIR}/...``) or a URI is kept as written."""
    if name.startswith(("$", "~")) or "://" in name or Path(name).is_absolute():
        return name
    return str((base_dir / name).resolve())


_NOT_CLEARED = {"site": "a compute site", "template": "a template", "pipeline": "a pipeline"}


def _build_step(src: Located, i: int, raw: dict, given: dict, top: dict, base_dir: Path) -> Step:
    """A step from its checked keys (``raw``) and its mapping as written (``given``, to tell a key set to
    null, which clears the campaign's value, from a key left out, which keeps it)."""
    path = ("steps", i)
    cleared = {k for k, v in given.items() if v is None}
    for key, what in _NOT_CLEARED.items():
        if key in cleared:
            raise src.fail(path + (key,), f"cannot be cleared: every submission needs {what}; leave the key out "
                                          f"to use the campaign's ({top[key]})")
    if "input_collection" in cleared and not raw["inputs_from"]:
        raise src.fail(path + ("input_collection",), "cannot be cleared without inputs_from: the step would read "
                                                     "no collection")
    own = check_section(src, path + ("resources",), raw["resources"] or {}, RESOURCE_KEYS)
    resources = _merged(top["resources"], given.get("resources", {}), own)
    bps = _merged(top["bps"], given.get("bps", {}), raw["bps"] or {})
    template = raw["template"] or top["template"]
    if template not in ("panda", "htcondor"):
        template = str((base_dir / template)) if not Path(template).is_absolute() else template
    pipeline = raw["pipeline"] or top["pipeline"]
    subset = raw["subset"] or raw["name"]
    if "#" in subset:
        raise src.fail(path + ("subset",), f"expected a subset label without '#', got {subset!r}")
    collections = _collections(raw["input_collection"] or top["input_collection"])
    if not collections and "input_collection" not in cleared:
        where = path + ("input_collection",) if raw["input_collection"] else ("input_collection",)
        raise src.fail(where, "expected at least one collection name (comma-separated), got none")
    include = [_include_path(f, base_dir) for f in
               ((raw["include_configs"] if "include_configs" in given else top["include_configs"]) or ())]
    return Step(
        name=raw["name"],
        pipeline_yaml=f"{pipeline}#{subset}",
        after=tuple(dict.fromkeys([*raw["after"], *raw["inputs_from"]])),
        query=raw["query"].strip(),
        split=raw["split"] or {"rule": "none"},
        site=raw["site"] or top["site"],
        template=template,
        input_collection="" if "input_collection" in cleared else ",".join(collections),
        resources=resources,
        bps=bps,
        include_configs=tuple(include),
        inputs_from=tuple(raw["inputs_from"]),
    )


def chained_collections(output_root: str, sources: Sequence[tuple[str, Sequence[Group]]],
                        base: Sequence[str]) -> tuple[str, ...]:
    """The input collections of a step that reads earlier steps' outputs, in butler search order.

    Parameters
    ----------
    output_root : `str`
        The campaign's root of output collections.
    sources : sequence of (`str`, sequence of `Group`)
        Each step to read and the groups of it to read, the newest step (the latest in the campaign)
        first: the groups given are all the step's (`load_spec`'s ``chain_groups`` may leave some out).
    base : sequence of `str`
        The step's own input collections, searched last.

    Returns
    -------
    collections : `tuple` of `str`
        Each group's output collection (its run, then the inputs that run read), step by step, then
        ``base``; a collection named twice is kept at its first place.
    """
    outputs = [group_output(output_root, step, g.index) for step, groups in sources for g in groups]
    return tuple(dict.fromkeys([*outputs, *base]))


def _chain(src: Located, i: int, step: Step, steps: list[Step], groups: dict[str, list[Group]],
           output_root: str, chain_groups: ChainGroups | None) -> Step:
    """``step`` with its input collections preceded by the outputs of its ``inputs_from`` steps."""
    order = [s.name for s in steps]
    sources = [(name, chain_groups(name, list(groups[name])) if chain_groups else groups[name])
               for name in sorted(step.inputs_from, key=order.index, reverse=True)]
    collections = chained_collections(output_root, sources, _collections(step.input_collection))
    if not collections:
        raise src.fail(("steps", i, "inputs_from"), "no collection to read: no group of "
                                                    f"{', '.join(step.inputs_from)} is left to read from")
    log.debug("step %s reads %d collections (%s first)", step.name, len(collections), collections[0])
    return replace(step, input_collection=",".join(collections))


def load_spec(path: str | Path, text: str | None = None,
              open_butler: Callable[[str, list[str], str], ButlerView] | None = None,
              parse_query: Callable[[str], list[str]] | None = None,
              chain_groups: ChainGroups | None = None) -> LoadedSpec:
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
    chain_groups : callable, optional
        ``chain_groups(step, groups)`` returns the groups of an earlier step that a step with
        ``inputs_from`` reads (the plug point for leaving out groups whose outputs were rejected);
        default: all of them.

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
    _check_inputs_from(src, raw_steps)
    _check_order(src, raw_steps)
    output_root = (top["output_root"] or f"u/{top['operator']}/{top['campaign']}").rstrip("/")
    top["bps"] = {k: v for k, v in (top["bps"] or {}).items() if v is not None}
    steps = [_build_step(src, i, s, top["steps"][i], top, base_dir) for i, s in enumerate(raw_steps)]
    groups = {
        s.name: split_step(src, ("steps", i, "split"), raw_steps[i]["split"], base_dir,
                           SplitContext(s.name, s.query, top["butler_repo"],
                                        _collections(s.input_collection or top["input_collection"]), open_butler))
        for i, s in enumerate(steps)
    }
    for i, s in enumerate(steps):
        if s.inputs_from:
            steps[i] = _chain(src, i, s, steps, groups, output_root, chain_groups)
    for i, s in enumerate(steps):
        _check_group_queries(src, i, s, groups[s.name], parse_query)
    campaign = Campaign(
        id=top["campaign"],
        description=top["description"],
        operator=top["operator"],
        project=top["project"],
        butler_repo=top["butler_repo"],
        input_collection=top["input_collection"],
        output_root=output_root,
        pipeline=top["pipeline"],
        software=top["software"],
        site=top["site"],
        steps=tuple(steps),
        spec_path=str(path),
        spec_sha256=hashlib.sha256(raw_text).hexdigest(),
    )
    audits = {s.name: a for i, s in enumerate(steps) if (a := _check_audit(src, i, raw_steps[i], s.query))}
    return LoadedSpec(campaign, groups, src, audits)


