"""A ``where`` clause checked as the butler will see it, before anything is submitted.

`check_where` parses with daf_butler's own expression parser, resolves every identifier against a
dimension universe (the repository's, or daf_butler's default one), checks value types, governor
dimensions (``tract`` or ``patch`` without ``skymap``), integer literals beyond SQLite's 64-bit
signed range, and the size of ``IN`` lists and ``OR`` chains (SQLite refuses an expression tree
deeper than 1000: about 995 ``IN`` values on a visit query, fewer once other columns join).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from jiracampaign.sources.butler import require_butler

log = logging.getLogger(__name__)

__all__ = ["MAX_TERMS", "INT64_MAX", "check_where"]

MAX_TERMS = 900
"""The most ``IN`` values plus ``OR`` terms one ``where`` clause may hold (SQLite's depth limit is 1000)."""

INT64_MAX = 2**63 - 1


def check_where(where: str, *, universe: Any = None, dimensions: Iterable[str] = ("visit",),
                data_id: Mapping[str, Any] | None = None, max_terms: int = MAX_TERMS) -> list[str]:
    """Every reason the butler would reject ``where`` in a query for ``dimensions``; empty when none.

    Parameters
    ----------
    where : `str`
        The ``dataQuery`` text.
    universe : `lsst.daf.butler.DimensionUniverse`, optional
        The repository's dimensions; daf_butler's default universe when not given.
    dimensions : iterable of `str`
        What the query returns (``visit``; ``exposure``, ``detector`` for a step on raws).
    data_id : mapping, optional
        Governor values the query gets besides the clause (``{"instrument": "LSSTCam"}``).
    max_terms : `int`
        The most ``IN`` values and ``OR`` terms allowed.
    """
    daf_butler = require_butler("checking a butler query")
    from lsst.daf.butler.queries._expression_strings import convert_expression_string_to_predicate
    from lsst.daf.butler.queries._identifiers import IdentifierContext
    from lsst.daf.butler.queries.expressions.parser import parse_expression

    if universe is None:
        universe = daf_butler.DimensionUniverse()
    try:
        tree = parse_expression(where)
    except Exception as exc:  # the parser raises its own ParseError / TypeError
        return [f"does not parse: {_cause(exc)}"]
    if tree is None:
        return []
    problems = _literal_problems(tree, max_terms)
    try:
        group = universe.conform(list(dimensions))
    except Exception as exc:
        return problems + [f"unknown dimension in {sorted(dimensions)}: {_cause(exc)}"]
    try:
        predicate = convert_expression_string_to_predicate(
            where, context=IdentifierContext(group, set()), universe=universe)
    except Exception as exc:
        return problems + [_cause(exc)]
    problems += _governor_problems(predicate, group, universe, data_id or {})
    return problems


def _cause(exc: BaseException) -> str:
    """The most specific one-line reason: the parser's own message when the butler wrapped it."""
    inner = exc.__cause__ or exc
    text = str(inner).strip().splitlines()[0] if str(inner).strip() else type(inner).__name__
    return text.rstrip(".")


def _literal_problems(tree: Any, max_terms: int) -> list[str]:
    from lsst.daf.butler.queries.expressions.parser.exprTree import BinaryOp, IsIn, NumericLiteral, RangeLiteral

    problems: list[str] = []
    terms = 0
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, IsIn):
            terms += len(node.values)
        elif isinstance(node, BinaryOp) and node.op.upper() == "OR":
            terms += 1
        elif isinstance(node, NumericLiteral):
            try:
                value = int(node.value)
            except ValueError:
                value = None  # a float
            if value is not None and value > INT64_MAX:
                problems.append(f"{node.value} is beyond the 64-bit integer range (at most {INT64_MAX})")
        elif isinstance(node, RangeLiteral):
            for end in (node.start, node.stop):
                if end > INT64_MAX:
                    problems.append(f"{end} is beyond the 64-bit integer range (at most {INT64_MAX})")
        stack.extend(node.children)
    if terms > max_terms:
        problems.append(f"{terms} IN values and OR terms; at most {max_terms} (SQLite refuses expressions deeper "
                        f"than 1000): split into smaller groups or use ranges")
    return problems


def _governor_problems(predicate: Any, group: Any, universe: Any, data_id: Mapping[str, Any]) -> list[str]:
    """``tract = 3`` without ``skymap``: what the butler says when the query runs."""
    from lsst.daf.butler import DataCoordinate
    from lsst.daf.butler.queries.predicate_constraints_summary import PredicateConstraintsSummary

    try:
        default = DataCoordinate.standardize(dict(data_id), universe=universe)
        PredicateConstraintsSummary(predicate).apply_default_data_id(default, group, validate_governor_constraints=True)
    except Exception as exc:
        return [_cause(exc)]
    return []
