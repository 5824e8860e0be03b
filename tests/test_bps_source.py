"""The BPS status source: HTCondor runs read through the plug-in's report API, states as BPS names them,
and what sync says without the Rubin stack.

The real middleware (.venv-lsst, or JC_TEST_STACK) prepares one small HTCondor workflow (`bps prepare`
on the toy repository of examples/rubin); no HTCondor daemon can run here, so the test writes the files
DAGMan would write while running it (tests/htcondor_files.py) for a running run, a run that succeeded
and a run where one job failed but the final job succeeded.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest

from jiracampaign.core.runs import RunRef
from jiracampaign.core.states import BatchState
from jiracampaign.errors import SourceError
from jiracampaign.sources.bps.bridge import StackBridge, StackUnavailable
from jiracampaign.sources.bps.source import BpsSource
from jiracampaign.sources.bps.states import (
    WMS_STATE_VALUES,
    from_exit_code,
    from_wms_state,
    job_bucket,
    run_state,
)
from tests.conftest import REPO, campaign_fixture
from tests.htcondor_files import copy_prepared, dag_nodes, write_run

STACK = Path(os.environ.get("JC_TEST_STACK") or REPO / ".venv-lsst")
HTCONDOR = "lsst.ctrl.bps.htcondor.HTCondorService"


# ---- without the stack: the state tables and the digest ---------------------------------------------

def test_bps_states_map_onto_the_run_states():
    assert from_wms_state("SUCCEEDED") is BatchState.SUCCEEDED and from_wms_state("running") is BatchState.RUNNING
    assert from_wms_state("PRUNED") is BatchState.FAILED and from_wms_state("DELETED") is BatchState.CANCELLED
    assert from_wms_state("HELD") is BatchState.HELD and from_wms_state("UNREADY") is BatchState.PENDING
    assert from_wms_state("MISFIT") is BatchState.UNKNOWN and from_wms_state("Frobnicating") is BatchState.UNKNOWN
    assert from_exit_code(0) is BatchState.SUCCEEDED and from_exit_code(19) is BatchState.FAILED
    assert from_exit_code(15) is BatchState.RUNNING and from_exit_code(1) is BatchState.UNKNOWN  # bps itself failed
    assert (job_bucket("PRUNED"), job_bucket("SUCCEEDED"), job_bucket("UNREADY")) == ("failed", "finished", "pending")


@pytest.mark.parametrize("final_job, succeeded, expected", [
    ("SUCCEEDED", 7, BatchState.PARTIAL),   # HTCondor's FAILED with a successful final job
    ("FAILED", 7, BatchState.FAILED),       # the outputs were not registered
    ("SUCCEEDED", 0, BatchState.FAILED),    # nothing of the pipeline succeeded
    (None, 7, BatchState.FAILED),           # the report was not read: nothing to refine with
])
def test_failed_with_a_successful_final_job_is_partial(final_job, succeeded, expected):
    assert run_state("FAILED", final_job, failed_jobs=1, succeeded_jobs=succeeded) is expected


def test_runs_that_ended_make_no_helper_call():
    """The digest of an ended run answers for it; a bridge that cannot start proves no call was tried."""
    source = BpsSource(StackBridge(python="/nonexistent/python3.12", in_process=False))
    refs = [RunRef("u_a", submit_dir="/x/a", wms="htcondor", digest="b1:FAILED:0123456789ab:a"),
            RunRef("u_b", submit_dir="/x/b", wms="parsl", digest="b1:-:cafe:s")]
    found = source.statuses(refs)
    assert [(s.state, s.changed, s.digest) for s in found] == [
        (BatchState.PARTIAL, False, refs[0].digest), (BatchState.SUCCEEDED, False, refs[1].digest)]
    assert source.requests_made == 0


def test_a_run_without_a_submit_dir_is_unknown_and_says_what_to_record():
    source = BpsSource(StackBridge(python="/nonexistent/python3.12", in_process=False))
    [status] = source.statuses([RunRef("u_jdoe_condor_1", wms="htcondor")])
    assert status.state is BatchState.UNKNOWN and "--submit-dir DIR" in status.message
    assert source.requests_made == 0


def test_without_the_stack_the_source_says_how_to_enable_it(monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    source = BpsSource(StackBridge(in_process=False))
    with pytest.raises(StackUnavailable) as caught:
        source.statuses([RunRef("u_a", submit_dir="/x/a", wms="htcondor")])
    assert str(caught.value).startswith("cannot follow 1 run on htcondor, parsl: no 'bps' on PATH")
    assert "put its 'bps' on PATH, or set bps.python" in str(caught.value)
    assert isinstance(caught.value, SourceError)


# ---- the real middleware -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stack_bin() -> Path:
    if not (STACK / "bin" / "bps").exists():
        pytest.skip(f"no Rubin stack in {STACK}: run 'make stack'")
    return STACK / "bin"


@pytest.fixture(scope="module")
def prepared(stack_bin, tmp_path_factory) -> Path:
    """A submit directory ``bps prepare`` wrote for the HTCondor plug-in: the toy pipeline's step1 on a
    repository of 6 visits x 2 detectors (26 jobs: pipetaskInit, 12 isr, 12 calibrateImage, finalJob), with
    examples/rubin's injected failure (calibrateImage, visit 1003, detector 2) in its quantum graph."""
    base = tmp_path_factory.mktemp("bps_htcondor")
    env = {**os.environ, "PATH": f"{stack_bin}:{os.environ['PATH']}"}
    subprocess.run([str(stack_bin / "python"), str(REPO / "examples" / "rubin" / "build_repo.py"), str(base / "repo"),
                    "--visits", "6", "--detectors", "2", "--nights", "2", "-q"], check=True, capture_output=True, env=env)
    (base / "bps.yaml").write_text(textwrap.dedent(f"""\
        pipelineYaml: "{REPO}/examples/rubin/pipeline.yaml#step1"
        project: toy
        campaign: toy
        operator: jdoe
        payload:
          payloadName: toy_step1
          butlerConfig: "{base}/repo"
          inCollection: Toy/raw/all
          dataQuery: "instrument = 'Toy'"
          output: "u/{{operator}}/toy/step1"
          outputRun: "{{output}}/20261201T000000Z"
        submitPath: "{base}/submit/{{outputRun}}"
        wmsServiceClass: {HTCONDOR}
        computeSite: local
        extraQgraphOptions: "-C calibrateImage:{REPO}/examples/rubin/fail_value.py"
        """))
    done = subprocess.run([str(stack_bin / "bps"), "prepare", str(base / "bps.yaml")], capture_output=True, text=True,
                          env=env, cwd=base)
    assert done.returncode == 0, done.stderr[-3000:]
    [dag] = (base / "submit").rglob("*.dag")
    return dag.parent


