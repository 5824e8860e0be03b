"""Declared keys for YAML files the user writes: one table drives validation and the docs."""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .yamlsrc import Located

__all__ = ["Key", "check_section", "SLUG", "describe_kind", "url_problem", "date_problem"]

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")

_KINDS = {
    "str": "a string",
    "slug": "a slug (lower-case letters, digits and '-', starting with a letter or digit, at most 40 characters)",
    "int": "an integer",
    "posint": "a positive integer",
    "number": "a positive number",
    "bool": "true or false",
    "strlist": "a list of strings",
    "list": "a list",
    "mapping": "a mapping",
    "date": "a date (YYYY-MM-DD or YYYYMMDD)",
    "url": "an http:// or https:// URL (empty: not set)",
    "any": "any value",
}


def url_problem(url: str) -> str | None:
    """What is wrong with a server URL the user gave, or `None` (empty means not set, which is fine)."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        hint = f" (did you mean 'https://{url}'?)" if "://" not in url else ""
        return f"expected a URL starting with https:// or http://, got '{url}'{hint}"
    if not parts.hostname:
        return f"expected a URL with a host name, got '{url}'"
    try:
        parts.port
    except ValueError:
        return f"expected a URL with a numeric port, got '{url}'"
    if any(ch.isspace() for ch in url.strip()):
        return f"expected a URL without spaces, got '{url}'"
    return None


def date_problem(text: str) -> str | None:
    """Why a value written like a date (``2024-02-30``, ``20240230``) is not one, or `None`."""
    for pattern, fmt in ((r"\d{4}-\d{1,2}-\d{1,2}", "%Y-%m-%d"), (r"\d{8}", "%Y%m%d")):
        if re.fullmatch(pattern, text):
            try:
                dt.datetime.strptime(text, fmt)
            except ValueError as exc:
                reason = str(exc)
                if "does not match format" in reason or "unconverted data" in reason:
                    reason = "month must be 1..12 and day within the month"
                return f"'{text}' is not a valid date ({reason})"
            return None
    return None


def describe_kind(kind: str) -> str:
    """Human wording of a key's kind, as used in messages and docs."""
    return _KINDS[kind]


@dataclass(frozen=True)
class Key:
    """One documented key of a YAML section.

    Parameters
    ----------
    name : `str`
        The key as written in YAML.
    kind : `str`
        One of ``str slug int posint number bool strlist list mapping date url any``, or ``section``.
    help : `str`
        One sentence for the reference docs.
    required : `bool`
        Whether the key must be present.
    default : `object`
        Value used when absent (not for required keys).
    choices : `tuple`
        Allowed values, if restricted.
    keys : `tuple` of `Key`
        Sub-keys, for ``kind="section"``.
    """

    name: str
    kind: str
    help: str
    required: bool = False
    default: Any = None
    choices: tuple = ()
    keys: tuple["Key", ...] = ()


def _typename(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"{value!r}"
    if isinstance(value, str):
        return f"'{value}'" if len(value) <= 60 else "a long string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, dt.date):
        return value.isoformat()
    return type(value).__name__


def _coerce(src: Located, path: tuple, key: Key, value: Any) -> Any:
    kind = key.kind
    ok = True
    if kind in ("str", "slug"):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and kind == "str":
            value = str(value)
        ok = isinstance(value, str)
        if ok and kind == "slug" and not SLUG.match(value):
            ok = False
    elif kind in ("int", "posint"):
        ok = isinstance(value, int) and not isinstance(value, bool)
        if ok and kind == "posint" and value <= 0:
            ok = False
    elif kind == "number":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    elif kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "strlist":
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    elif kind == "list":
        ok = isinstance(value, list)
    elif kind in ("mapping", "section"):
        ok = isinstance(value, dict)
    elif kind == "date":
        ok = _as_date(value) is not None
        if not ok:
            problem = date_problem(str(value)) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
            if problem:
                raise src.fail(path, f"{problem}; expected {describe_kind(kind)}")
        else:
            value = _as_date(value)
    elif kind == "url":
        if isinstance(value, str) and (problem := url_problem(value)):
            raise src.fail(path, problem)
        ok = isinstance(value, str)
    if not ok:
        raise src.fail(path, f"expected {describe_kind(kind if kind != 'section' else 'mapping')}, got {_typename(value)}")
    if key.choices and value not in key.choices:
        allowed = ", ".join(repr(c) for c in key.choices)
        raise src.fail(path, f"expected one of {allowed}, got {_typename(value)}")
    return value


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return None
    if isinstance(value, dt.date):
        return value
    text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def check_section(src: Located, path: tuple, value: Any, keys: tuple[Key, ...], what: str = "key") -> dict:
    """Validate one mapping against its declared keys and fill in defaults.

    Parameters
    ----------
    src : `Located`
        The file the mapping came from (for line numbers).
    path : `tuple`
        Key path of the mapping.
    value : `object`
        The parsed value, expected to be a mapping.
    keys : `tuple` of `Key`
        The declared keys.
    what : `str`
        Word for an unknown key in messages (``key``, ``setting``).

    Returns
    -------
    checked : `dict`
        Only declared keys, type-checked, defaults filled in; sections recursed.

    Raises
    ------
    InputError
        Through ``src.error``, for an unknown, missing or mistyped key.
    """
    if value is None and path == ():
        value = {}
    if not isinstance(value, dict):
        raise src.fail(path, f"expected a mapping, got {_typename(value)}")
    known = {k.name: k for k in keys}
    for name in value:
        if name not in known:
            folded = {k.lower().replace("_", ""): k for k in known}
            close = [folded[f]] if (f := str(name).lower().replace("_", "")) in folded else []
            close = close or difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.75)
            hint = f"; did you mean '{close[0]}'?" if close else f"; expected one of: {', '.join(known)}"
            raise src.fail(path + (name,), f"unknown {what}{hint}")
    out: dict[str, Any] = {}
    for key in keys:
        if key.name not in value or value[key.name] is None and key.kind != "any":
            if key.required:
                where = path + (key.name,) if key.name in value else path
                raise src.fail(where, f"missing required {what} '{key.name}' ({describe_kind(key.kind) if key.kind != 'section' else 'a mapping'})")
            if key.kind == "section":
                out[key.name] = check_section(src, path + (key.name,), {}, key.keys, what)
            else:
                out[key.name] = _copy_default(key.default)
            continue
        item = _coerce(src, path + (key.name,), key, value[key.name])
        if key.kind == "section":
            item = check_section(src, path + (key.name,), item, key.keys, what)
        out[key.name] = item
    return out


def _copy_default(value: Any) -> Any:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return value
