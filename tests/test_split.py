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


def test_dates_cover_each_day_once_last_window_shorter():
    groups = groups_of({"rule": "dates", "start": "2024-02-27", "end": "2024-03-03", "days": 3})
    assert [(g.clause, g.inputs) for g in groups] == [
        ("day_obs >= 20240227 AND day_obs < 20240301", 3),
        ("day_obs >= 20240301 AND day_obs < 20240304", 3),
    ]


def test_dates_accept_yaml_dates_and_yyyymmdd():
    text = "split: {rule: dates, start: 2024-12-31, end: 20250101, days: 1}"
    src = load_located("spec.yaml", SpecError, text=text)
    groups = split_step(src, ("split",), src.data["split"], Path("."))
    assert [g.clause for g in groups] == [
        "day_obs >= 20241231 AND day_obs < 20250101",
        "day_obs >= 20250101 AND day_obs < 20250102",
    ]


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


def _range_bounds(clause: str) -> tuple[int, int]:
    m = re.fullmatch(r"visit >= (\d+) AND visit < (\d+)", clause)
    assert m, clause
    return int(m.group(1)), int(m.group(2))


@settings(max_examples=200, deadline=None)
@given(ids=st.sets(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=400), size=st.integers(1, 60))
def test_ranges_partition_the_ids(ids, size):
    groups = groups_of({"rule": "ranges", "values": sorted(ids, reverse=True), "size": size})
    owners = {}
    for g in groups:
        lo, hi = _range_bounds(g.clause)
        members = [i for i in ids if lo <= i < hi]
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
@given(start=st.dates(dt.date(2020, 1, 1), dt.date(2030, 1, 1)), span=st.integers(0, 400), days=st.integers(1, 40))
def test_dates_partition_the_days(start, span, days):
    end = start + dt.timedelta(days=span)
    groups = groups_of({"rule": "dates", "start": start.isoformat(), "end": end.isoformat(), "days": days})
    covered = []
    for g in groups:
        lo, hi = (int(x) for x in re.fullmatch(r"day_obs >= (\d+) AND day_obs < (\d+)", g.clause).groups())
        day = dt.datetime.strptime(str(lo), "%Y%m%d").date()
        stop = dt.datetime.strptime(str(hi), "%Y%m%d").date()
        assert 1 <= (stop - day).days == g.inputs <= days
        while day < stop:
            covered.append(day)
            day += dt.timedelta(days=1)
    assert covered == [start + dt.timedelta(days=i) for i in range(span + 1)]


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
