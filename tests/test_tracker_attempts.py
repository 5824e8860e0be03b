"""Attempts and verdicts on every tracker (local store, in-memory, JIRA Cloud and Data Center over HTTP):
a rescue attempt is an item like any other, linked once to the attempt it follows; a verdict closes an
item (it counts as done), can be searched for, and is set once."""

from __future__ import annotations

import json
import logging

import pytest

from jiracampaign.core.documents import Document, Paragraph
from jiracampaign.core.records import CampaignRecord, StepInfo, SubmissionRecord, SyncRecord
from jiracampaign.core.states import BatchState
from jiracampaign.errors import TrackerError
from jiracampaign.trackers.base import NewItem
from tests.conftest import SHARED, make_jira_tracker

FIRST, SECOND = "c1_step1_001", "c1_step1_001-a2"


def epic(campaign="c1"):
    return NewItem(campaign, campaign, f"Campaign {campaign}", Document([Paragraph("the epic")]),
                   CampaignRecord(campaign=campaign, steps=[StepInfo("step1", (), 3)]))


def attempt(ident, parent, number=1, rescues=""):
    record = SubmissionRecord(campaign="c1", submission=ident, step="step1", group=1, groups=3, data_query="visit > 1",
                              inputs=5, output_run=f"o/attempt{number}", run_name=f"r_attempt{number}",
                              file=f"{ident}.yaml", attempt=number, rescues=rescues,
                              changes=["requestMemory 4096 -> 8192"] if rescues else [])
    return NewItem(ident, "c1", f"c1 step1 group 1/3 attempt {number}", Document([Paragraph(f"about {ident}")]),
                   record, parent=parent)


@pytest.fixture(params=["local", "memory", "cloud", "datacenter"])
def tracker(request, tmp_path, sleeps):
    """Each tracker, through its real code paths (JIRA: the fake server over loopback HTTP)."""
    if request.param == "local":
        from jiracampaign.trackers.local import LocalTracker

        made = LocalTracker(tmp_path / "store.sqlite")
        yield made
        made.close()
        return
    if request.param == "memory":
        from tests.fakes.memory_tracker import MemoryTracker

        yield MemoryTracker()
        return
    from tests.fakes.jira_server import FakeJira

    fake = FakeJira(flavour=request.param).start()
    made = make_jira_tracker(fake, sleeps)
    made.fake = fake
    yield made
    made.close()
    fake.stop()


@pytest.fixture
def jira(fake_jira, sleeps):
    """A JIRA tracker on the fake (Cloud and Data Center), the fake at ``.fake``."""
    made = make_jira_tracker(fake_jira, sleeps)
    made.fake = fake_jira
    yield made
    made.close()


def two_attempts(tracker):
    (e,) = tracker.ensure_items([epic()])
    (old,) = tracker.ensure_items([attempt(FIRST, e.key)])
    (new,) = tracker.ensure_items([attempt(SECOND, e.key, 2, rescues=FIRST)])
    return old, new


def made(fake):
    """``(type, inward issue, outward issue)`` of every link the fake JIRA holds."""
    return [(link["type"], link["inward"], link["outward"]) for link in fake.links]


def links_of(tracker, key):
    """``(relation or link type, other key)`` of the links ``key`` shows, as each tracker keeps them."""
    if tracker.name == "local":
        return tracker.links(key)
    if tracker.name == "memory":
        return sorted(tracker.items[key].links)
    issue = tracker.fake.issue_json(tracker.fake.issue(key), ["issuelinks"], [])
    return [(link["type"]["outward"] if "outwardIssue" in link else link["type"]["inward"],
             (link.get("outwardIssue") or link.get("inwardIssue"))["key"]) for link in issue["fields"]["issuelinks"]]


# ---- rescue attempts are items like any other -----------------------------------------------------------

