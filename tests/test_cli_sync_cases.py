"""`submit`, `record` and `sync` beyond the happy path: faults, outages, a failed bps, hand edits,
runs recorded by hand, dry runs, the lock, a lost digest and the known-errors table."""

from __future__ import annotations

import json

import pytest

from jiracampaign.config import data_dir
from jiracampaign.locks import hold as sync_lock
from tests.conftest import campaign_fixture
from tests.test_cli_sync import DEMO, OOM


jira_camp = campaign_fixture("cloud", "datacenter")


local_camp = campaign_fixture("local")


def running(camp) -> list[dict]:
    """Create the demo, submit step1, put its three runs on the monitor and sync once."""
    camp.create()
    assert camp.run("submit", str(DEMO), "--step", "step1").exit_code == 0
    runs = camp.submitted()
    for run in runs:
        camp.panda.add_run(run["run_name"], {"isr": 10, "calibrate": 10}, request_id=run["run_id"])
        camp.panda.progress(run["run_name"], "isr", finished=2, running=3)
    for _ in range(3):  # JIRA Cloud's search shows a new epic after a delay: the next scheduled sync finds it
        result = camp.run("sync")
        assert result.exit_code == 0, result.output
        if "in 1 campaigns" in result.stderr:
            return runs
    raise AssertionError("sync never saw the campaign")


def fail_some(camp, runs) -> None:
    camp.panda.progress(runs[0]["run_name"], "isr", finished=8, failed=2, status="finished", error=OOM)
    camp.panda.set_status(runs[0]["run_name"], "SubFinished")
    camp.panda.progress(runs[1]["run_name"], "isr", finished=5, running=5)


@pytest.mark.parametrize("method, path, kind", [
    ("POST", r"/comment$", "429"), ("POST", r"/comment$", "lost"), ("PUT", r"/comment/\d+$", "503"),
    ("PUT", r"/properties/jiracampaign.sync$", "lost"), ("POST", r"/transitions$", "lost"), ("POST", r"/attachments$", "500"),
])
def test_jira_faults_during_sync_leave_one_comment_each(jira_camp, method, path, kind):
    runs = running(jira_camp)
    fail_some(jira_camp, runs)
    jira_camp.fake.inject(method, path, kind, times=1)
    result = jira_camp.run("sync")
    assert result.exit_code == 0, result.output
    key_a, key_b = (jira_camp.keys[f"demo-w47_step1_00{i}"] for i in (1, 2))
    assert jira_camp.ticket(key_a)[0] == "Blocked"
    for key in (key_a, key_b):
        assert len(jira_camp.comments(key, "status")) == 1
    assert len(jira_camp.comments(key_a, "failures")) == 1
    writes = jira_camp.tracker_writes()
    assert "0 changed" in jira_camp.run("sync").stderr and jira_camp.tracker_writes() == writes


def test_monitor_outage_changes_nothing_and_the_next_sync_catches_up(local_camp):
    runs = running(local_camp)
    fail_some(local_camp, runs)
    local_camp.panda.inject("/idds/wfprogress/", "503", times=10)
    writes = local_camp.tracker_writes()
    down = local_camp.run("--set", "panda.max_retries=1", "sync")
    assert down.exit_code == 1
    assert "Problem: panda: PanDA monitor failed on GET /idds/wfprogress/ with HTTP 503 after 2 attempts" in down.stderr
    assert local_camp.tracker_writes() == writes
    local_camp.panda.faults.clear()
    local_camp.panda.inject("/idds/wfprogress/", "dbfail")  # the monitor's [] : unknown, not "no runs"
    empty = local_camp.run("sync")
    assert empty.exit_code == 0 and "database query probably failed" in empty.stderr
    assert local_camp.tracker_writes() == writes
    back = local_camp.run("sync")
    assert back.exit_code == 0 and "2 changed" in back.stderr
    assert local_camp.ticket(local_camp.keys["demo-w47_step1_001"])[0] == "Blocked"


