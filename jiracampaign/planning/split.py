"""Split rules: turn a step's inputs into groups that cover every input exactly once.

Every rule returns a list of `Group`; each group's clause is combined with the step's base
query by the planner. Without a butler to ask, a clause selects exactly the inputs the spec
lists: ids that follow each other become a range, the others are listed (`exact_clause`), and a
half-open range across a gap is rendered only when the spec declares the list ``complete``.
The ``ranges`` and ``dates`` rules read their inputs from a *source*: ``values``, ``file``, or
``butler`` (a query of the data butler, opened by the service that plans: planning only sees plain
id lists, through the `SplitContext` it is given). With a butler, the planner knows every id the
repository has, so a range may skip across ids that exist but are not wanted only when none does:
a group's clause selects exactly its inputs given everything in the repository.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from ..errors import SpecError
from ..core.model import Group
from ..schema import Key, check_section, date_problem
from ..yamlsrc import Located
from .querycheck import INTEGER_DIMENSIONS, MAX_ID, MAX_TERMS, STRING_DIMENSIONS, check_query, combine_query, query_problem

__all__ = ["RULES", "RULE_KEYS", "split_step", "balanced_chunks", "query_problem", "render_value", "parse_id",
           "exact_clause", "in_clause", "BUTLER_HINT", "BUTLER_KEYS", "ENABLE_BUTLER", "ButlerView", "SplitContext"]

ENABLE_BUTLER = "install the butler extra: pip install 'jiracampaign[butler]'"
BUTLER_HINT = "a split source that reads the inputs from a butler ('butler:', with the butler extra)"


class ButlerView(Protocol):
    """What the planner asks a data butler; the service that plans passes one (`sources.butler`)."""

    def ids(self, dimension: str = "visit", where: str = "") -> list[int]: ...

    def dataset_ids(self, dataset_type: str, dimension: str = "visit", where: str = "") -> list[int]: ...

    def ids_by_night(self, dimension: str = "visit", where: str = "") -> dict[int, list[int]]: ...

    def ids_by_tract(self, skymap: str, dimension: str = "visit", where: str = "") -> dict[int, list[int]]: ...

    def check_query(self, where: str, dimensions: Any = ("visit",), **governors: Any) -> list[str]: ...


@dataclass(frozen=True)
class SplitContext:
    """What a split rule may need beyond its own keys.

    ``open_butler(repo, collections, instrument)`` returns a `ButlerView` (or raises); `None`
    when the butler extra is not installed. ``query`` is the step's base query.
    """

    step: str = ""
    query: str = ""
    repo: str = ""
    collections: tuple[str, ...] = ()
    open_butler: Callable[[str, list[str], str], ButlerView] | None = None


def balanced_chunks(items: list, size: int) -> list[list]:
    """Cut ``items`` into the fewest chunks of at most ``size``, sizes differing by at most one."""
    if not items:
        return []
    count = math.ceil(len(items) / size)
    base, extra = divmod(len(items), count)
    chunks, start = [], 0
    for i in range(count):
        end = start + base + (1 if i < extra else 0)
        chunks.append(items[start:end])
        start = end
    return chunks


def render_value(value: Any) -> str:
    """A literal in the butler query language: integers bare, strings single-quoted."""
    if isinstance(value, bool):
        raise ValueError("true/false is not a data-ID value")
    if isinstance(value, int):
        return str(value)
    return "'" + str(value) + "'"


_DIGITS = re.compile(r"[0-9]+")


def parse_id(text: str, dim: str) -> int:
    """An id written as ASCII digits, within 64 bits; `ValueError` saying what was expected otherwise."""
    if not _DIGITS.fullmatch(text):
        sign = " (ids are never negative)" if re.fullmatch(r"-[0-9]+", text) else ""
        raise ValueError(f"expected a {dim} id written with the digits 0-9 only{sign}, got {text!r}")
    value = int(text)
    if value > MAX_ID:
        raise ValueError(f"{dim} id {text} does not fit in 64 bits (the largest is {MAX_ID})")
    return value


def _runs(values: list[int], step: Callable[[int], int]) -> list[tuple[int, int]]:
    """Sorted values as (first, last) runs where each value is ``step`` of the one before."""
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and step(runs[-1][1]) == v:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs


def exact_clause(dim: str, values: list[int], step: Callable[[int], int] = lambda v: v + 1) -> tuple[str, int]:
    """A clause selecting exactly ``values`` (sorted): runs as half-open ranges, lone values listed.

    Returns the clause and its number of terms (listed values plus ranges), which bounds the
    depth of the expression the butler builds from it. Beyond two ranges the runs are written as
    one ``IN`` of range literals (`in_clause`): the butler rewrites an ``OR`` of *n* ranges as
    2**n terms (10 fail on SQLite, 9 take seconds to plan).
    """
    runs = _runs(values, step)
    if len(runs) == 1:
        first, last = runs[0]
        return f"{dim} >= {first} AND {dim} < {step(last)}", 1
    lone = [a for a, b in runs if a == b]
    spans = [(a, b) for a, b in runs if a != b]
    if len(spans) > 2:  # the butler's normal form makes 2**n terms of an OR of n ranges: one IN instead
        return in_clause(dim, values, step)
    parts = [f"({dim} >= {a} AND {dim} < {step(b)})" for a, b in spans]
    if lone:
        parts.append(f"{dim} = {lone[0]}" if len(lone) == 1 else f"{dim} IN ({', '.join(map(str, lone))})")
    return " OR ".join(parts), len(lone) + len(spans)


def in_clause(dim: str, values: list[int], step: Callable[[int], int]) -> tuple[str, int]:
    """Like `exact_clause`, with the runs as inclusive range literals of one ``IN`` (``a..b``).

    The butler turns a where clause into conjunctive normal form: an ``OR`` of *n* ``>= AND <``
    ranges becomes 2**n terms, while ``visit IN (a..b, c, d..e)`` stays one list of *n* items
    (900 ranges run on SQLite with ``detector`` joined). Returns the clause and its number of items.
    """
    runs = _runs(values, step)
    if len(runs) == 1:
        first, last = runs[0]
        return (f"{dim} = {first}" if first == last else f"{dim} >= {first} AND {dim} <= {last}"), 1
    return f"{dim} IN ({', '.join(str(a) if a == b else f'{a}..{b}' for a, b in runs)})", len(runs)


_RULE = Key("rule", "str", "Which split rule: none, values, ranges, dates or tracts.", required=True,
            choices=("none", "values", "ranges", "dates", "tracts"))
_MAX = Key("max_per_group", "posint", "Largest group allowed, in inputs (values, ids or nights); "
           "`plan` fails naming any group above it.")
_BUTLER = Key("butler", "mapping", "Read the inputs from the data butler (`butler_repo`) instead of a list: "
              "the keys of the butler table. Needs the butler extra.")

BUTLER_KEYS: tuple[Key, ...] = (
    Key("instrument", "str", "Instrument every butler query is constrained to (LSSTCam, LSSTCam-imSim, ...); "
        "default: the `instrument = '...'` of the step's query or of `where`."),
    Key("where", "str", "Butler `where` clause selecting the inputs (with the step's `query`); it becomes part "
        "of each group's data query.", default=""),
    Key("dataset", "str", "Only inputs that have this dataset type in the collections (e.g. `raw`, found by "
        "exposure)."),
    Key("collections", "strlist", "Collections searched for `dataset`; default: the step's `input_collection`."),
    Key("dimension", "str", "What one input is (dates rule): visit or exposure; ranges use the rule's dimension.",
        default="visit"),
)

RULE_KEYS: dict[str, tuple[Key, ...]] = {
    "none": (_RULE, _MAX),
    "values": (
        _RULE,
        Key("dimension", "str", "Data-ID dimension the values belong to (tract, band, ...).", required=True),
        Key("values", "list", "Values to process; chunked `per_group` to a group."),
        Key("per_group", "posint", f"How many values go in one group (with `values`); at most {MAX_TERMS}.", default=1),
        Key("groups", "list", f"Explicit groups: a list of lists of values (instead of `values`), each of at most {MAX_TERMS}."),
        _MAX,
    ),
    "ranges": (
        _RULE,
        Key("dimension", "str", "Integer dimension to range over (visit or exposure).", default="visit"),
        Key("values", "list", "The ids, inline."),
        Key("file", "str", "A file of ids, one per line (`#` comments allowed), relative to the spec."),
        Key("size", "posint", "Most ids in one group; groups are balanced to within one id.", required=True),
        Key("complete", "bool", "The list holds every id of the repository between its first and last: "
            "groups may then be ranges across the gaps between listed ids (default: false)."),
        _BUTLER,
        _MAX,
    ),
    "dates": (
        _RULE,
        Key("dimension", "str", "Date dimension, an integer YYYYMMDD in the butler.", default="day_obs"),
        Key("values", "list", "The nights with data, inline (YYYY-MM-DD or YYYYMMDD)."),
        Key("file", "str", "A file of nights with data, one per line (`#` comments allowed), relative to the spec."),
        Key("start", "date", "First day (inclusive): listed nights before it are left out."),
        Key("end", "date", "Last day (inclusive): listed nights after it are left out."),
        Key("days", "posint", "Calendar days per window; a window's listed nights make one group.", default=1),
        _BUTLER,
        Key("max_per_group", "posint", "Largest group allowed, in inputs (nights; with `butler`, visits or "
            "exposures: a window above it is cut into groups of ids)."),
    ),
    "tracts": (
        _RULE,
        Key("skymap", "str", "Sky map whose tracts group the inputs (e.g. DC2).", required=True),
        Key("butler", "mapping", "The inputs whose regions make the tracts: the keys of the butler table "
            "(required: the tracts are learned from the butler).", required=True),
        Key("per_group", "posint", f"Tracts in one group; at most {MAX_TERMS}.", default=1),
        Key("max_per_group", "posint", "Largest group allowed, in tracts."),
    ),
}


def _none(src: Located, path: tuple, cfg: dict, base_dir: Path, ctx: SplitContext) -> list[Group]:
    return [Group(1, 1, "", None, "all inputs")]


def _check_unique(src: Located, paths_values: list[tuple[tuple, Any]]) -> None:
    seen: dict[Any, tuple] = {}
    for path, value in paths_values:
        if value in seen:
            first = src.line(seen[value])
            raise src.fail(path, f"value {value!r} appears twice (first on line {first}); groups would overlap")
        seen[value] = path


def _check_literal(src: Located, path: tuple, value: Any, dim: str) -> Any:
    """Check one value of the values rule against its dimension; returns it (a date as YYYYMMDD)."""
    kind = dim.rsplit(".", 1)[-1]
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime) and kind == "day_obs":
        value = _yyyymmdd(value)
    if isinstance(value, bool) or not isinstance(value, (int, str)) or value == "":
        raise src.fail(path, f"expected an integer or a non-empty string value, got {value!r}")
    if isinstance(value, str) and ("'" in value or "\\" in value):
        raise src.fail(path, f"value {value!r} contains a quote or backslash")
    if kind in INTEGER_DIMENSIONS:
        if isinstance(value, str):
            hint = " (YYYYMMDD)" if kind == "day_obs" else ""
            raise src.fail(path, f"{dim} is an integer{hint} in the butler: expected {value} without quotes, got {value!r}")
        if value < 0 or value > MAX_ID:
            raise src.fail(path, f"expected a non-negative {dim} within 64 bits, got {value}")
        if kind == "day_obs" and (problem := date_problem(str(value))):
            raise src.fail(path, f"{problem}; expected a night as YYYYMMDD")
    elif kind in STRING_DIMENSIONS and not isinstance(value, str):
        raise src.fail(path, f"{dim} is a string in the butler: expected '{value}' in quotes, got {value!r}")
    return value


def _check_one_type(src: Located, items: list[tuple[tuple, Any]], dim: str) -> None:
    first = items[0]
    for p, v in items[1:]:
        if isinstance(v, str) != isinstance(first[1], str):
            raise src.fail(p, f"{v!r} is not of the type of {first[1]!r} (line {src.line(first[0])}): "
                              f"the values of {dim} must all be integers or all strings")


def _values(src: Located, path: tuple, cfg: dict, base_dir: Path, ctx: SplitContext) -> list[Group]:
    dim = cfg["dimension"]
    if (cfg["values"] is None) == (cfg["groups"] is None):
        raise src.fail(path, "the values rule needs exactly one of 'values' or 'groups'")
    if cfg["values"] is not None:
        if not cfg["values"]:
            raise src.fail(path + ("values",), "empty: a split needs at least one input")
        if cfg["per_group"] > MAX_TERMS:
            raise src.fail(path + ("per_group",), _too_many(cfg["per_group"], "values"))
        items = [(path + ("values", i), v) for i, v in enumerate(cfg["values"])]
        chunks = balanced_chunks(items, cfg["per_group"])
    else:
        if not cfg["groups"]:
            raise src.fail(path + ("groups",), "empty: a split needs at least one group")
        chunks = []
        for g, group in enumerate(cfg["groups"]):
            gpath = path + ("groups", g)
            if not isinstance(group, list):
                group = [group]
            if not group:
                raise src.fail(gpath, "empty group: every group needs at least one value")
            if len(group) > MAX_TERMS:
                raise src.fail(gpath, _too_many(len(group), "values"))
            chunks.append([(gpath + (i,), v) for i, v in enumerate(group)])
    chunks = [[(p, _check_literal(src, p, v, dim)) for p, v in chunk] for chunk in chunks]
    flat = [pv for chunk in chunks for pv in chunk]
    _check_one_type(src, flat, dim)
    _check_unique(src, flat)
    groups = []
    for n, chunk in enumerate(chunks, 1):
        vals = [v for _, v in chunk]
        if len(vals) == 1:
            clause = f"{dim} = {render_value(vals[0])}"
        else:
            clause = f"{dim} IN ({', '.join(render_value(v) for v in vals)})"
        groups.append(Group(n, len(chunks), clause, len(vals), f"{dim} {', '.join(str(v) for v in vals)}"))
    return groups


def _too_many(count: int, what: str) -> str:
    return (f"expected at most {MAX_TERMS} {what} in one group, got {count} (the butler's SQLite registry fails "
            f"on lists above 995)")


# A source returns the inputs with where they stand (a line, or an index into `values`), and a
# function building an error at such a place.
Source = tuple[list[tuple[Any, int | None]], Callable[[int | None, str], Exception]]


def _lines_of(src: Located, path: tuple, name: str, base_dir: Path, what: str) -> tuple[str, list[tuple[str, int]]]:
    file = Path(name) if Path(name).is_absolute() else base_dir / name
    shown = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise src.fail(path + ("file",), f"{what} file {shown} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise src.fail(path + ("file",), f"cannot read {what} file {shown}: {exc.__class__.__name__}") from None
    items = []
    for lineno, raw in enumerate(text.split("\n"), 1):
        item = raw.split("#", 1)[0].strip(" \t\r")
        if item:
            items.append((item, lineno))
    return shown, items


def _parsed_lines(src: Located, path: tuple, name: str, base_dir: Path, what: str,
                  parse: Callable[[str], Any]) -> Source:
    """The values of a file, one per line, each read by ``parse`` (a `ValueError` names the file and line)."""
    shown, lines = _lines_of(src, path, name, base_dir, what)
    out: list[tuple[Any, int | None]] = []
    for item, lineno in lines:
        try:
            out.append((parse(item), lineno))
        except ValueError as exc:
            raise SpecError(shown, lineno, None, str(exc)) from None
    return out, lambda line, msg: SpecError(shown, line, None, msg)


def _ids_from_file(src: Located, path: tuple, name: str, base_dir: Path, dim: str) -> Source:
    return _parsed_lines(src, path, name, base_dir, "id", lambda item: parse_id(item, dim))


def _ids_inline(src: Located, path: tuple, values: Any, base_dir: Path, dim: str) -> Source:
    ids: list[tuple[Any, int | None]] = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int):
            raise src.fail(path + ("values", i), f"expected an integer {dim} id, got {v!r}")
        if not 0 <= v <= MAX_ID:
            raise src.fail(path + ("values", i), f"expected a non-negative {dim} id within 64 bits, got {v}")
        ids.append((v, i))
    return ids, lambda i, msg: src.fail(path + ("values", i), msg)


def _night(value: Any) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    if problem := date_problem(text):
        raise ValueError(problem)
    for pattern, fmt in ((r"[0-9]{4}-[0-9]{2}-[0-9]{2}", "%Y-%m-%d"), (r"[0-9]{8}", "%Y%m%d")):
        if re.fullmatch(pattern, text):
            return dt.datetime.strptime(text, fmt).date()
    raise ValueError(f"expected a night as YYYY-MM-DD or YYYYMMDD, got {value!r}")


def _nights_from_file(src: Located, path: tuple, name: str, base_dir: Path, dim: str) -> Source:
    return _parsed_lines(src, path, name, base_dir, "night", _night)


def _nights_inline(src: Located, path: tuple, values: Any, base_dir: Path, dim: str) -> Source:
    out: list[tuple[Any, int | None]] = []
    for i, v in enumerate(values):
        try:
            out.append((_night(v), i))
        except ValueError as exc:
            raise src.fail(path + ("values", i), str(exc)) from None
    return out, lambda i, msg: src.fail(path + ("values", i), msg)


# Where the ranges and dates rules read their inputs from; a butler query source slots in here.
_ID_SOURCES: dict[str, Callable[..., Source]] = {
    "values": _ids_inline,
    "file": _ids_from_file,
}
_NIGHT_SOURCES: dict[str, Callable[..., Source]] = {
    "values": _nights_inline,
    "file": _nights_from_file,
}


def _read(src: Located, path: tuple, cfg: dict, base_dir: Path, sources: dict, rule: str,
          what: str) -> tuple[dict[Any, Any], str]:
    """The inputs of a rule, unique, with where each stands; and the source key used."""
    given = [k for k in sources if cfg.get(k) is not None]
    keys = " or ".join(f"'{k}'" for k in sources)
    if len(given) > 1:
        raise src.fail(path, f"the {rule} rule needs exactly one source of {what}: {keys}")
    if not given:
        why = " (a night without data must not become a group)" if rule == "dates" else ""
        raise src.fail(path, f"the {rule} rule needs the {what} to process in {keys}{why}; or use {BUTLER_HINT}")
    key = given[0]
    items, error = sources[key](src, path, cfg[key], base_dir, cfg["dimension"])
    if not items:
        raise src.fail(path + (key,), "empty: a split needs at least one input")
    seen: dict[Any, Any] = {}
    for value, where in items:
        if value in seen:
            first = seen[value] if key == "file" else src.line(path + ("values", seen[value]))
            shown = value.isoformat() if isinstance(value, dt.date) else value
            raise error(where, f"{cfg['dimension']} {shown} is listed twice (first on line {first}); groups would overlap")
        seen[value] = where
    return seen, key


@dataclass
class _FromButler:
    """A step's inputs as the butler knows them: every id under the clause, and the wanted ones."""

    view: ButlerView
    where: str  # the butler clause, part of every group's clause
    dimension: str
    universe: list[int]  # every id of the repository under the step's query and the clause, sorted
    wanted: list[int]  # those with the dataset (or all), sorted

    def successor(self) -> Callable[[int], int]:
        after = dict(zip(self.universe, self.universe[1:]))
        return lambda v: after.get(v, v + 1)

    def clause(self, ids: list[int]) -> tuple[str, int]:
        """Exactly ``ids`` given the repository: a range may span only ids that are all wanted."""
        clause, terms = in_clause(self.dimension, ids, self.successor())
        return combine_query(self.where, clause), terms


