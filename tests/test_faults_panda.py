"""PanDA truth under sync and `panda`: a run's state is a function of the monitor's data (not of which
requests a pass made), what was read is kept when the rest cannot be, and failure summaries count
final failures apart from retried attempts. Driven through the CLI against the fake monitor and the
local store or a fake JIRA."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from jiracampaign.cli import cli
from tests.conftest import campaign_fixture
from tests.fakes.panda_server import FakeBigPanda
from tests.test_cli_sync import Campaign
from tests.test_cli_sync_cases import running

IDLE_SYNCS = 4


camp = campaign_fixture("local", "cloud", "datacenter")


local_camp = campaign_fixture("local")


def transitions(camp, key) -> int:
    if camp.fake:
        return len([r for r in camp.fake.log if r["method"] == "POST" and r["path"].endswith(f"/{key}/transitions")])
    import sqlite3

    db = sqlite3.connect(camp.tmp / "store.sqlite")
    return db.execute("SELECT COUNT(*) FROM history WHERE key = ?", (key,)).fetchone()[0]


@pytest.mark.parametrize("task_status, shows", [("exhausted", "Blocked"), ("paused", "Blocked"),
                                                 ("scouting", "In Progress")])
def test_a_state_only_the_task_list_shows_survives_idle_syncs(camp, task_status, shows):
    """Held (a task exhausted or paused) and pending (tasks scouting) are learned from the task list,
    which an idle sync does not read: the state must stay what the monitor's data says."""
    runs = running(camp)
    name = runs[0]["run_name"]
    key = camp.keys["demo-w47_step1_001"]
    camp.panda.progress(name, "isr", status=task_status)
    camp.panda.progress(name, "calibrate", status=task_status)
    seen = camp.run("sync")
    assert seen.exit_code == 0 and "1 changed" in seen.stderr, seen.output
    state = "held" if shows == "Blocked" else "pending"
    assert f"{key}: running -> {state}" in seen.stdout
    status, _, _, _ = camp.ticket(key)
    assert status == shows
    comments, moves, writes = len(camp.comments(key, "status")), transitions(camp, key), camp.tracker_writes()
    for _ in range(IDLE_SYNCS):  # nothing changes on PanDA
        idle = camp.run("sync")
        assert idle.exit_code == 0 and "0 changed" in idle.stderr, idle.output
        assert camp.ticket(key)[0] == shows
    assert (len(camp.comments(key, "status")), transitions(camp, key), camp.tracker_writes()) == (comments, moves, writes)
    status_note = camp.comments(key, "status")[0]
    assert state.upper() in status_note


def test_the_state_follows_the_monitor_when_the_task_moves_on(local_camp):
    runs = running(local_camp)
    name, key = runs[0]["run_name"], local_camp.keys["demo-w47_step1_001"]
    local_camp.panda.progress(name, "isr", status="exhausted")
    assert "1 changed" in local_camp.run("sync").stderr
    assert local_camp.ticket(key)[0] == "Blocked"
    local_camp.panda.progress(name, "isr", status="running", finished=4)  # the operator resumed it
    assert "1 changed" in local_camp.run("sync").stderr
    assert local_camp.ticket(key)[0] == "In Progress"
    assert "0 changed" in local_camp.run("sync").stderr and local_camp.ticket(key)[0] == "In Progress"


def test_held_state_is_kept_while_task_details_are_deferred(local_camp):
    """The task list cannot be read (the monitor fails on it): the row changed, the state stays held."""
    runs = running(local_camp)
    name, key = runs[0]["run_name"], local_camp.keys["demo-w47_step1_001"]
    local_camp.panda.progress(name, "isr", status="exhausted")
    assert "1 changed" in local_camp.run("sync").stderr
    local_camp.panda.progress(name, "calibrate", finished=5, running=2)  # the row moves on
    local_camp.panda.inject("/tasks/", "503", times=10)
    partial = local_camp.run("--set", "panda.max_retries=0", "sync")
    assert partial.exit_code == 7, partial.output
    assert "Deferred:" in partial.stderr and "task details deferred" in partial.stderr
    assert local_camp.ticket(key)[0] == "Blocked"
    local_camp.panda.faults.clear()
    caught_up = local_camp.run("sync")
    assert caught_up.exit_code == 0 and local_camp.ticket(key)[0] == "Blocked"
    assert "5" in local_camp.comments(key, "status")[0]  # the calibrate progress is shown once read


# ---- nothing learned is thrown away (`panda`) ----------------------------------------------------------
RUN = "u_jdoe_DM-4242_step1_20261124T101010Z"
OOM = {"piloterrorcode": 1305, "piloterrordiag": "Failed to execute payload: killed (out of memory)"}