def test_rescue_attempt_is_found_and_read_back(tracker):
    old, new = two_attempts(tracker)
    assert new.key != old.key
    assert tracker.ensure_items([attempt(SECOND, old.parent, 2, rescues=FIRST)])[0].key == new.key
    found = {t.ident: t for t in tracker.find_items("c1")}
    assert set(found) == {"c1", FIRST, SECOND}
    record = found[SECOND].record
    assert (record.attempt, record.rescues, record.changes) == (2, FIRST, ["requestMemory 4096 -> 8192"])
    assert found[FIRST].record.attempt == 1 and found[FIRST].record.rescues == ""
    got = tracker.get_item(new.key)
    assert got.ident == SECOND and got.record == found[SECOND].record and got.parent == old.parent


# ---- links --------------------------------------------------------------------------------------------

def test_rescue_link_is_made_once_and_reads_both_ways(tracker):
    old, new = two_attempts(tracker)
    tracker.link(new.key, old.key, "rescues")
    tracker.link(new.key, old.key, "rescues")
    if tracker.name in ("local", "memory"):
        assert links_of(tracker, new.key) == [("rescues", old.key)]
        return
    fake = tracker.fake
    assert made(fake) == [("Rescue", new.key, old.key)]
    assert links_of(tracker, new.key) == [("rescues", old.key)]      # the new attempt's page: rescues JC-1
    assert links_of(tracker, old.key) == [("is rescued by", new.key)]  # the first one's: is rescued by JC-2
    assert len(fake.requests("POST", r"/issueLink$")) == 1
    assert len(fake.requests("POST", r"/issueLinkType$")) == 1  # made once (the fake's user is an administrator)
    assert len(fake.requests("GET", r"/issueLinkType$")) == 1


def test_a_second_tracker_finds_the_link_without_looking_up_types(jira):
    old, new = two_attempts(jira)
    jira.link(new.key, old.key, "rescues")
    again = make_jira_tracker(jira.fake, [])
    before = len(jira.fake.log)
    again.link(new.key, old.key, "rescues")
    assert _since(jira.fake, before) == [("GET", f"/rest/api/2/issue/{new.key}")]
    assert len(jira.fake.links) == 1
    again.close()


def test_an_existing_rescues_type_is_used(jira):
    jira.fake.link_types["Attempt"] = ("10200", "is retried by", "rescues")
    old, new = two_attempts(jira)
    jira.link(new.key, old.key, "rescues")
    assert [link["type"] for link in jira.fake.links] == ["Attempt"]
    assert jira.fake.requests("POST", r"/issueLinkType$") == []


def test_the_configured_link_type_is_used_without_lookup(fake_jira, sleeps):
    from jiracampaign.trackers.jira.tracker import JiraTracker

    base = make_jira_tracker(fake_jira, sleeps)
    tracker = JiraTracker(base.client, fake_jira.project_key, link_types={"rescues": "Cloners"})
    old, new = two_attempts(tracker)
    tracker.link(new.key, old.key, "rescues")
    tracker.link(new.key, old.key, "rescues")
    assert made(fake_jira) == [("Cloners", new.key, old.key)]
    assert fake_jira.requests(None, r"/issueLinkType$") == []
    tracker.close()


def test_config_names_the_link_type(fake_jira, monkeypatch):
    from jiracampaign.config import load_config
    from jiracampaign.trackers.jira.tracker import JiraTracker

    monkeypatch.setenv("JIRACAMPAIGN_JIRA_TOKEN", fake_jira.token)
    config = load_config(overrides={
        "tracker": "jira", "jira.server": fake_jira.url, "jira.project": "CAMP", "jira.user": fake_jira.user,
        "jira.auth": "basic" if fake_jira.cloud else "token", "jira.rescue_link_type": "Duplicate",
        "jira.flavour": fake_jira.flavour})
    tracker = JiraTracker.from_config(config)
    assert tracker.link_types == {"rescues": "Duplicate"} and tracker.verdict_statuses == ["Done"]
    tracker.close()


