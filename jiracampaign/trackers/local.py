"""The embedded local store: the same model as JIRA (epic, child tickets, attachments, comments,
metadata, workflow statuses) in one SQLite file, for sites without JIRA and for tests."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..config import Config, data_dir
from ..errors import JiraCampaignError, TrackerError
from .base import CATEGORIES, EPIC_LABEL, NewTicket, Ticket, Tracker

__all__ = ["LocalTracker", "STATUSES"]

# The local workflow: every status can move to every other, as in a simplified JIRA workflow.
STATUSES = {"To Do": "new", "In Progress": "indeterminate", "Blocked": "indeterminate",
            "Failed": "indeterminate", "Done": "done"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (
    num INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT UNIQUE NOT NULL,
    ident TEXT UNIQUE NOT NULL,
    kind TEXT NOT NULL,
    campaign TEXT NOT NULL,
    parent TEXT,
    summary TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    labels TEXT NOT NULL,
    metadata TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tickets_campaign ON tickets (campaign, kind);
CREATE TABLE IF NOT EXISTS attachments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    filename TEXT NOT NULL,
    content BLOB NOT NULL,
    created TEXT NOT NULL,
    UNIQUE (key, filename)
);
CREATE TABLE IF NOT EXISTS comments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    marker TEXT,
    body TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS comments_key ON comments (key, marker);
CREATE TABLE IF NOT EXISTS sync_records (
    key TEXT PRIMARY KEY,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    field TEXT NOT NULL,
    old TEXT,
    new TEXT,
    at TEXT NOT NULL
);
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class LocalTracker(Tracker):
    """Tracker backed by SQLite (keys ``JC-1``, ``JC-2``, ...).

    Parameters
    ----------
    path : `str` or `pathlib.Path`
        The database file (created with its folder if missing).
    """

    name = "local"
    PREFIX = "JC"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise JiraCampaignError(f"{self.path}: cannot open the local store: {exc}") from None
        self.db.row_factory = sqlite3.Row

    @classmethod
    def from_config(cls, config: Config) -> "LocalTracker":
        return cls(config.get("local.path") or data_dir() / "campaigns.sqlite")

    def describe(self) -> str:
        return f"local store {self.path}"

    def browse_url(self, key: str) -> str:
        return f"{self.path}#{key}"

    def _ticket(self, row: sqlite3.Row) -> Ticket:
        attachments = {r["filename"]: str(r["id"]) for r in self.db.execute(
            "SELECT id, filename FROM attachments WHERE key = ? ORDER BY id", (row["key"],))}
        return Ticket(
            key=row["key"], kind=row["kind"], ident=row["ident"], summary=row["summary"],
            status=row["status"], category=STATUSES[row["status"]], labels=json.loads(row["labels"]),
            metadata=json.loads(row["metadata"]), description=row["description"],
            attachments=attachments, parent=row["parent"], id=str(row["num"]), sync=self._sync_record(row["key"]),
        )

    def _sync_record(self, key: str) -> dict[str, Any]:
        row = self.db.execute("SELECT record FROM sync_records WHERE key = ?", (key,)).fetchone()
        return json.loads(row["record"]) if row else {}

    def _get(self, key: str) -> sqlite3.Row:
        row = self.db.execute("SELECT * FROM tickets WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise JiraCampaignError(f"{self.describe()}: no ticket {key}")
        return row

    def find_tickets(self, campaign: str) -> list[Ticket]:
        rows = self.db.execute("SELECT * FROM tickets WHERE campaign = ? ORDER BY num", (campaign,)).fetchall()
        return [self._ticket(r) for r in rows]

    def get_ticket(self, key: str) -> Ticket | None:
        row = self.db.execute("SELECT * FROM tickets WHERE key = ?", (key,)).fetchone()
        return self._ticket(row) if row else None

    def find_known(self, refs: list[tuple[str, str]]) -> list[Ticket]:
        keys = [key for key, _ in refs]
        rows = self.db.execute(f"SELECT * FROM tickets WHERE key IN ({', '.join('?' * len(keys))}) ORDER BY num", keys)
        return [self._ticket(r) for r in rows]

    def create_tickets(self, items: list[NewTicket], progress=None) -> list[Ticket]:
        out = []
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            for item in items:
                row = self.db.execute("SELECT * FROM tickets WHERE ident = ?", (item.ident,)).fetchone()
                if row is None:
                    now = _now()
                    cur = self.db.execute(
                        "INSERT INTO tickets (key, ident, kind, campaign, parent, summary, description, status, labels,"
                        " metadata, created, updated) VALUES ('', ?, ?, ?, ?, ?, ?, 'To Do', ?, ?, ?, ?)",
                        (item.ident, item.kind, item.campaign, item.parent, item.summary, item.description,
                         json.dumps(item.all_labels()), json.dumps(item.metadata, sort_keys=True), now, now),
                    )
                    self.db.execute("UPDATE tickets SET key = ? WHERE num = ?", (f"{self.PREFIX}-{cur.lastrowid}", cur.lastrowid))
                    row = self.db.execute("SELECT * FROM tickets WHERE num = ?", (cur.lastrowid,)).fetchone()
                out.append(self._ticket(row))
                if progress:
                    progress(1)
        return out

    def update_ticket(self, key, summary=None, description=None, labels=None) -> None:
        row = self._get(key)
        with self.db:
            self.db.execute(
                "UPDATE tickets SET summary = ?, description = ?, labels = ?, updated = ? WHERE key = ?",
                (summary if summary is not None else row["summary"],
                 description if description is not None else row["description"],
                 json.dumps(labels) if labels is not None else row["labels"], _now(), key),
            )

    def attach(self, key: str, filename: str, content: bytes) -> None:
        self._get(key)
        with self.db:
            self.db.execute("DELETE FROM attachments WHERE key = ? AND filename = ?", (key, filename))
            self.db.execute("INSERT INTO attachments (key, filename, content, created) VALUES (?, ?, ?, ?)",
                            (key, filename, content, _now()))

    def read_attachment(self, key: str, filename: str) -> bytes | None:
        row = self.db.execute("SELECT content FROM attachments WHERE key = ? AND filename = ?", (key, filename)).fetchone()
        return bytes(row["content"]) if row else None

    def upsert_comment(self, key: str, marker: str, body: str) -> str:
        self._get(key)
        with self.db:
            row = self.db.execute("SELECT id, body FROM comments WHERE key = ? AND marker = ? ORDER BY id LIMIT 1",
                                  (key, marker)).fetchone()
            if row is None:
                now = _now()
                self.db.execute("INSERT INTO comments (key, marker, body, created, updated) VALUES (?, ?, ?, ?, ?)",
                                (key, marker, body, now, now))
                return "added"
            if row["body"] == body:
                return "unchanged"
            self.db.execute("UPDATE comments SET body = ?, updated = ? WHERE id = ?", (body, _now(), row["id"]))
            return "updated"

    def add_comment(self, key: str, body: str) -> None:
        self._get(key)
        now = _now()
        with self.db:
            self.db.execute("INSERT INTO comments (key, marker, body, created, updated) VALUES (?, NULL, ?, ?, ?)",
                            (key, body, now, now))

    def comments(self, key: str) -> list[str]:
        """Bodies of a ticket's comments, oldest first."""
        return [r["body"] for r in self.db.execute("SELECT body FROM comments WHERE key = ? ORDER BY id", (key,))]

    def set_metadata(self, key: str, metadata: dict[str, Any]) -> None:
        self._get(key)
        with self.db:
            self.db.execute("UPDATE tickets SET metadata = ?, updated = ? WHERE key = ?",
                            (json.dumps(metadata, sort_keys=True), _now(), key))

    def transition(self, key: str, target: str) -> bool:
        row = self._get(key)
        by_name = {name.casefold(): name for name in STATUSES}
        if target.casefold() in by_name:
            status = by_name[target.casefold()]
        elif target in CATEGORIES:
            if STATUSES[row["status"]] == target:
                return False
            status = next(name for name, cat in STATUSES.items() if cat == target)
        else:
            raise TrackerError(f"{key}: no status or status category '{target}' (statuses: {', '.join(STATUSES)})")
        if status == row["status"]:
            return False
        with self.db:
            self.db.execute("UPDATE tickets SET status = ?, updated = ? WHERE key = ?", (status, _now(), key))
            self.db.execute("INSERT INTO history (key, field, old, new, at) VALUES (?, 'status', ?, ?, ?)",
                            (key, row["status"], status, _now()))
        return True

    def _open(self, kind: str, campaign: str | None) -> list[Ticket]:
        done = [name for name, cat in STATUSES.items() if cat == "done"]
        query = f"SELECT * FROM tickets WHERE kind = ? AND status NOT IN ({', '.join('?' * len(done))})"
        args: list[Any] = [kind, *done]
        if campaign:
            query += " AND campaign = ?"
            args.append(campaign)
        return [self._ticket(r) for r in self.db.execute(query + " ORDER BY num", args)]

    def list_open_submissions(self, campaign: str | None = None) -> list[Ticket]:
        return self._open("submission", campaign)

    def open_epics(self, campaign: str | None = None) -> list[Ticket]:
        return [t for t in self._open("campaign", campaign) if EPIC_LABEL in t.labels]

    def set_sync_record(self, key: str, record: dict[str, Any]) -> None:
        self._get(key)
        with self.db:
            self.db.execute("INSERT INTO sync_records (key, record) VALUES (?, ?) "
                            "ON CONFLICT(key) DO UPDATE SET record = excluded.record",
                            (key, json.dumps(record, sort_keys=True)))

    def close(self) -> None:
        self.db.close()


