"""`jiracampaign audit` on a real daf_butler repository (tests/butler_repo.py): a campaign planned over a
sparse subset of the visits, outputs inserted for some inputs into the planned output runs, and the
counts, missing ranges, --json, --csv and the living note on the epic checked against that truth."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("lsst.daf.butler")

from jiracampaign.cli import cli  # noqa: E402
from jiracampaign.core.texts import compact_ranges  # noqa: E402
from tests.butler_repo import INSTRUMENT, build_repo  # noqa: E402
from tests.conftest import REPO  # noqa: E402
from tests.fakes.jira_server import FakeJira  # noqa: E402
from tests.test_butler_optional import BLOCK_LSST  # noqa: E402

SIZE = 150


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return build_repo(tmp_path_factory.mktemp("audit") / "repo")


def spec_text(toy, ids_file: str, audit: str = "audit: {dataset: visit_summary}") -> str:
    return textwrap.dedent(f"""\
        campaign: t1
        operator: jdoe
        butler_repo: {toy.root}
        input_collection: Toy/raw/all
        pipeline: DRP.yaml
        software: w_2026_40
        site: SLAC
        steps:
          - name: step1
            query: "instrument = '{INSTRUMENT}'"
            split: {{rule: ranges, file: {ids_file}, size: {SIZE}, complete: true}}
            {audit}
        """)


def add_outputs(toy, run: str, visits) -> None:
    from lsst.daf.butler import Butler

    butler = Butler.from_config(str(toy.root), writeable=True)
    try:
        butler.registry.registerRun(run)
        butler.registry.insertDatasets("visit_summary", [{"instrument": INSTRUMENT, "visit": v} for v in visits], run=run)
    finally:
        butler.close()


@pytest.fixture(scope="module")
def campaign(toy, tmp_path_factory):
    """Every visit of the repository (a complete list: one range a group, whatever the repository's gaps), planned;
    group 1 has every output, group 2 all but some, group 3 none (its run does not exist), and group
    2's run also holds an output of a visit that is not its input."""
    wanted = toy.visit_ids()
    groups = [wanted[i:i + SIZE] for i in range(0, len(wanted), SIZE)]  # balanced chunks differ; read back below
    return {"wanted": wanted, "groups": groups}


@pytest.fixture
def planned(toy, campaign, write, runner, tmp_path):
    ids = write("g.txt", "\n".join(map(str, campaign["wanted"])) + "\n")
    spec = write("spec.yaml", spec_text(toy, ids.name))
    store = ["--set", f"local.path={tmp_path / 'store.sqlite'}"]
    return spec, store


def manifest():
    return json.loads((__import__("pathlib").Path("campaigns/t1/manifest.json")).read_text())


_FILLED: dict[str, dict] = {}


def fill_outputs(toy) -> dict[str, list[int]]:
    """Outputs for the planned groups, inserted once per module (the repository is shared); returns the
    truth: submission id -> missing visits."""
    subs = manifest()["submissions"]
    key = str(toy.root)
    if key in _FILLED:
        return _FILLED[key]
    g_ids = set(toy.visit_ids())
    truth = {}
    from jiracampaign.sources.butler.inputs import ButlerInputs

    with ButlerInputs(str(toy.root), (), INSTRUMENT) as source:
        members = {s["id"]: source.ids("visit", s["data_query"]) for s in subs}
    for n, s in enumerate(subs):
        mine = members[s["id"]]
        assert set(mine) <= g_ids and mine  # the planned query selects only wanted inputs
        if n == 0:
            done = mine
        elif n == 1:
            done = [v for i, v in enumerate(mine) if not (10 <= i < 25 or i == 40)]
            stranger = next(v for v in toy.visit_ids() if v not in mine)
            add_outputs(toy, s["output_run"], done + [stranger])
            truth[s["id"]] = sorted(set(mine) - set(done))
            continue
        elif n == 2:
            done = []
        else:
            done = mine[: len(mine) // 2]
        if done:
            add_outputs(toy, s["output_run"], done)
        truth[s["id"]] = sorted(set(mine) - set(done))
    _FILLED[key] = truth
    return truth


def test_audit_counts_missing_ranges_json_and_csv(toy, planned, runner):
    spec, store = planned
    result = runner.invoke(cli, [*store, "plan", str(spec)])
    assert result.exit_code == 0, result.output
    assert manifest()["steps"]["step1"]["audit"] == {"dataset": "visit_summary", "dimension": "visit",
                                                     "instrument": INSTRUMENT}
    truth = fill_outputs(toy)
    out = runner.invoke(cli, [*store, "audit", "t1", "--json", "--no-note"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    assert [r["submission"] for r in rows] == [s["id"] for s in manifest()["submissions"]]
    assert sum(r["inputs"] for r in rows) == len(toy.visit_ids())
    for row in rows:
        missing = truth[row["submission"]]
        assert row["missing_count"] == len(missing) and row["done"] == row["inputs"] - len(missing)
        assert row["missing"] == (compact_ranges(missing) or None)
        assert row["reasons"] == ("not read yet" if missing else None)
    assert rows[0]["missing"] is None and rows[2]["done"] == 0
    assert rows[1]["missing_count"] == 16 and rows[1]["inputs"] == rows[1]["done"] + 16  # the stranger not counted
    table = runner.invoke(cli, [*store, "audit", "t1", "--no-note"])
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["KEY", "STEP", "GROUP", "DATASET"]
    assert lines[1].split()[:7] == ["t1_step1_001", "step1", f"1/{len(rows)}", "visit_summary",
                                    str(rows[0]["inputs"]), str(rows[0]["inputs"]), "0"]
    assert "submissions" in table.stderr and "inputs with outputs" in table.stderr
    got = list(csv.DictReader(io.StringIO(runner.invoke(cli, [*store, "audit", "t1", "--csv", "--no-note"]).stdout)))
    assert [(r["KEY"], int(r["MISSING"]), r["MISSING IDS"]) for r in got] == \
        [(r["key"], r["missing_count"], r["missing"] or "") for r in rows]


def test_the_note_on_the_epic_is_one_living_comment(toy, planned, runner, tmp_path):
    spec, store = planned
    assert runner.invoke(cli, [*store, "create", str(spec)]).exit_code == 0
    truth = fill_outputs(toy)
    first = runner.invoke(cli, [*store, "audit", "t1"])
    assert first.exit_code == 0, first.output
    assert "note on" in first.stderr and first.stderr.rstrip().endswith("added")
    second = runner.invoke(cli, [*store, "audit", "t1", "--step", "step1"])
    assert second.exit_code == 0 and second.stderr.rstrip().endswith(("updated", "unchanged"))
    db = sqlite3.connect(tmp_path / "store.sqlite")
    notes = db.execute("SELECT key, body FROM comments WHERE marker = 'audit'").fetchall()
    assert len(notes) == 1
    epic = db.execute("SELECT key FROM tickets WHERE ident = 't1'").fetchone()[0]
    assert notes[0][0] == epic
    body = notes[0][1]
    missing = truth[manifest()["submissions"][1]["id"]]
    assert compact_ranges(missing) in body and "not read yet" in body and "Outputs in the butler" in body


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_the_note_on_a_jira_epic(toy, planned, runner, flavour, monkeypatch):
    spec, _ = planned
    monkeypatch.setattr("time.sleep", lambda s: None)
    fake = FakeJira(flavour=flavour).start()
    try:
        args = ["--tracker", "jira", "--set", f"jira.server={fake.url}", "--set", "jira.project=CAMP",
                "--set", f"jira.user={fake.user}", "--set", f"jira.auth={'basic' if fake.cloud else 'token'}"]
        env = {"JIRACAMPAIGN_JIRA_TOKEN": fake.token}
        assert runner.invoke(cli, [*args, "create", str(spec)], env=env).exit_code == 0
        fill_outputs(toy)
        for _ in range(2):
            out = runner.invoke(cli, [*args, "audit", "t1"], env=env)
            assert out.exit_code == 0, out.output
        bodies = [(key, c["body"]) for key, i in fake.issues.items() for c in getattr(i, "comments", [])
                  if "Outputs in the butler" in str(c.get("body", c))]
        assert len(bodies) == 1, bodies
        assert fake.type_json(fake.issues[bodies[0][0]].type_id)["name"] == "Epic"
        assert fake.token not in out.output
    finally:
        fake.stop()


@pytest.mark.parametrize("audit, message", [
    ("", "no step of campaign t1 declares an audit: add 'audit: {dataset: DATASET_TYPE}'"),
    ("audit: {dataset: nosuch}", "has no dataset type 'nosuch'"),
])
def test_audit_without_what_to_count_is_one_clear_line(toy, write, runner, audit, message, tmp_path):
    ids = write("g.txt", "\n".join(map(str, toy.visit_ids("g")[:50])) + "\n")
    spec = write("spec.yaml", spec_text(toy, ids.name, audit))
    assert runner.invoke(cli, ["plan", str(spec)]).exit_code == 0
    out = runner.invoke(cli, ["audit", "t1", "--no-note"])
    assert out.exit_code in (3, 6) and message in out.output and len(out.output.strip().splitlines()) == 1


def test_an_audit_without_instrument_is_refused_at_plan(toy, write, runner):
    ids = write("g.txt", "\n".join(map(str, toy.visit_ids("g")[:50])) + "\n")
    spec = write("spec.yaml", spec_text(toy, ids.name).replace(f"instrument = '{INSTRUMENT}'", "band = 'g'"))
    out = runner.invoke(cli, ["plan", str(spec)])
    assert out.exit_code == 3
    assert "steps[0].audit: expected the instrument of the inputs" in out.output
    assert not (__import__("pathlib").Path("campaigns/t1")).exists()


def test_audit_of_an_unplanned_campaign(runner):
    out = runner.invoke(cli, ["audit", "nope"])
    assert out.exit_code == 3 and "plan campaign nope first" in out.output


def test_without_the_extra_audit_names_it(tmp_path):
    code = BLOCK_LSST + textwrap.dedent(f"""
        import json, os, pathlib
        os.chdir({str(tmp_path)!r})
        folder = pathlib.Path("campaigns/t1"); folder.mkdir(parents=True)
        (folder / "manifest.json").write_text(json.dumps({{"campaign": "t1", "butler": {{"repo": "/r"}},
            "steps": {{"s": {{"audit": {{"dataset": "d", "dimension": "visit", "instrument": "Toy"}}}}}},
            "submissions": []}}))
        from click.testing import CliRunner
        from jiracampaign.cli import cli
        out = CliRunner().invoke(cli, ["--set", "local.path=x.sqlite", "audit", "t1", "--no-note"])
        print(out.exit_code, out.output.strip())
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                          env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ("1 Error: reading inputs from a butler needs lsst-daf-butler, which is not "
                                   "installed (No module named 'lsst'); install the butler extra: pip install "
                                   "'jiracampaign[butler]'")


def test_missing_ids_are_compact_ranges():
    ids = [*range(100, 109), 200, *range(203, 212)]
    assert compact_ranges(reversed(ids)) == "100-108, 200, 203-211"
    assert compact_ranges(ids, limit=2) == "100-108, 200 (+9 more)"