def test_without_admin_rights_links_fall_back_to_relates(jira, caplog):
    jira.fake.admin = False
    old, new = two_attempts(jira)
    with caplog.at_level(logging.WARNING, logger="jiracampaign.trackers.jira.tracker"):
        jira.link(new.key, old.key, "rescues")
    refused = jira.fake.requests("POST", r"/issueLinkType$")
    assert [r["status"] for r in refused] == [404 if jira.fake.cloud else 403]
    assert "Rescue" not in jira.fake.link_types
    assert made(jira.fake) == [("Relates", new.key, old.key)]
    assert "linking as 'Relates' instead" in caplog.text and "jira.rescue_link_type" in caplog.text
    jira.link(new.key, old.key, "rescues")  # the type is kept: one more read, no write
    assert len(jira.fake.requests("POST", r"/issueLinkType$")) == 1
    again = make_jira_tracker(jira.fake, [])  # a later process tries once more, and finds the link
    again.link(new.key, old.key, "rescues")
    assert len(jira.fake.links) == 1 and len(jira.fake.requests("POST", r"/issueLink$")) == 1
    again.close()


def test_other_relations_name_a_link_type(jira):
    old, new = two_attempts(jira)
    jira.link(new.key, old.key, "Blocks")
    assert made(jira.fake) == [("Blocks", new.key, old.key)]
    assert links_of(jira, new.key) == [("blocks", old.key)]
    with pytest.raises(TrackerError, match="HTTP 404 POST /rest/api/2/issueLink.*No issue link type"):
        jira.link(new.key, old.key, "Nonesuch")


def test_fake_keeps_a_link_asked_for_twice_once(fake_jira, sleeps):
    """Atlassian: 'If the link request duplicates a link, the response indicates that the issue link was created.'"""
    tracker = make_jira_tracker(fake_jira, sleeps)
    old, new = two_attempts(tracker)
    body = {"type": {"name": "Relates"}, "inwardIssue": {"key": new.key}, "outwardIssue": {"key": old.key}}
    for _ in range(2):
        assert tracker.client.raw("POST", "issueLink", body=body).status_code == 201
    assert len(fake_jira.links) == 1
    tracker.close()


# ---- verdicts -----------------------------------------------------------------------------------------

def test_verdict_closes_the_item_once(tracker):
    old, new = two_attempts(tracker)
    tracker.set_run_state(old.key, BatchState.RUNNING)
    tracker.set_run_state(old.key, BatchState.PARTIAL)
    assert not tracker.get_item(old.key).done
    shown = tracker.set_verdict(old.key, "accepted")
    item = tracker.get_item(old.key)
    assert item.done and item.status == shown
    tracker.set_sync(old.key, SyncRecord(source="panda", run_name="r_attempt1", state="partial", verdict="accepted",
                                         verdict_reason="enough visits"))
    item = tracker.get_item(old.key)
    assert item.sync.verdict == "accepted" and tracker.shows_state(item, BatchState.PARTIAL)
    if tracker.name in ("local", "memory"):
        assert shown == "partial"  # the status still shows the run state
    else:
        assert shown == "Done"
        assert "jc-accepted" in tracker.fake.issue(old.key).fields["labels"]
    assert not tracker.get_item(new.key).done

    writes = _writes(tracker)
    assert tracker.set_verdict(old.key, "accepted") == shown
    assert _writes(tracker) == writes  # the same verdict again changes nothing


