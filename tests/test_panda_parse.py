"""Parsing the monitor's answers: the real 2021-22 recording, the current shape, names, errors and log links."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from jiracampaign.sources.panda.parse import (
    WfRow,
    as_int,
    group_failures,
    job_errors,
    log_links,
    parse_task,
    parse_time,
    parse_wfprogress,
    task_label,
)
from jiracampaign.core.states import BatchState

RECORDED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "panda-doma-2022"
needs_recording = pytest.mark.skipif(not RECORDED.is_dir(), reason="../shared/data/panda-doma-2022 is absent")
RUN_777 = "2.2i_all_band_1_v23_0_0_rc5_preops-973_20220127t205042z"
GCS = "https://storage.googleapis.com/drp-us-central1-logging/logs/DOMA_LSST_GOOGLE_TEST/PandaJob_5812659"


def recorded(name: str):
    return json.loads((RECORDED / name).read_text())


@needs_recording
def test_every_recorded_workflow_maps_to_a_known_state():
    rows = parse_wfprogress(recorded("idds-wfprogress.json"))
    assert len(rows) == 298
    assert all(row.legacy for row in rows)
    states = Counter(row.state for row in rows)
    assert states == {BatchState.SUCCEEDED: 188, BatchState.PARTIAL: 85, BatchState.FAILED: 16 + 1,
                      BatchState.CANCELLED: 8}
    assert all(row.created and row.created.tzinfo is timezone.utc for row in rows)
    again = parse_wfprogress(recorded("idds-wfprogress.json"))
    assert [r.hash for r in rows] == [r.hash for r in again]  # a digest is stable for an unchanged row
    moved = dict(rows[0].raw, processed_files=rows[0].raw["processed_files"] + 1)
    assert WfRow(moved).hash != rows[0].hash


@needs_recording
def test_recorded_request_777_links_its_tasks_and_jobs():
    row = next(r for r in parse_wfprogress(recorded("idds-wfprogress.json")) if r.request_id == 777)
    assert (row.name, row.total, row.finished, row.task_ids) == (RUN_777, 212, 212, [9305, 9304, 9303])
    tasks = [parse_task(t, row.name, "https://m") for t in recorded("tasks-by-taskname.json")]
    assert {t.task_id for t in tasks} == set(row.task_ids)
    assert sum(t.total for t in tasks) == row.total
    labels = {t.task_id: t.label for t in tasks}
    assert labels[9304] == "visit_detector_1"
    assert labels[9305] == "mergeExecutionButler"
    assert all(t.state is BatchState.SUCCEEDED and t.remaining == 0 and t.running == 0 for t in tasks)
    jobs = [j for n in (9303, 9304, 9305) for j in recorded(f"jobs-jeditaskid-{n}-finished.json")["jobs"]]
    assert len(jobs) > 100
    for job in jobs:
        assert job["reqid"] == row.request_id and job["jeditaskid"] in labels
        assert task_label(job["jobname"].rsplit(".", 1)[0], row.name) == labels[job["jeditaskid"]]
        stdout, stderr, log = log_links(job)
        assert stdout.endswith(f"PandaJob_{job['pandaid']}/payload.stdout") and stderr.endswith("payload.stderr")
        assert job_errors(job) == []


@needs_recording
def test_recorded_task_mixes_datetime_formats_and_parses_both():
    task = recorded("tasks-by-taskname.json")[0]
    assert " " in task["creationdate"] and "T" in task["endtime"]
    assert parse_time(task["creationdate"]) < parse_time(task["endtime"])


def test_current_shape_keeps_case_and_turns_percentages_into_counts():
    row = WfRow({"request_id": 6123, "r_status": "Transforming", "created_at": "2024-05-02 14:03:11.123456",
                 "total_tasks": 4, "tasks_statuses": {"Finished": 2, "Running": 1, "Failed": 1},
                 "finished_files": 87, "failed_files": 0.4, "processing_files": 35, "total_files": 1000,
                 "total_jedi_files": 1000, "r_name": "u_jdoe_DM-12345_step1_20240502T140210Z"})
    assert not row.legacy
    assert (row.state, row.finished, row.failed, row.running) == (BatchState.RUNNING, 870, 4, 35)
    assert row.created == datetime(2024, 5, 2, 14, 3, 11, 123456, tzinfo=timezone.utc)


def test_legacy_and_current_rows_of_one_run_map_to_the_same_state():
    legacy = WfRow({"request_id": 1, "r_status": "subfinished", "tasks_statuses": {"SubFinished": 1},
                    "tasks_links_all": "nan", "r_name": "x"})
    current = WfRow({"request_id": 1, "r_status": "SubFinished", "finished_files": 90, "r_name": "X"})
    assert legacy.state is current.state is BatchState.PARTIAL
    assert legacy.task_ids == []  # 2021 code could emit "nan"


def test_suspended_task_holds_a_running_request():
    row = WfRow({"r_status": "Transforming", "tasks_statuses": {"Running": 2, "Suspended": 1}, "finished_files": 0})
    assert row.refined_state() is BatchState.HELD


@pytest.mark.parametrize("value, expected", [("12", 12), (3.6, 4), ("", 0), (None, 0), ("nan", 0), ("1.0000", 1), ("x", 0)])
def test_numbers_arrive_in_many_forms(value, expected):
    assert as_int(value) == expected


@pytest.mark.parametrize("taskname, run, label", [
    ("2.2i_PREOPS-973_20220127T205042Z_visit_detector_1_777_6721", "2.2i_preops-973_20220127t205042z", "visit_detector_1"),
    ("u_jdoe_step1_20240502T140210Z_01_isr_00_6123_30001", "u_jdoe_step1_20240502T140210Z", "isr"),
    ("u_jdoe_step1_20240502T140210Z_02_calibrateImage_03_6123_30002", "", "calibrateImage"),
    ("u_jdoe_step1_20240502T140210Z_pipetaskInit_6123_30000", "", "pipetaskInit"),
])
def test_task_label_strips_run_name_any_case_and_idds_ids(taskname, run, label):
    assert task_label(taskname, run) == label


def test_log_links_follow_the_monitor_rules():
    assert log_links({"pilotid": f"{GCS}/pilotlog.txt|PR|2.12.5 (1)"}) == (
        f"{GCS}/payload.stdout", f"{GCS}/payload.stderr", f"{GCS}/pilotlog.txt")
    assert log_links({"pilotid": "https://ce.example.org/logs/123.out|GP|3.1"}) == (
        "https://ce.example.org/logs/123.log", "https://ce.example.org/logs/123.err", "https://ce.example.org/logs/123.out")
    batch = "https://logs.example.org/DOMA_LSST_GOOGLE_TEST/1449432/job/1449432.log"
    assert log_links({"pilotid": "unknown|PR|3", "harvesterInfo": {"batchlog": batch}}) == (
        batch, batch[:-4] + ".err", batch[:-4] + ".out")
    assert log_links({"pilotid": "", "harvesterInfo": {}}) == ("", "", "")


def test_job_errors_read_code_columns_then_fall_back_to_errorinfo():
    job = {"piloterrorcode": 1305, "piloterrordiag": "Failed to execute   payload", "transexitcode": "1", "exeerrorcode": "0"}
    assert job_errors(job) == [("pilot", "1305", "Failed to execute payload"),
                               ("transformation", "1", "Unknown transformation exit code 1")]
    assert job_errors({"errorinfo": "pilot:1305 Failed to execute payload: x transformation:1 Unknown exit "}) == [
        ("pilot", "1305", "Failed to execute payload: x"), ("transformation", "1", "Unknown exit")]


def test_components_are_named_as_the_monitor_writes_them():
    job = {"exeerrorcode": 137, "exeerrordiag": "", "ddmerrorcode": "200", "ddmerrordiag": "stage-out failed",
           "superrorcode": 8970, "transexitcode": "1",
           "errorinfo": "ddm:200 stage-out failed exe:137 Payload killed by signal 9 sup:8970 Job closed "
                        "transformation:1 pipetask exited: FileNotFoundError: /repo/x "}
    assert job_errors(job) == [("ddm", "200", "stage-out failed"), ("exe", "137", "Payload killed by signal 9"),
                               ("sup", "8970", "Job closed"),
                               ("transformation", "1", "pipetask exited: FileNotFoundError: /repo/x")]
    # a monitor spelling components out (executor, transform) is read under the same names
    assert job_errors({"errorinfo": "executor:137 killed transform:1 exit 1 "}) == [
        ("exe", "137", "killed"), ("transformation", "1", "exit 1")]


def test_a_transformation_failure_keeps_its_diagnostic():
    job = {"pandaid": 1, "jeditaskid": 1, "transexitcode": "1", "transformerrordiag": "",
           "errorinfo": "transformation:1 lsst.daf.butler.MissingDatasetTypeError: calexp "}
    [group] = group_failures([job], {1: "isr"}, "https://m")
    assert (group.error, group.message) == ("transformation:1", "lsst.daf.butler.MissingDatasetTypeError: calexp")


@pytest.mark.parametrize("first, second", [
    ("payload died at /tmp/5812760/x", "payload died at /tmp/5812761/x"),
    ("MemoryError in quantum 3 of 7", "MemoryError in quantum 12 of 7"),
    ("lost worker 0x7f3a9c on node 4", "lost worker 0x1b2e77 on node 15"),
    ("dataset id 5e3a1f0c-9d2b-4c11-8e0a-0f6b2d9e1a77 missing", "dataset id a1b2c3d4-0000-4fff-9aaa-123456789abc missing"),
    ("checksum deadbe42 != 00ff11aa", "checksum c0ffee99 != 12ab34cd"),
])
def test_diagnostics_differing_only_in_numbers_or_hex_ids_are_one_group(first, second):
    jobs = [{"pandaid": i, "jeditaskid": 1, "piloterrorcode": 1305, "piloterrordiag": diag}
            for i, diag in enumerate((first, second))]
    [group] = group_failures(jobs, {1: "isr"}, "https://m")
    assert group.count == 2 and group.message == first


def test_different_words_stay_different_groups():
    jobs = [{"pandaid": i, "jeditaskid": 1, "piloterrorcode": 1305, "piloterrordiag": diag}
            for i, diag in enumerate(("disk full on scratch", "bad face value", "bad added value"))]
    assert len(group_failures(jobs, {1: "isr"}, "https://m")) == 3


def test_failures_group_identical_errors_ignoring_ids():
    def job(pandaid, diag, task=1):
        return {"pandaid": pandaid, "jeditaskid": task, "computingsite": "SLAC", "attemptnr": "2",
                "piloterrorcode": 1305, "piloterrordiag": diag, "pilotid": f"{GCS}/pilotlog.txt|PR|1"}

    jobs = [job(1, "payload died at /tmp/5812760/x"), job(2, "payload died at /tmp/5812761/x"),
            job(3, "disk full"), job(4, "disk full", task=2)]
    groups = group_failures(jobs, {1: "isr", 2: "calibrate"}, "https://m", examples=1)
    assert [(g.label, g.count, g.message) for g in groups] == [
        ("isr", 2, "payload died at /tmp/5812760/x"), ("calibrate", 1, "disk full"), ("isr", 1, "disk full")]
    example = groups[0].examples[0]
    assert (example.url, example.attempt, example.site) == ("https://m/job?pandaid=1", 2, "SLAC")
    assert len(groups[0].examples) == 1
