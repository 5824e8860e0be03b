"""`submit`, `record` and `sync` end to end: the demo campaign created, submitted with a stand-in `bps`,
then followed tick by tick on the fake PanDA monitor, in the local store and both fake JIRA flavours."""

from __future__ import annotations

import json
import re
import sqlite3
import sys

from tests.conftest import REPO, campaign_fixture
from tests.fakes.panda_server import FakeBigPanda
from tests.test_cli_create import DEMO, Env

FAKE_BPS = REPO / "tests" / "fakes" / "fake_bps.py"
OOM = {"piloterrorcode": 1305, "piloterrordiag": "Failed to execute payload: killed (out of memory) [x|javascript:alert(1)]",
       "transexitcode": "137"}


#: the local store keeps run states; the same assertions hold once read as the default JIRA statuses show them
AS_JIRA_SHOWS = {"": "To Do", "pending": "In Progress", "running": "In Progress", "held": "Blocked",
                 "partial": "Blocked", "failed": "Failed", "succeeded": "Done", "cancelled": "Done"}


class Campaign(Env):
    """A tracker, the fake monitor and the stand-in bps, wired into the CLI."""

    def __init__(self, kind, runner, tmp_path, monkeypatch):
        super().__init__(kind, runner, tmp_path, monkeypatch)
        self.panda = FakeBigPanda().start()
        self.bps_log = tmp_path / "bps.log"
        self.args += ["--set", f"panda.monitor_url={self.panda.url}", "--set", f"bps.command={sys.executable} {FAKE_BPS}",
                      "--set", "campaigns_dir=camps"]
        self.env.update({"FAKE_BPS_LOG": str(self.bps_log)})
        if self.fake:  # as `init` saves it
            self.args += ["--set", f"jira.flavour={kind}"]
        self.keys: dict[str, str] = {}

    def close(self):
        super().close()
        self.panda.stop()

    def create(self):
        result = self.run("create", str(DEMO), "--json")
        assert result.exit_code == 0, result.output
        self.keys = {row["id"]: row["key"] for row in json.loads(result.stdout)}
        return result

    def submitted(self) -> list[dict]:
        return [json.loads(line) for line in self.bps_log.read_text().splitlines()]

    def ticket(self, key):
        """(status, metadata, description, comments) of a ticket, from the tracker's own storage."""
        if self.fake:
            issue = self.fake.issue(key)
            status = {"1": "To Do", "3": "In Progress", "4": "Blocked", "6": "Done"}[issue.status]
            return status, issue.properties.get("jiracampaign"), issue.fields.get("description", ""), \
                [c["body"] for c in issue.comments]
        db = sqlite3.connect(self.tmp / "store.sqlite")
        state, meta, text = db.execute("SELECT state, record, description FROM tickets WHERE key = ?", (key,)).fetchone()
        status = AS_JIRA_SHOWS[state]
        comments = [f"{body}\n\njiracampaign:{marker}" if marker else body for marker, body in
                    db.execute("SELECT marker, body FROM comments WHERE key = ? ORDER BY id", (key,))]
        return status, json.loads(meta), text, comments

    def says(self, wiki: str, markdown: str) -> str:
        """What a text looks like here: JIRA wiki markup on JIRA, Markdown in the local store."""
        return wiki if self.fake else markdown

    def all_keys(self) -> list[str]:
        return [t[0] for t in self.tickets()]

    def comments(self, key, marker):
        return [c for c in self.ticket(key)[3] if f"jiracampaign:{marker}" in c]

    def tracker_writes(self) -> int:
        if self.fake:
            return len([r for r in self.fake.log if re.fullmatch("POST|PUT|DELETE", r["method"])
                        and not r["path"].endswith(("/search/jql", "/issue/bulkfetch"))])
        db = sqlite3.connect(self.tmp / "store.sqlite")
        return sum(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("comments", "history", "sync_records")) \
            + db.execute("SELECT COALESCE(SUM(LENGTH(content)), 0) FROM attachments").fetchone()[0]


camp = campaign_fixture("local", "cloud", "datacenter")


