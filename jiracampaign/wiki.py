"""JIRA wiki markup (REST v2, Cloud and Data Center alike), with escaping for text we do not control."""

from __future__ import annotations

import re

__all__ = ["escape", "mono", "noformat", "table", "link"]

_SPECIAL = re.compile(r"([\\*_?\-+^~|\[\]{}!#()])")


def escape(text: object) -> str:
    """Make text inert in wiki markup: every markup character is backslash-escaped, lines kept."""
    return _SPECIAL.sub(r"\\\1", str(text)).replace("\r", "")


def mono(text: object) -> str:
    """Monospaced, escaped: ``{{text}}``."""
    return "{{" + escape(text) + "}}"


def noformat(text: object) -> str:
    """A preformatted block; the text cannot close it early."""
    body = str(text).replace("{noformat}", "{ noformat}")
    return "{noformat}\n" + body + "\n{noformat}"


def table(rows: list[tuple[str, str]]) -> str:
    """A two-column table of (label, already-formatted value)."""
    return "\n".join(f"||{escape(label)}|{value or ' '}|" for label, value in rows)


def link(title: object, url: str) -> str:
    """A link whose title is escaped and whose URL cannot break out of the brackets."""
    safe_url = re.sub(r"[\s|\[\]]", lambda m: "%{:02X}".format(ord(m.group(0))), url)
    if not re.match(r"^https?://", safe_url):
        return escape(title)
    return f"[{escape(title)}|{safe_url}]"
