"""The JIRA tracker: a campaign is an epic, each submission a child ticket (Cloud and Data Center).

Cloud links children with ``parent``; Data Center with the Epic Link field and needs Epic Name on
the epic; sub-tasks (hierarchy ``subtask``) hang under one Task per step on both. Every ticket
carries the labels ``jiracampaign``, ``jc-<campaign>`` and ``jcid-<ident>`` (the handle for
searching before creating) and its metadata in the issue property ``jiracampaign``. A submission closed
on a verdict also carries ``jc-<verdict>``; a rescue attempt is joined to the attempt it follows by an
issue link ("PREOPS-9 rescues PREOPS-4").
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections import deque
from datetime import datetime
from typing import Any, Iterator, Mapping, Sequence

from jira.exceptions import JIRAError

from ...config import Config
from ...core.documents import Document
from ...core.leases import Lease, new_lease
from ...core.records import Record, RecordError, SyncRecord, record_from_json
from ...core.states import BatchState
from ...errors import ConfigError, TrackerError
from ...pool import run_bounded
from ..base import Board, CreateLog, Item, ItemRef, NewItem, Note, Progress, Tracker
from . import wiki
from .boards import Boards
from .client import JiraClient
from .labels import (EPIC_LABEL, LABEL, LEASE_PROPERTY, PROPERTY, RETIRED_LABEL, SYNC_PROPERTY, campaign_label,
                     ident_label, labels_of, marker_line, verdict_label, verdict_labels, verdict_of)
from .credentials import find_secret
from .settings import SETTINGS
from .setup import discover
from .wiki_text import spans as wiki_spans
from .workflow import CATEGORIES, current_status, move, move_to_first, status_targets

__all__ = ["JiraTracker", "marker_line", "PROPERTY", "SYNC_PROPERTY", "LABEL", "EPIC_LABEL"]

log = logging.getLogger(__name__)

BULK = 50
FIELDS = ["summary", "status", "labels", "attachment", "issuetype", "parent", "created"]  # not description: large
PROPERTIES = [PROPERTY, SYNC_PROPERTY, LEASE_PROPERTY]
#: relations `link` knows: relation -> the link type it makes when none fits (name, outward, inward description)
RELATIONS = {"rescues": ("Rescue", "rescues", "is rescued by")}
#: a default link type of every JIRA, used when the one wanted cannot be made
FALLBACK_LINK_TYPE = "Relates"
#: seconds the ``create`` lease a new campaign item is created with lasts (`ensure_items`; renewed by its holder)
BORN_LEASE_TTL = 600.0
#: where `set_verdict` moves a ticket when ``sync.verdict_status`` is not set
VERDICT_STATUS = "Done"


_MARKER = re.compile(re.escape(marker_line("\x00")).replace("\\x00", "(.+?)").replace("\x00", "(.+?)") + r"\s*$")


def _marker_of(body: str) -> str | None:
    """The slot named by a comment's marker line (its last line), if it has one."""
    found = _MARKER.search(body)
    return found.group(1) if found else None


def _optional(config: Config, name: str, default: str) -> str:
    """A setting that may not be declared (``sync.verdict_status``): its value, else ``default``."""
    try:
        return str(config.get(name) or "") or default
    except KeyError:
        return default


