"""The local store: a store written by jiracampaign 0.1 migrated when first opened (Markdown texts, run
states), and the store's behaviour through the tracker interface."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest

from jiracampaign.core.documents import Code, Document, Fields, Heading, Mono, Paragraph
from jiracampaign.core.records import (CampaignRecord, RunIdentity, StepInfo, StepRecord, SubmissionRecord, SyncRecord)
from jiracampaign.core.states import BatchState
from jiracampaign.errors import TrackerError
from jiracampaign.trackers.base import Item, NewItem
from jiracampaign.trackers.local import LocalTracker
from jiracampaign.trackers.local_migrate import SCHEMA_VERSION, wiki_to_markdown

# ---- a store as jiracampaign 0.1 wrote it ---------------------------------------------------------------------
SCHEMA_0 = """
CREATE TABLE tickets (num INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE NOT NULL, ident TEXT UNIQUE NOT NULL,
    kind TEXT NOT NULL, campaign TEXT NOT NULL, parent TEXT, summary TEXT NOT NULL, description TEXT NOT NULL,
    status TEXT NOT NULL, labels TEXT NOT NULL, metadata TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL);
CREATE INDEX tickets_campaign ON tickets (campaign, kind);
CREATE TABLE attachments (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, filename TEXT NOT NULL,
    content BLOB NOT NULL, created TEXT NOT NULL, UNIQUE (key, filename));
CREATE TABLE comments (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, marker TEXT, body TEXT NOT NULL,
    created TEXT NOT NULL, updated TEXT NOT NULL);
