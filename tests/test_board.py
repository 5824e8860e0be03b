"""`jiracampaign board`: a saved JQL filter and a Kanban board per campaign (or for all), made once on JIRA
Cloud and Data Center, through the CLI against the fake JIRA; a re-run writes nothing, a lost answer at any
write never leaves a second filter or board; the local store says it has none."""

from __future__ import annotations

import json
import time

import pytest
import requests

from jiracampaign.cli import cli
from tests.conftest import REPO
from tests.fakes.jira_server import AGILE, API, FakeJira, JqlFilter

DEMO = REPO / "examples" / "demo" / "campaign.yaml"
CAMPAIGN_NAME = "jiracampaign: demo-w47 (CAMP)"
ALL_NAME = "jiracampaign: all campaigns (CAMP)"
COLUMNS = """\
COLUMN       STATUSES              RUN STATES
To Do        To Do                 -
In Progress  In Progress, Blocked  pending, running, partial, failed, held
Done         Done                  succeeded, cancelled
"""


class Site:
    """The CLI wired to one fake JIRA, with the demo campaign recorded in it."""

    def __init__(self, flavour: str, runner, monkeypatch, hierarchy: str = "task"):
        monkeypatch.setattr(time, "sleep", lambda seconds: None)
        self.fake = FakeJira(flavour).start()
        self.runner = runner
        self.args = ["--tracker", "jira", "--set", f"jira.server={self.fake.url}", "--set", "jira.project=CAMP",
                     "--set", f"jira.user={self.fake.user}", "--set", f"jira.auth={'basic' if self.fake.cloud else 'token'}",
                     "--set", f"jira.hierarchy={hierarchy}"]
        self.env = {"JIRACAMPAIGN_JIRA_TOKEN": self.fake.token}

    def run(self, *args, retries: int | None = None):
        extra = ["--set", f"jira.max_retries={retries}"] if retries is not None else []
        return self.runner.invoke(cli, [*self.args, *extra, *args], env=self.env)

    def create(self, spec=DEMO):
        result = self.run("create", str(spec))
        assert result.exit_code == 0, result.output
        return result

    def board(self, *args, **kwargs):
        return self.run("board", *args, **kwargs)

    def writes_since(self, n: int) -> list[str]:
        return [f"{r['method']} {r['path']}" for r in self.fake.writes() if r["n"] > n]

    def epic(self, campaign: str = "demo-w47"):
        return next(i for i in self.fake.by_label(f"jcid-{campaign}"))

    def submissions(self, jql: str) -> list[str]:
        """Keys of the tickets the filter's JQL selects, as the fake's JQL engine reads it."""
        return sorted(i.key for i in JqlFilter(jql, self.fake).select(self.fake.issues.values()))

    def close(self):
        self.fake.stop()


@pytest.fixture(params=["cloud", "datacenter"])
def site(request, runner, monkeypatch):
    s = Site(request.param, runner, monkeypatch)
    s.create()
    yield s
    s.close()


def expected_output(site: Site, board_id: int, filter_id: int, jql: str) -> str:
    return (f"board   {site.fake.url}/secure/RapidBoard.jspa?rapidView={board_id}\n"
            f"filter  {site.fake.url}/issues/?filter={filter_id}\n"
            f"jql     {jql}\n\n" + COLUMNS)


def test_campaign_board_is_made_once_and_a_rerun_writes_nothing(site):
    epic = site.epic()
    jql = (f'project = "CAMP" AND parent = {epic.key} ORDER BY Rank' if site.fake.cloud
           else f'project = "CAMP" AND "Epic Link" = {epic.key} ORDER BY Rank')
    n = len(site.fake.log)
    first = site.board("demo-w47")
    assert first.exit_code == 0, first.output
    assert first.stdout == expected_output(site, 1, 10000, jql)
    assert first.stderr.splitlines()[-1] == f"Board '{CAMPAIGN_NAME}' of campaign demo-w47: created the filter and the board"
    assert site.writes_since(n) == ["POST /rest/api/2/filter", f"PUT /rest/api/2/issue/{epic.key}/properties/jiracampaign.board",
                                    "POST /rest/agile/1.0/board", f"PUT /rest/api/2/issue/{epic.key}/properties/jiracampaign.board"]
    [made] = site.fake.filters.values()
    assert (made["name"], made["jql"], made["favourite"], made["shares"]) == (CAMPAIGN_NAME, jql, True, [{"type": "project"}])
    [board] = site.fake.boards.values()
    assert (board["name"], board["type"], board["filter"]) == (CAMPAIGN_NAME, "kanban", "10000")
    assert board["location"] == ("project" if site.fake.cloud else "user")  # Data Center ignores location
    assert epic.properties["jiracampaign.board"] == {"version": 1, "filter": "10000", "board": "1"}
    assert site.submissions(jql) == sorted(i.key for i in site.fake.issues.values() if i is not epic)

    n = len(site.fake.log)
    again = site.board("demo-w47")
    assert again.exit_code == 0, again.output
    assert again.stdout == first.stdout
    assert again.stderr.splitlines()[-1] == f"Board '{CAMPAIGN_NAME}' of campaign demo-w47: already there, nothing changed"
    assert site.writes_since(n) == []
    assert [f"{r['method']} {r['path']}" for r in site.fake.log[n:] if r["path"] != f"{API}/serverInfo"] == [
        f"GET /rest/api/2/issue/{epic.key}", f"GET /rest/api/2/issue/{epic.key}/properties/jiracampaign.board",
        "GET /rest/api/2/filter/10000", "GET /rest/agile/1.0/board/1/configuration", "GET /rest/api/2/project/CAMP/statuses"]
    assert len(site.fake.filters) == len(site.fake.boards) == 1


