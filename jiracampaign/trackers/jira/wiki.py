"""Documents as JIRA wiki markup (REST v2, Cloud and Data Center alike): all escaping lives here."""

from __future__ import annotations

import re

from ...core.documents import Block, Bullets, Code, Document, Emph, Fields, Heading, Inline, Link, Mono, Paragraph, \
    Strong, Table, Warn, unlink

__all__ = ["escape", "mono", "noformat", "table", "link", "inline", "render"]

_SPECIAL = re.compile(r"([\\*_?\-+^~|\[\]{}!#()])")


_LINE_MARKUP = re.compile(r"^(\s*)(h[1-6]|bq)\.", re.MULTILINE)



def escape(text: object) -> str:
    """Make text inert in wiki markup: every markup character is backslash-escaped, and a line that would
    start a heading or a quote (``h1.``, ``bq.``) is defused; lines kept."""
    return _LINE_MARKUP.sub(r"\1\2\\.", _SPECIAL.sub(r"\\\1", str(text)).replace("\r", ""))


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
        return escape(unlink(str(title)))
    return f"[{escape(unlink(str(title)))}|{safe_url}]"


def inline(content: Inline) -> str:
    """Inline document content as wiki markup; every text is escaped."""
    if isinstance(content, (str, int)):
        return escape(unlink(" ".join(str(content).split("\n"))))  # one line (a table row ends at a break)
    if isinstance(content, Mono):
        return mono(content.text)
    if isinstance(content, Strong):
        return f"*{inline(content.content)}*"
    if isinstance(content, Emph):
        return f"_{inline(content.content)}_"
    if isinstance(content, Link):
        return link(content.title, content.url)
    if isinstance(content, Warn):
        return "(!)"
    return "".join(inline(part) for part in content)


def _bullets(items, depth: int = 1) -> list[str]:
    lines = []
    for item in items:
        lines.append(f"{'*' * depth} {inline(item.content)}")
        lines += _bullets(item.children, depth + 1)
    return lines


def _block(block: Block) -> str:
    if isinstance(block, Heading):
        return f"h{block.level}. {inline(block.content)}"
    if isinstance(block, Fields):
        return table([(label, inline(value)) for label, value in block.rows])
    if isinstance(block, Table):
        head = "||" + "||".join(escape(h) for h in block.header) + "||"
        return "\n".join([head] + ["|" + "|".join(inline(c) or " " for c in row) + "|" for row in block.rows])
    if isinstance(block, Code):
        return noformat(block.text)
    if isinstance(block, Paragraph):
        return inline(block.content)
    if isinstance(block, Bullets):
        return "\n".join(_bullets(block.items))
    raise TypeError(f"not a document block: {block!r}")


def render(doc: Document) -> str:
    """A document as JIRA wiki markup (a heading's content follows it on the next line)."""
    out = ""
    for i, block in enumerate(doc.blocks):
        if i:
            out += "\n" if isinstance(doc.blocks[i - 1], Heading) else "\n\n"
        out += _block(block)
    return out
