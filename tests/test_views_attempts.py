"""The views count a group once, by its latest attempt, and show the chain of its attempts and the verdicts on them:
the epic's roll-up, `status` (overview, campaign table, --failed, --json, --csv), the HTML report and `show`.

The campaign is written on the local store as `create`, `submit`, `rescue` and `sync` leave it (items made with
`ensure_items`, records with `set_record`, what sync last wrote with `set_sync`, the sync ledger attached to the
epic): step1 group 1 ended partly, was rescued (attempt 2, with more memory) and attempt 2 succeeded, so sync
closed attempt 1 as rescued; group 2 ended partly and was accepted; group 3 failed. step2 group 1 failed, its
rescue runs; group 2 is not submitted.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from jiracampaign.cli import cli
from jiracampaign.core import texts
from jiracampaign.core.attempts import attempt_ident
from jiracampaign.core.documents import Document
from jiracampaign.core.ledger import DIGEST_FILE, SyncState
from jiracampaign.core.records import CampaignRecord, RunIdentity, StepInfo, SubmissionRecord, SyncRecord
from jiracampaign.render.html import render
from jiracampaign.services.ledger import ledger_from_items
from jiracampaign.services.report import build_report
from jiracampaign.trackers import markdown
from jiracampaign.trackers.base import NewItem
from jiracampaign.trackers.local import LocalTracker
from tests.conftest import campaign_fixture
from tests.test_report_html import Page
from tests.test_rescue import start, sync

CAMPAIGN = "resc-w1"
STEPS = [StepInfo("step1", (), 3), StepInfo("step2", ("step1",), 2)]
NOW = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")  # sync's last change: nothing is stuck
MEMORY = "requestMemory of isr: 4096 -> 8192 MiB"
ACCEPTED = "5 visits with a bad PSF; the rest is enough for coadds"


def _record(step: str, group: int, attempt: int = 1, submitted: bool = True) -> SubmissionRecord:
    groups = next(s.groups for s in STEPS if s.name == step)
    first = f"{CAMPAIGN}_{step}_{group:03d}"
    run = f"u_op_{CAMPAIGN}_{step}_group{group:03d}_attempt{attempt}"
    return SubmissionRecord(
        campaign=CAMPAIGN, submission=attempt_ident(first, attempt), step=step, group=group, groups=groups,
        data_query=f"visit IN ({group}00..{group}99)", inputs=20, output_run=f"u/op/{CAMPAIGN}/{step}/attempt{attempt}",
        run_name=run, file=f"{attempt_ident(first, attempt)}.yaml", label=f"visits {group}00..{group}99",
        site="SLAC", attempt=attempt, rescues=first if attempt > 1 else "", changes=[MEMORY] if attempt > 1 else [],
        run=RunIdentity(run, str(6000 + 100 * int(step[-1]) + 10 * group + attempt), "panda",
                        submitted="2026-12-01T10:00:00+00:00") if submitted else None)


#: (step, group, attempt): run state, files, done, failed, verdict, reason; None: not submitted
RUNS = {
    ("step1", 1, 1): ("partial", 20, 18, 2, "rescued", "attempt 2 succeeded"),
    ("step1", 1, 2): ("succeeded", 20, 20, 0, "", ""),
    ("step1", 2, 1): ("partial", 20, 15, 5, "accepted", ACCEPTED),
    ("step1", 3, 1): ("failed", 20, 0, 20, "", ""),
    ("step2", 1, 1): ("failed", 5, 0, 5, "", ""),
    ("step2", 1, 2): ("running", 5, 2, 0, "", ""),
    ("step2", 2, 1): None,
}


def build(path, ledger: bool = True) -> dict[str, str]:
    """The campaign on the local store at ``path``; returns the keys by (step, group, attempt) name (``1.1a2``)."""
    tracker = LocalTracker(path)
    try:
        [epic] = tracker.ensure_items([NewItem(CAMPAIGN, CAMPAIGN, f"Campaign {CAMPAIGN}", Document(),
                                               CampaignRecord(CAMPAIGN, steps=STEPS))])
        keys = {}
        for (step, group, attempt), run in RUNS.items():
            record = _record(step, group, attempt, submitted=run is not None)
            [item] = tracker.ensure_items([NewItem(record.submission, CAMPAIGN, record.submission, Document(),
                                                   _record(step, group, attempt, submitted=False), epic.key)])
            keys[f"{step[-1]}.{group}a{attempt}"] = item.key
            if run is None:
                continue
            tracker.set_record(item.key, record)  # as submit records the run
            state, total, finished, failed, verdict, reason = run
            tracker.set_sync(item.key, SyncRecord(source="panda", run_name=record.run.run_name,
                                                  run_id=record.run.run_id, wms="panda", state=state, status=state,
                                                  total=total, finished=finished, failed=failed, changed_at=NOW,
                                                  verdict=verdict, verdict_reason=reason))
        if ledger:
            items = tracker.find_items(CAMPAIGN)
            tracker.attach(epic.key, DIGEST_FILE, ledger_from_items(epic, items, lambda wms: "panda").to_bytes())
        return keys
    finally:
        tracker.close()


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "store.sqlite"
    return path, build(path)


def run(runner, path, *args):
    result = runner.invoke(cli, ["--set", f"local.path={path}", *args])
    assert result.exit_code == 0, result.output
    return result


# ---- the epic's roll-up ---------------------------------------------------------------------------------------

ROLLUP = """\
| Step | Submissions | Not submitted | Running | Succeeded | Failed | Accepted | Attempts | Files | Done | Failed |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
| step1 | 3 | 0 | 0 | 1 | 1 | 1 | 4 | 60 | 35 | 25 |
| step2 | 2 | 1 | 1 | 0 | 0 | 0 | 2 | 5 | 2 | 0 |
| **All** | 5 | 1 | 1 | 1 | 1 | 1 | 6 | 65 | 37 | 25 |"""


def _table(doc) -> str:
    return next(block for block in markdown.render(doc).split("\n\n") if block.startswith("| Step"))


def _entries(path, campaign: str = CAMPAIGN) -> list:
    """The entries of a campaign's sync ledger, as sync hands them to `rollup_doc`."""
    tracker = LocalTracker(path)
    try:
        [epic] = tracker.list_campaigns([campaign])
        return list(SyncState.from_bytes(tracker.read_attachment(epic.key, DIGEST_FILE)).entries.values())
    finally:
        tracker.close()