def test_verdict_on_a_fresh_attempt_and_a_changed_verdict(tracker):
    old, new = two_attempts(tracker)
    tracker.set_verdict(old.key, "rejected")
    tracker.set_verdict(old.key, "rescued")
    assert tracker.get_item(old.key).done
    if tracker.name == "local":
        assert tracker.verdict(old.key) == "rescued" and tracker.verdict(new.key) is None
        assert tracker.with_verdict("c1", "rescued") == [old.key] and tracker.with_verdict("c1", "rejected") == []
        rows = tracker.db.execute("SELECT old, new FROM history WHERE key = ? AND field = 'verdict' ORDER BY id",
                                  (old.key,)).fetchall()
        assert [tuple(r) for r in rows] == [(None, "rejected"), ("rejected", "rescued")]
        assert tracker.get_item(old.key).status == "closed"  # never run: nothing else to show
    elif tracker.name == "memory":
        assert tracker.items[old.key].verdict == "rescued"
    else:
        labels = tracker.fake.issue(old.key).fields["labels"]
        assert "jc-rescued" in labels and "jc-rejected" not in labels


def test_verdict_labels_are_searchable_in_jira(jira):
    old, new = two_attempts(jira)
    jira.set_run_state(old.key, BatchState.FAILED)
    jira.set_verdict(old.key, "force-completed")
    found = jira.client.search(f'project = "CAMP" AND labels = "jc-force-completed"', ["labels", "status"],
                               reconcile=[int(old.id), int(new.id)])
    assert [(raw["key"], raw["fields"]["status"]["statusCategory"]["key"]) for raw in found] == [(old.key, "done")]
    if not jira.fake.cloud:  # Data Center's workflow asks for a resolution on the way to Done
        assert jira.fake.issue(old.key).fields["resolution"] == {"name": "Done"}


def test_second_verdict_call_sends_no_transition(jira):
    old, _ = two_attempts(jira)
    jira.set_run_state(old.key, BatchState.PARTIAL)
    jira.set_verdict(old.key, "accepted")
    moves = len(jira.fake.requests("POST", r"/transitions$"))
    assert moves >= 1
    before = len(jira.fake.log)
    again = make_jira_tracker(jira.fake, [])
    assert again.set_verdict(old.key, "accepted") == "Done"
    assert _since(jira.fake, before) == [("GET", f"/rest/api/2/issue/{old.key}")]
    again.close()


def test_verdict_status_is_configurable_and_falls_back_to_done_category(fake_jira, sleeps):
    from jiracampaign.trackers.jira.tracker import JiraTracker

    base = make_jira_tracker(fake_jira, sleeps)
    tracker = JiraTracker(base.client, fake_jira.project_key, verdict_statuses=["Accepted"])  # no such status
    old, _ = two_attempts(tracker)
    assert tracker.set_verdict(old.key, "accepted") == "Done"  # the done category, by its status's name
    assert tracker.get_item(old.key).done
    before = len(fake_jira.writes())
    assert tracker.set_verdict(old.key, "accepted") == "Done"
    assert len(fake_jira.writes()) == before
    tracker.close()


def test_a_verdict_ticket_is_not_corrected_back_by_sync(jira):
    old, _ = two_attempts(jira)
    jira.set_run_state(old.key, BatchState.PARTIAL)
    jira.set_verdict(old.key, "accepted")
    item = jira.get_item(old.key)
    assert all(jira.shows_state(item, state) for state in (BatchState.PARTIAL, BatchState.FAILED, BatchState.RUNNING))
    fresh = make_jira_tracker(jira.fake, [])  # knows the verdict from the labels it reads
    assert fresh.shows_state(fresh.get_item(old.key), BatchState.PARTIAL)
    fresh.close()


def test_a_campaign_named_like_a_verdict_keeps_its_label(jira):
    """``jc-<campaign>`` of a campaign called "accepted" is the label of the verdict: never removed as one."""
    (e,) = jira.ensure_items([NewItem("accepted", "accepted", "Campaign accepted", Document([Paragraph("x")]),
                                      CampaignRecord(campaign="accepted", steps=[StepInfo("step1", (), 1)]))])
    item = attempt("accepted_step1_001", e.key)
    item.campaign = item.record.campaign = "accepted"
    (k,) = jira.ensure_items([item])
    jira.get_item(k.key)
    assert k.key not in jira.verdicts  # its labels show no verdict yet
    jira.set_verdict(k.key, "rejected")
    jira.set_verdict(k.key, "rescued")
    labels = jira.fake.issue(k.key).fields["labels"]
    assert "jc-accepted" in labels and "jc-rescued" in labels and "jc-rejected" not in labels
    assert {t.ident for t in jira.find_items("accepted")} == {"accepted", "accepted_step1_001"}
    assert jira.verdicts[k.key] == "rescued"


