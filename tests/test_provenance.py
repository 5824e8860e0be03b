"""Failure summaries from quantum provenance.

The first half runs the real Rubin middleware once per module (`toy_run`): a toy repository built by
``examples/rubin/build_repo.py`` (6 visits x 2 detectors), the mock pipeline of ``examples/rubin``
submitted with ``bps submit`` on Parsl's local site, clustered by visit, with two injected failures of
different kinds (ValueError in calibrateImage for visit 1003 detector 2, MemoryError in isr for
exposure 2002 detector 1); then the stack helper's ``provenance`` op through `StackBridge`, the
conversion, the known-errors table, and a sync through the CLI on the local store.

The second half is fast: conversion, grouping and masking on hand-written answers, log-file finding
on hand-made submit directories, and the short failure summary.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from jiracampaign.cli import cli
from jiracampaign.config import load_config
from jiracampaign.core.known_errors import classify, load_known_errors
from jiracampaign.core.ledger import Entry
from jiracampaign.core.runs import RunRef, RunStatus
from jiracampaign.core.states import BatchState
from jiracampaign.core.texts import failure_doc
from jiracampaign.sources.base import StatusSource
from jiracampaign.sources.bps.bridge import StackBridge
from jiracampaign.sources.bps.provenance import (apply_provenance, apply_result, compact_data_id, message_shape,
                                                 read_provenance, report_name, result_from_answer)
from jiracampaign.services.sync import Syncer, report_bytes
from jiracampaign.trackers import markdown
from jiracampaign.trackers.local import LocalTracker
from tests.conftest import REPO

STACK = Path(os.environ.get("JC_TEST_STACK") or REPO / ".venv-lsst")
EXAMPLES = REPO / "examples" / "rubin"
DEMO = REPO / "examples" / "demo" / "campaign.yaml"


def _stack_module():
    """``stack_provenance`` loaded as the helper loads it (a plain file; only its lsst calls need the stack)."""
    path = REPO / "jiracampaign" / "sources" / "bps" / "stack" / "stack_provenance.py"
    spec = importlib.util.spec_from_file_location("_test_stack_provenance", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- the real middleware, once per module -------------------------------------------------------------------

@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """A finished Parsl run of the toy pipeline with two injected failures: ``(submit dir, run name, repo)``."""
    if not (STACK / "bin" / "bps").exists():
        pytest.skip(f"no Rubin stack in {STACK}: run 'make stack'")
    work = tmp_path_factory.mktemp("toy")
    (work / "examples").symlink_to(REPO / "examples")  # the example BPS files name ${PWD}/examples/rubin/...
    repo = work / "build" / "rubin" / "repo"
    env = {**os.environ, "PATH": f"{STACK / 'bin'}:{os.environ['PATH']}", "PWD": str(work)}  # bps reads ${PWD}
    built = subprocess.run([str(STACK / "bin" / "python"), str(EXAMPLES / "build_repo.py"), str(repo), "--visits", "6",
                            "--detectors", "2", "--nights", "2", "-q"], capture_output=True, text=True, env=env)
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["nights"] == {"20261201": [1001, 1003], "20261202": [2001, 2003]}
    done = subprocess.run([str(STACK / "bin" / "bps"), "submit", "examples/rubin/bps_clustered.yaml"], cwd=work,
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]  # exits 0 although quanta failed
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    assert lines["Run Id"] == "None"
    return Path(lines["Submit dir"]), lines["Run Name"], repo


@pytest.fixture(scope="module")
def bridge():
    return StackBridge(python=str(STACK / "bin" / "python"))


@pytest.fixture(scope="module")
def answer(toy_run, bridge):
    """The ``provenance`` op's answer for the toy run and for a run whose submit dir does not exist."""
    submit, name, repo = toy_run
    registry = repo / "gen3.sqlite3"
    before = hashlib.sha256(registry.read_bytes()).hexdigest()
    got = bridge.call("provenance", runs=[{"name": name, "submit_dir": str(submit)},
                                          {"name": "u_gone_1", "submit_dir": str(submit.parent / "gone")}])
    assert hashlib.sha256(registry.read_bytes()).hexdigest() == before  # dry run: the registry is untouched
    return got["runs"]


def _by_task(run):
    return {t["label"]: t for t in run["tasks"]}