def test_failed_bps_submit_leaves_the_ticket_and_comments_the_error(local_camp):
    local_camp.create()
    local_camp.env["FAKE_BPS_FAIL"] = "step1_002"
    result = local_camp.run("submit", str(DEMO), "--step", "step1", "--json")
    assert result.exit_code == 1
    rows = {r["id"]: r for r in json.loads(result.stdout)}
    assert rows["demo-w47_step1_002"]["action"] == "failed"
    assert "MissingCollectionError: Collection 'Toy/defaults' not found" in rows["demo-w47_step1_002"]["detail"]
    status, meta, _, comments = local_camp.ticket(local_camp.keys["demo-w47_step1_002"])
    assert status == "To Do" and "run" not in meta
    assert "failed (exit status 1); the ticket stays as it was" in comments[-1] and "Traceback" in comments[-1]
    assert local_camp.ticket(local_camp.keys["demo-w47_step1_001"])[0] == "In Progress"


def test_last_minute_edit_is_attached_and_diffed_before_submitting(jira_camp):
    jira_camp.create()
    path = jira_camp.tmp / "work" / "camps" / "demo-w47" / "step1" / "demo-w47_step1_001.yaml"
    path.write_text(path.read_text().replace("requestMemory: 4096", "requestMemory: 8192"))
    assert jira_camp.run("submit", jira_camp.keys["demo-w47_step1_001"]).exit_code == 0
    issue = jira_camp.fake.issue(jira_camp.keys["demo-w47_step1_001"])
    [attachment] = [a for a in issue.attachments if a["filename"] == path.name]
    assert b"requestMemory: 8192" in attachment["data"]
    comment = next(c["body"] for c in issue.comments if "was edited after it was planned" in c["body"])
    assert "-requestMemory: 4096\n+requestMemory: 8192" in comment
    assert jira_camp.submitted()[0]["file"] == str(path.resolve())


def test_record_links_a_run_submitted_by_hand_and_sync_follows_it(local_camp):
    local_camp.create()
    key = local_camp.keys["demo-w47_step1_003"]
    result = local_camp.run("record", key, "--run-name", "u_jdoe_by_hand_20261124T000000Z", "--run-id", "777")
    assert result.exit_code == 0, result.output
    status, meta, text, _ = local_camp.ticket(key)
    assert status == "In Progress" and meta["run"]["run_id"] == "777" and "`panda 777`" in text
    local_camp.panda.add_run("u_jdoe_by_hand_20261124T000000Z", {"isr": 4}, request_id=777, status="Finished")
    local_camp.panda.progress("u_jdoe_by_hand_20261124T000000Z", "isr", finished=4, status="done")
    assert "1 changed" in local_camp.run("sync").stderr
    assert local_camp.ticket(key)[0] == "Done"


def test_dry_run_lists_the_writes_and_makes_none(local_camp):
    runs = running(local_camp)
    fail_some(local_camp, runs)
    writes = local_camp.tracker_writes()
    dry = local_camp.run("sync", "--dry-run")
    assert dry.exit_code == 0
    key = local_camp.keys["demo-w47_step1_001"]
    assert f"{key}: running -> partial: set state partial" in dry.stdout
    assert f"{key}: failure summary (2 failed jobs, 1 errors)" in dry.stdout
    assert "would write" in dry.stderr and local_camp.tracker_writes() == writes
    assert "2 changed" in local_camp.run("sync").stderr  # the dry run left everything to do


def test_a_second_sync_is_skipped_while_one_holds_the_lock(local_camp):
    running(local_camp)
    monitor = len(local_camp.panda.log)
    with sync_lock(data_dir() / "sync.lock") as held:
        assert held
        result = local_camp.run("sync")
    assert result.exit_code == 0 and "Another jiracampaign sync holds" in result.stderr
    assert len(local_camp.panda.log) == monitor


