"""The embedded local store: campaigns, their items, records, files, notes and run states in one SQLite
file, for sites without JIRA and for tests. Texts are kept as Markdown; run states as such.

Stores written by jiracampaign 0.1 (JIRA markup, JIRA-like workflow statuses) are migrated when first
opened: descriptions and notes are converted to Markdown and each submission's status becomes the run
state its last sync saw.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Mapping, Sequence

from ..core.attempts import Verdict
from ..core.documents import Document
from ..core.leases import Lease
from ..core.records import Record, SyncRecord, record_from_json
from ..core.states import BatchState
from ..errors import TrackerError
from ..sqlite_files import use_wal
from . import markdown, markdown_text
from .base import Board, CreateLog, Item, ItemRef, NewItem, Note, Progress, Tracker
from .local_settings import SETTINGS
from .local_migrate import SCHEMA_VERSION, migrate

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config

__all__ = ["LocalTracker", "DONE_STATES"]

log = logging.getLogger(__name__)

#: run states after which a later step may follow
DONE_STATES = frozenset({BatchState.SUCCEEDED.value, BatchState.CANCELLED.value})

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
    state TEXT NOT NULL DEFAULT '',
    closed INTEGER NOT NULL DEFAULT 0,
    record TEXT NOT NULL,
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
CREATE TABLE IF NOT EXISTS leases (
    key TEXT PRIMARY KEY,
    lease TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS links (
    key TEXT NOT NULL,
    other TEXT NOT NULL,
    relation TEXT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (key, other, relation)
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

    Notes
    -----
    Every write is a transaction of its own (``BEGIN IMMEDIATE``: one writer at a time across processes),
    committed at once; inside `batch`, writes are savepoints of one transaction committed when the batch
    ends.
    """

    name = "local"
    PREFIX = "JC"
    settings = SETTINGS

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._depth = 0  # open transactions and savepoints (`_tx`, `batch`)
        try:
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            use_wal(self.db)
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION and self.db.execute(
                    "SELECT 1 FROM sqlite_master WHERE name = 'tickets'").fetchone():
                migrate(self.db, version)
                log.info("%s: migrated the local store to schema %d", self.path, SCHEMA_VERSION)
            elif version > SCHEMA_VERSION:
                raise TrackerError(f"{self.path}: written by a newer jiracampaign (schema {version}); upgrade")
            self.db.executescript(_SCHEMA)
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise TrackerError(f"{self.path}: cannot open the local store: {exc}") from None

    @classmethod
    def from_config(cls, config: "Config") -> "LocalTracker":
        from ..config import data_dir

        return cls(config.get("local.path") or data_dir() / "campaigns.sqlite")

    def describe(self) -> str:
        return f"local store {self.path}"

    def url(self, key: str) -> str:
        return f"{self.path}#{key}"

    # ---- reading --------------------------------------------------------------------------------
    def _item(self, row: sqlite3.Row) -> Item:
        attachments = {r["filename"]: str(r["id"]) for r in self.db.execute(
            "SELECT id, filename FROM attachments WHERE key = ? ORDER BY id", (row["key"],))}
        sync = self.db.execute("SELECT record FROM sync_records WHERE key = ?", (row["key"],)).fetchone()
        state = row["state"]
        lease = self.read_lease(row["key"]) if row["kind"] == "campaign" else None
        return Item(key=row["key"], ident=row["ident"], title=row["summary"], record=record_from_json(json.loads(row["record"])),
                    status=state or ("closed" if row["closed"] else "open"),
                    done=bool(row["closed"]) or state in DONE_STATES, attachments=attachments, parent=row["parent"],
                    id=str(row["num"]), sync=SyncRecord.from_json(json.loads(sync["record"])) if sync else None,
                    lease=lease)

    def _get(self, key: str) -> sqlite3.Row:
        row = self.db.execute("SELECT * FROM tickets WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise TrackerError(f"{self.describe()}: no ticket {key}")
        return row

    def find_items(self, campaign: str, known: Mapping[str, ItemRef] | None = None,
                   since: float | None = None) -> list[Item]:
        rows = self.db.execute("SELECT * FROM tickets WHERE campaign = ? ORDER BY num", (campaign,)).fetchall()
        return [self._item(r) for r in rows]

    def get_item(self, key: str) -> Item | None:
        row = self.db.execute("SELECT * FROM tickets WHERE key = ?", (key,)).fetchone()
        return self._item(row) if row else None

    def get_items(self, keys: Sequence[str]) -> list[Item]:
        keys = list(dict.fromkeys(keys))
        rows = []
        for start in range(0, len(keys), 500):  # within SQLite's limit on parameters
            chunk = keys[start:start + 500]
            rows += self.db.execute(f"SELECT * FROM tickets WHERE key IN ({', '.join('?' * len(chunk))}) ORDER BY num",
                                    chunk).fetchall()
        return [self._item(row) for row in rows]

    def open_campaigns(self, campaign: str | None = None) -> list[Item]:
        query, args = "SELECT * FROM tickets WHERE kind = 'campaign' AND closed = 0", []
        if campaign:
            query += " AND campaign = ?"
            args.append(campaign)
        return [self._item(r) for r in self.db.execute(query + " ORDER BY num", args)]

    def list_campaigns(self, names: Sequence[str] = (), closed_since: float | None = None) -> list[Item]:
        """Open campaigns, then closed ones whose item changed (was closed) at or after ``closed_since``."""
        query, args = "SELECT * FROM tickets WHERE kind = 'campaign'", []
        if names:
            query += f" AND campaign IN ({', '.join('?' * len(names))})"
            args += list(names)
        if closed_since is None:
            query += " AND closed = 0"
        elif closed_since > 0:
            query += " AND (closed = 0 OR updated >= ?)"
            args.append(datetime.fromtimestamp(closed_since, timezone.utc).isoformat(timespec="seconds"))
        return [self._item(r) for r in self.db.execute(query + " ORDER BY closed, num", args)]

    def latest_notes(self, keys: Sequence[str], prefix: str) -> dict[str, Note]:
        """One query per 500 items; the note's text is its Markdown read back as plain text."""
        out: dict[str, Note] = {}
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        for start in range(0, len(keys), 500):
            chunk = list(keys[start:start + 500])
            rows = self.db.execute(
                f"SELECT key, marker, body, updated FROM comments WHERE marker LIKE ? ESCAPE '\\' "
                f"AND key IN ({', '.join('?' * len(chunk))}) ORDER BY updated, id", [pattern, *chunk])
            for row in rows:  # the last one of each item wins
                out[row["key"]] = Note(row["key"], row["marker"], markdown_text.spans(row["body"]),
                                       updated=datetime.fromisoformat(row["updated"]).timestamp())
        return out

    def description(self, key: str) -> str:
        """An item's description as stored (Markdown)."""
        return self._get(key)["description"]

    def notes(self, key: str) -> list[str]:
        """Bodies of an item's notes, oldest first (Markdown)."""
        return [r["body"] for r in self.db.execute("SELECT body FROM comments WHERE key = ? ORDER BY id", (key,))]

    # ---- writing --------------------------------------------------------------------------------
    def ensure_items(self, items: list[NewItem], progress: Progress | None = None,
                     journal: CreateLog | None = None) -> list[Item]:
        out = []
        if journal:
            journal.pending([i.ident for i in items])
        with self._tx():
            for item in items:
                row = self.db.execute("SELECT * FROM tickets WHERE ident = ?", (item.ident,)).fetchone()
                if row is None:
                    now = _now()
                    cur = self.db.execute(
                        "INSERT INTO tickets (key, ident, kind, campaign, parent, summary, description, record, created,"
                        " updated) VALUES ('', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (item.ident, item.kind, item.campaign, item.parent, item.title, markdown.render(item.body),
                         self._json(item.record), now, now))
                    self.db.execute("UPDATE tickets SET key = ? WHERE num = ?", (f"{self.PREFIX}-{cur.lastrowid}", cur.lastrowid))
                    row = self.db.execute("SELECT * FROM tickets WHERE num = ?", (cur.lastrowid,)).fetchone()
                out.append(self._item(row))
                if progress:
                    progress(1)
        if journal:
            journal.created(out)
        return out

    @contextmanager
    def _tx(self) -> Iterator[None]:
        """One group of writes, all or none: a transaction of its own, or a savepoint inside a `batch`."""
        if self._depth:
            name = f"w{self._depth}"
            self.db.execute(f"SAVEPOINT {name}")
            self._depth += 1
            try:
                yield
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute(f"ROLLBACK TO {name}")
                    self.db.execute(f"RELEASE {name}")
                raise
            else:
                self.db.execute(f"RELEASE {name}")
            finally:
                self._depth -= 1
            return
        self.db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")
        finally:
            self._depth = 0

    @contextmanager
    def batch(self) -> Iterator[None]:
        """The writes made inside are committed together, once, when the batch ends: one commit (one write
        to the log on disk) instead of one per write.

        A write that fails is undone alone (it is a savepoint); those made before it are committed all the
        same and the error goes on, so a run recorded before a later write failed is never lost. The store
        stays locked for other writers while a batch is open: keep long work (``bps submit``) out of it.
        A batch inside a batch is part of the outer one.
        """
        if self._depth:
            yield
            return
        self.db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        finally:
            self._depth = 0
            if self.db.in_transaction:
                self.db.execute("COMMIT")
                log.debug("%s: batch committed", self.path)

    @staticmethod
    def _json(record: Record) -> str:
        return json.dumps(record.to_json(), sort_keys=True)

    def _write(self, key: str, sql: str, args: tuple) -> None:
        self._get(key)
        with self._tx():
            self.db.execute(sql, args)

    def update_item(self, key: str, title: str | None = None, body: Document | None = None) -> None:
        row = self._get(key)
        self._write(key, "UPDATE tickets SET summary = ?, description = ?, updated = ? WHERE key = ?",
                    (title if title is not None else row["summary"],
                     markdown.render(body) if body is not None else row["description"], _now(), key))

    def set_record(self, key: str, record: Record) -> None:
        self._write(key, "UPDATE tickets SET record = ?, updated = ? WHERE key = ?", (self._json(record), _now(), key))

    def set_sync(self, key: str, record: SyncRecord) -> None:
        self._write(key, "INSERT INTO sync_records (key, record) VALUES (?, ?) "
                         "ON CONFLICT(key) DO UPDATE SET record = excluded.record",
                    (key, json.dumps(record.to_json(), sort_keys=True)))

    def attach(self, key: str, filename: str, content: bytes) -> None:
        self._get(key)
        with self._tx():
            self.db.execute("DELETE FROM attachments WHERE key = ? AND filename = ?", (key, filename))
            self.db.execute("INSERT INTO attachments (key, filename, content, created) VALUES (?, ?, ?, ?)",
                            (key, filename, content, _now()))

    def read_attachment(self, key: str, filename: str) -> bytes | None:
        row = self.db.execute("SELECT content FROM attachments WHERE key = ? AND filename = ?", (key, filename)).fetchone()
        return bytes(row["content"]) if row else None

    def put_note(self, key: str, slot: str, body: Document, note_id: str | None = None) -> str:
        self._get(key)
        text = markdown.render(body)
        with self._tx():
            row = self.db.execute("SELECT id, body FROM comments WHERE key = ? AND marker = ? ORDER BY id LIMIT 1",
                                  (key, slot)).fetchone()
            if row is None:
                now = _now()
                self.db.execute("INSERT INTO comments (key, marker, body, created, updated) VALUES (?, ?, ?, ?, ?)",
                                (key, slot, text, now, now))
                return "added"
            if row["body"] == text:
                return "unchanged"
            self.db.execute("UPDATE comments SET body = ?, updated = ? WHERE id = ?", (text, _now(), row["id"]))
            return "updated"

    def add_note(self, key: str, body: Document) -> None:
        now = _now()
        self._write(key, "INSERT INTO comments (key, marker, body, created, updated) VALUES (?, NULL, ?, ?, ?)",
                    (key, markdown.render(body), now, now))

    def set_run_state(self, key: str, state: BatchState) -> str:
        row = self._get(key)
        if row["state"] != state.value:
            with self._tx():
                self.db.execute("UPDATE tickets SET state = ?, updated = ? WHERE key = ?", (state.value, _now(), key))
                self.db.execute("INSERT INTO history (key, field, old, new, at) VALUES (?, 'state', ?, ?, ?)",
                                (key, row["state"], state.value, _now()))
        return state.value

    def close_item(self, key: str) -> None:
        """Close an item (a campaign no longer followed by sync)."""
        self._write(key, "UPDATE tickets SET closed = 1, updated = ? WHERE key = ?", (_now(), key))

    def set_verdict(self, key: str, verdict: str) -> str:
        """Close the item (it counts as done) and keep its run state as it is (its status still shows it,
        e.g. ``partial``); the verdict is a history row (field ``verdict``), read back by `verdict`."""
        try:
            value = Verdict(verdict).value
        except ValueError:
            raise TrackerError(f"{key}: unknown verdict '{verdict}' (expected one of "
                               f"{', '.join(v.value for v in Verdict)})") from None
        with self._tx():  # two writers: one reads and writes, then the other
            row = self._get(key)
            before = self._verdict(key)
            if before != value or not row["closed"]:
                now = _now()
                self.db.execute("UPDATE tickets SET closed = 1, updated = ? WHERE key = ?", (now, key))
                if before != value:
                    self.db.execute("INSERT INTO history (key, field, old, new, at) VALUES (?, 'verdict', ?, ?, ?)",
                                    (key, before, value, now))
                log.info("%s: verdict %s%s", key, value, f" (was {before})" if before and before != value else "")
        return row["state"] or "closed"

    def _verdict(self, key: str) -> str | None:
        row = self.db.execute("SELECT new FROM history WHERE key = ? AND field = 'verdict' ORDER BY id DESC LIMIT 1",
                              (key,)).fetchone()
        return row["new"] if row else None

    def verdict(self, key: str) -> str | None:
        """The verdict last set on an item (`set_verdict`), `None` if none was."""
        self._get(key)
        return self._verdict(key)

    def with_verdict(self, campaign: str, verdict: str) -> list[str]:
        """Keys of a campaign's items whose latest verdict is ``verdict``, in creation order."""
        rows = self.db.execute(
            "SELECT t.key FROM tickets t JOIN history h ON h.key = t.key AND h.field = 'verdict' WHERE t.campaign = ? "
            "AND h.id = (SELECT MAX(id) FROM history WHERE key = t.key AND field = 'verdict') AND h.new = ? "
            "ORDER BY t.num", (campaign, verdict))
        return [r["key"] for r in rows]

    def link(self, key: str, other: str, relation: str) -> None:
        self._get(key)
        self._get(other)
        with self._tx():
            self.db.execute("INSERT OR IGNORE INTO links (key, other, relation, created) VALUES (?, ?, ?, ?)",
                            (key, other, relation, _now()))

    def links(self, key: str) -> list[tuple[str, str]]:
        """``(relation, other key)`` of the links from an item."""
        return [(r["relation"], r["other"]) for r in self.db.execute(
            "SELECT relation, other FROM links WHERE key = ? ORDER BY created, other", (key,))]

    def board(self, campaign: str | None = None, known: ItemRef | None = None) -> Board:
        """The local store has no boards (a board is a JIRA view); says so, whatever is asked."""
        raise NotImplementedError(f"the local store ({self.path}) has no boards: boards are made in JIRA "
                                  "(tracker: jira, see 'jiracampaign init')")

    def read_lease(self, key: str) -> Lease | None:
        row = self.db.execute("SELECT lease FROM leases WHERE key = ?", (key,)).fetchone()
        return Lease.from_json(json.loads(row["lease"])) if row else None

    def write_lease(self, key: str, lease: Lease) -> None:
        self._write(key, "INSERT INTO leases (key, lease) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET lease = excluded.lease",
                    (key, json.dumps(lease.to_json(), sort_keys=True)))

    def close(self) -> None:
        self.db.close()