def test_provenance_counts_every_quantum_per_task(answer, toy_run):
    run = answer[toy_run[1]]
    assert run["ok"] and run["mock_storage_classes"] is True and run["repo"] == str(toy_run[2])
    tasks = _by_task(run)
    counts = {label: (t["expected"], t["successful"], t["failed"], t["blocked"], t["unknown"]) for label, t in tasks.items()}
    assert counts == {"isr": (12, 11, 1, 0, 0), "calibrateImage": (12, 10, 1, 1, 0),
                      "consolidateVisitSummary": (6, 4, 0, 2, 0)}
    assert all(t["peak_memory"] and t["peak_memory"] > 10 * 2**20 for t in tasks.values())
    assert tasks["isr"]["exceptions"] == {"MemoryError": 1} and tasks["calibrateImage"]["exceptions"] == {"ValueError": 1}
    assert run["final_job"]["state"] == "succeeded" and Path(run["final_job"]["log"]).is_file()


def test_failed_quanta_carry_data_ids_exceptions_and_their_logs(answer, toy_run):
    submit = toy_run[0]
    failed = {(q["task"], compact_data_id(q["data_id"])): q for q in answer[toy_run[1]]["failed"]}
    assert set(failed) == {("isr", "exposure=2002 detector=1"), ("calibrateImage", "visit=1003 detector=2")}
    memory, value = failed["isr", "exposure=2002 detector=1"], failed["calibrateImage", "visit=1003 detector=2"]
    assert memory["data_id_full"]["band"] and memory["data_id_full"]["day_obs"] == 20261202
    for quantum, kind in ((memory, "MemoryError"), (value, "ValueError")):
        assert len(quantum["attempts"]) == 2  # Parsl retries a failed job once
        for attempt in quantum["attempts"]:
            assert attempt["exception"]["type"] == kind
            assert attempt["exception"]["message"].startswith(f"Simulated failure: task={quantum['task']} dataId=")
            assert attempt["memory"] > 0
            log = Path(attempt["log"])
            assert log.is_file() and log.is_relative_to(submit / "logs") and log.suffix == ".stderr"
            assert quantum["quantum_id"] in log.read_text()  # the clustered job names its quanta in its command
            assert f"{kind}: Simulated failure" in log.read_text()
    assert Path(memory["attempts"][0]["log"]).parent.name == "2002"  # logs/visit/2002/visit_2002.stderr


def test_blocked_quanta_are_the_ones_downstream_of_the_failures(answer, toy_run):
    blocked = {(q["task"], compact_data_id(q["data_id"])) for q in answer[toy_run[1]]["blocked"]}
    assert blocked == {("calibrateImage", "visit=2002 detector=1"), ("consolidateVisitSummary", "visit=1003"),
                       ("consolidateVisitSummary", "visit=2002")}


def test_a_run_that_cannot_be_read_is_an_error_for_that_run_only(answer, toy_run):
    assert answer[toy_run[1]]["ok"]
    assert answer["u_gone_1"]["ok"] is False and answer["u_gone_1"]["kind"] == "RunNotReadable"
    assert "does not exist" in answer["u_gone_1"]["error"]


def test_conversion_groups_the_two_failures_and_known_errors_tell_them_apart(answer, toy_run):
    result = result_from_answer(toy_run[1], answer[toy_run[1]])
    assert result.state is BatchState.PARTIAL and result.failed_quanta == 2
    assert [(t.label, t.total, t.finished, t.failed, t.state) for t in result.tasks] == [
        ("isr", 12, 11, 1, BatchState.PARTIAL), ("calibrateImage", 12, 10, 1, BatchState.PARTIAL),
        ("consolidateVisitSummary", 6, 4, 0, BatchState.PARTIAL)]
    groups = {g.kind: g for g in result.failures}
    assert set(groups) == {"MemoryError", "ValueError"}
    assert groups["ValueError"].data_ids == ["visit=1003 detector=2"]
    assert groups["ValueError"].shape == "Simulated failure: task=calibrateImage dataId={…}"
    example = groups["MemoryError"].examples[0]
    assert example.attempt == 2 and example.data_id == "exposure=2002 detector=1" and Path(example.log).is_file()
    table = load_known_errors()
    memory = classify(groups["MemoryError"], table)
    assert memory is not None and memory.action == "rescue" and "requestMemory x2" in memory.advice
    assert classify(groups["ValueError"], table) is None  # left for review
    assert result.report["counts"] == {"expected": 30, "finished": 25, "caveats": 0, "failed": 2, "blocked": 3,
                                       "unknown": 0}
    assert result.report_name == f"provenance-{toy_run[1]}.json"