def test_the_rollup_counts_each_group_once_by_its_latest_attempt_and_verdicts_as_their_own_state(store):
    path, _ = store
    entries = _entries(path)
    assert len(entries) == 6  # every submitted attempt is in the ledger
    assert _table(texts.rollup_doc(entries, STEPS, "now")) == ROLLUP
    # a ledger written before groups were kept (group 0): attempts go together by their first attempt's id
    old = [replace(e, group=0) for e in entries]
    assert _table(texts.rollup_doc(old, STEPS, "now")) == ROLLUP
    mixed = [replace(e, group=0) if e.attempt == 1 else e for e in entries]
    assert _table(texts.rollup_doc(mixed, STEPS, "now")) == ROLLUP
    # one attempt per group: no Attempts column (an attempt closed as rescued whose rescue is not in the ledger counts
    # by its run's state); a force-completed run counts as that
    firsts = [e for e in entries if e.attempt == 1]
    forced = [replace(e, verdict="force-completed") if e.state == "failed" and e.step == "step1" else e for e in firsts]
    assert _table(texts.rollup_doc(forced, STEPS, "now")) == """\
| Step | Submissions | Not submitted | Partial | Failed | Accepted | Force-completed | Files | Done | Failed |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
| step1 | 3 | 0 | 1 | 0 | 1 | 1 | 60 | 33 | 27 |
| step2 | 2 | 1 | 0 | 1 | 0 | 0 | 5 | 0 | 5 |
| **All** | 5 | 1 | 1 | 1 | 1 | 1 | 65 | 33 | 32 |"""


