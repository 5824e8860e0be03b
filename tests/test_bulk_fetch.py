"""Reading items by key in bulk (`Tracker.get_items`): Cloud's bulk fetch (``POST /rest/api/3/issue/bulkfetch``,
100 a request, fresh where search lags), Data Center's search by key, the local store's one query; and
`find_items` reading the known items its search does not show yet with it."""

from __future__ import annotations

import json

import pytest

from jiracampaign.core.documents import Document, Paragraph
from jiracampaign.core.records import CampaignRecord, StepInfo, SubmissionRecord
from jiracampaign.errors import TrackerError
from jiracampaign.trackers.base import NewItem
from tests.conftest import make_jira_tracker
from tests.fakes.jira_server import FakeJira

BULK_FETCH = "/rest/api/3/issue/bulkfetch"


def _items(tracker, n: int, campaign: str = "bulk"):
    (epic,) = tracker.ensure_items([NewItem(campaign, campaign, f"Campaign {campaign}", Document([Paragraph("c")]),
                                            CampaignRecord(campaign=campaign, steps=[StepInfo("step1", (), n)]))])
    wanted = [NewItem(ident, campaign, f"{campaign} {i}", Document([Paragraph("s")]),
                      SubmissionRecord(campaign=campaign, submission=ident, step="step1", group=i, groups=n,
                                       data_query="", inputs=None, output_run="", run_name="", file=f"{ident}.yaml",
                                       sha256=None), parent=epic.key)
              for i in range(n) for ident in [f"{campaign}_step1_{i:03d}"]]
    return epic, tracker.ensure_items(wanted)


@pytest.fixture
def cloud(sleeps):
    fake = FakeJira("cloud", lag=10**6).start()  # search never shows what was created: only a read by key does
    tracker = make_jira_tracker(fake, sleeps)
    yield fake, tracker
    tracker.close()
    fake.stop()


def test_cloud_reads_known_items_search_does_not_show_with_the_bulk_fetch(cloud):
    fake, tracker = cloud
    epic, made = _items(tracker, 120)
    known = {t.ident: (t.key, t.id) for t in [epic, *made]}
    mark = len(fake.log)
    found = make_jira_tracker(fake, []).find_items("bulk", known=known)  # as a later run reads them
    assert sorted(t.key for t in found) == sorted(known[i][0] for i in known)
    assert {t.ident: t.record.submission for t in found if t.kind == "submission"} == \
        {t.ident: t.ident for t in made}
    paths = [r["path"] for r in fake.log[mark:]]
    assert paths.count(BULK_FETCH) == 2  # 121 keys: 100 + 21
    assert not any(b"key in" in (r.get("body") or b"") for r in fake.log[mark:])  # no search by key
    assert all(len(json.loads(r["body"])["issueIdsOrKeys"]) <= 100 for r in fake.requests("POST", BULK_FETCH))


def test_cloud_bulk_fetch_leaves_out_unknown_keys_matches_any_case_and_keeps_id_order(cloud):
    fake, tracker = cloud
    epic, made = _items(tracker, 3)
    keys = [made[2].key, "CAMP-9999", made[0].key.lower(), made[0].key]
    found = tracker.get_items(keys)
    assert [t.key for t in found] == [made[0].key, made[2].key]  # ascending id, each once, the missing left out
    assert not [r for r in fake.writes() if r["path"] == BULK_FETCH]  # a read


def test_cloud_asks_again_for_issues_jira_could_not_read(cloud, sleeps):
    fake, tracker = cloud
    epic, made = _items(tracker, 4)
    fake.fetch_errors = {made[1].key, made[3].key}
    mark, slept = len(fake.log), len(sleeps)
    found = tracker.get_items([t.key for t in made])
    assert [t.key for t in found] == sorted((t.key for t in made), key=lambda k: int(k.split("-")[1]))
    asked = [json.loads(r["body"])["issueIdsOrKeys"] for r in fake.log[mark:] if r["path"] == BULK_FETCH]
    assert asked == [[t.key for t in made], [made[1].id, made[3].id]]  # the second time by the ids reported
    assert len(sleeps) == slept + 1  # a backoff between the two


def test_cloud_bulk_fetch_gives_up_with_a_clear_error(sleeps):
    fake = FakeJira("cloud").start()
    try:
        tracker = make_jira_tracker(fake, sleeps, retries=0)
        _, made = _items(tracker, 2)
        fake.fetch_errors = {made[0].key}
        with pytest.raises(TrackerError, match="1 could not be read after 1 attempts: Retry the request"):
            tracker.get_items([t.key for t in made])
    finally:
        fake.stop()


def test_the_fake_bulk_fetch_keeps_cloud_limits():
    fake = FakeJira("cloud").start()
    dc = FakeJira("datacenter").start()
    try:
        import requests

        auth = (fake.user, fake.token)
        answer = requests.post(fake.url + BULK_FETCH, json={"issueIdsOrKeys": [str(i) for i in range(101)]}, auth=auth)
        assert answer.status_code == 400 and "100" in answer.text
        answer = requests.post(fake.url + BULK_FETCH, json={"issueIdsOrKeys": ["CAMP-1"], "jql": "x"}, auth=auth)
        assert answer.status_code == 400 and "Unrecognized field" in answer.text
        answer = requests.post(fake.url + BULK_FETCH, json={"issueIdsOrKeys": ["CAMP-1"], "properties": list("abcdef")},
                               auth=auth)
        assert answer.status_code == 400
        answer = requests.post(fake.url + BULK_FETCH, json={"issueIdsOrKeys": ["CAMP-1"], "fields": ["summary"]}, auth=auth)
        assert answer.status_code == 200 and answer.json() == {"issues": [], "issueErrors": []}
        answer = requests.post(dc.url + BULK_FETCH, json={"issueIdsOrKeys": ["CAMP-1"]},
                               headers={"Authorization": f"Bearer {dc.token}"})
        assert answer.status_code == 404  # Data Center has no REST v3
    finally:
        fake.stop()
        dc.stop()


def test_every_tracker_reads_items_by_key(any_tracker):
    epic, made = _items(any_tracker, 60)
    keys = [made[59].key, made[0].key, "NOPE-1" if "-" in made[0].key else "JC-99999", made[30].key, made[0].key]
    found = any_tracker.get_items(keys)
    assert sorted(t.key for t in found) == sorted({made[59].key, made[0].key, made[30].key})
    assert {t.key: t.record.submission for t in found} == {t.key: t.ident for t in (made[0], made[30], made[59])}
    fake = getattr(any_tracker, "fake", None)
    if fake is not None and not fake.cloud:
        assert not fake.requests("POST", BULK_FETCH)