def _open_butler(src: Located, path: tuple, cfg: dict, ctx: SplitContext, rule: str,
                 dim: str | None = None) -> tuple[_FromButler, dict, dict[int, list[int]] | None]:
    """Open the butler the ``butler`` key names and read the inputs (per night for the dates rule, per
    tract for the tracts rule)."""
    bpath = path + ("butler",)
    for other in ("values", "file"):
        if cfg.get(other) is not None:
            raise src.fail(path + (other,), f"the {rule} rule needs exactly one source of inputs: "
                                            f"'{other}' or 'butler', not both")
    if cfg.get("complete"):
        raise src.fail(path + ("complete",), "'complete' is for lists of ids: with 'butler' every group "
                                             "is exact given the repository")
    bcfg = check_section(src, bpath, cfg["butler"], BUTLER_KEYS)
    if ctx.open_butler is None:
        raise src.fail(bpath, f"reading the inputs from a butler needs lsst-daf-butler, which is not "
                              f"installed; {ENABLE_BUTLER}")
    dim = dim or bcfg["dimension"]
    if bcfg["dimension"] != dim and "dimension" in cfg["butler"]:
        raise src.fail(bpath + ("dimension",), f"the ranges rule reads the {dim} ids of its own 'dimension'; "
                                               f"drop 'dimension' here")
    clause = bcfg["where"].strip()
    if problems := check_query(clause):
        raise src.fail(bpath + ("where",), problems[0])
    where = combine_query(ctx.query, clause)
    collections = list(bcfg["collections"] or ctx.collections) if bcfg["dataset"] else []
    view = ctx.open_butler(ctx.repo, collections, _instrument(src, bpath, bcfg, where))
    if problems := view.check_query(where, [dim]):
        raise src.fail(bpath + ("where",), f"the butler would reject {where!r}: {problems[0]}")
    by_night = None
    if rule == "dates":
        by_night = view.ids_by_night(dim, where)
        universe = sorted(i for ids in by_night.values() for i in ids)
    elif rule == "tracts":
        by_night = view.ids_by_tract(cfg["skymap"], dim, where)  # {tract: ids}
        universe = sorted({i for ids in by_night.values() for i in ids})
    else:
        universe = view.ids(dim, where)
    wanted = view.dataset_ids(bcfg["dataset"], dim, where) if bcfg["dataset"] else universe
    if not wanted:
        has = f" with a {bcfg['dataset']}" if bcfg["dataset"] else ""
        raise src.fail(bpath, f"the butler {ctx.repo} has no {dim}{has} where {where or 'anything'}: "
                              f"a split needs at least one input")
    return _FromButler(view, clause, dim, universe, wanted), bcfg, by_night