def _epoch(stamp: str | None) -> float:
    """JIRA's ``2026-12-01T17:42:43.000+0000`` as epoch seconds (0 when absent or unreadable)."""
    try:
        return datetime.strptime(stamp or "", "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    except ValueError:
        return 0.0


class JiraTracker(Tracker):
    """Tracker on a JIRA server.

    Parameters
    ----------
    client : `JiraClient`
        The authenticated connection.
    project : `str`
        Project key.
    hierarchy : `str`
        ``task`` or ``subtask``.
    ids : `dict`
        Known issue type and field ids (``epic_type``, ``task_type``, ``subtask_type``,
        ``epic_link_field``, ``epic_name_field``); missing ones are discovered when needed.
    consistency_checks : `int`
        Searches made to confirm whether a write whose answer was lost happened (Cloud search lags).
    index_lag : `float`
        Cloud: seconds a new issue may stay out of search results; a search that must be complete
        (before creating what it does not find) waits until the writes it knows of are this old.
    link_types : `dict`, optional
        Link type name to use for a relation of `RELATIONS` (``jira.rescue_link_type`` for ``rescues``);
        a relation not given (or empty) is looked up and, failing that, made once (`link`).
    verdict_statuses : `list` of `str`, optional
        Statuses `set_verdict` moves a ticket to, the first reachable (``sync.verdict_status``; default ``Done``);
        failing those, any status of the done category.
    """

    name = "jira"
    settings = SETTINGS
    #: runs `sync` writes at once (each run's writes in order); JIRA takes concurrent writes to different tickets
    concurrency = 8

    def __init__(self, client: JiraClient, project: str, hierarchy: str = "task", ids: dict | None = None,
                 consistency_checks: int = 4, statuses: Mapping[BatchState, list[str]] | None = None,
                 index_lag: float = 5.0, link_types: Mapping[str, str] | None = None,
                 verdict_statuses: Sequence[str] | None = None):
        self.client, self.project, self.hierarchy = client, project, hierarchy
        self.index_lag = float(index_lag) if client.cloud else 0.0
        self.lease_settle = 1.0  # until a lease read has measured the round trip
        self.ids = {k: v for k, v in (ids or {}).items() if v}
        self.consistency_checks = consistency_checks
        self.statuses = dict(statuses or {})
        self.items: dict[str, Item] = {}  # by key: what this process has seen
        self.written: deque[str] = deque(maxlen=50)  # ids to reconcile in Cloud searches
        self.created: dict[str, float] = {}  # key -> creation time (epoch), as the server says
        self._born: dict[str, Lease] = {}  # ident -> the create lease a campaign item is being created with
        self.copies: dict[str, dict[str, list[str]]] = {}  # key -> file name -> every attachment id of that name
        self.link_types = {k: v for k, v in (link_types or {}).items() if v}  # relation -> link type name
        self.verdict_statuses = [s.strip() for s in verdict_statuses or () if s.strip()] or [VERDICT_STATUS]
        self.verdicts: dict[str, str] = {}  # key -> the verdict its labels show, for the tickets read
        self.note_ids: dict[tuple[str, str], str] = {}  # (key, slot) -> id of the living comment written or read

    @property
    def step_items(self) -> bool:  # type: ignore[override]
        return self.hierarchy == "subtask"

    @classmethod
    def from_config(cls, config: Config) -> "JiraTracker":
        server, project = config.get("jira.server"), config.get("jira.project")
        if not server or not project:
            raise ConfigError("config", None, "jira.server" if not server else "jira.project",
                              "is empty: run 'jiracampaign init', or set it in the config file or environment")
        concurrency = int(config.get("jira.concurrency"))
        client = JiraClient(server, config.get("jira.auth"), config.get("jira.user"), find_secret(config),
                            timeout=config.get("jira.timeout"), max_retries=config.get("jira.max_retries"),
                            flavour=config.get("jira.flavour"), concurrency=concurrency)
        ids = {k: config.get(f"jira.{k}") for k in ("epic_type", "task_type", "subtask_type", "epic_link_field",
                                                     "epic_name_field")}
        verdict_statuses = _optional(config, "sync.verdict_status", VERDICT_STATUS).split(",")
        tracker = cls(client, project, config.get("jira.hierarchy"), ids, statuses=status_targets(config),
                      index_lag=config.get("jira.index_lag"),
                      link_types={"rescues": config.get("jira.rescue_link_type")}, verdict_statuses=verdict_statuses)
        tracker.concurrency = concurrency  # per-ticket writes at once (create's attachments, sync's writes)
        return tracker

    def describe(self) -> str:
        return f"JIRA {'Cloud' if self.client.cloud else 'Data Center'} {self.client.server} project {self.project}"

    def url(self, key: str) -> str:
        return f"{self.client.server}/browse/{key}"

    def _id(self, name: str) -> str:
        if name not in self.ids:
            self.ids.update({k: v for k, v in discover(self.client, self.project).items() if k not in self.ids})
        if name not in self.ids:
            what = {"epic_type": "an Epic issue type", "task_type": "a standard issue type (Task)",
                    "subtask_type": "a sub-task issue type", "epic_link_field": "the Epic Link field",
                    "epic_name_field": "the Epic Name field"}[name]
            raise TrackerError(f"JIRA project {self.project} has no {what}; ask a JIRA administrator to add it "
                               f"to the project's scheme, or run 'jiracampaign init' to see what is missing")
        return self.ids[name]

    # ---- reading ------------------------------------------------------------------------------------
    def _fields(self) -> list[str]:
        return FIELDS + ([self.ids["epic_link_field"]] if not self.client.cloud and "epic_link_field" in self.ids else [])

    def _item(self, raw: dict) -> Item | None:
        fields = raw.get("fields") or {}
        properties = raw.get("properties") or {}
        labels = fields.get("labels") or []
        ident = next((label[len("jcid-"):] for label in labels if label.startswith("jcid-")), None)
        if ident is None:
            return None
        try:
            record = record_from_json(properties.get(PROPERTY) or {})
        except RecordError as exc:
            raise TrackerError(f"{raw.get('key')}: {exc}") from None
        try:
            lease = Lease.from_json(properties.get(LEASE_PROPERTY))
        except RecordError:
            lease = None
        self.created[raw["key"]] = _epoch(fields.get("created"))
        status = fields.get("status") or {}
        parent = (fields.get("parent") or {}).get("key") or fields.get(self.ids.get("epic_link_field", ""), None)
        item = Item(
            key=raw["key"], ident=ident, title=fields.get("summary", ""), record=record, status=status.get("name", ""),
            done=(status.get("statusCategory") or {}).get("key", "new") == "done",
            attachments={a["filename"]: str(a["id"]) for a in sorted(fields.get("attachment") or [], key=lambda a: int(a["id"]))},
            parent=parent, id=str(raw.get("id", "")), sync=SyncRecord.from_json(properties.get(SYNC_PROPERTY)),
            lease=lease,
        )
        self.copies[item.key] = {}
        verdict = verdict_of([label for label in labels if label != campaign_label(record.campaign)])
        if verdict:
            self.verdicts[item.key] = verdict
        else:
            self.verdicts.pop(item.key, None)
        for att in fields.get("attachment") or []:
            self.copies[item.key].setdefault(att["filename"], []).append(str(att["id"]))
        self.items[item.key] = item
        return item

    def _search(self, jql: str, reconcile: list[int] | None = None) -> list[Item]:
        """Items matching ``jql``; Cloud is asked to reconcile ``reconcile`` (default: the ids written here)."""
        ids = list(self.written) if reconcile is None else reconcile
        found = (self._item(raw) for raw in self.client.search(jql, self._fields(), PROPERTIES, ids))
        return [t for t in found if t is not None]

    def _wait_for_index(self, written: float) -> bool:
        """Sleep until a write at ``written`` (epoch) shows in Cloud searches; whether there was a wait."""
        left = written + self.index_lag - time.time()
        if left <= 0:
            return False
        log.info("waiting %.1f s for JIRA's search index to show tickets created %.1f s ago", left,
                 time.time() - written)
        self.client.sleep(left)
        return True

    def find_items(self, campaign: str, known: Mapping[str, ItemRef] | None = None,
                   since: float | None = None) -> list[Item]:
        """One search by the campaign's label, then the ``known`` items it does not show yet (Cloud's
        search lags behind writes), read by key (`get_items`: Cloud's bulk fetch).

        With ``since`` (a complete read, before creating what is missing), Cloud first waits until a
        create at ``since`` shows in searches, and searches again after a wait when it finds tickets
        of the campaign created by someone else within the index lag (their siblings may not show yet).
        """
        if since:
            self._wait_for_index(since)
        found = self._find(campaign, known)
        if since is not None and self.index_lag:
            mine = {key for key, _ in (known or {}).values()}
            recent = max((self.created.get(t.key, 0.0) for t in found if t.key not in mine), default=0.0)
            if self._wait_for_index(recent):
                found = self._find(campaign, known)
        return found

    def _find(self, campaign: str, known: Mapping[str, ItemRef] | None) -> list[Item]:
        found = self._search(f'project = "{self.project}" AND labels = "{campaign_label(campaign)}" ORDER BY key ASC')
        seen = {t.ident for t in found}
        unseen = [key for ident, (key, _) in (known or {}).items() if ident not in seen]
        return found + (self.get_items(unseen) if unseen else [])

    def get_items(self, keys: Sequence[str]) -> list[Item]:
        """Items by key, in bulk; keys without an item are left out. Cloud: the bulk fetch, 100 a request,
        which reads the issues themselves (fresh where search lags); Data Center (whose search does not
        lag): a search by key per 50."""
        keys = list(dict.fromkeys(keys))
        if self.client.cloud:
            raws = self.client.bulk_fetch(keys, self._fields(), PROPERTIES)
            return [t for t in (self._item(raw) for raw in raws) if t is not None]
        return [item for jql in self._by_keys(keys) for item in self._search(jql)]

    def _by_keys(self, keys: Sequence[str]) -> Iterator[str]:
        """JQL searches for the tickets ``keys``, `BULK` keys each."""
        for start in range(0, len(keys), BULK):
            yield f'project = "{self.project}" AND key in ({", ".join(keys[start:start + BULK])}) ORDER BY key ASC'

    def get_item(self, key: str) -> Item | None:
        try:
            raw = self.client.raw("GET", f"issue/{key}", {"fields": ",".join(self._fields()),
                                                          "properties": ",".join(PROPERTIES)})
        except JIRAError as exc:
            if exc.status_code == 404:
                return None
            raise self.client.error("read ticket", exc) from None
        return self._item(raw.json())

    def open_campaigns(self, campaign: str | None = None) -> list[Item]:
        extra = f' AND labels = "{campaign_label(campaign)}"' if campaign else ""
        jql = f'project = "{self.project}" AND labels = "{EPIC_LABEL}"{extra} AND statusCategory != Done ORDER BY key ASC'
        return [t for t in self._search(jql) if t.kind == "campaign"]

    def list_campaigns(self, names: Sequence[str] = (), closed_since: float | None = None) -> list[Item]:
        """The open epics (one search), then the closed ones (a second search, pages of 100), kept when JIRA's
        ``updated`` is at or after ``closed_since``."""
        labels = ", ".join(f'"{campaign_label(name)}"' for name in names)
        base = f'project = "{self.project}" AND labels = "{EPIC_LABEL}"' + (f" AND labels in ({labels})" if names else "")
        found = self._search(f"{base} AND statusCategory != Done ORDER BY key ASC")
        if closed_since is not None:
            for raw in self.client.search(f"{base} AND statusCategory = Done ORDER BY key ASC",
                                          self._fields() + ["updated"], PROPERTIES):
                if closed_since and _epoch((raw.get("fields") or {}).get("updated")) < closed_since:
                    continue
                item = self._item(raw)
                if item is not None:
                    found.append(item)
        return [t for t in found if t.kind == "campaign"]

    def latest_notes(self, keys: Sequence[str], prefix: str) -> dict[str, Note]:
        """One search per 50 items with their comments (the comments of an item with more than the search
        shows are paged in by key); the note's text is its wiki markup read back as plain text."""
        out: dict[str, Note] = {}
        for jql in self._by_keys(keys):
            for raw in self.client.search(jql, ["comment"]):
                page = (raw.get("fields") or {}).get("comment") or {}
                comments = page.get("comments") or []
                if page.get("total", len(comments)) > len(comments):
                    comments = self._comments(raw["key"])
                for comment in sorted(comments, key=lambda c: (_epoch(c.get("updated")), int(c.get("id") or 0))):
                    body = comment.get("body") or ""
                    slot = _marker_of(body)
                    if slot and slot.startswith(prefix):
                        out[raw["key"]] = Note(raw["key"], slot, wiki_spans(body),
                                               url=f"{self.url(raw['key'])}?focusedCommentId={comment['id']}"
                                                   f"#comment-{comment['id']}", updated=_epoch(comment.get("updated")))
        return out

    def _find_idents(self, idents: list[str]) -> dict[str, Item]:
        """Items with these idents, searching again while Cloud search may still lag behind a write."""
        found: dict[str, Item] = {}
        for check in range(self.consistency_checks if self.client.cloud else 1):
            if check:
                self.client.sleep(min(2.0 ** check, 10.0))
            labels = ", ".join(f'"{ident_label(i)}"' for i in idents if i not in found)
            for ticket in self._search(f'project = "{self.project}" AND labels in ({labels}) ORDER BY key ASC'):
                found.setdefault(ticket.ident, ticket)
            if len(found) == len(idents):
                break
        return found

    # ---- creating -----------------------------------------------------------------------------------
    def _payload(self, item: NewItem) -> dict:
        fields: dict[str, Any] = {"project": {"key": self.project}, "summary": item.title,
                                  "description": wiki.render(item.body), "labels": labels_of(item)}
        if item.kind == "campaign":
            fields["issuetype"] = {"id": self._id("epic_type")}
            if not self.client.cloud:
                fields[self._id("epic_name_field")] = item.campaign
        elif item.kind == "submission" and self.hierarchy == "subtask":
            fields["issuetype"] = {"id": self._id("subtask_type")}
            fields["parent"] = {"key": item.parent}
        else:
            fields["issuetype"] = {"id": self._id("task_type")}
            if item.parent and self.client.cloud:
                fields["parent"] = {"key": item.parent}
            elif item.parent:
                fields[self._id("epic_link_field")] = item.parent
        properties = [{"key": PROPERTY, "value": item.record.to_json()}]
        if item.kind == "campaign":  # born under its creator's create lease (see `ensure_items`)
            self._born[item.ident] = new_lease("create", BORN_LEASE_TTL)
            properties.append({"key": LEASE_PROPERTY, "value": self._born[item.ident].to_json()})
        return {"fields": fields, "properties": properties}

    def _created(self, item: NewItem, key: str, issue_id: str) -> Item:
        self.written.append(issue_id)
        created = Item(key, item.ident, item.title, item.record, status="", done=False, parent=item.parent, id=issue_id,
                       lease=self._born.pop(item.ident, None))
        self.items[key] = created
        return created

    def ensure_items(self, items: list[NewItem], progress: Progress | None = None,
                     journal: CreateLog | None = None) -> list[Item]:
        """Create the items not made yet, 50 per bulk create, each with its record in the create body.

        A campaign item is created holding a ``create`` lease of this process (`BORN_LEASE_TTL`, in the
        lease property of the same create, returned as the item's ``lease``): nobody can take the lease
        of an epic that was never without one, so its creator writes its tickets without the take-and-read-
        back of `services.leases.take_lease` (three requests and a wait), then releases it.
        """
        known = {t.ident: t for t in self.items.values()}
        result: dict[str, Item] = {i.ident: known[i.ident] for i in items if i.ident in known}
        failures: list[str] = []
        todo = [i for i in items if i.ident not in result]
        size = -(-len(todo) // max(1, -(-len(todo) // BULK))) if todo else BULK  # even chunks of at most BULK

        def send(chunk: list[NewItem]) -> int:
            """One bulk create (the chunks are sent ``concurrency`` at once); returns how many were made."""
            pending = list(chunk)
            chunk_items = list(pending)

            def verify() -> dict | None:
                """After a lost answer: the items that exist now; `None` (send the rest again) unless all do."""
                found = self._find_idents([i.ident for i in pending])
                result.update(found)
                pending[:] = [i for i in pending if i.ident not in found]
                return None if pending else {"issues": [], "errors": []}

            if journal:
                journal.pending([i.ident for i in pending])
            body = self.client.call("create tickets", lambda: self._bulk({"issueUpdates": [self._payload(i) for i in pending]}),
                                    idempotent=False, verify=verify)
            created = iter(body.get("issues") or [])
            errors = {e["failedElementNumber"]: e for e in body.get("errors") or []}
            for n, item in enumerate(pending):
                if n in errors:
                    element = errors[n].get("elementErrors") or {}
                    text = "; ".join(list(element.get("errorMessages") or []) +
                                     [f"{k}: {v}" for k, v in (element.get("errors") or {}).items()])
                    failures.append(f"{item.ident}: {text}")
                else:
                    issue = next(created)
                    result[item.ident] = self._created(item, issue["key"], str(issue["id"]))
            if journal:
                journal.created([result[i.ident] for i in chunk_items if i.ident in result])
            return len(pending) - len(errors)

        chunks = [todo[start:start + size] for start in range(0, len(todo), size)]
        if len(chunks) > 1:
            self._payload(chunks[0][0])  # the ids it needs are discovered once, before the threads start
        run_bounded(send, chunks, self.concurrency, name="bulk-create",
                    done=(lambda _, made: progress(made)) if progress else None)
        if failures:
            raise TrackerError(f"JIRA refused {len(failures)} of {len(items)} tickets (the others were created): "
                               + " | ".join(failures[:3]) + (" | ..." if len(failures) > 3 else ""))
        for item in todo:
            if item.kind == "campaign" and item.ident in result:
                result[item.ident] = self._first_campaign(item, result[item.ident], journal)
        return [result[i.ident] for i in items]

    def _first_campaign(self, new: NewItem, mine: Item, journal: CreateLog | None) -> Item:
        """Two creates of one campaign a moment apart (neither seeing the other's epic yet) each made an
        epic: once the index shows both, the older one is kept by both and the newer one retired."""
        self._wait_for_index(time.time())
        same = [t for t in self._search(f'project = "{self.project}" AND labels = "{ident_label(new.ident)}" '
                                        f'ORDER BY key ASC', [int(mine.id)]) if t.ident == new.ident]
        first = min(same + [mine], key=lambda t: int(t.id or 0))
        if first.key == mine.key:
            return mine
        note = f"{mine.key} duplicates {first.key}, created a moment earlier for campaign {new.ident}: retired"
        self.client.put("retire duplicate", f"issue/{mine.key}",
                        {"fields": {"labels": [LABEL, RETIRED_LABEL],
                                    "summary": f"[duplicate of {first.key}] {new.title}"[:250]}})
        self.items.pop(mine.key, None)
        log.warning("%s", note)
        if journal:
            journal.created([first])
        return first

    def _bulk(self, payload: dict) -> dict:
        try:
            return self.client.raw("POST", "issue/bulk", body=payload).json()
        except JIRAError as exc:  # every element failed: 400 with the same body
            if exc.status_code == 400 and exc.response is not None:
                try:
                    body = exc.response.json()
                except ValueError:
                    raise exc from None
                if isinstance(body, dict) and body.get("errors") and "issues" in body:
                    return body
            raise

    # ---- writing ------------------------------------------------------------------------------------
    def update_item(self, key: str, title: str | None = None, body: Document | None = None) -> None:
        fields = {k: v for k, v in (("summary", title), ("description", wiki.render(body) if body else None))
                  if v is not None}
        if fields:
            self.client.put("update ticket", f"issue/{key}", {"fields": fields})
            item = self.items.get(key)
            if item and item.id:
                self.written.append(item.id)

    def _attachments(self, key: str) -> dict[str, list[str]]:
        body = self.client.get("read attachments", f"issue/{key}", {"fields": "attachment"})
        out: dict[str, list[str]] = {}
        for att in sorted((body.get("fields") or {}).get("attachment") or [], key=lambda a: int(a["id"])):
            out.setdefault(att["filename"], []).append(str(att["id"]))
        return out

    def attach(self, key: str, filename: str, content: bytes) -> None:
        item = self.items.get(key)
        old = list(self.copies.get(key, {}).get(filename) or ([item.attachments[filename]] if item and filename in item.attachments else []))
        for att_id in old:
            self.client.delete("delete attachment", f"attachment/{att_id}")

        def verify():
            present = self._attachments(key).get(filename)
            return present[-1] if present and not set(present) & set(old) else None

        def upload():
            return str(self.client.upload(f"issue/{key}/attachments", filename, content)[0]["id"])

        att_id = self.client.call("attach file", upload, idempotent=False, verify=verify)
        self.copies.setdefault(key, {})[filename] = [str(att_id)]
        if item:
            item.attachments[filename] = str(att_id)

    def read_attachment(self, key: str, filename: str) -> bytes | None:
        item = self.items.get(key)
        att_id = item.attachments.get(filename) if item else None
        if att_id is None:
            ids = self._attachments(key).get(filename)
            att_id = ids[-1] if ids else None
        if att_id is None:
            return None
        path = (f"{self.client.server}/rest/api/2/attachment/content/{att_id}?redirect=false" if self.client.cloud
                else f"{self.client.server}/secure/attachment/{att_id}/{filename}")
        return self.client.call("download attachment", lambda: self.client.raw("GET", path).content)

    def _comments(self, key: str) -> list[dict]:
        out, start = [], 0
        while True:
            page = self.client.get("read comments", f"issue/{key}/comment", {"startAt": start, "maxResults": 100})
            comments = page.get("comments") or []
            out += comments
            start += len(comments)
            if not comments or start >= page.get("total", 0):
                return out

    def _upsert_comment(self, key: str, marker: str, body: str) -> str:
        tag = marker_line(marker)
        text = f"{body}\n\n{tag}"
        same = [c for c in self._comments(key) if tag in (c.get("body") or "")]
        for extra in same[1:]:  # posted twice by two writers racing: keep the first
            self._delete_comment(key, extra["id"])
        existing = same[0] if same else None
        if existing is not None:
            self.note_ids[(key, marker)] = str(existing["id"])
            if existing["body"] == text:
                return "unchanged"
            self.client.put("edit comment", f"issue/{key}/comment/{existing['id']}", {"body": text})
            return "updated"

        def verify():
            found = [c for c in self._comments(key) if tag in (c.get("body") or "")]
            if found:
                self.note_ids[(key, marker)] = str(found[0]["id"])
            return "added" if found else None

        answer = self.client.call("add comment", lambda: self.client.raw("POST", f"issue/{key}/comment",
                                                                         body={"body": text}),
                                  idempotent=False, verify=verify)
        if not isinstance(answer, str) and (answer.json() or {}).get("id"):
            self.note_ids[(key, marker)] = str(answer.json()["id"])
        return "added"

    def _edit_comment(self, key: str, comment_id: str, text: str) -> bool:
        """Edit a comment known by its id (one request); `False` when it is gone (deleted by someone)."""
        def edit() -> bool:
            try:
                self.client.raw("PUT", f"issue/{key}/comment/{comment_id}", body={"body": text})
            except JIRAError as exc:
                if exc.status_code == 404:
                    return False
                raise
            return True
        return self.client.call("edit comment", edit)

    def _delete_comment(self, key: str, comment_id: str) -> None:
        try:
            self.client.delete("delete duplicate comment", f"issue/{key}/comment/{comment_id}")
        except TrackerError as exc:
            if "404" not in str(exc):
                raise

    def shows_state(self, item: Item, state: BatchState) -> bool:
        """Whether the ticket's status is one configured for ``state``; a ticket closed on a verdict shows
        whatever state its run was in (its status is the verdict's)."""
        if item.done and (self.verdicts.get(item.key) or (item.sync is not None and item.sync.verdict)):
            return True
        targets = [t.casefold() for t in self.statuses.get(state) or []]
        return not targets or item.status.casefold() in targets

    def tidy(self, items: list[Item], apply: bool = True) -> list[str]:
        """Delete the later copies of living notes (same marker) and of same-name attachments: one search
        per 50 items reads their comments; attachments are known from the items' own read."""
        done: list[str] = []
        for item in items:
            for name, ids in (self.copies.get(item.key) or {}).items():
                for att_id in ids[:-1]:
                    if apply:
                        self.client.delete("delete duplicate attachment", f"attachment/{att_id}")
                    done.append(f"{item.key}: an older copy of {name} removed")
                if apply and len(ids) > 1:
                    self.copies[item.key][name] = ids[-1:]
                    item.attachments[name] = ids[-1]
        for jql in self._by_keys([t.key for t in items]):
            for raw in self.client.search(jql, ["comment"]):
                page = ((raw.get("fields") or {}).get("comment") or {})
                comments = page.get("comments") or []
                if page.get("total", len(comments)) > len(comments):
                    comments = self._comments(raw["key"])
                seen: set[str] = set()
                for comment in comments:
                    marker = _marker_of(comment.get("body") or "")
                    if marker in seen:
                        if apply:
                            self._delete_comment(raw["key"], comment["id"])
                        done.append(f"{raw['key']}: a second {marker} comment removed")
                    elif marker:
                        seen.add(marker)
        return done

    def put_note(self, key: str, slot: str, body: Document, note_id: str | None = None) -> str:
        """One comment per slot, found by its marker line and edited in place.

        Parameters
        ----------
        key : `str`
            The ticket.
        slot : `str`
            Which living note (its marker line).
        body : `Document`
            The note's text.
        note_id : `str`, optional
            The comment's id when the caller kept it (`note_id` after an earlier call): the comment is then
            edited with one request, without reading the ticket's comments; a comment gone since is made again.

        Returns
        -------
        result : `str`
            ``added``, ``updated`` or ``unchanged``; the comment's id is then `note_id` ``(key, slot)``.
        """
        text = wiki.render(body)
        if note_id and self._edit_comment(key, note_id, f"{text}\n\n{marker_line(slot)}"):
            self.note_ids[(key, slot)] = note_id
            return "updated"
        return self._upsert_comment(key, slot, text)

    def note_id(self, key: str, slot: str) -> str | None:
        return self.note_ids.get((key, slot))

    def add_note(self, key: str, body: Document) -> None:
        """A comment, marked with its own digest so that a retried post is never duplicated."""
        text = wiki.render(body)
        self._upsert_comment(key, "note-" + hashlib.sha256(text.encode()).hexdigest()[:12], text)

    def set_record(self, key: str, record: Record) -> None:
        data = record.to_json()
        size = len(json.dumps(data).encode())
        if size > 32768:
            raise TrackerError(f"{key}: record of {size} bytes exceeds JIRA's 32768-byte issue property limit")
        self.client.put("set metadata", f"issue/{key}/properties/{PROPERTY}", data)
        if key in self.items:
            self.items[key].record = record

    def set_sync(self, key: str, record: SyncRecord) -> None:
        self.client.put("record sync", f"issue/{key}/properties/{SYNC_PROPERTY}", record.to_json())
        if key in self.items:
            self.items[key].sync = record

    # ---- run states and links -------------------------------------------------------------------------
    def set_run_state(self, key: str, state: BatchState) -> str:
        """Move the ticket to the first reachable status configured for ``state`` (``sync.<state>_status``).

        Two requests per transition (the transitions available, the one chosen) when the ticket was read in
        this process (its status is known); nothing is read back after a transition.
        """
        targets = self.statuses.get(state) or []
        item = self.items.get(key)
        if not targets:
            return item.status if item else ""
        # the status the ticket showed when read (its category is unknown here): no read before the walk
        known = {"name": item.status} if item and item.status else None
        reached, status = move(self.client, key, targets, known)
        if item:
            item.status = status.get("name") or reached
            category = (status.get("statusCategory") or {}).get("key")
            if category:
                item.done = category == "done"
        return reached

    def state_action(self, state: BatchState) -> str:
        targets = self.statuses.get(state) or []
        return f"move to {' or '.join(targets)}" if targets else ""

    def set_verdict(self, key: str, verdict: str) -> str:
        """Move the ticket to the first reachable of ``sync.verdict_status`` (else to any done-category
        status), then label it ``jc-<verdict>`` (a verdict label it had before is replaced), so that
        JQL finds it. One read when nothing is to change; returns the status it shows."""
        try:
            label = verdict_label(verdict)
        except ValueError:
            raise TrackerError(f"{key}: unknown verdict '{verdict}' (expected one of "
                               f"{', '.join(sorted(v[len('jc-'):] for v in verdict_labels()))})") from None
        raw = self.client.get("read ticket", f"issue/{key}", {"fields": "status,labels", "properties": PROPERTY})
        fields = raw.get("fields") or {}
        own = campaign_label(((raw.get("properties") or {}).get(PROPERTY) or {}).get("campaign") or "")
        labels = [label for label in fields.get("labels") or [] if label != own]  # a campaign named "accepted"...
        status = fields.get("status") or {}
        here = status.get("name", "")
        done = (status.get("statusCategory") or {}).get("key") == "done"
        wanted = [t.casefold() for t in self.verdict_statuses]
        if not (here.casefold() in wanted or done and label in labels):
            reached = move_to_first(self.client, key, self.verdict_statuses + ["done"])
            here = current_status(self.client, key)["name"] if reached.casefold() in CATEGORIES else reached
            log.info("%s: closed as %s (%s)", key, verdict, here)
        stale = [other for other in labels if other in verdict_labels() and other != label]
        if label not in labels or stale:
            changes = [{"add": label}] + [{"remove": other} for other in stale]
            self.client.put("label verdict", f"issue/{key}", {"update": {"labels": changes}})
        self.verdicts[key] = label[len("jc-"):]
        if key in self.items:
            self.items[key].status, self.items[key].done = here, True
        return here

    def link(self, key: str, other: str, relation: str) -> None:
        """An issue link that reads ``key`` ``relation`` ``other`` on ``key``'s page ("PREOPS-9 rescues PREOPS-4")
        and the inward description on ``other``'s ("is rescued by PREOPS-9"). A relation of `RELATIONS` uses the
        link type `_link_type` finds; any other relation names a link type. ``key``'s links are read first and
        the link is made only when none of that type joins the two; the type is looked up once per tracker."""
        links = self._links(key)
        known = RELATIONS.get(relation.casefold())
        if known and relation.casefold() not in self.link_types and self._joins(links, other, outward=known[1]):
            return
        name = self._link_type(relation)
        if self._joins(links, other, name=name):
            return
        # JIRA shows the link type's outward description on the inward issue's page (the issue linking model:
        # an issue whose link names an ``outwardIssue`` reads "<outward> <that issue>")
        body = {"type": {"name": name}, "inwardIssue": {"key": key}, "outwardIssue": {"key": other}}
        self.client.call("link tickets", lambda: self.client.raw("POST", "issueLink", body=body), idempotent=False,
                         verify=lambda: self._joins(self._links(key), other, name=name) or None)
        log.info("%s %s %s (issue link type %s)", key, relation, other, name)

    def _links(self, key: str) -> list[dict]:
        raw = self.client.get("read links", f"issue/{key}", {"fields": "issuelinks"})
        return (raw.get("fields") or {}).get("issuelinks") or []

    @staticmethod
    def _joins(links: list[dict], other: str, name: str = "", outward: str = "") -> bool:
        """Whether one of an issue's ``links`` reads "<type's outward description> ``other``" on it (either
        way for a type whose two descriptions are the same), for the type ``name`` or any type whose outward
        description is ``outward``."""
        for link in links:
            kind = link.get("type") or {}
            if name and kind.get("name", "").casefold() != name.casefold():
                continue
            if outward and kind.get("outward", "").casefold() != outward.casefold():
                continue
            ends = [(link.get("outwardIssue") or {}).get("key")]
            if kind.get("inward", "").casefold() == kind.get("outward", "").casefold():
                ends.append((link.get("inwardIssue") or {}).get("key"))
            if other in ends:
                return True
        return False

    def _link_type(self, relation: str) -> str:
        """The link type name for ``relation``: the configured one; else a type whose outward description is
        the relation (``rescues``), or named as `RELATIONS` names it; else that type, made now (JIRA
        administrators only); else `FALLBACK_LINK_TYPE`, with a warning. Kept for this tracker's life."""
        known = RELATIONS.get(relation.casefold())
        if known is None:
            return relation
        if relation.casefold() in self.link_types:
            return self.link_types[relation.casefold()]
        name, outward, inward = known
        types = self._read_link_types()
        found = next((t["name"] for t in types if t.get("outward", "").casefold() == outward), None)
        found = found or next((t["name"] for t in types if t.get("name", "").casefold() == name.casefold()), None)
        self.link_types[relation.casefold()] = found or self._make_link_type(name, outward, inward)
        return self.link_types[relation.casefold()]

    def _read_link_types(self) -> list[dict]:
        return self.client.get("read issue link types", "issueLinkType").get("issueLinkTypes") or []

    def _make_link_type(self, name: str, outward: str, inward: str) -> str:
        def make():
            try:
                return self.client.raw("POST", "issueLinkType",
                                       body={"name": name, "inward": inward, "outward": outward}).json()
            except JIRAError as exc:  # not an administrator: Cloud answers 404, Data Center 403
                if exc.status_code in (403, 404):
                    return {}
                raise

        def verify():
            return next((t for t in self._read_link_types() if t.get("name", "").casefold() == name.casefold()), None)

        made = self.client.call("make issue link type", make, idempotent=False, verify=verify)
        if made:
            log.info("made the issue link type %s (%s / %s)", made.get("name", name), outward, inward)
            return made.get("name") or name
        log.warning("JIRA did not let %s make the issue link type '%s' (it takes the Administer Jira permission): "
                    "linking as '%s' instead; an administrator can add a link type whose outward description is "
                    "'%s', or name one in jira.%s_link_type", self.client.user or "this account", name,
                    FALLBACK_LINK_TYPE, outward, name.lower())
        return FALLBACK_LINK_TYPE

    # ---- views ----------------------------------------------------------------------------------------
    def board(self, campaign: str | None = None, known: ItemRef | None = None) -> Board:
        """A saved filter and a Kanban board on it, found or created once (`jira.boards`)."""
        return Boards(self).ensure(campaign, known)

    # ---- leases ---------------------------------------------------------------------------------------
    def read_lease(self, key: str) -> Lease | None:
        """The lease property, read by key (consistent); how long that took sets `lease_settle`: three
        round trips, so a competing writer that read before our write has written by our read-back."""
        started = time.monotonic()
        try:
            raw = self.client.raw("GET", f"issue/{key}/properties/{LEASE_PROPERTY}")
        except JIRAError as exc:
            if exc.status_code == 404:
                self.lease_settle = max(0.1, 3 * (time.monotonic() - started))
                return None
            raise self.client.error("read lease", exc) from None
        self.lease_settle = max(0.1, 3 * (time.monotonic() - started))
        try:
            return Lease.from_json((raw.json() or {}).get("value"))
        except RecordError as exc:
            log.warning("%s: unreadable lease ignored (%s)", key, exc)
            return None

    def write_lease(self, key: str, lease: Lease) -> None:
        self.client.put("write lease", f"issue/{key}/properties/{LEASE_PROPERTY}", lease.to_json())
        if key in self.items:
            self.items[key].lease = lease

    def close(self) -> None:
        self.client.close()