def test_lost_digest_is_rebuilt_from_the_tickets_without_duplicates(jira_camp):
    runs = running(jira_camp)
    epic = next(i for i in jira_camp.fake.issues.values() if "jc-epic" in i.fields["labels"])
    epic.attachments.clear()
    for issue in jira_camp.fake.issues.values():
        issue.hidden_for = 0  # Cloud's search index has caught up with the tickets created a while ago
    fail_some(jira_camp, runs)
    assert jira_camp.run("sync").exit_code == 0
    key = jira_camp.keys["demo-w47_step1_001"]
    assert len(jira_camp.comments(key, "status")) == 1 and jira_camp.ticket(key)[0] == "Blocked"
    assert [a["filename"] for a in epic.attachments] == ["jiracampaign-sync.json.gz"]


def test_user_known_errors_come_first_and_bad_ones_name_file_and_line(local_camp, write):
    runs = running(local_camp)
    table = write("known.yaml", """
        - label: isr
          error: "pilot:1305"
          meaning: Known pipeline bug in ISR.
          action: accept
          advice: Accept the loss.
          ticket: DM-12345
        """)
    fail_some(local_camp, runs)
    assert local_camp.run("--set", f"sync.known_errors={table}", "sync").exit_code == 0
    [summary] = local_camp.comments(local_camp.keys["demo-w47_step1_001"], "failures")
    assert "Known: Known pipeline bug in ISR. **accept**: Accept the loss. (see DM-12345)" in summary
    bad = write("bad.yaml", """
        - error: "pilot:*"
          meaning: x
          action: panic
          advice: y
        """)
    result = local_camp.run("--set", f"sync.known_errors={bad}", "sync")
    assert result.exit_code == 3
    assert f"{bad}:3: [0].action: expected one of 'rescue', 'retry', 'accept', 'investigate', got 'panic'" in result.stderr


def test_runs_without_a_status_source_are_reported_unknown_not_failed(local_camp):
    local_camp.create()
    key = local_camp.keys["demo-w47_step1_001"]
    panda_only = ("--set", "sync.sources=panda")
    assert local_camp.run(*panda_only, "record", key, "--run-name", "u_jdoe_condor_1", "--wms", "htcondor").exit_code == 0
    result = local_camp.run(*panda_only, "sync")
    assert result.exit_code == 0
    assert f"Unknown: {key} u_jdoe_condor_1: no status source follows 'htcondor' runs (sync.sources: panda)" in result.stderr


def test_htcondor_runs_without_a_submit_dir_say_what_to_record(local_camp):
    """The default sources follow HTCondor runs through BPS, which reads them from their submit directory."""
    local_camp.create()
    key = local_camp.keys["demo-w47_step1_001"]
    assert local_camp.run("record", key, "--run-name", "u_jdoe_condor_1", "--wms", "htcondor").exit_code == 0
    result = local_camp.run("sync")
    assert result.exit_code == 0
    assert f"Unknown: {key} u_jdoe_condor_1: its submit directory is not recorded" in result.stderr
    assert "--submit-dir" in result.stderr and "0 need attention" in result.stderr


def test_watch_repeats_until_interrupted(local_camp, monkeypatch):
    running(local_camp)
    import time

    passes = []

    def stop(seconds):
        passes.append(seconds)
        if len(passes) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", stop)
    result = local_camp.run("sync", "--watch", "60")
    assert result.exit_code == 130 and passes == [60, 60]
    assert result.stderr.count("Synced 3 runs") == 2


def test_a_submit_without_a_readable_digest_keeps_earlier_runs(local_camp):
    import sqlite3

    local_camp.create()
    first = local_camp.keys["demo-w47_step1_001"]
    assert local_camp.run("record", first, "--run-name", "u_jdoe_by_hand_1", "--run-id", "900").exit_code == 0
    db = sqlite3.connect(local_camp.tmp / "store.sqlite")
    with db:
        db.execute("DELETE FROM attachments WHERE filename = 'jiracampaign-sync.json.gz'")
    assert local_camp.run("submit", local_camp.keys["demo-w47_step1_002"]).exit_code == 0
    result = local_camp.run("sync", "--dry-run")
    assert "Synced 2 runs in 1 campaigns" in result.stderr