class ProvenanceSource(StatusSource):
    """A status source for the sync test: Parsl runs read from quantum provenance alone."""

    name, label, handles = "provenance", "quantum provenance", ("parsl",)

    def __init__(self):
        self.bridge = StackBridge(python=str(STACK / "bin" / "python"))

    @classmethod
    def from_config(cls, config, **kwargs):
        return cls()

    def statuses(self, runs, detail="changed"):
        results = read_provenance(self.bridge, runs)
        out = []
        for ref in runs:
            status = RunStatus(ref.name, self.name, BatchState.UNKNOWN, source_label=self.label)
            apply_provenance([(ref, status)], results)
            status.digest = results[ref.name].digest or None
            out.append(status)
        return out

    def ping(self):
        return "provenance"


def test_sync_posts_a_short_summary_and_attaches_the_full_report(toy_run, runner, tmp_path):
    submit, name, _ = toy_run
    store = tmp_path / "store.sqlite"
    base = ["--set", f"local.path={store}", "--set", "sync.sources=tests.test_provenance.ProvenanceSource"]
    created = runner.invoke(cli, [*base, "create", str(DEMO), "--json"])
    assert created.exit_code == 0, created.output
    key = next(row["key"] for row in json.loads(created.stdout) if row["id"].endswith("step1_001"))
    recorded = runner.invoke(cli, [*base, "record", key, "--run-name", name, "--wms", "parsl", "--submit-dir", str(submit)])
    assert recorded.exit_code == 0, recorded.output
    synced = runner.invoke(cli, [*base, "sync"])
    assert synced.exit_code == 0, synced.output
    db = sqlite3.connect(store)
    state = db.execute("SELECT state FROM tickets WHERE key = ?", (key,)).fetchone()[0]
    assert state == "partial"
    summaries = [body for marker, body in db.execute("SELECT marker, body FROM comments WHERE key = ?", (key,))
                 if marker and marker.startswith("failures-")]
    assert len(summaries) == 1
    summary = summaries[0]
    assert len(summary) < 2500 and len(summary.splitlines()) < 40  # short: the rest is in the attachment
    assert "2 failed quanta, 2 distinct errors" in summary
    assert "`MemoryError`" in summary and "requestMemory x2" in summary and "`visit=1003 detector=2`" in summary
    assert "Unknown error: needs review" in summary and "Peak memory of isr:" in summary
    assert f"attached as `provenance-{name}.json`" in summary
    status_note = db.execute("SELECT body FROM comments WHERE key = ? AND marker = 'status'", (key,)).fetchone()[0]
    assert "**Quanta:** 30 total, 25 done, 2 failed, 3 left" in status_note
    assert "| isr | partial | 12 | 11 | 1 |" in status_note and "3 quanta blocked by upstream failures" in status_note
    rows = db.execute("SELECT id, content FROM attachments WHERE key = ? AND filename = ?",
                      (key, f"provenance-{name}.json")).fetchall()
    assert len(rows) == 1
    report = json.loads(rows[0][1])
    assert report["run"] == name and {g["kind"] for g in report["groups"]} == {"MemoryError", "ValueError"}
    assert len(report["blocked"]) == 3 and report["failed"][0]["attempts"][0]["log"].startswith(str(submit))
    again = runner.invoke(cli, [*base, "sync"])
    assert again.exit_code == 0 and "0 changed, wrote 0 updates" in again.stderr
    # the report is uploaded only when its content changed (the tracker replaces a file of the same name)
    tracker = LocalTracker(store)
    syncer = Syncer(tracker, load_config(overrides={"local.path": str(store)}))
    assert syncer._attach_changed(key, f"provenance-{name}.json", report_bytes(report)) == "unchanged"
    assert db.execute("SELECT id FROM attachments WHERE key = ? AND filename = ?",
                      (key, f"provenance-{name}.json")).fetchall() == [(rows[0][0],)]
    assert syncer._attach_changed(key, f"provenance-{name}.json", b"{}") == "attached"
    assert db.execute("SELECT content FROM attachments WHERE key = ? AND filename = ?",
                      (key, f"provenance-{name}.json")).fetchall() == [(b"{}",)]
    tracker.close()