def test_board_of_all_campaigns_shows_every_submission_and_is_found_again(site, write):
    site.create(write("w48.yaml", DEMO.read_text().replace("demo-w47", "demo-w48")))
    result = site.board("--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    jql = 'project = "CAMP" AND labels = "jiracampaign" AND labels not in ("jc-epic", "jc-retired") ORDER BY Rank'
    assert out == {"campaign": None, "name": ALL_NAME, "board_id": "1", "board_url": f"{site.fake.url}/secure/RapidBoard.jspa?rapidView=1",
                   "filter_id": "10000", "filter_url": f"{site.fake.url}/issues/?filter=10000", "jql": jql,
                   "columns": [{"name": "To Do", "statuses": ["To Do"], "states": []},
                               {"name": "In Progress", "statuses": ["In Progress", "Blocked"],
                                "states": ["pending", "running", "partial", "failed", "held"]},
                               {"name": "Done", "statuses": ["Done"], "states": ["succeeded", "cancelled"]}],
                   "created": ["filter", "board"], "notes": []}
    epics = {site.epic("demo-w47").key, site.epic("demo-w48").key}
    chosen = site.submissions(jql)
    assert len(chosen) == 12 and not epics & set(chosen)

    n = len(site.fake.log)
    again = site.board()
    assert again.exit_code == 0, again.output
    assert again.stdout == expected_output(site, 1, 10000, jql)
    assert site.writes_since(n) == []
    # another operator: the filter is not among their favourites; it is found through the board of that name
    site.fake.filters["10000"]["favourite"] = False
    n = len(site.fake.log)
    other = site.board()
    assert other.exit_code == 0 and other.stdout == again.stdout
    assert site.writes_since(n) == []
    assert len(site.fake.filters) == len(site.fake.boards) == 1
    # and a campaign's board beside it is a second filter and board, with its own name
    assert site.board("demo-w48").exit_code == 0
    assert sorted(f["name"] for f in site.fake.filters.values()) == [ALL_NAME, "jiracampaign: demo-w48 (CAMP)"]


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
@pytest.mark.parametrize("write", range(4))
def test_a_lost_answer_at_any_write_then_a_rerun_leaves_one_filter_and_one_board(flavour, write, runner, monkeypatch):
    """The first run's writes are POST filter, PUT ids, POST board, PUT ids: each in turn is carried out and
    its answer lost, with retries off (the run fails); the next run finishes the job, without a double."""
    s = Site(flavour, runner, monkeypatch)
    try:
        s.create()
        method, path, skip = [("POST", rf"^{API}/filter$", 0), ("PUT", "/properties/jiracampaign.board$", 0),
                              ("POST", rf"^{AGILE}/board$", 0), ("PUT", "/properties/jiracampaign.board$", 1)][write]
        s.fake.inject(method, path, "lost", skip=skip)
        failed = s.board("demo-w47", retries=0)
        assert failed.exit_code == 5, failed.output
        assert failed.stderr.startswith("Error: JIRA ") and "Traceback" not in failed.output
        done = s.board("demo-w47")
        assert done.exit_code == 0, done.output
        assert len(s.fake.filters) == 1 and len(s.fake.boards) == 1
        assert s.epic().properties["jiracampaign.board"] == {"version": 1, "filter": "10000", "board": "1"}
        n = len(s.fake.log)
        assert s.board("demo-w47").stdout == done.stdout and s.writes_since(n) == []
    finally:
        s.close()


def test_a_lost_answer_is_looked_for_before_the_create_is_sent_again(site):
    site.fake.inject("POST", rf"^{API}/filter$", "lost")
    site.fake.inject("POST", rf"^{AGILE}/board$", "lost")
    result = site.board()
    assert result.exit_code == 0, result.output
    assert len(site.fake.requests("POST", rf"^{API}/filter$")) == 1
    assert len(site.fake.requests("POST", rf"^{AGILE}/board$")) == 1
    assert len(site.fake.filters) == len(site.fake.boards) == 1


def test_a_deleted_board_is_made_again_on_the_same_filter(site):
    assert site.board("demo-w47").exit_code == 0
    requests.delete(f"{site.fake.url}{AGILE}/board/1", headers=_auth(site.fake)).raise_for_status()
    result = site.board("demo-w47")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1] == f"Board '{CAMPAIGN_NAME}' of campaign demo-w47: created the board"
    assert list(site.fake.filters) == ["10000"] and list(site.fake.boards) == [2]
    assert site.epic().properties["jiracampaign.board"] == {"version": 1, "filter": "10000", "board": "2"}


