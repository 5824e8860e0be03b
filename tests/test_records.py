"""Typed, versioned records: round trips through JSON, records written by the previous release (no
``version``), and errors naming what is wrong; the sync record read leniently."""

from __future__ import annotations

import json

import pytest

from jiracampaign.core.records import (RECORD_VERSION, CampaignRecord, RecordError, RunIdentity, StepInfo, StepRecord,
                                       SubmissionRecord, SyncRecord, record_from_json)
from jiracampaign.errors import TrackerError

RUN = RunIdentity(run_name="u_jdoe_c_step1_group001_attempt1", run_id="6123", wms="panda",
                  submit_dir="/sdf/home/j/jdoe/submit/o/20261124T101010Z", submitted="2026-11-24T10:00:00+00:00")

#: a submission record as jiracampaign 0.1 wrote it (no version)
PREVIOUS = {"type": "submission", "campaign": "c", "submission": "c_step1_001", "step": "step1", "group": 1, "groups": 3,
            "data_query": "q", "inputs": 8, "output_run": "o", "run_name": "r", "file": "f.yaml", "sha256": "abc",
            "run": {"run_name": "u_x", "run_id": "6123", "wms": "panda", "submitted": "2026-11-24T10:00:00+00:00"},
            "text_sha": "t"}


def submission(**changes) -> SubmissionRecord:
    base = dict(campaign="c", submission="c_step1_001", step="step1", group=1, groups=3, data_query="visit > 1",
                inputs=8, output_run="u/jdoe/c/step1/001", run_name="c_step1_001", file="c_step1_001.yaml",
                sha256="abc123", label="visit 100..109", pipeline="DRP.yaml#step1", input_collection="Toy/defaults",
                site="SLAC", attempt=2, text_sha="t1")
    return SubmissionRecord(**(base | changes))


def through_json(record):
    """As a tracker stores it: JSON text, read back."""
    return record_from_json(json.loads(json.dumps(record.to_json())))


# ---- round trips ------------------------------------------------------------------------------------------
def test_campaign_record_round_trips():
    record = CampaignRecord(campaign="c", spec_sha256="x" * 64, text_sha="t",
                            steps=[StepInfo("step1", (), 3), StepInfo("step2", ("step1",), 2)])
    data = record.to_json()
    assert data == {"type": "campaign", "version": RECORD_VERSION, "campaign": "c", "spec_sha256": "x" * 64,
                    "steps": [{"name": "step1", "after": [], "groups": 3}, {"name": "step2", "after": ["step1"], "groups": 2}],
                    "text_sha": "t"}
    back = through_json(record)
    assert back == record and isinstance(back, CampaignRecord)
    assert back.step("step2") == StepInfo("step2", ("step1",), 2) and back.step("nope") is None


def test_step_record_round_trips():
    record = StepRecord(campaign="c", step="step1")
    assert record.to_json() == {"type": "step", "version": RECORD_VERSION, "campaign": "c", "step": "step1"}
    assert through_json(record) == record


def test_submission_record_without_a_run_round_trips():
    record = submission()
    data = record.to_json()
    assert "run" not in data and data["type"] == "submission" and data["version"] == RECORD_VERSION
    back = through_json(record)
    assert back == record and back.run is None


def test_submission_record_with_a_run_round_trips():
    record = submission(run=RUN)
    data = record.to_json()
    assert data["run"] == {"run_name": RUN.run_name, "run_id": "6123", "wms": "panda", "submit_dir": RUN.submit_dir,
                           "submitted": "2026-11-24T10:00:00+00:00"}
    back = through_json(record)
    assert back == record and back.run == RUN


def test_a_run_with_only_its_name_round_trips():
    record = submission(run=RunIdentity("u_x"), inputs=None, sha256=None)
    assert record.to_json()["run"] == {"run_name": "u_x"}
    back = through_json(record)
    assert back == record and back.run == RunIdentity("u_x", None, "", None, None) and back.inputs is None


# ---- the previous release ---------------------------------------------------------------------------------
def test_a_record_without_version_reads_as_version_1():
    record = record_from_json(dict(PREVIOUS))
    assert isinstance(record, SubmissionRecord)
    assert (record.campaign, record.submission, record.step, record.group, record.groups) == ("c", "c_step1_001", "step1", 1, 3)
    assert (record.data_query, record.inputs, record.output_run, record.run_name, record.file, record.sha256,
            record.text_sha) == ("q", 8, "o", "r", "f.yaml", "abc", "t")
    assert record.run == RunIdentity(run_name="u_x", run_id="6123", wms="panda", submitted="2026-11-24T10:00:00+00:00")
    assert (record.label, record.pipeline, record.input_collection, record.site, record.attempt) == ("", "", "", "", 1)
    again = record.to_json()
    assert again["version"] == 1 == RECORD_VERSION
    assert {k: v for k, v in again.items() if k != "version" and k in PREVIOUS} == PREVIOUS
    assert record_from_json(again) == record