# ---- status ---------------------------------------------------------------------------------------------------

OVERVIEW = ("resc-w1   JC-1  5            1 failed, 1 running, 1 accepted, 1 succeeded, 1 not submitted  56.9%       25"
            "            0      ")
#: the campaign's table, cell by cell (split at spaces: the columns are as wide as their widest cell)
TABLE = """\
STEP GROUP TASK STATE FILES DONE FAILED DONE% KEY ATTEMPTS RUN SITE NOTE
step1 1/3 succeeded 20 20 0 100% {1.1a2} {1.1a2} (a2) <- {1.1a1} (a1) u_op_resc-w1_step1_group001_attempt2 SLAC
step1 2/3 partial (accepted) 20 15 5 75% {1.2a1} u_op_resc-w1_step1_group002_attempt1 SLAC accepted: {reason}
step1 3/3 failed 20 0 20 0% {1.3a1} u_op_resc-w1_step1_group003_attempt1 SLAC
step2 1/2 running 5 2 0 40% {2.1a2} {2.1a2} (a2) <- {2.1a1} (a1) u_op_resc-w1_step2_group001_attempt2 SLAC
step2 2/2 not submitted 0 0 0 - {2.2a1} SLAC
"""


def test_status_shows_each_group_once_by_its_latest_attempt_with_its_chain_and_verdict(store, runner):
    path, keys = store
    overview = run(runner, path, "status")
    assert overview.stdout.splitlines()[1].startswith(OVERVIEW), overview.stdout
    [line] = json.loads(run(runner, path, "status", "--json").stdout)
    assert (line["submissions"], line["files"], line["done"], line["failed"], line["attention"]) == (5, 65, 37, 25, 1)
    assert {k: v for k, v in line["by_state"].items() if v} == {"failed": 1, "running": 1, "accepted": 1,
                                                                "succeeded": 1, "not submitted": 1}
    [row] = list(csv.DictReader(io.StringIO(run(runner, path, "status", "--csv").stdout)))
    counts = (row["SUBMISSIONS"], row["FAILED"], row["PARTIAL"], row["ACCEPTED"], row["SUCCEEDED"])
    assert counts == ("5", "1", "0", "1", "1")

    table = run(runner, path, "status", CAMPAIGN)
    expected = TABLE
    for name, key in keys.items():
        expected = expected.replace("{" + name + "}", key)
    got = [line.split() for line in table.stdout.splitlines()]
    assert got == [line.split() for line in expected.format(reason=ACCEPTED).splitlines()], table.stdout
    assert table.stderr.startswith(f"{CAMPAIGN} (JC-1): 5 submissions (1 failed, 1 running, 1 accepted, 1 succeeded, "
                                   "1 not submitted); 37/65 files done (56.9%), 25 failed; 0 stuck;")

    groups = json.loads(run(runner, path, "status", CAMPAIGN, "--json").stdout)
    got = [(g["step"], g["group"], g["key"], g["state"], g["attempt"], g["attempts"], g["verdict"]) for g in groups]
    assert got == [
        ("step1", "1/3", keys["1.1a2"], "succeeded", 2, [keys["1.1a2"], keys["1.1a1"]], None),
        ("step1", "2/3", keys["1.2a1"], "partial", 1, [keys["1.2a1"]], "accepted"),
        ("step1", "3/3", keys["1.3a1"], "failed", 1, [keys["1.3a1"]], None),
        ("step2", "1/2", keys["2.1a2"], "running", 2, [keys["2.1a2"], keys["2.1a1"]], None),
        ("step2", "2/2", keys["2.2a1"], "not submitted", 1, [keys["2.2a1"]], None)]
    assert groups[1]["verdict_reason"] == ACCEPTED
    rows = list(csv.DictReader(io.StringIO(run(runner, path, "status", CAMPAIGN, "--csv").stdout)))
    assert [(r["KEY"], r["STATE"], r["ATTEMPT"], r["ATTEMPTS"], r["VERDICT"]) for r in rows][:2] == [
        (keys["1.1a2"], "succeeded", "2", f"{keys['1.1a2']} {keys['1.1a1']}", ""),
        (keys["1.2a1"], "partial", "1", keys["1.2a1"], "accepted")]

    # any attempt's key names its group, shown by its latest attempt
    one = run(runner, path, "status", keys["1.1a1"], "--json")
    assert [g["key"] for g in json.loads(one.stdout)] == [keys["1.1a2"]]


