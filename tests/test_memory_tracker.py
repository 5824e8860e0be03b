"""The tracker interface is complete and neutral: a tracker written from `Tracker` alone (in dicts,
tests/fakes/memory_tracker.py), selected by dotted path, carries the demo campaign through `create`,
`submit` (with the stand-in bps) and `sync` (on the fake PanDA monitor) until step1 succeeds."""

from __future__ import annotations

import inspect
import json
import sys
import time
from pathlib import Path

import pytest

from jiracampaign.cli import cli
from jiracampaign.core.ledger import DIGEST_FILE, SyncState
from jiracampaign.core.records import CampaignRecord, SubmissionRecord, record_from_json
from jiracampaign.core.states import BatchState
from jiracampaign.trackers.base import Tracker
from tests.fakes import memory_tracker
from tests.fakes.memory_tracker import MemoryTracker
from tests.fakes.panda_server import FakeBigPanda

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo" / "campaign.yaml"
FAKE_BPS = REPO / "tests" / "fakes" / "fake_bps.py"
TRACKER = "tests.fakes.memory_tracker.MemoryTracker"


def test_the_memory_tracker_implements_every_method_of_the_interface():
    methods = [name for name, value in vars(Tracker).items()
               if not name.startswith("_") and (inspect.isfunction(value) or isinstance(value, classmethod))]
    assert {"find_items", "ensure_items", "put_note", "set_run_state", "link", "from_config"} <= set(methods)
    optional = {"state_action", "batch", "note_id"}  # their defaults suit a tracker kept in memory
    missing = [name for name in methods if name not in optional and name not in vars(MemoryTracker)]
    assert missing == []


class Run:
    """The CLI on the memory tracker, the fake monitor and the stand-in bps."""

    def __init__(self, runner, tmp_path, panda):
        self.runner, self.panda = runner, panda
        self.bps_log = tmp_path / "bps.log"
        self.args = ["--tracker", TRACKER, "--set", f"panda.monitor_url={panda.url}",
                     "--set", f"bps.command={sys.executable} {FAKE_BPS}", "--set", "campaigns_dir=camps"]
        self.env = {"FAKE_BPS_LOG": str(self.bps_log)}

    def __call__(self, *args):
        result = self.runner.invoke(cli, [*self.args, *args], env=self.env)
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result

    def submitted(self) -> list[dict]:
        return [json.loads(line) for line in self.bps_log.read_text().splitlines()]


@pytest.fixture
def store():
    yield memory_tracker.reset()
    memory_tracker.reset()


@pytest.fixture
def cli_run(runner, tmp_path, monkeypatch, store):
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    panda = FakeBigPanda().start()
    yield Run(runner, tmp_path, panda)
    panda.stop()


def snapshot(store: MemoryTracker) -> dict:
    return {key: (s.title, s.text, s.record, s.state, s.closed, dict(s.attachments), [n[2] for n in s.notes], s.sync,
                  sorted(s.links)) for key, s in store.items.items()}


