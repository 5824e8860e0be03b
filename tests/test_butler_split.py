"""`plan` with a split that reads its inputs from the butler (the ``butler`` extra), on the real
daf_butler and the irregular repository of tests/butler_repo.py.

Each group's data query is read back from the manifest and run through the real butler: together
the groups select exactly the wanted inputs, each once, nothing else, none empty, none above its cap.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("lsst.daf.butler")

from lsst.daf.butler import Butler  # noqa: E402

from jiracampaign.cli import cli  # noqa: E402
from tests.butler_repo import INSTRUMENT, RAW_RUN, build_repo  # noqa: E402
from tests.conftest import REPO  # noqa: E402
from tests.test_butler_optional import BLOCK_LSST  # noqa: E402

BASE = f"instrument = '{INSTRUMENT}'"


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return build_repo(tmp_path_factory.mktemp("butler-split") / "repo")


@pytest.fixture(scope="module")
def butler(toy):
    with Butler.from_config(str(toy.root)) as opened:
        yield opened


def head(toy) -> str:
    return (f"campaign: t1\noperator: jdoe\nbutler_repo: {toy.root}\ninput_collection: {RAW_RUN}\n"
            "pipeline: DRP.yaml\nsoftware: w_2026_40\nsite: SLAC\n")


def plan(runner, write, toy, split: str, query: str = BASE):
    spec = write("spec.yaml", head(toy) + f"steps:\n  - name: step1\n    query: \"{query}\"\n    split: {split}\n")
    return spec, runner.invoke(cli, ["plan", str(spec)])


def selected(butler, query: str, dim: str = "visit") -> list[int]:
    rows = butler.query_data_ids([dim], where=query, instrument=INSTRUMENT, limit=None, explain=False)
    return sorted(int(row[dim]) for row in rows)


def assert_exact(butler, wanted: list[int], cap: int, dim: str = "visit") -> list[dict]:
    """Every group's query, run by the butler, selects its own inputs only; together, each wanted id once."""
    rows = json.loads(Path("campaigns/t1/manifest.json").read_text())["submissions"]
    owner: dict[int, int] = {}
    for n, row in enumerate(rows, 1):
        chosen = selected(butler, row["data_query"], dim)
        assert chosen, f"group {n} is empty"
        assert not set(chosen) - set(wanted), f"group {n} selects unwanted {sorted(set(chosen) - set(wanted))[:5]}"
        assert len(chosen) == row["inputs"] <= cap, (n, len(chosen), row["inputs"], cap)
        for v in chosen:
            assert v not in owner, f"{dim} {v} in groups {owner[v]} and {n}"
            owner[v] = n
    assert sorted(owner) == wanted
    return rows


def with_raw(toy, band: str | None = None) -> list[int]:
    return sorted(v for v in toy.visit_ids(band) if toy.visits[v].has_raw)


def exposures_with_raw(toy, science_only: bool = False) -> list[int]:
    """Each visit is one exposure with its id; calibration exposures (all with raws) sit in the gaps."""
    return sorted(with_raw(toy) + ([] if science_only else toy.calibration_exposures))


