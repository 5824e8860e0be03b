"""Recorded wire traffic of the canonical flows (init, create, re-create after an edit), reviewable in
tests/cassettes/test_cassettes/, with every secret scrubbed.

Modes:
- default: replay the cassettes offline (``record_mode="none"``; every recorded call must be played);
- ``JIRACAMPAIGN_RECORD_CASSETTES=1``: re-record them against the fake JIRA (Cloud);
- ``JIRACAMPAIGN_LIVE_JIRA_URL``, ``_USER``, ``_TOKEN``, ``_PROJECT`` set: run the same flows against
  that real JIRA with a fresh campaign id (and re-record from it when RECORD is also set).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
import uuid
from pathlib import Path

import pytest
import vcr
import yaml

from jiracampaign.cli import cli
from tests.conftest import REPO

HERE = Path(__file__).parent / "cassettes" / "test_cassettes"
FLOWS = HERE / "flows.json"
LIVE = {k: os.environ.get(f"JIRACAMPAIGN_LIVE_JIRA_{k}") for k in ("URL", "USER", "TOKEN", "PROJECT")}
RECORD = os.environ.get("JIRACAMPAIGN_RECORD_CASSETTES") == "1"
SECRET_PATTERNS = [rb"(?i)authorization", rb"(?i)set-cookie", rb"(?i)\bcookie\b", rb"(?i)bearer ", rb"(?i)basic [a-z0-9+/=]{8,}"]


def _scrub_response(response):
    headers = response.get("headers", {})
    for name in list(headers):
        if name.lower() in ("set-cookie", "authorization", "x-aaccountid", "atl-traceid"):
            del headers[name]
    return response


def _recorder(mode: str) -> vcr.VCR:
    return vcr.VCR(cassette_library_dir=str(HERE), record_mode=mode, filter_headers=["authorization", "cookie"],
                   before_record_response=_scrub_response, decode_compressed_response=True)


@pytest.fixture
def setting(monkeypatch, tmp_path):
    """Where the flows run: live JIRA, a fake being recorded, or the recorded cassettes."""
    monkeypatch.setattr(time, "sleep", lambda s: None)
    # a replayed lease read-back returns the recorded lease: its owner (a random id) must be the same one
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID("00000000-0000-4000-8000-00000000cafe"))
    if all(LIVE.values()):
        if RECORD:  # vcrpy's "all" mode appends to a cassette; start afresh
            for stale in HERE.glob("*.yaml"):
                stale.unlink()
        campaign = f"jc-live-{secrets.token_hex(3)}"
        yield {"server": LIVE["URL"], "user": LIVE["USER"], "token": LIVE["TOKEN"], "project": LIVE["PROJECT"],
               "campaign": campaign, "mode": "all" if RECORD else "new_episodes", "dir": HERE if RECORD else tmp_path}
        return
    if RECORD:
        from tests.fakes.jira_server import FakeJira
        for stale in HERE.glob("*.yaml"):  # vcrpy's "all" mode appends to a cassette; start afresh
            stale.unlink()
        fake = FakeJira("cloud").start()
        yield {"server": fake.url, "user": fake.user, "token": fake.token, "project": fake.project_key,
               "campaign": "demo-w47", "mode": "all", "dir": HERE}
        fake.stop()
        return
    if not FLOWS.exists():
        pytest.skip("no recorded cassettes")
    yield {**json.loads(FLOWS.read_text()), "token": "replayed-token", "mode": "none", "dir": HERE}


def test_canonical_flows(setting, runner, write):
    recorder = _recorder(setting["mode"])
    recorder.cassette_library_dir = str(setting["dir"])
    env = {"JIRACAMPAIGN_JIRA_TOKEN": setting["token"]}
    config = write("config.yaml", "")
    # one request at a time: vcrpy's recording is not thread-safe (concurrent attachments were lost from it),
    # and a cassette replays in a fixed order
    args = ["--config", str(config), "--set", "jira.concurrency=1"]
    demo = (REPO / "examples" / "demo" / "campaign.yaml").read_text().replace("campaign: demo-w47",
                                                                              f"campaign: {setting['campaign']}")
    spec = write("c.yaml", demo)

    with recorder.use_cassette("init.yaml", match_on=["method", "path", "query"]) as cassette:
        result = runner.invoke(cli, [*args, "init", "--no-input", "--server", setting["server"], "--project",
                                     setting["project"], "--user", setting["user"]], env=env)
        assert result.exit_code == 0, result.output
        assert yaml.safe_load(config.read_text())["tracker"] == "jira"
    assert cassette.all_played or setting["mode"] != "none"

    with recorder.use_cassette("create.yaml", match_on=["method", "path", "query"]) as cassette:
        result = runner.invoke(cli, [*args, "create", str(spec), "-o", "camp"], env=env)
        assert result.exit_code == 0, result.output
        assert "6 created, 0 updated, 0 unchanged" in result.stderr
    assert cassette.all_played or setting["mode"] != "none"

    write("c.yaml", demo.replace("requestMemory: 4096", "requestMemory: 6000"))
    with recorder.use_cassette("recreate.yaml", match_on=["method", "path", "query"]) as cassette:
        result = runner.invoke(cli, [*args, "create", str(spec), "-o", "camp"], env=env)
        assert result.exit_code == 0, result.output
        assert "0 created, 6 updated, 0 unchanged" in result.stderr
    assert cassette.all_played or setting["mode"] != "none"

    if setting["mode"] == "all" and setting["dir"] == HERE:
        FLOWS.write_text(json.dumps({k: setting[k] for k in ("server", "user", "project", "campaign")}, indent=2) + "\n")


def test_cassettes_hold_no_secret():
    files = sorted(HERE.glob("*.yaml"))
    if not files:
        pytest.skip("no recorded cassettes")
    for path in files:
        data = path.read_bytes()
        for pattern in SECRET_PATTERNS:
            assert not re.search(pattern, data), f"{path.name} matches {pattern!r}"
        assert b"tok-secret" not in data  # the fake's token
        if LIVE["TOKEN"]:
            assert LIVE["TOKEN"].encode() not in data
