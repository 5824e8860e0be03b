"""Split rules: each rule's groups, and the property that groups partition the inputs."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from jiracampaign.errors import SpecError
from jiracampaign.planning.split import balanced_chunks, query_problem, split_step
from jiracampaign.yamlsrc import Located, load_located


def groups_of(split: dict, base_dir: Path = Path(".")):
    text = yaml.safe_dump({"split": split})
    src = load_located("spec.yaml", SpecError, text=text)
    return split_step(src, ("split",), src.data["split"], base_dir)


def test_none_is_one_group_with_no_clause():
    (group,) = groups_of({"rule": "none"})
    assert (group.index, group.count, group.clause, group.inputs) == (1, 1, "", None)


def test_missing_split_means_one_group():
    src = Located("spec.yaml", {}, {}, SpecError)
    assert [g.clause for g in split_step(src, ("split",), None, Path("."))] == [""]


def test_ranges_are_half_open_and_balanced():
    groups = groups_of({"rule": "ranges", "dimension": "visit", "values": [5, 1, 2, 3, 4, 10, 11], "size": 3})
    assert [(g.clause, g.inputs) for g in groups] == [
        ("visit >= 1 AND visit < 4", 3),
        ("visit >= 4 AND visit < 6", 2),
        ("visit >= 10 AND visit < 12", 2),
    ]
    assert [g.label for g in groups] == ["visit 1..3", "visit 4..5", "visit 10..11"]


def test_ranges_from_file_skip_comments_and_blanks(tmp_path):
    (tmp_path / "ids.txt").write_text("# exposures\n7\n\n8  # late\n9\n")
    groups = groups_of({"rule": "ranges", "dimension": "exposure", "file": "ids.txt", "size": 2}, tmp_path)
    assert [g.clause for g in groups] == ["exposure >= 7 AND exposure < 9", "exposure >= 9 AND exposure < 10"]


def test_values_chunked_per_group_render_in_lists():
    groups = groups_of({"rule": "values", "dimension": "tract", "values": [9615, 9697, 9813], "per_group": 2})
    assert [g.clause for g in groups] == ["tract IN (9615, 9697)", "tract = 9813"]


def test_values_strings_are_quoted():
    groups = groups_of({"rule": "values", "dimension": "band", "groups": [["g", "r"], ["i"]]})
    assert [g.clause for g in groups] == ["band IN ('g', 'r')", "band = 'i'"]


def test_dates_group_listed_nights_by_window_and_skip_nights_without_data():
    nights = ["2024-02-27", "2024-02-28", "2024-03-01", "2024-03-03"]  # 02-29 and 03-02 have no data
    groups = groups_of({"rule": "dates", "values": nights, "days": 3})
    assert [(g.clause, g.inputs, g.label) for g in groups] == [
        ("day_obs >= 20240227 AND day_obs < 20240229", 2, "day_obs 20240227..20240228"),
        ("day_obs IN (20240301, 20240303)", 2, "day_obs 20240301..20240303"),
    ]


def test_dates_accept_yaml_dates_and_yyyymmdd_and_keep_start_end_as_bounds():
    text = "split: {rule: dates, values: [2024-12-30, 2024-12-31, 20250101, 20250105], start: 2024-12-31, end: 20250101}"
    src = load_located("spec.yaml", SpecError, text=text)
    groups = split_step(src, ("split",), src.data["split"], Path("."))
    assert [g.clause for g in groups] == ["day_obs >= 20241231 AND day_obs < 20250101", "day_obs >= 20250101 AND day_obs < 20250102"]


def test_dates_from_a_file_of_nights(tmp_path):
    (tmp_path / "nights.txt").write_text("# nights with data\n2024-01-30\n20240131\n\n2024-02-01  # month turn\n")
    groups = groups_of({"rule": "dates", "file": "nights.txt", "days": 7}, tmp_path)
    assert [(g.clause, g.inputs) for g in groups] == [("day_obs >= 20240130 AND day_obs < 20240202", 3)]


@pytest.mark.parametrize(
    "query, problem",
    [
        ("(a = 1", "unbalanced parentheses: 1 '(' never closed"),
        ("a = 1)", "unbalanced parentheses: ')' without a matching '('"),
        ("band = 'g", "unterminated string: ' is never closed"),
        ("band = ')' AND (x = 1)", None),
    ],
)
def test_query_problem(query, problem):
    assert query_problem(query) == problem


def _selects(clause: str, dim: str, value: int) -> bool:
    """Whether a rendered clause selects ``value``: the forms the split rules write, read strictly."""
    for part in clause.split(" OR "):
        part = part.strip()
        if part.startswith("(") and part.endswith(")"):
            part = part[1:-1]
        if m := re.fullmatch(rf"{dim} >= (\d+) AND {dim} (<=?) (\d+)", part):
            hit = int(m.group(1)) <= value and (value <= int(m.group(3)) if m.group(2) == "<=" else value < int(m.group(3)))
        elif m := re.fullmatch(rf"{dim} = (\d+)", part):
            hit = value == int(m.group(1))
        elif m := re.fullmatch(rf"{dim} IN \(([\d., ]+)\)", part):  # values and inclusive range literals a..b
            hit = any(int(lo) <= value <= int(hi or lo) for lo, _, hi in (v.partition("..") for v in m.group(1).split(", ")))
        else:
            raise AssertionError(f"unexpected clause part {part!r}")
        if hit:
            return True
    return False


@settings(max_examples=200, deadline=None)
@given(ids=st.sets(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=400), size=st.integers(1, 60),
       others=st.sets(st.integers(min_value=0, max_value=10**6), max_size=200))
def test_ranges_select_exactly_the_listed_ids(ids, size, others):
    """Whatever else the repository holds (neighbours of listed ids, ids in the gaps), no group selects it."""
    repo = ids | others | {i + 1 for i in ids} | {max(i - 1, 0) for i in ids}
    groups = groups_of({"rule": "ranges", "values": sorted(ids, reverse=True), "size": size})
    owners = {}
    for g in groups:
        members = [i for i in repo if _selects(g.clause, "visit", i)]
        assert set(members) <= ids
        assert len(members) == g.inputs
        assert 1 <= g.inputs <= size
        for i in members:
            assert i not in owners, f"{i} in two groups"
            owners[i] = g.index
    assert set(owners) == ids
    sizes = [g.inputs for g in groups]
    assert max(sizes) - min(sizes) <= 1
    assert len(groups) == -(-len(ids) // size)
    assert [g.index for g in groups] == list(range(1, len(groups) + 1))
    assert {g.count for g in groups} == {len(groups)}


@settings(max_examples=100, deadline=None)
@given(ids=st.sets(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=400), size=st.integers(1, 60))
def test_complete_ranges_partition_the_span(ids, size):
    groups = groups_of({"rule": "ranges", "values": sorted(ids), "size": size, "complete": True})
    bounds = [tuple(map(int, re.fullmatch(r"visit >= (\d+) AND visit < (\d+)", g.clause).groups())) for g in groups]
    for (lo, hi), g in zip(bounds, groups):
        assert len([i for i in ids if lo <= i < hi]) == g.inputs
    assert all(hi <= lo for (_, hi), (lo, _) in zip(bounds, bounds[1:]))
    assert sum(g.inputs for g in groups) == len(ids)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.integers(1, 10**5), min_size=1, max_size=200, unique=True), per=st.integers(1, 25))
def test_values_partition_the_values(values, per):
    groups = groups_of({"rule": "values", "dimension": "tract", "values": values, "per_group": per})
    seen = []
    for g in groups:
        m = re.fullmatch(r"tract = (\d+)|tract IN \(([\d, ]+)\)", g.clause)
        assert m, g.clause
        members = [int(m.group(1))] if m.group(1) else [int(v) for v in m.group(2).split(", ")]
        assert len(members) == g.inputs <= per
        seen.extend(members)
    assert sorted(seen) == sorted(values) and len(seen) == len(set(seen))


@settings(max_examples=100, deadline=None)
@given(nights=st.sets(st.dates(dt.date(2020, 1, 1), dt.date(2021, 3, 1)), min_size=1, max_size=120),
       days=st.integers(1, 40))
def test_dates_select_exactly_the_listed_nights(nights, days):
    groups = groups_of({"rule": "dates", "values": [d.isoformat() for d in nights], "days": days})
    every_day = [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(430)]
    owners: dict = {}
    for g in groups:
        chosen = [d for d in every_day if _selects(g.clause, "day_obs", int(d.strftime("%Y%m%d")))]
        assert 1 <= len(chosen) == g.inputs
        assert (max(chosen) - min(chosen)).days < days
        for d in chosen:
            assert d not in owners
            owners[d] = g.index
    assert set(owners) == nights


@given(items=st.lists(st.integers(), max_size=300), size=st.integers(1, 50))
def test_balanced_chunks_keep_order_and_bound_size(items, size):
    chunks = balanced_chunks(items, size)
    assert [x for c in chunks for x in c] == items
    assert all(1 <= len(c) <= size for c in chunks)


@pytest.mark.parametrize("start, message", [
    ("2024-02-30", "'2024-02-30' is not a valid date (day is out of range for month)"),  # a YAML date PyYAML cannot build
    ("2024-13-01", "'2024-13-01' is not a valid date (month must be in 1..12)"),
    ("20240230", "'20240230' is not a valid date (day is out of range for month)"),  # an integer
    ("'2024-02-30'", "'2024-02-30' is not a valid date (day is out of range for month)"),  # a string
])
def test_dates_with_an_impossible_day_name_the_line_field_and_date(start, message):
    text = f"steps:\n  - split:\n      rule: dates\n      start: {start}\n      end: 2024-03-05\n      days: 1\n"
    with pytest.raises(SpecError) as err:
        src = load_located("spec.yaml", SpecError, text=text)
        split_step(src, ("steps", 0, "split"), src.data["steps"][0]["split"], Path("."))
    assert str(err.value) == (f"spec.yaml:4: steps[0].split.start: {message}; "
                              "expected a date (YYYY-MM-DD or YYYYMMDD)")


def test_plan_with_an_impossible_date_is_one_line_not_a_traceback(runner, write):
    from jiracampaign.cli import cli
    from tests.conftest import MINIMAL_SPEC

    spec = MINIMAL_SPEC.replace("      rule: ranges\n      values: [1, 2, 3, 4, 5]\n      size: 2\n",
                                "      rule: dates\n      start: 2024-02-30\n      end: 2024-03-02\n      days: 1\n")
    result = runner.invoke(cli, ["plan", str(write("spec.yaml", spec))])
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.output
    assert "spec.yaml:13: steps[0].split.start: '2024-02-30' is not a valid date" in result.stderr
    assert not Path("campaigns").exists()