def test_create_submit_and_sync_through_a_tracker_known_by_its_interface(cli_run, store):
    created = cli_run("create", str(DEMO), "--json")
    rows = json.loads(created.stdout)
    assert [r["action"] for r in rows] == ["created"] * 6
    assert store.opened >= 1 and store.closed == store.opened  # the CLI closed what it opened
    items = list(store.items.values())
    campaigns = [s for s in items if s.record["type"] == "campaign"]
    subs = [s for s in items if s.record["type"] == "submission"]
    assert len(items) == 7 and len(campaigns) == 1 and len(subs) == 6
    epic = campaigns[0]
    assert epic.ident == "demo-w47" and isinstance(record_from_json(epic.record), CampaignRecord)
    assert all(s.parent == epic.key and s.campaign == "demo-w47" for s in subs)
    assert {r["key"] for r in rows} == {s.key for s in subs}
    for s in subs:
        record = record_from_json(s.record)
        assert record.file in s.attachments and record.run is None and s.state == ""
        assert s.attachments[record.file].decode().splitlines()[2] == f"# ticket {s.key}"
        assert "- **Run:** _not yet submitted_" in s.text and "```" in s.text

    # a second create changes nothing
    before, writes = snapshot(store), len(store.writes)
    again = cli_run("create", str(DEMO))
    assert "0 created, 0 updated, 6 unchanged" in again.stderr, again.output
    assert snapshot(store) == before and store.writes[writes:] == []

    submitted = cli_run("submit", str(DEMO), "--step", "step1", "--json")
    assert [r["action"] for r in json.loads(submitted.stdout)] == ["submitted"] * 3
    runs = cli_run.submitted()
    assert [r["run_name"] for r in runs] == [f"u_jdoe_demo-w47_step1_group00{i}_attempt1" for i in (1, 2, 3)]
    by_ident = {s.ident: s for s in subs}
    step1 = [by_ident[f"demo-w47_step1_00{i}"] for i in (1, 2, 3)]
    step2 = [s for s in subs if s not in step1]
    for s, run in zip(step1, runs):
        record = record_from_json(s.record)
        assert isinstance(record, SubmissionRecord) and record.run is not None
        assert (record.run.run_name, record.run.run_id, record.run.wms) == (run["run_name"], str(run["run_id"]), "panda")
        assert record.run.submitted and record.run.submit_dir.startswith("/sdf/home/j/jdoe/submit/")
        assert s.state == "running" and f"`{run['run_name']}`" in s.text
    assert all(record_from_json(s.record).run is None and s.state == "" for s in step2)
    ledger = SyncState.from_bytes(epic.attachments[DIGEST_FILE])
    assert sorted(e.run_name for e in ledger.entries.values()) == sorted(r["run_name"] for r in runs)

    # step2 waits for step1
    waiting = cli_run.runner.invoke(cli, [*cli_run.args, "submit", str(DEMO), "--step", "step2"], env=cli_run.env)
    assert waiting.exit_code == 1 and "must wait until" in waiting.stdout

    # tick 1: running
    for run in runs:
        cli_run.panda.add_run(run["run_name"], {"isr": 10, "calibrate": 10}, request_id=run["run_id"])
        cli_run.panda.progress(run["run_name"], "isr", finished=2, running=3)
    first = cli_run("sync")
    assert "Synced 3 runs in 1 campaigns: 3 changed" in first.stderr, first.output
    assert all(s.state == "running" for s in step1)

    # tick 2: every run done
    for run in runs:
        for label in ("isr", "calibrate"):
            cli_run.panda.progress(run["run_name"], label, finished=10, running=0, status="done")
        cli_run.panda.set_status(run["run_name"], "Finished")
    done = cli_run("sync")
    assert "3 changed" in done.stderr, done.output

    for s in step1:
        item = store.get_item(s.key)
        assert item.status == BatchState.SUCCEEDED.value and item.done
        assert s.states == ["running", "succeeded"]
        assert isinstance(item.record, SubmissionRecord) and item.record.run is not None
        assert item.sync is not None and item.sync.state == "succeeded" and (item.sync.total, item.sync.finished) == (20, 20)
        status_notes = [text for slot, _, text in s.notes if slot == "status"]
        assert len(status_notes) == 1 and "**SUCCEEDED**" in status_notes[0] and "#### Run status: SUCCEEDED" in status_notes[0]
    rollup = [text for slot, _, text in epic.notes if slot == "rollup"]
    assert len(rollup) == 1 and "| step1 | 3 | 0 | 3 | 60 | 60 | 0 |" in rollup[0], rollup

    # every run final: nothing left to ask, nothing written
    writes, monitor = len(store.writes), len(cli_run.panda.log)
    last = cli_run("sync")
    assert "Synced 0 runs" in last.stderr and store.writes[writes:] == [] and len(cli_run.panda.log) == monitor

    # step2 may go now; and create still changes nothing it should not
    assert "must wait" not in cli_run("submit", str(DEMO), "--step", "step2", "--dry-run").stdout
    recreate = cli_run("create", str(DEMO))
    assert "0 created, 0 updated, 6 unchanged" in recreate.stderr, recreate.output
    assert len(store.items) == 7
