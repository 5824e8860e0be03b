"""`jiracampaign panda RUN...` as a user runs it, against the fake monitor."""

from __future__ import annotations

import json

import pytest

from jiracampaign.cli import cli
from tests.fakes.panda_server import FakeBigPanda

RUN = "u_jdoe_DM-4242_step1_20261124T101010Z"


@pytest.fixture
def monitor(fake_panda, monkeypatch):
    monkeypatch.setenv("JIRACAMPAIGN_PANDA_MONITOR_URL", fake_panda.url)
    fake_panda.add_run(RUN, {"isr": 100, "calibrate": 100})
    fake_panda.progress(RUN, "isr", finished=95, failed=5, status="finished",
                        error={"piloterrorcode": 1305, "piloterrordiag": "Failed to execute payload: <b>oom</b>"})
    fake_panda.progress(RUN, "calibrate", finished=40, running=10)
    return fake_panda


def test_panda_shows_state_counts_failures_and_links(runner, monitor):
    result = runner.invoke(cli, ["panda", RUN.upper()])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"{RUN.upper()}  RUNNING (Transforming)  run id 6000" in out
    assert f"monitor: {monitor.url}/tasks/?reqid=6000&days=30" in out
    assert "files: 200 total, 135 done, 5 failed, 10 running, 60 left" in out
    rows = {line.split()[0]: line.split()[1:7] for line in out.splitlines() if line.strip().startswith(("isr", "calibrate"))}
    assert rows == {"isr": ["partial", "100", "95", "5", "0", "0"], "calibrate": ["running", "100", "40", "0", "10", "60"]}
    assert "5 x isr pilot:1305: Failed to execute payload: <b>oom</b>" in out
    assert f"job 7000004 at SLAC_Rubin attempt 1: {monitor.url}/job?pandaid=7000004" in out
    assert "stdout: https://storage.googleapis.com/drp-us-central1-logging/logs/SLAC_Rubin/PandaJob_7000004/payload.stdout" in out
    assert "1 runs, 4 monitor requests" in result.stderr


def test_panda_json_and_csv(runner, monitor):
    data = json.loads(runner.invoke(cli, ["panda", "6000", "--json"]).stdout)
    assert data[0]["state"] == "running" and data[0]["failures"][0]["count"] == 5
    assert [t["label"] for t in data[0]["tasks"]] == ["isr", "calibrate"]
    csv_out = runner.invoke(cli, ["panda", RUN, "--csv"]).stdout.splitlines()
    assert csv_out[0] == "RUN,TASK,STATE,FILES,DONE,FAILED,RUNNING,LEFT,MONITOR"
    assert csv_out[1].startswith(f"{RUN},isr,partial,100,95,5,0,0,")


def test_panda_unknown_run_exits_1_and_says_so(runner, monitor):
    result = runner.invoke(cli, ["panda", "nosuchrun"])
    assert result.exit_code == 1
    assert ("not among the PanDA monitor's runs of the last 30 days; if it is older, look further back "
            "(jiracampaign panda --days N, or the panda.days setting)") in result.stdout
    assert "Not found or unknown: nosuchrun" in result.stderr


def test_panda_reads_the_2021_shape_too(runner, monkeypatch):
    fake = FakeBigPanda(shape="legacy").start()
    try:
        monkeypatch.setenv("JIRACAMPAIGN_PANDA_MONITOR_URL", fake.url)
        fake.add_run(RUN, {"isr": 10})
        fake.progress(RUN, "isr", finished=10, status="done")
        fake.set_status(RUN, "Finished")
        result = runner.invoke(cli, ["panda", RUN])
        assert f"{RUN}  SUCCEEDED (finished)" in result.stdout
    finally:
        fake.stop()


def test_panda_without_monitor_url_is_a_config_error(runner):
    result = runner.invoke(cli, ["panda", RUN])
    assert result.exit_code == 3
    assert "panda.monitor_url: is empty: set it to the PanDA monitor's base URL" in result.stderr


def test_panda_monitor_down_is_one_line_and_exit_6(runner, monkeypatch):
    monkeypatch.setenv("JIRACAMPAIGN_PANDA_MONITOR_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("JIRACAMPAIGN_PANDA_MAX_RETRIES", "0")
    result = runner.invoke(cli, ["panda", RUN])
    assert result.exit_code == 6
    assert result.stderr.strip() == ("Error: PanDA monitor GET /idds/wfprogress/ at http://127.0.0.1:9 failed after "
                                     "1 attempt: connection refused by 127.0.0.1:9: nothing listens on that port "
                                     "(check the host and port in panda.monitor_url)")
