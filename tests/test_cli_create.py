"""`jiracampaign create`: the DP0.2 example recorded in the local store and in both fake JIRA flavours,
idempotently, with only what changed updated, and exactly one ticket per submission through faults."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml

from jiracampaign.cli import cli
from tests.conftest import REPO
from tests.fakes.jira_server import EPIC_LINK, EPIC_NAME, FakeJira

DP02 = REPO / "examples" / "dp02" / "campaign.yaml"
DEMO = REPO / "examples" / "demo" / "campaign.yaml"
WRITES = "POST|PUT|DELETE"


class Env:
    """Runs the CLI against one tracker: the local store or a fake JIRA."""

    def __init__(self, kind: str, runner, tmp_path, monkeypatch):
        self.kind, self.runner, self.tmp = kind, runner, tmp_path
        self.sleeps: list[float] = []
        monkeypatch.setattr(time, "sleep", self.sleeps.append)
        self.fake = None
        self.args = ["--set", f"local.path={tmp_path / 'store.sqlite'}"]
        self.env = {}
        if kind != "local":
            self.fake = FakeJira(flavour=kind).start()
            self.args = ["--tracker", "jira", "--set", f"jira.server={self.fake.url}", "--set", "jira.project=CAMP",
                         "--set", f"jira.user={self.fake.user}", "--set", f"jira.auth={'basic' if kind == 'cloud' else 'token'}"]
            self.env = {"JIRACAMPAIGN_JIRA_TOKEN": self.fake.token}

    def run(self, *args):
        return self.runner.invoke(cli, [*self.args, *args], env=self.env)

    def writes(self) -> int:
        """Requests that change something (Cloud searches and bulk fetches are POSTs but read only)."""
        return len([r for r in self.fake.log if re.fullmatch(WRITES, r["method"]) and not r["path"].endswith(("/search/jql", "/issue/bulkfetch"))])

    def tickets(self):
        """(summary, labels, metadata, attachments) per ticket, from the tracker's own storage."""
        if self.fake:
            return [(i.key, i.fields["summary"], i.fields["labels"], i.properties.get("jiracampaign"),
                     [a["filename"] for a in i.attachments]) for i in self.fake.issues.values()]
        import sqlite3
        db = sqlite3.connect(self.tmp / "store.sqlite")
        rows = db.execute("SELECT key, summary, ident, campaign, record FROM tickets ORDER BY num").fetchall()
        atts = {}
        for key, name in db.execute("SELECT key, filename FROM attachments ORDER BY id"):
            atts.setdefault(key, []).append(name)
        # the local store has no labels: the same handles, from its ident and campaign columns
        return [(k, s, ["jiracampaign", f"jc-{c}", f"jcid-{i}"], json.loads(m), atts.get(k, [])) for k, s, i, c, m in rows]

    def close(self):
        if self.fake:
            self.fake.stop()


@pytest.fixture(params=["local", "cloud", "datacenter"])
def env(request, runner, tmp_path, monkeypatch):
    e = Env(request.param, runner, tmp_path, monkeypatch)
    yield e
    e.close()


@pytest.fixture(params=["cloud", "datacenter"])
def jira_env(request, runner, tmp_path, monkeypatch):
    e = Env(request.param, runner, tmp_path, monkeypatch)
    yield e
    e.close()


def assert_one_per_submission(env, n_subs: int, campaign: str = "dp02-w38"):
    tickets = env.tickets()
    idents = [next(lbl for lbl in labels if lbl.startswith("jcid-")) for _, _, labels, _, _ in tickets]
    assert len(idents) == len(set(idents)) == n_subs + 1, "duplicate or missing tickets"
    assert sum(1 for _, _, _, meta, _ in tickets if meta and meta.get("type") == "campaign") == 1
    for key, _summary, labels, meta, atts in tickets:
        assert "jiracampaign" in labels and f"jc-{campaign}" in labels
        if meta.get("type") == "submission":
            assert atts == [meta["file"]], (key, atts)


