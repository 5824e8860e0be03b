"""`plan` without a butler: every group's query selects exactly the inputs the spec lists, and every
query the butler would reject is a one-line error (exit 3) naming where, with nothing written.

A group's query is read back from the manifest and evaluated against a repository of ids that
holds more than the spec lists (ids in the gaps, neighbours, other nights).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from pathlib import Path

import pytest

from jiracampaign.cli import cli
from tests.test_cli_plan import HEAD


def selects(query: str, dim: str, value: int) -> bool:
    """Whether a group's data query selects ``value`` of ``dim``: the base query must be the
    test's ``instrument='HSC'``; the clause is read strictly in the forms `plan` writes."""
    m = re.fullmatch(r"\(instrument='HSC'\) AND \((.*)\)", query)
    assert m, query
    for part in m.group(1).split(" OR "):
        part = part.strip()
        if part.startswith("(") and part.endswith(")"):
            part = part[1:-1]
        if r := re.fullmatch(rf"{dim} >= (\d+) AND {dim} < (\d+)", part):
            hit = int(r.group(1)) <= value < int(r.group(2))
        elif r := re.fullmatch(rf"{dim} = (\d+)", part):
            hit = value == int(r.group(1))
        elif r := re.fullmatch(rf"{dim} IN \(([\d, .]+)\)", part):  # values and inclusive a..b ranges
            items = [v.split("..") for v in r.group(1).split(", ")]
            hit = any(int(v[0]) <= value <= int(v[-1]) for v in items)
        else:
            raise AssertionError(f"unexpected clause part {part!r} in {query!r}")
        if hit:
            return True
    return False


def plan(runner, write, split: str, query: str = "instrument='HSC'"):
    spec = write("spec.yaml", HEAD + f"steps:\n  - name: step1\n    query: \"{query}\"\n    split: {split}\n")
    result = runner.invoke(cli, ["plan", str(spec)])
    return spec, result


def manifest_queries() -> list[tuple[str, int]]:
    rows = json.loads(Path("campaigns/t1/manifest.json").read_text())["submissions"]
    return [(r["data_query"], r["inputs"]) for r in rows]


def assert_exact(repo: set[int], wanted: set[int], dim: str, cap: int) -> None:
    owner: dict[int, int] = {}
    for n, (query, inputs) in enumerate(manifest_queries()):
        chosen = {v for v in repo if selects(query, dim, v)}
        assert chosen <= wanted, f"group {n + 1} selects unlisted {sorted(chosen - wanted)[:5]}"
        assert 1 <= len(chosen) == inputs <= cap
        for v in chosen:
            assert v not in owner, f"{v} in groups {owner[v]} and {n + 1}"
            owner[v] = n + 1
    assert set(owner) == wanted


def assert_refused(result, spec: Path, message: str) -> None:
    assert result.exit_code == 3, result.output
    assert result.stderr == f"Error: {message}\n"
    assert result.stdout == ""
    assert not Path("campaigns").exists()


# -- item 1: ranges over an id list that leaves ids out ------------------------------------------------


def test_sparse_id_file_selects_only_the_listed_visits(runner, write):
    """As the g-band visits of a repo: a sparse third of 5,000 visits in groups of 100."""
    rng = random.Random(11)
    repo = set(range(1000, 6000))
    wanted = {v for v in repo if rng.random() < 0.31}
    write("g.txt", "\n".join(map(str, sorted(wanted, key=lambda _: rng.random()))) + "\n")
    spec, result = plan(runner, write, "{rule: ranges, file: g.txt, size: 100}")
    assert result.exit_code == 0, result.output
    assert_exact(repo, wanted, "visit", 100)


def test_a_visit_dropped_from_a_full_list_is_not_selected(runner, write):
    wanted = set(range(1, 201)) - {57}
    spec, result = plan(runner, write, f"{{rule: ranges, values: {sorted(wanted)}, size: 100}}")
    assert result.exit_code == 0, result.output
    assert_exact(set(range(0, 300)), wanted, "visit", 100)
    assert manifest_queries()[0][0] == "(instrument='HSC') AND ((visit >= 1 AND visit < 57) OR (visit >= 58 AND visit < 102))"


def test_complete_list_renders_ranges_across_its_gaps(runner, write):
    spec, result = plan(runner, write, "{rule: ranges, values: [1, 2, 5, 9, 10], size: 3, complete: true}")
    assert result.exit_code == 0, result.output
    assert [q for q, _ in manifest_queries()] == [
        "(instrument='HSC') AND (visit >= 1 AND visit < 6)",
        "(instrument='HSC') AND (visit >= 9 AND visit < 11)",
    ]