def test_a_record_of_version_1_reads_the_same():
    assert record_from_json(dict(PREVIOUS, version=1)) == record_from_json(dict(PREVIOUS))


def test_numbers_written_as_text_by_hand_are_accepted_where_text_is_expected():
    record = record_from_json(dict(PREVIOUS, run={"run_name": "u_x", "run_id": 6123}))
    assert record.run.run_id == "6123"


# ---- errors ---------------------------------------------------------------------------------------------
def _error(data) -> RecordError:
    with pytest.raises(RecordError) as info:
        record_from_json(data)
    assert isinstance(info.value, TrackerError)
    return info.value


@pytest.mark.parametrize("name", ["campaign", "submission", "step", "group", "groups", "file"])
def test_a_missing_required_field_is_named(name):
    data = dict(PREVIOUS)
    del data[name]
    assert f"'{name}' is missing" in str(_error(data))
    assert f"'{name}' is missing" in str(_error(dict(PREVIOUS, **{name: None})))


@pytest.mark.parametrize("name, value, wanted", [("group", "1", "int"), ("groups", 3.0, "int"), ("group", True, "int"),
                                                 ("inputs", "8", "int"), ("campaign", ["c"], "str"),
                                                 ("attempt", "2", "int")])
def test_a_wrong_type_is_named(name, value, wanted):
    message = str(_error(dict(PREVIOUS, **{name: value})))
    assert f"field '{name}' should be {wanted}" in message and f"not {type(value).__name__}" in message


def test_a_wrong_run_is_named():
    assert "run record: field 'run_name' is missing" in str(_error(dict(PREVIOUS, run={"run_id": "1"})))
    assert "run record: expected a mapping, not str" in str(_error(dict(PREVIOUS, run="u_x")))


def test_a_wrong_campaign_step_list_is_named():
    base = {"type": "campaign", "campaign": "c"}
    assert "'steps' should be list" in str(_error(dict(base, steps="step1")))
    assert "each of 'steps' should be a mapping" in str(_error(dict(base, steps=["step1"])))
    assert "'groups' should be int" in str(_error(dict(base, steps=[{"name": "s", "groups": "2"}])))
    assert "'name' is missing" in str(_error(dict(base, steps=[{"groups": 2}])))


def test_an_unknown_type_is_named():
    message = str(_error(dict(PREVIOUS, type="milestone")))
    assert "unknown record type 'milestone'" in message and "campaign, step, submission" in message


def test_a_newer_version_asks_for_an_upgrade():
    message = str(_error(dict(PREVIOUS, version=RECORD_VERSION + 1)))
    assert f"record version {RECORD_VERSION + 1}" in message and "upgrade jiracampaign" in message


@pytest.mark.parametrize("data", [None, [], "record", 3, [PREVIOUS]])
def test_not_a_mapping(data):
    assert f"not {type(data).__name__}" in str(_error(data))


# ---- the sync record --------------------------------------------------------------------------------------
def test_sync_record_round_trips():
    record = SyncRecord(source="panda", run_name="u_x", run_id="6123", wms="panda", submitted="2026-11-24T10:00:00+00:00",
                        digest="d1", state="partial", status="Blocked", total=20, finished=18, failed=2, failures="f",
                        changed_at="2026-11-24 11:00 UTC", running=0)
    data = json.loads(json.dumps(record.to_json()))
    assert data["version"] == RECORD_VERSION
    assert SyncRecord.from_json(data) == record
    assert SyncRecord.from_json({"source": "", "run_name": "u_x"}) == SyncRecord(source="", run_name="u_x")


def test_sync_record_ignores_unknown_fields_and_nulls():
    record = SyncRecord.from_json({"source": "panda", "run_name": "u_x", "later": 1, "digest": None, "running": None})
    assert record == SyncRecord(source="panda", run_name="u_x")


@pytest.mark.parametrize("junk", [None, "", [], "u_x", 3, {}, {"run_name": ""}, {"run_name": None, "source": "panda"},
                                  {"source": "panda"}, {"run_name": "u_x"}, {"state": "running", "source": "panda"}])
def test_sync_record_junk_is_none(junk):
    assert SyncRecord.from_json(junk) is None


def test_sync_record_with_wrongly_typed_counts_is_none():
    """Guard (jiracampaign/core/records.py, SyncRecord.from_json): field types are not checked, so a hand-edited
    or damaged record with text counts is accepted and later breaks arithmetic (e.g. the roll-up's sums)."""
    record = SyncRecord.from_json({"source": "panda", "run_name": "u_x", "total": "twenty", "failed": "2"})
    assert record is None, f"accepted a record that cannot be used: {record!r}"
