"""Recorded monitor traffic of the canonical queries behind `jiracampaign panda`: wfprogress, tasks of a
run by request id, its final failed jobs and every failed attempt (``mode=nodrop``), and a job page for a
Harvester log.

Modes:
- default: replay tests/cassettes/test_panda_cassettes/ offline (every recorded call must be played);
- ``JIRACAMPAIGN_RECORD_CASSETTES=1``: re-record them against the fake monitor;
- ``JIRACAMPAIGN_LIVE_PANDA_URL`` and ``JIRACAMPAIGN_LIVE_PANDA_RUN`` (a run name) set: query that live
  monitor (and re-record from it when RECORD is also set).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import vcr

from jiracampaign.cli import cli

HERE = Path(__file__).parent / "cassettes" / "test_panda_cassettes"
FLOWS = HERE / "flows.json"
LIVE_URL, LIVE_RUN = os.environ.get("JIRACAMPAIGN_LIVE_PANDA_URL"), os.environ.get("JIRACAMPAIGN_LIVE_PANDA_RUN")
RECORD = os.environ.get("JIRACAMPAIGN_RECORD_CASSETTES") == "1"
VOLATILE = {"date_from"}  # moves with the clock; everything else must match


def _query_but_dates(r1, r2):
    strip = lambda r: sorted((k, v) for k, v in parse_qsl(urlsplit(r.uri).query, keep_blank_values=True)  # noqa: E731
                             if k not in VOLATILE)
    assert strip(r1) == strip(r2)


def _recorder(mode: str, folder: Path) -> vcr.VCR:
    recorder = vcr.VCR(cassette_library_dir=str(folder), record_mode=mode, decode_compressed_response=True,
                       filter_headers=["authorization", "cookie"])
    recorder.register_matcher("query_but_dates", _query_but_dates)
    return recorder


@pytest.fixture
def setting(monkeypatch, tmp_path):
    monkeypatch.setattr(time, "sleep", lambda s: None)
    if LIVE_URL and LIVE_RUN:
        if RECORD:  # vcrpy's "all" mode appends to a cassette; start afresh
            for stale in HERE.glob("*.yaml"):
                stale.unlink()
        yield {"url": LIVE_URL, "run": LIVE_RUN, "mode": "all" if RECORD else "new_episodes",
               "dir": HERE if RECORD else tmp_path, "live": True}
        return
    if RECORD:
        from tests.fakes.panda_server import FakeBigPanda
        for stale in HERE.glob("*.yaml"):  # vcrpy's "all" mode appends to a cassette; start afresh
            stale.unlink()

        fake = FakeBigPanda().start()
        run = "u_jdoe_DM-4242_step1_20261124T101010Z"
        fake.add_run(run, {"isr": 20, "calibrateImage": 20})
        fake.progress(run, "isr", finished=18, failed=2, status="finished", logs="harvester",
                      error={"piloterrorcode": 1305, "piloterrordiag": "Failed to execute payload", "transexitcode": "1"})
        fake.progress(run, "calibrateImage", finished=5, running=3)
        yield {"url": fake.url, "run": run, "mode": "all", "dir": HERE, "live": False}
        fake.stop()
        return
    if not FLOWS.exists():
        pytest.skip("no recorded cassettes")
    yield {**json.loads(FLOWS.read_text()), "mode": "none", "dir": HERE, "live": False}


def test_panda_canonical_queries(setting, runner):
    recorder = _recorder(setting["mode"], setting["dir"])
    env = {"JIRACAMPAIGN_PANDA_MONITOR_URL": setting["url"]}
    with recorder.use_cassette("panda.yaml", match_on=["method", "scheme", "host", "port", "path", "query_but_dates"],
                               allow_playback_repeats=False) as cassette:
        result = runner.invoke(cli, ["panda", setting["run"], "--json"], env=env)
    assert result.exit_code == 0, result.output
    [status] = json.loads(result.stdout)
    paths = [urlsplit(r.uri).path for r in cassette.requests]
    assert paths[:2] == ["/idds/wfprogress/", "/tasks/"]
    assert all("json" in dict(parse_qsl(urlsplit(r.uri).query, keep_blank_values=True)) for r in cassette.requests)
    assert all("Authorization" not in r.headers for r in cassette.requests)
    if setting["mode"] == "none":
        assert cassette.all_played
    if not setting["live"]:  # the recorded scenario
        assert status["state"] == "running" and [t["label"] for t in status["tasks"]] == ["isr", "calibrateImage"]
        [group] = status["failures"]
        assert (group["kind"], group["code"], group["count"]) == ("pilot", "1305", 2)
        assert paths[2:4] == ["/jobs/", "/jobs/"] and paths[4].startswith("/job/")  # final failures, every attempt
        assert group["examples"][0]["stdout"].endswith("/job.log")
    if setting["mode"] == "all" and not setting["live"]:
        FLOWS.write_text(json.dumps({"url": setting["url"], "run": setting["run"]}, indent=2) + "\n")
