"""A stateful fake JIRA (Cloud or Data Center) served over HTTP on loopback.

Strict like the real one where jiracampaign could go wrong: authentication per flavour, required
fields and the epic hierarchy, Cloud's removed ``/search`` (410) and its eventually consistent
``/search/jql``, DC's ``startAt`` search and Epic Link / Epic Name fields (with localised names),
the XSRF header on attachments, transitions allowed only from the right status, property size.
Saved filters (``/rest/api/2/filter``: Cloud's ``/filter/search``, which Data Center lacks) and the
Agile boards on them (``/rest/agile/1.0/board``: Cloud needs a ``location``, Data Center ignores it and
its board list ignores ``filterId``), with the shapes of each flavour. Issue links and their types: a link
asked for twice is answered 201 and kept once (as Atlassian documents); making a link type takes the
Administer Jira permission (``admin``), refused with 404 on Cloud (as documented) and 403 on Data Center.
Faults can be injected per request: 429 with Retry-After, 503, 500, or a lost response (the
request is carried out, then the connection is closed without an answer).
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import itertools
import json
import os
import re
import signal
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes.loopback import Loopback

API = "/rest/api/2"
API3 = "/rest/api/3"  # Cloud only; served here for the bulk fetch alone
AGILE = "/rest/agile/1.0"
ACCOUNT_ID = "5b10a2844c20165700ede21g"  # Cloud's account id of the fake's one user
RANK_FIELD = 10019
KANBAN_SUBQUERY = "fixVersion in unreleasedVersions() OR fixVersion is EMPTY"
SHARE_TYPES = {"user", "group", "project", "projectRole", "global", "authenticated", "loggedin"}
FILTER_EXPANDS = {"description", "favourite", "favouritedCount", "jql", "owner", "searchUrl", "sharePermissions",
                  "editPermissions", "isWritable", "subscriptions", "viewUrl", "approximateLastUsed"}
FILTER_ORDERS = {"description", "favourite_count", "id", "is_favourite", "name", "owner", "is_shared"}
EPIC_LINK, EPIC_NAME = "customfield_10101", "customfield_10102"
STATUSES = {
    "1": ("To Do", "new", "To Do"), "3": ("In Progress", "indeterminate", "In Progress"),
    "4": ("Blocked", "indeterminate", "In Progress"), "6": ("Done", "done", "Done"),
}
# transition id -> (name, from status ids, to status id)
TRANSITIONS = {
    "11": ("Start Progress", {"1", "4"}, "3"),
    "21": ("Stop Progress", {"3"}, "1"),
    "31": ("Close", {"1", "3"}, "6"),
    "41": ("Block", {"3"}, "4"),
    "51": ("Reopen", {"6"}, "1"),
}
#: JIRA's default issue link types: name -> (id, inward, outward)
LINK_TYPES = {"Blocks": ("10000", "is blocked by", "blocks"), "Cloners": ("10001", "is cloned by", "clones"),
              "Duplicate": ("10002", "is duplicated by", "duplicates"), "Relates": ("10003", "relates to", "relates to")}

TYPES = {
    "10000": {"name": "Epic", "subtask": False, "hierarchyLevel": 1},
    "10001": {"name": "Task", "subtask": False, "hierarchyLevel": 0},
    "10002": {"name": "Sub-task", "subtask": True, "hierarchyLevel": -1},
    "10003": {"name": "Story", "subtask": False, "hierarchyLevel": 0},
}


class HttpError(Exception):
    def __init__(self, status: int, body: Any, headers: dict | None = None):
        self.status, self.body, self.headers = status, body, headers or {}


def messages(*texts: str, errors: dict | None = None) -> dict:
    return {"errorMessages": list(texts), "errors": errors or {}}


@dataclass
class Fault:
    method: str
    path: str  # regex searched in the path
    kind: str  # "429", "503", "500", "lost"
    times: int = 1
    retry_after: str | None = "1"
    skip: int = 0  # matching requests let through before the fault applies


@dataclass
class Issue:
    id: int
    key: str
    type_id: str
    fields: dict[str, Any]
    status: str = "1"
    properties: dict[str, Any] = field(default_factory=dict)
    comments: list[dict] = field(default_factory=list)
    attachments: list[dict] = field(default_factory=list)
    hidden_for: int = 0  # searches for which it is still invisible (Cloud eventual consistency)
    hidden_until: float = 0.0  # and the time until which it is (Cloud's index lag, in time)


class FakeJira(Loopback):
    """The server state and its HTTP front end.

    Parameters
    ----------
    flavour : `str`
        ``cloud`` or ``datacenter``.
    user, token : `str`
        The only credentials accepted (Cloud: Basic user:token; DC: Bearer token).
    project : `str`
        Key of the one project.
    lag : `int`
        Cloud only: searches a new issue stays invisible to, unless named in ``reconcileIssues``.
    lag_seconds : `float`
        Cloud only: seconds a new issue stays invisible to searches, unless named in ``reconcileIssues``
        (both hold: an issue shows once both are over).
    """

    def __init__(self, flavour: str = "cloud", user: str = "jdoe@example.org", token: str = "tok-secret",
                 project: str = "CAMP", lag: int = 2, latency: float = 0.0, lag_seconds: float = 0.0):
        self.flavour, self.user, self.token, self.project_key = flavour, user, token, project
        self.lag, self.latency, self.lag_seconds = lag, latency, lag_seconds
        self.kill: tuple[int, int] | None = None  # (request number, pid): see `kill_after`
        self.issues: dict[str, Issue] = {}  # by key
        self.fetch_errors: set[str] = set()  # keys the next bulk fetch naming them reports in issueErrors (once)
        self.keys: dict[str, str] = {}  # issue id -> key
        self.ids = itertools.count(10001)
        self.numbers = itertools.count(1)
        self.attachment_ids = itertools.count(20001)
        self.comment_ids = itertools.count(30001)
        self.faults: list[Fault] = []
        self.log: list[dict] = []
        self.in_flight = 0  # requests being answered now
        self.peak_in_flight = 0  # the most answered at once (tests check that a client overlapped its requests)
        self.permissions = {"BROWSE_PROJECTS", "CREATE_ISSUES", "EDIT_ISSUES", "CREATE_ATTACHMENTS", "DELETE_OWN_ATTACHMENTS",
                            "ADD_COMMENTS", "EDIT_OWN_COMMENTS", "TRANSITION_ISSUES"}
        self.types = dict(TYPES)
        self.links: list[dict] = []  # {"id", "type", "inward", "outward"}
        self.link_types = dict(LINK_TYPES)  # name -> (id, inward, outward)
        self.link_type_ids = itertools.count(10100)
        self.admin = True  # False: the user lacks the Administer Jira permission (cannot make link types)
        self.filters: dict[str, dict] = {}  # id -> {id, name, jql, description, owner, favourite, shares}
        self.filter_ids = itertools.count(10000)
        self.boards: dict[int, dict] = {}  # id -> {id, name, type, filter, location, private, columns}
        self.board_ids = itertools.count(1)
        self.can_share = True  # False: the user lacks "Create shared objects" (a shared board is made private)
        self.software = True  # False: no Jira Software, so no Agile REST API
        self.lock = threading.RLock()

    # ---- life cycle -------------------------------------------------------------------------
    def start(self) -> "FakeJira":
        return self.serve(_Handler)

    def inject(self, method: str, path: str, kind: str, times: int = 1, retry_after: str | None = "1",
               skip: int = 0) -> None:
        """Make the next ``times`` matching requests (after ``skip`` of them) fail with ``kind``."""
        self.faults.append(Fault(method.upper(), path, kind, times, retry_after, skip))

    def kill_after(self, number: int, pid: int) -> None:
        """Apply request ``number`` (counted from 1 in the log), then SIGKILL process ``pid`` instead of
        answering: a client killed while its write was in flight, whose answer is lost with it."""
        self.kill = (number, pid)

    def requests(self, method: str | None = None, path: str = "") -> list[dict]:
        """Logged requests, optionally filtered by method and a path regex."""
        return [r for r in self.log if (method is None or r["method"] == method) and re.search(path, r["path"])]

    def by_label(self, label: str) -> list[Issue]:
        return [i for i in self.issues.values() if label in i.fields.get("labels", [])]

    def writes(self) -> list[dict]:
        """Logged requests that change something (Cloud's POST searches and bulk fetches only read)."""
        return [r for r in self.log if r["method"] in ("POST", "PUT", "DELETE")
                and not r["path"].endswith(("/search/jql", "/issue/bulkfetch"))]

    # ---- saved filters and boards -------------------------------------------------------------
    def user_json(self) -> dict:
        if self.cloud:
            return {"self": f"{self.url}{API}/user?accountId={ACCOUNT_ID}", "accountId": ACCOUNT_ID,
                    "displayName": "J. Doe", "active": True}
        return {"self": f"{self.url}{API}/user?username={self.user}", "key": "JIRAUSER10000", "name": self.user,
                "displayName": "J. Doe", "active": True}

    def project_ref(self) -> dict:
        return {"self": f"{self.url}{API}/project/10000", "id": "10000", "key": self.project_key, "name": "Campaigns"}

    def filter_json(self, f: dict, expand: set[str] | None = None) -> dict:
        """A filter bean: the whole one (create, get, favourites), or as Cloud's filter search shows it:
        ``id``, ``name``, ``self`` and the fields named in ``expand``."""
        out = {"self": f"{self.url}{API}/filter/{f['id']}", "id": f["id"], "name": f["name"]}
        viewer = (f"{self.url}/issues/?filter={f['id']}" if self.cloud
                  else f"{self.url}/secure/IssueNavigator.jspa?mode=hide&requestId={f['id']}")
        full = {
            "description": f["description"], "owner": self.user_json(), "jql": f["jql"], "viewUrl": viewer,
            "searchUrl": f"{self.url}{API}/search?jql={f['jql'].replace(' ', '+')}", "favourite": f["favourite"],
            "sharePermissions": [{"id": 10000 + n, "type": p["type"], **({"project": self.project_ref()} if p["type"] == "project" else {})}
                                 for n, p in enumerate(f["shares"])],
            "subscriptions": {"size": 0, "items": [], "max-results": 1000, "start-index": 0, "end-index": 0},
        }
        if self.cloud:
            full.update(favouritedCount=1 if f["favourite"] else 0, editPermissions=[])
        else:
            full.update(editable=True, sharedUsers={"size": 0, "items": [], "max-results": 1000, "start-index": 0, "end-index": 0})
        if expand is None:
            return {**out, **full}
        if expand:
            out["expand"] = ",".join(sorted(expand))
        return {**out, **{k: v for k, v in full.items() if k in expand}}

    def find_filter(self, filter_id: str) -> dict:
        found = self.filters.get(str(filter_id))
        if found is None:
            raise HttpError(400, messages("The selected filter is not available to you, perhaps it has been deleted "
                                          "or had its permissions changed."))
        return found

    def create_filter(self, body: Any) -> dict:
        if not isinstance(body, dict):
            raise HttpError(400, messages("Can not deserialize the filter: expected an object."))
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise HttpError(400, messages(errors={"filterName": "You must specify a name for this filter."}))
        if len(name) > 255:
            raise HttpError(400, messages(errors={"filterName": "The filter name must not exceed 255 characters."}))
        if any(f["name"].casefold() == name.casefold() for f in self.filters.values()):  # one owner: unique names
            raise HttpError(400, messages(errors={"filterName": "Filter with same name already exists."}))
        jql = body.get("jql") or ""
        if not isinstance(jql, str):
            raise HttpError(400, messages("The JQL query is not a string."))
        JqlFilter(jql, self)  # bad JQL is refused at save time, with the search's errors
        shares = body.get("sharePermissions") or []
        for share in shares:
            kind = (share or {}).get("type")
            if kind not in SHARE_TYPES:
                raise HttpError(400, messages(errors={"sharePermissions": f"Invalid share permission type '{kind}'."}))
            if kind == "project" and str((share.get("project") or {}).get("id", "")) != "10000":
                raise HttpError(400, messages(errors={"sharePermissions": "The project to share with does not exist."}))
        record = {"id": str(next(self.filter_ids)), "name": name, "jql": jql, "description": body.get("description") or "",
                  "favourite": bool(body.get("favourite", False)),
                  "shares": [{"type": "authenticated" if s["type"] == "loggedin" else s["type"]} for s in shares]}
        self.filters[record["id"]] = record
        return record

    def default_columns(self) -> list[dict]:
        """The columns JIRA gives a new board: one per status category, holding that category's statuses."""
        out = []
        for name, category in (("To Do", "new"), ("In Progress", "indeterminate"), ("Done", "done")):
            out.append({"name": name, "statuses": [sid for sid, st in STATUSES.items() if st[1] == category]})
        return out

    def board_location(self, board: dict) -> dict:
        return {"projectId": 10000, "displayName": f"Campaigns ({self.project_key})", "projectName": "Campaigns",
                "projectKey": self.project_key, "projectTypeKey": "software", "name": f"Campaigns ({self.project_key})",
                "avatarURI": "/secure/projectavatar?size=small&pid=10000"} if board["location"] == "project" else \
            {"userAccountId": ACCOUNT_ID, "displayName": "J. Doe", "name": "J. Doe"}

    def board_json(self, board: dict) -> dict:
        out = {"id": board["id"], "self": f"{self.url}{AGILE}/board/{board['id']}", "name": board["name"],
               "type": board["type"]}
        if self.cloud:
            out.update(location=self.board_location(board), isPrivate=board["private"])
        return out

    def board_configuration(self, board: dict) -> dict:
        out: dict[str, Any] = {"id": board["id"], "name": board["name"],
                               "self": f"{self.url}{AGILE}/board/{board['id']}/configuration",
                               "filter": {"id": board["filter"], "self": f"{self.url}{API}/filter/{board['filter']}"}}
        if self.cloud:
            out["type"] = board["type"]
            out["location"] = ({"type": "project", "key": self.project_key, "id": "10000",
                                "self": f"{self.url}{API}/project/10000", "name": "Campaigns"}
                               if board["location"] == "project" else {"type": "user", "name": "J. Doe"})
        if board["type"] == "kanban":
            out["subQuery"] = {"query": KANBAN_SUBQUERY}
        out["columnConfig"] = {"columns": [{"name": c["name"], "statuses": [
            {"id": sid, "self": f"{self.url}{API}/status/{sid}"} for sid in c["statuses"]]} for c in board["columns"]],
            "constraintType": "issueCount"}
        if board["type"] == "scrum":
            out["estimation"] = {"type": "field", "field": {"fieldId": "customfield_10016", "displayName": "Story Points"}}
        out["ranking"] = {"rankCustomFieldId": RANK_FIELD}
        return out

    def create_board(self, body: Any) -> dict:
        if not isinstance(body, dict):
            raise HttpError(400, messages("The board cannot be created: expected an object."))
        name, kind = body.get("name"), body.get("type")
        if not isinstance(name, str) or not name.strip() or len(name) >= 255:
            raise HttpError(400, messages("The board name must be given and shorter than 255 characters."))
        if kind not in ("scrum", "kanban"):
            raise HttpError(400, messages("The board type must be 'scrum' or 'kanban'."))
        filter_id = body.get("filterId")
        if isinstance(filter_id, bool) or not isinstance(filter_id, (int, str)) or str(filter_id) not in self.filters:
            raise HttpError(400, messages(f"The filter with id '{filter_id}' does not exist or you cannot see it."))
        location = "user"
        if self.cloud:  # Data Center ignores location (JSWSERVER-15631); Cloud requires it since 2018-09
            where = body.get("location")
            if not isinstance(where, dict) or where.get("type") not in ("project", "user"):
                raise HttpError(400, messages("The location of the board must be given: type 'project' (with "
                                              "projectKeyOrId) or 'user'."))
            if where["type"] == "project":
                if str(where.get("projectKeyOrId", "")) not in (self.project_key, "10000"):
                    raise HttpError(400, messages(f"No project could be found with key or id '{where.get('projectKeyOrId')}'."))
                location = "project"
        shared = bool(self.filters[str(filter_id)]["shares"])
        board = {"id": next(self.board_ids), "name": name, "type": kind, "filter": str(filter_id), "location": location,
                 "private": not (shared and self.can_share), "columns": self.default_columns()}
        self.boards[board["id"]] = board
        return board

    def find_board(self, board_id: str) -> dict:
        found = self.boards.get(int(board_id)) if str(board_id).isdigit() else None
        if found is None:
            raise HttpError(404, messages("Board does not exist or you do not have permission to see it."))
        return found

    # ---- helpers ------------------------------------------------------------------------------
    @property
    def cloud(self) -> bool:
        return self.flavour == "cloud"

    def issue(self, key_or_id: str) -> Issue:
        found = self.issues.get(key_or_id) or self.issues.get(self.keys.get(str(key_or_id), ""))
        if found is not None:
            return found
        raise HttpError(404, messages("Issue does not exist or you do not have permission to see it."))

    def fields_meta(self) -> list[dict]:
        out = [
            {"id": "summary", "name": "Summary", "custom": False, "schema": {"type": "string", "system": "summary"}},
            {"id": "description", "name": "Description", "custom": False, "schema": {"type": "string", "system": "description"}},
            {"id": "labels", "name": "Labels", "custom": False, "schema": {"type": "array", "items": "string", "system": "labels"}},
            {"id": "issuetype", "name": "Issue Type", "custom": False, "schema": {"type": "issuetype", "system": "issuetype"}},
            {"id": "project", "name": "Project", "custom": False, "schema": {"type": "project", "system": "project"}},
            {"id": "status", "name": "Status", "custom": False, "schema": {"type": "status", "system": "status"}},
            {"id": "attachment", "name": "Attachment", "custom": False, "schema": {"type": "array", "items": "attachment", "system": "attachment"}},
            {"id": "parent", "name": "Parent", "custom": False, "schema": {"type": "issuelink", "system": "parent"}},
            {"id": "resolution", "name": "Resolution", "custom": False, "schema": {"type": "resolution", "system": "resolution"}},
        ]
        if not self.cloud:  # localised names: clients must match on schema.custom
            out += [
                {"id": EPIC_LINK, "name": "Epic-Verknüpfung", "custom": True, "clauseNames": ["cf[10101]", "Epic Link"],
                 "schema": {"type": "any", "custom": "com.pyxis.greenhopper.jira:gh-epic-link", "customId": 10101}},
                {"id": EPIC_NAME, "name": "Epic-Name", "custom": True, "clauseNames": ["cf[10102]", "Epic Name"],
                 "schema": {"type": "string", "custom": "com.pyxis.greenhopper.jira:gh-epic-label", "customId": 10102}},
            ]
        for item in out:
            item.setdefault("clauseNames", [item["id"]])
        return out

    def createmeta_fields(self, type_id: str) -> list[dict]:
        info = self.types[type_id]
        fields = [("summary", True), ("description", False), ("labels", False), ("issuetype", True), ("project", True)]
        if self.cloud:
            if info["hierarchyLevel"] <= 0:
                fields.append(("parent", info["subtask"]))
        else:
            if info["subtask"]:
                fields.append(("parent", True))
            elif info["name"] == "Epic":
                fields.append((EPIC_NAME, True))
            else:
                fields.append((EPIC_LINK, False))
        meta = {f["id"]: f for f in self.fields_meta()}
        return [{"fieldId": fid, "key": fid, "name": meta[fid]["name"], "required": req, "schema": meta[fid]["schema"],
                 "operations": ["set"]} for fid, req in fields]

    def type_json(self, type_id: str) -> dict:
        info = self.types[type_id]
        out = {"id": type_id, "name": info["name"], "subtask": info["subtask"], "description": ""}
        if self.cloud:
            out["hierarchyLevel"] = info["hierarchyLevel"]
        return out

    def status_json(self, sid: str) -> dict:
        name, cat, cat_name = STATUSES[sid]
        return {"id": sid, "name": name, "self": f"{self.url}{API}/status/{sid}",
                "statusCategory": {"key": cat, "name": cat_name, "id": {"new": 2, "indeterminate": 4, "done": 3}[cat]}}

    def link_type_json(self, name: str) -> dict:
        kind = self.link_types[name]
        return {"id": kind[0], "name": name, "inward": kind[1], "outward": kind[2],
                "self": f"{self.url}{API}/issueLinkType/{kind[0]}"}

    def find_link_type(self, body: dict) -> str:
        """The name of the link type an issue link asks for, by ``name`` or ``id`` (404 when there is none)."""
        wanted = body.get("type") or {}
        for name, kind in self.link_types.items():
            if wanted.get("name") == name or wanted.get("id") and str(wanted["id"]) == kind[0]:
                return name
        asked = wanted.get("name") or wanted.get("id")
        raise HttpError(404, messages(f"No issue link type with name '{asked}' found."))

    def create_link_type(self, body: Any) -> dict:
        if not self.admin:  # Cloud documents 404 for a user without the permission; Data Center says forbidden
            if self.cloud:
                raise HttpError(404, messages("You do not have the permission to create issue link types."))
            raise HttpError(403, messages("You must have global administrator rights in order to modify issue link "
                                          "types."))
        body = body if isinstance(body, dict) else {}
        errors = {f: f"The {f} is required." for f in ("name", "inward", "outward")
                  if not isinstance(body.get(f), str) or not body[f].strip()}
        if errors:
            raise HttpError(400, messages(errors=errors))
        if any(name.casefold() == body["name"].casefold() for name in self.link_types):
            raise HttpError(404 if self.cloud else 400,
                            messages(f"The issue link type name '{body['name']}' is in use."))
        self.link_types[body["name"]] = (str(next(self.link_type_ids)), body["inward"], body["outward"])
        return self.link_type_json(body["name"])

    def update_field(self, issue: Issue, name: str, operations: Any, fields: dict) -> Any:
        """A field after the ``update`` operations of an issue edit (``labels`` only: add, remove, set)."""
        refuse = lambda text: HttpError(400, messages(errors={name: text}))  # noqa: E731
        if name in fields:
            raise refuse(f"Field '{name}' cannot be set and updated at once.")
        if name != "labels":
            raise refuse(f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown.")
        labels = list(issue.fields.get("labels") or [])
        for operation in operations or []:
            for verb, label in (operation or {}).items():
                if verb not in ("add", "remove", "set"):
                    raise refuse(f"Operation '{verb}' is not supported for labels.")
                given = label if verb == "set" else [label]
                if any(not isinstance(one, str) or not one or " " in one for one in given or []):
                    raise refuse("The label must not contain spaces.")
                if verb == "set":
                    labels = list(given)
                elif verb == "add" and label not in labels:
                    labels.append(label)
                elif verb == "remove" and label in labels:
                    labels.remove(label)
        return labels

    def add_link(self, body: Any) -> None:
        """``POST /issueLink``: a link asked for again (same type and issues each side) is not made twice."""
        body = body if isinstance(body, dict) else {}
        name = self.find_link_type(body)
        keys = [self.issue(str((body.get(side) or {}).get("key") or (body.get(side) or {}).get("id") or "")).key
                for side in ("inwardIssue", "outwardIssue")]
        if any(link["type"] == name and [link["inward"], link["outward"]] == keys for link in self.links):
            return
        self.links.append({"id": str(40001 + len(self.links)), "type": name, "inward": keys[0], "outward": keys[1]})

    def link_json(self, link: dict, key: str) -> dict:
        """A link as JIRA shows it on one of its two issues: the other issue under its direction (the
        ``inwardIssue`` of the request that made it reads "<outward> <outwardIssue>" on its page)."""
        kind = self.link_types[link["type"]]
        out = {"id": link["id"], "type": {"id": kind[0], "name": link["type"], "inward": kind[1], "outward": kind[2],
                                          "self": f"{self.url}{API}/issueLinkType/{kind[0]}"}}
        if link["inward"] == key:
            out["outwardIssue"] = {"key": link["outward"]}
        else:
            out["inwardIssue"] = {"key": link["inward"]}
        return out

    def issue_json(self, issue: Issue, fields: list[str] | None, props: list[str]) -> dict:
        out: dict[str, Any] = {"id": str(issue.id), "key": issue.key, "self": f"{self.url}{API}/issue/{issue.id}"}
        wanted = fields if fields is not None else (["*all"] if not self.cloud else ["id"])
        everything = "*all" in wanted or "*navigable" in wanted
        values = dict(issue.fields)
        values["issuetype"] = self.type_json(issue.type_id)
        values["project"] = {"id": "10000", "key": self.project_key, "name": "Campaigns"}
        values["status"] = self.status_json(issue.status)
        values["attachment"] = [{k: v for k, v in a.items() if k != "data"} for a in issue.attachments]
        shown = issue.comments[:20]  # as search shows them: the first page, with the total
        values["comment"] = {"comments": shown, "maxResults": len(shown), "total": len(issue.comments), "startAt": 0}
        values["issuelinks"] = [self.link_json(link, issue.key) for link in self.links
                                if issue.key in (link["inward"], link["outward"])]
        if "parent" in values:
            parent = self.issue(values["parent"])
            values["parent"] = {"id": str(parent.id), "key": parent.key}
        if wanted != ["id"]:
            out["fields"] = {k: v for k, v in values.items() if everything or k in wanted}
        if props:
            out["properties"] = {k: issue.properties[k] for k in props if k in issue.properties}
        return out

    # ---- creation ---------------------------------------------------------------------------------
    def validate_new(self, body: dict) -> tuple[str, dict, list]:
        fields = dict(body.get("fields") or {})
        errors: dict[str, str] = {}
        project = fields.pop("project", None) or {}
        if project.get("id") not in ("10000", 10000) and project.get("key") != self.project_key:
            errors["project"] = "Specify a valid project ID or key"
        itype = fields.pop("issuetype", None) or {}
        type_id = str(itype.get("id", ""))
        if type_id not in self.types:
            errors["issuetype"] = "Specify an issue type"
            raise HttpError(400, messages(errors=errors))
        allowed = {f["fieldId"]: f for f in self.createmeta_fields(type_id)}
        for name in fields:
            if name not in allowed:
                errors[name] = f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
        for name, meta in allowed.items():
            if meta["required"] and name not in ("project", "issuetype") and not fields.get(name):
                errors[name] = f"{meta['name']} is required."
        summary = fields.get("summary") or ""
        if len(summary) > 255:
            errors["summary"] = "Summary must be less than 255 characters."
        for label in fields.get("labels") or []:
            if not isinstance(label, str) or " " in label or not label:
                errors["labels"] = "The label must not contain spaces."
        info = self.types[type_id]
        if "parent" in fields and not errors.get("parent"):
            ref = fields["parent"] or {}
            try:
                parent = self.issue(str(ref.get("key") or ref.get("id") or ""))
            except HttpError:
                errors["parent"] = "Could not find valid 'id' or 'key' in the parent object."
            else:
                level = self.types[parent.type_id]["hierarchyLevel"]
                if level != info["hierarchyLevel"] + 1:
                    errors["parent"] = "Given parent work item does not belong to appropriate hierarchy."
                fields["parent"] = parent.key
        if EPIC_LINK in fields and fields[EPIC_LINK] is not None:
            try:
                epic = self.issue(str(fields[EPIC_LINK]))
                if self.types[epic.type_id]["name"] != "Epic":
                    raise HttpError(400, {})
            except HttpError:
                errors[EPIC_LINK] = f"The issue key '{fields[EPIC_LINK]}' for field 'Epic Link' is invalid."
        if errors:
            raise HttpError(400, messages(errors=errors))
        props = body.get("properties") or []
        for prop in props:
            self.check_property(prop.get("value"))
        return type_id, fields, props

    def check_property(self, value: Any) -> None:
        if value is None or value == {} or len(json.dumps(value).encode()) > 32768:
            raise HttpError(400, messages("The property value is empty or longer than 32768 bytes."))

    def create(self, body: dict) -> Issue:
        type_id, fields, props = self.validate_new(body)
        fields.setdefault("labels", [])
        fields.setdefault("description", None)
        fields["created"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}+0000"
        number = next(self.numbers)
        issue = Issue(next(self.ids), f"{self.project_key}-{number}", type_id, fields,
                      properties={p["key"]: p["value"] for p in props}, hidden_for=self.lag if self.cloud else 0,
                      hidden_until=time.time() + self.lag_seconds if self.cloud else 0.0)
        self.issues[issue.key] = issue
        self.keys[str(issue.id)] = issue.key
        return issue


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in separate writes: avoid 40 ms delayed-ACK stalls
    server_state: FakeJira

    def log_message(self, *args):  # silence
        pass

    def counted(self, method: str) -> None:
        """`dispatch`, counted in flight from the request's arrival to its answer."""
        fake = self.server_state
        with fake.lock:
            fake.in_flight += 1
            fake.peak_in_flight = max(fake.peak_in_flight, fake.in_flight)
        try:
            self.dispatch(method)
        finally:
            with fake.lock:
                fake.in_flight -= 1

    def do_GET(self):
        self.counted("GET")

    def do_POST(self):
        self.counted("POST")

    def do_PUT(self):
        self.counted("PUT")

    def do_DELETE(self):
        self.counted("DELETE")

    def send(self, status: int, body: Any = None, headers: dict | None = None, raw: bytes | None = None,
             ctype: str = "application/json;charset=UTF-8") -> None:
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        self.send_response(status)
        if data or status not in (204,):
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if data:
            self.wfile.write(data)
        self.response_record = (status, body if raw is None else "<bytes>")

    def dispatch(self, method: str) -> None:
        fake = self.server_state
        parts = urlsplit(self.path)
        path, query = unquote(parts.path), parse_qs(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        record = {"method": method, "path": path, "query": query, "body": raw, "headers": dict(self.headers)}
        with fake.lock:
            fake.log.append(record)
            record["n"] = len(fake.log)
        if fake.latency:
            time.sleep(fake.latency)
        fault = None
        with fake.lock:
            for f in fake.faults:
                if f.times > 0 and f.method == method and re.search(f.path, path):
                    if f.skip > 0:
                        f.skip -= 1
                        continue
                    f.times -= 1
                    fault = f
                    break
        if fault and fault.kind in ("429", "503", "500"):
            headers = {"Retry-After": fault.retry_after} if fault.retry_after and fault.kind != "500" else {}
            self.send(int(fault.kind), messages("Rate limit exceeded." if fault.kind == "429" else "Service unavailable."), headers)
            record["status"] = int(fault.kind)
            return
        try:
            if not self.authorised() and path != f"{API}/serverInfo":  # serverInfo is public, as on real JIRA
                auth = self.headers.get("Authorization", "")
                if fake.cloud and auth.startswith("Bearer "):  # Cloud's gateway takes a Bearer as a Connect token
                    raise HttpError(403, {"error": "Failed to parse Connect Session Auth Token"})
                if not fake.cloud and auth.startswith("Basic "):  # DC: basic auth failed (or is disabled, as on DC 11)
                    raise HttpError(401, None, {"X-Seraph-LoginReason": "AUTHENTICATED_FAILED",
                                                "WWW-Authenticate": 'Basic realm="protected-area"'})
                raise HttpError(401, messages("You are not authenticated. Authentication required to perform this operation."))
            with fake.lock:
                status, body, headers, rawbody, ctype = self.route(method, path, query, raw)
        except HttpError as exc:
            status, body, headers, rawbody, ctype = exc.status, exc.body, exc.headers, None, "application/json;charset=UTF-8"
        record["status"], record["response"] = status, body
        if fake.kill and fake.kill[0] == record["n"]:
            os.kill(fake.kill[1], signal.SIGKILL)
            fake.kill = None
            self.close_connection = True
            return
        if fault and fault.kind == "lost":
            self.close_connection = True
            return
        self.send(status, body, headers, rawbody, ctype)

    def authorised(self) -> bool:
        fake = self.server_state
        auth = self.headers.get("Authorization", "")
        if fake.cloud:
            expected = "Basic " + base64.b64encode(f"{fake.user}:{fake.token}".encode()).decode()
        else:
            expected = f"Bearer {fake.token}"
        return auth == expected

    def json_body(self, raw: bytes) -> Any:
        try:
            return json.loads(raw or b"null")
        except ValueError:
            raise HttpError(400, messages("Unexpected character: the request body is not valid JSON.")) from None

    # ---- routing --------------------------------------------------------------------------------
    def route(self, method: str, path: str, query: dict, raw: bytes):
        fake = self.server_state
        q = {k: v[-1] for k, v in query.items()}
        ok = lambda body, status=200: (status, body, {}, None, "application/json;charset=UTF-8")  # noqa: E731
        m = lambda pattern: re.fullmatch(pattern, path)  # noqa: E731

        if path == f"{API}/serverInfo":
            if fake.cloud:
                return ok({"baseUrl": fake.url, "version": "1001.0.0-SNAPSHOT", "versionNumbers": [1001, 0, 0],
                           "deploymentType": "Cloud", "buildNumber": 100280, "serverTitle": "Jira"})
            return ok({"baseUrl": fake.url, "version": "9.12.4", "versionNumbers": [9, 12, 4],
                       "deploymentType": "Server", "buildNumber": 9120004, "serverTitle": "Rubin Jira"})
        if path.startswith(f"{API}/filter"):
            return self.filter_route(method, path, q, raw)
        if path.startswith(f"{AGILE}/board"):
            return self.board_route(method, path, q, raw)
        if path == f"{API}/myself":
            return ok({"accountId" if fake.cloud else "name": fake.user, "displayName": "J. Doe", "active": True,
                       "emailAddress": fake.user})
        if path == f"{API}/field":
            return ok(fake.fields_meta())
        if path == f"{API}/mypermissions":
            wanted = [p for p in q.get("permissions", "").split(",") if p]
            if not wanted:
                raise HttpError(400, messages("The 'permissions' query parameter is required."))
            return ok({"permissions": {p: {"key": p, "havePermission": p in fake.permissions} for p in wanted}})
        if m(rf"{API}/project/([^/]+)") and method == "GET":
            if m(rf"{API}/project/([^/]+)").group(1) not in (fake.project_key, "10000"):
                raise HttpError(404, messages("No project could be found with key 'X'."))
            body = {"id": "10000", "key": fake.project_key, "name": "Campaigns",
                    "issueTypes": [fake.type_json(t) for t in fake.types]}
            if fake.cloud:
                body.update(style="classic", simplified=False)
            return ok(body)
        if m(rf"{API}/project/([^/]+)/statuses"):
            statuses = [fake.status_json(s) for s in STATUSES]
            return ok([{"id": t, "name": fake.types[t]["name"], "subtask": fake.types[t]["subtask"], "statuses": statuses,
                        "self": f"{fake.url}{API}/issuetype/{t}"} for t in fake.types])
        if m(rf"{API}/issue/createmeta/([^/]+)/issuetypes"):
            values = [fake.type_json(t) for t in fake.types]
            if fake.cloud:
                return ok({"issueTypes": values, "maxResults": 50, "startAt": 0, "total": len(values)})
            return ok({"values": values, "startAt": 0, "maxResults": 50, "total": len(values), "isLast": True})
        if mm := m(rf"{API}/issue/createmeta/([^/]+)/issuetypes/(\d+)"):
            if mm.group(2) not in fake.types:
                raise HttpError(404, messages("Issue type not found."))
            values = fake.createmeta_fields(mm.group(2))
            if fake.cloud:
                return ok({"fields": values, "maxResults": 50, "startAt": 0, "total": len(values)})
            return ok({"values": values, "startAt": 0, "maxResults": 50, "total": len(values), "isLast": True})
        if path == f"{API}/issue/createmeta":
            if not fake.cloud:
                raise HttpError(404, messages("Issue Does Not Exist"))
            return ok({"projects": []})
        if path == f"{API}/issue" and method == "POST":
            issue = fake.create(self.json_body(raw))
            return ok({"id": str(issue.id), "key": issue.key, "self": f"{fake.url}{API}/issue/{issue.id}"}, 201)
        if path == f"{API}/issueLink" and method == "POST":
            fake.add_link(self.json_body(raw))
            return ok(None, 201)
        if path == f"{API}/issueLinkType" and method == "GET":
            return ok({"issueLinkTypes": [fake.link_type_json(name) for name in fake.link_types]})
        if path == f"{API}/issueLinkType" and method == "POST":
            return ok(fake.create_link_type(self.json_body(raw)), 201)
        if path == f"{API3}/issue/bulkfetch":
            if not fake.cloud:
                raise HttpError(404, messages(f"null for uri: {fake.url}{path}"))  # Data Center has no REST v3
            if method != "POST":
                return 405, None, {"Allow": "POST,OPTIONS"}, None, ""
            return ok(self.bulk_fetch(self.json_body(raw)))
        if path == f"{API}/issue/bulk" and method == "POST":
            return self.bulk(self.json_body(raw))
        if path in (f"{API}/search", f"{API}/search/jql"):
            return self.search(method, path, q, query, raw)
        if mm := m(rf"{API}/issue/([^/]+)"):
            issue = fake.issue(mm.group(1))
            if method == "GET":
                fields = q["fields"].split(",") if "fields" in q else ["*all"]
                return ok(fake.issue_json(issue, fields, [p for p in q.get("properties", "").split(",") if p]))
            if method == "PUT":
                body = self.json_body(raw) or {}
                for name, value in (body.get("fields") or {}).items():
                    if name not in ("summary", "description", "labels"):
                        raise HttpError(400, messages(errors={name: f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."}))
                    if name == "labels" and any(" " in lbl for lbl in value):
                        raise HttpError(400, messages(errors={"labels": "The label must not contain spaces."}))
                    issue.fields[name] = value
                for name, operations in (body.get("update") or {}).items():
                    issue.fields[name] = fake.update_field(issue, name, operations, body.get("fields") or {})
                return 204, None, {}, None, ""
        if mm := m(rf"{API}/issue/([^/]+)/attachments"):
            return self.attach(fake.issue(mm.group(1)), raw)
        if mm := m(rf"{API}/attachment/(\d+)"):
            att, issue = self.find_attachment(mm.group(1))
            if method == "DELETE":
                issue.attachments.remove(att)
                return 204, None, {}, None, ""
            return ok({k: v for k, v in att.items() if k != "data"})
        if mm := (m(rf"{API}/attachment/content/(\d+)") if fake.cloud else m(r"/secure/attachment/(\d+)/.+")):
            att, _ = self.find_attachment(mm.group(1))
            return 200, None, {}, att["data"], att["mimeType"]
        if mm := m(rf"{API}/issue/([^/]+)/comment"):
            issue = fake.issue(mm.group(1))
            if method == "GET":
                start, size = int(q.get("startAt", 0)), min(int(q.get("maxResults", 50)), 100)
                return ok({"startAt": start, "maxResults": size, "total": len(issue.comments),
                           "comments": issue.comments[start:start + size]})
            body = self.json_body(raw) or {}
            if not isinstance(body.get("body"), str) or not body["body"]:
                raise HttpError(400, messages("Comment body is not valid!"))
            now = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime())
            comment = {"id": str(next(fake.comment_ids)), "body": body["body"], "created": now, "updated": now,
                       "author": {"displayName": "J. Doe"}}
            issue.comments.append(comment)
            return ok(comment, 201)
        if mm := m(rf"{API}/issue/([^/]+)/comment/(\d+)"):
            issue = fake.issue(mm.group(1))
            comment = next((c for c in issue.comments if c["id"] == mm.group(2)), None)
            if comment is None:
                raise HttpError(404, messages("Can not find a comment for the id."))
            if method == "PUT":
                body = self.json_body(raw) or {}
                if not isinstance(body.get("body"), str) or not body["body"]:
                    raise HttpError(400, messages("Comment body is not valid!"))
                comment["body"] = body["body"]
            if method == "DELETE":
                issue.comments.remove(comment)
                return 204, None, {}, None, ""
            return ok(comment)
        if mm := m(rf"{API}/issue/([^/]+)/properties/([^/]+)"):
            issue = fake.issue(mm.group(1))
            name = mm.group(2)
            if method == "PUT":
                value = self.json_body(raw)
                fake.check_property(value)
                existed = name in issue.properties
                issue.properties[name] = value
                return ok({}, 200 if existed else 201)
            if name not in issue.properties:
                raise HttpError(404, messages(f"The property with key '{name}' does not exist."))
            return ok({"key": name, "value": issue.properties[name]})
        if mm := m(rf"{API}/issue/([^/]+)/transitions"):
            return self.transitions(method, fake.issue(mm.group(1)), q, raw)
        raise HttpError(404, messages(f"No route for {method} {path} in the fake"))

    def filter_route(self, method: str, path: str, q: dict, raw: bytes):
        fake = self.server_state
        ok = lambda body, status=200: (status, body, {}, None, "application/json;charset=UTF-8")  # noqa: E731
        if path == f"{API}/filter" and method == "POST":
            return ok(fake.filter_json(fake.create_filter(self.json_body(raw))))
        if path == f"{API}/filter/favourite" and method == "GET":
            return ok([fake.filter_json(f) for f in fake.filters.values() if f["favourite"]])
        if path == f"{API}/filter/search" and method == "GET" and fake.cloud:
            return ok(self.filter_search(q))
        if (mm := re.fullmatch(rf"{API}/filter/(\d+)", path)) and method in ("GET", "DELETE"):
            found = fake.find_filter(mm.group(1))
            if method == "DELETE":
                del fake.filters[found["id"]]
                return 204, None, {}, None, ""
            return ok(fake.filter_json(found))
        # Data Center has no filter search (JRASERVER-74986), and neither flavour lists every filter any more
        raise HttpError(404, messages(f"null for uri: {fake.url}{path}"))

    def filter_search(self, q: dict) -> dict:
        fake = self.server_state
        expand = {e for e in q.get("expand", "").split(",") if e}
        if expand - FILTER_EXPANDS:
            raise HttpError(400, messages(f"Invalid expand value: {', '.join(sorted(expand - FILTER_EXPANDS))}."))
        order = q.get("orderBy", "name")
        if order.lstrip("+-") not in FILTER_ORDERS:
            raise HttpError(400, messages(f"Invalid orderBy value: '{order}'."))
        if "accountId" in q and "owner" in q:
            raise HttpError(400, messages("The owner and accountId parameters cannot be used together."))
        wanted = q.get("filterName", "").casefold()
        found = [f for f in fake.filters.values() if wanted in f["name"].casefold()]
        if q.get("accountId") and q["accountId"] != ACCOUNT_ID:
            found = []
        key = order.lstrip("+-")
        found.sort(key=lambda f: int(f["id"]) if key == "id" else str(f.get(key, f["name"])).casefold(),
                   reverse=order.startswith("-"))
        start, size = int(q.get("startAt", 0)), min(int(q.get("maxResults", 50)), 100)
        page = found[start:start + size]
        body = {"self": f"{fake.url}{API}/filter/search?startAt={start}&maxResults={size}", "maxResults": size,
                "startAt": start, "total": len(found), "isLast": start + size >= len(found),
                "values": [fake.filter_json(f, expand) for f in page]}
        if not body["isLast"]:
            body["nextPage"] = f"{fake.url}{API}/filter/search?startAt={start + size}&maxResults={size}"
        return body

    def board_route(self, method: str, path: str, q: dict, raw: bytes):
        fake = self.server_state
        if not fake.software:
            raise HttpError(404, messages(f"null for uri: {fake.url}{path}"))
        ok = lambda body, status=200: (status, body, {}, None, "application/json;charset=UTF-8")  # noqa: E731
        if path == f"{AGILE}/board" and method == "POST":
            return ok(fake.board_json(fake.create_board(self.json_body(raw))), 201)
        if path == f"{AGILE}/board" and method == "GET":
            boards = list(fake.boards.values())
            if q.get("name"):
                boards = [b for b in boards if q["name"].casefold() in b["name"].casefold()]
            if q.get("type"):
                boards = [b for b in boards if b["type"] == q["type"]]
            if fake.cloud and q.get("filterId"):  # not a parameter on Data Center: ignored there
                boards = [b for b in boards if b["filter"] == q["filterId"]]
            if fake.cloud and q.get("projectKeyOrId"):
                boards = [b for b in boards if b["location"] == "project"
                          and q["projectKeyOrId"] in (fake.project_key, "10000")]
            return ok(self.page(q, boards, fake.board_json))
        if (mm := re.fullmatch(rf"{AGILE}/board/filter/(\d+)", path)) and method == "GET":
            if not fake.cloud:
                raise HttpError(404, messages(f"null for uri: {fake.url}{path}"))
            fake.find_filter(mm.group(1))
            boards = [b for b in fake.boards.values() if b["filter"] == mm.group(1)]
            return ok(self.page(q, boards, lambda b: {"id": b["id"], "name": b["name"],
                                                      "self": f"{fake.url}{AGILE}/board/{b['id']}"}))
        if (mm := re.fullmatch(rf"{AGILE}/board/(\d+)", path)) and method in ("GET", "DELETE"):
            board = fake.find_board(mm.group(1))
            if method == "DELETE":
                del fake.boards[board["id"]]
                return 204, None, {}, None, ""
            return ok(fake.board_json(board))
        if (mm := re.fullmatch(rf"{AGILE}/board/(\d+)/configuration", path)) and method == "GET":
            return ok(fake.board_configuration(fake.find_board(mm.group(1))))
        raise HttpError(404, messages(f"null for uri: {fake.url}{path}"))

    @staticmethod
    def page(q: dict, items: list, show) -> dict:
        start, size = int(q.get("startAt", 0)), min(int(q.get("maxResults", 50)), 50)
        chunk = items[start:start + size]
        return {"maxResults": size, "startAt": start, "total": len(items), "isLast": start + size >= len(items),
                "values": [show(i) for i in chunk]}

    def bulk(self, body: dict):
        fake = self.server_state
        updates = (body or {}).get("issueUpdates") or []
        if len(updates) > 50:
            raise HttpError(400, messages("The number of issues to create in bulk is limited to 50."))
        issues, errors = [], []
        for n, update in enumerate(updates):
            try:
                issue = fake.create(update)
                issues.append({"id": str(issue.id), "key": issue.key, "self": f"{fake.url}{API}/issue/{issue.id}"})
            except HttpError as exc:
                errors.append({"status": exc.status, "elementErrors": exc.body, "failedElementNumber": n})
        status = 400 if updates and not issues else 201
        return status, {"issues": issues, "errors": errors}, {}, None, "application/json;charset=UTF-8"

    def bulk_fetch(self, body: Any) -> dict:
        """Cloud's bulk fetch: up to 100 issues by id or key (a key matched in any case), read from the
        issues themselves (never behind a write, unlike search), in ascending id order; what is not found
        is left out silently; an issue named in ``fetch_errors`` is reported once in ``issueErrors``."""
        fake = self.server_state
        if not isinstance(body, dict):
            raise HttpError(400, messages("Invalid request payload. Refer to the REST API documentation and try again."))
        unknown = sorted(set(body) - {"expand", "fields", "fieldsByKeys", "issueIdsOrKeys", "properties"})
        if unknown:
            raise HttpError(400, messages(f'Unrecognized field "{unknown[0]}" (class BulkFetchIssueRequestBean), '
                                          "not marked as ignorable"))
        wanted = body.get("issueIdsOrKeys")
        if not isinstance(wanted, list) or not wanted:
            raise HttpError(400, messages("issueIdsOrKeys must not be empty."))
        if len(wanted) > 100:
            raise HttpError(400, messages("The maximum number of issues that can be fetched is 100."))
        props = body.get("properties") or []
        if len(props) > 5:
            raise HttpError(400, messages("A maximum of 5 issue property keys can be specified."))
        fields = body.get("fields") or ["*navigable"]
        rich = sorted({"description", "comment", "environment", "*all", "*navigable"} & set(fields))
        if rich:  # v3 returns these in Atlassian Document Format, which this fake does not write
            raise HttpError(400, messages(f"fake JIRA: the bulk fetch does not serve {rich[0]} (REST v3 rich text)"))
        found: dict[int, Issue] = {}
        for name in wanted:
            text = str(name)
            issue = fake.issues.get(fake.keys.get(text, "")) if text.isdigit() else fake.issues.get(text.upper())
            if issue is not None:
                found[issue.id] = issue
        errors = []
        for issue_id in sorted(found):
            if found[issue_id].key in fake.fetch_errors:
                fake.fetch_errors.discard(found.pop(issue_id).key)
                errors.append({"id": str(issue_id), "errorMessage": "Retry the request: the issue could not be read."})
        issues = [fake.issue_json(found[i], fields, props) for i in sorted(found)]
        return {"issues": issues, "issueErrors": errors}

    def search(self, method: str, path: str, q: dict, query: dict, raw: bytes):
        fake = self.server_state
        if fake.cloud and path.endswith("/search"):
            raise HttpError(410, messages("The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
                                          "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"))
        if not fake.cloud and path.endswith("/search/jql"):
            raise HttpError(404, messages("null for uri: /rest/api/2/search/jql"))
        params = dict(q)
        if method == "POST":
            params = {k: v for k, v in (self.json_body(raw) or {}).items()}
        jql = params.get("jql", "")
        as_list = lambda v: v if isinstance(v, list) else [x for x in str(v).split(",") if x]  # noqa: E731
        fields = as_list(params["fields"]) if "fields" in params else None
        props = as_list(params.get("properties", []))
        given = params.get("reconcileIssues") if method == "POST" else query.get("reconcileIssues")
        reconcile = {str(x) for v in (given or []) for x in str(v).split(",") if x}
        if fake.cloud and len(reconcile) > 50:
            raise HttpError(400, messages("reconcileIssues accepts at most 50 issue ids."))
        if len(props) > 5:
            raise HttpError(400, messages("At most 5 issue properties can be requested."))
        matches = sorted(JqlFilter(jql, fake).select(fake.issues.values()), key=lambda i: i.id)
        if fake.cloud:
            visible = []
            for issue in matches:
                if issue.hidden_for > 0 and str(issue.id) not in reconcile:
                    issue.hidden_for -= 1
                    continue
                if issue.hidden_until > time.time() and str(issue.id) not in reconcile:
                    continue
                visible.append(issue)
            only_keys = fields is not None and set(fields) <= {"id", "key"}
            size = min(int(params.get("maxResults", 50)), 5000 if only_keys else 100)
            start = int(params.get("nextPageToken") or 0)
            page = visible[start:start + size]
            body = {"issues": [fake.issue_json(i, fields, props) for i in page], "isLast": start + size >= len(visible)}
            if not body["isLast"]:
                body["nextPageToken"] = str(start + size)
            return 200, body, {}, None, "application/json;charset=UTF-8"
        start, size = int(params.get("startAt", 0)), min(int(params.get("maxResults", 50)), 1000)
        page = matches[start:start + size]
        body = {"startAt": start, "maxResults": size, "total": len(matches),
                "issues": [fake.issue_json(i, fields or ["*navigable"], props) for i in page]}
        return 200, body, {}, None, "application/json;charset=UTF-8"

    def attach(self, issue: Issue, raw: bytes):
        fake = self.server_state
        if self.headers.get("X-Atlassian-Token", "").lower() != "no-check":
            raise HttpError(403, messages("XSRF check failed"))
        ctype = self.headers.get("Content-Type", "")
        if not ctype.startswith("multipart/form-data"):
            raise HttpError(415, messages("Unsupported Media Type"))
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw)
        created = []
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") != "file":
                continue
            data = part.get_payload(decode=True) or b""
            filename = part.get_filename() or "file"
            att_id = str(next(fake.attachment_ids))
            content = (f"{fake.url}{API}/attachment/content/{att_id}" if fake.cloud
                       else f"{fake.url}/secure/attachment/{att_id}/{filename}")
            att = {"id": att_id, "self": f"{fake.url}{API}/attachment/{att_id}", "filename": filename, "size": len(data),
                   "mimeType": part.get_content_type(), "content": content,
                   "created": time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime()), "data": data}
            issue.attachments.append(att)
            created.append({k: v for k, v in att.items() if k != "data"})
        if not created:
            raise HttpError(400, messages("No file was attached: the multipart field must be named 'file'."))
        return 200, created, {}, None, "application/json;charset=UTF-8"

    def find_attachment(self, att_id: str):
        for issue in self.server_state.issues.values():
            for att in issue.attachments:
                if att["id"] == att_id:
                    return att, issue
        raise HttpError(404, messages(f"The attachment with id '{att_id}' does not exist"))

    def transitions(self, method: str, issue: Issue, q: dict, raw: bytes):
        fake = self.server_state
        available = {tid: t for tid, t in TRANSITIONS.items() if issue.status in t[1]}
        needs_resolution = lambda t: not fake.cloud and STATUSES[t[2]][1] == "done"  # noqa: E731
        if method == "GET":
            out = []
            for tid, t in available.items():
                item = {"id": tid, "name": t[0], "to": fake.status_json(t[2]), "hasScreen": needs_resolution(t)}
                if "transitions.fields" in q.get("expand", ""):
                    item["fields"] = ({"resolution": {"required": True, "name": "Resolution", "operations": ["set"],
                                                      "allowedValues": [{"id": "10000", "name": "Done"}, {"id": "10001", "name": "Won't Do"}]}}
                                      if needs_resolution(t) else {})
                out.append(item)
            return 200, {"transitions": out}, {}, None, "application/json;charset=UTF-8"
        body = self.json_body(raw) or {}
        tid = str((body.get("transition") or {}).get("id", ""))
        if tid not in available:
            raise HttpError(400, messages(f"Transition id '{tid}' is not valid for this issue."))
        if needs_resolution(available[tid]) and not (body.get("fields") or {}).get("resolution"):
            raise HttpError(400, messages(errors={"resolution": "Resolution is required."}))
        issue.status = available[tid][2]
        if (body.get("fields") or {}).get("resolution"):
            issue.fields["resolution"] = body["fields"]["resolution"]
        return 204, None, {}, None, ""


class JqlFilter:
    """The small part of JQL jiracampaign uses: clauses joined by AND, then ORDER BY."""

    TOKEN = re.compile(r'\s*("(?:[^"\\]|\\.)*"|\(|\)|,|!=|=|[^\s(),=!]+)')
    #: JQL functions the fake knows, as the values they stand for
    FUNCTIONS = {
        "subtaskissuetypes": lambda fake: [t["name"] for t in fake.types.values() if t["subtask"]],
        "standardissuetypes": lambda fake: [t["name"] for t in fake.types.values() if not t["subtask"]],
    }

    def __init__(self, jql: str, fake: FakeJira):
        self.fake = fake
        text = re.split(r"\border\s+by\b", jql, flags=re.I)[0].strip()
        if not text:
            if fake.cloud:
                raise HttpError(400, messages("Unbounded JQL queries are not allowed here. Please add a search restriction to your query."))
            self.clauses = []
            return
        tokens = [t for t in self.TOKEN.findall(text)]
        self.clauses, i = [], 0
        while i < len(tokens):
            name, op = self.unquote(tokens[i]), tokens[i + 1].lower()
            if op in ("=", "!="):
                values, i = [self.unquote(tokens[i + 2])], i + 3
            elif op in ("in", "not"):
                if op == "not":
                    i += 1
                    op = "not in"
                if tokens[i + 2].casefold() in self.FUNCTIONS and tokens[i + 3:i + 5] == ["(", ")"]:
                    self.clauses.append((self.field(name), op, self.FUNCTIONS[tokens[i + 2].casefold()](fake)))
                    i += 5
                    if i < len(tokens):
                        if tokens[i].lower() != "and":
                            raise HttpError(400, messages(f"Error in the JQL Query: expecting AND, got '{tokens[i]}'."))
                        i += 1
                    continue
                if tokens[i + 2] != "(":
                    raise HttpError(400, messages(f"Error in the JQL Query: expecting '(' after '{op}'."))
                j, values = i + 3, []
                while tokens[j] != ")":
                    if tokens[j] != ",":
                        values.append(self.unquote(tokens[j]))
                    j += 1
                i = j + 1
            else:
                raise HttpError(400, messages(f"Error in the JQL Query: unexpected '{tokens[i + 1]}'."))
            self.clauses.append((self.field(name), op, values))
            if i < len(tokens):
                if tokens[i].lower() != "and":
                    raise HttpError(400, messages(f"Error in the JQL Query: expecting AND, got '{tokens[i]}'."))
                i += 1

    @staticmethod
    def unquote(token: str) -> str:
        return token[1:-1].replace('\\"', '"') if token.startswith('"') else token

    def field(self, name: str) -> str:
        lowered = name.lower()
        known = {"project", "labels", "issuetype", "parent", "statuscategory", "status", "key"}
        if lowered in known:
            return lowered
        if not self.fake.cloud and lowered in ("epic link", "cf[10101]", EPIC_LINK):
            return "epiclink"
        raise HttpError(400, messages(f"Field '{name}' does not exist or you do not have permission to view it."))

    def value_of(self, issue: Issue, name: str) -> list[str]:
        fake = self.fake
        if name == "project":
            return [fake.project_key, "10000"]
        if name == "labels":
            return issue.fields.get("labels", [])
        if name == "issuetype":
            return [fake.types[issue.type_id]["name"], issue.type_id]
        if name == "parent":
            return [issue.fields["parent"]] if issue.fields.get("parent") else []
        if name == "epiclink":
            return [issue.fields[EPIC_LINK]] if issue.fields.get(EPIC_LINK) else []
        if name == "statuscategory":
            name_, cat, cat_name = STATUSES[issue.status]
            return [cat_name, cat]
        if name == "status":
            return [STATUSES[issue.status][0]]
        return [issue.key]

    def select(self, issues):
        for issue in issues:
            ok = True
            for name, op, values in self.clauses:
                have = {v.casefold() for v in self.value_of(issue, name)}
                want = {v.casefold() for v in values}
                hit = bool(have & want)
                ok = ok and (hit if op in ("=", "in") else not hit)
            if ok:
                yield issue