def test_a_state_shown_in_no_column_and_an_edited_filter_are_noted_and_left_alone(site):
    assert site.board().exit_code == 0
    site.fake.boards[1]["columns"][1]["statuses"] = ["3"]  # Blocked taken off the board in JIRA
    site.fake.filters["10000"]["jql"] = 'project = "CAMP" AND labels = "jiracampaign" ORDER BY Rank'
    n = len(site.fake.log)
    result = site.board()
    assert result.exit_code == 0, result.output
    assert site.writes_since(n) == []
    assert result.stdout.splitlines()[2] == 'jql     project = "CAMP" AND labels = "jiracampaign" ORDER BY Rank'
    assert result.stdout.splitlines()[4:] == ["COLUMN       STATUSES     RUN STATES",
                                              "To Do        To Do        -",
                                              "In Progress  In Progress  pending, running",
                                              "Done         Done         succeeded, cancelled"]
    notes = [line for line in result.stderr.splitlines() if line.startswith("Note: ")]
    assert notes == ['Note: filter 10000 was edited in JIRA and is left as it is; its JQL: project = "CAMP" AND '
                     'labels = "jiracampaign" ORDER BY Rank',
                     "Note: tickets of partial, failed and held runs (status Blocked) show in no column: add the status "
                     "to a column in the board's settings (Columns); JIRA's REST API cannot"]
    odd = site.run("--set", "sync.cancelled_status=Cancelled", "board")
    assert "Note: cancelled runs: none of the statuses Cancelled (sync.cancelled_status) exists in project CAMP" \
        in odd.stderr.splitlines()
    assert odd.stdout.splitlines()[-1] == "Done         Done         succeeded"


def test_without_the_campaign_folder_the_epic_is_searched_for(site):
    result = site.board("demo-w47", "-o", "elsewhere")
    assert result.exit_code == 0, result.output
    assert site.fake.requests("GET", "/search$") or site.fake.requests("POST", "/search/jql$")
    assert site.epic().properties["jiracampaign.board"]["board"] == "1"
    missing = site.board("no-such-campaign")
    assert missing.exit_code == 5
    assert missing.stderr.strip().startswith("Error: campaign no-such-campaign has no epic in JIRA")


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_subtask_hierarchy_boards_show_the_submission_subtasks(flavour, runner, monkeypatch):
    s = Site(flavour, runner, monkeypatch, hierarchy="subtask")
    try:
        s.create()
        result = s.board("demo-w47", "--json")
        assert result.exit_code == 0, result.output
        jql = json.loads(result.stdout)["jql"]
        assert jql == 'project = "CAMP" AND labels = "jc-demo-w47" AND issuetype in subTaskIssueTypes() ORDER BY Rank'
        subtasks = sorted(i.key for i in s.fake.issues.values() if i.type_id == "10002")
        assert len(subtasks) == 6 and s.submissions(jql) == subtasks
    finally:
        s.close()


def test_a_name_taken_by_a_filter_it_cannot_find_is_explained(runner, monkeypatch):
    s = Site("datacenter", runner, monkeypatch)
    try:
        s.fake.create_filter({"name": ALL_NAME, "jql": 'project = "CAMP"'})  # not a favourite, no board: unfindable on DC
        result = s.board()
        assert result.exit_code == 5
        assert result.stderr == (f"Error: a filter named '{ALL_NAME}' exists already, but jiracampaign cannot find it: "
                                 "it is not among your favourite filters and Data Center cannot search filters; mark it "
                                 "as a favourite in JIRA (Filters, star) or delete it, then run board again\n")
        assert len(s.fake.filters) == 1 and not s.fake.boards
    finally:
        s.close()