@pytest.fixture(scope="module")
def executed(stack_bin, prepared, tmp_path_factory) -> Path:
    """A copy of the prepared run whose quantum graph was executed (by ``pipetask run``, in one process: what
    Parsl's jobs do, without Parsl's start-up per job), as a Parsl run's submit directory is once bps returned:
    23 of 24 quanta succeeded, calibrateImage failed for visit 1003 detector 2; no final job ran."""
    folder = copy_prepared(prepared, tmp_path_factory.mktemp("executed") / "submit", graph=True)
    [graph] = folder.glob("*.qg")
    repo = next(p / "repo" for p in prepared.parents if (p / "repo").is_dir())
    env = {**os.environ, "PATH": f"{stack_bin}:{os.environ['PATH']}"}
    done = subprocess.run([str(stack_bin / "pipetask"), "run", "-b", str(repo), "-g", str(graph),
                           "--register-dataset-types"], capture_output=True, text=True, env=env, cwd=folder)
    assert done.returncode == 1 and "One or more tasks failed" in done.stderr, done.stderr[-3000:]
    return folder


@pytest.fixture(scope="module")
def runs(prepared, tmp_path_factory) -> dict[str, dict]:
    """Three copies of the prepared run with DAGMan's files for: running, succeeded, partial."""
    base = tmp_path_factory.mktemp("dagman")
    names = list(dag_nodes(prepared))
    isr = [n for n in names if "_isr_" in n]
    failed = next(n for n in isr if n.endswith("_isr_2002_1"))
    pruned = next(n for n in names if n.endswith("_calibrateImage_2002_1"))
    outcomes = {
        "running": ({"pipetaskInit": "done", **{n: "done" for n in isr[:5]}, isr[5]: "running", isr[6]: "idle"}, None),
        "succeeded": ({n: "done" for n in names}, 0),
        "partial": ({**{n: "done" for n in names}, failed: "failed:1", pruned: "futile"}, 1),
    }
    out = {}
    for case, (nodes, dag_exit) in outcomes.items():
        folder = copy_prepared(prepared, base / case)
        out[case] = {"dir": folder, "failed": failed, "pruned": pruned, **write_run(folder, nodes, dag_exit)}
    return out