def test_create_dp02_records_epic_and_one_ticket_per_submission(env):
    result = env.run("create", str(DP02), "-o", "camp")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["KEY", "SUBMISSION", "STEP", "GROUP", "ACTION", "CHANGES"]
    assert len(lines) == 57 and all(line.split()[4] == "created" for line in lines[1:])
    assert re.fullmatch(r"Campaign dp02-w38: epic \S+-1 \(created\) in .*; 56 created, 0 updated, 0 unchanged; "
                        r"files in camp/\n", result.stderr.splitlines()[-1] + "\n")
    assert_one_per_submission(env, 56)
    manifest = json.loads(Path("camp/manifest.json").read_text())
    by_id = {t[3]["submission"]: t for t in env.tickets() if t[3].get("type") == "submission"}
    for entry in manifest["submissions"]:
        key, summary, labels, meta, _ = by_id[entry["id"]]
        assert entry["ticket"] == key
        text = Path("camp", entry["file"]).read_text()
        assert text.splitlines()[2] == f"# ticket {key}"
        assert meta["sha256"] == entry["sha256"]
        assert meta["data_query"] == entry["data_query"] == yaml.safe_load(text)["payload"]["dataQuery"]
        assert meta["step"] == entry["step"]
        if env.fake:
            assert f"jc-step-{entry['step']}" in labels
    first = by_id["dp02-w38_step1_003"]
    assert first[1] == "dp02-w38 step1 group 3/40"


def test_create_again_is_a_no_op(env):
    assert env.run("create", str(DP02), "-o", "camp").exit_code == 0
    before = env.tickets()
    writes = env.writes() if env.fake else None
    again = env.run("create", str(DP02), "-o", "camp")
    assert again.exit_code == 0
    assert all(line.split()[4] == "unchanged" for line in again.stdout.splitlines()[1:])
    assert "0 created, 0 updated, 56 unchanged" in again.stderr
    assert env.tickets() == before
    if env.fake:
        assert env.writes() == writes, "a no-op run wrote to JIRA"


def test_added_group_creates_exactly_the_missing_ticket_and_edits_are_recorded(env, write):
    spec = write("c.yaml", DEMO.read_text())
    assert env.run("create", str(spec), "-o", "camp").exit_code == 0
    write("c.yaml", DEMO.read_text().replace("values: [g, r, i]", "values: [g, r, i, z]")
          .replace("requestMemory: 4096", "requestMemory: 6000"))
    result = env.run("create", str(spec), "-o", "camp")
    assert result.exit_code == 0, result.output
    rows = {line.split()[1]: line.split()[4:] for line in result.stdout.splitlines()[1:]}
    assert rows["demo-w47_step2_004"] == ["created"]
    assert rows["demo-w47_step1_001"] == ["updated", "yaml"]
    assert rows["demo-w47_step2_001"] == ["updated", "description,yaml"]
    assert_one_per_submission(env, 7, "demo-w47")
    key = next(k for k, _, _, meta, _ in env.tickets() if meta.get("submission") == "demo-w47_step1_001")
    comments = ([c["body"] for c in env.fake.issue(key).comments] if env.fake else _local_comments(env, key))
    assert len(comments) == 1
    assert "-requestMemory: 4096\n+requestMemory: 6000" in comments[0]
    name = "`demo-w47_step1_001.yaml`" if env.kind == "local" else "{{demo\\-w47\\_step1\\_001.yaml}}"
    assert comments[0].startswith(f"jiracampaign replaced the BPS submit file {name}")


def _local_comments(env, key):
    import sqlite3
    return [b for (b,) in sqlite3.connect(env.tmp / "store.sqlite").execute("SELECT body FROM comments WHERE key = ?", (key,))]


def test_datacenter_uses_epic_name_and_epic_link_cloud_uses_parent(jira_env):
    assert jira_env.run("create", str(DEMO), "-o", "camp").exit_code == 0
    epic = next(i for i in jira_env.fake.issues.values() if i.type_id == "10000")
    tasks = [i for i in jira_env.fake.issues.values() if i.type_id == "10001"]
    assert len(tasks) == 6
    if jira_env.kind == "datacenter":
        assert epic.fields[EPIC_NAME] == "demo-w47"
        assert {t.fields[EPIC_LINK] for t in tasks} == {epic.key}
        assert not any("parent" in t.fields for t in tasks)
    else:
        assert {t.fields["parent"] for t in tasks} == {epic.key}
        assert EPIC_LINK not in epic.fields and EPIC_NAME not in epic.fields
    bulk = jira_env.fake.requests("POST", r"/issue/bulk$")
    assert [len(json.loads(b["body"])["issueUpdates"]) for b in bulk] == [1, 6]  # the epic, then its children


