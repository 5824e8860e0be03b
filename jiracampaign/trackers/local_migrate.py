"""Migration of local stores written by earlier releases.

Schema 0 (jiracampaign 0.1) kept JIRA wiki markup and a JIRA-like workflow status per ticket.
Schema 1 keeps Markdown and each submission's run state (and a ``closed`` flag for campaigns).
The markup converted is the markup jiracampaign 0.1 wrote: headings, tables, field lists,
``{noformat}`` blocks, ``{{monospace}}``, links, strong and emphasis, bullets and escapes.
"""

from __future__ import annotations

import json
import re
import sqlite3

__all__ = ["SCHEMA_VERSION", "migrate", "wiki_to_markdown"]

SCHEMA_VERSION = 1

#: 0.1 statuses -> run state, when the ticket's last sync record does not say
_STATUS_STATES = {"To Do": "", "In Progress": "running", "Blocked": "held", "Failed": "failed", "Done": "succeeded"}
_MD_SPECIAL = set("\\`*_[]<>#|~!")


def _unescape(text: str) -> str:
    """Wiki text (backslash escapes) as Markdown text (escaped where Markdown needs it)."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append("\\" + nxt if nxt in _MD_SPECIAL else nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


_SPAN = re.compile(r"\{\{(.*?)\}\}|\[((?:\\.|[^\]|\\])*)\|(https?://[^\]\s]*)\]|(?<![\\\w])\*(\S(?:.*?\S)?)\*(?!\w)"
                   r"|(?<![\\\w])_(\S(?:.*?\S)?)_(?!\w)|\(!\)")


def _inline(text: str) -> str:
    def span(m: re.Match) -> str:
        mono, title, url, strong, emph = m.groups()
        if mono is not None:
            return "`" + re.sub(r"\\(.)", r"\1", mono) + "`"
        if url is not None:
            return f"[{_unescape(title)}]({url})"
        if strong is not None:
            return f"**{_inline(strong)}**"
        if emph is not None:
            return f"_{_inline(emph)}_"
        return "⚠"

    out, last = [], 0
    for m in _SPAN.finditer(text):
        out += [_unescape(text[last:m.start()]), span(m)]
        last = m.end()
    return "".join(out + [_unescape(text[last:])])


def _cells(row: str, sep: str) -> list[str]:
    """The cells of a table row; a ``|`` inside a ``[title|url]`` link does not split."""
    inner = row.strip()[len(sep):-len(sep) if row.strip().endswith(sep) else None]
    guarded = re.sub(r"\[[^\]]*\]", lambda m: m.group(0).replace("|", "\0"), inner)
    return [c.replace("\0", "|") for c in re.split(r"(?<!\\)" + re.escape(sep), guarded)]


def wiki_to_markdown(text: str) -> str:
    """The markup jiracampaign 0.1 wrote, as Markdown."""
    lines, out, code = text.split("\n"), [], False
    for line in lines:
        if line.strip() == "{noformat}":
            out.append("```")
            code = not code
            continue
        if code:
            out.append(line)
            continue
        heading = re.match(r"^h([1-6])\.\s+(.*)$", line)
        if heading:
            out.append("#" * int(heading.group(1)) + " " + _inline(heading.group(2)))
        elif line.startswith("||") and line.rstrip().endswith("||"):
            cells = _cells(line, "||")
            out += ["| " + " | ".join(_inline(c) for c in cells) + " |", "| " + " | ".join("---" for _ in cells) + " |"]
        elif line.startswith("||"):  # ||label|value|
            label, _, value = line[2:].rstrip().removesuffix("|").partition("|")
            out.append(f"- **{_inline(label)}:** {_inline(value).strip()}")
        elif line.startswith("|"):
            out.append("| " + " | ".join(_inline(c) for c in _cells(line, "|")) + " |")
        elif re.match(r"^\*+ ", line):
            depth = len(line) - len(line.lstrip("*"))
            out.append("  " * (depth - 1) + "- " + _inline(line[depth + 1:]))
        else:
            out.append(_inline(line))
    return "\n".join(out)


def migrate(db: sqlite3.Connection, version: int) -> None:
    """Bring a store of schema ``version`` to `SCHEMA_VERSION`, in one transaction."""
    if version >= 1:
        return
    with db:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ALTER TABLE tickets RENAME COLUMN metadata TO record")
        db.execute("ALTER TABLE tickets ADD COLUMN state TEXT NOT NULL DEFAULT ''")
        db.execute("ALTER TABLE tickets ADD COLUMN closed INTEGER NOT NULL DEFAULT 0")
        synced = {r[0]: json.loads(r[1]) for r in db.execute("SELECT key, record FROM sync_records")}
        for key, kind, status, description, record in db.execute(
                "SELECT key, kind, status, description, record FROM tickets").fetchall():
            run = (json.loads(record).get("run") or {}).get("run_name")
            last = synced.get(key) or {}
            if kind == "campaign" or kind == "step":
                state, closed = "", int(status == "Done")
            else:
                state = last.get("state") if last.get("run_name") == run and last.get("state") else \
                    (_STATUS_STATES.get(status, "") if run or status == "Done" else "")
                closed = 0
            db.execute("UPDATE tickets SET state = ?, closed = ?, description = ? WHERE key = ?",
                       (state, closed, wiki_to_markdown(description), key))
        for cid, body in db.execute("SELECT id, body FROM comments").fetchall():
            db.execute("UPDATE comments SET body = ? WHERE id = ?", (wiki_to_markdown(body), cid))
        db.execute("ALTER TABLE tickets DROP COLUMN status")
        db.execute("ALTER TABLE tickets DROP COLUMN labels")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
