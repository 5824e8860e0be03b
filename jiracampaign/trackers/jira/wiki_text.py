"""JIRA wiki markup written by `jiracampaign.trackers.jira.wiki.render` read back as plain text (for views).

The inverse of the renderer for what it writes, not a wiki parser: escapes are undone, emphasis and
monospace marks dropped, ``(!)`` becomes ⚠, a link its title (`spans` keeps its address beside it), a
table row its cells joined by `` | ``, a field row (``||Label|value|``) ``- Label: value``; bullets
become ``- `` lines indented two spaces per level, ``{noformat}`` blocks stay as they are; blank lines
and jiracampaign's marker line go. The local store gives the same text for the same document
(`jiracampaign.trackers.markdown_text`). Only the renderer's link syntax makes a link: text is escaped
when written, so nothing in it reads back as one.
"""

from __future__ import annotations

import re
from typing import Sequence

from ...core.documents import ZWSP
from ..base import Span
from ..markdown_text import cells, merged, row
from .labels import marker_line

__all__ = ["spans", "plain"]

_HEADING = re.compile(r"^h[1-6]\. ")
_BULLET = re.compile(r"^(\*+) (.*)$")
_MARKER = re.compile("^" + re.escape(marker_line("\x00")).replace("\x00", ".+") + r"\s*$")
_CELL = "\x00"  # a table cell boundary while a row is read
_HEAD = "\x01"  # a heading cell boundary (``||``)


def _inline(text: str, cells: bool = False) -> list[Span]:
    out: list[Span] = []
    chars: list[str] = []

    def flush() -> None:
        if chars:
            out.append(("".join(chars).replace(ZWSP, ""), ""))
            chars.clear()

    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            chars.append(text[i + 1])
            i += 2
        elif text.startswith("(!)", i):
            chars.append("⚠")
            i += 3
        elif text.startswith(("{{", "}}"), i):
            i += 2
        elif char in "*_":
            i += 1
        elif char == "[":  # [title|url]
            j, title = i + 1, []
            while j < len(text) and text[j] not in "|]":
                if text[j] == "\\" and j + 1 < len(text):
                    j += 1
                title.append(text[j])
                j += 1
            end = text.find("]", j)
            if j < len(text) and text[j] == "|" and end > 0:
                flush()
                out.append(("".join(title).replace(ZWSP, ""), text[j + 1:end]))
                i = end + 1
            else:
                chars.append(char)
                i += 1
        elif char == "|" and cells:
            if text.startswith("||", i):
                chars.append(_HEAD)
                i += 2
            else:
                chars.append(_CELL)
                i += 1
        else:
            chars.append(char)
            i += 1
    flush()
    return out


def _text(line: Sequence[Span]) -> str:
    return "".join(text for text, _ in line)


def _row(line: str) -> tuple[Span, ...]:
    """A table or field row: ``||Label|value|`` as ``- Label: value``, any other row as its cells."""
    found = _inline(line, cells=True)
    marks = _text(found)
    if marks.startswith(_HEAD) and marks.count(_HEAD) == 1 and marks.count(_CELL) == 2 and marks.endswith(_CELL):
        _, label, value, _ = cells(found, _HEAD, _CELL)
        return merged([("- ", ""), *row(label), (": ", ""), *row(value)])
    parts = cells(found, _HEAD, _CELL)
    inner = parts[1:-1] if len(parts) > 2 else parts
    return row([span for n, cell in enumerate(inner) for span in ([(_CELL, "")] if n else []) + cell], _CELL)


def spans(text: str) -> tuple[tuple[Span, ...], ...]:
    """``text`` (wiki markup as jiracampaign writes it to JIRA) as lines of spans."""
    lines: list[list[Span]] = []
    code = False
    for line in text.replace("\r", "").split("\n"):
        if line == "{noformat}":
            code = not code
            continue
        if code:
            lines.append([(line.replace("{ noformat}", "{noformat}"), "")])
            continue
        if not line.strip() or _MARKER.match(line):
            continue
        if _HEADING.match(line):
            lines.append(_inline(_HEADING.sub("", line, count=1)))
        elif line.startswith("|"):
            lines.append(_row(line))
        elif bullet := _BULLET.match(line):
            lines.append([(f"{'  ' * (len(bullet.group(1)) - 1)}- ", ""), *_inline(bullet.group(2))])
        else:
            lines.append(_inline(line))
    return tuple(merged(line) for line in lines)


def plain(text: str) -> str:
    """``text`` (wiki markup as jiracampaign writes it to JIRA) as plain text lines."""
    return "\n".join(_text(line) for line in spans(text))