@pytest.mark.parametrize("name", ["local", "cloud"])
def test_unknown_verdict_is_refused(name, tmp_path, sleeps):
    if name == "local":
        from jiracampaign.trackers.local import LocalTracker

        tracker = LocalTracker(tmp_path / "store.sqlite")
    else:
        from tests.fakes.jira_server import FakeJira

        fake = FakeJira("cloud").start()
        tracker = make_jira_tracker(fake, sleeps)
    old, _ = two_attempts(tracker)
    with pytest.raises(TrackerError, match="unknown verdict 'approved'"):
        tracker.set_verdict(old.key, "approved")
    assert not tracker.get_item(old.key).done
    tracker.close()
    if name == "cloud":
        fake.stop()


def _since(fake, start):
    """The requests after the ``start``-th one but a new client's look at the server's flavour."""
    return [(r["method"], r["path"]) for r in fake.log[start:] if r["path"] != "/rest/api/2/serverInfo"]


def _writes(tracker):
    if tracker.name == "local":
        return tracker.db.total_changes  # rows inserted, updated or deleted through its connection
    if tracker.name == "memory":
        return len(tracker.writes)
    return len(tracker.fake.writes())


# ---- the exchanges match Atlassian's description ------------------------------------------------------

SPECS = SHARED / "data" / "jira-openapi"


@pytest.mark.skipif(not (SPECS / "cloud-platform-v2.json").exists(), reason="../shared/data absent")
def test_link_and_verdict_exchanges_match_atlassian_openapi(sleeps):
    pytest.importorskip("openapi_core")
    from openapi_core import Config, OpenAPI

    from tests.fakes.jira_server import FakeJira
    from tests.test_contract import exchange_to_mock

    spec = OpenAPI.from_dict(json.loads((SPECS / "cloud-platform-v2.json").read_text()),
                             config=Config(spec_validator_cls=None))
    fake = FakeJira("cloud").start()
    try:
        tracker = make_jira_tracker(fake, sleeps)
        old, new = two_attempts(tracker)
        start = len(fake.log)
        tracker.link(new.key, old.key, "rescues")
        tracker.set_run_state(old.key, BatchState.PARTIAL)
        tracker.set_verdict(old.key, "accepted")
        tracker.set_verdict(old.key, "rescued")
        fake.admin = False
        make_jira_tracker(fake, sleeps).link(old.key, new.key, "rescues")  # finds "Rescue" by its outward text
        exchanges = fake.log[start:]
    finally:
        fake.stop()
    problems, seen = [], set()
    for record in exchanges:
        _, request, response = exchange_to_mock(record)
        where = f"{record['method']} {record['path']}"
        seen.add(where)
        try:
            spec.validate_request(request)
        except Exception as exc:  # noqa: BLE001 - collect every mismatch
            problems.append(f"request {where}: {exc.__class__.__name__}: {exc}")
        if where == "POST /rest/api/2/issueLink":  # "This resource returns nothing": an empty 201 (the file
            assert record["status"] == 201 and record["response"] is None  # gives it a JSON body of any shape)
            continue
        if response is not None and record.get("status", 500) < 400:
            try:
                spec.validate_response(request, response)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"response {where}: {exc.__class__.__name__}: {exc}")
    assert problems == []
    assert {"GET /rest/api/2/issueLinkType", "POST /rest/api/2/issueLinkType", "POST /rest/api/2/issueLink",
            f"PUT /rest/api/2/issue/{old.key}", f"POST /rest/api/2/issue/{old.key}/transitions"} <= seen
