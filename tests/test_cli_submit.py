"""`submit` through the CLI with the stand-in `bps`: a run is never submitted twice from one file, bps
runs in a working folder of its own, with no jiracampaign secret in its environment, is checked once
before any ticket is touched, and the run's identity (no id for Parsl, start and return times) is
recorded as bps gave it."""

from __future__ import annotations

import json
import sys

import pytest

from jiracampaign.core.records import RunIdentity, record_from_json
from tests.conftest import campaign_fixture
from tests.test_cli_sync import DEMO, FAKE_BPS, Campaign


camp = campaign_fixture("local", "datacenter")


@pytest.fixture
def cloud_camp(runner, tmp_path, monkeypatch):
    c = Campaign("cloud", runner, tmp_path, monkeypatch)
    yield c
    c.close()


def folder(camp):
    return camp.tmp / "work" / "camps" / "demo-w47"


def test_force_never_resubmits_a_run_and_names_the_next_attempt_file(camp):
    camp.create()
    key = camp.keys["demo-w47_step1_001"]
    assert camp.run("submit", key).exit_code == 0
    before = camp.ticket(key)
    writes = camp.tracker_writes()
    result = camp.run("submit", key, "--force", "--json")
    assert result.exit_code == 1, result.output
    [row] = json.loads(result.stdout)
    assert row["action"] == "refused"
    assert "already submitted as u_jdoe_demo-w47_step1_group001_attempt1 (attempt 1)" in row["detail"]
    assert (f"'jiracampaign rescue {key}' prepares the next attempt (camps/demo-w47/step1/demo-w47_step1_001-a2.yaml"
            in row["detail"])
    assert "output run .../attempt2" in row["detail"]
    assert len(camp.submitted()) == 1 and camp.tracker_writes() == writes and camp.ticket(key) == before
    plain = camp.run("submit", key)  # without --force: skipped, as before
    assert plain.exit_code == 0 and "1 skipped" in plain.stderr


