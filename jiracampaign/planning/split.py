"""Split rules: turn a step's inputs into groups that cover every input exactly once.

Every rule returns a list of `Group`; each group's clause is combined with the step's base
query by the planner. The ``ranges`` rule reads its ids from a pluggable *source*
(``values`` or ``file`` today; a live butler query can be added as another source).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any, Callable

from ..errors import SpecError
from ..core.model import Group
from ..schema import Key, check_section
from ..yamlsrc import Located

__all__ = ["RULES", "RULE_KEYS", "split_step", "balanced_chunks", "query_problem", "render_value"]


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


def query_problem(query: str) -> str | None:
    """Return what is wrong with a query's quoting or parentheses, or `None`."""
    depth, quote = 0, None
    for ch in query:
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return "unbalanced parentheses: ')' without a matching '('"
    if quote:
        return f"unterminated string: {quote} is never closed"
    if depth:
        return f"unbalanced parentheses: {depth} '(' never closed"
    return None


_RULE = Key("rule", "str", "Which split rule: none, values, ranges or dates.", required=True,
            choices=("none", "values", "ranges", "dates"))

RULE_KEYS: dict[str, tuple[Key, ...]] = {
    "none": (_RULE,),
    "values": (
        _RULE,
        Key("dimension", "str", "Data-ID dimension the values belong to (tract, band, ...).", required=True),
        Key("values", "list", "Values to process; chunked `per_group` to a group."),
        Key("per_group", "posint", "How many values go in one group (with `values`).", default=1),
        Key("groups", "list", "Explicit groups: a list of lists of values (instead of `values`)."),
    ),
    "ranges": (
        _RULE,
        Key("dimension", "str", "Integer dimension to range over (visit or exposure).", default="visit"),
        Key("values", "list", "The ids, inline."),
        Key("file", "str", "A file of ids, one per line (`#` comments allowed), relative to the spec."),
        Key("size", "posint", "Most ids in one group; groups are balanced to within one id.", required=True),
    ),
    "dates": (
        _RULE,
        Key("dimension", "str", "Date dimension, an integer YYYYMMDD in the butler.", default="day_obs"),
        Key("start", "date", "First day (inclusive).", required=True),
        Key("end", "date", "Last day (inclusive).", required=True),
        Key("days", "posint", "Days per group; the last group may be shorter.", required=True),
    ),
}


def _none(src: Located, path: tuple, cfg: dict, base_dir: Path) -> list[Group]:
    return [Group(1, 1, "", None, "all inputs")]


def _check_unique(src: Located, paths_values: list[tuple[tuple, Any]]) -> None:
    seen: dict[Any, tuple] = {}
    for path, value in paths_values:
        if value in seen:
            first = src.line(seen[value])
            raise src.fail(path, f"value {value!r} appears twice (first on line {first}); groups would overlap")
        seen[value] = path