_INSTRUMENT = re.compile(r"\binstrument\s*=\s*'([^']+)'")


def _instrument(src: Located, path: tuple, bcfg: dict, where: str) -> str:
    if bcfg["instrument"]:
        return bcfg["instrument"]
    found = {m.group(1) for m in _INSTRUMENT.finditer(where)}
    if len(found) != 1:
        raise src.fail(path, "expected the instrument of the inputs: add 'instrument: NAME' here, or "
                             "instrument = 'NAME' to the step's query")
    return found.pop()


def _butler_ranges(src: Located, path: tuple, cfg: dict, ctx: SplitContext) -> list[Group]:
    dim = cfg["dimension"]
    inputs, _, _ = _open_butler(src, path, cfg, ctx, "ranges", dim)
    chunks = balanced_chunks(inputs.wanted, cfg["size"])
    groups = []
    for n, c in enumerate(chunks, 1):
        clause, terms = inputs.clause(c)
        if terms > MAX_TERMS:
            raise src.fail(path + ("size",), (
                f"group {n} of {len(chunks)} ({dim} {c[0]}..{c[-1]}): the repository holds unwanted {dim}s between "
                f"its ids, and selecting exactly its {len(c)} ids takes {terms} values and ranges, above the "
                f"{MAX_TERMS} a butler query can hold; set a smaller 'size'"))
        groups.append(Group(n, len(chunks), clause, len(c), f"{dim} {c[0]}..{c[-1]}"))
    return groups


