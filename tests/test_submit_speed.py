"""`submit` at the fewest round trips: at most 4 JIRA requests per submission (counted at the fake server),
a walk that starts from the status the search read and recovers when that status is stale, the local
store committing a submission's writes together, and the step order checked from one index."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from jiracampaign.config import load_config
from jiracampaign.core.documents import Document, Paragraph
from jiracampaign.core.records import SubmissionRecord
from jiracampaign.core.states import BatchState
from jiracampaign.planning.spec import load_spec
from jiracampaign.services.create import create
from jiracampaign.services.items import campaign_items
from jiracampaign.services.submit import Submitter, campaign_in, submit, wms_of
from jiracampaign.trackers.base import NewItem
from jiracampaign.trackers.local import LocalTracker
from tests.conftest import make_jira_tracker

NAME = re.compile(r"^uniqProcName:\s*(\S+)", re.MULTILINE)
N = 12


def write_spec(folder: Path, n: int = N, step2: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "campaign.yaml"
    later = """  - name: step2
    after: [step1]
    query: "instrument='LSSTCam-imSim'"
    split:
      rule: values
      dimension: band
      values: [g, r]
""" if step2 else ""
    path.write_text(f"""campaign: speed
description: submit speed
operator: jdoe
project: speed
butler_repo: /repo/speed
input_collection: Toy/defaults
pipeline: $DRP_PIPE_DIR/pipelines/x.yaml
software: w_2026_47
site: SLAC
template: panda
steps:
  - name: step1
    query: "instrument='LSSTCam-imSim'"
    split:
      rule: values
      dimension: visit
      values: [{", ".join(str(100 + i) for i in range(n))}]
{later}""")
    return path


def bps(command, **kwargs):
    """What `bps` prints, without a process."""
    if command[-1] == "--help":
        return subprocess.CompletedProcess(command, 0, "Usage: bps", "")
    name = NAME.search(Path(command[-1]).read_text()).group(1)
    return subprocess.CompletedProcess(command, 0, f"Submit dir: /s/{name}\nRun Id: 7\nRun Name: {name}\n", "")


@pytest.fixture
def config():
    return load_config(overrides={"bps.command": sys.executable}, missing_ok=True)


def made(tracker, tmp_path, **kwargs) -> Path:
    spec = write_spec(tmp_path / "spec", **kwargs)
    create(load_spec(spec), tracker, tmp_path / "camp")
    return spec


def test_jira_submit_costs_at_most_four_requests_per_submission(fake_jira, sleeps, tmp_path, config):
    spec = made(make_jira_tracker(fake_jira, sleeps), tmp_path)
    mark = len(fake_jira.log)
    report = submit(make_jira_tracker(fake_jira, sleeps), config, (str(spec),), output_dir=str(tmp_path / "camp"),
                    run=bps)
    assert report.count("submitted") == N
    log = fake_jira.log[mark:]
    keys = {r.key for r in report.results}
    per_key = Counter(m.group(1) for r in log for m in [re.search(r"/issue/([A-Z]+-\d+)(/|$)", r["path"])]
                      if m and m.group(1) in keys)
    assert set(per_key) == keys and max(per_key.values()) <= 4, per_key
    # the rest: the campaign's search and its ledger, once per call whatever the number of submissions
    assert len(log) - sum(per_key.values()) <= 4, [(r["method"], r["path"]) for r in log]
    assert not [r for r in log if r["method"] == "GET" and re.fullmatch(r".*/issue/[A-Z]+-\d+", r["path"])]
    assert {fake_jira.issue(k).status for k in keys} == {"3"}  # In Progress


def test_a_status_changed_since_the_read_is_read_once_and_walked_from(fake_jira, sleeps, tmp_path, config):
    spec = made(make_jira_tracker(fake_jira, sleeps), tmp_path, n=2)
    tracker = make_jira_tracker(fake_jira, sleeps)
    found = campaign_items(tracker, "speed", tmp_path / "camp")  # the search, and the keys it does not show yet
    items = [t for t in found if isinstance(t.record, SubmissionRecord)]
    moved = items[0].key
    fake_jira.issue(moved).status = "6"  # someone closed it after the search read it as To Do
    epic = next(t for t in found if t.kind == "campaign")
    submitter = Submitter(tracker, tmp_path / "camp", sys.executable, lambda wms: "panda", run=bps)
    mark = len(fake_jira.log)
    report = submitter.submit(items, epic, found)
    assert report.count("submitted") == 2
    assert fake_jira.issue(moved).status == "3" and fake_jira.issue(items[1].key).status == "3"
    reads = [r for r in fake_jira.log[mark:] if r["method"] == "GET" and r["path"].endswith(f"/issue/{moved}")]
    assert len(reads) == 1  # read once when no transition led to In Progress, then Reopen, Start Progress


def test_a_ticket_already_in_the_status_costs_no_transition(fake_jira, sleeps):
    tracker = make_jira_tracker(fake_jira, sleeps)
    (item,) = tracker.ensure_items([NewItem("speed-x", "speed", "x", Document([Paragraph("x")]),
                                            SubmissionRecord(campaign="speed", submission="speed-x", step="step1",
                                                             group=0, groups=1, data_query="", inputs=None,
                                                             output_run="", run_name="r", file="x.yaml",
                                                             sha256=None))])
    tracker.set_run_state(item.key, BatchState.RUNNING)
    mark = len(fake_jira.log)
    tracker.set_run_state(item.key, BatchState.RUNNING)
    assert fake_jira.log[mark:] == []
    assert fake_jira.issue(item.key).status == "3"


def test_local_store_commits_each_submissions_writes_once(tmp_path, config):
    tracker = LocalTracker(tmp_path / "store.sqlite")
    spec = made(tracker, tmp_path)
    statements = []
    tracker.db.set_trace_callback(statements.append)
    report = submit(tracker, config, (str(spec),), output_dir=str(tmp_path / "camp"), run=bps)
    tracker.db.set_trace_callback(None)
    assert report.count("submitted") == N
    commits = [s for s in statements if s.strip().upper() == "COMMIT"]
    assert len(commits) == N + 1  # one per submission (record, description, state), one for the ledger
    assert {tracker.get_item(r.key).status for r in report.results} == {"running"}


def test_a_failed_write_in_a_batch_keeps_the_writes_before_it(tmp_path):
    tracker = LocalTracker(tmp_path / "store.sqlite")
    (item,) = tracker.ensure_items([NewItem("b", "c", "b", Document([Paragraph("b")]),
                                            SubmissionRecord(campaign="c", submission="b", step="s", group=0,
                                                             groups=1, data_query="", inputs=None, output_run="",
                                                             run_name="r", file="b.yaml", sha256=None))])
    with pytest.raises(Exception, match="no ticket"):
        with tracker.batch():
            tracker.set_run_state(item.key, BatchState.RUNNING)
            with tracker.batch():  # part of the outer one
                tracker.update_item(item.key, title="renamed")
            tracker.set_run_state("JC-999", BatchState.RUNNING)
    other = LocalTracker(tmp_path / "store.sqlite")  # another connection sees what was committed
    assert other.get_item(item.key).status == "running" and other.get_item(item.key).title == "renamed"
    assert not tracker.db.in_transaction


def test_step_order_from_one_index_refuses_a_later_step_until_the_earlier_is_done(tmp_path, config):
    tracker = LocalTracker(tmp_path / "store.sqlite")
    spec = made(tracker, tmp_path, n=3, step2=True)
    report = submit(tracker, config, (str(spec),), output_dir=str(tmp_path / "camp"), run=bps)
    assert [r.action for r in report.results].count("submitted") == 3
    refused = [r for r in report.results if r.action == "refused"]
    assert len(refused) == 2 and all("must wait until JC-" in r.detail for r in refused)
    for r in report.results:
        if r.action == "submitted":
            tracker.set_run_state(r.key, BatchState.SUCCEEDED)
    again = submit(tracker, config, (str(spec),), steps=("step2",), output_dir=str(tmp_path / "camp"), run=bps)
    assert again.count("submitted") == 2


def test_campaign_id_is_read_from_the_spec_without_loading_it(tmp_path):
    assert campaign_in(write_spec(tmp_path)) == "speed"
    broken = tmp_path / "broken.yaml"
    broken.write_text("description: no campaign\n")
    with pytest.raises(Exception, match="campaign"):
        campaign_in(broken)


@pytest.mark.parametrize("text, wms", [
    ("wmsServiceClass: lsst.ctrl.bps.panda.PanDAService\n", "panda"),
    ("a: 1\nwmsServiceClass: 'lsst.ctrl.bps.parsl.ParslService'  # local\n", "parsl"),
    ("payload:\n  wmsServiceClass: lsst.ctrl.bps.htcondor.HTCondorService\n", ""),
    ("wmsServiceClass: &w lsst.ctrl.bps.htcondor.HTCondorService\n", "htcondor"),
    ("", ""),
])
def test_workload_system_read_from_the_line_as_yaml_reads_it(text, wms):
    assert wms_of(text) == wms
