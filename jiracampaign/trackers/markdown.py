"""Documents as Markdown (GitHub-flavoured): what the local store keeps, and what reports can show.

Text is escaped so that nothing it contains becomes markup; code blocks are fenced with more
backticks than the code contains; links are made only from http(s) URLs.
"""

from __future__ import annotations

import re

from ..core.documents import Block, Bullets, Code, Document, Emph, Fields, Heading, Inline, Link, Mono, Paragraph, \
    Strong, Table, Warn, unlink

__all__ = ["escape", "inline", "render"]

_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~!])")


_BLOCK_START = re.compile(r"^(\s*)([-+=]|\d+(?=[.)]))")



def escape(text: object) -> str:
    """Text made inert in Markdown (line breaks become spaces: inline content is one line); a leading list
    or rule marker is escaped too, since text may start a paragraph or a bullet."""
    flat = _SPECIAL.sub(r"\\\1", " ".join(str(text).replace("\r", "").split("\n")))
    return _BLOCK_START.sub(lambda m: m.group(1) + "\\" + m.group(2), flat, count=1)


def _ticks(text: str, least: int) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(least, longest + 1)


def inline(content: Inline) -> str:
    if isinstance(content, (str, int)):
        return escape(unlink(str(content)))
    if isinstance(content, Mono):
        text = " ".join(content.text.split("\n")).replace("|", "\\|")  # a pipe would split a table cell
        fence = _ticks(text, 1)
        pad = " " if text.startswith("`") or text.endswith("`") else ""
        return f"{fence}{pad}{text}{pad}{fence}"
    if isinstance(content, Strong):
        return f"**{inline(content.content)}**"
    if isinstance(content, Emph):
        return f"_{inline(content.content)}_"
    if isinstance(content, Link):
        if not re.match(r"^https?://", content.url):
            return escape(unlink(content.title))
        url = re.sub(r"[\s()<>|]", lambda m: "%{:02X}".format(ord(m.group(0))), content.url)
        return f"[{escape(unlink(content.title))}]({url})"
    if isinstance(content, Warn):
        return "⚠"
    return "".join(inline(part) for part in content)


def _bullets(items, depth: int = 0) -> list[str]:
    lines = []
    for item in items:
        lines.append(f"{'  ' * depth}- {inline(item.content)}")
        lines += _bullets(item.children, depth + 1)
    return lines


def _row(cells) -> str:
    return "| " + " | ".join(cells) + " |"


def _block(block: Block) -> str:
    if isinstance(block, Heading):
        return f"{'#' * block.level} {inline(block.content)}"
    if isinstance(block, Fields):
        return "\n".join(f"- **{escape(label)}:** {inline(value)}" for label, value in block.rows)
    if isinstance(block, Table):
        lines = [_row(escape(h) for h in block.header), _row("---" for _ in block.header)]
        return "\n".join(lines + [_row(inline(c) for c in row) for row in block.rows])
    if isinstance(block, Code):
        fence = _ticks(block.text, 3)
        return f"{fence}\n{block.text}\n{fence}"
    if isinstance(block, Paragraph):
        return inline(block.content)
    if isinstance(block, Bullets):
        return "\n".join(_bullets(block.items))
    raise TypeError(f"not a document block: {block!r}")


def render(doc: Document) -> str:
    """A document as Markdown, blocks separated by blank lines."""
    return "\n\n".join(_block(block) for block in doc.blocks)