def reject(path, key: str, reason: str) -> None:
    """An operator's verdict, as the verdict service leaves it: on the run's sync record and in the ledger."""
    tracker = LocalTracker(path)
    try:
        item = tracker.get_item(key)
        tracker.set_sync(item.key, replace(item.sync, verdict="rejected", verdict_reason=reason))
        [epic] = tracker.list_campaigns([CAMPAIGN])
        if DIGEST_FILE in epic.attachments:
            items = tracker.find_items(CAMPAIGN)
            tracker.attach(epic.key, DIGEST_FILE, ledger_from_items(epic, items, lambda wms: "panda").to_bytes())
    finally:
        tracker.close()


@pytest.mark.parametrize("ledger", [True, False], ids=["ledger", "tickets"])
def test_failed_leaves_out_groups_whose_latest_attempt_succeeded_or_a_verdict_settled(ledger, tmp_path, runner):
    path = tmp_path / "store.sqlite"
    keys = build(path, ledger)
    failed = json.loads(run(runner, path, "status", CAMPAIGN, "--failed", "--json").stdout)
    assert [(g["key"], g["state"]) for g in failed] == [(keys["1.3a1"], "failed")]  # not 1/3 (rescued), 2/3 (accepted)
    assert [line["campaign"] for line in json.loads(run(runner, path, "status", "--failed", "--json").stdout)] == [
        CAMPAIGN]

    reject(path, keys["1.3a1"], "bad calibration")  # nothing needs attention any more
    assert json.loads(run(runner, path, "status", CAMPAIGN, "--failed", "--json").stdout) == []
    assert json.loads(run(runner, path, "status", "--failed", "--json").stdout) == []
    [line] = json.loads(run(runner, path, "status", "--json").stdout)
    assert {k: v for k, v in line["by_state"].items() if v} == {"running": 1, "rejected": 1, "accepted": 1,
                                                                "succeeded": 1, "not submitted": 1}
    assert (line["attention"], line["failed"]) == (0, 25)  # the settled groups' failed files still count as failed
    rows = json.loads(run(runner, path, "status", CAMPAIGN, "--json").stdout)
    assert [(g["state"], g["verdict"]) for g in rows] == [("succeeded", None), ("partial", "accepted"),
                                                          ("failed", "rejected"), ("running", None),
                                                          ("not submitted", None)]
    table = run(runner, path, "status", CAMPAIGN).stdout.splitlines()
    assert table[3].split()[:4] == ["step1", "3/3", "failed", "(rejected)"]
    assert table[3].endswith("rejected: bad calibration")


def test_the_overview_reads_the_same_from_the_ledger_or_the_tickets(tmp_path, runner):
    with_ledger, without = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    build(with_ledger)
    build(without, ledger=False)
    lines = [json.loads(run(runner, path, "status", "--json").stdout) for path in (with_ledger, without)]
    for line in lines:
        line[0].pop("url")
        line[0].pop("last_sync")  # from the ledger's times; without one, none
    assert lines[0] == lines[1]
    assert lines[0][0]["submissions"] == 5


# ---- the HTML report --------------------------------------------------------------------------------------------

