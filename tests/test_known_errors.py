"""The known-errors table: PanDA components and codes, exception types from quantum provenance, messages."""

from __future__ import annotations

import pytest

from jiracampaign.core.known_errors import advised_rescue, classify, load_known_errors
from jiracampaign.core.runs import FailureGroup
from jiracampaign.errors import JiraCampaignError


@pytest.fixture(scope="module")
def table():
    return load_known_errors()


def action(table, kind, message, code="", label="isr"):
    known = classify(FailureGroup(label, kind, code, message), table)
    return (known.action, known.meaning) if known else None


@pytest.mark.parametrize("kind,message", [
    ("MemoryError", "Simulated failure: task=isr dataId={…}"),
    ("builtins.MemoryError", ""),
    ("RuntimeError", "std::bad_alloc"),
    ("unknown", "/bin/bash: line 1: 4242 Killed  pipetask run-qbb ..."),
    ("aborted", "process exited with code -9"),
    ("unknown", "Job failed with exit code 137"),
])
def test_out_of_memory_in_provenance_is_rescued_with_more_memory(table, kind, message):
    found = classify(FailureGroup("isr", kind, "", message), table)
    assert found is not None and found.action == "rescue" and "requestMemory x2" in found.advice


def test_no_work_found_is_not_a_failure_to_rescue(table):
    assert action(table, "lsst.pipe.base.NoWorkFound", "no inputs")[0] == "accept"
    assert action(table, "lsst.pipe.base.UpstreamFailureNoWorkFound", "")[0] == "accept"


def test_an_ordinary_exception_is_left_for_review(table):
    assert action(table, "ValueError", "Simulated failure: task=calibrateImage dataId={…}") is None
    assert action(table, "lsst.pipe.base.AlgorithmError", "fit did not converge") is None


def test_panda_entries_still_match_components_and_codes(table):
    assert action(table, "transformation", "", code="137")[0] == "rescue"
    assert action(table, "transform", "", code="137")[0] == "rescue"       # the longer spelling
    assert action(table, "pilot", "Lost heartbeat", code="1144")[0] == "retry"
    assert action(table, "pilot", "payload failed", code="1305") is None
    assert action(table, "MemoryError", "anything", code="") is not None
    assert action(table, "pilot", "anything", code="1") is None            # an exception entry needs an exception


def test_user_entries_match_exception_types_by_full_or_short_name_and_come_first(tmp_path):
    path = tmp_path / "known.yaml"
    path.write_text(
        "- exception: ValueError\n"
        "  label: calibrate*\n"
        "  diagnostic: Simulated failure\n"
        "  meaning: The injected failure of the toy pipeline.\n"
        "  action: accept\n"
        "  advice: Nothing to do.\n"
        "- exception: \"lsst.pipe.base.*\"\n"
        "  meaning: Any pipe_base exception.\n"
        "  action: investigate\n"
        "  advice: Read the log.\n"
        "- exception: MemoryError\n"
        "  meaning: Ours first.\n"
        "  action: retry\n"
        "  advice: Try again.\n")
    table = load_known_errors(path)
    assert action(table, "ValueError", "Simulated failure: task=calibrateImage", label="calibrateImage")[0] == "accept"
    assert action(table, "builtins.ValueError", "Simulated failure", label="calibrateImage")[0] == "accept"
    assert action(table, "ValueError", "Simulated failure", label="isr") is None
    assert action(table, "lsst.pipe.base.NoWorkFound", "")[0] == "investigate"
    assert action(table, "MemoryError", "")[0] == "retry"


def test_a_bad_exception_key_names_the_file_and_line(tmp_path):
    path = tmp_path / "known.yaml"
    path.write_text("- exception: [MemoryError]\n  meaning: m\n  action: rescue\n  advice: a\n")
    with pytest.raises(JiraCampaignError) as caught:
        load_known_errors(path)
    assert "known.yaml:1" in str(caught.value) and "exception" in str(caught.value)


def test_the_advised_rescue_names_the_tasks_that_ran_out_of_memory(table):
    oom = FailureGroup("isr", "MemoryError", "", "Simulated failure")
    killed = FailureGroup("calibrateImage", "unknown", "", "line 1: 4242 Killed pipetask")
    assert advised_rescue([oom], table) == "--memory x2 --task isr"
    assert advised_rescue([oom, killed], table) == "--memory x2 --task isr --task calibrateImage"
    # one failure that needs review, or one to investigate: no advice (a rescue would be a guess)
    assert advised_rescue([oom, FailureGroup("isr", "ValueError", "", "bad value")], table) == ""
    assert advised_rescue([oom, FailureGroup("isr", "AnnotatedPartialOutputsError", "", "x")], table) == ""
    assert advised_rescue([FailureGroup("isr", "NoWorkFound", "", "")], table) == ""  # accept: nothing to rescue


@pytest.mark.parametrize("entry,says", [
    ("  action: rescue\n  rescue: --memory twice\n", "expected rescue options"),
    ("  action: accept\n  rescue: --memory x2\n", "only for action rescue"),
])
def test_a_bad_rescue_key_names_the_file_and_line(tmp_path, entry, says):
    path = tmp_path / "known.yaml"
    path.write_text("- exception: MemoryError\n  meaning: m\n  advice: a\n" + entry)
    with pytest.raises(JiraCampaignError) as caught:
        load_known_errors(path)
    assert "known.yaml:5" in str(caught.value) and says in str(caught.value)


def test_user_rescue_options_are_read(tmp_path):
    path = tmp_path / "known.yaml"
    path.write_text("- exception: MemoryError\n  meaning: m\n  action: rescue\n  advice: a\n"
                    "  rescue: --memory 16GB --retries 2\n")
    rows = load_known_errors(path)
    assert advised_rescue([FailureGroup("isr", "MemoryError", "", "")], rows) == "--memory 16GB --retries 2 --task isr"
