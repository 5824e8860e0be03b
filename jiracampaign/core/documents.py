"""Tracker-neutral documents: every text jiracampaign writes to a ticket, built once, rendered by each tracker.

A `Document` is a list of blocks (heading, field list, table, code, paragraph, bullets); blocks hold
inline spans (plain text, monospaced text, strong, emphasis, links, a warning sign). Plain text is
*text*, never markup: each renderer escapes it for its own format (JIRA wiki markup in the JIRA
tracker, Markdown in the local store and reports), so text from a workload system or a user can
never change the look of a ticket, open a link, or close a code block early.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence, Union

__all__ = ["unlink", "Mono", "Strong", "Emph", "Link", "Warn", "Inline", "Heading", "Fields", "Table", "Code", "Paragraph",
           "Bullet", "Bullets", "Block", "Document", "plain_text"]


@dataclass(frozen=True)
class Mono:
    """Monospaced text (a name, a path, a query)."""

    text: str


@dataclass(frozen=True)
class Strong:
    """Strong emphasis around inline content."""

    content: "Inline"


@dataclass(frozen=True)
class Emph:
    """Emphasis around inline content."""

    content: "Inline"


@dataclass(frozen=True)
class Link:
    """A link; rendered as its title alone unless ``url`` is http(s)."""

    title: str
    url: str


@dataclass(frozen=True)
class Warn:
    """A warning sign (JIRA's ``(!)``)."""


#: inline content: text, a span, or a sequence of them (concatenated)
Inline = Union[str, int, Mono, Strong, Emph, Link, Warn, Sequence["Inline"]]


@dataclass(frozen=True)
class Heading:
    content: Inline
    level: int = 4


@dataclass(frozen=True)
class Fields:
    """Label/value pairs (a two-column table without a heading row)."""

    rows: Sequence[tuple[str, Inline]]


@dataclass(frozen=True)
class Table:
    """A table with a heading row; cells are inline content."""

    header: Sequence[str]
    rows: Sequence[Sequence[Inline]]


@dataclass(frozen=True)
class Code:
    """Preformatted text, shown exactly as it is."""

    text: str


@dataclass(frozen=True)
class Paragraph:
    content: Inline


@dataclass(frozen=True)
class Bullet:
    content: Inline
    children: Sequence["Bullet"] = ()


@dataclass(frozen=True)
class Bullets:
    items: Sequence[Bullet]


Block = Union[Heading, Fields, Table, Code, Paragraph, Bullets]


@dataclass
class Document:
    """A ticket text: blocks in order."""

    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> "Document":
        self.blocks.extend(blocks)
        return self


def plain_text(content: Inline) -> str:
    """Inline content as plain text (for terminals and logs)."""
    if isinstance(content, (str, int)):
        return str(content)
    if isinstance(content, Mono):
        return content.text
    if isinstance(content, (Strong, Emph)):
        return plain_text(content.content)
    if isinstance(content, Link):
        return content.title
    if isinstance(content, Warn):
        return "(!)"
    return "".join(plain_text(part) for part in content)


# Trackers (JIRA, GitHub-flavoured Markdown) turn a bare URL in plain text into a link even when every
# markup character around it is escaped. A zero-width space after the scheme's colon (and inside "www.")
# keeps the text as it reads while nothing recognises it as a URL; links are made only from `Link` spans.
# Both renderers apply it to text they did not get as a `Link`.
_BARE_URL = re.compile(r"\b([a-z][a-z0-9+.\-]*):(?=//)|\b(mailto):|\b(www)\.", re.IGNORECASE)
ZWSP = "\u200b"


def unlink(text: str) -> str:
    """Text whose URLs (``https://...``, ``mailto:...``, ``www....``) no renderer turns into links."""
    return _BARE_URL.sub(lambda m: f"{m.group(1) or m.group(2)}:{ZWSP}" if m.group(1) or m.group(2)
                         else f"{m.group(3)}{ZWSP}.", text)