CASES = {
    # name: (split, wanted(toy), cap)
    "ranges, every visit": ("{rule: ranges, butler: {}, size: 100, max_per_group: 100}",
                            lambda t: t.visit_ids(), 100),
    "ranges, g band": ("{rule: ranges, butler: {where: \"band = 'g'\"}, size: 100}", lambda t: t.visit_ids("g"), 100),
    "ranges, raws only (sparse)": ("{rule: ranges, butler: {dataset: raw}, size: 150, max_per_group: 150}",
                                   with_raw, 150),
    "ranges, g band with raws": ("{rule: ranges, butler: {dataset: raw, where: \"band = 'g'\"}, size: 40}",
                                 lambda t: with_raw(t, "g"), 40),
    "dates, nights": ("{rule: dates, butler: {}}", lambda t: t.visit_ids(), 387),
    "dates, capped": ("{rule: dates, butler: {}, max_per_group: 250}", lambda t: t.visit_ids(), 250),
    "dates, weeks of g with raws, capped": (
        "{rule: dates, days: 7, butler: {dataset: raw, where: \"band = 'g'\"}, max_per_group: 60}",
        lambda t: with_raw(t, "g"), 60),
    "dates, window": ("{rule: dates, start: 2026-01-03, end: 2026-01-20, days: 2, butler: {where: \"band = 'r'\"}}",
                      lambda t: [v for v in t.visit_ids("r") if 20260103 <= t.visits[v].night <= 20260120], 10**6),
}
EXPOSURE_CASES = {
    # raws queried on their own dimensions (exposure), never through a visit join
    "ranges, exposures with raws": ("{rule: ranges, dimension: exposure, butler: {dataset: raw}, size: 120}",
                                    exposures_with_raw, 120),
    "ranges, science exposures with raws": (
        "{rule: ranges, dimension: exposure, butler: {dataset: raw, where: \"exposure.observation_type = 'science'\"},"
        " size: 200, max_per_group: 200}", lambda t: exposures_with_raw(t, science_only=True), 200),
    "dates, exposures with raws, capped": (
        "{rule: dates, butler: {dataset: raw, dimension: exposure}, max_per_group: 150}", exposures_with_raw, 150),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_group_selects_exactly_its_inputs_in_the_butler(runner, write, toy, butler, case):
    split, wanted, cap = CASES[case]
    spec, result = plan(runner, write, toy, split)
    assert result.exit_code == 0, result.output
    assert_exact(butler, wanted(toy), cap)


@pytest.mark.parametrize("case", list(EXPOSURE_CASES))
def test_exposure_groups_select_exactly_their_exposures(runner, write, toy, butler, case):
    split, wanted, cap = EXPOSURE_CASES[case]
    spec, result = plan(runner, write, toy, split)
    assert result.exit_code == 0, result.output
    rows = assert_exact(butler, wanted(toy), cap, dim="exposure")
    calibs = set(toy.calibration_exposures)
    if "science" in case:  # the calibration exposures in the gaps are skipped, not swept into a range
        assert all(not calibs & set(selected(butler, r["data_query"], "exposure")) for r in rows)


def test_ranges_skip_across_ids_the_repository_does_not_have(runner, write, toy, butler):
    """With the butler known, a group of 100 consecutive visits is one range, gaps and jumps included."""
    spec, result = plan(runner, write, toy, "{rule: ranges, butler: {}, size: 100}")
    assert result.exit_code == 0, result.output
    rows = assert_exact(butler, toy.visit_ids(), 100)
    ranges = [r["data_query"].count("..") + r["data_query"].count(" >= ") for r in rows]
    assert max(ranges) <= 2 and ranges.count(1) >= len(rows) - 2  # one range each, but where an outlier joins
    # the same groups from a list: consecutive ids only, so the gaps inside nights cut them up
    write("ids.txt", "\n".join(map(str, toy.visit_ids())) + "\n")
    plan(runner, write, toy, "{rule: ranges, file: ids.txt, size: 100}")
    listed = json.loads(Path("campaigns/t1/manifest.json").read_text())["submissions"]
    assert sum(r["data_query"].count(" >= ") + r["data_query"].count(",") for r in listed) > 2 * sum(ranges)


def test_dates_make_groups_of_nights_with_data_only_and_cut_large_nights(runner, write, toy, butler):
    spec, result = plan(runner, write, toy, "{rule: dates, butler: {}, max_per_group: 250}")
    assert result.exit_code == 0, result.output
    rows = json.loads(Path("campaigns/t1/manifest.json").read_text())["submissions"]
    nights = toy.ids_by_night()
    big = [n for n, ids in nights.items() if len(ids) > 250]
    assert len(big) == 3  # 387, 297 and 260 visits
    assert len(rows) == len(nights) + len(big)  # each big night in two groups, no empty night
    assert sum("day_obs = " in r["data_query"] for r in rows) == len(nights) - len(big)


@pytest.mark.parametrize("where, reason", [
    ("tract = 1", "tract needs skymap"),  # our own checks
    ("visti > 3", "Unrecognized identifier 'visti'"),  # the butler's parser and the repository's dimensions
    ("exposure.observation_type = 3", "do not agree"),
])
def test_butler_queries_are_checked_by_the_butler(runner, write, toy, where, reason):
    spec, result = plan(runner, write, toy, f"{{rule: ranges, butler: {{where: '{where}'}}, size: 100}}")
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith(f"Error: {spec}:11: steps[0].split.butler.where: ")
    assert reason in result.stderr and result.stderr.count("\n") == 1
    assert not Path("campaigns").exists()


@pytest.mark.parametrize("query, split, field, reason", [
    ("visti > 3", "{rule: values, dimension: band, values: [g, r]}", "query", "Unrecognized identifier 'visti'"),
    ("NOT visit", "{rule: ranges, values: [1, 2, 3], size: 2}", "query", "Unary operator 'NOT' is not valid"),
    (BASE, "{rule: values, dimension: exposure.obs_idd, values: [a]}", "split",
     "step step1, group 1 of 1 (exposure.obs_idd a): the data query would fail in the butler: Unrecognized field"),
])
def test_listed_splits_are_checked_by_the_butlers_parser_too(runner, write, toy, query, split, field, reason):
    """Without ``butler:`` the queries are still parsed by daf_butler when the extra is installed;
    our own rules alone let these through (see test_split_exact for what they catch)."""
    from jiracampaign.planning.querycheck import check_query

    assert not check_query(query)
    spec, result = plan(runner, write, toy, split, query=query)
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith(f"Error: {spec}:{10 if field == 'query' else 11}: steps[0].{field}: "), result.stderr
    assert reason in result.stderr
    assert not Path("campaigns").exists()


@pytest.mark.parametrize("split, field, message", [
    ("{rule: ranges, butler: {}, values: [1, 2], size: 10}", "values",
     "the ranges rule needs exactly one source of inputs: 'values' or 'butler', not both"),
    ("{rule: ranges, butler: {}, complete: true, size: 10}", "complete",
     "'complete' is for lists of ids: with 'butler' every group is exact given the repository"),
    ("{rule: ranges, butler: {instrumnet: Toy}, size: 10}", "butler.instrumnet",
     "unknown key; did you mean 'instrument'?"),
    ("{rule: ranges, butler: {where: \"band = 'z'\"}, size: 10}", "butler",
     None),
])
def test_bad_butler_splits_are_refused(runner, write, toy, split, field, message):
    spec, result = plan(runner, write, toy, split)
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith(f"Error: {spec}:11: steps[0].split.{field}: "), result.stderr
    if message:
        assert result.stderr.endswith(f"{message}\n")
    else:
        assert "has no visit where" in result.stderr
    assert not Path("campaigns").exists()


def test_the_instrument_is_needed(runner, write, toy):
    spec, result = plan(runner, write, toy, "{rule: ranges, butler: {}, size: 10}", query="band = 'g'")
    assert result.exit_code == 3
    assert result.stderr == (f"Error: {spec}:11: steps[0].split.butler: expected the instrument of the inputs: add "
                             "'instrument: NAME' here, or instrument = 'NAME' to the step's query\n")
    spec, result = plan(runner, write, toy, f"{{rule: ranges, butler: {{instrument: {INSTRUMENT}}}, size: 500}}",
                        query="band = 'g'")
    assert result.exit_code == 0, result.output


def test_without_the_extra_a_butler_split_names_it(write, toy, tmp_path):
    spec = write("spec.yaml", head(toy) + f"steps:\n  - name: step1\n    query: \"{BASE}\"\n"
                                          "    split: {rule: dates, butler: {dataset: raw}}\n")
    done = subprocess.run([sys.executable, "-c", BLOCK_LSST + (
        "import sys\nfrom jiracampaign.cli import main\nsys.argv = ['jiracampaign', 'plan', sys.argv[1]]\nmain()\n"),
        str(spec)], capture_output=True, text=True, cwd=spec.parent, timeout=120, env={
        "HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
    assert done.returncode == 3, done.stderr
    assert done.stderr == (f"Error: {spec}:11: steps[0].split.butler: reading the inputs from a butler needs "
                           "lsst-daf-butler, which is not installed; install the butler extra: "
                           "pip install 'jiracampaign[butler]'\n")
    assert not (spec.parent / "campaigns").exists()


@pytest.mark.parametrize("butler_keys, wanted, per_group", [
    ("{}", lambda t: t.visit_ids(), 1),
    ("{dataset: raw, where: \"band = 'g'\"}", lambda t: with_raw(t, "g"), 3),
])
def test_tracts_are_those_the_wanted_visits_overlap(runner, write, toy, butler, butler_keys, wanted, per_group):
    split = f"{{rule: tracts, skymap: {toy.skymap}, per_group: {per_group}, max_per_group: 3, butler: {butler_keys}}}"
    spec, result = plan(runner, write, toy, split)
    assert result.exit_code == 0, result.output
    ids = set(wanted(toy))
    expected = sorted({t for v in ids for t in toy.visits[v].tracts})
    rows = json.loads(Path("campaigns/t1/manifest.json").read_text())["submissions"]
    owner: dict[int, int] = {}
    for n, row in enumerate(rows, 1):
        chosen = selected(butler, row["data_query"], "tract")
        assert chosen and len(chosen) == row["inputs"] <= per_group
        for t in chosen:
            assert t not in owner
            owner[t] = n
    assert sorted(owner) == expected


def test_tracts_need_the_butler(runner, write, toy):
    spec, result = plan(runner, write, toy, f"{{rule: tracts, skymap: {toy.skymap}}}")
    assert result.exit_code == 3
    assert result.stderr.startswith(f"Error: {spec}:11: steps[0].split: missing required key 'butler'")


def test_a_listed_sparse_split_runs_in_the_butler(runner, write, toy, butler):
    """Without `butler:`, ranges over a list of every other g-band visit: the butler rewrites an OR of
    n ranges as 2**n terms, so the runs must be one IN of range literals to run at all."""
    wanted = toy.visit_ids("g")
    wanted = [v for i, v in enumerate(wanted) if i % 7]  # many runs of up to six consecutive ids
    write("ids.txt", "\n".join(map(str, wanted)) + "\n")
    spec, result = plan(runner, write, toy, "{rule: ranges, file: ids.txt, size: 100}")
    assert result.exit_code == 0, result.output
    rows = json.loads(Path("campaigns/t1/manifest.json").read_text())["submissions"]
    assert any(r["data_query"].count("..") > 10 for r in rows)
    assert_exact(butler, wanted, 100)