@pytest.fixture
def monitor(fake_panda, monkeypatch):
    monkeypatch.setenv("JIRACAMPAIGN_PANDA_MONITOR_URL", fake_panda.url)
    fake_panda.add_run(RUN, {"isr": 100, "calibrate": 100})
    fake_panda.progress(RUN, "isr", finished=95, failed=5, status="finished", error=OOM, logs="harvester")
    fake_panda.progress(RUN, "calibrate", finished=40, running=10)
    return fake_panda


def test_panda_prints_what_it_read_when_the_budget_runs_out_midway(runner, monitor):
    result = runner.invoke(cli, ["--set", "panda.requests_per_hour=2", "panda", RUN])
    assert result.exit_code == 7, result.output
    out = result.stdout
    assert f"{RUN}  RUNNING (Transforming)" in out and "files: 200 total, 135 done, 5 failed, 10 running, 60 left" in out
    assert "failure details deferred (PanDA request budget)" in out
    assert "not read this time: failure details" in out
    assert f"Deferred: {RUN}: failure details deferred (PanDA request budget)" in result.stderr
    assert "Traceback" not in result.output


def test_panda_keeps_the_failures_when_an_optional_log_link_lookup_is_refused(runner, monitor):
    monitor.inject(r"^/job/\d+/$", "429", times=50, retry_after="1")
    result = runner.invoke(cli, ["--set", "panda.max_retries=0", "panda", RUN])
    assert result.exit_code == 7, result.output
    assert "5 x isr pilot:1305: Failed to execute payload: killed (out of memory)" in result.stdout
    assert "not read this time: log links" in result.stdout
    assert "log links deferred (PanDA monitor at" in result.stderr and "HTTP 429" in result.stderr
    assert len(monitor.requests(r"^/job/")) == 1  # after the refusal no more optional lookups are tried


def test_panda_json_marks_what_was_deferred(runner, monitor):
    data = json.loads(runner.invoke(cli, ["--set", "panda.requests_per_hour=2", "panda", RUN, "--json"]).stdout)
    assert data[0]["complete"] is False and data[0]["deferred"] == ["failure details"]
    assert data[0]["failed"] == 5 and data[0]["failures"] == []


# ---- what is unknown is said so (item 14) ------------------------------------------------------------------
def test_a_2022_run_without_its_tasks_says_the_split_is_unknown(runner, monkeypatch):
    fake = FakeBigPanda(shape="legacy").start()
    try:
        monkeypatch.setenv("JIRACAMPAIGN_PANDA_MONITOR_URL", fake.url)
        name = "u_jdoe_w_2022_04_20220127t205042z"
        created = datetime.now(timezone.utc) - timedelta(days=3)
        fake.runs.append({"request_id": 777, "r_status": "subfinished", "created_at": created.strftime("%Y-%m-%d %H:%M:%S"),
                          "total_tasks": 3, "tasks_statuses": {"Finished": 2, "Failed": 1}, "remaining_files": 0,
                          "processed_files": 34501, "processing_files": 0, "total_files": 34501,
                          "tasks_links": {"Finished": "1|2", "Failed": "3"}, "tasks_links_all": "1|2|3", "r_name": name,
                          "username": "Not set", "_verbatim": True})  # the monitor no longer lists its tasks
        result = runner.invoke(cli, ["panda", name])
        assert result.exit_code == 0, result.output
        assert "files: 34501 total, 34501 processed (done and failed not told apart by the source), 0 running, 0 left" \
            in result.stdout
        assert "done, 0 failed" not in result.stdout and "how many of them failed is unknown" in result.stdout
        [data] = json.loads(runner.invoke(cli, ["panda", name, "--json"]).stdout)
        assert (data["processed"], data["finished"], data["failed"]) == (34501, None, None)
    finally:
        fake.stop()


def test_an_old_run_is_found_from_the_time_in_its_name(runner, fake_panda, monkeypatch):
    monkeypatch.setenv("JIRACAMPAIGN_PANDA_MONITOR_URL", fake_panda.url)
    when = datetime.now(timezone.utc) - timedelta(days=200)
    name = f"u_jdoe_DM-1_step1_{when.strftime('%Y%m%dT%H%M%S')}Z".lower()  # the 2022 monitor lower-cased names
    fake_panda.add_run(name, {"isr": 4}, created=when + timedelta(minutes=1), status="Finished")
    fake_panda.progress(name, "isr", finished=4, status="done")
    result = runner.invoke(cli, ["panda", name.upper()])
    assert result.exit_code == 0, result.output
    assert "SUCCEEDED" in result.stdout and int(fake_panda.requests("/idds/wfprogress/")[0]["query"]["days"]) >= 200


