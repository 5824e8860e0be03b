"""Load YAML while remembering where every key and value stands, so errors can name the line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

__all__ = ["Located", "load_located", "field_name"]

# libyaml's loader when PyYAML was built with it: the same results, several times faster.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Key = str | int
ErrorFactory = Callable[[str, int | None, str | None, str], Exception]


def field_name(path: tuple[Key, ...]) -> str:
    """Render a key path as ``steps[0].split.size``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


@dataclass
class Located:
    """A parsed YAML document plus the line of each node, keyed by path.

    Parameters
    ----------
    path : `str`
        The file name as shown to the user.
    data : `object`
        The plain Python value (dicts, lists, scalars).
    lines : `dict`
        Key path (tuple) to 1-based line of that key (or item).
    error : callable
        Factory of the error type to raise, ``error(path, line, field, problem)``.
    """

    path: str
    data: Any
    lines: dict[tuple[Key, ...], int] = field(default_factory=dict)
    error: ErrorFactory = ValueError

    def line(self, key_path: tuple[Key, ...]) -> int | None:
        """Return the line of ``key_path`` or of its nearest located ancestor."""
        probe = tuple(key_path)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.lines.get((), None)

    def fail(self, key_path: tuple[Key, ...], problem: str) -> Exception:
        """Build the error for ``key_path``; the caller raises it."""
        return self.error(self.path, self.line(key_path), field_name(key_path) or None, problem)


def _walk(node: yaml.Node, path: tuple[Key, ...], lines: dict, located_path: str, error: ErrorFactory) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                raise error(
                    located_path,
                    line,
                    field_name(path + (key,)),
                    f"duplicate key (first defined on line {seen[key]})",
                )
            seen[key] = line
            lines[path + (key,)] = line
            _walk(value_node, path + (key,), lines, located_path, error)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[path + (index,)] = item.start_mark.line + 1
            _walk(item, path + (index,), lines, located_path, error)


def _raise_yaml_error(text: str, shown: str, error: ErrorFactory) -> None:
    """Re-parse with the pure-Python loader, whose messages do not depend on how PyYAML was built."""
    try:
        yaml.compose(text, Loader=yaml.SafeLoader)
        yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise error(shown, line, None, f"not valid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise error(shown, None, None, f"not valid YAML: {exc}") from None
    raise error(shown, None, None, "not valid YAML")


def _bad_scalar(node: yaml.Node | None, path: tuple[Key, ...], shown: str, error: ErrorFactory) -> Exception | None:
    """The error for the first scalar that PyYAML resolved but cannot construct (``2024-02-30`` as a date)."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            found = _bad_scalar(value_node, path + (key_node.value,), shown, error)
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found = _bad_scalar(item, path + (index,), shown, error)
            if found:
                return found
    elif isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:timestamp":
        try:
            yaml.SafeLoader("").construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as exc:
            return error(shown, node.start_mark.line + 1, field_name(path) or None,
                         f"'{node.value}' is not a valid date ({exc}); expected a date (YYYY-MM-DD or YYYYMMDD)")
    return None


def load_located(path: str | Path, error: ErrorFactory = ValueError, text: str | None = None) -> Located:
    """Parse a YAML file, rejecting duplicate keys, and record the line of every node.

    Parameters
    ----------
    path : `str` or `pathlib.Path`
        File to read (also the name used in messages).
    error : callable
        Error factory ``error(path, line, field, problem)`` for the caller's error type.
    text : `str`, optional
        Content to parse instead of reading ``path``.

    Returns
    -------
    located : `Located`
        The data and the line map.

    Raises
    ------
    Exception
        Built by ``error`` when the file is missing, unreadable or not valid YAML.
    """
    shown = str(path)
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise error(shown, None, None, "file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise error(shown, None, None, f"cannot read file: {exc.__class__.__name__}: {exc}") from None
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError:
        _raise_yaml_error(text, shown, error)
    except (ValueError, OverflowError) as exc:  # a scalar PyYAML resolves (e.g. as a date) but cannot build
        raise _bad_scalar(yaml.compose(text, Loader=_Loader), (), shown, error) or error(
            shown, None, None, f"not valid YAML: {exc}") from None
    lines: dict[tuple[Key, ...], int] = {}
    if node is not None:
        lines[()] = node.start_mark.line + 1
        _walk(node, (), lines, shown, error)
    return Located(shown, data, lines, error)