def _ranges(src: Located, path: tuple, cfg: dict, base_dir: Path, ctx: SplitContext) -> list[Group]:
    dim = cfg["dimension"]
    if cfg["butler"] is not None:
        return _butler_ranges(src, path, cfg, ctx)
    seen, _ = _read(src, path, cfg, base_dir, _ID_SOURCES, "ranges", "ids")
    chunks = balanced_chunks(sorted(seen), cfg["size"])
    groups = []
    for n, c in enumerate(chunks, 1):
        if cfg["complete"]:
            clause = f"{dim} >= {c[0]} AND {dim} < {c[-1] + 1}"
        else:
            clause, terms = exact_clause(dim, c)
            if terms > MAX_TERMS:
                raise src.fail(path + ("size",), (
                    f"group {n} of {len(chunks)} ({dim} {c[0]}..{c[-1]}) leaves out ids between its listed ones: "
                    f"selecting exactly its {len(c)} ids takes {terms} values and ranges, above the {MAX_TERMS} "
                    f"a butler query can hold; set 'complete: true' if the list holds every {dim} of the "
                    f"repository in its span, or a smaller 'size', or use {BUTLER_HINT}"))
        groups.append(Group(n, len(chunks), clause, len(c), f"{dim} {c[0]}..{c[-1]}"))
    return groups