def _refs(runs, digests=None) -> list[RunRef]:
    digests = digests or {}
    return [RunRef(f"u_jdoe_{case}", wms="htcondor", submit_dir=str(run["dir"]), digest=digests.get(case))
            for case, run in runs.items()]


def test_htcondor_runs_through_the_report_api_get_status_first_report_on_change(stack_bin, runs, tmp_path):
    source = BpsSource(StackBridge(python=str(stack_bin / "python")))
    running, succeeded, partial = source.statuses(_refs(runs))
    assert source.requests_made == 1  # one helper process for every run
    assert (source.status_calls, source.report_calls) == (3, 3)  # first sight: every report read
    assert source.stack_states == WMS_STATE_VALUES

    assert (running.state, running.raw_state, running.detail) == (BatchState.RUNNING, "RUNNING", True)
    assert (running.total, running.finished, running.failed, running.running) == (26, 6, 0, 1)
    tasks = {t.label: (t.state, t.total, t.finished, t.failed, t.running) for t in running.tasks}
    assert tasks == {"pipetaskInit": (BatchState.SUCCEEDED, 1, 1, 0, 0), "isr": (BatchState.RUNNING, 12, 5, 0, 1),
                     "calibrateImage": (BatchState.PENDING, 12, 0, 0, 0), "finalJob": (BatchState.PENDING, 1, 0, 0, 0)}
    assert running.run_id == runs["running"]["dag_id"] and not running.failures

    assert (succeeded.state, succeeded.total, succeeded.finished, succeeded.failed) == (BatchState.SUCCEEDED, 26, 26, 0)
    assert succeeded.failures_read and not succeeded.failures and succeeded.report is None

    assert (partial.state, partial.raw_state) == (BatchState.PARTIAL, "FAILED")
    assert "final job succeeded" in partial.message
    tasks = {t.label: (t.state, t.total, t.finished, t.failed) for t in partial.tasks}
    assert tasks == {"pipetaskInit": (BatchState.SUCCEEDED, 1, 1, 0), "isr": (BatchState.PARTIAL, 12, 11, 1),
                     "calibrateImage": (BatchState.PARTIAL, 12, 11, 1), "finalJob": (BatchState.SUCCEEDED, 1, 1, 0)}
    groups = {(g.label, g.error): g for g in partial.failures}
    assert set(groups) == {("isr", "exit:1"), ("calibrateImage", "pruned")}
    [example] = groups["isr", "exit:1"].examples
    assert example.id == runs["partial"]["failed"] and example.stdout == runs["partial"]["outputs"][example.id]
    assert Path(example.stdout).read_text().startswith(example.id)
    assert groups["calibrateImage", "pruned"].count == 1 and partial.failed_jobs == 2
    assert partial.report["problem_jobs"][0]["name"] == example.id and partial.report_name.endswith(".json")

    # nothing changed: ended runs are answered from their digest, the running one by get_status alone
    digests = {case: s.digest for case, s in zip(runs, (running, succeeded, partial))}
    again = source.statuses(_refs(runs, digests))
    assert [(s.state, s.changed, s.detail) for s in again] == [
        (BatchState.RUNNING, False, False), (BatchState.SUCCEEDED, False, False), (BatchState.PARTIAL, False, False)]
    assert (source.requests_made, source.status_calls, source.report_calls) == (2, 4, 3)

    # the running run ends (in a copy: the fixture stays as it was): its state changed, so its report is read
    later = {**runs, "running": {"dir": copy_prepared(runs["running"]["dir"], tmp_path / "later")}}
    write_run(later["running"]["dir"], {n: "done" for n in dag_nodes(later["running"]["dir"])}, 0)
    ended, *_ = source.statuses(_refs(later, digests))
    assert (ended.state, ended.changed, ended.detail, ended.finished) == (BatchState.SUCCEEDED, True, True, 26)
    assert (source.requests_made, source.status_calls, source.report_calls) == (3, 5, 4)

    digests["running"] = ended.digest
    source.statuses(_refs(later, digests))  # every run ended: no helper call at all
    assert source.requests_made == 3


