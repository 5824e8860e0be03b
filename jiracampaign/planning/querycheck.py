"""Check a butler data query (a ``where`` expression) before it is written into a submit file.

`check_query` returns what is wrong with a query, as sentences for the user; an empty list means
the query passed. It follows the grammar of daf_butler's expression parser (single-quoted strings,
``AND``/``OR``/``NOT``, comparisons, ``IN (...)`` lists, arithmetic, ``T'...'`` times, ``a..b``
ranges, ``:bind`` names, function calls) and adds the rules the butler applies later, when the
run is already submitted: values of one dimension are of one type, integer dimensions get
integers within 64 bits, ``tract``/``patch`` need ``skymap``, and the expression is small enough
for the SQLite registry (it fails on expressions nested about 1000 deep; an ``IN`` list of
*n* values is nested *n* deep).

A checker that knows the repository (daf_butler's own parser and dimension universe) can
complement this one: it takes the same text and returns problems the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["check_query", "query_problem", "combine_query", "MAX_TERMS", "MAX_DEPTH", "MAX_ID",
           "INTEGER_DIMENSIONS", "STRING_DIMENSIONS"]

MAX_ID = 2**63 - 1
"""Largest id the registry stores (a signed 64-bit integer)."""

MAX_TERMS = 900
"""Most values (or ranges) one group's clause may list: SQLite fails on ``IN`` lists above 995."""

MAX_DEPTH = 950
"""Deepest expression accepted (SQLite's limit is 1000; the base query adds a few levels)."""

# Dimensions whose values are integers, and those whose values are strings, in the butler's
# default dimension universe. A qualified name (``visit.day_obs``) is judged by its last part.
INTEGER_DIMENSIONS = frozenset({"visit", "exposure", "detector", "tract", "patch", "day_obs", "visit_system",
                                "seq_num", "healpix"})
STRING_DIMENSIONS = frozenset({"instrument", "band", "physical_filter", "skymap"})


def combine_query(base: str, clause: str) -> str:
    """Join a base query and a group clause, each in balanced parentheses (the planner's data queries)."""
    if base and clause:
        return f"({base}) AND ({clause})"
    return base or clause


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


class _Bad(Exception):
    """One problem found while reading the query."""


@dataclass(frozen=True)
class _Tok:
    kind: str  # NUM STR TIME RANGE ID BIND OP KW END
    text: str
    pos: int


_TOKEN = re.compile(r"""
    (?P<TIME>T'[^']*')
  | (?P<STR>'[^']*')
  | (?P<RANGE>-?[0-9]+[ \t]*\.\.[ \t]*-?[0-9]+([ \t]*:[ \t]*[1-9][0-9]*)?)
  | (?P<NUM>[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?|\.[0-9]+([eE][-+]?[0-9]+)?)
  | (?P<ID>[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2})
  | (?P<BIND>:[A-Za-z_][A-Za-z0-9_]*)
  | (?P<OP>!=|<=|>=|[()=<>+\-*/%,])
""", re.VERBOSE)

_KEYWORDS = {"AND", "OR", "NOT", "IN", "OVERLAPS"}
_COMPARE = {"=", "!=", "<", "<=", ">", ">=", "OVERLAPS"}


def _shown(tok: _Tok) -> str:
    return "the end of the query" if tok.kind == "END" else f"'{tok.text}' at position {tok.pos + 1}"


def _tokens(text: str) -> list[_Tok]:
    out, pos = [], 0
    while pos < len(text):
        ch = text[pos]
        if ch in " \t\n":
            pos += 1
            continue
        m = _TOKEN.match(text, pos)
        if not m:
            if ch == '"':
                raise _Bad(f"double quote at position {pos + 1}: the butler quotes strings with single quotes ('g')")
            if ch == "'":
                raise _Bad(f"unterminated string: ' at position {pos + 1} is never closed")
            raise _Bad(f"unexpected character {ch!r} at position {pos + 1}")
        kind, word = m.lastgroup, m.group()
        if kind == "ID" and word.upper() in _KEYWORDS:
            kind, word = "KW", word.upper()
        out.append(_Tok(kind, word, pos))
        pos = m.end()
    out.append(_Tok("END", "", len(text)))
    return out