def test_subtask_hierarchy_epic_step_tasks_and_subtasks(jira_env):
    result = jira_env.run("--set", "jira.hierarchy=subtask", "create", str(DEMO), "-o", "camp")
    assert result.exit_code == 0, result.output
    issues = jira_env.fake.issues.values()
    epic = next(i for i in issues if i.type_id == "10000")
    steps = {i.properties["jiracampaign"]["step"]: i for i in issues if i.properties["jiracampaign"]["type"] == "step"}
    subs = [i for i in issues if i.type_id == "10002"]
    assert sorted(steps) == ["step1", "step2"] and len(subs) == 6
    for step in steps.values():
        assert step.type_id == "10001"
        assert step.fields.get("parent", step.fields.get(EPIC_LINK)) == epic.key
    for sub in subs:
        assert sub.fields["parent"] == steps[sub.properties["jiracampaign"]["step"]].key
    assert jira_env.run("--set", "jira.hierarchy=subtask", "create", str(DEMO), "-o", "camp").exit_code == 0
    assert len(jira_env.fake.issues) == 9


@pytest.mark.parametrize("path, kind", [
    (r"/issue/bulk$", "429"), (r"/issue/bulk$", "503"), (r"/issue/bulk$", "lost"), (r"/issue/bulk$", "500"),
    (r"/issue$", "lost"), (r"/attachments$", "lost"), (r"/attachments$", "429"), (r"/properties/", "503"),
    (r"/search", "429"), (r"/search", "lost"),
])
def test_faults_leave_exactly_one_epic_and_one_ticket_per_submission(jira_env, path, kind):
    method = "GET" if (path == r"/search" and not jira_env.fake.cloud) else "POST"
    method = "PUT" if "properties" in path else method
    jira_env.fake.inject(method, path, kind, times=2, retry_after="7")
    result = jira_env.run("create", str(DP02), "-o", "camp")
    assert result.exit_code == 0, result.output
    assert_one_per_submission(jira_env, 56)
    if kind == "429" or kind == "503":
        retries = [s for s in jira_env.sleeps if s == 7.0]  # (Cloud also waits for its index after a new epic)
        assert retries == [7.0, 7.0], "Retry-After not honoured"
    assert jira_env.run("create", str(DP02), "-o", "camp").exit_code == 0
    assert_one_per_submission(jira_env, 56)


def test_lost_comment_response_does_not_duplicate_the_comment(jira_env, write):
    spec = write("c.yaml", DEMO.read_text())
    assert jira_env.run("create", str(spec), "-o", "camp").exit_code == 0
    write("c.yaml", DEMO.read_text().replace("requestMemory: 4096", "requestMemory: 6000"))
    jira_env.fake.inject("POST", r"/comment$", "lost", times=3)
    assert jira_env.run("create", str(spec), "-o", "camp").exit_code == 0
    for issue in jira_env.fake.issues.values():
        assert len(issue.comments) <= 1
    assert sum(len(i.comments) for i in jira_env.fake.issues.values()) == 6  # one per changed file, none twice


def test_retries_exhausted_is_one_clear_error_and_a_rerun_completes(jira_env):
    jira_env.fake.inject("POST", r"/issue/bulk$", "503", times=10, retry_after="1")
    result = jira_env.run("--set", "jira.max_retries=2", "create", str(DP02), "-o", "camp")
    assert result.exit_code == 5
    assert result.stderr.splitlines()[-1] == (
        "Error: JIRA create tickets failed: HTTP 503 POST /rest/api/2/issue/bulk: Service unavailable.")
    assert not Path("camp").exists()
    jira_env.fake.faults.clear()
    assert jira_env.run("create", str(DP02), "-o", "camp").exit_code == 0
    assert_one_per_submission(jira_env, 56)


def test_wrong_token_is_a_credentials_error_without_the_token(jira_env):
    jira_env.env = {"JIRACAMPAIGN_JIRA_TOKEN": "wrong-token-value"}
    result = jira_env.run("create", str(DEMO), "-o", "camp")
    assert result.exit_code == 4
    assert "JIRA rejected the credentials of jdoe@example.org" in result.stderr
    assert "wrong-token-value" not in result.output and jira_env.fake.token not in result.output