# ---- failure summaries that tell the truth (items 12, 13, 15) ----------------------------------------------
def test_failure_summary_counts_final_failures_and_lists_retried_attempts_apart(local_camp, write):
    runs = running(local_camp)
    name, key = runs[0]["run_name"], local_camp.keys["demo-w47_step1_001"]
    table = write("known.yaml", """
        - error: "exe:137"
          meaning: Killed by the batch system.
          action: rescue
          advice: Rescue with more memory.
        - error: "pilot:1099"
          meaning: Stage-in failed.
          action: retry
          advice: Retry.
        """)
    killed = {"exeerrorcode": 137, "exeerrordiag": "", "transexitcode": "137"}
    local_camp.panda.progress(name, "isr", finished=7, failed=1, error=killed)
    local_camp.panda.progress(name, "calibrate", finished=10, failed=0, retried=5,
                              error={"piloterrorcode": 1099, "piloterrordiag": "Failed to stage-in file"})
    result = local_camp.run("--set", f"sync.known_errors={table}", "sync")
    assert result.exit_code == 0, result.output
    [summary] = local_camp.comments(key, "failures")
    assert "1 failed jobs, 1 distinct errors" in summary
    assert "**1** x isr `exe:137` (also transformation:137)" in summary
    assert "Known: Killed by the batch system. **rescue**" in summary
    assert "Retried: 5 failed attempts were retried" in summary
    assert "**5** x calibrate `pilot:1099`: Failed to stage-in file" in summary
    assert "**Next:** rescue (1 error)" in summary and "retry (" not in summary


def test_a_transformation_failure_keeps_its_text_and_old_table_keys_still_match(local_camp, write):
    runs = running(local_camp)
    name, key = runs[0]["run_name"], local_camp.keys["demo-w47_step1_001"]
    table = write("known.yaml", """
        - error: "transform:1"
          meaning: The pipeline raised.
          action: investigate
          advice: Read the log.
        """)
    local_camp.panda.progress(name, "isr", finished=8, failed=2,
                              error={"transexitcode": "1", "_transdiag": "lsst.pipe.base.NoWorkFound: calexp 1234"})
    assert local_camp.run("--set", f"sync.known_errors={table}", "sync").exit_code == 0
    [summary] = local_camp.comments(key, "failures")
    assert "**2** x isr `transformation:1`: lsst.pipe.base.NoWorkFound: calexp 1234" in summary
    assert "no diagnostic" not in summary and "Known: The pipeline raised. **investigate**" in summary


def test_errors_differing_only_in_ids_do_not_start_a_new_summary(local_camp):
    runs = running(local_camp)
    name, key = runs[0]["run_name"], local_camp.keys["demo-w47_step1_001"]
    local_camp.panda.progress(name, "isr", failed=1, error={"piloterrorcode": 1305, "piloterrordiag": "worker 0x7f3a lost 5812"})
    assert local_camp.run("sync").exit_code == 0
    local_camp.panda.progress(name, "isr", failed=3, error={"piloterrorcode": 1305, "piloterrordiag": "worker 0x9b2c lost 7001"})
    assert local_camp.run("sync").exit_code == 0
    [summary] = local_camp.comments(key, "failures")  # edited in place: the same error, more of it
    assert "3 failed jobs, 1 distinct errors" in summary


@pytest.fixture(params=["local", "datacenter"])
def any_camp(request, runner, tmp_path, monkeypatch):
    c = Campaign(request.param, runner, tmp_path, monkeypatch)
    yield c
    c.close()


def test_bare_urls_in_diagnostics_do_not_become_links(any_camp):
    runs = running(any_camp)
    name, key = runs[0]["run_name"], any_camp.keys["demo-w47_step1_001"]
    diag = "see https://evil.example/steal?x=1 or www.evil.example and mailto:a@evil.example"
    any_camp.panda.progress(name, "isr", failed=1, error={"piloterrorcode": 1305, "piloterrordiag": diag})
    assert any_camp.run("sync").exit_code == 0
    [summary] = any_camp.comments(key, "failures")
    assert "https:\u200b//evil.example" in summary and "www\u200b.evil" in summary and "mailto:\u200ba@" in summary
    for bare in ("https://evil", "www.evil", "mailto:a@"):
        assert bare not in summary
    assert f"{any_camp.panda.url}/job?pandaid=" in summary  # real links stay links
