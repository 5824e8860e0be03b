"""PanDA truth under sync and `panda`: a run's state is a function of the monitor's data (not of which
requests a pass made), what was read is kept when the rest cannot be, and failure summaries count
final failures apart from retried attempts. Driven through the CLI against the fake monitor and the
local store or a fake JIRA."""

from __future__ import annotations

import json

import pytest

from tests.test_cli_sync import Campaign
from tests.test_cli_sync_cases import running

IDLE_SYNCS = 4


@pytest.fixture(params=["local", "cloud", "datacenter"])
def camp(request, runner, tmp_path, monkeypatch):
    c = Campaign(request.param, runner, tmp_path, monkeypatch)
    yield c
    c.close()


@pytest.fixture
def local_camp(runner, tmp_path, monkeypatch):
    c = Campaign("local", runner, tmp_path, monkeypatch)
    yield c
    c.close()


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