def test_the_report_shows_each_group_once_with_its_attempts_and_verdicts(store):
    path, keys = store
    tracker = LocalTracker(path)
    try:
        report = build_report(tracker, [CAMPAIGN])
    finally:
        tracker.close()
    page = Page(render(report))
    assert page.rows("summary", "thead")[0][3:9] == ["Submissions", "Failed", "Running", "Accepted", "Succeeded",
                                                      "Not submitted"]
    assert page.rows("summary")[0][3:13] == ["5", "1", "1", "1", "1", "1", "65", "37", "25", "57%"]
    assert page.rows("steps", campaign=CAMPAIGN) == [
        ["step1", "-", "-", "3", "1", "0", "1", "1", "0", "60", "35", "25", "58%"],
        ["step2", "step1", "-", "2", "0", "1", "0", "0", "1", "5", "2", "0", "40%"]]
    rows = page.rows("groups", campaign=CAMPAIGN, step="step1")
    assert [r[:8] for r in rows] == [
        ["1/3", "visits 100..199", f"{keys['1.1a2']} ← {keys['1.1a1']} a1 partial · rescued", "succeeded", "20", "20",
         "0", "u_op_resc-w1_step1_group001_attempt2 (attempt 2)"],
        ["2/3", "visits 200..299", keys["1.2a1"], f"partial accepted {ACCEPTED}", "20", "15", "5",
         "u_op_resc-w1_step1_group002_attempt1"],
        ["3/3", "visits 300..399", keys["1.3a1"], "failed", "20", "0", "20", "u_op_resc-w1_step1_group003_attempt1"]]
    attrs = [a for part, a, _ in page.table("groups", step="step1").rows if part == "tbody"]
    assert [(a.get("class"), a.get("data-state"), a.get("data-verdict")) for a in attrs] == [
        ("sub", "succeeded", None), ("sub", "partial", "accepted"), ("sub attention", "failed", None)]
    assert [r[2] for r in page.rows("groups", campaign=CAMPAIGN, step="step2")] == [
        f"{keys['2.1a2']} ← {keys['2.1a1']} a1 failed", keys["2.2a1"]]
    assert report.tally.attention == 1 and report.tally.submissions == 5


# ---- show -------------------------------------------------------------------------------------------------------

def shown(runner, path, key: str) -> list[str]:
    """`show`'s lines, each with its runs of spaces as one (the fields' width follows the longest label shown)."""
    return [" ".join(line.split()) for line in run(runner, path, "show", key).stdout.splitlines()]


def test_show_names_the_chain_of_attempts_what_the_rescue_changed_and_the_verdict(store, runner):
    path, keys = store
    first = shown(runner, path, keys["1.1a1"])
    at = first.index(f"attempt: 1 of 2 (latest: {keys['1.1a2']})")
    assert first[at + 1:at + 3] == [f"attempts: {keys['1.1a2']} (a2) succeeded",
                                    f"{keys['1.1a1']} (a1) partial (rescued) <- this one"]
    assert first[-2:] == [first[-2], "verdict: rescued: attempt 2 succeeded"]
    assert first[-2].startswith("state: partial: 20 files, 18 done, 2 failed;")
    assert not [line for line in first if line.startswith(("rescues:", "changed:"))]

    second = shown(runner, path, keys["1.1a2"])
    at = second.index("attempt: 2 of 2 (the latest)")
    assert second[at + 1:at + 5] == [f"attempts: {keys['1.1a2']} (a2) succeeded <- this one",
                                     f"{keys['1.1a1']} (a1) partial (rescued)",
                                     f"rescues: {keys['1.1a1']} ({CAMPAIGN}_step1_001)", f"changed: {MEMORY}"]
    assert not [line for line in second if line.startswith("verdict:")]
    data = json.loads(run(runner, path, "show", keys["1.1a2"], "--json").stdout)
    got = [(a["key"], a["attempt"], a["state"], a["verdict"]) for a in data["attempts"]]
    assert got == [
        (keys["1.1a2"], 2, "succeeded", None), (keys["1.1a1"], 1, "partial", "rescued")]
    assert data["record"]["rescues"] == f"{CAMPAIGN}_step1_001" and data["record"]["changes"] == [MEMORY]

    accepted = shown(runner, path, keys["1.2a1"])
    assert "attempt: 1" in accepted and not [line for line in accepted if line.startswith("attempts:")]
    assert f"verdict: accepted: {ACCEPTED}" in accepted
    assert json.loads(run(runner, path, "show", keys["1.2a1"], "--json").stdout)["verdict"] == "accepted"


