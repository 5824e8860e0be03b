"""Markdown written by `jiracampaign.trackers.markdown.render` read back as plain text (for views).

The inverse of the renderer for what it writes, not a Markdown parser: escapes are undone, emphasis
and code marks dropped, a link becomes its title (`spans` keeps its address beside it), a table row
its cells joined by `` | ``, a field row ``- Label: value``; bullets stay ``- `` lines indented two
spaces per level, code blocks stay as they are; blank lines go. The JIRA tracker gives the same text
for the same document (`jiracampaign.trackers.jira.wiki_text`). Only the renderer's link syntax makes
a link: text is escaped when written, so nothing in it reads back as one.
"""

from __future__ import annotations

import re
from typing import Sequence

from ..core.documents import ZWSP
from .base import Span

__all__ = ["spans", "plain", "merged", "cells", "row"]

_FENCE = re.compile(r"^(`{3,})$")
_HEADING = re.compile(r"^#{1,6} ")
_BULLET = re.compile(r"^( *)- (.*)$")
_RULE = re.compile(r"^\|( --- \|)+$")
_CELL = "\x00"  # a table cell boundary while a row is read


def _code_span(text: str, i: int) -> tuple[str, int] | None:
    """The code span opening at ``text[i]`` (its content and the index after it), or `None`."""
    run = len(text[i:]) - len(text[i:].lstrip("`"))
    close = re.compile(r"(?<!`)" + "`" * run + r"(?!`)")
    found = close.search(text, i + run)
    if not found:
        return None
    body = text[i + run:found.start()]
    if len(body) >= 2 and body[0] == body[-1] == " " and ("`" in (body[1], body[-2])):
        body = body[1:-1]  # the renderer pads a span that starts or ends with a backtick
    return body.replace("\\|", "|"), found.end()


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
        elif char == "`":
            span = _code_span(text, i)
            if span is None:
                chars.append(char)
                i += 1
            else:
                chars.append(span[0])
                i = span[1]
        elif char == "[":  # [title](url)
            j, title = i + 1, []
            while j < len(text) and text[j] != "]":
                if text[j] == "\\" and j + 1 < len(text):
                    j += 1
                title.append(text[j])
                j += 1
            if text.startswith("](", j) and ")" in text[j + 2:]:
                end = text.index(")", j + 2)
                flush()
                out.append((_text(_inline("".join(title))), text[j + 2:end]))
                i = end + 1
            else:
                chars.append(char)
                i += 1
        elif char == "*" and text.startswith("**", i):
            i += 2
        elif char == "_":
            i += 1
        elif char == "|" and cells:
            chars.append(_CELL)
            i += 1
        else:
            chars.append(char)
            i += 1
    flush()
    return out


def _text(line: Sequence[Span]) -> str:
    return "".join(text for text, _ in line)


def merged(line: Sequence[Span]) -> tuple[Span, ...]:
    """Spans with neighbouring plain texts joined (and empty ones dropped)."""
    out: list[Span] = []
    for text, url in line:
        if out and not url and not out[-1][1]:
            out[-1] = (out[-1][0] + text, "")
        elif text:
            out.append((text, url))
    return tuple(out)


def cells(line: Sequence[Span], *marks: str) -> list[list[Span]]:
    """A table row's spans split into cells at the ``marks`` its text holds."""
    out: list[list[Span]] = [[]]
    for text, url in line:
        if url or not marks:
            out[-1].append((text, url))
            continue
        for n, piece in enumerate(re.split("|".join(map(re.escape, marks)), text)):
            if n:
                out.append([])
            out[-1].append((piece, ""))
    return out


def row(line: Sequence[Span], *marks: str) -> tuple[Span, ...]:
    """A table row as its cells (split at ``marks``), trimmed, joined by `` | ``."""
    out: list[Span] = []
    for n, found in enumerate(cells(line, *marks)):
        cell = list(merged(found))
        if cell and not cell[0][1]:
            cell[0] = (cell[0][0].lstrip(), "")
        if cell and not cell[-1][1]:
            cell[-1] = (cell[-1][0].rstrip(), "")
        out += ([(" | ", "")] if n else []) + cell
    return merged(out)


def spans(text: str) -> tuple[tuple[Span, ...], ...]:
    """``text`` (Markdown as the local store keeps it) as lines of spans."""
    lines: list[list[Span]] = []
    fence = None
    for line in text.replace("\r", "").split("\n"):
        if fence is not None:
            if line == fence:
                fence = None
            else:
                lines.append([(line, "")])
            continue
        opening = _FENCE.match(line)
        if opening:
            fence = opening.group(1)
            continue
        if not line.strip() or _RULE.match(line):
            continue
        if _HEADING.match(line):
            lines.append(_inline(_HEADING.sub("", line, count=1)))
        elif line.startswith("| ") and line.endswith(" |"):
            lines.append(row(_inline(line[2:-2], cells=True), _CELL))
        elif bullet := _BULLET.match(line):
            lines.append([(f"{bullet.group(1)}- ", ""), *_inline(bullet.group(2))])
        else:
            lines.append(_inline(line))
    return tuple(merged(line) for line in lines)


def plain(text: str) -> str:
    """``text`` (Markdown as the local store keeps it) as plain text lines."""
    return "\n".join(_text(line) for line in spans(text))