# ---- fast: conversion on hand-written answers ----------------------------------------------------------------

def _quantum(task, data_id, kind="ValueError", message=None, attempts=1, status="FAILED", tail=None):
    attempt_rows = []
    for n in range(attempts):
        exception = {"type": kind, "message": message or f"bad value {n} for {data_id}"} if kind else None
        row = {"attempt": n, "status": status, "exception": exception, "memory": 1.5e9 + n, "log": f"/s/logs/{task}.stderr",
               "stderr": f"/s/logs/{task}.stderr", "stdout": f"/s/logs/{task}.stdout"}
        if tail:
            row["log_tail"] = tail
        attempt_rows.append(row)
    return {"quantum_id": f"q-{task}-{sorted(data_id.items())}", "task": task, "status": status,
            "data_id": {"instrument": "Toy", **data_id}, "attempts": attempt_rows, "logs": []}


def _task(label, expected, successful=0, failed=0, blocked=0, unknown=0, caveats=0, peak=None):
    return {"label": label, "expected": expected, "successful": successful, "failed": failed, "blocked": blocked,
            "unknown": unknown, "caveats": caveats, "aborted": 0, "aborted_success": 0, "peak_memory": peak}


def _answer(tasks, failed=(), unknown=(), recovered=(), final="succeeded"):
    return {"ok": True, "tasks": tasks, "failed": list(failed), "unknown": list(unknown), "blocked": [],
            "caveats": [], "recovered": list(recovered), "final_job": {"state": final, "log": None}}


def test_messages_differing_in_numbers_and_data_ids_are_one_group():
    message = "Simulated failure: task=isr dataId={instrument: 'Toy', detector: %d, exposure: %d, band: '%s'}"
    failed = [_quantum("isr", {"exposure": 2002, "detector": 1}, message=message % (1, 2002, "r")),
              _quantum("isr", {"exposure": 1001, "detector": 2}, message=message % (2, 1001, "g")),
              _quantum("isr", {"exposure": 1003, "detector": 1}, kind="MemoryError", message="out of it"),
              _quantum("calibrateImage", {"visit": 1005, "detector": 1}, message="Object 0x7f3a9c at 12.5 deg")]
    result = result_from_answer("r", _answer([_task("isr", 10, 7, 3, peak=2.1e9), _task("calibrateImage", 7, 6, 1)],
                                             failed))
    shapes = [(g.label, g.kind, g.count, g.shape) for g in result.failures]
    assert shapes == [("isr", "ValueError", 2, "Simulated failure: task=isr dataId={…}"),
                      ("calibrateImage", "ValueError", 1, "Object # at # deg"),
                      ("isr", "MemoryError", 1, "out of it")]
    assert result.failures[0].data_ids == ["exposure=1001 detector=2", "exposure=2002 detector=1"]
    assert result.state is BatchState.PARTIAL and result.peak_memory == {"isr": 2.1e9}
    assert [g["count"] for g in result.report["groups"]] == [2, 1, 1]


def test_masking_and_compact_data_ids():
    assert message_shape("id 01a23369-c31c-78fd-b688-eeeff11ee6b0 took 3.5 s") == "id # took # s"
    assert message_shape("no {data} here") == "no {data} here"
    assert compact_data_id({"instrument": "Toy", "detector": 2, "visit": 1003, "band": "i"}) == "visit=1003 detector=2 band=i"
    assert compact_data_id({"patch": 4, "tract": 9813, "skymap": "s"}) == "tract=9813 patch=4 skymap=s"
    assert report_name("u/jdoe/step 1") == "provenance-u_jdoe_step_1.json"


@pytest.mark.parametrize("tasks,unknown,final,ended,state", [
    ([_task("a", 4, 4)], (), "succeeded", None, BatchState.SUCCEEDED),
    ([_task("a", 4, 2, caveats=2)], (), "succeeded", None, BatchState.PARTIAL),
    ([_task("a", 4, 0, 4)], (), "succeeded", None, BatchState.FAILED),
    ([_task("a", 4, 1, unknown=3)], (), "absent", None, BatchState.RUNNING),
    ([_task("a", 4, 1, unknown=3)], (), "absent", True, BatchState.PARTIAL),
    ([_task("a", 0)], (), "succeeded", None, BatchState.SUCCEEDED),
])
def test_the_run_state_follows_the_quanta(tasks, unknown, final, ended, state):
    assert result_from_answer("r", _answer(tasks, unknown=unknown, final=final), ended=ended).state is state