def test_bps_runs_in_a_working_folder_of_its_own_and_a_failed_try_does_not_block_the_next(camp):
    camp.create()
    camp.env.update({"FAKE_BPS_SUBMIT_DIR": "1", "FAKE_BPS_FAIL": "step1_002"})
    first = camp.run("submit", str(DEMO), "--step", "step1", "--json")
    assert first.exit_code == 1
    assert [r["action"] for r in json.loads(first.stdout)] == ["submitted", "failed", "submitted"]
    runs = folder(camp) / "runs"
    assert [r["cwd"] for r in camp.submitted()] == [str((runs / f"demo-w47_step1_00{i}-a1").resolve()) for i in (1, 3)]
    submit_dir = runs / "demo-w47_step1_001-a1" / "submit" / "u/jdoe/demo-w47/step1/group001/attempt1"
    assert (submit_dir / "quantumGraphGeneration.out").is_file()
    meta = camp.ticket(camp.keys["demo-w47_step1_001"])[1]
    assert meta["run"]["submit_dir"] == str(submit_dir.resolve())
    assert not (folder(camp) / "step1" / "submit").exists()  # nothing of bps's among the planned files

    del camp.env["FAKE_BPS_FAIL"]  # the operator fixed the cause; bps would stop on the submit folder left behind
    again = camp.run("submit", camp.keys["demo-w47_step1_002"], "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)[0]["action"] == "submitted"
    assert (runs / "demo-w47_step1_002-a1.failed1" / "submit").is_dir()  # what the failed try left is kept
    assert camp.submitted()[-1]["cwd"] == str((runs / "demo-w47_step1_002-a1").resolve())


def test_bps_that_cannot_run_fails_once_before_any_ticket_is_touched(camp):
    camp.create()
    writes = camp.tracker_writes()
    missing = camp.run("--set", "bps.command=no-such-bps-here", "submit", str(DEMO), "--step", "step1")
    assert missing.exit_code == 1
    assert missing.stderr.strip().splitlines() == [
        "Error: cannot submit: 'no-such-bps-here' is not found on PATH (bps.command is 'no-such-bps-here'): set up "
        "the LSST stack (bps on PATH) or set bps.command to a command that runs bps; no ticket was changed"]
    assert camp.tracker_writes() == writes

    quote = camp.run("--set", "bps.command=bps 'unclosed", "submit", str(DEMO), "--step", "step1")
    assert quote.exit_code == 1 and quote.stderr.strip().splitlines() == [
        "Error: cannot submit: bps.command is 'bps 'unclosed', which cannot be read as a command line "
        "(no closing quotation); no ticket was changed"]

    calls = camp.tmp / "calls.log"
    camp.env.update({"FAKE_BPS_BROKEN": "1", "FAKE_BPS_CALLS": str(calls)})
    broken = camp.run("submit", str(DEMO), "--step", "step1")
    assert broken.exit_code == 1
    [line] = broken.stderr.strip().splitlines()
    assert line.startswith(f"Error: cannot submit: '{sys.executable} {FAKE_BPS} --help' failed with exit status 1 "
                           "(ModuleNotFoundError: No module named 'lsst')")
    assert [json.loads(c) for c in calls.read_text().splitlines()] == [["--help"]]  # checked once, not per ticket
    assert camp.tracker_writes() == writes
    for ident in ("demo-w47_step1_001", "demo-w47_step1_002", "demo-w47_step1_003"):
        status, meta, _, comments = camp.ticket(camp.keys[ident])
        assert status == "To Do" and "run" not in meta and not any("failed" in c for c in comments)

    del camp.env["FAKE_BPS_BROKEN"]
    assert camp.run("submit", str(DEMO), "--step", "step1").exit_code == 0
    files = [str(folder(camp).resolve() / "step1" / f"demo-w47_step1_00{i}.yaml") for i in (1, 2, 3)]
    assert [json.loads(c) for c in calls.read_text().splitlines()][1:] == [["--help"], *(["submit", f] for f in files)]


def test_nothing_to_submit_needs_no_bps(camp):
    camp.create()
    assert camp.run("submit", str(DEMO), "--step", "step1").exit_code == 0
    again = camp.run("--set", "bps.command=no-such-bps-here", "submit", str(DEMO), "--step", "step1")
    assert again.exit_code == 0 and "3 skipped" in again.stderr


def test_the_jira_token_never_reaches_bps(cloud_camp, monkeypatch):
    cloud_camp.create()
    token = cloud_camp.env["JIRACAMPAIGN_JIRA_TOKEN"]
    assert cloud_camp.run("submit", cloud_camp.keys["demo-w47_step1_001"]).exit_code == 0
    # the same token under a variable of the operator's choosing (jira.token_env)
    cloud_camp.env = {"MY_JIRA_PAT": token, "JIRACAMPAIGN_JIRA_TOKEN": None, "JIRACAMPAIGN_TRACKER": "jira",
                      "FAKE_BPS_LOG": str(cloud_camp.bps_log)}
    assert cloud_camp.run("--set", "jira.token_env=MY_JIRA_PAT", "submit",
                          cloud_camp.keys["demo-w47_step1_002"]).exit_code == 0
    envs = [r["env"] for r in cloud_camp.submitted()]
    assert len(envs) == 2
    for env in envs:
        assert not [name for name in env if name.startswith("JIRACAMPAIGN_")]
        assert "MY_JIRA_PAT" not in env and not [name for name, value in env.items() if token in value]
        assert env["FAKE_BPS_LOG"] == str(cloud_camp.bps_log)  # the rest of the environment is bps's


def test_a_parsl_run_has_no_run_id_and_both_times_are_recorded(camp):
    camp.create()
    camp.env["FAKE_BPS_PARSL"] = "1"  # `Run Id: None`; for Parsl, bps submit returns when the run ended
    key = camp.keys["demo-w47_step1_001"]
    path = folder(camp) / "step1" / "demo-w47_step1_001.yaml"
    path.write_text(path.read_text().replace("lsst.ctrl.bps.panda.PanDAService", "lsst.ctrl.bps.parsl.ParslService"))
    result = camp.run("submit", key, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["run_id"] is None
    _, meta, text, _ = camp.ticket(key)
    run = meta["run"]
    assert "run_id" not in run and run["run_name"] == "u_jdoe_demo-w47_step1_group001_attempt1"
    assert run["submitted"] <= camp.submitted()[0]["at"] <= run["returned"]
    assert run["wms"] == "parsl" and "None" not in text
    assert camp.says("||Run id|_no run id \\(parsl\\)_|", "- **Run id:** _no run id (parsl)_") in text
    assert camp.says(f"||Submitted|{run['submitted']}|".replace("-", "\\-").replace("+", "\\+"),
                     f"- **Submitted:** {run['submitted']}") in text
    assert camp.says(f"||bps returned|{run['returned']}|".replace("-", "\\-").replace("+", "\\+"),
                     f"- **bps returned:** {run['returned']}") in text


def test_run_records_written_before_read_as_before():
    old = {"run_name": "u_x", "run_id": "None", "wms": "parsl", "submitted": "2026-11-24T10:10:10+00:00"}
    run = RunIdentity.from_json(old)
    assert run.run_id is None and run.returned is None and run.submitted == old["submitted"]
    assert RunIdentity.from_json(run.to_json()) == run and "run_id" not in run.to_json()
    record = record_from_json({"campaign": "c", "submission": "c_step1_001", "step": "step1", "group": 1, "groups": 1,
                               "file": "c_step1_001.yaml", "run": {"run_name": "u_x", "run_id": 6123}})
    assert record.run == RunIdentity("u_x", "6123")


def test_a_working_folder_that_cannot_be_made_fails_that_submission_only(camp):
    camp.create()
    (folder(camp) / "runs").write_text("not a folder")
    writes = camp.tracker_writes()
    result = camp.run("submit", camp.keys["demo-w47_step1_001"], "--json")
    assert result.exit_code == 1
    [row] = json.loads(result.stdout)
    assert row["action"] == "failed" and row["detail"].startswith(
        "cannot prepare the working folder camps/demo-w47/runs/demo-w47_step1_001-a1: ")
    assert camp.tracker_writes() == writes and not camp.bps_log.exists()
