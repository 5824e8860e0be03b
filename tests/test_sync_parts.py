"""The pieces under submit and sync: bps output, the run rows, the ledger, failure signatures, the roll-up."""

from __future__ import annotations

from jiracampaign.core.ledger import Entry, SyncState
from jiracampaign.core.records import RunIdentity, StepInfo, SubmissionRecord
from jiracampaign.core.runs import FailureExample, FailureGroup, RunStatus
from jiracampaign.core.states import BatchState
from jiracampaign.core.texts import failure_signatures, rollup_doc, status_doc, submission_doc
from jiracampaign.services.submit import parse_bps_output, wms_of
from jiracampaign.trackers.jira import wiki


def entry(key, ident, step, source, run_name, **kw):
    return Entry(key=key, ident=ident, step=step, source=source, run_name=run_name, **kw)

BPS_OUTPUT = """lsst.ctrl.bps.drivers INFO: Submission process completed: Took 3.1 seconds
Submit dir: /sdf/home/j/jdoe/submit/u/jdoe/DM-1/20261124T101010Z
Run Id: 6123
Run Name: u_jdoe_DM-1_20261124T101010Z
"""


def test_bps_output_is_parsed_and_missing_lines_are_absent():
    assert parse_bps_output(BPS_OUTPUT) == {"submit_dir": "/sdf/home/j/jdoe/submit/u/jdoe/DM-1/20261124T101010Z",
                                            "run_id": "6123", "run_name": "u_jdoe_DM-1_20261124T101010Z"}
    assert parse_bps_output("Traceback ...\nValueError: no") == {}


def test_wms_comes_from_the_service_class():
    assert wms_of("wmsServiceClass: lsst.ctrl.bps.panda.PanDAService\n") == "panda"
    assert wms_of("wmsServiceClass: lsst.ctrl.bps.htcondor.HTCondorService\n") == "htcondor"
    assert wms_of("wmsServiceClass: lsst.ctrl.bps.parsl.ParslService\n") == "parsl"
    assert wms_of(": not yaml [") == ""


def test_run_rows_are_rendered_from_the_record():
    record = SubmissionRecord(campaign="c", submission="c_step1_001", step="step1", group=1, groups=3, data_query="q",
                              inputs=8, output_run="o", run_name="r", file="f.yaml", site="SLAC")
    before = wiki.render(submission_doc(record))
    assert "||Site|SLAC|\n||Inputs|8|\n||Submitted|_not yet submitted_|\n||Run|_not yet submitted_|\n" in before
    record.run = RunIdentity(run_name="u_x_1", run_id="6123", wms="panda", submitted="2026-11-24")
    after = wiki.render(submission_doc(record))
    assert "||Site|SLAC|\n||Inputs|8|\n||Submitted|2026\\-11\\-24|\n||Run|{{u\\_x\\_1}}|\n||Run id|{{panda 6123}}|\n\nh4. Data query" in after


def test_digest_round_trips_is_deterministic_and_tolerates_garbage():
    state = SyncState("c", [entry("JC-2", "c_step1_001", "step1", "panda", "run1", run_id="6123",
                                  submitted="2026-11-24T10:00:00+00:00", digest="p1:abc:2", state="running",
                                  status="In Progress", total=10, finished=5, failed=2, failures="f1",
                                  changed_at="2026-11-24 10:05 UTC")])
    data = state.to_bytes()
    assert data == SyncState.from_bytes(data).to_bytes()
    assert SyncState.from_bytes(data).entries["JC-2"].failed == 2
    assert SyncState.from_bytes(b"not gzip") is None
    assert not state.entries["JC-2"].final
    state.entries["JC-2"].state = "partial"
    assert state.entries["JC-2"].final


def group(count=3, diag="killed"):
    job = FailureExample("1", "isr", "SLAC", 1, "https://m/job?pandaid=1", "https://l/o", "https://l/e", "https://l/log")
    return FailureGroup("isr", "pilot", "1305", diag, count=count, examples=[job])


def test_failure_signatures_separate_new_errors_from_growing_counts():
    kinds, full = failure_signatures([group(3)])
    kinds2, full2 = failure_signatures([group(5)])
    kinds3, _ = failure_signatures([group(3), group(1, "disk full")])
    assert kinds == kinds2 and full != full2 and kinds3 != kinds
    assert failure_signatures([]) == ("", "")


def test_status_comment_escapes_what_panda_says():
    status = RunStatus("r", "panda", BatchState.RUNNING, raw_state="Transforming|[x|http://evil]", source_label="PanDA",
                       run_id="1", total=4, finished=1, url="https://m/tasks/?reqid=1", message="{noformat}")
    text = wiki.render(status_doc(status, entry("JC-2", "i", "s", "panda", "r]|x"), "now"))
    assert "\\[x\\|http:\u200b//evil\\]" in text and "{{r\\]\\|x}}" in text and "\\{noformat\\}" in text
    assert "[this run on the PanDA monitor|https://m/tasks/?reqid=1]" in text
    assert wiki.link("x", "javascript:alert(1)") == "x"


def test_rollup_counts_submissions_by_state_per_step():
    entries = [entry("A", "a", "step1", "panda", "r1", state="running", total=10, finished=4, failed=1),
               entry("B", "b", "step1", "panda", "r2", state="failed", total=10, finished=0, failed=10),
               entry("C", "c", "step2", "panda", "r3", state="succeeded", total=5, finished=5)]
    text = wiki.render(rollup_doc(entries, [StepInfo("step1", (), 3), StepInfo("step2", (), 1)], "now"))
    assert "||Step||Submissions||Not submitted||Running||Succeeded||Failed||Files||Done||Failed||" in text
    assert "|step1|3|1|1|0|1|20|4|11|" in text
    assert "|step2|1|0|0|1|0|5|5|0|" in text
    assert "|*All*|4|1|1|1|1|25|9|11|" in text