CREATE INDEX comments_key ON comments (key, marker);
CREATE TABLE sync_records (key TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE history (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, field TEXT NOT NULL, old TEXT, new TEXT,
    at TEXT NOT NULL);
"""
WHEN = "2026-11-20T10:00:00+00:00"
OLD_RUN = {"run_name": "u_jdoe_c_step1_group001_attempt1", "run_id": "6123", "wms": "panda",
           "submitted": "2026-11-24T10:00:00+00:00"}
EPIC_META = {"type": "campaign", "campaign": "c", "spec_sha256": "x",
             "steps": [{"name": "step1", "after": [], "groups": 2}]}
SUB_META = {"type": "submission", "campaign": "c", "submission": "c_step1_001", "step": "step1", "group": 1, "groups": 2,
            "data_query": "visit > 1", "inputs": 8, "output_run": "u/jdoe/c/step1", "run_name": "c_step1_001",
            "file": "c_step1_001.yaml", "sha256": "abc", "run": OLD_RUN, "text_sha": "t1"}
SUB2_META = {k: v for k, v in SUB_META.items() if k != "run"} | {"submission": "c_step1_002", "group": 2,
                                                                  "run_name": "c_step1_002", "file": "c_step1_002.yaml"}
SUB_WIKI = ("||Campaign|{{c}}|\n||Step|step1 \\(group 1/2: visit 100..109\\)|\n||Run|{{u\\_jdoe\\_c\\_step1\\_group001\\_attempt1}}|"
            "\n\nh4. Data query\n{noformat}\nvisit > 1\n{noformat}\n\nThe BPS submit file is attached as {{c\\_step1\\_001.yaml}}.")
SUB2_WIKI = "||Campaign|{{c}}|\n||Run|_not yet submitted_|\n\nh4. Data query\n{noformat}\nvisit > 1\n{noformat}"
EPIC_WIKI = ("Demo *campaign* for the README\n||Campaign|{{c}}|\n||Operator|jdoe|\n\nh4. Steps\n"
             "||Step||Pipeline||After||Submissions||\n|step1|{{DRP.yaml\\#step1}}|\\-|2|")
STATUS_WIKI = ("h4. Run status: PARTIAL\n||State|*PARTIAL* \\(SubFinished\\)|\n\n||Task||State||\n"
               "|isr|[failed|https://m/task/1/]|")
NOTE_WIKI = "{{c\\_step1\\_001.yaml}} was edited after it was planned:\n{noformat}\n- a: 1\n+ a: 2\n{noformat}"
SYNCED = {"source": "panda", "run_name": OLD_RUN["run_name"], "run_id": "6123", "state": "partial", "status": "Blocked",
          "total": 20, "finished": 18, "failed": 2, "digest": "d1", "failures": "f1", "changed_at": WHEN}


def write_store_0(path) -> None:
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_0)
    labels = json.dumps(["jiracampaign", "jc-c"])
    for key, ident, kind, parent, summary, text, status, meta in [
        ("JC-1", "c", "campaign", None, "Campaign c", EPIC_WIKI, "To Do", EPIC_META),
        ("JC-2", "c_step1_001", "submission", "JC-1", "c step1 group 1/2", SUB_WIKI, "Blocked", SUB_META),
        ("JC-3", "c_step1_002", "submission", "JC-1", "c step1 group 2/2", SUB2_WIKI, "To Do", SUB2_META),
    ]:
        db.execute("INSERT INTO tickets (key, ident, kind, campaign, parent, summary, description, status, labels, metadata,"
                   " created, updated) VALUES (?, ?, ?, 'c', ?, ?, ?, ?, ?, ?, ?, ?)",
                   (key, ident, kind, parent, summary, text, status, labels, json.dumps(meta, sort_keys=True), WHEN, WHEN))
    db.execute("INSERT INTO sync_records (key, record) VALUES ('JC-2', ?)", (json.dumps(SYNCED),))
    db.execute("INSERT INTO comments (key, marker, body, created, updated) VALUES ('JC-2', 'status', ?, ?, ?)",
               (STATUS_WIKI, WHEN, WHEN))
    db.execute("INSERT INTO comments (key, marker, body, created, updated) VALUES ('JC-2', NULL, ?, ?, ?)",
               (NOTE_WIKI, WHEN, WHEN))
    db.execute("INSERT INTO attachments (key, filename, content, created) VALUES ('JC-2', 'c_step1_001.yaml', ?, ?)",
               (b"a: 2\n", WHEN))
    db.execute("INSERT INTO history (key, field, old, new, at) VALUES ('JC-2', 'status', 'To Do', 'Blocked', ?)", (WHEN,))
    db.commit()
    db.close()


@pytest.fixture
def old_store(tmp_path):
    path = tmp_path / "campaigns.sqlite"
    write_store_0(path)
    return path


def dump(path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return list(db.iterdump())
    finally:
        db.close()


def test_a_0_1_store_reads_back_with_typed_records(old_store):
    tracker = LocalTracker(old_store)
    try:
        epic, sub, never = tracker.find_items("c")
    finally:
        tracker.close()
    assert (epic.key, epic.ident, epic.title, epic.parent) == ("JC-1", "c", "Campaign c", None)
    assert epic.record == CampaignRecord(campaign="c", spec_sha256="x", steps=[StepInfo("step1", (), 2)])
    assert not epic.done
    assert isinstance(sub.record, SubmissionRecord) and sub.record.run == RunIdentity(**OLD_RUN)
    assert (sub.record.group, sub.record.groups, sub.record.inputs, sub.record.file) == (1, 2, 8, "c_step1_001.yaml")
    assert sub.parent == "JC-1" and sub.attachments.keys() == {"c_step1_001.yaml"}
    assert sub.sync == SyncRecord(**SYNCED)
    assert never.record.run is None and never.sync is None and never.record.submission == "c_step1_002"


def test_a_0_1_store_gets_run_states_from_its_sync_records(old_store):
    tracker = LocalTracker(old_store)
    try:
        sub, never = tracker.get_item("JC-2"), tracker.get_item("JC-3")
        states = dict(tracker.db.execute("SELECT key, state FROM tickets").fetchall())
    finally:
        tracker.close()
    assert sub.status == "partial" and not sub.done  # its last sync saw PARTIAL (0.1 showed 'Blocked')
    assert states == {"JC-1": "", "JC-2": "partial", "JC-3": ""}
    # never submitted: no run state (the store shows the item as merely open)
    assert never.status in ("", "open") and never.status not in {s.value for s in BatchState} and not never.done


def test_a_0_1_store_keeps_markdown_descriptions(old_store):
    tracker = LocalTracker(old_store)
    try:
        texts = {key: tracker.description(key) for key in ("JC-1", "JC-2", "JC-3")}
    finally:
        tracker.close()
    for text in texts.values():
        assert "{noformat}" not in text and "||" not in text and "{{" not in text, text
    assert texts["JC-3"] == ("- **Campaign:** `c`\n- **Run:** _not yet submitted_\n\n#### Data query\n"
                             "```\nvisit > 1\n```")
    assert texts["JC-2"] == ("- **Campaign:** `c`\n- **Step:** step1 (group 1/2: visit 100..109)\n"
                             "- **Run:** `u_jdoe_c_step1_group001_attempt1`\n\n#### Data query\n```\nvisit > 1\n```\n\n"
                             "The BPS submit file is attached as `c_step1_001.yaml`.")
    assert texts["JC-1"] == ("Demo **campaign** for the README\n- **Campaign:** `c`\n- **Operator:** jdoe\n\n#### Steps\n"
                             "| Step | Pipeline | After | Submissions |\n| --- | --- | --- | --- |\n"
                             "| step1 | `DRP.yaml#step1` | - | 2 |")


def test_a_0_1_store_keeps_markdown_notes(old_store):
    tracker = LocalTracker(old_store)
    try:
        status, note = tracker.notes("JC-2")
    finally:
        tracker.close()
    assert status.startswith("#### Run status: PARTIAL\n- **State:** **PARTIAL** (SubFinished)\n\n| Task | State |\n"
                             "| --- | --- |\n")
    assert note == "`c_step1_001.yaml` was edited after it was planned:\n```\n- a: 1\n+ a: 2\n```"


def test_a_0_1_store_keeps_a_link_in_a_table_cell_whole(old_store):
    """Guard (jiracampaign/trackers/local_migrate.py, _cells): a table row is split on every `|`, also the one
    inside a link ``[title|url]``, so the link becomes two cells: ``| isr | [failed | https://m/task/1/] |``."""
    tracker = LocalTracker(old_store)
    try:
        status = tracker.notes("JC-2")[0]
    finally:
        tracker.close()
    assert status.splitlines()[-1] == "| isr | [failed](https://m/task/1/) |", status


def test_a_0_1_store_is_at_schema_1_and_opening_it_again_changes_nothing(old_store):
    LocalTracker(old_store).close()
    db = sqlite3.connect(old_store)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 1
    columns = [r[1] for r in db.execute("PRAGMA table_info(tickets)")]
    db.close()
    assert "record" in columns and "state" in columns and "closed" in columns
    assert not {"metadata", "status", "labels"} & set(columns)
    before = dump(old_store)
    tracker = LocalTracker(old_store)
    items = tracker.find_items("c")
    notes = tracker.notes("JC-2")
    tracker.close()
    assert dump(old_store) == before
    again = LocalTracker(old_store)
    try:
        assert again.find_items("c") == items and again.notes("JC-2") == notes
    finally:
        again.close()


def test_a_0_1_store_migrates_other_statuses(tmp_path):
    """A ticket 0.1 showed as Done or In Progress, with no (or another run's) sync record; a closed epic."""
    path = tmp_path / "old.sqlite"
    write_store_0(path)
    db = sqlite3.connect(path)
    db.execute("UPDATE tickets SET status = 'Done' WHERE key = 'JC-1'")
    db.execute("UPDATE tickets SET status = 'In Progress' WHERE key = 'JC-2'")
    db.execute("UPDATE sync_records SET record = ? WHERE key = 'JC-2'", (json.dumps(dict(SYNCED, run_name="u_older")),))
    db.commit()
    db.close()
    tracker = LocalTracker(path)
    try:
        assert tracker.get_item("JC-2").status == "running"  # the sync record was another run's
        epic = tracker.get_item("JC-1")
        assert epic.done and tracker.open_campaigns() == []
    finally:
        tracker.close()


def test_a_store_from_a_newer_release_is_refused(tmp_path):
    path = tmp_path / "new.sqlite"
    LocalTracker(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(TrackerError, match="newer jiracampaign"):
        LocalTracker(path)


def test_wiki_to_markdown_nested_bullets_and_escapes():
    assert wiki_to_markdown("* one\n** two {{x}}\n* \\*not bold\\* (!)") == "- one\n  - two `x`\n- \\*not bold\\* ⚠"


# ---- the interface ------------------------------------------------------------------------------------------
def sub_record(ident: str, group: int, campaign: str = "c") -> SubmissionRecord:
    return SubmissionRecord(campaign=campaign, submission=ident, step="step1", group=group, groups=3, data_query="visit > 1",
                            inputs=10, output_run=f"u/jdoe/{ident}", run_name=ident, file=f"{ident}.yaml")


def new_items(campaign: str = "c", parent: str | None = None) -> list[NewItem]:
    return [NewItem(f"{campaign}_step1_00{i}", campaign, f"{campaign} step1 group {i}/3",
                    Document([Fields([("Campaign", Mono(campaign))]), Heading("Data query"), Code("visit > 1")]),
                    sub_record(f"{campaign}_step1_00{i}", i, campaign), parent=parent) for i in (1, 2, 3)]


@pytest.fixture
def store(tmp_path):
    tracker = LocalTracker(tmp_path / "sub" / "store.sqlite")
    yield tracker
    tracker.close()


@pytest.fixture
def campaign(store):
    (epic,) = store.ensure_items([NewItem("c", "c", "Campaign c", Document([Paragraph("Demo")]),
                                          CampaignRecord("c", steps=[StepInfo("step1", (), 3)]))])
    subs = store.ensure_items(new_items(parent=epic.key))
    return epic, subs


def test_ensure_items_creates_once_per_ident(store, campaign):
    epic, subs = campaign
    assert [epic.key] + [s.key for s in subs] == ["JC-1", "JC-2", "JC-3", "JC-4"]
    assert all(isinstance(s, Item) and s.parent == epic.key and s.kind == "submission" for s in subs)
    assert subs[0].record == sub_record("c_step1_001", 1) and subs[0].status == "open" and not subs[0].done
    counted = []
    again = store.ensure_items([NewItem(i.ident, "c", "another title", Document(), i.record) for i in new_items()]
                               + new_items("d"), progress=counted.append)
    assert [i.key for i in again] == ["JC-2", "JC-3", "JC-4", "JC-5", "JC-6", "JC-7"]
    assert again[0].title == "c step1 group 1/3"  # the existing item, unchanged
    assert sum(counted) == 6
    assert len(store.find_items("c")) == 4 and len(store.find_items("d")) == 3
    assert store.description("JC-2") == "- **Campaign:** `c`\n\n#### Data query\n\n```\nvisit > 1\n```"


def test_find_and_get_items(store, campaign):
    epic, subs = campaign
    found = store.find_items("c", known={"c_step1_001": ("JC-2", "2")})
    assert [i.key for i in found] == ["JC-1", "JC-2", "JC-3", "JC-4"]
    assert found[0].kind == "campaign" and found[0].record.step("step1").groups == 3
    assert store.find_items("nope") == []
    assert store.get_item("JC-3") == subs[1]
    assert store.get_item("JC-99") is None
    assert store.url("JC-3").endswith("store.sqlite#JC-3") and "local store" in store.describe()


def test_update_item(store, campaign):
    key = campaign[1][0].key
    store.update_item(key, title="new title")
    assert store.get_item(key).title == "new title" and "Data query" in store.description(key)
    store.update_item(key, body=Document([Paragraph("*plain*")]))
    assert store.get_item(key).title == "new title" and store.description(key) == "\\*plain\\*"
    with pytest.raises(TrackerError, match="no ticket JC-99"):
        store.update_item("JC-99", title="x")


def test_put_note_adds_leaves_or_updates_one_note_per_slot(store, campaign):
    key = campaign[1][0].key
    first = Document([Heading("Run status: RUNNING"), Fields([("State", "running")])])
    assert store.put_note(key, "status", first) == "added"
    assert store.put_note(key, "status", first) == "unchanged"
    assert store.put_note(key, "status", Document([Heading("Run status: FAILED")])) == "updated"
    assert store.put_note(key, "failures-abc", Document([Paragraph("x")])) == "added"
    assert store.notes(key) == ["#### Run status: FAILED", "x"]
    assert store.put_note(campaign[1][1].key, "status", first) == "added"  # slots are per item
    with pytest.raises(TrackerError):
        store.put_note("JC-99", "status", first)


def test_add_note_always_adds(store, campaign):
    key = campaign[1][0].key
    store.add_note(key, Document([Paragraph("one")]))
    store.add_note(key, Document([Paragraph("one")]))
    store.put_note(key, "status", Document([Paragraph("s")]))
    assert store.notes(key) == ["one", "one", "s"]
    with pytest.raises(TrackerError):
        store.add_note("JC-99", Document([Paragraph("x")]))


@pytest.mark.parametrize("state, done", [(BatchState.SUCCEEDED, True), (BatchState.CANCELLED, True),
                                         (BatchState.PARTIAL, False), (BatchState.FAILED, False),
                                         (BatchState.RUNNING, False), (BatchState.HELD, False)])
def test_set_run_state(store, campaign, state, done):
    key = campaign[1][0].key
    assert store.set_run_state(key, BatchState.RUNNING) == "running"
    assert store.set_run_state(key, state) == state.value
    item = store.get_item(key)
    assert item.status == state.value and item.done is done
    history = store.db.execute("SELECT old, new FROM history WHERE key = ? ORDER BY id", (key,)).fetchall()
    assert [tuple(r) for r in history] == [("", "running")] + ([("running", state.value)] if state is not BatchState.RUNNING else [])
    assert store.state_action(state) == f"set state {state.value}"


def test_set_record_and_set_sync_round_trip(store, campaign):
    key = campaign[1][0].key
    record = sub_record("c_step1_001", 1)
    record.run = RunIdentity("u_x", "6000", "panda", "/submit", "2026-11-24T10:00:00+00:00")
    record.text_sha = "t2"
    store.set_record(key, record)
    assert store.get_item(key).record == record
    sync = SyncRecord(source="panda", run_name="u_x", run_id="6000", state="running", total=10, finished=2, running=3)
    store.set_sync(key, sync)
    assert store.get_item(key).sync == sync
    later = SyncRecord(source="panda", run_name="u_x", state="succeeded", total=10, finished=10)
    store.set_sync(key, later)
    assert store.get_item(key).sync == later and store.find_items("c")[1].sync == later
    store.set_record(campaign[0].key, StepRecord("c", "step1"))
    assert store.get_item(campaign[0].key).record == StepRecord("c", "step1")
    with pytest.raises(TrackerError):
        store.set_sync("JC-99", sync)


def test_attach_replaces_a_file_of_the_same_name(store, campaign):
    key = campaign[1][0].key
    store.attach(key, "a.yaml", b"one")
    store.attach(key, "b.yaml", b"bee")
    store.attach(key, "a.yaml", b"two")
    assert store.read_attachment(key, "a.yaml") == b"two" and store.read_attachment(key, "b.yaml") == b"bee"
    assert store.read_attachment(key, "c.yaml") is None
    assert sorted(store.get_item(key).attachments) == ["a.yaml", "b.yaml"]
    with pytest.raises(TrackerError):
        store.attach("JC-99", "a.yaml", b"x")


def test_link_is_idempotent(store, campaign):
    a, b, c = (s.key for s in campaign[1])
    store.link(a, b, "rescues")
    store.link(a, b, "rescues")
    store.link(a, c, "rescues")
    store.link(a, b, "relates")
    assert sorted(store.links(a)) == [("relates", b), ("rescues", b), ("rescues", c)]
    assert store.links(b) == []
    with pytest.raises(TrackerError):
        store.link(a, "JC-99", "rescues")


def test_open_campaigns(store, campaign):
    (other,) = store.ensure_items([NewItem("d", "d", "Campaign d", Document(), CampaignRecord("d"))])
    assert [i.key for i in store.open_campaigns()] == [campaign[0].key, other.key]
    assert [i.key for i in store.open_campaigns("d")] == [other.key]
    assert store.open_campaigns("nope") == []
    store.attach(campaign[0].key, "digest.json.gz", b"x")
    (epic,) = store.open_campaigns("c")
    assert epic.attachments.keys() == {"digest.json.gz"} and isinstance(epic.record, CampaignRecord)
    store.close_item(other.key)
    assert [i.key for i in store.open_campaigns()] == [campaign[0].key]
    assert store.get_item(other.key).done and store.get_item(other.key).status == "closed"


def test_a_file_that_is_not_a_store_is_a_tracker_error(tmp_path):
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(TrackerError, match="cannot open the local store"):
        LocalTracker(path)


def test_keys_are_not_reused_and_records_stored_as_json(store, campaign):
    row = store.db.execute("SELECT record FROM tickets WHERE key = 'JC-2'").fetchone()
    assert json.loads(row["record"])["type"] == "submission" and json.loads(row["record"])["version"] == 1
    assert re.fullmatch(r"JC-\d+", campaign[1][2].key)
