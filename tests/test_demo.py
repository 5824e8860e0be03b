"""``make demo``: the whole loop with the real Rubin middleware, and what submit needs for it.

The first part runs ``examples/parsl/demo.py`` once per module with the stack of JC_TEST_STACK (else
.venv-lsst; skipped only when there is none), on a smaller repository than ``make demo``'s (12 visits
x 1 detector, one night, so two ``bps submit`` instead of three): the butler repository, ``jiracampaign
create``, the real ``bps submit`` on Parsl's local site (step1, one group per night; step2, reading
step1's outputs, with one injected failure in consolidateVisitSummary for visit 1003), ``jiracampaign
sync`` between and after, all through our CLI on the embedded store. The driver is started with a PATH that does not hold the stack: the jobs find
``pipetask`` and ``butler`` only because ``submit`` puts the folder of ``bps.command`` first. The
asserts read the store through `LocalTracker` and the run folders on disk.

The second part is fast: why a step waits (``Submitter.waiting_detail``) and which folder goes first on
bps's PATH (`bps_folder`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jiracampaign.core.records import RunIdentity, SubmissionRecord, SyncRecord
from jiracampaign.services.submit import Submitter, bps_folder, run_folder
from jiracampaign.trackers.base import Item
from jiracampaign.trackers.local import LocalTracker
from tests.conftest import REPO

STACK = Path(os.environ.get("JC_TEST_STACK") or REPO / ".venv-lsst")
DRIVER = REPO / "examples" / "parsl" / "demo.py"
CAMPAIGN = "demo-parsl"
FAILED_VISIT = 1003  # examples/parsl/fail_summary.py


# ---- the real middleware, once per module -------------------------------------------------------------------

class DemoRun:
    """A finished demo: its output, exit status, build folder and the tickets in its store."""

    def __init__(self, proc: subprocess.CompletedProcess, build: Path):
        self.proc, self.build = proc, build
        tracker = LocalTracker(build / "campaigns.sqlite")
        try:
            self.items = {item.ident: item for item in tracker.find_items(CAMPAIGN)}
            self.notes = {item.key: tracker.notes(item.key) for item in self.items.values()}
            self.files = {item.key: {name: tracker.read_attachment(item.key, name) for name in item.attachments}
                          for item in self.items.values()}
        finally:
            tracker.close()

    def submission(self, step: str, group: int) -> Item:
        return self.items[f"{CAMPAIGN}_{step}_{group:03d}"]

    @property
    def submissions(self) -> list[Item]:
        return [item for item in self.items.values() if isinstance(item.record, SubmissionRecord)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> DemoRun:
    if not (STACK / "bin" / "bps").exists():
        pytest.skip(f"no Rubin stack in {STACK}: run 'make stack'")
    build = tmp_path_factory.mktemp("demo") / "build"
    stack_bin = str((STACK / "bin").absolute())
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and Path(p).absolute() != Path(stack_bin))
    env = {**os.environ, "PATH": path}
    proc = subprocess.run([sys.executable, str(DRIVER), "--build", str(build), "--stack", str(STACK),
                           "--visits", "12", "--detectors", "1", "--nights", "1"],
                          capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    return DemoRun(proc, build)


def test_the_demo_runs_to_its_end_and_prints_the_tickets_and_the_failure_summary(demo):
    assert demo.proc.returncode == 0, demo.proc.stdout[-3000:] + demo.proc.stderr[-3000:]
    out = demo.proc.stdout
    assert "[7/8] The tickets, as a pilot reads them" in out
    partial = demo.submission("step2", 1)
    assert f"{partial.key}   partial" in out
    assert "Failures in run" in out and "consolidateVisitSummary" in out and f"visit={FAILED_VISIT}" in out
    assert "Times: repository" in out and "total" in out


def test_each_submit_ran_the_real_bps_in_its_own_folder(demo):
    # step1 one group per night (one night), step2 one, and step2's attempt 2 (the rescue)
    assert sorted(i.ident for i in demo.submissions) == [f"{CAMPAIGN}_step1_001", f"{CAMPAIGN}_step2_001",
                                                          f"{CAMPAIGN}_step2_001-a2"]
    for item in demo.submissions:
        run: RunIdentity = item.record.run
        assert run is not None, f"{item.key} was not submitted: {demo.proc.stdout[-2000:]}"
        assert run.run_name == item.record.run_name  # deterministic name, as planned
        assert run.run_id is None  # Parsl prints "Run Id: None": no id
        assert run.wms == "parsl" and run.submitted and run.returned
        folder = run_folder(demo.build / CAMPAIGN, item.record)
        assert folder.name == f"{CAMPAIGN}_{item.record.step}_001-a{item.record.attempt}"
        submit_dir = Path(run.submit_dir)
        assert submit_dir.is_relative_to(folder / "submit"), submit_dir  # BPS's ${PWD} is the run's folder
        assert (submit_dir / f"{run.run_name}.qg").is_file()  # the graph the real bps built
        assert (submit_dir / "logs" / "finalJob" / "finalJob.stderr").is_file()
        assert (folder / "runinfo").is_dir()  # Parsl's own files land beside it, not in the caller's folder


def test_step2_waited_until_step1_was_synced(demo):
    step1 = demo.submission("step1", 1).key
    assert (f"step step2 must wait until {step1} is done ({step1}: not synced; "
            "run 'jiracampaign sync' to read its state") in demo.proc.stdout


def test_after_sync_step1_succeeded_and_step2_is_partial_never_unknown(demo):
    states = {item.ident: item.status for item in demo.submissions}
    assert states == {f"{CAMPAIGN}_step1_001": "succeeded", f"{CAMPAIGN}_step2_001": "partial",
                      f"{CAMPAIGN}_step2_001-a2": "succeeded"}  # the rescue's attempt (the last stage)
    synced = demo.submission("step2", 1).sync
    assert synced.state == "partial" and synced.failed == 1 and synced.total == 12


def test_the_partial_tickets_failure_summary_names_the_task_the_data_id_and_the_message(demo):
    item = demo.submission("step2", 1)
    summary = next(note for note in demo.notes[item.key] if "Failures in run" in note)
    assert "consolidateVisitSummary" in summary
    assert f"visit={FAILED_VISIT}" in summary  # the data ID
    assert "ValueError" in summary and "Simulated failure: task=consolidateVisitSummary" in summary  # the exception
    assert not any("Failures in run" in note for note in demo.notes[demo.submission("step1", 1).key])


def test_the_json_failure_report_is_attached_to_the_partial_ticket(demo):
    item = demo.submission("step2", 1)
    name = f"provenance-{item.record.run.run_name}.json"
    assert name in demo.files[item.key], sorted(demo.files[item.key])
    report = json.loads(demo.files[item.key][name])
    [failed] = report["failed"]
    assert failed["task"] == "consolidateVisitSummary" and failed["data_id"]["visit"] == FAILED_VISIT
    assert failed["attempts"][-1]["exception"]["type"] == "ValueError"
    assert "Simulated failure" in failed["attempts"][-1]["exception"]["message"]


def test_the_rescue_runs_only_what_failed_and_closes_both_tickets(demo):
    assert "[8/8] jiracampaign rescue" in demo.proc.stdout
    first = demo.submission("step2", 1)
    second = demo.items[f"{CAMPAIGN}_step2_001-a2"]
    record = second.record
    assert record.attempt == 2 and record.rescues == first.ident and record.run is not None
    assert record.run.run_name.endswith("_attempt2") and record.output_run.endswith("/attempt2")
    assert second.sync.state == "succeeded" and second.done
    assert first.sync.verdict == "rescued" and first.done  # closed by sync once attempt 2 succeeded
    assert any("Attempt 2 of this group was prepared as" in note and second.key in note
               for note in demo.notes[first.key])
    # provenance of the two attempts: attempt 2 ran the one quantum attempt 1 failed, nothing else
    from jiracampaign.sources.bps.bridge import StackBridge

    runs = [first.record.run, record.run]
    answer = StackBridge(python=str(STACK / "bin" / "python")).call(
        "provenance", runs=[{"name": r.run_name, "submit_dir": r.submit_dir} for r in runs])["runs"]
    one, two = (answer[r.run_name] for r in runs)
    [task1] = [t for t in one["tasks"] if t["label"] == "consolidateVisitSummary"]
    [task2] = [t for t in two["tasks"] if t["label"] == "consolidateVisitSummary"]
    assert (task1["expected"], task1["successful"], task1["failed"]) == (12, 11, 1)
    assert (task2["expected"], task2["successful"], task2["failed"], task2["blocked"]) == (1, 1, 0, 0)
    assert task1["successful"] + task2["successful"] == task1["expected"]  # every quantum succeeded, once
    assert [q["data_id"]["visit"] for q in one["failed"]] == [FAILED_VISIT]
    options = Path(record.run.submit_dir).glob("*_config.yaml")
    assert any(f"--skip-existing-in {first.record.output_run}" in p.read_text() for p in options)


# ---- fast: what submit says and does --------------------------------------------------------------------------

def _item(key: str, n: int, *, run: bool = True, state: str = "") -> Item:
    record = SubmissionRecord(campaign="c", submission=f"c_step1_{n:03d}", step="step1", group=n, groups=4,
                              data_query="instrument = 'Toy'", inputs=None, output_run=f"u/x/c/step1/group{n:03d}/attempt1",
                              run_name=f"u_x_c_step1_group{n:03d}_attempt1", file=f"c_step1_{n:03d}.yaml",
                              run=RunIdentity(run_name=f"u_x_c_step1_group{n:03d}_attempt1", wms="parsl") if run else None)
    sync = SyncRecord(source="bps", run_name=record.run_name, state=state) if state else None
    return Item(key=key, ident=record.submission, title=record.submission, record=record, sync=sync,
                status=state or "open")


def test_a_step_that_must_wait_says_why_for_each_ticket_and_how_to_go_on():
    text = Submitter.waiting_detail("step2", [_item("JC-2", 1, state="partial"), _item("JC-3", 2),
                                              _item("JC-4", 3, run=False), _item("JC-5", 4, state="running")])
    assert text.startswith("step step2 must wait until JC-2, JC-3, JC-4, JC-5 are done (")
    assert "JC-2: partial" in text and "read its failure summary, then rescue it (jiracampaign rescue JC-2)" in text
    assert "or accept what it produced (jiracampaign accept JC-2)" in text
    assert "JC-3: not synced" in text and "JC-4: not submitted" in text and "JC-5: running" in text
    assert "run 'jiracampaign sync'" in text
    plain = Submitter.waiting_detail("step2", [_item("JC-3", 2)])
    assert plain.startswith("step step2 must wait until JC-3 is done (JC-3: not synced;")
    assert plain.endswith("--force submits anyway)")


def test_bps_runs_with_the_folder_of_its_own_bps_first_on_path(tmp_path):
    stack, other = tmp_path / "stack" / "bin", tmp_path / "other"
    for folder in (stack, other):
        folder.mkdir(parents=True)
        (folder / "bps").write_text("#!/bin/sh\n")
        (folder / "bps").chmod(0o755)
    assert bps_folder([str(stack / "bps")], path=str(other)) == str(stack)  # an absolute bps.command
    assert bps_folder(["bps"], path=os.pathsep.join([str(other), str(stack)])) == str(other)  # the bps PATH finds
    assert bps_folder(["env", "X=1", str(stack / "bps")], path=str(other)) == str(stack)  # a wrapper naming bps
    assert bps_folder(["singularity", "exec", "img", "bps"], path=str(tmp_path)) is None  # not here: PATH left alone
    submitter = Submitter(tracker=None, folder=tmp_path, command=str(stack / "bps"), source_for=str)
    path = submitter.environment()["PATH"].split(os.pathsep)
    assert path[0] == str(stack) and path.count(str(stack)) == 1