def test_bps_status_exit_codes_map_to_the_same_states(stack_bin, runs):
    """Our table is the stack's WmsStates, and `bps status --id DIR` exits with what our mapping reads."""
    env = {**os.environ, "PATH": f"{stack_bin}:{os.environ['PATH']}", "BPS_WMS_SERVICE_CLASS": HTCONDOR}
    cases = (("running", BatchState.RUNNING), ("succeeded", BatchState.SUCCEEDED), ("partial", BatchState.FAILED))
    children = [subprocess.Popen([str(stack_bin / "bps"), "status", "--id", str(runs[case]["dir"])], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for case, _ in cases]
    answer = StackBridge(python=str(stack_bin / "python")).call("status", runs=[])
    assert answer["states"] == WMS_STATE_VALUES and answer["runs"] == []
    for (case, expected), child in zip(cases, children):
        _, err = child.communicate()
        assert from_exit_code(child.returncode) is expected, (case, child.returncode, err[-2000:])
    # bps status says FAILED for the partial run; with its final job's success our rule makes it PARTIAL
    assert run_state("FAILED", "SUCCEEDED", failed_jobs=2, succeeded_jobs=22) is BatchState.PARTIAL


def test_a_parsl_run_is_followed_through_its_quantum_provenance_in_the_same_helper_call(stack_bin, runs, executed,
                                                                                       tmp_path):
    """Parsl has no get_status: the run's state, tasks and failures come from quantum provenance, read by the same
    helper process that reads the HTCondor runs (one of which it cannot read); once it ended, its digest answers
    for it."""
    source = BpsSource(StackBridge(python=str(stack_bin / "python")))
    parsl = RunRef(executed.parent.name + "_parsl", wms="parsl", submit_dir=str(executed),
                   returned=datetime(2026, 12, 1, 11, 0, tzinfo=timezone.utc))
    condor = RunRef("u_jdoe_running", wms="htcondor", submit_dir=str(runs["running"]["dir"]))
    prepared_only = tmp_path / "prepared_only"
    prepared_only.mkdir()
    unreadable = [RunRef("u_none", wms="htcondor", submit_dir=str(prepared_only)),
                  RunRef("u_id", wms="htcondor", run_id="x")]  # neither a directory nor a queue to ask
    found, running, none, by_id = source.statuses([parsl, condor, *unreadable])
    assert source.requests_made == 1 and source.provenance_reads == 1 and source.status_calls == 3
    assert running.state is BatchState.RUNNING
    # a run the plug-in cannot read is unknown, with the reason; the others are answered
    assert none.state is BatchState.UNKNOWN and "DAGMan log not found" in none.message
    assert by_id.state is BatchState.UNKNOWN and "could not read this run" in by_id.message
    assert (found.state, found.total, found.finished, found.failed) == (BatchState.PARTIAL, 24, 23, 1)
    tasks = {t.label: (t.state, t.total, t.finished, t.failed) for t in found.tasks}
    assert tasks == {"isr": (BatchState.SUCCEEDED, 12, 12, 0), "calibrateImage": (BatchState.PARTIAL, 12, 11, 1)}
    [group] = found.failures
    assert (group.label, group.kind, group.count, group.data_ids) == ("calibrateImage", "ValueError", 1,
                                                                       ["visit=1003 detector=2"])
    assert found.report_name.endswith(".json") and found.digest.startswith("b1:-:") and found.digest.endswith(":a")
    again = source.statuses([RunRef(parsl.name, wms="parsl", submit_dir=parsl.submit_dir, digest=found.digest)])
    assert again[0].state is BatchState.PARTIAL and not again[0].changed and source.requests_made == 1


# ---- through the CLI ---------------------------------------------------------------------------------

local_camp = campaign_fixture("local")


def test_sync_updates_an_htcondor_ticket_from_its_submit_dir(local_camp, stack_bin, runs):
    local_camp.create()
    key = local_camp.keys["demo-w47_step1_001"]
    run = runs["partial"]
    recorded = local_camp.run("record", key, "--run-name", run["run"], "--wms", "htcondor",
                              "--submit-dir", str(run["dir"]))
    assert recorded.exit_code == 0, recorded.output
    result = local_camp.run("--set", f"bps.python={stack_bin / 'python'}", "sync")
    assert result.exit_code == 0, result.output
    assert f"Attention: {key} {run['run']} is partial" in result.stderr
    status, meta, _, comments = local_camp.ticket(key)
    assert status == "Blocked"
    db = sqlite3.connect(local_camp.tmp / "store.sqlite")
    assert db.execute("SELECT state FROM tickets WHERE key = ?", (key,)).fetchone()[0] == "partial"
    [note] = [c for c in comments if "jiracampaign:status" in c]
    assert "PARTIAL" in note and "26 total, 24 done, 2 failed" in note and "calibrateImage" in note
    [summary] = [c for c in comments if "jiracampaign:failures" in c]
    assert "`exit:1`: the pipeline task failed (exit code 1)" in summary and "`pruned`: never ran" in summary
    assert run["failed"].replace("_", "\\_") in summary  # the failed job, by name (Markdown-escaped)
    writes = local_camp.tracker_writes()
    second = local_camp.run("--set", f"bps.python={stack_bin / 'python'}", "sync")
    assert second.exit_code == 0 and "0 changed" in second.stderr and "0 status-source requests" in second.stderr
    assert local_camp.tracker_writes() == writes


def test_without_the_stack_sync_says_how_to_enable_it_and_goes_on(local_camp, monkeypatch):
    local_camp.create()
    key = local_camp.keys["demo-w47_step1_001"]
    assert local_camp.run("record", key, "--run-name", "u_jdoe_condor_1", "--wms", "htcondor",
                          "--submit-dir", "/data/submit/u_jdoe_condor_1").exit_code == 0
    other = local_camp.keys["demo-w47_step1_002"]
    assert local_camp.run("record", other, "--run-name", "u_jdoe_panda_1", "--run-id", "4242").exit_code == 0
    local_camp.panda.add_run("u_jdoe_panda_1", {"isr": 4}, request_id=4242, status="Finished")
    local_camp.panda.progress("u_jdoe_panda_1", "isr", finished=4, status="done")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    result = local_camp.run("--set", "bps.command=bps", "--set", "bps.python=", "sync")
    assert result.exit_code == 1, result.output
    assert ("Problem: bps: cannot follow 1 run on htcondor, parsl: no 'bps' on PATH to find the Rubin stack from; "
            "install the Rubin middleware") in result.stderr
    assert "or set bps.python to the stack's interpreter" in result.stderr
    assert local_camp.ticket(other)[0] == "Done"  # the other source's runs were synced
    assert local_camp.ticket(key)[0] == "In Progress"  # left as record set it


def test_runs_recorded_before_the_bps_source_are_picked_up_by_a_full_sync(local_camp):
    local_camp.create()
    key = local_camp.keys["demo-w47_step1_001"]
    assert local_camp.run("--set", "sync.sources=panda", "record", key, "--run-name", "u_jdoe_condor_1", "--wms",
                          "htcondor", "--submit-dir", "/data/submit/u_jdoe_condor_1").exit_code == 0
    no_stack = ("--set", "bps.python=/nonexistent/python3.12")
    idle = local_camp.run(*no_stack, "sync")
    assert f"Unknown: {key} u_jdoe_condor_1: no status source follows 'htcondor' runs" in idle.stderr
    full = local_camp.run(*no_stack, "sync", "--full")
    assert "Problem: bps: cannot follow 1 run on htcondor, parsl: bps.python is '/nonexistent/python3.12'" in full.stderr