def test_a_group_too_scattered_to_list_is_refused_naming_the_options(runner, write):
    write("ids.txt", "\n".join(str(v) for v in range(0, 2000, 2)) + "\n")  # 1000 lone ids
    spec, result = plan(runner, write, "{rule: ranges, file: ids.txt, size: 1000}")
    assert_refused(result, spec, (
        f"{spec}:11: steps[0].split.size: group 1 of 1 (visit 0..1998) leaves out ids between its listed ones: "
        "selecting exactly its 1000 ids takes 1000 values and ranges, above the 900 a butler query can hold; "
        "set 'complete: true' if the list holds every visit of the repository in its span, or a smaller 'size', "
        "or use a split source that reads the inputs from a butler ('butler:', with the butler extra)"))
    spec, result = plan(runner, write, "{rule: ranges, file: ids.txt, size: 900}")
    assert result.exit_code == 0, result.output
    assert_exact(set(range(0, 2100)), set(range(0, 2000, 2)), "visit", 900)


# -- item 2: IN lists within the backend's limit --------------------------------------------------------


def test_values_per_group_above_900_is_refused_at_its_line(runner, write):
    values = list(range(1, 997))
    spec, result = plan(runner, write, f"{{rule: values, dimension: detector, per_group: 996, values: {values}}}")
    assert_refused(result, spec, f"{spec}:11: steps[0].split.per_group: expected at most 900 values in one group, "
                                 "got 996 (the butler's SQLite registry fails on lists above 995)")
    spec, result = plan(runner, write, f"{{rule: values, dimension: detector, groups: [[1, 2], {values}]}}")
    assert_refused(result, spec, f"{spec}:11: steps[0].split.groups[1]: expected at most 900 values in one group, "
                                 "got 996 (the butler's SQLite registry fails on lists above 995)")
    spec, result = plan(runner, write, f"{{rule: values, dimension: detector, per_group: 900, values: {values}}}")
    assert result.exit_code == 0, result.output
    assert [n for _, n in manifest_queries()] == [498, 498]


# -- item 3: no group for a night the spec does not list, and a cap for every rule ---------------------


def test_dates_render_only_the_listed_nights(runner, write):
    nights = [dt.date(2026, 1, 1) + dt.timedelta(days=d) for d in (0, 1, 2, 5, 9, 10, 30, 31, 33)]
    write("nights.txt", "".join(f"{d.isoformat()}\n" for d in nights))
    spec, result = plan(runner, write, "{rule: dates, file: nights.txt, days: 7}")
    assert result.exit_code == 0, result.output
    every = {int((dt.date(2025, 12, 1) + dt.timedelta(days=d)).strftime("%Y%m%d")) for d in range(100)}
    assert_exact(every, {int(d.strftime("%Y%m%d")) for d in nights}, "day_obs", 7)
    assert [q.split(" AND (", 1)[1] for q, _ in manifest_queries()] == [
        "(day_obs >= 20260101 AND day_obs < 20260104) OR day_obs = 20260106)",
        "day_obs >= 20260110 AND day_obs < 20260112)",
        "(day_obs >= 20260131 AND day_obs < 20260202) OR day_obs = 20260203)",
    ]


def test_dates_without_the_nights_are_refused_naming_the_butler_option(runner, write):
    spec, result = plan(runner, write, "{rule: dates, start: 2026-01-01, end: 2026-01-31, days: 7}")
    assert_refused(result, spec, (
        f"{spec}:11: steps[0].split: the dates rule needs the nights to process in 'values' or 'file' (a night "
        "without data must not become a group); or use a split source that reads the inputs from a butler "
        "('butler:', with the butler extra)"))


@pytest.mark.parametrize("split, field, message", [
    ("{rule: values, dimension: tract, groups: [[1], [2, 3, 4]], max_per_group: 2}", "max_per_group",
     "group 2 of 2 (tract 2, 3, 4) has 3 inputs, above max_per_group 2"),
    ("{rule: ranges, values: [1, 2, 3, 4, 5], size: 3, max_per_group: 2}", "max_per_group",
     "group 1 of 2 (visit 1..3) has 3 inputs, above max_per_group 2"),
    ("{rule: dates, values: [20260101, 20260102, 20260104], days: 7, max_per_group: 2}", "max_per_group",
     "group 1 of 1 (day_obs 20260101..20260104) has 3 inputs, above max_per_group 2"),
    ("{rule: none, max_per_group: 2}", "max_per_group",
     "the none rule does not count its inputs, so max_per_group cannot be checked: list them with another rule, "
     "or use a split source that reads the inputs from a butler ('butler:', with the butler extra)"),
])
def test_max_per_group_is_checked_for_every_rule(runner, write, split, field, message):
    query = "instrument='HSC' AND skymap='x'"
    spec, result = plan(runner, write, split, query)
    assert_refused(result, spec, f"{spec}:11: steps[0].split.{field}: {message}")