def test_the_local_store_has_no_boards(runner, tmp_path):
    store = tmp_path / "store.sqlite"
    result = runner.invoke(cli, ["--set", f"local.path={store}", "board", "demo-w47"])
    assert result.exit_code == 5
    assert result.stderr == (f"Error: the local store ({store}) has no boards: boards are made in JIRA "
                             "(tracker: jira, see 'jiracampaign init')\n")
    assert result.stdout == ""


def _auth(fake: FakeJira) -> dict:
    if fake.cloud:
        import base64
        return {"Authorization": "Basic " + base64.b64encode(f"{fake.user}:{fake.token}".encode()).decode()}
    return {"Authorization": f"Bearer {fake.token}"}


def test_the_fake_keeps_the_flavours_quirks(fake_jira):
    """The differences `board` must cope with, as the reference describes them."""
    fake, headers = fake_jira, _auth(fake_jira)
    post = lambda path, body: requests.post(f"{fake.url}{path}", json=body, headers=headers, timeout=5)  # noqa: E731
    get = lambda path, **params: requests.get(f"{fake.url}{path}", params=params, headers=headers, timeout=5)  # noqa: E731
    made = post(f"{API}/filter", {"name": "Mine", "jql": 'project = "CAMP" ORDER BY Rank'})
    assert made.status_code == 200 and made.json()["id"] == "10000"
    assert post(f"{API}/filter", {"name": "mine", "jql": 'project = "CAMP"'}).status_code == 400  # unique per owner
    assert "Error in the JQL Query" in post(f"{API}/filter", {"name": "Bad", "jql": "project ~ x"}).text
    assert get(f"{API}/filter/99999").status_code == 400  # unknown filter: 400, not 404
    no_location = post(f"{AGILE}/board", {"name": "B", "type": "kanban", "filterId": 10000})
    assert no_location.status_code == (400 if fake.cloud else 201)
    post(f"{AGILE}/board", {"name": "B2", "type": "kanban", "filterId": 10000,
                            "location": {"type": "project", "projectKeyOrId": "CAMP"}}).raise_for_status()
    post(f"{API}/filter", {"name": "Other", "jql": 'project = "CAMP"'}).raise_for_status()
    other = post(f"{AGILE}/board", {"name": "B3", "type": "kanban", "filterId": 10001,
                                    "location": {"type": "project", "projectKeyOrId": "CAMP"}}).json()
    listed = get(f"{AGILE}/board", filterId="10001").json()
    if fake.cloud:
        assert [b["id"] for b in listed["values"]] == [other["id"]]
        assert set(listed["values"][0]) == {"id", "self", "name", "type", "location", "isPrivate"}
        found = get(f"{API}/filter/search", filterName="MIN").json()
        assert [set(v) for v in found["values"]] == [{"id", "name", "self"}]
        assert found["isLast"] and found["total"] == 1
        assert get(f"{AGILE}/board/filter/10001").json()["values"] == [
            {"id": other["id"], "name": "B3", "self": f"{fake.url}{AGILE}/board/{other['id']}"}]
    else:  # filterId is no parameter on Data Center: every board comes back; no filter search at all
        assert len(listed["values"]) == 3 and set(listed["values"][0]) == {"id", "self", "name", "type"}
        assert get(f"{API}/filter/search", filterName="Mine").status_code == 404
    config = get(f"{AGILE}/board/{other['id']}/configuration").json()
    assert config["filter"]["id"] == "10001" and ("location" in config) == fake.cloud
    assert [c["name"] for c in config["columnConfig"]["columns"]] == ["To Do", "In Progress", "Done"]
    assert get(f"{AGILE}/board/999").status_code == 404


def test_a_tracker_plug_in_without_boards_says_so(runner):
    result = runner.invoke(cli, ["--tracker", "tests.fakes.memory_tracker.MemoryTracker", "board"])
    assert result.exit_code == 5
    assert result.stderr == "Error: the memory tracker has no boards\n"


def test_without_jira_software_nothing_is_created(runner, monkeypatch):
    s = Site("datacenter", runner, monkeypatch)
    try:
        s.create()
        s.fake.software = False
        result = s.board("demo-w47")
        assert result.exit_code == 5
        assert result.stderr == (f"Error: JIRA at {s.fake.url} has no Agile REST API (/rest/agile/1.0 answers 404): "
                                 "boards need Jira Software\n")
        assert not s.fake.filters and "jiracampaign.board" not in s.epic().properties
    finally:
        s.close()
