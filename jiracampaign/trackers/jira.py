"""The JIRA tracker: a campaign is an epic, each submission a child ticket (Cloud and Data Center).

Cloud links children with ``parent``; Data Center with the Epic Link field and needs Epic Name on
the epic; sub-tasks (hierarchy ``subtask``) hang under one Task per step on both. Every ticket
carries the labels ``jiracampaign``, ``jc-<campaign>`` and ``jcid-<ident>`` (the handle for
searching before creating) and its metadata in the issue property ``jiracampaign``.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import deque
from typing import Any

from jira import JIRAError

from ..config import Config
from ..credentials import find_secret
from ..errors import ConfigError, TrackerError
from .base import CATEGORIES, EPIC_LABEL, LABEL, PROPERTY, SYNC_PROPERTY, NewTicket, Ticket, Tracker, campaign_label, ident_label
from .jira_client import JiraClient, Transient

__all__ = ["JiraTracker", "marker_line"]

BULK = 50
FIELDS = ["summary", "status", "labels", "attachment", "issuetype", "parent"]  # not description: large, rarely needed


def marker_line(marker: str) -> str:
    """The unobtrusive last line that identifies a comment jiracampaign keeps up to date."""
    return "{color:#97a0af}jiracampaign:" + marker + "{color}"


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
    """

    name = "jira"

    def __init__(self, client: JiraClient, project: str, hierarchy: str = "task", ids: dict | None = None,
                 consistency_checks: int = 4):
        self.client, self.project, self.hierarchy = client, project, hierarchy
        self.ids = {k: v for k, v in (ids or {}).items() if v}
        self.consistency_checks = consistency_checks
        self.tickets: dict[str, Ticket] = {}  # by key: what this process has seen
        self.written: deque[str] = deque(maxlen=50)  # ids to reconcile in Cloud searches

    @property
    def step_tickets(self) -> bool:
        return self.hierarchy == "subtask"

    @classmethod
    def from_config(cls, config: Config) -> "JiraTracker":
        server, project = config.get("jira.server"), config.get("jira.project")
        if not server or not project:
            raise ConfigError("config", None, "jira.server" if not server else "jira.project",
                              "is empty: run 'jiracampaign init', or set it in the config file or environment")
        client = JiraClient(server, config.get("jira.auth"), config.get("jira.user"), find_secret(config),
                            timeout=config.get("jira.timeout"), max_retries=config.get("jira.max_retries"),
                            flavour=config.get("jira.flavour"))
        ids = {k: config.get(f"jira.{k}") for k in ("epic_type", "task_type", "subtask_type", "epic_link_field",
                                                     "epic_name_field")}
        return cls(client, project, config.get("jira.hierarchy"), ids)

    def describe(self) -> str:
        return f"JIRA {'Cloud' if self.client.cloud else 'Data Center'} {self.client.server} project {self.project}"

    def browse_url(self, key: str) -> str:
        return f"{self.client.server}/browse/{key}"

    # ---- discovery ----------------------------------------------------------------------------------
    def issue_types(self) -> list[dict]:
        body = self.client.get("read issue types", f"issue/createmeta/{self.project}/issuetypes", {"maxResults": 100})
        return body.get("issueTypes") or body.get("values") or []

    def type_fields(self, type_id: str) -> list[dict]:
        body = self.client.get("read create fields", f"issue/createmeta/{self.project}/issuetypes/{type_id}",
                               {"maxResults": 200})
        return body.get("fields") or body.get("values") or []

    def discover(self) -> dict[str, str]:
        """Find the issue type and field ids by hierarchy level and field schema (never by translated names)."""
        types = self.issue_types()
        found: dict[str, str] = {}
        subtasks = [t for t in types if t.get("subtask")]
        standard = [t for t in types if not t.get("subtask")]
        if self.client.cloud:
            epics = [t for t in standard if t.get("hierarchyLevel") == 1]
            standard = [t for t in standard if t.get("hierarchyLevel", 0) == 0]
        else:
            fields = self.client.get("read fields", "field")
            by_custom = {(f.get("schema") or {}).get("custom", "").rsplit(":", 1)[-1]: f["id"] for f in fields}
            if "gh-epic-link" in by_custom:
                found["epic_link_field"] = by_custom["gh-epic-link"]
            if "gh-epic-label" in by_custom:
                found["epic_name_field"] = by_custom["gh-epic-label"]
            epics = [t for t in standard if any(f.get("fieldId") == found.get("epic_name_field")
                                                for f in self.type_fields(t["id"]))] if "epic_name_field" in found else []
            standard = [t for t in standard if t not in epics]
        if epics:
            found["epic_type"] = epics[0]["id"]
        tasks = sorted(standard, key=lambda t: t.get("name") != "Task")
        if tasks:
            found["task_type"] = tasks[0]["id"]
        if subtasks:
            found["subtask_type"] = subtasks[0]["id"]
        return found

    def _id(self, name: str) -> str:
        if name not in self.ids:
            self.ids.update({k: v for k, v in self.discover().items() if k not in self.ids})
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

    def _ticket(self, raw: dict) -> Ticket | None:
        fields = raw.get("fields") or {}
        properties = raw.get("properties") or {}
        meta = properties.get(PROPERTY) or {}
        labels = fields.get("labels") or []
        ident = next((label[len("jcid-"):] for label in labels if label.startswith("jcid-")), None)
        if ident is None:
            return None
        status = fields.get("status") or {}
        parent = (fields.get("parent") or {}).get("key") or fields.get(self.ids.get("epic_link_field", ""), None)
        ticket = Ticket(
            key=raw["key"], kind=meta.get("type", "submission"), ident=ident, summary=fields.get("summary", ""),
            status=status.get("name", ""), category=(status.get("statusCategory") or {}).get("key", "new"),
            labels=labels, metadata=meta, description=fields.get("description") or "",
            attachments={a["filename"]: str(a["id"]) for a in sorted(fields.get("attachment") or [], key=lambda a: int(a["id"]))},
            parent=parent, id=str(raw.get("id", "")), sync=properties.get(SYNC_PROPERTY) or {},
        )
        self.tickets[ticket.key] = ticket
        return ticket

    def _search(self, jql: str, reconcile: list[int] | None = None) -> list[Ticket]:
        """Tickets matching ``jql``; Cloud is asked to reconcile ``reconcile`` (default: the ids written here)."""
        ids = list(self.written) if reconcile is None else reconcile
        found = (self._ticket(raw) for raw in self.client.search(jql, self._fields(), [PROPERTY, SYNC_PROPERTY], ids))
        return [t for t in found if t is not None]

    def find_tickets(self, campaign: str) -> list[Ticket]:
        return self._search(f'project = "{self.project}" AND labels = "{campaign_label(campaign)}" ORDER BY key ASC')

    def get_ticket(self, key: str) -> Ticket | None:
        try:
            raw = self.client.raw("GET", f"issue/{key}", {"fields": ",".join(self._fields() + ["description"]),
                                                          "properties": f"{PROPERTY},{SYNC_PROPERTY}"})
        except JIRAError as exc:
            if exc.status_code == 404:
                return None
            raise self.client.error("read ticket", exc) from None
        return self._ticket(raw.json())

    def find_known(self, refs: list[tuple[str, str]]) -> list[Ticket]:
        """Search by key, naming the ids in ``reconcileIssues`` so Cloud returns them even while its index lags."""
        out: list[Ticket] = []
        for start in range(0, len(refs), BULK):
            chunk = refs[start:start + BULK]
            keys = ", ".join(key for key, _ in chunk)
            ids = [int(i) for _, i in chunk if str(i).isdigit()]
            out += self._search(f'project = "{self.project}" AND key in ({keys}) ORDER BY key ASC', ids)
        return out

    def list_open_submissions(self, campaign: str | None = None) -> list[Ticket]:
        label = campaign_label(campaign) if campaign else LABEL
        jql = f'project = "{self.project}" AND labels = "{label}" AND statusCategory != Done ORDER BY key ASC'
        return [t for t in self._search(jql) if t.kind == "submission"]

    def open_epics(self, campaign: str | None = None) -> list[Ticket]:
        extra = f' AND labels = "{campaign_label(campaign)}"' if campaign else ""
        jql = f'project = "{self.project}" AND labels = "{EPIC_LABEL}"{extra} AND statusCategory != Done ORDER BY key ASC'
        return [t for t in self._search(jql) if t.kind == "campaign"]

    def _find_idents(self, idents: list[str]) -> dict[str, Ticket]:
        """Tickets with these idents, searching again while Cloud search may still lag behind a write."""
        found: dict[str, Ticket] = {}
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
    def _payload(self, item: NewTicket) -> dict:
        fields: dict[str, Any] = {"project": {"key": self.project}, "summary": item.summary,
                                  "description": item.description, "labels": item.all_labels()}
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
        return {"fields": fields, "properties": [{"key": PROPERTY, "value": item.metadata}]}

    def _created(self, item: NewTicket, key: str, issue_id: str) -> Ticket:
        self.written.append(issue_id)
        ticket = Ticket(key, item.kind, item.ident, item.summary, "", "new", item.all_labels(), dict(item.metadata),
                        item.description, {}, item.parent, issue_id)
        self.tickets[key] = ticket
        return ticket

    def create_tickets(self, items: list[NewTicket], progress=None) -> list[Ticket]:
        known = {t.ident: t for t in self.tickets.values()}
        result: dict[str, Ticket] = {i.ident: known[i.ident] for i in items if i.ident in known}
        failures: list[str] = []
        todo = [i for i in items if i.ident not in result]
        for start in range(0, len(todo), BULK):
            remaining = todo[start:start + BULK]
            attempt = 0
            while remaining:
                payload = {"issueUpdates": [self._payload(i) for i in remaining]}
                try:
                    body = self.client.once("create tickets", lambda p=payload: self._bulk(p))
                except Transient as transient:
                    if attempt >= self.client.retries:
                        raise transient.error from None
                    self.client.wait(transient, attempt)
                    attempt += 1
                    if transient.maybe_done:  # the tickets may exist: look before creating again
                        found = self._find_idents([i.ident for i in remaining])
                        result.update(found)
                        remaining = [i for i in remaining if i.ident not in found]
                    continue
                created = iter(body.get("issues") or [])
                errors = {e["failedElementNumber"]: e for e in body.get("errors") or []}
                for n, item in enumerate(remaining):
                    if n in errors:
                        element = errors[n].get("elementErrors") or {}
                        text = "; ".join(list(element.get("errorMessages") or []) +
                                         [f"{k}: {v}" for k, v in (element.get("errors") or {}).items()])
                        failures.append(f"{item.ident}: {text}")
                    else:
                        issue = next(created)
                        result[item.ident] = self._created(item, issue["key"], str(issue["id"]))
                if progress:
                    progress(len(remaining) - len(errors))
                remaining = []
        if failures:
            raise TrackerError(f"JIRA refused {len(failures)} of {len(items)} tickets (the others were created): "
                               + " | ".join(failures[:3]) + (" | ..." if len(failures) > 3 else ""))
        return [result[i.ident] for i in items]

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
    def update_ticket(self, key, summary=None, description=None, labels=None) -> None:
        fields = {k: v for k, v in (("summary", summary), ("description", description), ("labels", labels)) if v is not None}
        if fields:
            self.client.put("update ticket", f"issue/{key}", {"fields": fields})
            self._note_write(key)

    def _note_write(self, key: str) -> None:
        ticket = self.tickets.get(key)
        if ticket and ticket.id:
            self.written.append(ticket.id)

    def _attachments(self, key: str) -> dict[str, list[str]]:
        body = self.client.get("read attachments", f"issue/{key}", {"fields": "attachment"})
        out: dict[str, list[str]] = {}
        for att in sorted((body.get("fields") or {}).get("attachment") or [], key=lambda a: int(a["id"])):
            out.setdefault(att["filename"], []).append(str(att["id"]))
        return out

    def attach(self, key: str, filename: str, content: bytes) -> None:
        ticket = self.tickets.get(key)
        old = [ticket.attachments[filename]] if ticket and filename in ticket.attachments else []
        for att_id in old:
            self.client.delete("delete attachment", f"attachment/{att_id}")

        def verify():
            present = self._attachments(key).get(filename)
            return present[-1] if present and not set(present) & set(old) else None

        def upload():
            return str(self.client.jira.add_attachment(issue=key, attachment=io.BytesIO(content), filename=filename).id)

        att_id = self.client.call("attach file", upload, idempotent=False, verify=verify)
        if ticket:
            ticket.attachments[filename] = str(att_id)

    def read_attachment(self, key: str, filename: str) -> bytes | None:
        ticket = self.tickets.get(key)
        att_id = ticket.attachments.get(filename) if ticket else None
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

    def upsert_comment(self, key: str, marker: str, body: str) -> str:
        tag = marker_line(marker)
        text = f"{body}\n\n{tag}"
        existing = next((c for c in self._comments(key) if tag in (c.get("body") or "")), None)
        if existing is not None:
            if existing["body"] == text:
                return "unchanged"
            self.client.put("edit comment", f"issue/{key}/comment/{existing['id']}", {"body": text})
            return "updated"

        def verify():
            return "added" if any(tag in (c.get("body") or "") for c in self._comments(key)) else None

        self.client.call("add comment", lambda: self.client.raw("POST", f"issue/{key}/comment", body={"body": text}),
                         idempotent=False, verify=verify)
        return "added"

    def add_comment(self, key: str, body: str) -> None:
        self.upsert_comment(key, "note-" + hashlib.sha256(body.encode()).hexdigest()[:12], body)

    def set_metadata(self, key: str, metadata: dict[str, Any]) -> None:
        size = len(json.dumps(metadata).encode())
        if size > 32768:
            raise TrackerError(f"{key}: metadata of {size} bytes exceeds JIRA's 32768-byte issue property limit")
        self.client.put("set metadata", f"issue/{key}/properties/{PROPERTY}", metadata)
        if key in self.tickets:
            self.tickets[key].metadata = dict(metadata)

    def set_sync_record(self, key: str, record: dict[str, Any]) -> None:
        self.client.put("record sync", f"issue/{key}/properties/{SYNC_PROPERTY}", record)
        if key in self.tickets:
            self.tickets[key].sync = dict(record)

    # ---- workflow -----------------------------------------------------------------------------------
    def transition(self, key: str, target: str) -> bool:
        """Walk the workflow's available transitions toward ``target`` (a status name or category)."""
        wanted = target.casefold()
        by_category = wanted in CATEGORIES
        seen: set[str] = set()
        moved = False
        for _ in range(6):
            status = (self.client.get("read status", f"issue/{key}", {"fields": "status"})["fields"]["status"])
            here, here_cat = status["name"], status["statusCategory"]["key"]
            if (here_cat if by_category else here.casefold()) == wanted:
                return moved
            seen.add(here.casefold())
            options = self.client.get("read transitions", f"issue/{key}/transitions",
                                      {"expand": "transitions.fields"}).get("transitions") or []
            choice = self._choose(options, wanted, by_category, here_cat, seen)
            if choice is None:
                names = ", ".join(f"{t['name']} -> {t['to']['name']}" for t in options) or "none"
                raise TrackerError(f"{key}: cannot reach status '{target}' from '{here}' (available transitions: {names})")
            body: dict[str, Any] = {"transition": {"id": choice["id"]}}
            required = {name: f for name, f in (choice.get("fields") or {}).items() if f.get("required")}
            if "resolution" in required:
                values = required["resolution"].get("allowedValues") or [{"name": "Done"}]
                body["fields"] = {"resolution": {"name": values[0]["name"]}}
            self.client.call("transition", lambda b=body: self.client.raw("POST", f"issue/{key}/transitions", body=b),
                             idempotent=False, verify=lambda c=choice: self._arrived(key, c))
            moved = True
        raise TrackerError(f"{key}: status '{target}' not reached after 6 transitions")

    def _arrived(self, key: str, choice: dict) -> bool | None:
        status = self.client.get("read status", f"issue/{key}", {"fields": "status"})["fields"]["status"]
        return True if status["name"] == choice["to"]["name"] else None

    @staticmethod
    def _choose(options: list[dict], wanted: str, by_category: bool, here_cat: str, seen: set[str]) -> dict | None:
        def cat(t):
            return t["to"]["statusCategory"]["key"]

        direct = [t for t in options if (cat(t) if by_category else t["to"]["name"].casefold()) == wanted]
        if direct:
            return direct[0]
        fresh = [t for t in options if t["to"]["name"].casefold() not in seen]
        if by_category:  # closer to the wanted category, else sideways within this one; never away
            goal = CATEGORIES.index(wanted)
            distance = lambda c: abs(CATEGORIES.index(c) - goal)  # noqa: E731
            fresh = [t for t in fresh if distance(cat(t)) <= distance(here_cat)]
            return min(fresh, key=lambda t: distance(cat(t)), default=None)
        # toward a named status: prefer staying in work (indeterminate) over finishing or restarting
        return min(fresh, key=lambda t: {"indeterminate": 0, "new": 1, "done": 2}[cat(t)], default=None)

    def close(self) -> None:
        self.client.close()
