"""`rescue`, `accept`, `reject` and `force-complete` end to end through the fakes: the demo campaign on the
fake PanDA monitor with the stand-in bps, in the local store and on fake JIRA Cloud and Data Center."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml

from jiracampaign.cli import cli
from tests.conftest import campaign_fixture
from tests.test_cli_sync import OOM

camp = campaign_fixture("local", "cloud", "datacenter")
jira_camp = campaign_fixture("cloud", "datacenter")  # faults are injected at the fake JIRA server

FOLDER = Path("camps") / "demo-w47"


def links(camp, key: str) -> list[tuple[str, str]]:
    """``(relation, other)`` of the links going out of ``key`` ("rescues"), as the tracker stores them."""
    if camp.fake:
        # JIRA shows the outward description on the inward issue's page: the new attempt is the inward one
        return [("rescues" if "escue" in link["type"] else link["type"], link["outward"])
                for link in camp.fake.links if link["inward"] == key]
    db = sqlite3.connect(camp.tmp / "store.sqlite")
    return list(db.execute("SELECT relation, other FROM links WHERE key = ?", (key,)))


def state_of(camp, key: str) -> tuple[str, bool]:
    """(what the ticket shows, whether it is closed/done)."""
    status = camp.ticket(key)[0]
    if camp.fake:
        return status, status in ("Done", "Cancelled")
    db = sqlite3.connect(camp.tmp / "store.sqlite")
    closed = bool(db.execute("SELECT closed FROM tickets WHERE key = ?", (key,)).fetchone()[0])
    return status, closed or status == "Done"


def start(camp):
    """step1 submitted; A partial (isr out of memory), B succeeded, C failed (isr out of memory); synced."""
    camp.create()
    assert camp.run("submit", str(camp_demo()), "--step", "step1").exit_code == 0
    runs = camp.submitted()
    keys = [camp.keys[f"demo-w47_step1_00{i}"] for i in (1, 2, 3)]
    for run in runs:
        camp.panda.add_run(run["run_name"], {"isr": 10, "calibrate": 10}, request_id=run["run_id"])
    a, b, c = (r["run_name"] for r in runs)
    camp.panda.progress(a, "isr", finished=8, failed=2, status="finished", error=OOM)
    camp.panda.progress(a, "calibrate", finished=8, status="done")
    camp.panda.set_status(a, "SubFinished")
    for label in ("isr", "calibrate"):
        camp.panda.progress(b, label, finished=10, status="done")
    camp.panda.set_status(b, "Finished")
    camp.panda.progress(c, "isr", failed=10, status="failed", error=OOM)
    camp.panda.set_status(c, "Failed")
    sync(camp)
    return keys, runs


def sync(camp):
    """One scheduled sync that sees the campaign (on Cloud, a new epic shows in searches after a lag)."""
    for _ in range(3):
        synced = camp.run("sync")
        assert synced.exit_code == 0, synced.output
        if "in 0 campaigns" not in synced.stderr:
            return synced
    raise AssertionError(synced.stderr)


def camp_demo():
    from tests.test_cli_create import DEMO
    return DEMO


def test_rescue_with_more_memory_then_success_closes_both_and_counts_the_group_once(camp):
    (a, b, c), runs = start(camp)
    [summary] = camp.comments(a, "failures")
    assert f"jiracampaign rescue {a} --memory x2 --task isr" in summary.replace("\\", "")  # sync posts the advice

    result = camp.run("rescue", a, "--memory", "x2", "--json")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    new = row["new_key"]
    assert row["action"] == "prepared" and row["attempt"] == 2 and row["new_id"] == "demo-w47_step1_001-a2"
    path = FOLDER / "step1" / "demo-w47_step1_001-a2.yaml"
    data = yaml.safe_load(path.read_text())
    assert data["pipetask"]["isr"]["requestMemory"] == 8192  # the file asked 4096 for every task
    assert data["payload"]["outputRun"] == "u/jdoe/demo-w47/step1/group001/attempt2"
    assert data["payload"]["output"] == "u/jdoe/demo-w47/step1/group001"
    assert data["uniqProcName"] == "u_jdoe_demo-w47_step1_group001_attempt2"
    assert data["extraQgraphOptions"] == "--skip-existing-in u/jdoe/demo-w47/step1/group001/attempt1"
    status, meta, text, _ = camp.ticket(new)
    assert meta["attempt"] == 2 and meta["rescues"] == "demo-w47_step1_001" and "run" not in meta
    assert any("requestMemory: 4096 -> 8192" in c for c in meta["changes"])
    assert links(camp, new) == [("rescues", a)]
    [note] = camp.comments(a, "rescue-a2")
    assert new in note.replace("\\", "")
    attached = [t for t in camp.tickets() if t[0] == new][0][4]
    assert attached == ["demo-w47_step1_001-a2.yaml"]

    count = len(camp.tickets())
    again = camp.run("rescue", a, "--memory", "x2", "--json")  # a re-run creates nothing twice
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)[0]["new_key"] == new and len(camp.tickets()) == count
    assert links(camp, new) == [("rescues", a)] and len(camp.comments(a, "rescue-a2")) == 1

    not_latest = camp.run("rescue", a)
    assert not_latest.exit_code != 0 or json.loads(camp.run("rescue", a, "--json").stdout)[0]["new_key"] == new

    submitted = camp.run("submit", new)
    assert submitted.exit_code == 0, submitted.output
    run2 = camp.submitted()[-1]
    assert run2["run_name"] == "u_jdoe_demo-w47_step1_group001_attempt2"
    assert Path(run2["cwd"]).name == "demo-w47_step1_001-a2"
    camp.panda.add_run(run2["run_name"], {"isr": 10, "calibrate": 10}, request_id=run2["run_id"])
    for label in ("isr", "calibrate"):
        camp.panda.progress(run2["run_name"], label, finished=10, status="done")
    camp.panda.set_status(run2["run_name"], "Finished")
    synced = camp.run("sync")
    assert synced.exit_code == 0, synced.output
    assert state_of(camp, new)[1] and state_of(camp, a)[1]  # its success closes both tickets
    assert "rescued" in camp.comments(a, "verdict")[0].lower()
    epic = next(t[0] for t in camp.tickets() if (t[3] or {}).get("type") == "campaign")
    [roll] = camp.comments(epic, "rollup")
    # step1: 3 groups (not 4 submissions): group 1 by attempt 2 (succeeded), B succeeded, C failed
    table = roll.replace("|", " ").split()
    assert "step1" in table and table[table.index("step1") + 1] == "3", roll

    dry = camp.run("submit", str(camp_demo()), "--step", "step2", "--dry-run", "--json")
    assert dry.exit_code == 1 and c in dry.stdout and a not in dry.stdout.split("must wait until")[1]


def test_advised_rescues_several_failures_after_asking(camp):
    (a, b, c), runs = start(camp)
    shown = camp.runner.invoke(cli, [*camp.args, "rescue", "--campaign", "demo-w47", "--advised"], env=camp.env,
                               input="n\n")
    assert shown.exit_code == 0 and f"{a}" in shown.stderr and f"{c}" in shown.stderr and b not in shown.stderr
    assert "--memory x2 --task isr" in shown.stderr
    assert not (FOLDER / "step1" / "demo-w47_step1_001-a2.yaml").exists()  # declined: nothing written
    done = camp.run("rescue", "--campaign", "demo-w47", "--advised", "--yes", "--json")
    assert done.exit_code == 0, done.output
    rows = json.loads(done.stdout)
    assert sorted(r["key"] for r in rows) == sorted([a, c]) and {r["attempt"] for r in rows} == {2}
    for r in rows:
        data = yaml.safe_load((FOLDER / "step1" / f"{r['new_id']}.yaml").read_text())
        assert data["pipetask"]["isr"]["requestMemory"] == 8192


def test_bad_rescues_change_nothing(camp):
    (a, b, c), runs = start(camp)
    before = (len(camp.tickets()), camp.tracker_writes())
    cases = [(("rescue", b), "succeeded"),
             (("rescue", a, "--set", "requestMemroy=4096"), "did you mean 'requestMemory'"),
             (("rescue", a, "--set", "payload.outputRun=x"), "set by rescue itself"),
             (("rescue", a, "--memory", "x0.5"), "above 1"),
             (("rescue", a, "--failed-only"), "no provenance report"),
             (("accept", b), "nothing to accept"),
             (("reject", a), "--reason")]
    for args, says in cases:
        result = camp.run(*args)
        assert result.exit_code != 0 and says in result.output, (args, result.output)
    assert (len(camp.tickets()), camp.tracker_writes()) == before
    assert not list((FOLDER / "step1").glob("*-a2.yaml"))


def test_a_rescue_of_a_running_run_or_of_a_rescue_whose_predecessor_runs_is_refused(camp):
    camp.create()
    assert camp.run("submit", str(camp_demo()), "--step", "step1").exit_code == 0
    a = camp.keys["demo-w47_step1_001"]
    run = camp.submitted()[0]
    camp.panda.add_run(run["run_name"], {"isr": 10}, request_id=run["run_id"])
    camp.panda.progress(run["run_name"], "isr", finished=2, running=3)
    sync(camp)
    running = camp.run("rescue", a)
    assert running.exit_code != 0 and "still running" in running.output
    unsynced = camp.run("rescue", camp.keys["demo-w47_step1_002"])
    assert unsynced.exit_code != 0 and "not synced" in unsynced.output


def test_accept_reject_force_complete_are_recorded_and_gate_the_next_step(camp):
    (a, b, c), runs = start(camp)
    refused = camp.run("submit", str(camp_demo()), "--step", "step2", "--dry-run")
    assert refused.exit_code == 1 and a in refused.stdout and c in refused.stdout

    accepted = camp.run("accept", a, "--reason", "2 visits lost: fine for this test", "--json")
    assert accepted.exit_code == 0, accepted.output
    assert json.loads(accepted.stdout)[0]["verdict"] == "accepted"
    assert state_of(camp, a)[1]
    [note] = camp.comments(a, "verdict")
    assert "Accepted" in note and "2 visits lost" in note
    again = camp.run("accept", a, "--reason", "2 visits lost: fine for this test", "--json")
    assert json.loads(again.stdout)[0]["action"] == "unchanged" and len(camp.comments(a, "verdict")) == 1

    rejected = camp.run("reject", c, "--reason", "bad calibrations", "--json")
    assert rejected.exit_code == 0 and json.loads(rejected.stdout)[0]["verdict"] == "rejected"
    assert state_of(camp, c)[1]
    epic = next(t[0] for t in camp.tickets() if (t[3] or {}).get("type") == "campaign")
    [roll] = camp.comments(epic, "rollup")  # redrawn at once: the verdicts are columns of their own
    assert "Accepted" in roll and "Rejected" in roll, roll

    go = camp.run("submit", str(camp_demo()), "--step", "step2", "--dry-run", "--json")
    assert go.exit_code == 0, go.output  # accepted and rejected groups no longer hold step2
    # sync leaves settled runs alone: no transition back, nothing polled for them
    monitor = len(camp.panda.log)
    assert camp.run("sync", "--full").exit_code == 0
    assert state_of(camp, a)[1] and state_of(camp, c)[1]
    assert all(run["run_name"] not in json.dumps(r.get("query")) for r in camp.panda.log[monitor:]
               for run in (runs[0], runs[2]))

    later = camp.run("rescue", c, "--json")  # a rejected attempt can be rescued: it is not skipped from
    assert later.exit_code == 0, later.output
    data = yaml.safe_load((FOLDER / "step1" / "demo-w47_step1_003-a2.yaml").read_text())
    assert "extraQgraphOptions" not in data  # nothing to skip: its only earlier attempt was rejected


def test_force_complete_settles_a_running_run(camp):
    camp.create()
    assert camp.run("submit", str(camp_demo()), "--step", "step1").exit_code == 0
    a = camp.keys["demo-w47_step1_001"]
    run = camp.submitted()[0]
    camp.panda.add_run(run["run_name"], {"isr": 10}, request_id=run["run_id"])
    camp.panda.progress(run["run_name"], "isr", finished=9, running=1)
    sync(camp)
    no_reason = camp.run("force-complete", a)
    assert no_reason.exit_code != 0
    done = camp.run("force-complete", a, "--reason", "last job stuck at the site", "--json")
    assert done.exit_code == 0, done.output
    assert state_of(camp, a)[1]
    not_synced = camp.run("accept", camp.keys["demo-w47_step1_002"])
    assert not_synced.exit_code != 0 and "run 'jiracampaign sync' first" in not_synced.output
    assert camp.run("force-complete", a, "--reason", "last job stuck at the site").exit_code == 0  # again: no change
    assert len(camp.comments(a, "verdict")) == 1


def test_create_names_the_rescue_that_makes_a_changed_group_s_next_attempt(camp, tmp_path):
    (a, b, c), runs = start(camp)
    spec = tmp_path / "changed.yaml"
    spec.write_text(camp_demo().read_text().replace("requestMemory: 4096", "requestMemory: 6144"))
    changed = camp.run("create", str(spec))
    assert changed.exit_code == 0, changed.output
    assert f"jiracampaign rescue {a} --set requestMemory=6144" in changed.stderr
    made = camp.run("rescue", a, "--set", "requestMemory=6144", "--json")
    assert made.exit_code == 0, made.output
    new = json.loads(made.stdout)[0]["new_key"]
    data = yaml.safe_load((FOLDER / "step1" / "demo-w47_step1_001-a2.yaml").read_text())
    assert data["requestMemory"] == 6144
    again = camp.run("create", str(spec))
    assert again.exit_code == 0 and "no longer in the spec" not in again.stderr  # a later attempt is no orphan
    assert f"Changed after submit: {a}" not in again.stderr  # attempt 2 carries the change
    assert f"jiracampaign rescue {b} --set requestMemory=6144" in again.stderr  # the other groups still need one
    rows = {r["key"]: r["action"] for r in json.loads(camp.run("create", str(spec), "--json").stdout)}
    assert rows[a] == "unchanged"
    spec.write_text(camp_demo().read_text().replace("requestMemory: 4096", "requestMemory: 9000"))
    more = camp.run("create", str(spec))
    assert f"jiracampaign rescue {new} --set requestMemory=9000" in more.stderr  # the latest attempt is named


def test_restart_continues_the_same_run_and_sync_follows_it_again(camp):
    (a, b, c), runs = start(camp)
    tickets = len(camp.tickets())
    restarted = camp.run("rescue", a, "--restart", "--json")
    assert restarted.exit_code == 0, restarted.output
    [row] = json.loads(restarted.stdout)
    assert row["action"] == "restarted" and row["run_name"] == runs[0]["run_name"] and row["run_id"] != runs[0]["run_id"]
    [call] = [r for r in camp.submitted() if r.get("restart")]
    assert call["args"][:2] == ["--id", str(runs[0]["run_id"])]  # a PanDA run restarts by its run id
    assert call["args"][2:] == ["--wms-service-class", "lsst.ctrl.bps.panda.PanDAService"]
    assert Path(call["cwd"]).name == "demo-w47_step1_001-a1"  # from the folder it was submitted from
    status, meta, _, notes = camp.ticket(a)
    assert status == "In Progress" and meta["run"]["run_id"] == str(row["run_id"])
    assert any("Restarted with" in n for n in notes)
    assert len(camp.tickets()) == tickets  # no new ticket: the same attempt goes on
    camp.panda.add_run(runs[0]["run_name"], {"isr": 10, "calibrate": 10}, request_id=row["run_id"])
    for label in ("isr", "calibrate"):
        camp.panda.progress(runs[0]["run_name"], label, finished=10, status="done")
    camp.panda.set_status(runs[0]["run_name"], "Finished")
    sync(camp)
    assert camp.ticket(a)[0] == "Done"
    again = camp.run("rescue", b, "--restart")
    assert again.exit_code != 0 and "succeeded" in again.output


def test_a_crash_between_the_ticket_and_the_link_is_repaired_by_a_re_run(jira_camp):
    camp = jira_camp
    (a, b, c), runs = start(camp)
    tickets = len(camp.tickets())
    camp.fake.inject("POST", r"/issueLink$", "500", times=50)
    broken = camp.run("rescue", a, "--memory", "x2")
    assert broken.exit_code != 0 and "link tickets failed" in broken.output, broken.output
    assert len(camp.tickets()) == tickets + 1 and not camp.fake.links  # the ticket, no link
    camp.fake.faults.clear()
    repaired = camp.run("rescue", a, "--memory", "x2", "--json")
    assert repaired.exit_code == 0, repaired.output
    [row] = json.loads(repaired.stdout)
    assert len(camp.tickets()) == tickets + 1  # no second ticket
    assert links(camp, row["new_key"]) == [("rescues", a)] and len(camp.comments(a, "rescue-a2")) == 1
    again = camp.run("rescue", a, "--memory", "x2", "--json")
    assert json.loads(again.stdout)[0]["action"] == "unchanged" and len(camp.fake.links) == 1


def test_a_lost_answer_to_the_link_or_the_create_makes_nothing_twice(jira_camp):
    camp = jira_camp
    (a, b, c), runs = start(camp)
    tickets = len(camp.tickets())
    camp.fake.inject("POST", r"/issueLink$", "lost")
    camp.fake.inject("POST", r"/issue/bulk$|/issue$", "lost")
    done = camp.run("rescue", a, "--memory", "x2", "--json")
    assert done.exit_code == 0, done.output
    assert len(camp.tickets()) == tickets + 1 and len(camp.fake.links) == 1