def test_quanta_lost_without_a_trace_count_as_failed_once_the_run_ended_and_known_errors_read_their_log():
    lost = [_quantum("isr", {"exposure": 5, "detector": 1}, kind=None, status="UNKNOWN",
                     tail="INFO running\n/bin/bash: line 1: 4242 Killed  pipetask run-qbb ...")]
    answer = _answer([_task("isr", 3, 2, unknown=1)], unknown=lost, final="absent")
    running = result_from_answer("r", answer)
    assert running.state is BatchState.RUNNING and running.failures == [] and running.tasks[0].state is BatchState.RUNNING
    ended = result_from_answer("r", answer, ended=True)
    assert ended.state is BatchState.PARTIAL and ended.failed_quanta == 1
    group = ended.failures[0]
    assert group.kind == "unknown" and "Killed" in group.message
    known = classify(group, load_known_errors())
    assert known is not None and known.action == "rescue" and "signal 9" in known.meaning


def test_attempts_that_failed_before_a_success_are_retried_not_failures():
    recovered = [_quantum("isr", {"exposure": 7, "detector": 1}, attempts=2, status="SUCCESSFUL")]
    recovered[0]["attempts"][0]["status"] = "FAILED"
    recovered[0]["attempts"][1].update(status="SUCCESSFUL", exception=None)
    result = result_from_answer("r", _answer([_task("isr", 2, 2)], recovered=recovered))
    assert result.state is BatchState.SUCCEEDED and result.failures == []
    assert result.retried_attempts == 1 and result.retried[0].kind == "ValueError"


def test_apply_fills_the_status_and_sets_the_state_only_when_asked_or_unknown():
    result = result_from_answer("r", _answer([_task("isr", 4, 3, 1)], [_quantum("isr", {"exposure": 1, "detector": 1})]))
    fresh = RunStatus("r", "bps", BatchState.UNKNOWN)
    apply_result(fresh, result)
    assert fresh.state is BatchState.PARTIAL and (fresh.total, fresh.finished, fresh.failed) == (4, 3, 1)
    assert fresh.failures_read and fresh.failed_jobs == 1 and fresh.report["run"] == "r"
    assert fresh.report_name == "provenance-r.json" and fresh.detail
    from_plugin = RunStatus("r", "bps", BatchState.FAILED)
    apply_result(from_plugin, result)
    assert from_plugin.state is BatchState.FAILED and from_plugin.failures
    apply_result(from_plugin, result, set_state=True)
    assert from_plugin.state is BatchState.PARTIAL
    broken = RunStatus("r", "bps", BatchState.UNKNOWN)
    apply_result(broken, result_from_answer("r", {"ok": False, "kind": "RunNotReadable", "error": "no .qg"}))
    assert broken.state is BatchState.UNKNOWN and "quantum provenance not read: RunNotReadable: no .qg" in broken.message


def test_read_provenance_answers_refs_without_a_submit_dir_without_calling_the_stack():
    class NoStack:
        calls = 0

        def call(self, op, **request):  # the stack must not be asked
            raise AssertionError("called")
    results = read_provenance(NoStack(), [RunRef("u_x_1", wms="parsl")])
    assert results["u_x_1"].ok is False and "submit directory is not recorded" in results["u_x_1"].error


# ---- fast: finding job logs in a submit directory (stack side, no lsst needed) -----------------------------

