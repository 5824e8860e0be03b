"""A saved JQL filter and a Kanban board over jiracampaign's submission tickets, made once (Cloud and Data Center).

A board is a view over a saved filter: the filter is found or created first, then the board on it.
Nothing is ever made twice, also when an answer is lost on the way:

- **one campaign**: the epic keeps the filter and board ids in its issue property ``jiracampaign.board``
  (read by key, so every operator finds them). A filter is created as a favourite of its creator, and
  shared with the project.
- **all campaigns** (and a campaign whose property is missing): the filter is looked for by its exact
  name among the user's favourite filters (both flavours), then on Cloud with ``/filter/search``
  (Data Center has no filter search), then as the filter of a board of that name.
- the board is looked for by its id (the property), else by its exact name, and is ours only when its
  configuration's ``filter.id`` is our filter (Data Center's board list ignores ``filterId``).

A create whose answer was lost is checked by the same look-ups before it is repeated. The board's
columns cannot be set through JIRA's REST API (the Agile API reads a board's configuration, it offers
no call to change it): JIRA gives a new board its own columns, and `Boards.ensure` reports which run
states show in which column and which show in none.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from jira.exceptions import JIRAError

from ...errors import TrackerError
from ..base import Board, BoardColumn, Item, ItemRef
from .labels import EPIC_LABEL, LABEL, RETIRED_LABEL, campaign_label
from .workflow import CATEGORIES

if TYPE_CHECKING:  # pragma: no cover
    from .tracker import JiraTracker

__all__ = ["BOARD_PROPERTY", "BoardRef", "Boards", "board_name", "board_jql", "board_url", "filter_url"]

log = logging.getLogger(__name__)

BOARD_PROPERTY = "jiracampaign.board"  # issue property on a campaign's epic: its filter and board ids
PAGE = 50


@dataclass
class BoardRef:
    """The filter and board of a campaign, as its epic keeps them (issue property ``jiracampaign.board``)."""

    filter_id: str
    board_id: str = ""

    def to_json(self) -> dict:
        return {"version": 1, "filter": self.filter_id, "board": self.board_id}

    @classmethod
    def from_json(cls, data: Any) -> "BoardRef | None":
        """The ref, or `None` when ``data`` is not one (a property edited by hand is ignored, not trusted)."""
        if not isinstance(data, dict):
            return None
        filter_id, board_id = str(data.get("filter") or ""), str(data.get("board") or "")
        if not filter_id.isdigit() or (board_id and not board_id.isdigit()):
            return None
        return cls(filter_id, board_id)


def board_name(project: str, campaign: str | None) -> str:
    """The name of the filter and of the board (a filter's name is unique per owner)."""
    return f"jiracampaign: {campaign} ({project})" if campaign else f"jiracampaign: all campaigns ({project})"


def board_jql(project: str, cloud: bool, subtasks: bool, campaign: str | None = None, epic: str | None = None) -> str:
    """The filter's JQL: a campaign's submissions (children of its epic: ``parent`` on Cloud, the Epic Link
    on Data Center; sub-tasks carrying the campaign's label with hierarchy ``subtask``), or every campaign's
    submissions (jiracampaign's label, without epics and retired duplicates); ranked, so cards can be moved."""
    where = [f'project = "{project}"']
    if subtasks:
        where += [f'labels = "{campaign_label(campaign) if campaign else LABEL}"', "issuetype in subTaskIssueTypes()"]
    elif campaign:
        where.append(f"parent = {epic}" if cloud else f'"Epic Link" = {epic}')
    else:
        where += [f'labels = "{LABEL}"', f'labels not in ("{EPIC_LABEL}", "{RETIRED_LABEL}")']
    return " AND ".join(where) + " ORDER BY Rank"


def board_url(server: str, board_id: str) -> str:
    return f"{server}/secure/RapidBoard.jspa?rapidView={board_id}"


def filter_url(server: str, filter_id: str) -> str:
    return f"{server}/issues/?filter={filter_id}"


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


class Boards:
    """Finds or makes the filter and board of one campaign, or of all, on a `JiraTracker`'s server."""

    def __init__(self, tracker: "JiraTracker"):
        self.tracker, self.client, self.project = tracker, tracker.client, tracker.project
        self.created: list[str] = []
        self.notes: list[str] = []

    # ---- requests ---------------------------------------------------------------------------------
    def _agile(self, path: str) -> str:
        return f"{self.client.server}/rest/agile/1.0/{path}"

    def _read(self, op: str, path: str, params: dict | None = None, missing: tuple[int, ...] = (404,)) -> Any:
        """A GET with retries; `None` when JIRA answers one of ``missing`` (gone, or not visible to us)."""
        def run():
            try:
                return self.client.raw("GET", path, params).json()
            except JIRAError as exc:
                if exc.status_code in missing:
                    return None
                raise
        return self.client.call(op, run)

    def _create(self, op: str, path: str, body: dict, verify: Callable[[], dict | None]) -> dict:
        """A POST that may not be repeated blindly: after a lost answer ``verify`` looks for what it made."""
        def run():
            try:
                return self.client.raw("POST", path, body=body).json()
            except JIRAError as exc:
                answer = exc.response.text if exc.response is not None else (exc.text or "")
                if exc.status_code == 400 and "same name" in answer:
                    why = "" if self.client.cloud else " and Data Center cannot search filters"
                    raise TrackerError(
                        f"a filter named '{body.get('name')}' exists already, but jiracampaign cannot find it: it is "
                        f"not among your favourite filters{why}; mark it as a favourite in JIRA (Filters, star) or "
                        "delete it, then run board again") from None
                raise
        return self.client.call(op, run, idempotent=False, verify=verify)

    # ---- the campaign's epic and what it keeps ------------------------------------------------------
    def epic(self, campaign: str, known: ItemRef | None) -> Item:
        """The campaign's epic: read by key when the campaign folder knows it, else searched by its ``jcid-``
        label (again, while Cloud's search may lag behind a recent create)."""
        if known:
            item = self.tracker.get_item(known[0])
            if item is not None and item.kind == "campaign" and item.ident == campaign:
                return item
        found = self.tracker._find_idents([campaign]).get(campaign)
        if found is None or found.kind != "campaign":
            raise TrackerError(f"campaign {campaign} has no epic in {self.tracker.describe()}: record it first "
                               f"(jiracampaign create SPEC)")
        return found

    def stored(self, epic: Item) -> BoardRef | None:
        data = self._read("read board ids", f"issue/{epic.key}/properties/{BOARD_PROPERTY}")
        ref = BoardRef.from_json((data or {}).get("value"))
        if data is not None and ref is None:
            log.warning("%s: unreadable %s property ignored", epic.key, BOARD_PROPERTY)
        return ref

    def store(self, epic: Item, ref: BoardRef) -> None:
        self.client.put("record board ids", f"issue/{epic.key}/properties/{BOARD_PROPERTY}", ref.to_json())

    # ---- the filter -------------------------------------------------------------------------------------
    def find_filter(self, name: str, jql: str) -> dict | None:
        """Our filter by its exact name: among the user's favourites, then (Cloud) by filter search, then as
        the filter of a board of that name (another operator's, on Data Center)."""
        favourites = self._read("read favourite filters", "filter/favourite") or []
        mine = [f for f in favourites if isinstance(f, dict) and _same(f.get("name", ""), name)]
        if mine:
            return next((f for f in mine if _same(f.get("jql", ""), jql)), mine[0])
        if self.client.cloud:
            start, named = 0, []
            while True:
                page = self.client.get("search filters", "filter/search", {
                    "filterName": name, "expand": "jql,owner,favourite,viewUrl", "startAt": start, "maxResults": PAGE})
                values = page.get("values") or []
                named += [f for f in values if _same(f.get("name", ""), name)]
                start += len(values)
                if page.get("isLast", True) or not values:
                    break
            if named:
                return next((f for f in named if _same(f.get("jql", ""), jql)), named[0])
        for board in self._boards_named(name):
            config = self._configuration(board)
            filter_id = str(((config or {}).get("filter") or {}).get("id", ""))
            found = self.get_filter(filter_id) if filter_id.isdigit() else None
            if found is not None and _same(found.get("name", ""), name):
                return found
        return None

    def get_filter(self, filter_id: str) -> dict | None:
        """A filter by id; `None` when it is gone or not visible to us (JIRA answers 400, not 404)."""
        return self._read("read filter", f"filter/{filter_id}", missing=(400, 404))

    def make_filter(self, name: str, jql: str, description: str) -> dict:
        project_id = str(self.client.get("read project", f"project/{self.project}")["id"])
        body = {"name": name, "description": description, "jql": jql, "favourite": True,
                "sharePermissions": [{"type": "project", "project": {"id": project_id}}]}
        log.info("creating filter '%s': %s", name, jql)
        made = self._create("create filter", "filter", body, lambda: self.find_filter(name, jql))
        self.created.append("filter")
        return made

    # ---- the board --------------------------------------------------------------------------------------
    def _boards_named(self, name: str) -> list[str]:
        """Ids of the Kanban boards whose name is exactly ``name`` (JIRA matches ``name`` partially)."""
        out, start = [], 0
        while True:
            page = self._read("search boards", self._agile("board"),
                              {"name": name, "type": "kanban", "startAt": start, "maxResults": PAGE})
            if page is None:
                raise TrackerError(f"JIRA at {self.client.server} has no Agile REST API (/rest/agile/1.0 answers 404): "
                                   "boards need Jira Software")
            values = page.get("values") or []
            out += [str(b["id"]) for b in values if _same(b.get("name", ""), name)]
            start += len(values)
            if page.get("isLast", True) or not values:
                return out

    def _configuration(self, board_id: str) -> dict | None:
        return self._read("read board configuration", self._agile(f"board/{board_id}/configuration"))

    def find_board(self, name: str, filter_id: str) -> tuple[str, dict] | None:
        """The board named ``name`` that shows our filter, with its configuration."""
        for board_id in self._boards_named(name):
            config = self._configuration(board_id)
            if config is not None and str((config.get("filter") or {}).get("id", "")) == filter_id:
                return board_id, config
        return None

    def make_board(self, name: str, filter_id: str) -> tuple[str, dict]:
        body: dict[str, Any] = {"name": name, "type": "kanban", "filterId": int(filter_id)}
        if self.client.cloud:  # required on Cloud; Data Center ignores it
            body["location"] = {"type": "project", "projectKeyOrId": self.project}
        log.info("creating Kanban board '%s' on filter %s", name, filter_id)

        def verify():
            found = self.find_board(name, filter_id)
            return {"id": found[0]} if found else None

        made = self._create("create board", self._agile("board"), body, verify)
        self.created.append("board")
        if made.get("isPrivate"):
            self.notes.append("JIRA made the board private (creating shared boards needs the 'Create shared objects' "
                              "permission): other operators cannot see it")
        board_id = str(made["id"])
        config = self._configuration(board_id)
        if config is None:
            raise TrackerError(f"JIRA created board {board_id} but cannot show its configuration")
        return board_id, config

    # ---- columns ----------------------------------------------------------------------------------------
    def statuses(self) -> dict[str, tuple[str, str]]:
        """Every status of the project's issue types: id -> (name, category key)."""
        out: dict[str, tuple[str, str]] = {}
        for issue_type in self.client.get("read statuses", f"project/{self.project}/statuses") or []:
            for status in issue_type.get("statuses") or []:
                out[str(status["id"])] = (status.get("name", ""), (status.get("statusCategory") or {}).get("key", ""))
        return out

    def columns(self, config: dict) -> list[BoardColumn]:
        """The board's columns with their statuses, and the run states whose tickets show in each; a run
        state whose status is on no column (or missing from the project) becomes a note."""
        statuses = self.statuses()
        raw = ((config.get("columnConfig") or {}).get("columns")) or []
        columns, where = [], {}
        for n, column in enumerate(raw):
            ids = [str(s["id"]) for s in column.get("statuses") or []]
            columns.append(BoardColumn(column.get("name", ""), [statuses.get(i, (f"status {i}", ""))[0] for i in ids]))
            where.update({i: n for i in ids})
        hidden: dict[str, list[str]] = {}  # status names -> run states whose tickets show in no column
        for state, targets in self.tracker.statuses.items():
            ids = _target_ids(targets, statuses)
            if not targets:
                continue
            if not ids:
                self.notes.append(f"{state.value} runs: none of the statuses {', '.join(targets)} "
                                  f"(sync.{state.value}_status) exists in project {self.project}")
                continue
            placed = sorted({where[i] for i in ids if i in where})
            for n in placed:
                columns[n].states.append(state.value)
            if not placed:
                hidden.setdefault(", ".join(sorted({statuses[i][0] for i in ids})), []).append(state.value)
        for names, states in hidden.items():
            runs = ", ".join(states[:-1]) + " and " + states[-1] if len(states) > 1 else states[0]
            self.notes.append(f"tickets of {runs} runs (status {names}) show in no column: add the status to a column "
                              "in the board's settings (Columns); JIRA's REST API cannot")
        return columns

    # ---- the whole ----------------------------------------------------------------------------------------
    def ensure(self, campaign: str | None, known: ItemRef | None) -> Board:
        epic = self.epic(campaign, known) if campaign else None
        name = board_name(self.project, campaign)
        jql = board_jql(self.project, self.client.cloud, self.tracker.hierarchy == "subtask", campaign,
                        epic.key if epic else None)
        stored = self.stored(epic) if epic else None
        found = self.get_filter(stored.filter_id) if stored else None
        if stored and found is None:
            self.notes.append(f"filter {stored.filter_id} recorded on {epic.key} is gone (deleted, or no longer visible "
                              "to you): a new one was looked for or made")
        if found is None:
            found = self.find_filter(name, jql)
        if found is None:
            what = f"submissions of campaign {campaign} (epic {epic.key})" if epic else "submissions of every campaign"
            found = self.make_filter(name, jql, f"The {what} in project {self.project}; kept by jiracampaign board.")
        filter_id = str(found["id"])
        if found.get("jql") and not _same(found["jql"], jql):
            self.notes.append(f"filter {filter_id} was edited in JIRA and is left as it is; its JQL: {found['jql']}")
        ref = BoardRef(filter_id, stored.board_id if stored and stored.filter_id == filter_id else "")
        if epic and "filter" in self.created:  # recorded at once: a later failure must not lose the filter
            self.store(epic, ref)
            stored = ref
        config = self._configuration(ref.board_id) if ref.board_id else None
        if config is not None and str((config.get("filter") or {}).get("id", "")) != filter_id:
            config = None
        if config is not None:
            board_id = ref.board_id
        else:
            located = self.find_board(name, filter_id) or self.make_board(name, filter_id)
            board_id, config = located
        ref = BoardRef(filter_id, board_id)
        if epic and ref != stored:
            self.store(epic, ref)
        server = self.client.server
        return Board(name=name, id=board_id, url=board_url(server, board_id), query=found.get("jql") or jql,
                     query_id=filter_id, query_url=filter_url(server, filter_id), campaign=campaign,
                     columns=self.columns(config), created=list(self.created), notes=list(self.notes))


def _target_ids(targets: list[str], statuses: dict[str, tuple[str, str]]) -> list[str]:
    """The status ids a run state's tickets end up in: those of its first configured target that exists
    in the project (a status name, or a status category such as ``done``)."""
    for target in targets:
        wanted = target.casefold()
        if wanted in CATEGORIES:
            ids = [i for i, (_, category) in statuses.items() if category == wanted]
        else:
            ids = [i for i, (name, _) in statuses.items() if name.casefold() == wanted]
        if ids:
            return ids
    return []

