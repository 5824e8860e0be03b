"""Behaviour every tracker shares (local store, JIRA Cloud, JIRA Data Center), through the real code paths."""

from __future__ import annotations

from jiracampaign.trackers.base import NewTicket


def epic(campaign="c1"):
    return NewTicket("campaign", campaign, campaign, f"Campaign {campaign}", "the epic", [], {"type": "campaign"})


def child(ident, parent, campaign="c1"):
    return NewTicket("submission", ident, campaign, f"{campaign} {ident}", f"about {ident}", ["jc-step-step1"],
                     {"type": "submission", "submission": ident}, parent=parent)


def test_create_find_and_no_duplicates(any_tracker):
    (e,) = any_tracker.create_tickets([epic()])
    kids = any_tracker.create_tickets([child(f"c1_step1_{i:03d}", e.key) for i in range(1, 4)])
    assert len({k.key for k in kids}) == 3
    again = any_tracker.create_tickets([child("c1_step1_002", e.key)])
    assert again[0].key == kids[1].key
    found = {t.ident: t for t in any_tracker.find_tickets("c1")}
    assert set(found) == {"c1", "c1_step1_001", "c1_step1_002", "c1_step1_003"}
    assert found["c1_step1_001"].metadata == {"type": "submission", "submission": "c1_step1_001"}
    assert found["c1_step1_001"].parent == e.key
    assert found["c1"].kind == "campaign" and found["c1_step1_003"].kind == "submission"
    assert "jc-step-step1" in found["c1_step1_001"].labels
    assert any_tracker.find_tickets("other") == []


def test_attach_replaces_same_name_and_reads_back(any_tracker):
    (e,) = any_tracker.create_tickets([epic()])
    (k,) = any_tracker.create_tickets([child("c1_step1_001", e.key)])
    any_tracker.attach(k.key, "a.yaml", b"one: 1\n")
    any_tracker.attach(k.key, "a.yaml", b"one: 2\n")
    any_tracker.attach(k.key, "b.yaml", b"b: 1\n")
    (t,) = [t for t in any_tracker.find_tickets("c1") if t.key == k.key]
    assert sorted(t.attachments) == ["a.yaml", "b.yaml"]
    assert any_tracker.read_attachment(k.key, "a.yaml") == b"one: 2\n"
    assert any_tracker.read_attachment(k.key, "missing.yaml") is None


def test_upsert_comment_keeps_one_comment(any_tracker):
    (e,) = any_tracker.create_tickets([epic()])
    assert any_tracker.upsert_comment(e.key, "status", "state: running") == "added"
    assert any_tracker.upsert_comment(e.key, "status", "state: running") == "unchanged"
    assert any_tracker.upsert_comment(e.key, "status", "state: done") == "updated"
    assert any_tracker.upsert_comment(e.key, "other", "x") == "added"
    bodies = _comments(any_tracker, e.key)
    assert len(bodies) == 2
    assert bodies[0].startswith("state: done")


def test_metadata_and_open_submissions(any_tracker):
    (e,) = any_tracker.create_tickets([epic()])
    a, b = any_tracker.create_tickets([child("c1_step1_001", e.key), child("c1_step1_002", e.key)])
    any_tracker.set_metadata(a.key, {"type": "submission", "submission": "c1_step1_001", "run": {"id": 7}})
    assert any_tracker.transition(b.key, "done") is True
    open_ = any_tracker.list_open_submissions("c1")
    assert [t.key for t in open_] == [a.key]
    assert open_[0].metadata["run"] == {"id": 7}


def test_transition_by_name_and_category_walks_the_workflow(any_tracker):
    (e,) = any_tracker.create_tickets([epic()])
    (k,) = any_tracker.create_tickets([child("c1_step1_001", e.key)])
    assert any_tracker.transition(k.key, "In Progress") is True
    assert any_tracker.transition(k.key, "in progress") is False
    assert any_tracker.transition(k.key, "Blocked") is True
    assert any_tracker.transition(k.key, "done") is True
    (t,) = [t for t in any_tracker.find_tickets("c1") if t.key == k.key]
    assert (t.status, t.category) == ("Done", "done")


def _comments(tracker, key):
    if tracker.name == "local":
        return tracker.comments(key)
    return [c["body"] for c in tracker.fake.issue(key).comments]