def test_submit_then_follow_a_campaign_through_every_state(camp):
    camp.create()
    steps2 = camp.run("submit", str(DEMO), "--step", "step2")
    assert steps2.exit_code == 1, steps2.output
    assert f"step step2 must wait until {camp.keys['demo-w47_step1_001']}" in steps2.stdout

    dry = camp.run("submit", str(DEMO), "--step", "step1", "--dry-run")
    assert dry.exit_code == 0 and "would submit" in dry.stdout and not camp.bps_log.exists()

    result = camp.run("submit", str(DEMO), "--step", "step1", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["action"] for r in rows] == ["submitted"] * 3
    runs = camp.submitted()
    assert [r["run_name"] for r in runs] == [f"u_jdoe_demo-w47_step1_group00{i}_attempt1" for i in (1, 2, 3)]
    key_a, key_b, key_c = (camp.keys[f"demo-w47_step1_00{i}"] for i in (1, 2, 3))
    status, meta, text, _ = camp.ticket(key_a)
    assert status == "In Progress"
    assert meta["run"]["run_id"] == "6000" and meta["run"]["wms"] == "panda" and meta["run"]["submitted"]
    assert camp.says("{{u\\_jdoe\\_demo\\-w47\\_step1\\_group001\\_attempt1}}",
                     "`u_jdoe_demo-w47_step1_group001_attempt1`") in text
    assert camp.says("{{panda 6000}}", "`panda 6000`") in text
    again = camp.run("submit", str(DEMO), "--step", "step1")
    assert again.exit_code == 0 and "3 skipped" in again.stderr and len(camp.submitted()) == 3
    recreate = camp.run("create", str(DEMO))  # what submit wrote is what create would write: nothing to do
    assert "0 created, 0 updated, 6 unchanged" in recreate.stderr, recreate.output

    for run in runs:
        camp.panda.add_run(run["run_name"], {"isr": 10, "calibrate": 10}, request_id=run["run_id"])
        camp.panda.progress(run["run_name"], "isr", finished=2, running=3)
    epic = camp.keys["demo-w47"] if "demo-w47" in camp.keys else None

    # tick 1: all running
    first = camp.run("sync")
    assert first.exit_code == 0, first.output
    assert "Synced 3 runs in 1 campaigns: 3 changed" in first.stderr
    for key in (key_a, key_b, key_c):
        assert len(camp.comments(key, "status")) == 1
        assert "*RUNNING*" in camp.comments(key, "status")[0]

    # nothing new: nothing written, one monitor request
    writes, monitor = camp.tracker_writes(), len(camp.panda.log)
    jira_requests = len(camp.fake.log) if camp.fake else 0
    idle = camp.run("sync")
    assert idle.exit_code == 0 and "0 changed, wrote 0 updates" in idle.stderr
    assert camp.tracker_writes() == writes and len(camp.panda.log) == monitor + 1
    if camp.fake:  # the epic search and the digest download: 3 requests in all with the monitor's one
        idle_paths = [r["path"] for r in camp.fake.log[jira_requests:]]
        assert len(idle_paths) == 2 and "attachment" in idle_paths[1], idle_paths

    # tick 2: A ends with some failures, B fails, C is held
    camp.panda.progress(runs[0]["run_name"], "isr", finished=8, failed=2, running=0, status="finished", error=OOM)
    camp.panda.progress(runs[0]["run_name"], "calibrate", finished=10, status="done")
    camp.panda.set_status(runs[0]["run_name"], "SubFinished")
    camp.panda.progress(runs[1]["run_name"], "isr", failed=8, status="failed",
                        error={"exeerrorcode": 65, "exeerrordiag": "pipetask {noformat} h1. boom"})
    camp.panda.set_status(runs[1]["run_name"], "Failed")
    camp.panda.progress(runs[2]["run_name"], "isr", status="exhausted")
    tick = camp.run("sync")
    assert tick.exit_code == 0, tick.output
    assert camp.ticket(key_a)[0] == "Blocked" and camp.ticket(key_b)[0] in ("Failed", "Blocked")
    assert camp.ticket(key_c)[0] == "Blocked"
    assert f"Attention: {key_a}" in tick.stderr
    [summary] = camp.comments(key_a, "failures")
    assert camp.says("*2* x isr {{pilot:1305}} \\(also transformation:137\\)", "**2** x isr `pilot:1305` (also transformation:137)") in summary
    assert camp.says("Known: The job ran out of memory. *rescue*", "Known: The job ran out of memory. **rescue**") in summary
    assert camp.says("\\[x\\|javascript:alert\\(1\\)\\]", "\\[x\\|javascript:alert(1)\\]") in summary  # not a link
    assert "[job 70000" in summary
    assert camp.says("[stdout|https://storage.googleapis.com/", "[stdout](https://storage.googleapis.com/") in summary
    [unknown] = camp.comments(key_b, "failures")
    assert "Unknown error: needs review" in unknown and camp.says("\\{noformat\\}", "{noformat}") in unknown
    assert camp.says("*Next:* review \\(1 error\\)", "**Next:** review (1 error)") in unknown
    assert len(camp.comments(key_a, "status")) == 1 and "*PARTIAL*" in camp.comments(key_a, "status")[0]
    assert "*HELD*" in camp.comments(key_c, "status")[0]

    # tick 3: C resumes and finishes
    camp.panda.progress(runs[2]["run_name"], "isr", finished=10, running=0, status="done")
    camp.panda.progress(runs[2]["run_name"], "calibrate", finished=10, status="done")
    camp.panda.set_status(runs[2]["run_name"], "Finished")
    done = camp.run("sync")
    assert done.exit_code == 0, done.output
    assert camp.ticket(key_c)[0] == "Done" and "*SUCCEEDED*" in camp.comments(key_c, "status")[0]
    assert len(camp.comments(key_a, "failures")) == 1  # unchanged failures: no new summary

    # the epic roll-up, kept in one comment
    epic_key = next(k for k in camp.all_keys() if camp.ticket(k)[1].get("type") == "campaign") if epic is None else epic
    [roll] = camp.comments(epic_key, "rollup")
    assert camp.says("||Step||Submissions||Not submitted||Succeeded||Partial||Failed||Files||Done||Failed||",
                     "| Step | Submissions | Not submitted | Succeeded | Partial | Failed | Files | Done | Failed |") in roll
    assert camp.says("|step1|3|0|1|1|1|60|40|10|", "| step1 | 3 | 0 | 1 | 1 | 1 | 60 | 40 | 10 |") in roll
    assert camp.says("|step2|3|3|0|0|0|0|0|0|", "| step2 | 3 | 3 | 0 | 0 | 0 | 0 | 0 | 0 |") in roll

    # every run is final now: nothing left to ask the monitor
    writes, monitor = camp.tracker_writes(), len(camp.panda.log)
    last = camp.run("sync")
    assert last.exit_code == 0 and "Synced 0 runs" in last.stderr
    assert camp.tracker_writes() == writes and len(camp.panda.log) == monitor