def _yyyymmdd(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def _next_day(value: int) -> int:
    day = dt.date(value // 10000, value // 100 % 100, value % 100)
    return _yyyymmdd(day + dt.timedelta(days=1))


def _day(value: int) -> dt.date:
    return dt.date(value // 10000, value // 100 % 100, value % 100)


def _butler_dates(src: Located, path: tuple, cfg: dict, ctx: SplitContext) -> list[Group]:
    """Windows of nights with wanted data; a window is its nights' clause when that selects exactly its
    ids and it is within ``max_per_group``, else it is cut into balanced groups of ids."""
    dim, start, end, cap = cfg["dimension"], cfg["start"], cfg["end"], cfg["max_per_group"]
    inputs, bcfg, by_night = _open_butler(src, path, cfg, ctx, "dates")
    assert by_night is not None
    wanted = set(inputs.wanted)
    per_night = {n: [i for i in ids if i in wanted] for n, ids in by_night.items()}
    nights = [n for n, ids in per_night.items() if ids and (not start or _day(n) >= start) and (not end or _day(n) <= end)]
    if not nights:
        raise src.fail(path + ("butler",), f"no night with data lies between start and end "
                                           f"({len(by_night)} nights with data)")
    data_nights = sorted(by_night)
    after = dict(zip(data_nights, data_nights[1:]))
    origin = start or _day(nights[0])
    windows: dict[int, list[int]] = {}
    for night in nights:
        windows.setdefault((_day(night) - origin).days // cfg["days"], []).append(night)
    parts: list[tuple[str, int, str]] = []
    for members in windows.values():
        ids = sorted(i for n in members for i in per_night[n])
        label = f"{dim} {members[0]}" + (f"..{members[-1]}" if len(members) > 1 else "")
        exact = all(len(per_night[n]) == len(by_night[n]) for n in members)
        if exact and (cap is None or len(ids) <= cap):
            clause, _ = in_clause(dim, members, lambda v: after.get(v, _next_day(v)))
            parts.append((combine_query(inputs.where, clause), len(ids), label))
            continue
        chunks = balanced_chunks(ids, min(cap or len(ids), len(ids)))
        for k, chunk in enumerate(chunks, 1):
            clause, terms = inputs.clause(chunk)
            shown = f"{label}, {inputs.dimension} {chunk[0]}..{chunk[-1]}"
            if terms > MAX_TERMS:
                raise src.fail(path + ("max_per_group",), (
                    f"{shown}: selecting exactly its {len(chunk)} ids takes {terms} values and ranges, above the "
                    f"{MAX_TERMS} a butler query can hold; set a smaller 'max_per_group'"))
            parts.append((clause, len(chunk), shown))
    return [Group(n, len(parts), clause, count, label) for n, (clause, count, label) in enumerate(parts, 1)]


def _dates(src: Located, path: tuple, cfg: dict, base_dir: Path, ctx: SplitContext) -> list[Group]:
    dim, start, end = cfg["dimension"], cfg["start"], cfg["end"]
    if start and end and end < start:
        raise src.fail(path + ("end",), f"end {end.isoformat()} is before start {start.isoformat()}")
    if cfg["butler"] is not None:
        return _butler_dates(src, path, cfg, ctx)
    seen, key = _read(src, path, cfg, base_dir, _NIGHT_SOURCES, "dates", "nights")
    nights = [d for d in sorted(seen) if (not start or d >= start) and (not end or d <= end)]
    if not nights:
        raise src.fail(path + (key,), f"no listed night lies between start and end ({len(seen)} listed)")
    origin = start or nights[0]
    windows: dict[int, list[dt.date]] = {}
    for night in nights:
        windows.setdefault((night - origin).days // cfg["days"], []).append(night)
    groups = []
    for n, members in enumerate(windows.values(), 1):
        values = [_yyyymmdd(d) for d in members]
        clause, _ = exact_clause(dim, values, _next_day)
        label = f"{dim} {values[0]}" + (f"..{values[-1]}" if len(values) > 1 else "")
        groups.append(Group(n, len(windows), clause, len(values), label))
    return groups


def _tracts(src: Located, path: tuple, cfg: dict, base_dir: Path, ctx: SplitContext) -> list[Group]:
    """The tracts of ``skymap`` that the wanted inputs' regions overlap, ``per_group`` to a group."""
    if cfg["per_group"] > MAX_TERMS:
        raise src.fail(path + ("per_group",), _too_many(cfg["per_group"], "tracts"))
    inputs, _, by_tract = _open_butler(src, path, cfg, ctx, "tracts")
    assert by_tract is not None
    wanted = set(inputs.wanted)
    tracts = {t: [i for i in ids if i in wanted] for t, ids in by_tract.items()}
    tracts = {t: ids for t, ids in tracts.items() if ids}
    if not tracts:
        raise src.fail(path + ("butler",), f"no wanted {inputs.dimension} overlaps a tract of skymap {cfg['skymap']!r}")
    chunks = balanced_chunks(sorted(tracts), cfg["per_group"])
    skymap = render_value(cfg["skymap"])
    groups = []
    for n, chunk in enumerate(chunks, 1):
        pick = f"tract = {chunk[0]}" if len(chunk) == 1 else f"tract IN ({', '.join(map(str, chunk))})"
        clause = combine_query(inputs.where, f"skymap = {skymap} AND {pick}")
        visits = len({i for t in chunk for i in tracts[t]})
        label = f"tract {', '.join(map(str, chunk))} ({visits} {inputs.dimension}s)"
        groups.append(Group(n, len(chunks), clause, len(chunk), label))
    return groups


RULES: dict[str, Callable[[Located, tuple, dict, Path, SplitContext], list[Group]]] = {
    "none": _none,
    "values": _values,
    "ranges": _ranges,
    "dates": _dates,
    "tracts": _tracts,
}


def _check_sizes(src: Located, path: tuple, rule: str, cap: int | None, groups: list[Group]) -> None:
    if cap is None:
        return
    for g in groups:
        if g.inputs is None:
            raise src.fail(path + ("max_per_group",), (
                f"the {rule} rule does not count its inputs, so max_per_group cannot be checked: list them "
                f"with another rule, or use {BUTLER_HINT}"))
        if g.inputs > cap:
            raise src.fail(path + ("max_per_group",),
                           f"group {g.index} of {g.count} ({g.label}) has {g.inputs} inputs, above max_per_group {cap}")


def split_step(src: Located, path: tuple, split: Any, base_dir: Path, ctx: SplitContext | None = None) -> list[Group]:
    """Validate a step's ``split`` mapping and produce its groups.

    Parameters
    ----------
    src : `Located`
        The spec file.
    path : `tuple`
        Key path of the ``split`` mapping.
    split : `object`
        The parsed ``split`` value (`None` means no split).
    base_dir : `pathlib.Path`
        Folder that relative id files are resolved against.
    ctx : `SplitContext`, optional
        The step's name and base query, the repository, and how to open a butler (a ``butler``
        source needs it; without it, such a split names the butler extra).

    Returns
    -------
    groups : `list` of `Group`
        Non-empty, disjoint, covering every listed input once, none above ``max_per_group``;
        each clause selects exactly its inputs (unless the spec declares a list ``complete``);
        with a ``butler`` source, each group's whole data query is also checked by the butler.

    Raises
    ------
    SpecError
        For an unknown rule, a bad key or value, overlapping, empty or oversize groups.
    """
    ctx = ctx or SplitContext()
    if split is None:
        return _none(src, path, {}, base_dir, ctx)
    if not isinstance(split, dict):
        raise src.fail(path, "expected a mapping with a 'rule' key")
    if "rule" not in split:
        raise src.fail(path, f"missing required key 'rule' (one of: {', '.join(RULES)})")
    rule = split["rule"]
    if rule not in RULES:
        raise src.fail(path + ("rule",), f"expected one of {', '.join(repr(r) for r in RULES)}, got {rule!r}")
    cfg = check_section(src, path, split, RULE_KEYS[rule])
    groups = RULES[rule](src, path, cfg, base_dir, ctx)
    _check_sizes(src, path, rule, cfg["max_per_group"], groups)
    if cfg.get("butler") is not None and ctx.open_butler is not None:
        _butler_check(src, path, cfg, ctx, groups)
    return groups


def _butler_check(src: Located, path: tuple, cfg: dict, ctx: SplitContext, groups: list[Group]) -> None:
    """Each group's data query as it will be written, checked by the butler's parser and dimensions."""
    bcfg = check_section(src, path + ("butler",), cfg["butler"], BUTLER_KEYS)
    dim = cfg["dimension"] if cfg["rule"] == "ranges" else bcfg["dimension"]
    instrument = _instrument(src, path + ("butler",), bcfg, combine_query(ctx.query, bcfg["where"].strip()))
    view = ctx.open_butler(ctx.repo, list(bcfg["collections"] or ctx.collections) if bcfg["dataset"] else [],
                           instrument)
    for g in groups:
        if problems := view.check_query(combine_query(ctx.query, g.clause), [dim]):
            raise src.fail(path, f"step {ctx.step}, group {g.index} of {g.count} ({g.label}): "
                                 f"the data query would fail in the butler: {problems[0]}")
