"""Records that stay true: a submission that ran keeps its file, record and ticket whatever the spec
says later (create lists it as needing a new attempt); plan and create touch only their own files in the
campaign folder; `sync --campaign` with a name that is not an open campaign is an error."""

from __future__ import annotations

import json

from tests.conftest import campaign_fixture
from tests.test_cli_create import DEMO

FROZEN = "changed after submit: needs a new attempt"


camp = campaign_fixture("local", "datacenter")


def spec(camp, text: str | None = None):
    path = camp.tmp / "work" / "campaign.yaml"
    path.write_text(text if text is not None else DEMO.read_text())
    return str(path)


def attachment(camp, key: str) -> bytes:
    if camp.fake:
        issue = camp.fake.issue(key)
        return issue.attachments[-1]["data"]
    import sqlite3
    db = sqlite3.connect(camp.tmp / "store.sqlite")
    return db.execute("SELECT content FROM attachments WHERE key = ? AND filename LIKE '%.yaml'", (key,)).fetchone()[0]


def test_a_submission_that_ran_keeps_its_file_and_record_after_a_spec_edit(camp):
    path = spec(camp)
    created = camp.run("create", path, "--json")
    assert created.exit_code == 0, created.output
    keys = {row["id"]: row["key"] for row in json.loads(created.stdout)}
    assert camp.run("submit", path, "--step", "step1").exit_code == 0
    ran = [keys[f"demo-w47_step1_00{i}"] for i in (1, 2, 3)]
    before = {k: (attachment(camp, k), camp.ticket(k)) for k in ran}
    folder = camp.tmp / "work" / "camps" / "demo-w47"
    files = {p: p.read_bytes() for p in (folder / "step1").glob("*.yaml")}

    spec(camp, DEMO.read_text().replace("requestMemory: 4096", "requestMemory: 6000"))
    again = camp.run("create", path, "--json")
    assert again.exit_code == 0, again.output
    rows = {row["key"]: row for row in json.loads(again.stdout)}
    assert [rows[k]["action"] for k in ran] == [FROZEN] * 3
    assert {row["action"] for k, row in rows.items() if k not in ran} == {"updated"}
    assert "3 changed after submit" in again.stderr
    assert f"Changed after submit: {ran[0]} (demo-w47_step1_001)" in again.stderr
    for key in ran:  # file, record, description, comments and status: as they were when the run started
        assert (attachment(camp, key), camp.ticket(key)) == before[key], key
    assert {p: p.read_bytes() for p in (folder / "step1").glob("*.yaml")} == files
    assert all(b"6000" in p.read_bytes() for p in (folder / "step2").glob("*.yaml"))

    forced = camp.run("create", path, "--force")  # --force does not swap a submitted file either
    assert forced.exit_code == 0, forced.output
    assert {p: p.read_bytes() for p in (folder / "step1").glob("*.yaml")} == files
    assert all(attachment(camp, k) == before[k][0] for k in ran)


def test_a_submitted_hand_edit_is_kept_by_create_force(camp):
    path = spec(camp)
    assert camp.run("create", path).exit_code == 0
    folder = camp.tmp / "work" / "camps" / "demo-w47"
    edited = folder / "step1" / "demo-w47_step1_001.yaml"
    edited.write_text(edited.read_text() + "# hand edit: more memory for this group\n")
    submitted = camp.run("submit", path, "--step", "step1")
    assert submitted.exit_code == 0, submitted.output
    hand = edited.read_bytes()
    forced = camp.run("create", path, "--force")
    assert forced.exit_code == 0, forced.output
    assert edited.read_bytes() == hand
    assert "1 changed after submit" in forced.stderr


def test_plan_and_create_leave_other_tools_files_alone(camp):
    path = spec(camp)
    assert camp.run("create", path).exit_code == 0
    folder = camp.tmp / "work" / "camps" / "demo-w47"
    foreign = {folder / "runinfo" / "000" / "parsl.log": b"parsl was here\n",
               folder / "submit" / "u" / "jdoe" / "run1" / "run1.qgraph": b"\x00graph",
               folder / "step1" / "notes.txt": b"ask about group 3\n"}
    for p, data in foreign.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    # one group fewer and a changed template value: files change, one planned file goes away
    fewer = DEMO.read_text().replace("requestMemory: 4096", "requestMemory: 5000")
    spec(camp, fewer.replace("values: [g, r, i]", "values: [g, r]"))
    for command in (["plan", path, "-o", str(folder)], ["create", path]):
        result = camp.run(*command)
        assert result.exit_code == 0, result.output
        for p, data in foreign.items():
            assert p.read_bytes() == data, (command, p)
    assert all(b"5000" in p.read_bytes() for p in (folder / "step1").glob("*.yaml"))
    assert sorted(p.name for p in (folder / "step2").glob("*.yaml")) == ["demo-w47_step2_001.yaml", "demo-w47_step2_002.yaml"]


def test_sync_of_a_campaign_that_is_not_open_says_which_is(camp):
    assert camp.run("create", spec(camp)).exit_code == 0
    if camp.fake:
        camp.fake.lag = 0
    result = camp.run("sync", "--campaign", "demo-w74")
    assert result.exit_code == 3, result.output
    assert "no open campaign 'demo-w74'" in result.output and "did you mean 'demo-w47'?" in result.output
