"""Behaviour every tracker shares (local store, JIRA Cloud, JIRA Data Center), through the real code paths."""

from __future__ import annotations

import pytest

from jiracampaign.core.documents import Document, Paragraph
from jiracampaign.core.records import CampaignRecord, RunIdentity, StepInfo, SubmissionRecord, SyncRecord
from jiracampaign.core.states import BatchState
from jiracampaign.trackers.base import NewItem


def epic(campaign="c1"):
    return NewItem(campaign, campaign, f"Campaign {campaign}", Document([Paragraph("the epic")]),
                   CampaignRecord(campaign=campaign, steps=[StepInfo("step1", (), 3)]))


def record(ident, campaign="c1", **kw):
    return SubmissionRecord(campaign=campaign, submission=ident, step="step1", group=int(ident[-3:]), groups=3,
                            data_query="visit > 1", inputs=5, output_run="o", run_name="r", file=f"{ident}.yaml", **kw)


def child(ident, parent, campaign="c1"):
    return NewItem(ident, campaign, f"{campaign} {ident}", Document([Paragraph(f"about {ident}")]),
                   record(ident, campaign), parent=parent)


def note(text):
    return Document([Paragraph(text)])


def test_create_find_and_no_duplicates(any_tracker):
    (e,) = any_tracker.ensure_items([epic()])
    kids = any_tracker.ensure_items([child(f"c1_step1_{i:03d}", e.key) for i in range(1, 4)])
    assert len({k.key for k in kids}) == 3
    again = any_tracker.ensure_items([child("c1_step1_002", e.key)])
    assert again[0].key == kids[1].key
    found = {t.ident: t for t in any_tracker.find_items("c1")}
    assert set(found) == {"c1", "c1_step1_001", "c1_step1_002", "c1_step1_003"}
    assert found["c1_step1_001"].record == record("c1_step1_001")
    assert found["c1_step1_001"].parent == e.key
    assert found["c1"].kind == "campaign" and found["c1_step1_003"].kind == "submission"
    assert found["c1"].record.step("step1").groups == 3
    assert any_tracker.find_items("other") == []


def test_attach_replaces_same_name_and_reads_back(any_tracker):
    (e,) = any_tracker.ensure_items([epic()])
    (k,) = any_tracker.ensure_items([child("c1_step1_001", e.key)])
    any_tracker.attach(k.key, "a.yaml", b"one: 1\n")
    any_tracker.attach(k.key, "a.yaml", b"one: 2\n")
    any_tracker.attach(k.key, "b.yaml", b"b: 1\n")
    (t,) = [t for t in any_tracker.find_items("c1") if t.key == k.key]
    assert sorted(t.attachments) == ["a.yaml", "b.yaml"]
    assert any_tracker.read_attachment(k.key, "a.yaml") == b"one: 2\n"
    assert any_tracker.read_attachment(k.key, "missing.yaml") is None


def test_put_note_keeps_one_note_per_slot(any_tracker):
    (e,) = any_tracker.ensure_items([epic()])
    assert any_tracker.put_note(e.key, "status", note("state: running")) == "added"
    assert any_tracker.put_note(e.key, "status", note("state: running")) == "unchanged"
    assert any_tracker.put_note(e.key, "status", note("state: done")) == "updated"
    assert any_tracker.put_note(e.key, "other", note("x")) == "added"
    bodies = _notes(any_tracker, e.key)
    assert len(bodies) == 2
    assert bodies[0].startswith("state: done")


def test_records_and_sync_records_are_kept_apart(any_tracker):
    (e,) = any_tracker.ensure_items([epic()])
    (a,) = any_tracker.ensure_items([child("c1_step1_001", e.key)])
    run = RunIdentity(run_name="u_x", run_id="7", wms="panda", submitted="2026-11-24T10:00:00+00:00")
    any_tracker.set_record(a.key, record("c1_step1_001", run=run))
    any_tracker.set_sync(a.key, SyncRecord(source="panda", run_name="u_x", state="running", total=4))
    got = any_tracker.get_item(a.key)
    assert got.record.run == run and got.sync.state == "running" and got.sync.total == 4
    assert any_tracker.get_item("NOPE-999") is None


def test_run_state_shows_on_the_item(any_tracker):
    (e,) = any_tracker.ensure_items([epic()])
    (k,) = any_tracker.ensure_items([child("c1_step1_001", e.key)])
    assert not any_tracker.get_item(k.key).done
    any_tracker.set_run_state(k.key, BatchState.RUNNING)
    any_tracker.set_run_state(k.key, BatchState.PARTIAL)
    shown = any_tracker.get_item(k.key)
    assert shown.status == ("partial" if any_tracker.name == "local" else "Blocked") and not shown.done
    any_tracker.set_run_state(k.key, BatchState.SUCCEEDED)
    assert any_tracker.get_item(k.key).done
    assert [c.ident for c in any_tracker.open_campaigns("c1")] == ["c1"]


def test_links_are_made_once(any_tracker):
    (e,) = any_tracker.ensure_items([epic()])
    a, b = any_tracker.ensure_items([child("c1_step1_001", e.key), child("c1_step1_002", e.key)])
    any_tracker.link(b.key, a.key, "Relates")
    any_tracker.link(b.key, a.key, "Relates")
    if any_tracker.name == "local":
        assert any_tracker.links(b.key) == [("Relates", a.key)]
    else:
        assert len(any_tracker.fake.links) == 1


@pytest.mark.parametrize("target", ["In Progress", "Blocked", "done"])
def test_jira_workflow_walk_by_name_and_category(fake_jira, sleeps, target):
    from jiracampaign.trackers.jira.workflow import transition
    from tests.conftest import make_jira_tracker

    tracker = make_jira_tracker(fake_jira, sleeps)
    (e,) = tracker.ensure_items([epic()])
    (k,) = tracker.ensure_items([child("c1_step1_001", e.key)])
    assert transition(tracker.client, k.key, target) is True
    assert transition(tracker.client, k.key, target.lower()) is False
    tracker.close()


def _notes(tracker, key):
    if tracker.name == "local":
        return tracker.notes(key)
    return [c["body"] for c in tracker.fake.issue(key).comments]