class _Parser:
    """Recursive descent over daf_butler's grammar; builds a small tuple tree."""

    def __init__(self, text: str):
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def accept(self, *texts: str) -> _Tok | None:
        tok = self.peek()
        if tok.kind in ("KW", "OP") and tok.text in texts:
            return self.take()
        return None

    def expect(self, text: str, after: str) -> None:
        if not self.accept(text):
            raise _Bad(f"expected '{text}' after {after}, found {_shown(self.peek())}")

    def parse(self) -> Any:
        if self.peek().kind == "END":
            return None
        tree = self.expr()
        if self.peek().kind != "END":
            raise _Bad(f"unexpected {_shown(self.peek())}: expected AND, OR or the end of the query")
        return tree

    def expr(self) -> Any:
        return self._chain("OR", self.and_expr)

    def and_expr(self) -> Any:
        return self._chain("AND", self.not_expr)

    def _chain(self, word: str, part) -> Any:
        operands = [part()]
        while self.accept(word):
            operands.append(part())
        return operands[0] if len(operands) == 1 else (word.lower(), operands)

    def not_expr(self) -> Any:
        if self.accept("NOT"):
            return ("not", self.not_expr())
        return self.bool_primary()

    def bool_primary(self) -> Any:
        left = self.predicate()
        tok = self.peek()
        if tok.kind in ("OP", "KW") and tok.text in _COMPARE:
            self.take()
            right = self.predicate()
            nxt = self.peek()
            if nxt.kind in ("OP", "KW") and nxt.text in _COMPARE:
                raise _Bad(f"chained comparison: {_shown(nxt)} follows another comparison; join them with AND")
            return ("cmp", tok.text, left, right)
        return left

    def predicate(self) -> Any:
        left = self.bit_expr()
        negated = False
        if self.peek().kind == "KW" and self.peek().text == "NOT":
            self.take()
            negated = True
            if not (self.peek().kind == "KW" and self.peek().text == "IN"):
                raise _Bad(f"expected IN after NOT, found {_shown(self.peek())}")
        if self.accept("IN"):
            self.expect("(", "IN")
            items = [self.list_item()]
            while self.accept(","):
                items.append(self.list_item())
            self.expect(")", "the IN list")
            return ("in", left, items, negated)
        return left

    def list_item(self) -> Any:
        tok = self.peek()
        if tok.kind in ("NUM", "STR", "TIME", "RANGE", "BIND"):
            return self.primary()
        if tok.kind == "OP" and tok.text in "+-" and self.toks[self.i + 1].kind == "NUM":
            self.take()
            num = self.take()
            return ("num", tok.text + num.text, num.pos)
        if tok.kind == "ID" and "." not in tok.text:
            return self.primary()
        raise _Bad(f"expected a value in the IN list, found {_shown(tok)}")

    def bit_expr(self) -> Any:
        left = self.term()
        while (tok := self.accept("+", "-")):
            left = ("arith", tok.text, left, self.term())
        return left

    def term(self) -> Any:
        left = self.unary()
        while (tok := self.accept("*", "/", "%")):
            left = ("arith", tok.text, left, self.unary())
        return left

    def unary(self) -> Any:
        tok = self.accept("+", "-")
        if tok:
            operand = self.unary()
            if operand[0] == "num" and not operand[1].startswith(("+", "-")):
                return ("num", tok.text + operand[1], operand[2])
            return ("neg", operand)
        return self.primary()

    def primary(self) -> Any:
        tok = self.take()
        if tok.kind == "NUM":
            return ("num", tok.text, tok.pos)
        if tok.kind == "STR":
            return ("str", tok.text[1:-1], tok.pos)
        if tok.kind == "TIME":
            return ("time", tok.text, tok.pos)
        if tok.kind == "RANGE":
            return ("range", tok.text, tok.pos)
        if tok.kind == "BIND":
            return ("bind", tok.text, tok.pos)
        if tok.kind == "ID":
            if "." not in tok.text and self.accept("("):
                args = []
                if not self.accept(")"):
                    args.append(self.expr())
                    while self.accept(","):
                        args.append(self.expr())
                    self.expect(")", f"the arguments of {tok.text}(")
                return ("call", tok.text, args)
            return ("id", tok.text, tok.pos)
        if tok.kind == "OP" and tok.text == "(":
            inner = self.expr()
            if self.accept(","):
                second = self.expr()
                self.expect(")", "a pair")
                return ("tuple", [inner, second])
            self.expect(")", "the expression in parentheses")
            return ("paren", inner)
        before = self.toks[self.i - 2] if self.i >= 2 else None
        after = f" after '{before.text}'" if before else ""
        raise _Bad(f"expected a value or a dimension{after}, found {_shown(tok)}")