# ---- through the real commands ----------------------------------------------------------------------------------

local_camp = campaign_fixture("local")


def test_the_views_after_a_real_rescue_and_a_reject(local_camp, tmp_path):
    """`create`, `submit`, `sync` (fake PanDA), `rescue` with more memory, `submit` of the rescue, its success
    synced, `reject` of the failed group: the views read what these commands wrote."""
    camp = local_camp
    (a, b, c), _ = start(camp)
    rescued = camp.run("rescue", a, "--memory", "x2", "--json")
    assert rescued.exit_code == 0, rescued.output
    new = json.loads(rescued.stdout)[0]["new_key"]
    assert camp.run("submit", new).exit_code == 0
    run2 = camp.submitted()[-1]["run_name"]
    camp.panda.add_run(run2, {"isr": 10, "calibrate": 10}, request_id=camp.submitted()[-1]["run_id"])
    for label in ("isr", "calibrate"):
        camp.panda.progress(run2, label, finished=10, status="done")
    camp.panda.set_status(run2, "Finished")
    sync(camp)
    epic = next(t[0] for t in camp.tickets() if (t[3] or {}).get("type") == "campaign")
    [roll] = camp.comments(epic, "rollup")  # group 1 by its attempt 2; 4 runs submitted for 3 groups
    assert ("| Step | Submissions | Not submitted | Succeeded | Failed | Attempts | Files | Done | Failed |\n"
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"
            "| step1 | 3 | 0 | 2 | 1 | 4 | 60 | 40 | 10 |\n") in roll, roll
    rejected = camp.run("reject", c, "--reason", "isr config wrong for these visits")
    assert rejected.exit_code == 0, rejected.output

    groups = json.loads(camp.run("status", "demo-w47", "--json").stdout)
    step1 = [(g["group"], g["key"], g["state"], g["attempts"], g["verdict"]) for g in groups if g["step"] == "step1"]
    assert step1 == [("1/3", new, "succeeded", [new, a], None), ("2/3", b, "succeeded", [b], None),
                     ("3/3", c, "failed", [c], "rejected")]
    assert json.loads(camp.run("status", "demo-w47", "--failed", "--json").stdout) == []
    [line] = json.loads(camp.run("status", "--json").stdout)
    assert {k: v for k, v in line["by_state"].items() if v} == {"rejected": 1, "succeeded": 2, "not submitted": 3}
    table = _table(texts.rollup_doc(_entries(camp.tmp / "store.sqlite", "demo-w47"), [], "now"))
    assert table.splitlines()[0] == "| Step | Submissions | Not submitted | Succeeded | Rejected | Attempts | Files | " \
                                    "Done | Failed |"
    assert table.splitlines()[2] == "| step1 | 3 | 0 | 2 | 1 | 4 | 60 | 40 | 10 |"

    first = [" ".join(line.split()) for line in camp.run("show", a).stdout.splitlines()]
    assert f"attempts: {new} (a2) succeeded" in first
    assert f"{a} (a1) partial (rescued) <- this one" in first
    second = [" ".join(line.split()) for line in camp.run("show", new).stdout.splitlines()]
    assert f"rescues: {a} (demo-w47_step1_001)" in second
    assert any(line.startswith("changed: ") and "requestMemory" in line for line in second), second

    out = tmp_path / "r.html"
    assert camp.run("report", "--html", str(out)).exit_code == 0
    rows = Page(out.read_text()).rows("groups", campaign="demo-w47", step="step1")
    assert [r[2:4] for r in rows if r[0] in ("1/3", "3/3")] == [
        [f"{new} ← {a} a1 partial · rescued", "succeeded"], [c, "failed rejected isr config wrong for these visits"]]