def test_logs_are_found_by_name_unclustered_and_by_command_line_clustered(tmp_path):
    stack = _stack_module()
    q1, q2, q3 = ("01a23369-c31c-78fd-b688-eeeff11ee6b0", "01a23369-c312-7247-840b-76730f1b3533",
                  "01a23369-c318-70fe-bde9-d752e998bea8")
    plain = tmp_path / "logs" / "calibrateImage" / "1003"
    plain.mkdir(parents=True)
    (plain / f"{q1}_calibrateImage_1003_2.stderr").write_text("ValueError\n")
    (plain / f"{q1}_calibrateImage_1003_2.stdout").write_text("")
    cluster = tmp_path / "logs" / "visit" / "2002"
    cluster.mkdir(parents=True)
    (cluster / "visit_2002.stderr").write_text(
        "--> executable follows <--\npipetask run-qbb repo run.qg --qgraph-node-id "
        f"{q2},{q3} \n--> end executable <--\nINFO ...\n")
    (cluster / "visit_2002.stdout").write_text("")
    final = tmp_path / "logs" / "finalJob"
    final.mkdir(parents=True)
    (final / "finalJob.stderr").write_text("INFO ... - All aggregation tasks complete after 3.0s\n")
    logs = stack.LogFiles(tmp_path)
    assert [p.name for p in logs.of(q1)] == [f"{q1}_calibrateImage_1003_2.stderr", f"{q1}_calibrateImage_1003_2.stdout"]
    assert [p.name for p in logs.of(q3)] == ["visit_2002.stderr", "visit_2002.stdout"]
    assert logs.of("01a23369-0000-0000-0000-000000000000") == []
    assert logs.final_job() == {"state": "succeeded", "log": str(final / "finalJob.stderr")}
    assert stack.LogFiles(tmp_path / "none").final_job()["state"] == "absent"


def test_htcondor_attempts_each_get_their_own_files(tmp_path):
    stack = _stack_module()
    files = [tmp_path / "jobs" / "isr" / f"job.{n}.err" for n in (101, 102)]
    for n, path in enumerate(files):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
        os.utime(path, (1000 + n, 1000 + n))
    picked = [stack._attempt_logs(n, files)["stderr"] for n in (0, 1)]
    assert picked == [str(files[0]), str(files[1])]
    assert stack._attempt_logs(1, files[:1])["stderr"] == str(files[0])  # Parsl: one file for every attempt


def test_the_predicted_graph_is_found_or_named_in_the_error(tmp_path):
    stack = _stack_module()
    with pytest.raises(stack.RunNotReadable, match="no quantum graph"):
        stack.find_qgraph("u_x_1", str(tmp_path), None)
    (tmp_path / "other.qg").write_text("")
    assert stack.find_qgraph("u_x_1", str(tmp_path), None).name == "other.qg"
    (tmp_path / "u_x_1.qg").write_text("")
    assert stack.find_qgraph("u_x_1", str(tmp_path), None).name == "u_x_1.qg"
    (tmp_path / "u_x_1.qg").unlink()
    (tmp_path / "third.qg").write_text("")
    with pytest.raises(stack.RunNotReadable, match="2 quantum graphs"):
        stack.find_qgraph("u_x_1", str(tmp_path), None)


def test_a_relative_repository_is_taken_from_where_bps_ran(tmp_path):
    stack = _stack_module()
    (tmp_path / "work" / "repo").mkdir(parents=True)
    submit = tmp_path / "submit"
    submit.mkdir()
    (submit / "u_x_1.env.info.yaml").write_text(f"HOME: /h\nPWD: {tmp_path / 'work'}\n")
    assert stack.find_repo("repo", submit) == str(tmp_path / "work" / "repo")
    assert stack.find_repo("/abs/repo", submit) == "/abs/repo"
    with pytest.raises(stack.RunNotReadable, match="pass 'repo'"):
        stack.find_repo(None, submit)


# ---- fast: the short failure summary ----------------------------------------------------------------------------

def test_the_summary_shows_the_top_groups_and_points_to_the_report():
    failed = [_quantum(f"task{i}", {"visit": 100 + j, "detector": 1}, kind=f"Error{i}") for i in range(7) for j in range(i + 1)]
    result = result_from_answer("u_r_1", _answer([_task(f"task{i}", 10, 10 - i - 1, i + 1, peak=2**31) for i in range(7)],
                                                 failed))
    status = RunStatus("u_r_1", "bps", BatchState.UNKNOWN)
    apply_result(status, result)
    text = markdown.render(failure_doc(status, Entry(key="JC-2", ident="x", step="s", source="bps", run_name="u_r_1"),
                                       load_known_errors()))
    assert "28 failed quanta, 7 distinct errors" in text
    assert "task6" in text and "task2" in text and "x task1 `Error1`" not in text  # top 5 groups by count
    assert "... and 2 more errors (3 failed quanta) in the attached report." in text
    assert "(+2 more)" in text and "Peak memory of task6: 2.0 GiB" in text
    assert "attached as `provenance-u_r_1.json`" in text
    assert "**Next:** review (7 errors)" in text
    assert text.count("quantum `visit=") == 5 * 2  # two example quanta per group shown