def _walk(node: Any, found: dict) -> int:
    """Collect identifiers, comparisons and integers; return the nesting depth of ``node``."""
    kind = node[0]
    if kind in ("and", "or"):
        depths = [_walk(n, found) for n in node[1]]
        return len(depths) - 1 + max(depths)
    if kind in ("not", "neg", "paren"):
        return 1 + _walk(node[1], found)
    if kind == "cmp":
        _, op, left, right = node
        for a, b in ((left, right), (right, left)):
            if a[0] == "id" and b[0] in ("num", "str"):
                found["pairs"].append((a[1], b))
        return 1 + max(_walk(left, found), _walk(right, found))
    if kind == "in":
        _, left, items, _neg = node
        if left[0] == "id":
            found["pairs"].extend((left[1], item) for item in items if item[0] in ("num", "str"))
        for item in items:
            _walk(item, found)
        return _walk(left, found) + len(items)
    if kind == "arith":
        return 1 + max(_walk(node[2], found), _walk(node[3], found))
    if kind in ("tuple", "call"):
        args = node[1] if kind == "tuple" else node[2]
        return 1 + max([_walk(a, found) for a in args] or [0])
    if kind == "id":
        found["ids"].add(node[1])
    elif kind == "num":
        found["nums"].append(node)
    return 1


def _integer(text: str) -> int | None:
    return int(text) if re.fullmatch(r"[-+]?[0-9]+", text) else None


def _semantics(tree: Any) -> list[str]:
    found: dict = {"ids": set(), "pairs": [], "nums": []}
    depth = _walk(tree, found)
    problems: list[str] = []
    for _, text, _pos in found["nums"]:
        value = _integer(text)
        if value is not None and not -MAX_ID - 1 <= value <= MAX_ID:
            problems.append(f"{text} does not fit in 64 bits (the largest id is {MAX_ID})")
    kinds: dict[str, dict[str, Any]] = {}
    for name, value in found["pairs"]:
        last = name.rsplit(".", 1)[-1]
        if value[0] == "str" and last in INTEGER_DIMENSIONS:
            hint = " (YYYYMMDD)" if last == "day_obs" else ""
            problems.append(f"{name} is an integer{hint}, compared with the string '{value[1]}': write it without quotes")
        elif value[0] == "num" and last in STRING_DIMENSIONS:
            problems.append(f"{name} is a string, compared with the number {value[1]}: write it in single quotes")
        kinds.setdefault(name, {}).setdefault(value[0], value)
    for name, seen in kinds.items():
        if len(seen) > 1 and name.rsplit(".", 1)[-1] not in INTEGER_DIMENSIONS | STRING_DIMENSIONS:
            problems.append(f"{name} is compared with both the number {seen['num'][1]} and the string "
                            f"'{seen['str'][1]}': the values of one dimension are of one type")
    names = {n.split(".", 1)[0] for n in found["ids"]}
    if "skymap" not in names:
        for dim in ("tract", "patch"):
            if dim in names:
                problems.append(f"{dim} needs skymap: add skymap='...' to the query")
                break
    if depth > MAX_DEPTH:
        problems.append(f"expression too large: nested {depth} deep (the butler's SQLite registry fails at "
                        f"1000; at most {MAX_DEPTH}): use smaller groups")
    return problems


def check_query(text: str) -> list[str]:
    """What is wrong with a butler data query, as one sentence per problem (empty: none found).

    Parameters
    ----------
    text : `str`
        The ``where`` expression, as it goes into ``payload.dataQuery``.

    Returns
    -------
    problems : `list` of `str`
        Syntax errors first (only the first one: the rest of the text cannot be read), then
        every rule the butler would reject the query for.
    """
    basic = query_problem(text)
    if basic and not basic.startswith("unterminated string: \""):
        return [basic]
    try:
        tree = _Parser(text).parse()
    except _Bad as exc:
        return [str(exc)]
    except RecursionError:
        return [f"expression too large: nested too deep to read (at most {MAX_DEPTH})"]
    return _semantics(tree) if tree is not None else []