def _check_literal(src: Located, path: tuple, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or value == "":
        raise src.fail(path, f"expected an integer or a non-empty string value, got {value!r}")
    if isinstance(value, str) and ("'" in value or "\\" in value):
        raise src.fail(path, f"value {value!r} contains a quote or backslash")


def _values(src: Located, path: tuple, cfg: dict, base_dir: Path) -> list[Group]:
    dim = cfg["dimension"]
    if (cfg["values"] is None) == (cfg["groups"] is None):
        raise src.fail(path, "the values rule needs exactly one of 'values' or 'groups'")
    if cfg["values"] is not None:
        if not cfg["values"]:
            raise src.fail(path + ("values",), "empty: a split needs at least one input")
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
            chunks.append([(gpath + (i,), v) for i, v in enumerate(group)])
    flat = [pv for chunk in chunks for pv in chunk]
    for p, v in flat:
        _check_literal(src, p, v)
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


# An id source returns the ids with their lines, and a function building an error at a line.
IdSource = tuple[list[tuple[int, int | None]], Callable[[int | None, str], Exception]]


def _ids_from_file(src: Located, path: tuple, name: str, base_dir: Path, dim: str) -> IdSource:
    file = Path(name) if Path(name).is_absolute() else base_dir / name
    shown = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise src.fail(path + ("file",), f"id file {shown} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise src.fail(path + ("file",), f"cannot read id file {shown}: {exc.__class__.__name__}") from None
    out: list[tuple[int, int | None]] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        item = raw.split("#", 1)[0].strip()
        if not item:
            continue
        try:
            out.append((int(item), lineno))
        except ValueError:
            raise SpecError(shown, lineno, None, f"expected an integer {dim} id, got {item!r}") from None
    return out, lambda line, msg: SpecError(shown, line, None, msg)


def _ids_inline(src: Located, path: tuple, values: Any, base_dir: Path, dim: str) -> IdSource:
    ids: list[tuple[int, int | None]] = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int):
            raise src.fail(path + ("values", i), f"expected an integer {dim} id, got {v!r}")
        ids.append((v, i))
    return ids, lambda i, msg: src.fail(path + ("values", i), msg)


# Where the ranges rule reads its ids from; a butler query source slots in here.
_ID_SOURCES: dict[str, Callable[..., IdSource]] = {
    "values": _ids_inline,
    "file": _ids_from_file,
}


def _ranges(src: Located, path: tuple, cfg: dict, base_dir: Path) -> list[Group]:
    dim = cfg["dimension"]
    given = [k for k in _ID_SOURCES if cfg.get(k) is not None]
    if len(given) != 1:
        raise src.fail(path, "the ranges rule needs exactly one source of ids: " + " or ".join(f"'{k}'" for k in _ID_SOURCES))
    ids, error = _ID_SOURCES[given[0]](src, path, cfg[given[0]], base_dir, dim)
    if not ids:
        raise src.fail(path + (given[0],), "empty: a split needs at least one input")
    seen: dict[int, int | None] = {}
    for value, where in ids:
        if value in seen:
            first = seen[value] if given[0] == "file" else src.line(path + ("values", seen[value]))
            raise error(where, f"{dim} {value} is listed twice (first on line {first}); groups would overlap")
        seen[value] = where
    ordered = sorted(seen)
    chunks = balanced_chunks(ordered, cfg["size"])
    return [
        Group(n, len(chunks), f"{dim} >= {c[0]} AND {dim} < {c[-1] + 1}", len(c), f"{dim} {c[0]}..{c[-1]}")
        for n, c in enumerate(chunks, 1)
    ]


def _yyyymmdd(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def _dates(src: Located, path: tuple, cfg: dict, base_dir: Path) -> list[Group]:
    dim, start, end = cfg["dimension"], cfg["start"], cfg["end"]
    if end < start:
        raise src.fail(path + ("end",), f"end {end.isoformat()} is before start {start.isoformat()}")
    total = (end - start).days + 1
    count = math.ceil(total / cfg["days"])
    groups = []
    for n in range(count):
        first = start + dt.timedelta(days=n * cfg["days"])
        last = min(end, first + dt.timedelta(days=cfg["days"] - 1))
        stop = last + dt.timedelta(days=1)
        clause = f"{dim} >= {_yyyymmdd(first)} AND {dim} < {_yyyymmdd(stop)}"
        groups.append(Group(n + 1, count, clause, (last - first).days + 1, f"{dim} {_yyyymmdd(first)}..{_yyyymmdd(last)}"))
    return groups


RULES: dict[str, Callable[[Located, tuple, dict, Path], list[Group]]] = {
    "none": _none,
    "values": _values,
    "ranges": _ranges,
    "dates": _dates,
}


def split_step(src: Located, path: tuple, split: Any, base_dir: Path) -> list[Group]:
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

    Returns
    -------
    groups : `list` of `Group`
        Non-empty, disjoint, covering every input once.

    Raises
    ------
    SpecError
        For an unknown rule, a bad key or value, overlapping or empty groups.
    """
    if split is None:
        return _none(src, path, {}, base_dir)
    if not isinstance(split, dict):
        raise src.fail(path, "expected a mapping with a 'rule' key")
    if "rule" not in split:
        raise src.fail(path, f"missing required key 'rule' (one of: {', '.join(RULES)})")
    rule = split["rule"]
    if rule not in RULES:
        raise src.fail(path + ("rule",), f"expected one of {', '.join(repr(r) for r in RULES)}, got {rule!r}")
    cfg = check_section(src, path, split, RULE_KEYS[rule])
    return RULES[rule](src, path, cfg, base_dir)