# -- item 4: every rendered query checked ---------------------------------------------------------------


@pytest.mark.parametrize("query, split, where, message", [
    ("instrument='HSC' AND AND visit = 1", None, "query",
     "expected a value or a dimension after 'AND', found 'AND' at position 22"),
    ("instrument='HSC' AND", None, "query", "expected a value or a dimension after 'AND', found the end of the query"),
    ("instrument=\\\"HSC\\\"", None, "query",
     "double quote at position 12: the butler quotes strings with single quotes ('g')"),
    ("visit = 99999999999999999999", None, "query",
     "99999999999999999999 does not fit in 64 bits (the largest id is 9223372036854775807)"),
    ("instrument='HSC'", "{rule: values, dimension: tract, values: [3828, 3829]}", "split",
     "step step1, group 1 of 2 (tract 3828): the data query would fail in the butler: "
     "tract needs skymap: add skymap='...' to the query"),
    ("instrument='HSC' AND day_obs = '20260101'", None, "query",
     "day_obs is an integer (YYYYMMDD), compared with the string '20260101': write it without quotes"),
])
def test_a_query_the_butler_would_reject_is_refused(runner, write, query, split, where, message):
    spec, result = plan(runner, write, split or "{rule: none}", query)
    line = 10 if where == "query" else 11
    assert_refused(result, spec, f"{spec}:{line}: steps[0].{where}: {message}")


@pytest.mark.parametrize("split, message", [
    ("{rule: values, dimension: detector, values: [3, '3']}",
     "steps[0].split.values[1]: detector is an integer in the butler: expected 3 without quotes, got '3'"),
    ("{rule: values, dimension: ccd, values: [3, '3']}",
     "steps[0].split.values[1]: '3' is not of the type of 3 (line 11): the values of ccd must all be integers or "
     "all strings"),
    ("{rule: values, dimension: day_obs, values: ['20260101']}",
     "steps[0].split.values[0]: day_obs is an integer (YYYYMMDD) in the butler: expected 20260101 without quotes, "
     "got '20260101'"),
    ("{rule: values, dimension: band, values: [1]}",
     "steps[0].split.values[0]: band is a string in the butler: expected '1' in quotes, got 1"),
    ("{rule: values, dimension: visit, values: [18446744073709551616]}",
     "steps[0].split.values[0]: expected a non-negative visit within 64 bits, got 18446744073709551616"),
    ("{rule: ranges, values: [1, -2], size: 3}",
     "steps[0].split.values[1]: expected a non-negative visit id within 64 bits, got -2"),
])
def test_values_of_the_wrong_type_are_refused_at_their_line(runner, write, split, message):
    spec, result = plan(runner, write, split)
    assert_refused(result, spec, f"{spec}:11: {message}")


# -- item 5: strict ids in files ------------------------------------------------------------------------


@pytest.mark.parametrize("item, message", [
    ("1_999_999", "expected a visit id written with the digits 0-9 only, got '1_999_999'"),
    ("+1999999", "expected a visit id written with the digits 0-9 only, got '+1999999'"),
    ("１９９９", "expected a visit id written with the digits 0-9 only, got '１９９９'"),
    ("١٩٩٩", "expected a visit id written with the digits 0-9 only, got '١٩٩٩'"),
    ("\u00a01999999", "expected a visit id written with the digits 0-9 only, got '\\xa01999999'"),
    ("-1999999", "expected a visit id written with the digits 0-9 only (ids are never negative), got '-1999999'"),
    ("18446744073709551616", "visit id 18446744073709551616 does not fit in 64 bits (the largest is 9223372036854775807)"),
])
def test_an_id_file_takes_ascii_digits_within_64_bits_only(runner, write, item, message):
    ids = Path(write("ids.txt", "")).parent / "ids.txt"
    ids.write_bytes(f"1\n2\n{item}\n".encode())
    spec, result = plan(runner, write, "{rule: ranges, file: ids.txt, size: 2}")
    assert_refused(result, spec, f"{ids}:3: {message}")
