"""`record` through the CLI: a ticket keeps the run it records unless `--force` (which says so on the
ticket and reopens a done one only then), recording the same run twice changes nothing, and submit
times are date-times, checked before anything is written."""

from __future__ import annotations

import pytest

from tests.conftest import campaign_fixture

RUN = "u_jdoe_by_hand_20261124T000000Z"
OTHER = "u_jdoe_by_hand_20261125T000000Z"


camp = campaign_fixture("local", "cloud", "datacenter")


local_camp = campaign_fixture("local")


def finished(camp, key: str) -> None:
    """Record RUN on ``key`` and sync it to done."""
    assert camp.run("record", key, "--run-name", RUN, "--run-id", "777").exit_code == 0
    camp.panda.add_run(RUN, {"isr": 4}, request_id=777, status="Finished")
    camp.panda.progress(RUN, "isr", finished=4, status="done")
    for _ in range(3):  # JIRA Cloud's search shows a new epic after a delay
        camp.run("sync")
        if camp.ticket(key)[0] == "Done":
            return
    raise AssertionError("the run never showed as done")


def test_a_recorded_run_is_not_replaced_without_force(camp):
    camp.create()
    key = camp.keys["demo-w47_step1_003"]
    finished(camp, key)
    before, writes = camp.ticket(key), camp.tracker_writes()
    shows = "succeeded" if camp.kind == "local" else "Done"  # the run state, or the JIRA status

    refused = camp.run("record", key, "--run-name", OTHER, "--run-id", "778")
    assert refused.exit_code == 1
    assert refused.stderr.strip().splitlines() == [
        f"Error: {key} already records run {RUN} (run id 777), and the ticket shows it finished ({shows}): "
        f"a recorded run is not replaced without --force (record --force {key} ... replaces it and reopens the ticket)"]
    assert camp.ticket(key) == before and camp.tracker_writes() == writes

    same = camp.run("record", key, "--run-name", RUN, "--run-id", "777")  # repeating the command is harmless
    assert same.exit_code == 0 and f"{key}: records run {RUN} (run id 777) already; nothing changed." in same.stdout
    assert camp.ticket(key) == before and camp.tracker_writes() == writes

    forced = camp.run("record", key, "--run-name", OTHER, "--run-id", "778", "--force")
    assert forced.exit_code == 0, forced.output
    assert f"{key}: recorded run {OTHER} (run id 778), replaced {RUN}; reopened (it showed {shows})" in forced.stdout
    status, meta, text, comments = camp.ticket(key)
    assert status == "In Progress" and meta["run"]["run_name"] == OTHER and meta["run"]["run_id"] == "778"
    [note] = [c for c in comments if "was replaced by" in c]
    assert camp.says("{{u\\_jdoe\\_by\\_hand\\_20261124T000000Z}} \\(run id 777\\), was replaced by",
                     f"`{RUN}` (run id 777), was replaced by") in note
    assert camp.says("reopened \\(it showed Done\\)", "reopened (it showed succeeded)") in note


def test_record_on_a_submitted_ticket_is_refused(local_camp):
    local_camp.create()
    key = local_camp.keys["demo-w47_step1_001"]
    assert local_camp.run("submit", key).exit_code == 0
    result = local_camp.run("record", key, "--run-name", OTHER)
    assert result.exit_code == 1
    assert f"{key} already records run u_jdoe_demo-w47_step1_group001_attempt1 (run id 6000): a recorded run is not " \
           f"replaced without --force" in result.stderr
    assert local_camp.ticket(key)[1]["run"]["run_name"] == "u_jdoe_demo-w47_step1_group001_attempt1"


@pytest.mark.parametrize("given, problem", [
    ("yesterday", "'yesterday' is not an ISO 8601 date-time: expected e.g. 2026-11-24T10:10:10Z (UTC), "
                  "2026-11-24T11:10:10+01:00, or 'now'"),
    ("2026-11-24", "'2026-11-24' is not an ISO 8601 date-time"),
    ("2026-13-01T10:00:00Z", "'2026-13-01T10:00:00Z' is not an ISO 8601 date-time"),
    ("2999-01-01T00:00:00Z", "'2999-01-01T00:00:00Z' is in the future (2999-01-01T00:00:00+00:00 UTC; it is now "),
])
def test_submit_times_are_checked_before_anything_is_written(local_camp, given, problem):
    local_camp.create()
    key = local_camp.keys["demo-w47_step1_002"]
    writes = local_camp.tracker_writes()
    result = local_camp.run("record", key, "--run-name", RUN, "--submitted", given)
    assert result.exit_code == 3
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: --submitted: {problem}")
    assert local_camp.tracker_writes() == writes and "run" not in local_camp.ticket(key)[1]


def test_submit_times_are_stored_in_utc(local_camp):
    local_camp.create()
    key = local_camp.keys["demo-w47_step1_002"]
    result = local_camp.run("record", key, "--run-name", RUN, "--submitted", "2026-11-24T11:10:10.5+01:00")
    assert result.exit_code == 0, result.output
    assert local_camp.ticket(key)[1]["run"]["submitted"] == "2026-11-24T10:10:10+00:00"
